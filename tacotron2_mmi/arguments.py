"""train.py's command line: the original's flags (`-o`, `-l`, `-c`, `--warm_start`, `--hparams`, and
`--n_gpus`/`--rank`/`--group_name`, accepted for old scripts: torchrun starts the processes here), flags of
their own for the hparams one sets most, and the repository's common ones (`--resume`, `--force`,
`--device`/`--cpu`, `--amp`, `--print-config`). --help shows every default."""

from __future__ import annotations

import argparse

from .hparams import HParams, parse_hparams_string, with_overrides
from .infra import HelpFormatter, UserError, add_device_arguments, require_positive

# HParams fields with a flag of their own (the flag wins over --hparams).
FIELD_FLAGS = {
    "training_files": ("--training-files",),
    "validation_files": ("--validation-files",),
    "batch_size": ("--batch-size",),
    "learning_rate": ("--learning-rate",),
    "seed": ("--seed",),
}
FIELD_HELP = {
    "training_files": "wav_path|text filelist to train on",
    "validation_files": "wav_path|text filelist for the validation loss and the alignment health",
    "batch_size": "utterances per batch and process",
    "learning_rate": "Adam learning rate",
    "seed": "seed of the weights, dropout, drop frames and data order",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python train.py",
        description="Train Tacotron 2 with maximum mutual information (Liu et al. 2019, bfs18/tacotron2). "
        "Several processes: torchrun --nproc_per_node N train.py ...",
        formatter_class=HelpFormatter,
        allow_abbrev=False,  # a misspelt or shortened flag is an error, never a guess
    )
    parser.add_argument(
        "-o",
        "--output_directory",
        "--output-directory",
        dest="output_directory",
        default=None,
        help="folder of the run: checkpoints, log.jsonl, the global mean, "
        "TensorBoard (required unless --print-config)",
    )
    parser.add_argument(
        "-l",
        "--log_directory",
        "--log-directory",
        dest="log_directory",
        default="logs",
        help="TensorBoard folder, inside the output directory",
    )
    parser.add_argument(
        "--hparams", default="", help='hparams overrides "name=value,..." (every name: --print-config)'
    )
    defaults = HParams()
    for name, flags in FIELD_FLAGS.items():
        default = getattr(defaults, name)
        parser.add_argument(
            *flags, dest=name, type=type(default), default=None, help=f"{FIELD_HELP[name]} [{default}]"
        )
    parser.add_argument("--dataset-path", default=None, help="root of relative wav paths [the list's folder]")

    resume = parser.add_argument_group("resume, warm start, start over")
    resume.add_argument("--resume", action="store_true", help="continue the run from its checkpoint_last")
    resume.add_argument(
        "-c",
        "--checkpoint_path",
        "--checkpoint-path",
        dest="checkpoint_path",
        default=None,
        help="continue from this checkpoint (ours or the original's); with --warm_start, "
        "start a new run from its weights",
    )
    resume.add_argument(
        "--warm_start",
        "--warm-start",
        dest="warm_start",
        action="store_true",
        help="with -c: take the weights whose names and shapes fit, except "
        "hparams.ignore_layers (NVIDIA's tacotron2_statedict.pt works); new optimizer, iteration 0",
    )
    resume.add_argument("--force", action="store_true", help="start a new run in a folder that holds one")

    hardware = parser.add_argument_group("hardware")
    add_device_arguments(hardware)
    hardware.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision: fp16 + GradScaler on CUDA, bf16 on CPU (= fp16_run=True)",
    )
    hardware.add_argument("--n_gpus", type=int, default=1, help="ignored (the original's; use torchrun)")
    hardware.add_argument("--rank", type=int, default=0, help="ignored (the original's; torchrun sets RANK)")
    hardware.add_argument("--group_name", default="group_name", help="ignored (the original's)")

    stopping = parser.add_argument_group("stopping")
    stopping.add_argument("--max-steps", type=int, default=None, help="stop after this many updates")
    stopping.add_argument(
        "--max-nonfinite-steps", type=int, default=10, help="stop after this many non-finite steps in a row"
    )
    stopping.add_argument(
        "--alignment-patience",
        type=int,
        default=5,
        help="warn when the attention's alignment score has not improved for this many validations",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved hparams and exit")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warm_start and not args.checkpoint_path:
        parser.error("--warm_start needs -c/--checkpoint_path")
    if not args.print_config and not args.output_directory:
        parser.error("-o/--output_directory is required")
    require_positive(parser, args, "max_steps", "max_nonfinite_steps", "alignment_patience")
    try:
        parse_hparams_string(args.hparams)
    except UserError as error:
        parser.error(str(error))
    return args


def hparams_from_args(args: argparse.Namespace, base: HParams | None = None) -> HParams:
    """`base` (default: hparams.py) with --hparams applied, then the dedicated flags."""
    base = base or HParams()
    overrides = parse_hparams_string(args.hparams, base)
    overrides.update({name: getattr(args, name) for name in FIELD_FLAGS if getattr(args, name) is not None})
    hparams = with_overrides(base, overrides)
    if hparams.load_mel_from_disk:
        raise UserError("load_mel_from_disk=True is not supported: mels are computed from the WAVs")
    return hparams
