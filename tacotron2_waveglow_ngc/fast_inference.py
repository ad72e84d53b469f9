"""Opt-in faster inference variants (they change the numbers slightly; the default path is `fp32`).

* `fp32`: the models as they are.
* `bf16`: Tacotron 2 under autocast (bfloat16 matmuls on CPU, float16 on CUDA, float32 state); at
  batch 1 its decoder gains nothing (bf16 matrix-vector kernels are not faster than fp32 ones here),
  at batch 4 it breaks even. WaveGlow gets `PackedWN` couplings holding half-precision weights
  (bfloat16 on CPU, float16 on CUDA): each WN layer becomes two large matrix products, which oneDNN
  runs on the CPU's bf16 units (AVX512-BF16/AMX) about 3x faster than the float32 convolutions.
* `int8`: the two decoder `nn.LSTMCell`s of a copy of Tacotron 2 become `Int8LSTMCell`s: int8 weights
  with one scale per output row, the input and the hidden state quantised per call, each with its own
  scale, and exact integer products (`int8_matmul`: our Cython kernel, CPU only, AVX512-VNNI where the
  CPU has it). They hold 17.8M of the decoder's 18.3M weights, so the
  small Linears (prenet, attention, mel projection, gate) stay float32: quantising them too gains little
  speed and costs accuracy. WaveGlow is left in float32.

`bench.py` measures speed and the error against fp32 of each variant.
"""

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .int8_matmul import Int8Weight, int8_linear, quantize_weight

VARIANTS = ("fp32", "bf16", "int8")


def half_dtype(device: torch.device) -> torch.dtype:
    """The reduced precision of the `bf16` variant on `device`: bfloat16 on CPU, float16 on CUDA."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def variant_context(variant: str, device: torch.device):
    """The autocast region of `variant` for Tacotron 2 (a no-op except for bf16)."""
    if variant == "bf16":
        return torch.autocast(device.type, dtype=half_dtype(device))
    return nullcontext()


def prepare_tacotron2(model: nn.Module, variant: str) -> nn.Module:
    """The model to run for `variant`: `model` itself, or an int8-quantised copy (eval mode)."""
    if variant in ("fp32", "bf16"):
        return model
    if variant == "int8":
        if next(model.parameters()).device.type != "cpu":
            raise ValueError("the int8 variant (the compiled int8 kernel) runs on CPU only")
        quantised = copy.deepcopy(model).eval()
        decoder = quantised.decoder
        decoder.attention_rnn = Int8LSTMCell(decoder.attention_rnn)
        decoder.decoder_rnn = Int8LSTMCell(decoder.decoder_rnn)
        return quantised
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


class Int8LSTMCell(nn.Module):
    """An `nn.LSTMCell` for inference with int8 weights: gates = int8(x) W_ih^T + int8(h) W_hh^T + b,
    then PyTorch's update (gate order input, forget, cell, output). x and h get separate scales because
    their ranges differ (h is in (-1, 1)). Float32 state; no gradients.

    backend: "cython" (CPU, the compiled kernel) or "torch" (the twin, any device)."""

    def __init__(self, cell: nn.LSTMCell, backend: str = "cython"):
        super().__init__()
        self.input_size, self.hidden_size, self.backend = cell.input_size, cell.hidden_size, backend
        bias = None if cell.bias_ih is None else cell.bias_ih + cell.bias_hh
        for name, packed in (("input", quantize_weight(cell.weight_ih, bias)),
                             ("hidden", quantize_weight(cell.weight_hh))):  # fmt: skip
            self.register_buffer(f"{name}_weight_u8", packed.weight_u8)
            self.register_buffer(f"{name}_scale", packed.scale)
            if name == "input":
                self.register_buffer("bias", packed.bias)  # the summed bias, float32

    def packed(self) -> tuple[Int8Weight, Int8Weight]:
        """(input weight with the summed bias, hidden weight)."""
        return (
            Int8Weight(self.input_weight_u8, self.input_scale, self.bias),
            Int8Weight(self.hidden_weight_u8, self.hidden_scale, None),
        )

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """x: (B, input_size); state: (h, c) (B, hidden_size) each -> (h', c')."""
        h, c = state
        input_weight, hidden_weight = self.packed()
        gates = int8_linear(x, input_weight, self.backend) + int8_linear(h, hidden_weight, self.backend)
        hidden = self.hidden_size
        input_gate, forget_gate, _, output_gate = torch.sigmoid(gates).chunk(4, dim=1)
        cell_input = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
        c = forget_gate * c + input_gate * cell_input
        return output_gate * torch.tanh(c), c

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, int8 weights, backend={self.backend}"


def prepare_waveglow(model: nn.Module, variant: str) -> nn.Module:
    """WaveGlow for `variant`: `model` itself (fp32, int8), or for bf16 a copy sharing the upsampler and
    1x1 convolutions whose couplings are `PackedWN`s in `half_dtype` (run it without autocast)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    if variant != "bf16":
        return model
    return pack_waveglow(model, half_dtype(next(model.parameters()).device))


