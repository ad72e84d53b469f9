"""Linear and 1-D convolution layers that carry the original's Xavier initialisation.

Parameter names (`linear_layer`, `conv`) are part of the checkpoint layout and must not change.
"""

import torch
from torch import nn


class LinearNorm(nn.Module):
    """`nn.Linear` whose weight is Xavier-uniform scaled by `calculate_gain(w_init_gain)`.

    x: (..., in_dim) -> (..., out_dim). The bias keeps the PyTorch default init.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """`nn.Conv1d` whose weight is Xavier-uniform scaled by `calculate_gain(w_init_gain)`.

    x: (B, in_channels, T) -> (B, out_channels, T'). `padding=None` means "same" padding for odd
    kernels: dilation * (kernel_size - 1) / 2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        w_init_gain: str = "linear",
    ):
        super().__init__()
        if padding is None:
            if kernel_size % 2 != 1:
                raise ValueError(f"ConvNorm: padding=None needs an odd kernel_size, got {kernel_size}")
            padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
