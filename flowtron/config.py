"""The configuration: `config.json`'s four sections with the original's names and defaults, and the
`-p key=value` overrides of train.py and inference.py.

    config = load_config("config.json", ["train_config.batch_size=2", "data_config.use_attn_prior=false"])
    Flowtron(**config.model_config.to_dict())

Overrides are typed by the default they replace: `true`/`false` (and 1/0, as the README writes them) are
booleans, numbers stay numbers, lists are JSON or Python lists, and a string field takes the text as
written. An unknown key or a value of the wrong type is an error naming it; the original only prints
"params not updated" for the first and turns `false` into the truthy string "false" for the second.
A value may contain "=" (only the first one splits). A missing key in a config file takes the default;
an unknown key is an error (the README's `train_config.fp16` names a key that does not exist).
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .infra import UserError


class ConfigError(UserError):
    """A config file or override that cannot be used; the message names the file or the key."""


@dataclass(frozen=True)
class TrainConfig:
    output_directory: str = "outdir"
    epochs: int = 10000000
    optim_algo: str = "RAdam"  # or "Adam" (torch Adam, L2 weight decay)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip_val: float = 1.0  # global L2 norm; 0 turns clipping off
    sigma: float = 1.0
    iters_per_checkpoint: int = 1000
    batch_size: int = 6
    seed: int = 1234
    checkpoint_path: str = ""
    ignore_layers: list = field(default_factory=list)
    finetune_layers: list = field(default_factory=list)
    include_layers: list = field(default_factory=lambda: ["speaker", "encoder", "embedding"])
    warmstart_checkpoint_path: str = ""
    with_tensorboard: bool = True
    fp16_run: bool = True  # on CUDA; a CPU run uses bf16 only with --amp
    gate_loss: bool = True
    use_ctc_loss: bool = True
    ctc_loss_weight: float = 0.01
    blank_logprob: float = -8.0
    ctc_loss_start_iter: int = 10000


@dataclass(frozen=True)
class DataConfig:
    training_files: str = "filelists/ljs_audiopaths_text_sid_train_filelist.txt"
    validation_files: str = "filelists/ljs_audiopaths_text_sid_val_filelist.txt"
    text_cleaners: list = field(default_factory=lambda: ["flowtron_cleaners"])
    p_arpabet: float = 0.5
    cmudict_path: str = ""  # "": CMUdict 0.7b as Flowtron uses it (shared_text); or a dictionary file
    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    mel_fmin: float = 0.0
    mel_fmax: float = 8000.0
    max_wav_value: float = 32768.0
    use_attn_prior: bool = True
    attn_prior_threshold: float = 0.0
    prior_cache_path: str = ""  # accepted for compatibility; priors are computed in memory
    betab_scaling_factor: float = 1.0
    keep_ambiguous: bool = False


@dataclass(frozen=True)
class DistConfig:
    """Kept for config compatibility; as in the original, the launcher's environment decides
    (torchrun sets RANK and WORLD_SIZE; nccl on CUDA, gloo on a CPU)."""

    dist_backend: str = "nccl"
    dist_url: str = "tcp://localhost:54321"


@dataclass(frozen=True)
class ModelConfig:
    n_speakers: int = 1
    n_speaker_dim: int = 128
    n_text: int = 185
    n_text_dim: int = 512
    n_flows: int = 2
    n_mel_channels: int = 80
    n_attn_channels: int = 640
    n_hidden: int = 1024
    n_lstm_layers: int = 2
    mel_encoder_n_hidden: int = 512
    n_components: int = 0
    mean_scale: float = 0.0
    fixed_gaussian: bool = True
    dummy_speaker_embedding: bool = False
    use_gate_layer: bool = True
    use_cumm_attention: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


SECTIONS = {
    "train_config": TrainConfig,
    "data_config": DataConfig,
    "dist_config": DistConfig,
    "model_config": ModelConfig,
}


@dataclass(frozen=True)
class FlowtronConfig:
    train_config: TrainConfig = field(default_factory=TrainConfig)
    data_config: DataConfig = field(default_factory=DataConfig)
    dist_config: DistConfig = field(default_factory=DistConfig)
    model_config: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=4)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> FlowtronConfig:
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a JSON object with {', '.join(SECTIONS)}")
        unknown = [name for name in values if name not in SECTIONS]
        if unknown:
            raise ConfigError(f"{where}: unknown section(s) {unknown}; expected {', '.join(SECTIONS)}")
        sections = {}
        for name, section_class in SECTIONS.items():
            given = values.get(name, {})
            if not isinstance(given, dict):
                raise ConfigError(f"{where}: {name} must be a JSON object")
            section = section_class()
            for key, value in given.items():
                section = _set(section, name, key, value, where, from_text=False)
            sections[name] = section
        return cls(**sections)

    def with_overrides(self, overrides: list[str], where: str = "-p") -> FlowtronConfig:
        """`section.key=value` items applied in order (typed by the default; see the module docstring)."""
        config = self
        for item in overrides:
            key, separator, text = item.partition("=")
            if not separator:
                raise ConfigError(f"{where} {item!r}: expected section.key=value")
            section_name, dot, name = key.strip().partition(".")
            if section_name not in SECTIONS or not dot:
                raise ConfigError(
                    f"{where} {item!r}: the key must be section.name with a section of {', '.join(SECTIONS)}"
                )
            section = _set(getattr(config, section_name), section_name, name, text, where, from_text=True)
            config = replace(config, **{section_name: section})
        return config


def _set(section, section_name: str, key: str, value: Any, where: str, from_text: bool):
    names = [f.name for f in fields(section)]
    if key not in names:
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: unknown key {section_name}.{key}{hint}")
    default = getattr(type(section)(), key)
    try:
        typed = _typed(value, default, from_text)
    except ValueError as error:
        raise ConfigError(f"{where}: {section_name}.{key}={value!r}: {error}") from None
    return replace(section, **{key: typed})


def _parse_text(text: str) -> Any:
    text = text.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def _typed(value: Any, default: Any, from_text: bool) -> Any:
    """`value` converted to the type of `default`, or ValueError saying what was expected."""
    if isinstance(default, str):
        if from_text:
            return value.strip()
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    parsed = _parse_text(value) if from_text else value
    if isinstance(default, bool):
        if isinstance(parsed, str) and parsed.lower() in ("true", "false"):
            return parsed.lower() == "true"
        if isinstance(parsed, (bool, int)) and parsed in (0, 1):
            return bool(parsed)
        raise ValueError("expected true or false (or 1 / 0)")
    if isinstance(default, int):
        if isinstance(parsed, bool) or not isinstance(parsed, (int, float)) or parsed != int(parsed):
            raise ValueError("expected an integer")
        return int(parsed)
    if isinstance(default, float):
        if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
            raise ValueError("expected a number")
        return float(parsed)
    if isinstance(default, list):
        if not isinstance(parsed, (list, tuple)):
            raise ValueError('expected a list, e.g. ["a", "b"]')
        return list(parsed)
    raise ValueError(f"unsupported type {type(default).__name__}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> FlowtronConfig:
    """config.json at `path` (None: the defaults, which are this folder's config.json), then overrides."""
    if path is None:
        config = FlowtronConfig()
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"-c {path}: no such config file")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        config = FlowtronConfig.from_dict(values, str(path))
    return config.with_overrides(overrides or [])
