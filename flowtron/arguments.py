"""train.py's command line: the original's `-c config.json -p key=value ...` (typed overrides, see
config.py) and the common names of this repository (`--resume`, `--force`, `--device`/`--cpu`, `--amp`,
`--print-config`). --help shows every default."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import ConfigError, FlowtronConfig, load_config
from .infra import HelpFormatter, add_device_arguments, require_positive

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python train.py",
        description="Train Flowtron (Valle et al. 2020). Multi-GPU: torchrun --nproc_per_node N train.py "
        "-c config.json -p ...; the two-phase recipe and the other options: README.md",
        formatter_class=HelpFormatter,
        allow_abbrev=False,  # a misspelt or truncated flag is an error, never a silent guess
    )
    parser.add_argument("-c", "--config", default=str(DEFAULT_CONFIG), help="JSON config file")
    parser.add_argument(
        "-p",
        "--params",
        nargs="*",
        default=[],
        help="overrides section.key=value, e.g. train_config.batch_size=2 data_config.use_attn_prior=false",
    )
    parser.add_argument(
        "--dataset-path", default=None, help="root of relative wav paths [each list's folder]"
    )
    parser.add_argument("--num-workers", type=int, default=1, help="DataLoader workers (at most cores - 1)")
    resume = parser.add_argument_group("resume, overwrite")
    resume.add_argument(
        "--resume", action="store_true", help="continue the run in output_directory from its model_last"
    )
    resume.add_argument("--force", action="store_true", help="start a new run in a folder that holds one")
    hardware = parser.add_argument_group("hardware")
    add_device_arguments(hardware)
    hardware.add_argument("--amp", action="store_true", help="mixed precision on a CPU too (bf16)")
    stopping = parser.add_argument_group("stopping")
    stopping.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    stopping.add_argument(
        "--max-nonfinite-steps", type=int, default=10, help="stop after this many non-finite steps in a row"
    )
    parser.add_argument(
        "--alignment-patience",
        type=int,
        default=5,
        help="warn when the attention's alignment score has not improved for this many validations",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(parser, args, "max_steps", "max_nonfinite_steps", "alignment_patience")
    if args.num_workers < 0:
        parser.error(f"--num-workers must be >= 0, got {args.num_workers}")
    try:
        FlowtronConfig().with_overrides(args.params)
    except ConfigError as error:
        parser.error(str(error))
    return args


def config_from_args(args: argparse.Namespace) -> FlowtronConfig:
    """config.json with -p applied, checked for values training cannot use."""
    config = load_config(args.config, args.params)
    train = config.train_config
    problems = [
        f"train_config.{name} must be at least 1, got {getattr(train, name)}"
        for name in ("batch_size", "iters_per_checkpoint", "epochs")
        if getattr(train, name) < 1
    ]
    if train.optim_algo not in ("RAdam", "Adam"):
        problems.append(f"train_config.optim_algo must be RAdam or Adam, got {train.optim_algo!r}")
    if not train.learning_rate > 0:
        problems.append(f"train_config.learning_rate must be positive, got {train.learning_rate}")
    if not 0 <= config.data_config.p_arpabet <= 1:
        problems.append(f"data_config.p_arpabet must lie in [0, 1], got {config.data_config.p_arpabet}")
    if problems:
        raise ConfigError("; ".join(problems))
    return config
