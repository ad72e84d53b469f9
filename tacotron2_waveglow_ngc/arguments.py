"""train.py's command line: DeepLearningExamples' flags and defaults (its `train.py` and the two models'
`arg_parser.py`), every flag with its meaning and default in --help, plus the common names of this
repository (`--resume`, `--force`, `--device`/`--cpu`, `--print-config`)."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

from .config import TACOTRON2_HELP, Tacotron2Config
from .infra import HelpFormatter, add_device_arguments, require_positive
from .recipes import RECIPES

# Tacotron2Config fields that are not model flags: the mel size is an audio flag shared with WaveGlow.
TACOTRON2_NON_FLAGS = ("n_mel_channels",)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python train.py",
        description="Train Tacotron 2 or WaveGlow (NVIDIA DeepLearningExamples recipe). Multi-GPU: "
        "torchrun --nproc_per_node N train.py ...",
        formatter_class=HelpFormatter,
        allow_abbrev=False,  # a misspelt or truncated flag is an error, never a silent guess
    )
    parser.add_argument("-m", "--model-name", required=True, choices=sorted(RECIPES), help="model to train")
    parser.add_argument("-o", "--output", required=True, help="folder for checkpoints, log and tensorboard/")
    parser.add_argument(
        "-d", "--dataset-path", default=None, help="root of the filelists' relative paths [their folder]"
    )
    parser.add_argument("--log-file", default="nvlog.json", help="JSON-lines log, relative to --output")
    add_device_arguments(parser)
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved model config and exit"
    )

    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, required=True, help="number of epochs to run")
    training.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    training.add_argument("--epochs-per-checkpoint", type=int, default=50, help="checkpoint every N epochs")
    training.add_argument("--checkpoint-path", default="", help="resume from this checkpoint")
    training.add_argument(
        "--resume",
        "--resume-from-last",
        dest="resume",
        action="store_true",
        help="resume from <output>/checkpoint_<model>_last.pt",
    )
    training.add_argument("--force", action="store_true", help="start a new run in a folder that holds one")
    training.add_argument("--seed", type=int, default=None, help="seed (None: weights unseeded, data seed 0)")
    training.add_argument("--amp", action="store_true", help="mixed precision: fp16 on CUDA, bf16 on CPU")
    training.add_argument(
        "--cudnn-enabled", action="store_true", help="enable cuDNN (off unless given, as DLE)"
    )
    training.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest kernels")
    training.add_argument(
        "--disable-uniform-initialize-bn-weight",
        action="store_true",
        help="keep PyTorch's BatchNorm weight init (ones) instead of DLE's U[0,1)",
    )
    training.add_argument(
        "--alignment-patience", type=int, default=5,
        help="warn when the attention's alignment score has not improved for this many validations",
    )  # fmt: skip
    training.add_argument(
        "--max-nonfinite-steps", type=int, default=10, help="stop after this many non-finite steps in a row"
    )

    optimization = parser.add_argument_group("optimization")
    optimization.add_argument("-lr", "--learning-rate", type=float, required=True, help="learning rate")
    optimization.add_argument("--weight-decay", type=float, default=1e-6, help="Adam weight decay (L2)")
    optimization.add_argument(
        "--grad-clip-thresh", type=float, default=1.0, help="gradient L2-norm clip (Tacotron 2 only)"
    )
    optimization.add_argument(
        "--guided-attention-weight", type=float, default=0.0,
        help="Tacotron 2: add this multiple of a guided-attention loss (Tachibana et al. 2018), which pulls "
        "the attention towards the diagonal; 0 is the original's loss",
    )  # fmt: skip
    optimization.add_argument(
        "--guided-attention-sigma", type=float, default=0.2,
        help="width of the guided attention's diagonal band, as a fraction of the utterance",
    )  # fmt: skip
    optimization.add_argument("-bs", "--batch-size", type=int, required=True, help="batch size per process")
    optimization.add_argument(
        "--anneal-steps", nargs="*", type=int, default=None, help="epochs at which the learning rate drops"
    )
    optimization.add_argument("--anneal-factor", type=float, choices=(0.1, 0.3), default=0.1, help="the drop")

    data = parser.add_argument_group("dataset")
    data.add_argument(
        "--load-mel-from-disk", action="store_true", help="filelists name .pt mels (prepare_mels.py)"
    )
    data.add_argument(
        "--training-files", default="filelists/ljs_audio_text_train_filelist.txt", help="filelist"
    )
    data.add_argument(
        "--validation-files", default="filelists/ljs_audio_text_val_filelist.txt", help="filelist"
    )
    data.add_argument("--text-cleaners", nargs="*", default=["english_cleaners"], help="text cleaners")
    data.add_argument("--num-workers", type=int, default=1, help="DataLoader workers (at most cores - 1)")

    audio = parser.add_argument_group("audio")
    audio.add_argument("--max-wav-value", type=float, default=32768.0, help="16-bit full scale")
    audio.add_argument("--sampling-rate", type=int, default=22050, help="Hz; other rates are refused")
    audio.add_argument("--filter-length", type=int, default=1024, help="FFT size")
    audio.add_argument("--hop-length", type=int, default=256, help="samples per mel frame")
    audio.add_argument("--win-length", type=int, default=1024, help="window length")
    audio.add_argument("--mel-fmin", type=float, default=0.0, help="lowest mel frequency (Hz)")
    audio.add_argument("--mel-fmax", type=float, default=8000.0, help="highest mel frequency (Hz)")
    audio.add_argument("--n-mel-channels", type=int, default=80, help="mel bands")

    tacotron2 = parser.add_argument_group("Tacotron 2 model (Tacotron2Config)")
    for field in fields(Tacotron2Config):
        if field.name in TACOTRON2_NON_FLAGS:
            continue
        help_text = TACOTRON2_HELP[field.name]
        if field.type in (bool, "bool"):
            action = "store_true" if not field.default else argparse.BooleanOptionalAction
            tacotron2.add_argument(_flag(field.name), action=action, default=field.default, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(field.type, field.type)
            tacotron2.add_argument(_flag(field.name), type=kind, default=field.default, help=help_text)

    waveglow = parser.add_argument_group("WaveGlow model")
    waveglow.add_argument("--flows", type=int, default=12, help="number of flows")
    waveglow.add_argument("--groups", type=int, default=8, help="audio samples folded into channels")
    waveglow.add_argument("--early-every", type=int, default=4, help="flows between early outputs")
    waveglow.add_argument("--early-size", type=int, default=2, help="channels output early")
    waveglow.add_argument("--sigma", type=float, default=1.0, help="standard deviation of the prior")
    waveglow.add_argument("--segment-length", type=int, default=4000, help="audio samples per item")
    waveglow.add_argument("--wn-kernel-size", type=int, default=3, help="WN convolution kernel width")
    waveglow.add_argument("--wn-channels", type=int, default=512, help="WN channels (published: 256)")
    waveglow.add_argument("--wn-layers", type=int, default=8, help="WN layers per flow")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(
        parser,
        args,
        "epochs",
        "batch_size",
        "epochs_per_checkpoint",
        "alignment_patience",
        "max_nonfinite_steps",
        "max_steps",
    )
    if not (args.guided_attention_weight >= 0 and math.isfinite(args.guided_attention_weight)):
        parser.error(
            f"--guided-attention-weight must be a finite number >= 0, got {args.guided_attention_weight}"
        )
    if args.guided_attention_weight > 0 and args.model_name != "Tacotron2":
        parser.error("--guided-attention-weight applies to Tacotron 2 only (WaveGlow has no attention)")
    if not (args.guided_attention_sigma > 0 and math.isfinite(args.guided_attention_sigma)):
        parser.error(f"--guided-attention-sigma must be a positive number, got {args.guided_attention_sigma}")
    if args.learning_rate <= 0 or not math.isfinite(args.learning_rate):
        parser.error(f"--learning-rate must be a positive number, got {args.learning_rate}")
    return args
