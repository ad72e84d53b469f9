"""Every knob of Tacotron 2 + MMI in one place, with the names and defaults of bfs18/tacotron2's
`hparams.py` (NVIDIA/tacotron2's, plus the MMI options), without TensorFlow.

    from tacotron2_mmi.hparams import create_hparams
    hparams = create_hparams("batch_size=16,use_gaf=False,ignore_layers=[embedding.weight]")

`create_hparams(hparams_string)` takes the original's `--hparams` syntax: comma-separated `name=value`,
values read by the type of the default (`true`/`false` for booleans, `[a,b]` or Python literals for
lists). What differs from the original, on purpose:
  * added fields, each defaulting to the original's behaviour: `p_teacher_forcing` (CookiePPP's fork,
    1.0 = always teacher-forced), `update_gaf_every_n_step` (a module constant of the original),
    `prenet_dropout` (hard-wired 0.5 in the original), `num_workers` (hard-wired 1);
  * `gaf_exclude_batchnorm_conv_bias` (default True; False is the original): see
    `gradient_adaptive_factor.py` for why the conv biases before BatchNorm are left out of the GAF;
  * `global_mean_npy` names the drop-frame mean file *inside the output directory* unless absolute, and
    defaults to `global_mean.pt`: the file records the training list it was computed from, so a mean of
    another corpus is refused (the original silently reuses `ljspeech_global_mean.npy` from the working
    directory). An original `.npy` is still read, with a warning;
  * `fp16_run` means mixed precision through torch.amp (fp16 + GradScaler on CUDA, bf16 on CPU), the same
    as `--amp`; `distributed_run`, `dist_backend`, `dist_url` are kept for compatibility but `torchrun`
    starts distributed runs (nccl on CUDA, gloo on CPU); `dynamic_loss_scaling` is what GradScaler does.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from shared_text.symbols import get_symbols

from .infra import UserError

# The input and CTC alphabets of the original `text/symbols.py` (`symbols`, `ctc_symbols`): the CTC head
# predicts N_CTC_SYMBOLS classes plus the blank, which is the last class.
N_SYMBOLS = len(get_symbols("tacotron2"))
N_CTC_SYMBOLS = len(get_symbols("tacotron2_mmi_ctc"))


@dataclass
class HParams:
    # Experiment
    epochs: int = 500
    iters_per_checkpoint: int = 1000
    seed: int = 1234
    dynamic_loss_scaling: bool = True
    fp16_run: bool = False
    distributed_run: bool = False
    dist_backend: str = "nccl"
    dist_url: str = "tcp://localhost:54321"
    cudnn_enabled: bool = True
    cudnn_benchmark: bool = False
    ignore_layers: list = field(default_factory=lambda: ["embedding.weight"])
    # Data
    load_mel_from_disk: bool = False
    training_files: str = "filelists/ljs_audio_text_train_filelist.txt"
    validation_files: str = "filelists/ljs_audio_text_val_filelist.txt"
    text_cleaners: list = field(default_factory=lambda: ["english_cleaners"])
    num_workers: int = 1
    # Audio
    max_wav_value: float = 32768.0
    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mel_channels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: float = 8000.0
    # Model
    n_symbols: int = N_SYMBOLS
    symbols_embedding_dim: int = 512
    # Encoder
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    # Decoder
    n_frames_per_step: int = 1  # only 1, as in the original
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    prenet_dropout: float = 0.5  # always on, also at inference (hard-wired in the original)
    max_decoder_steps: int = 1000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    p_teacher_forcing: float = 1.0  # CookiePPP: per step, the batch feeds back its prediction w.p. 1 - p
    # Attention
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    # Location layer
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    # Postnet
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    # Optimization
    use_saved_learning_rate: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip_thresh: float = 1.0
    batch_size: int = 32
    mask_padding: bool = True
    # MMI
    drop_frame_rate: float = 0.2
    use_mmi: bool = True
    use_gaf: bool = True
    max_gaf: float = 0.5
    update_gaf_every_n_step: int = 10
    gaf_exclude_batchnorm_conv_bias: bool = True
    global_mean_npy: str = "global_mean.pt"

    def __post_init__(self):
        problems = []
        if self.n_frames_per_step != 1:
            problems.append(
                f"n_frames_per_step={self.n_frames_per_step}: only 1 is supported (the original "
                "crashes for other values; drop frames take the place of a reduction window)"
            )
        if self.encoder_embedding_dim % 2:
            problems.append(
                f"encoder_embedding_dim={self.encoder_embedding_dim} must be even (BiLSTM halves)"
            )
        for name in ("encoder_kernel_size", "attention_location_kernel_size", "postnet_kernel_size"):
            if getattr(self, name) % 2 != 1:
                problems.append(f"{name}={getattr(self, name)} must be odd ('same' padding)")
        if self.postnet_n_convolutions < 2:
            problems.append(f"postnet_n_convolutions={self.postnet_n_convolutions} must be at least 2")
        for name in ("drop_frame_rate", "prenet_dropout", "p_attention_dropout", "p_decoder_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}={getattr(self, name)} must lie in [0, 1)")
        if not 0.0 <= self.p_teacher_forcing <= 1.0:
            problems.append(f"p_teacher_forcing={self.p_teacher_forcing} must lie in [0, 1]")
        if not self.max_gaf > 0:
            problems.append(f"max_gaf={self.max_gaf} must be positive")
        positive = (
            "update_gaf_every_n_step",
            "batch_size",
            "epochs",
            "iters_per_checkpoint",
            "max_decoder_steps",
            "n_mel_channels",
            "hop_length",
            "filter_length",
        )
        problems += [
            f"{name}={getattr(self, name)} must be at least 1" for name in positive if getattr(self, name) < 1
        ]
        if not (self.learning_rate > 0 and self.grad_clip_thresh > 0 and self.weight_decay >= 0):
            problems.append("learning_rate and grad_clip_thresh must be positive, weight_decay >= 0")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values, so a checkpoint holding it loads with `torch.load(weights_only=True)`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], strict: bool = True) -> HParams:
        """From a dict such as a checkpoint's; unknown names raise (strict) or are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown and strict:
            raise ValueError(f"unknown hparams {unknown}; the names are those of tacotron2_mmi/hparams.py")
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> HParams:
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        lines = [f"{f.name}={getattr(self, f.name)!r}," for f in dataclasses.fields(self)]
        return "HParams(\n    " + "\n    ".join(lines) + "\n)"


