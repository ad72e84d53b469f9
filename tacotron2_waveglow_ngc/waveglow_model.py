"""WaveGlow (Prenger, Valle & Catanzaro, ICASSP 2019), DeepLearningExamples `waveglow/model.py` flavour.

A normalising flow from audio to Gaussian noise, conditioned on a mel spectrogram. Audio is grouped
into columns of `n_group` samples; each of the `n_flows` steps is an invertible 1x1 convolution
followed by an affine coupling layer whose scale and shift come from a WaveNet-like network (`WN`).
Every `n_early_every` flows, `n_early_size` channels leave the flow early (multi-scale output).

Parameter names equal the NGC checkpoints (per-layer `WN.k.cond_layers.i`); NVIDIA/waveglow's fused
`cond_layer` is converted by `checkpoints.py`.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class WeightNormConv1d(nn.Conv1d):
    """`nn.Conv1d` with weight normalisation over dim 0: weight = g · v / ‖v‖, the norm per output channel.

    Stores `weight_g` (C_out, 1, 1) and `weight_v` (C_out, C_in, K) plus `bias` — the names, order and
    maths of `torch.nn.utils.weight_norm(conv, name="weight")`, which the original uses, so checkpoints
    load unchanged. At construction g = ‖v‖ (the conv's default init is kept). Folded into a plain
    `nn.Conv1d` by `remove_weight_norm()` for inference.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, padding: int = 0
    ):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=padding)
        weight = self.weight.detach()
        del self.weight
        self.weight_g = nn.Parameter(_norm_except_dim0(weight))
        self.weight_v = nn.Parameter(weight.clone())

    def folded_weight(self) -> torch.Tensor:
        """The effective convolution weight g · v / ‖v‖: (C_out, C_in, K)."""
        # The fused kernel behind torch.nn.utils.weight_norm: one op with its own backward, ~2 s per
        # default-size training step cheaper on CPU than the same maths in separate autograd ops.
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.folded_weight(), self.bias)

    def remove_weight_norm(self) -> nn.Conv1d:
        """A plain `nn.Conv1d` (parameters `weight`, `bias`) computing the same function."""
        conv = nn.Conv1d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
        ).to(device=self.weight_v.device, dtype=self.weight_v.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.folded_weight())
            conv.bias.copy_(self.bias)
        return conv


def _norm_except_dim0(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm over every dim but the first: (C_out, ...) -> (C_out, 1, ..., 1)."""
    return torch.linalg.vector_norm(weight, dim=tuple(range(1, weight.dim())), keepdim=True)


class _TensorCache:
    """One cached tensor, valid while its source parameters are unchanged.

    The key is each source's storage pointer and version counter (bumped by every in-place update:
    optimiser steps, `load_state_dict`, `copy_`) plus device, dtype and inference mode, so a stale value
    is never served — the original's `W_inverse` attribute goes stale after weights change.
    """

    def __init__(self):
        self.key = None
        self.value = None

    def get(self, sources: list[torch.Tensor], compute, extra=()):
        key = (
            tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources),
            torch.is_inference_mode_enabled(),
            *extra,
        )
        if key != self.key:
            self.value, self.key = compute(), key
        return self.value

    def clear(self):
        self.key = self.value = None


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.dtype == torch.float64 else tensor.float()


class Invertible1x1Conv(nn.Module):
    """Invertible 1x1 convolution W (C, C): y = W x, log|det W| per column.

    Parameter: `conv.weight` (C, C, 1), initialised as the Q of a QR decomposition of a Gaussian matrix
    with column 0 negated if det < 0 (an orthonormal W with det +1, log-det 0).

    W⁻¹ is cached like the original's `W_inverse` attribute, but never goes stale: the cache is keyed on
    the weight's storage and version counter (so optimiser steps, `load_state_dict`, `.to()`/`.half()`
    invalidate it) and is also dropped on `train()`/`eval()`.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size=1, stride=1, padding=0, bias=False)
        weight = torch.linalg.qr(torch.randn(channels, channels))[0]
        # Meta-device construction (shape checks, loading without init) has no values to fix.
        if not weight.is_meta and torch.det(weight) < 0:
            weight[:, 0] = -weight[:, 0]
        with torch.no_grad():
            self.conv.weight.copy_(weight.unsqueeze(-1))
        self._inverse_cache = _TensorCache()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, C, T) -> (W z (B, C, T), log_det_W scalar = B · T · log det W, float32)."""
        batch_size, _, n_columns = z.shape
        weight = self.conv.weight.squeeze(-1)
        # Log-det of a batch of one matrix in float32, as DLE computes it (also for fp16 weights);
        # float64 weights stay float64 (used by the tests' exact invertibility checks).
        log_det_W = batch_size * n_columns * torch.logdet(_at_least_float32(weight).unsqueeze(0)).squeeze()
        return self.conv(z), log_det_W

    def weight_inverse(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """W⁻¹ as a conv weight (C, C, 1), inverted in float32 (float64 if W is) and cast to `dtype`.

        Cached and recomputed whenever `conv.weight` changes (see `_TensorCache`); the inverse direction
        is not trained, so it is computed without autograd.
        """
        weight = self.conv.weight
        dtype = weight.dtype if dtype is None else dtype

        def compute():
            with torch.no_grad():
                return torch.linalg.inv(_at_least_float32(weight.squeeze(-1))).unsqueeze(-1).to(dtype)

        return self._inverse_cache.get([weight], compute, extra=(dtype,))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, C, T) -> W⁻¹ z (B, C, T)."""
        return F.conv1d(z, self.weight_inverse(z.dtype))

    def train(self, mode: bool = True):
        self._inverse_cache.clear()
        return super().train(mode)


