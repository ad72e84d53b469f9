"""The configuration: the original's JSON files (`configs/ljs.json`, `configs/ljs_reproduce.json`) with its
three sections and names, as one object stored in every checkpoint.

    config = load_config("configs/ljs.json", overrides=["train.batch_size=8"])
    config.train.batch_size, config.data.hop_length, config.models["flow"]["n_layers"]

`train` and `data` are dataclasses (every key of the original, its defaults, and a few of ours, marked
below); `models` stays the original's nested dict, handed to the networks as keyword arguments, with one
optional section of ours, "discriminator" ({"width_divisor": 1, "periods": [2, 3, 5, 7, 11]}: narrower
discriminators for tests and tiny CPU runs; absent = the original's). A key
the section does not know is an error naming the file, as is a value of the wrong type.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .infra import UserError

BUCKET_BOUNDARIES = [32, 300, 400, 500, 600, 700, 800, 900, 1000]


@dataclass
class TrainConfig:
    log_interval: int = 500  # steps between log records
    eval_interval: int = 5  # epochs between checkpoints + evaluation samples
    seed: int = 1234
    epochs: int = 1500
    learning_rate: float = 2e-4
    betas: list = field(default_factory=lambda: [0.8, 0.99])
    eps: float = 1e-9
    batch_size: int = 16
    fp16_run: bool = True  # mixed precision on CUDA (fp16 + GradScaler); on a CPU only with --amp
    lr_decay: float = 0.999  # ExponentialLR gamma, stepped once per epoch
    segment_size: int = 8192  # samples decoded per utterance and step
    init_lr_ratio: float = 1  # unused, as in the original
    warmup_epochs: int = 200
    c_mel: float = 45
    c_kl: float = 1.0
    c_kl_fwd: float = 0.001
    c_e2e: float = 0.1
    c_dur: float = 5.0
    use_sdtw: bool = False
    use_gt_duration: bool = True
    # --- ours ---
    use_mas: bool = False  # durations by monotonic alignment search each step, no durations/*.npy needed
    c_kl_mas: float = 1.0  # weight of the token-prior KL that trains the alignment prior (use_mas)
    sdtw_padding_independent: bool = True  # False: the original's padded soft-DTW (loss depends on padding)
    soft_dtw_backend: str = (
        "cython"  # cython (CPU kernel, also for GPU tensors, as the original) | torch | cuda
    )
    mas_backend: str = "cython"  # cython | torch
    bucket_boundaries: list = field(default_factory=lambda: list(BUCKET_BOUNDARIES))  # frames
    eval_utterances: int = 9  # validation utterances synthesised at each evaluation
    eval_max_frames: int = 1000  # the original's max_len of those samples
    num_workers: int = 8  # DataLoader workers (capped at the cores left)


@dataclass
class DataConfig:
    training_files: str = "filelists/ljs_audio_text_train_filelist.txt.cleaned"
    validation_files: str = "filelists/ljs_audio_text_val_filelist.txt.cleaned"
    text_cleaners: list = field(default_factory=lambda: ["english_cleaners2"])
    max_wav_value: float = 32768.0  # unused: filelists.audio reads any PCM width at its own scale
    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mel_channels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    add_blank: bool = True
    n_speakers: int = 0
    cleaned_text: bool = True  # the filelists hold phonemes already (preprocess.py writes them)
    # --- ours ---
    durations_dir: str | None = "durations"  # <dir>/<wav name>.npy, relative to the working directory
    min_text_len: int = 1  # the original's loader defaults
    max_text_len: int = 190


SECTIONS = {"train": TrainConfig, "data": DataConfig}
MODEL_SECTIONS = (
    "phoneme_encoder",
    "decoder",
    "posterior_encoder",
    "flow",
    "duration_predictor",
    "learnable_upsampling",
    "memory_bank",
)
LATENT_WIDTH_KEYS = [
    ("phoneme_encoder", "hidden_channels"),
    ("posterior_encoder", "out_channels"),
    ("flow", "channels"),
    ("decoder", "initial_channel"),
    ("duration_predictor", "in_channels"),
    ("learnable_upsampling", "d_predictor"),
    ("memory_bank", "n_hidden_dims"),
]


@dataclass
class Config:
    train: TrainConfig
    data: DataConfig
    models: dict
    source: str = "config"  # where it came from, for messages

    def to_dict(self) -> dict:
        return {
            "train": asdict(self.train),
            "data": asdict(self.data),
            "models": json.loads(json.dumps(self.models)),
        }

    @property
    def spec_channels(self) -> int:
        return self.data.filter_length // 2 + 1

    @property
    def segment_frames(self) -> int:
        return self.train.segment_size // self.data.hop_length

    @property
    def latent_width(self) -> int:
        return self.models["phoneme_encoder"]["hidden_channels"]

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _typed(value: Any, default: Any, where: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise UserError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(default, (list, tuple)) and not isinstance(value, (list, tuple)):
        raise UserError(f"{where}: expected a list, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise UserError(f"{where}: expected a string, got {value!r}")
    return value


def _section(cls, values: dict, source: str, name: str):
    if not isinstance(values, dict):
        raise UserError(f'{source}: "{name}" must be an object, got {type(values).__name__}')
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(
            f'{source}: unknown key(s) in "{name}": {", ".join(unknown)} (known: {", ".join(known)})'
        )
    defaults = cls()
    typed = {
        key: _typed(value, getattr(defaults, key), f"{source}: {name}.{key}") for key, value in values.items()
    }
    return cls(**typed)


def config_from_dict(values: dict, source: str = "config") -> Config:
    if not isinstance(values, dict):
        raise UserError(f"{source}: expected a JSON object with train, data and models sections")
    unknown = sorted(set(values) - {"train", "data", "models"})
    if unknown:
        raise UserError(f"{source}: unknown section(s) {', '.join(unknown)}; expected train, data, models")
    models = values.get("models")
    if not isinstance(models, dict):
        raise UserError(f'{source}: the "models" section is missing or not an object')
    missing = [name for name in MODEL_SECTIONS if name not in models]
    if missing:
        raise UserError(f'{source}: "models" lacks {", ".join(missing)}')
    config = Config(
        _section(TrainConfig, values.get("train", {}), source, "train"),
        _section(DataConfig, values.get("data", {}), source, "data"),
        json.loads(json.dumps(models)),
        source,
    )
    check_config(config)
    return config


def check_config(config: Config) -> None:
    """Settings the networks or the recipe cannot work with, refused with the key to change."""
    source, train, data, models = config.source, config.train, config.data, config.models
    widths = {f"{section}.{key}": models[section].get(key) for section, key in LATENT_WIDTH_KEYS}
    if len(set(widths.values())) != 1:
        raise UserError(
            f"{source}: the latent width must be the same everywhere: "
            + ", ".join(f"{key}={value}" for key, value in widths.items())
        )
    upsampling = math.prod(models["decoder"]["upsample_rates"])
    if upsampling != data.hop_length:
        raise UserError(
            f"{source}: decoder.upsample_rates multiply to {upsampling}, but data.hop_length is "
            f"{data.hop_length}; the decoder must turn one frame into one hop of audio"
        )
    if train.segment_size % data.hop_length or train.segment_size < data.hop_length:
        raise UserError(
            f"{source}: train.segment_size {train.segment_size} must be a multiple of hop_length "
            f"{data.hop_length}"
        )
    if not train.use_gt_duration and not train.use_sdtw:
        raise UserError(
            f"{source}: use_gt_duration false needs use_sdtw true: with predicted durations the prior and "
            "the posterior have different numbers of frames, which only the soft-DTW KL can compare"
        )
    for name, allowed in (
        ("soft_dtw_backend", ("cython", "torch", "cuda")),
        ("mas_backend", ("cython", "torch")),
    ):
        if getattr(train, name) not in allowed:
            raise UserError(
                f"{source}: train.{name} must be one of {', '.join(allowed)}, got {getattr(train, name)!r}"
            )
    for name in ("batch_size", "epochs", "eval_interval", "log_interval", "eval_utterances"):
        if getattr(train, name) < 1 and name != "eval_utterances":
            raise UserError(f"{source}: train.{name} must be at least 1, got {getattr(train, name)}")
    if sorted(train.bucket_boundaries) != list(train.bucket_boundaries) or len(train.bucket_boundaries) < 2:
        raise UserError(f"{source}: train.bucket_boundaries must be at least two increasing frame counts")
    if data.n_speakers:
        raise UserError(f"{source}: data.n_speakers must be 0: NaturalSpeech is single-speaker")


def _set(values: dict, assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or "." not in key:
        raise UserError(f"--set {assignment!r}: expected section.key=value, e.g. train.batch_size=8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text  # a bare string
    node = values
    *path, last = key.split(".")
    for part in path:
        if not isinstance(node.get(part), dict):
            raise UserError(f"--set {assignment!r}: no section {part!r}")
        node = node[part]
    node[last] = value


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """The JSON config at `path` with `section.key=value` overrides (JSON values) applied."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: no such config file (the originals are in configs/: ljs.json, ljs_reproduce.json)"
        )
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not a JSON config ({error})") from None
    for assignment in overrides:
        _set(values, assignment)
    return config_from_dict(values, str(path))


def config_with_overrides(config: Config, overrides: list[str]) -> Config:
    values = config.to_dict()
    for assignment in overrides:
        _set(values, assignment)
    return config_from_dict(values, config.source)
