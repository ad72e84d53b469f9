"""train.py's command line: the original's flags (`-c/--config`, `-m/--model`, `--warmup`), `--set` for any
config key (the original has no override syntax: you edit the JSON), and the repository's common flags
(`--resume`, `--force`, `--device`/`--cpu`, `--amp`, `--print-config`). --help shows every default."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .config import Config, config_with_overrides, load_config
from .infra import HelpFormatter, add_device_arguments, require_positive

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "ljs.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python train.py",
        description="Train NaturalSpeech (Tan et al. 2022) as heatz123/naturalspeech does: warm-up "
        "(--warmup), attach_memory_bank.py, then the main stage (--resume). Multi-GPU: "
        "torchrun --nproc_per_node N train.py ...",
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("-c", "--config", default=str(DEFAULT_CONFIG), help="JSON config [configs/ljs.json]")
    parser.add_argument(
        "-m", "--model", required=True, help="run name: the run folder is <output-dir>/<model>"
    )
    parser.add_argument(
        "--warmup",
        action="store_true",
        help="warm-up stage: given/MAS durations, no memory bank, c_kl_fwd 0, stop at train.warmup_epochs",
    )
    parser.add_argument("-o", "--output-dir", default="logs", help="folder of the run folders")
    parser.add_argument(
        "-s",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (a JSON value), e.g. --set train.batch_size=8; repeatable",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--training-files", default=None, help="training filelist [data.training_files]")
    data.add_argument("--validation-files", default=None, help="validation filelist [data.validation_files]")
    data.add_argument("--dataset-path", default=None, help="root of relative wav paths [the list's folder]")
    data.add_argument(
        "--durations", default=None, help="folder of <wav name>.npy durations [data.durations_dir]"
    )
    data.add_argument(
        "--use-mas",
        action="store_true",
        help="no durations: align by monotonic alignment search each step, as VITS (sets train.use_mas)",
    )
    resume = parser.add_argument_group("resume, overwrite")
    resume.add_argument("--resume", action="store_true", help="continue the run from its newest G_/D_ files")
    resume.add_argument("--force", action="store_true", help="start a new run in a folder that holds one")
    resume.add_argument(
        "--legacy-resume",
        action="store_true",
        help="the original's choice of file to resume "
        "from (largest number in the name) and its silent restart when that file fails to load",
    )
    hardware = parser.add_argument_group("hardware")
    add_device_arguments(hardware)
    hardware.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision on a CPU too (bf16); on CUDA train.fp16_run decides",
    )
    hardware.add_argument(
        "--require-cuda", action="store_true", help="refuse to run without CUDA (the original's behaviour)"
    )
    stopping = parser.add_argument_group("stopping")
    stopping.add_argument("--max-steps", type=int, default=None, help="stop after this many updates")
    stopping.add_argument(
        "--max-nonfinite-steps", type=int, default=10, help="stop after this many non-finite steps in a row"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(parser, args, "max_steps", "max_nonfinite_steps")
    if args.resume and args.force:
        parser.error("--resume continues a run and --force starts one over: choose one")
    return args


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The config file (or `base`, a resumed run's stored config) with --set and the dedicated flags."""
    overrides = list(args.overrides)
    for flag, key in (
        ("training_files", "data.training_files"),
        ("validation_files", "data.validation_files"),
    ):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={_json_string(getattr(args, flag))}")
    if args.durations is not None:
        overrides.append(f"data.durations_dir={_json_string(args.durations)}")
    if args.use_mas:
        overrides.append("train.use_mas=true")
    if base is None:
        return load_config(args.config, overrides)
    return config_with_overrides(base, overrides)


def _json_string(value: str) -> str:
    return json.dumps(value)
