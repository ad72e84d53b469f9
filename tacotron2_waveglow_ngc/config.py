"""Model configurations: one dataclass per model, with the DeepLearningExamples argument names and
defaults (`tacotron2/arg_parser.py`), so the `config` dict stored in an NGC checkpoint — the
constructor keyword arguments of the original model — loads with `from_dict`.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any


class _DictConfig:
    """`to_dict`/`from_dict` shared by the config dataclasses of this folder."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """Build from a dict; missing keys keep their defaults, unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__}.from_dict: unknown key(s) {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**values)


@dataclass
class Tacotron2Config(_DictConfig):
    """Tacotron 2 hyper-parameters; names and defaults of the DLE constructor / command line.

    `prenet_dropout` and `prenet_always_dropout` are not DLE arguments: the original hard-codes
    p=0.5 with dropout on also at inference; parity tests set `prenet_dropout=0`.
    """

    mask_padding: bool = False
    n_mel_channels: int = 80
    n_symbols: int = 148
    symbols_embedding_dim: int = 512
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    n_frames_per_step: int = 1
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    max_decoder_steps: int = 2000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    decoder_no_early_stopping: bool = False
    prenet_dropout: float = 0.5
    prenet_always_dropout: bool = True


@dataclass
class WaveGlowConfig(_DictConfig):
    """WaveGlow hyper-parameters; names and defaults of the DLE constructor (`--wn-channels 512`).
    NVIDIA/waveglow's config.json and the published "256" checkpoints use `n_channels=256`."""

    n_mel_channels: int = 80
    n_flows: int = 12
    n_group: int = 8
    n_early_every: int = 4
    n_early_size: int = 2
    WN_config: dict = field(default_factory=lambda: {"n_layers": 8, "kernel_size": 3, "n_channels": 512})