def _split_items(text: str) -> list[str]:
    """'a=1,b=[x, y],c=2' -> ['a=1', 'b=[x, y]', 'c=2']: a comma starts a new item only outside brackets."""
    items, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item.strip() for item in items if item.strip()]


def _convert(name: str, raw: str, default: Any) -> Any:
    """The value of `name=raw`, of the type of `default`; UserError naming the item otherwise."""

    def wrong(expected: str) -> UserError:
        return UserError(f"--hparams: {name}={raw!r} is not {expected}")

    if isinstance(default, bool):
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise wrong("a boolean (true or false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise wrong("an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise wrong("a number") from None
    if isinstance(default, list):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            inner = raw.strip()
            if not (inner.startswith("[") and inner.endswith("]")):
                raise wrong("a list, e.g. [a,b]") from None
            value = [part.strip().strip("'\"") for part in inner[1:-1].split(",") if part.strip()]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise wrong("a list, e.g. [a,b]")
        return value
    return raw.strip().strip("'\"")


def parse_hparams_string(text: str | None, base: HParams | None = None) -> dict[str, Any]:
    """'name=value,...' -> {name: typed value}; UserError for an unknown name or a malformed item."""
    base = base or HParams()
    defaults = base.to_dict()
    overrides = {}
    for item in _split_items(text or ""):
        if "=" not in item:
            raise UserError(f"--hparams: expected name=value, got {item!r}")
        name, raw = (part.strip() for part in item.split("=", 1))
        if not re.fullmatch(r"\w+", name) or name not in defaults:
            raise UserError(f"--hparams: unknown name {name!r}; every name: python train.py --print-config")
        overrides[name] = _convert(name, raw, defaults[name])
    return overrides


def with_overrides(base: HParams, overrides: dict[str, Any]) -> HParams:
    """`base` with `overrides` applied; UserError for values the model cannot take."""
    try:
        return HParams.from_dict({**base.to_dict(), **overrides})
    except (TypeError, ValueError) as error:
        raise UserError(f"hparams: {error}") from None


def create_hparams(hparams_string: str | None = None, base: HParams | None = None) -> HParams:
    """The original's entry point: the defaults (or `base`) with `hparams_string` applied."""
    base = base or HParams()
    return with_overrides(base, parse_hparams_string(hparams_string, base))
