"""The two layers that carry NVIDIA Tacotron 2's initialisation.

Xavier-uniform weights scaled by `torch.nn.init.calculate_gain(w_init_gain)`; biases keep PyTorch's
default. The attribute names (`linear_layer`, `conv`) are part of every checkpoint's keys.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearNorm(nn.Module):
    """x: (..., in_dim) -> (..., out_dim)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.linear_layer.weight, self.linear_layer.bias)


class ConvNorm(nn.Module):
    """x: (B, in_channels, T) -> (B, out_channels, T) for the odd kernels used here ("same" padding)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        bias: bool = True,
        w_init_gain: str = "linear",
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvNorm: kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=bias
        )
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
