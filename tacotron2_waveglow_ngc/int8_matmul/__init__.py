"""int8 matrix products for the opt-in int8 inference path (`fast_inference.py`).

    packed = quantize_weight(linear.weight, linear.bias)     # once: int8 rows, one scale per row
    y = int8_linear(x, packed)                                # the compiled kernel (install.sh builds it)
    y = int8_linear(x, packed, backend="torch")               # the pure-PyTorch twin, on any device

Weights: symmetric per output row, w ~ scale_r * q, q in [-127, 127] (stored as q + 128 in uint8).
Activations: each row of x quantised on the fly the same way (scale = max|x| / 127, round half to even).
The integer products are exact, so on the CPU the compiled kernel (AVX512-VNNI where the CPU has it,
else a plain C loop) and the twin agree bit for bit (tests/test_int8_matmul.py); the float32 result
differs from x @ w.T by the two quantisations only. A batch of up to 4 rows reads the weights once.

Why our own kernel: torch's dynamic quantisation (`torch.ao.quantization.quantize_dynamic`, fbgemm) is
deprecated, and the supported routes measured here were slower than float32 at batch 1 on a CPU
(torchao 0.18's int8 configs in eager mode, `torch._int_mm`, `aten._weight_int8pack_mm`); the README's
"Speed" section has the measurements.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

BACKENDS = ("cython", "torch")

try:
    from .core import int8_linear_c, vnni_available
except ImportError as error:  # built by install.sh; say so instead of a bare ImportError
    int8_linear_c = vnni_available = None
    _IMPORT_ERROR = error
else:
    _IMPORT_ERROR = None


class ExtensionMissingError(ImportError):
    """A compiled extension of this folder was not built."""


class Int8Weight(NamedTuple):
    weight_u8: torch.Tensor  # (N, K) uint8, q + 128
    scale: torch.Tensor  # (N,) float32, per output row
    bias: torch.Tensor | None  # (N,) float32


def quantize_weight(weight: torch.Tensor, bias: torch.Tensor | None = None) -> Int8Weight:
    """(N, K) float weight (and (N,) bias) -> Int8Weight, symmetric with one scale per row."""
    weight = weight.detach().float()
    amax = weight.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    q = torch.round(weight / scale.unsqueeze(1)).clamp(-127, 127)
    weight_u8 = (q + 128).to(torch.uint8).contiguous()
    return Int8Weight(
        weight_u8, scale.contiguous(), None if bias is None else bias.detach().float().contiguous()
    )


def dequantize_weight(packed: Int8Weight) -> torch.Tensor:
    """The (N, K) float32 weight the int8 rows stand for."""
    return (packed.weight_u8.float() - 128) * packed.scale.unsqueeze(1)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, K) float32 -> (integer values in [-127, 127] as float32 (M, K), scales (M, 1))."""
    scale = x.abs().amax(dim=1, keepdim=True) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # all-zero rows, underflowing scales
    return torch.round(x / scale).clamp(-127, 127), scale


def int8_linear_torch(x: torch.Tensor, packed: Int8Weight) -> torch.Tensor:
    """The twin: the same quantisation and exact integer products (in float64, exact below 2^53) on x's
    device. x: (M, K) -> (M, N) float32."""
    xq, scale = quantize_rows(x.float())
    weight = packed.weight_u8.to(torch.float64) - 128
    acc = (xq.to(torch.float64) @ weight.t()).float()
    out = acc * (scale * packed.scale)
    return out if packed.bias is None else out + packed.bias


def int8_linear(x: torch.Tensor, packed: Int8Weight, backend: str = "cython", allow_vnni: bool = True):
    """y = x w^T (+ b) with int8 weights and dynamically quantised int8 rows of x. x: (..., K) -> (..., N).

    backend "cython" (CPU tensors; the compiled kernel) or "torch" (the twin, any device). allow_vnni=False
    forces the plain C loop (for its test)."""
    if backend == "torch":
        return int8_linear_torch(x.reshape(-1, x.shape[-1]), packed).reshape(*x.shape[:-1], -1)
    if backend != "cython":
        raise ValueError(f"int8 backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if int8_linear_c is None:
        raise ExtensionMissingError(
            "tacotron2_waveglow_ngc's int8 matrix product is a Cython extension that is not built "
            f"({_IMPORT_ERROR}). Run `bash install.sh` in the repository root (it needs a C compiler and the "
            "Python headers), or leave out --int8"
        )
    if x.device.type != "cpu":
        raise ValueError("the compiled int8 kernel runs on CPU tensors; use backend='torch' elsewhere")
    rows = x.detach().reshape(-1, x.shape[-1]).float().contiguous()
    out = torch.empty(rows.shape[0], packed.weight_u8.shape[0], dtype=torch.float32)
    bias = packed.bias if packed.bias is not None else packed.scale  # any (N,) float32: unused then
    int8_linear_c(
        rows.numpy(), packed.weight_u8.numpy(), packed.scale.numpy(), bias.numpy(), out.numpy(),
        packed.bias is not None, allow_vnni,
    )  # fmt: skip
    return out.reshape(*x.shape[:-1], -1)
