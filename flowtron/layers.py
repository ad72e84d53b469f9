"""Building blocks of Flowtron whose initialisation travels with the layer, and the masked instance norm.

Parameter names (`linear_layer`, `conv`, `layers`) are the original's, so published state dicts load
unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lengths_to_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """lengths (B,) -> (B, max_length) bool, True at valid positions."""
    max_length = int(lengths.max()) if max_length is None else max_length
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


class LinearNorm(nn.Module):
    """nn.Linear with Xavier-uniform weights at the gain of the nonlinearity that follows."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """nn.Conv1d ('same' padding for odd kernels) with Xavier-uniform weights at the given gain."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        padding: int | None = None,
        bias: bool = True,
        w_init_gain: str = "linear",
    ):
        super().__init__()
        if padding is None:
            if kernel_size % 2 != 1:
                raise ValueError(f"ConvNorm: 'same' padding needs an odd kernel, got {kernel_size}")
            padding = (kernel_size - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return self.conv(signal)


class DenseLayer(nn.Module):
    """A stack of tanh(Linear) layers: `sizes` gives each layer's width."""

    def __init__(self, in_dim: int = 1024, sizes: tuple[int, ...] = (1024, 1024)):
        super().__init__()
        in_sizes = [in_dim, *sizes[:-1]]
        self.layers = nn.ModuleList(LinearNorm(i, o, bias=True) for i, o in zip(in_sizes, sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.layers:
            x = torch.tanh(linear(x))
        return x


def masked_instance_norm(
    x: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Instance norm whose statistics come from the valid positions only.

    x: (B, C, T); mask: (B, 1, T) bool, True at valid positions. The mean and the biased variance are
    taken over valid positions, but every position is normalised, padding included (as the original).
    """
    valid = mask.to(x.dtype)
    lengths = valid.sum(-1)  # (B, 1)
    mean = (x * valid).sum(-1) / lengths  # (B, C)
    var = (((x - mean[..., None]) * valid) ** 2).sum(-1) / lengths
    out = (x - mean[..., None]) / torch.sqrt(var[..., None] + eps)
    if weight is not None and bias is not None:
        out = out * weight[None, :, None] + bias[None, :, None]
    return out


class MaskedInstanceNorm1d(nn.Module):
    """Instance norm over (B, C, T) with optional padding mask and affine `weight`/`bias` (no running
    statistics: the original never tracks them). Without a mask it is plain `F.instance_norm`, which
    the original uses at batch size 1."""

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return masked_instance_norm(x, mask, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """A time-major LSTM over x (T, B, C), packed by `lengths` (B,) so that padding never enters the
    state; the output (T, B, H) is zero past each length. lengths=None runs over every frame."""
    if lengths is None:
        return lstm(x)[0]
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    output, _ = lstm(packed)
    return nn.utils.rnn.pad_packed_sequence(output, total_length=x.size(0))[0]
