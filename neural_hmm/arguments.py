"""train.py's command line: the original's flags (`-c`, `-w`, `-r`), a `--hparams "name=value,..."` override
of any `HParams` field (the original has none: you edit `src/hparams.py`), dedicated flags for the common
fields, and the common names of this repository (`--resume`, `--force`, `--device`/`--cpu`, `--amp`,
`--print-config`). --help shows every default."""

from __future__ import annotations

import argparse

from .hparams import HParams, parse_overrides, with_overrides
from .infra import HelpFormatter, UserError, add_device_arguments, require_positive

# HParams fields with a flag of their own: field -> flags (the original's spelling first).
FIELD_FLAGS = {
    "run_name": ("-r", "--run_name", "--run-name"),
    "checkpoint_dir": ("-o", "--checkpoint-dir", "--output"),
    "training_files": ("--training-files",),
    "validation_files": ("--validation-files",),
    "batch_size": ("--batch-size",),
    "learning_rate": ("--learning-rate",),
    "precision": ("--precision",),
    "seed": ("--seed",),
}
FIELD_HELP = {
    "run_name": "run name: the run folder is <checkpoint_dir>/<run_name>",
    "checkpoint_dir": "folder of the run folders",
    "training_files": "wav_path|text filelist to train on",
    "validation_files": "wav_path|text filelist for the validation loss",
    "batch_size": "utterances per batch and process",
    "learning_rate": "Adam learning rate",
    "precision": "16: mixed precision (fp16 on CUDA; on a CPU only with --amp), 32: float32",
    "seed": "seed of weights, dropout and data order",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python train.py",
        description="Train Neural-HMM (Mehta et al. 2021). Multi-GPU: torchrun --nproc_per_node N train.py",
        formatter_class=HelpFormatter,
        allow_abbrev=False,  # a misspelt or truncated flag is an error, never a silent guess
    )
    parser.add_argument(
        "--hparams",
        default="",
        help='HParams overrides, "name=value,..." (Python literals; every name: --print-config)',
    )
    defaults = HParams()
    for field, flags in FIELD_FLAGS.items():
        default = getattr(defaults, field)
        parser.add_argument(
            *flags, dest=field, type=type(default), default=None, help=f"{FIELD_HELP[field]} [{default}]"
        )
    parser.add_argument("--dataset-path", default=None, help="root of relative wav paths [the list's folder]")
    parser.add_argument(
        "--data-parameters",
        default=None,
        help="data statistics file (the original's data_parameters.pt), computed from --training-files "
        "when absent [<run folder>/data_parameters.pt]",
    )
    parser.add_argument(
        "--tensorboard-log-dir", default=None, help="TensorBoard root [<run folder>/tensorboard]"
    )
    resume = parser.add_argument_group("resume, warm start, overwrite")
    resume.add_argument(
        "--resume", action="store_true", help="continue the run from its checkpoint_last.ckpt"
    )
    resume.add_argument(
        "-c", "--checkpoint_path", "--checkpoint-path", dest="checkpoint_path", default=None,
        help="resume from this train.py checkpoint (with -w: start a new run from its weights)",
    )  # fmt: skip
    resume.add_argument(
        "-w", "--warm_start", "--warm-start", dest="warm_start", action="store_true",
        help="with -c: load all weights but hparams.ignore_layers; fresh optimizer, iteration 0",
    )  # fmt: skip
    resume.add_argument("--force", action="store_true", help="start a new run in a folder that holds one")
    hardware = parser.add_argument_group("hardware")
    add_device_arguments(hardware)
    hardware.add_argument("--amp", action="store_true", help="mixed precision on a CPU too (bf16)")
    hardware.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute the output net in backward (less memory)",
    )
    stopping = parser.add_argument_group("stopping")
    stopping.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    stopping.add_argument(
        "--max-nonfinite-steps", type=int, default=10, help="stop after this many non-finite steps in a row"
    )
    stopping.add_argument(
        "--alignment-patience", type=int, default=5,
        help="warn when the state alignment's score has not improved for this many validations",
    )  # fmt: skip
    parser.add_argument("--print-config", action="store_true", help="print the resolved hparams and exit")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warm_start and not args.checkpoint_path:
        parser.error("-w/--warm_start needs -c/--checkpoint_path")
    require_positive(parser, args, "max_steps", "max_nonfinite_steps", "alignment_patience")
    try:
        parse_overrides(args.hparams)
    except UserError as error:
        parser.error(str(error))
    return args


def hparams_from_args(args: argparse.Namespace, base: HParams | None = None) -> HParams:
    """`base` (default: hparams.py) with --hparams applied, then the dedicated flags."""
    overrides = parse_overrides(args.hparams)
    overrides.update({f: getattr(args, f) for f in FIELD_FLAGS if getattr(args, f) is not None})
    hparams = with_overrides(base or HParams(), overrides)
    if hparams.precision not in (16, 32):
        raise UserError(f"precision must be 16 or 32, got {hparams.precision}")
    for name, allowed in (("gradient_accumulation_steps", 1), ("stochastic_weight_avg", False)):
        if getattr(hparams, name) != allowed:
            raise UserError(f"{name}={getattr(hparams, name)!r} is not supported by this train.py")
    if hparams.load_mel_from_disk:
        raise UserError("load_mel_from_disk is not supported: mels are computed from the WAVs")
    return hparams