class WN(nn.Module):
    """WaveNet-like network of the affine coupling: (x_a, conditioning) -> [b; log_s].

    start: weight-normed 1x1 conv n_in_channels -> n_channels. Layer i (dilation 2^i, "same" padding):
    a = in_layers[i](h) + cond_layers[i](cond); acts = tanh(a[:C]) · sigmoid(a[C:]);
    res_skip_layers[i](acts) gives C residual + C skip channels (only C skip channels for the last
    layer). end: plain 1x1 conv n_channels -> 2·n_in_channels, zero-initialised so every coupling starts
    as the identity.
    """

    def __init__(
        self, n_in_channels: int, n_mel_channels: int, n_layers: int, n_channels: int, kernel_size: int
    ):
        super().__init__()
        if kernel_size % 2 != 1 or n_channels % 2 != 0:
            raise ValueError(
                f"WN: kernel_size must be odd and n_channels even, got {kernel_size}, {n_channels}"
            )
        self.n_layers = n_layers
        self.n_channels = n_channels
        # Registration order = state-dict order of the original.
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        self.start = WeightNormConv1d(n_in_channels, n_channels, 1)
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)
        for i in range(n_layers):
            dilation = 2**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                WeightNormConv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation, padding=padding)
            )
            self.cond_layers.append(WeightNormConv1d(n_mel_channels, 2 * n_channels, 1))
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(WeightNormConv1d(n_channels, res_skip_channels, 1))

    def forward(self, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
        """audio (B, n_in, T), spect (B, n_mel_channels, T) -> [b; log_s] (B, 2·n_in, T)."""
        C = self.n_channels
        hidden = self.start(audio)
        output = None
        for i in range(self.n_layers):
            in_act = self.in_layers[i](hidden) + self.cond_layers[i](spect)
            acts = torch.tanh(in_act[:, :C]) * torch.sigmoid(in_act[:, C:])
            res_skip_acts = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                hidden = res_skip_acts[:, :C] + hidden
                skip_acts = res_skip_acts[:, C:]
            else:
                skip_acts = res_skip_acts
            output = skip_acts if output is None else skip_acts + output
        return self.end(output)

    def remove_weightnorm(self) -> "WN":
        """Fold weight norm of start, in, cond and res-skip layers into plain convs (in place)."""
        self.start = self.start.remove_weight_norm()
        for layers in (self.in_layers, self.cond_layers, self.res_skip_layers):
            for i, layer in enumerate(layers):
                if isinstance(layer, WeightNormConv1d):
                    layers[i] = layer.remove_weight_norm()
        return self


class WaveGlowOutput(NamedTuple):
    """Training-direction output of `WaveGlow.forward`.

    z: (B, n_group, T/n_group) — channels [split off before flow n_early_every, ..., final channels].
    log_s_list: n_flows tensors (B, n_half_k, T/n_group), the coupling log-scales.
    log_det_W_list: n_flows float32 scalars, B · (T/n_group) · log det W_k.
    """

    z: torch.Tensor
    log_s_list: list[torch.Tensor]
    log_det_W_list: list[torch.Tensor]


class WaveGlow(nn.Module):
    """WaveGlow vocoder. Built from the DLE constructor arguments (the `config` of an NGC checkpoint).

    WN_config: dict(n_layers, n_channels, kernel_size). `alternate_halves=True` reproduces NVIDIA's
    `glow_old.py` (published `waveglow_old.pt`), whose coupling transforms the first half of the
    channels on odd flows; it is not a DLE argument.
    """

    def __init__(
        self,
        n_mel_channels: int = 80,
        n_flows: int = 12,
        n_group: int = 8,
        n_early_every: int = 4,
        n_early_size: int = 2,
        WN_config: dict | None = None,
        alternate_halves: bool = False,
    ):
        super().__init__()
        WN_config = dict(n_layers=8, n_channels=512, kernel_size=3) if WN_config is None else dict(WN_config)
        if n_group % 2 != 0:
            raise ValueError(f"WaveGlow: n_group must be even, got {n_group}")
        self.n_mel_channels = n_mel_channels
        self.n_flows = n_flows
        self.n_group = n_group
        self.n_early_every = n_early_every
        self.n_early_size = n_early_size
        self.alternate_halves = alternate_halves
        # Kernel 1024 / stride 256 are hard-coded in the original, whatever the STFT hop.
        self.upsample = nn.ConvTranspose1d(n_mel_channels, n_mel_channels, 1024, stride=256)
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        n_half = n_group // 2
        n_remaining_channels = n_group
        for k in range(n_flows):
            if self._emits_early(k):
                n_half -= n_early_size // 2
                n_remaining_channels -= n_early_size
            self.convinv.append(Invertible1x1Conv(n_remaining_channels))
            self.WN.append(WN(n_half, n_mel_channels * n_group, **WN_config))
        self.n_remaining_channels = n_remaining_channels

    def _emits_early(self, k: int) -> bool:
        return k > 0 and k % self.n_early_every == 0

    def _halves(self, k: int, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditioning half x_a, transformed half x_b) of flow k."""
        n_half = audio.size(1) // 2
        first, second = audio[:, :n_half], audio[:, n_half:]
        return (second, first) if self.alternate_halves and k % 2 == 1 else (first, second)

    def _join(self, k: int, audio_a: torch.Tensor, audio_b: torch.Tensor) -> torch.Tensor:
        pair = [audio_b, audio_a] if self.alternate_halves and k % 2 == 1 else [audio_a, audio_b]
        return torch.cat(pair, 1)

    def group_conditioning(self, mel: torch.Tensor, n_samples: int | None = None) -> torch.Tensor:
        """mel (B, n_mel, F) -> conditioning (B, n_mel·n_group, L/n_group), channel = mel·n_group + j.

        The upsampled mel ((F−1)·256 + 1024 samples) is trimmed to `n_samples` (training) or, when None,
        by kernel − stride = 768 samples (inference: F·256 samples). A remainder of L mod n_group is
        dropped.
        """
        spect = self.upsample(mel)
        if n_samples is None:
            spect = spect[:, :, : -(self.upsample.kernel_size[0] - self.upsample.stride[0])]
        else:
            if spect.size(2) < n_samples:
                raise ValueError(
                    f"WaveGlow: mel of {mel.size(2)} frames upsamples to {spect.size(2)} samples, "
                    f"fewer than the {n_samples} audio samples"
                )
            spect = spect[:, :, :n_samples]
        batch_size, n_mel, length = spect.shape
        n_columns = length // self.n_group
        spect = spect[:, :, : n_columns * self.n_group].reshape(batch_size, n_mel, n_columns, self.n_group)
        return spect.permute(0, 1, 3, 2).reshape(batch_size, n_mel * self.n_group, n_columns)

    def group_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, L) -> (B, n_group, L/n_group), channel = position in the group."""
        n_columns = audio.size(1) // self.n_group
        return (
            audio[:, : n_columns * self.n_group]
            .reshape(audio.size(0), n_columns, self.n_group)
            .transpose(1, 2)
        )

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> WaveGlowOutput:
        """mel (B, n_mel, F), audio (B, L) with L <= (F−1)·256 + 1024 -> WaveGlowOutput (audio to noise)."""
        spect = self.group_conditioning(mel, audio.size(1))
        audio = self.group_audio(audio)
        early_outputs, log_s_list, log_det_W_list = [], [], []
        for k in range(self.n_flows):
            if self._emits_early(k):
                early_outputs.append(audio[:, : self.n_early_size])
                audio = audio[:, self.n_early_size :]
            audio, log_det_W = self.convinv[k](audio)
            log_det_W_list.append(log_det_W)
            audio_a, audio_b = self._halves(k, audio)
            coupling = self.WN[k](audio_a, spect)
            n_half = audio_a.size(1)
            log_s, b = coupling[:, n_half:], coupling[:, :n_half]
            audio_b = torch.exp(log_s) * audio_b + b
            log_s_list.append(log_s)
            audio = self._join(k, audio_a, audio_b)
        return WaveGlowOutput(torch.cat([*early_outputs, audio], 1), log_s_list, log_det_W_list)

    @torch.no_grad()
    def infer(
        self,
        mel: torch.Tensor,
        sigma: float = 1.0,
        noise: list[torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """mel (B, n_mel, F) -> audio (B, F·256) by inverting the flow from σ-scaled Gaussian noise.

        noise: optional standard-normal draws in the original's call order — [0] (B, n_remaining, F·256/
        n_group), then (B, n_early_size, ·) after each early split is re-entered (flows n_early_every·m,
        highest first). Otherwise drawn with `torch.randn` (from `generator` if given, else the global
        RNG in the same order and shapes as the original, so seeding reproduces it). Each is scaled by σ.
        """
        spect = self.group_conditioning(mel)
        batch_size, n_columns = spect.size(0), spect.size(2)
        draws = iter(noise) if noise is not None else None

        def standard_normal(n_channels: int) -> torch.Tensor:
            if draws is not None:
                sample = next(draws).to(device=spect.device, dtype=spect.dtype)
                if sample.shape != (batch_size, n_channels, n_columns):
                    raise ValueError(
                        f"WaveGlow.infer: noise of shape {tuple(sample.shape)}, "
                        f"expected {(batch_size, n_channels, n_columns)}"
                    )
                return sample
            sample = torch.randn(batch_size, n_channels, n_columns, device=spect.device, generator=generator)
            return sample.to(spect.dtype)

        audio = sigma * standard_normal(self.n_remaining_channels)
        for k in reversed(range(self.n_flows)):
            audio_a, audio_b = self._halves(k, audio)
            coupling = self.WN[k](audio_a, spect)
            n_half = audio_a.size(1)
            log_s, b = coupling[:, n_half:], coupling[:, :n_half]
            audio_b = (audio_b - b) / torch.exp(log_s)
            audio = self.convinv[k].inverse(self._join(k, audio_a, audio_b))
            if self._emits_early(k):
                audio = torch.cat([sigma * standard_normal(self.n_early_size), audio], 1)
        return audio.transpose(1, 2).reshape(batch_size, -1)

    def remove_weightnorm(self) -> "WaveGlow":
        """Fold weight norm into plain convs for inference (in place; returns self).

        Also callable as `WaveGlow.remove_weightnorm(model)`, like the original's static method.
        """
        for wn in self.WN:
            wn.remove_weightnorm()
        return self