def pack_waveglow(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A shallow copy of WaveGlow `model` whose `WN` couplings are `PackedWN(wn, dtype)`; `model` is
    untouched and its other submodules are shared (inference only)."""
    packed = copy.copy(model)
    packed._modules = dict(model._modules)
    packed.WN = nn.ModuleList(PackedWN(wn, dtype) for wn in model.WN).eval()
    packed.training = False  # not .eval(): that would also switch the shared submodules of `model`
    return packed


def is_packed(model: nn.Module) -> bool:
    """Whether `model` is a WaveGlow made by `pack_waveglow` (it sets its own precision)."""
    return any(isinstance(m, PackedWN) for m in model.modules())


def _conv_weight(conv: nn.Conv1d) -> torch.Tensor:
    """The effective (C_out, C_in, K) weight of a plain or weight-normed convolution."""
    folded = getattr(conv, "folded_weight", None)
    return folded() if folded is not None else conv.weight


class PackedWNLayer(nn.Module):
    """One WN layer in time-major layout, for inference.

    The dilated convolution and the conditioning 1x1 convolution are one matrix product: the K
    shifted copies of the hidden state and the conditioning are concatenated along channels,
    (B, T, K·C + n_cond) @ (K·C + n_cond, 2C). The residual/skip 1x1 convolution is a second product.
    """

    def __init__(self, in_layer: nn.Conv1d, cond_layer: nn.Conv1d, res_skip_layer: nn.Conv1d, dtype):
        super().__init__()
        self.dilation = int(in_layer.dilation[0])
        self.padding = int(in_layer.padding[0])
        self.kernel_size = int(in_layer.kernel_size[0])
        taps = _conv_weight(in_layer).detach()  # (2C, C, K)
        cond = _conv_weight(cond_layer).detach()[:, :, 0]  # (2C, n_cond)
        in_weight = torch.cat([*taps.unbind(2), cond], dim=1).t().contiguous()
        self.register_buffer("in_weight", in_weight.to(dtype))  # (K·C + n_cond, 2C)
        self.register_buffer("in_bias", (in_layer.bias + cond_layer.bias).detach().to(dtype))
        res_skip = _conv_weight(res_skip_layer).detach()[:, :, 0]
        self.register_buffer("res_skip_weight", res_skip.t().contiguous().to(dtype))  # (C, C_rs)
        self.register_buffer("res_skip_bias", res_skip_layer.bias.detach().to(dtype))

    def forward(self, hidden: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, C), spect (B, T, n_cond) -> res_skip (B, T, 2C), or (B, T, C) for the last."""
        n_channels, length = hidden.size(2), hidden.size(1)
        padded = F.pad(hidden, (0, 0, self.padding, self.padding))
        shifted = [padded[:, k * self.dilation : k * self.dilation + length] for k in range(self.kernel_size)]
        in_act = torch.matmul(torch.cat(shifted + [spect], dim=2), self.in_weight) + self.in_bias
        acts = torch.tanh(in_act[:, :, :n_channels]) * torch.sigmoid(in_act[:, :, n_channels:])
        return torch.matmul(acts, self.res_skip_weight) + self.res_skip_bias


class PackedWN(nn.Module):
    """Inference-only `WN` with the same call, weights packed by `PackedWNLayer` and held in `dtype`.

    The hidden state and activations are in `dtype`; the skip sum and the output layer in float32.
    """

    def __init__(self, wn: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype
        self.n_channels = wn.n_channels
        start = _conv_weight(wn.start).detach()[:, :, 0]
        self.register_buffer("start_weight", start.t().contiguous().to(dtype))  # (n_in, C)
        self.register_buffer("start_bias", wn.start.bias.detach().to(dtype))
        self.register_buffer("end_weight", wn.end.weight.detach()[:, :, 0].t().contiguous().float())
        self.register_buffer("end_bias", wn.end.bias.detach().float())
        self.layers = nn.ModuleList(
            PackedWNLayer(wn.in_layers[i], wn.cond_layers[i], wn.res_skip_layers[i], dtype)
            for i in range(wn.n_layers)
        )

    def forward(self, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
        """audio (B, n_in, T), spect (B, n_cond, T) -> [b; log_s] (B, 2·n_in, T) float32."""
        n_channels = self.n_channels
        spect = spect.transpose(1, 2).to(self.dtype).contiguous()
        hidden = torch.matmul(audio.transpose(1, 2).to(self.dtype), self.start_weight) + self.start_bias
        output = torch.zeros(hidden.shape, dtype=torch.float32, device=hidden.device)
        n_layers = len(self.layers)
        for i, layer in enumerate(self.layers):
            res_skip = layer(hidden, spect)
            if i < n_layers - 1:
                hidden = hidden + res_skip[:, :, :n_channels]
                output += res_skip[:, :, n_channels:]
            else:
                output += res_skip
        return (torch.matmul(output, self.end_weight) + self.end_bias).transpose(1, 2)
