"""Building blocks (VITS' modules.py and the layers NaturalSpeech adds): channel LayerNorm, weight-normed
convolutions, the WaveNet stack, HiFi-GAN residual blocks, mean-only coupling layers, and the linear and
convolution blocks of the learnable upsampler. Tensors are (B, C, T) unless a docstring says otherwise.

Weight normalisation stores `weight_g` and `weight_v` as the original's legacy
`torch.nn.utils.weight_norm` does (same names, shapes and computation), so checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .commons import gated_activation, get_padding

LRELU_SLOPE = 0.1


class LayerNorm(nn.Module):
    """LayerNorm over the channels of (B, C, T), parameters `gamma` and `beta`."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


def _compute_weight(module: nn.Module, _inputs=None) -> None:
    module.weight = torch._weight_norm(module.weight_v, module.weight_g, 0)


def weight_norm(module: nn.Module) -> nn.Module:
    """Reparametrise module.weight as weight_g * weight_v / |weight_v| (norm over all dims but 0), from
    its current weight, recomputed before every forward: what the original's legacy
    `torch.nn.utils.weight_norm` does, with the same parameter names."""
    weight = module.weight.detach()
    del module._parameters["weight"]
    module.weight_g = nn.Parameter(torch.norm_except_dim(weight, 2, 0))
    module.weight_v = nn.Parameter(weight.clone())
    _compute_weight(module)
    module._weight_norm_hook = module.register_forward_pre_hook(_compute_weight)
    return module


def remove_weight_norm(module: nn.Module) -> nn.Module:
    """Fold weight_g and weight_v back into a plain `weight` parameter (faster inference)."""
    weight = torch._weight_norm(module.weight_v, module.weight_g, 0).detach()
    module._weight_norm_hook.remove()
    del module._weight_norm_hook, module.weight_g, module.weight_v
    del module.weight
    module.weight = nn.Parameter(weight)
    return module


def WNConv1d(*args, **kwargs) -> nn.Conv1d:  # noqa: N802 - a layer, named like one
    return weight_norm(nn.Conv1d(*args, **kwargs))


def WNConvTranspose1d(*args, **kwargs) -> nn.ConvTranspose1d:  # noqa: N802
    return weight_norm(nn.ConvTranspose1d(*args, **kwargs))


def WNConv2d(*args, **kwargs) -> nn.Conv2d:  # noqa: N802
    return weight_norm(nn.Conv2d(*args, **kwargs))


class WN(nn.Module):
    """Non-causal WaveNet stack: n_layers gated dilated convolutions with residual and skip outputs.
    x (B, hidden, T), x_mask (B, 1, T) -> (B, hidden, T), masked."""

    def __init__(self, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=0, p_dropout=0.0):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WN kernel_size must be odd, got {kernel_size}")
        if gin_channels:
            raise ValueError("speaker conditioning (gin_channels > 0) is not part of NaturalSpeech")
        self.hidden_channels, self.n_layers = hidden_channels, n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.drop = nn.Dropout(p_dropout)
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(
                WNConv1d(
                    hidden_channels,
                    2 * hidden_channels,
                    kernel_size,
                    dilation=dilation,
                    padding=get_padding(kernel_size, dilation),
                )
            )
            # The last layer has no residual output: its whole output is skip.
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(WNConv1d(hidden_channels, out, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        output = torch.zeros_like(x)
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            acts = self.drop(gated_activation(in_layer(x), self.hidden_channels))
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, : self.hidden_channels]) * x_mask
                output = output + res_skip[:, self.hidden_channels :]
            else:
                output = output + res_skip
        return output * x_mask


class ResBlock1(nn.Module):
    """HiFi-GAN residual block type 1: per dilation, leaky ReLU -> dilated conv -> leaky ReLU -> conv."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, padding=get_padding(kernel_size)) for _ in dilation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            residual = conv1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + conv2(F.leaky_relu(residual, LRELU_SLOPE))
        return x

    def remove_weight_norm(self) -> None:
        for conv in [*self.convs1, *self.convs2]:
            remove_weight_norm(conv)


class ResBlock2(nn.Module):
    """HiFi-GAN residual block type 2: per dilation, leaky ReLU -> dilated conv."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x

    def remove_weight_norm(self) -> None:
        for conv in self.convs:
            remove_weight_norm(conv)


class Flip(nn.Module):
    """Reverses the channel order (its own inverse; no parameters)."""

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return torch.flip(x, [1])


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling (NaturalSpeech removes VITS' scale, so the flow is volume preserving):
    the second half of the channels is shifted by a WaveNet function of the first half.
    forward: x1 <- x1 + m(x0); reverse: x1 <- x1 - m(x0). `post` starts at zero: an identity flow."""

    def __init__(self, channels, hidden_channels, kernel_size, dilation_rate, n_layers, p_dropout=0.0):
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling channels must be even, got {channels}")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, p_dropout=p_dropout)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.enc(self.pre(x0) * x_mask, x_mask)
        mean = self.post(h) * x_mask
        # exp(logs) = 1 for the mean-only coupling; the multiplication by the mask stays, as in VITS.
        x1 = mean + x1 * x_mask if not reverse else (x1 - mean) * x_mask
        return torch.cat([x0, x1], 1)

    def log_determinant(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) log|det J|: zero, the coupling only shifts."""
        return torch.zeros(x.size(0), dtype=x.dtype, device=x.device)


class LinearNorm(nn.Module):
    """nn.Linear with Xavier-uniform weights and zero bias (held as `.linear`, the original's name)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias)
        nn.init.xavier_uniform_(self.linear.weight)
        if bias:
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ConvNorm(nn.Module):
    """nn.Conv1d held as `.conv` (the original's name). Its `w_init_gain` argument was never applied in
    the original, so the convolution keeps PyTorch's default initialisation here too."""

    def __init__(
        self, in_channels, out_channels, kernel_size=1, stride=1, padding=None, dilation=1, bias=True
    ):
        super().__init__()
        if padding is None:
            padding = get_padding(kernel_size, dilation)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> SiLU -> dropout -> LayerNorm over channels, on (B, K, C_in) -> (B, K, C_out).
    The BatchNorm statistics cover every position of the batch, padding included, as in the original."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dropout: float):
        super().__init__()
        self.conv_layer = nn.Sequential(
            ConvNorm(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2),
            nn.BatchNorm1d(out_channels),
            nn.SiLU(),
        )
        self.dropout = dropout
        self.layer_norm = nn.LayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(self.conv_layer(x.transpose(1, 2)), self.dropout, self.training)
        return self.layer_norm(x.transpose(1, 2))


class SwishBlock(nn.Module):
    """The upsampler's MLP on [S, E, conv features] per (frame, token): Linear -> SiLU -> Linear -> SiLU ->
    Linear. S, E (B, T, K); V (B, K, C) -> (B, T, K, out_channels)."""

    def __init__(self, in_channels: int, hidden_dim: int, out_channels: int):
        super().__init__()
        self.layer = nn.Sequential(
            LinearNorm(in_channels, hidden_dim, bias=True),
            nn.SiLU(),
            LinearNorm(hidden_dim, hidden_dim, bias=True),
            nn.SiLU(),
            LinearNorm(hidden_dim, out_channels, bias=True),
        )

    def forward(self, S: torch.Tensor, E: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        features = V.unsqueeze(1).expand(-1, E.size(1), -1, -1)
        return self.layer(torch.cat([S.unsqueeze(-1), E.unsqueeze(-1), features], dim=-1))
