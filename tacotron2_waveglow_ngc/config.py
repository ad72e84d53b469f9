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


# What each Tacotron2Config field means (train.py --help).
TACOTRON2_HELP = {
    "mask_padding": "zero the padded frames of the outputs before the loss (NVIDIA/tacotron2: on)",
    "n_mel_channels": "mel bands",
    "n_symbols": "size of the symbol table (148: english_cleaners' table)",
    "symbols_embedding_dim": "symbol embedding size",
    "encoder_kernel_size": "encoder convolution kernel width",
    "encoder_n_convolutions": "encoder convolutions before the BiLSTM",
    "encoder_embedding_dim": "encoder output size (BiLSTM: half per direction)",
    "attention_rnn_dim": "attention LSTMCell size",
    "attention_dim": "attention query/key/location projection size",
    "attention_location_n_filters": "location features: convolution filters",
    "attention_location_kernel_size": "location features: convolution kernel width",
    "n_frames_per_step": "mel frames per decoder step (the reduction factor; DLE supports 1)",
    "decoder_rnn_dim": "decoder LSTMCell size",
    "prenet_dim": "prenet layer size",
    "max_decoder_steps": "inference stops after this many decoder steps",
    "gate_threshold": "inference stops when the stop probability exceeds this",
    "p_attention_dropout": "dropout on the attention LSTM's output",
    "p_decoder_dropout": "dropout on the decoder LSTM's output",
    "postnet_embedding_dim": "postnet channels",
    "postnet_kernel_size": "postnet convolution kernel width",
    "postnet_n_convolutions": "postnet convolutions",
    "decoder_no_early_stopping": "batched inference runs every utterance to max_decoder_steps",
    "prenet_dropout": "prenet dropout probability (the original hard-codes 0.5)",
    "prenet_always_dropout": "keep the prenet dropout on at inference, as the original",
}


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
