"""Building blocks of Neural-HMM: Tacotron 2's encoder, the prenet and the output net.

Parameter names follow the original (`conv`, `linear.0`, `layers.i`, `decoder_network`) so state
dicts load unchanged; each layer applies the original's initialisation itself.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F


def log_clamped(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """log(max(x, eps)): the original's guard against log(0) for probabilities and flat-start inverses."""
    return torch.log(torch.clamp(x, min=eps))


def inverse_sigmoid(p: float) -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float32)
    return log_clamped(p / (1.0 - p))


def inverse_softplus(y: float) -> torch.Tensor:
    y = torch.as_tensor(y, dtype=torch.float32)
    return log_clamped(torch.exp(y) - 1.0)


class ConvNorm(nn.Module):
    """Conv1d with Xavier-uniform weights scaled by the gain of the following activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_init_gain: str = "linear"):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class LinearReLU(nn.Module):
    """Linear -> ReLU, Xavier-uniform with the ReLU gain (`LinearReluInitNorm` in the original)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(in_dim, out_dim, bias=bias), nn.ReLU())
        nn.init.xavier_uniform_(self.linear[0].weight, gain=nn.init.calculate_gain("relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class Encoder(nn.Module):
    """Tacotron 2 encoder whose BiLSTM output is split into `state_per_phone` HMM states per symbol.

    The BiLSTM has (embedding_dim / 2) * state_per_phone units per direction, and its output
    (B, L, 2H) is reshaped to (B, L * S, embedding_dim): for S = 2, state 2i is the forward-direction
    output of symbol i and state 2i+1 the backward one (the paper's "doubled encoder output").
    """

    def __init__(
        self,
        embedding_dim: int = 512,
        n_convolutions: int = 3,
        kernel_size: int = 5,
        state_per_phone: int = 2,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.state_per_phone = state_per_phone
        self.dropout = dropout
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(embedding_dim, embedding_dim, kernel_size, w_init_gain="relu"),
                nn.BatchNorm1d(embedding_dim),
            )
            for _ in range(n_convolutions)
        )
        self.lstm = nn.LSTM(
            embedding_dim, embedding_dim // 2 * state_per_phone, 1, batch_first=True, bidirectional=True
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, L) embedded symbols; lengths: (B,) symbols per utterance.

        Returns states (B, L * S, C), zero beyond each utterance, and state lengths (B,) = lengths * S.
        """
        batch_size, _, max_len = x.shape
        for conv in self.convolutions:
            # BatchNorm statistics include padded positions in training, as in the original.
            x = F.dropout(F.relu(conv(x)), self.dropout, self.training)
        packed = nn.utils.rnn.pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.lstm(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=max_len)
        states = outputs.reshape(batch_size, max_len * self.state_per_phone, self.embedding_dim)
        return states, lengths * self.state_per_phone


class Prenet(nn.Module):
    """Bias-free Linear -> ReLU -> dropout layers. The original keeps the dropout on at evaluation and
    synthesis by default, so the caller says when it is active."""

    def __init__(self, in_dim: int, n_layers: int = 2, prenet_dim: int = 256, dropout: float = 0.5):
        super().__init__()
        self.dropout = dropout
        sizes = [in_dim] + [prenet_dim] * n_layers
        self.layers = nn.ModuleList(LinearReLU(i, o, bias=False) for i, o in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, dropout_active: bool) -> torch.Tensor:
        """x: (..., in_dim) -> (..., prenet_dim)."""
        for layer in self.layers:
            x = F.dropout(layer(x), p=self.dropout, training=dropout_active)
        return x


class ParameterModel(nn.Module):
    """MLP [h_t ; e_n] -> (mean, raw std, transition logit), with the flat-start last layer: zero
    weights and a bias that gives every state mean `init_mean`, std `init_std` and leave probability
    `init_transition_probability`, whatever the input."""

    def __init__(
        self,
        hidden_sizes: list[int],
        input_size: int,
        n_mel_channels: int,
        init_transition_probability: float,
        init_mean: float = 0.0,
        init_std: float = 1.0,
    ):
        super().__init__()
        sizes = [input_size] + list(hidden_sizes)
        layers = [LinearReLU(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        last = nn.Linear(sizes[-1], 2 * n_mel_channels + 1)
        with torch.no_grad():
            last.weight.zero_()
            last.bias[:n_mel_channels] = init_mean
            last.bias[n_mel_channels : 2 * n_mel_channels] = inverse_softplus(init_std)
            last.bias[2 * n_mel_channels :] = inverse_sigmoid(init_transition_probability)
        self.layers = nn.ModuleList(layers + [last])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain MLP on concatenated inputs x: (..., input_size) -> (..., 2 * n_mel + 1).

        OutputNet computes the same function with the first layer split per input; this direct form is
        the reference its tests compare against.
        """
        for layer in self.layers:
            x = layer(x)
        return x


class OutputParameters(NamedTuple):
    mean: torch.Tensor  # (..., N, n_mel_channels)
    std: torch.Tensor  # (..., N, n_mel_channels), softplus then floored
    transition_logit: torch.Tensor  # (..., N); P(leave state) = sigmoid(logit)


class OutputNet(nn.Module):
    """Emission and transition parameters of every HMM state given the AR hidden state
    (`Decoder` in the original; the module is kept as `decoder.decoder_network` for checkpoint parity).

    The first layer acts on the concatenation [h_t ; e_n]. Its weight is split as [W_h | W_e] so that
    W_e e_n is computed once per state rather than once per (frame, state): the same function with a
    fraction of the arithmetic, which is what makes the training pass fast.
    """

    def __init__(
        self,
        rnn_dim: int,
        state_dim: int,
        n_mel_channels: int,
        hidden_sizes: list[int],
        init_transition_probability: float,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        variance_floor: float = 0.01,
    ):
        super().__init__()
        self.rnn_dim = rnn_dim
        self.n_mel_channels = n_mel_channels
        self.variance_floor = variance_floor
        self.decoder_network = ParameterModel(
            hidden_sizes,
            rnn_dim + state_dim,
            n_mel_channels,
            init_transition_probability,
            init_mean,
            init_std,
        )

    def project_states(self, states: torch.Tensor) -> torch.Tensor:
        """W_e e_n + b of the first layer. states: (B, N, state_dim) -> (B, N, hidden)."""
        first = self.decoder_network.layers[0].linear[0]
        return F.linear(states, first.weight[:, self.rnn_dim :], first.bias)

    def forward(
        self, h: torch.Tensor, states: torch.Tensor, projected_states: torch.Tensor | None = None
    ) -> OutputParameters:
        """h: (B, rnn_dim) or (B, T, rnn_dim); states: (B, N, state_dim).

        Returns parameters of shape (B, [T,] N, ...). `projected_states` (from `project_states`) may be
        passed to reuse the per-state half of the first layer across frames.
        """
        if projected_states is None:
            projected_states = self.project_states(states)
        first = self.decoder_network.layers[0].linear[0]
        projected_h = F.linear(h, first.weight[:, : self.rnn_dim])  # (B, [T,] hidden)
        batch_size, n_states, hidden = projected_states.shape
        state_view = projected_states.view(batch_size, *([1] * (h.dim() - 2)), n_states, hidden)
        x = torch.relu_(projected_h.unsqueeze(-2) + state_view)
        for layer in self.decoder_network.layers[1:]:
            x = layer(x)
        n_mel = self.n_mel_channels
        mean, raw_std, transition_logit = x[..., :n_mel], x[..., n_mel : 2 * n_mel], x[..., 2 * n_mel]
        std = torch.clamp(F.softplus(raw_std), min=self.variance_floor)
        return OutputParameters(mean, std, transition_logit)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Sum over channels of log N(x; mean, std), computed as torch.distributions.Normal.log_prob does.

    x: (..., C) broadcastable against mean and std (..., C) -> (...). The value is that formula's, bit for
    bit; when a gradient is needed it comes from `_GaussianLogLikelihood`'s written-out backward.
    """
    if torch.is_grad_enabled() and (x.requires_grad or mean.requires_grad or std.requires_grad):
        return _GaussianLogLikelihood.apply(x, mean, std)
    return _gaussian_log_prob_sum(x, mean, std)


def _gaussian_log_prob_sum(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    var = std**2
    log_prob = -((x - mean) ** 2) / (2 * var) - std.log() - math.log(math.sqrt(2 * math.pi))
    return log_prob.sum(-1)


class _GaussianLogLikelihood(torch.autograd.Function):
    """The Gaussian log-likelihood with its gradient written out:
        d/dmean = g (x - mean) / std^2 = g z / std,   d/dstd = g (z^2 - 1) / std,   d/dx = -d/dmean,
    with z = (x - mean) / std. Training evaluates it on (B, T, N, C) tensors (every state at every frame),
    where autograd's chain through pow, div and log makes about twice as many passes over memory and
    keeps their intermediates alive: a recipe-size training step is ~14% faster this way (A/B, 12
    interleaved steps, 1 thread). The gradients agree with autograd's to rounding (tests/test_model.py).
    """

    @staticmethod
    def forward(ctx, x, mean, std):
        ctx.save_for_backward(x, mean, std)
        return _gaussian_log_prob_sum(x, mean, std)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output):
        x, mean, std = ctx.saved_tensors
        inverse_std = std.reciprocal()
        z = x - mean
        # In place where z already has the full shape (training: std is as large as mean).
        z = z.mul_(inverse_std) if z.shape == torch.broadcast_shapes(z.shape, std.shape) else z * inverse_std
        scaled = grad_output.unsqueeze(-1) * inverse_std  # g / std
        grad_mean = scaled * z if (ctx.needs_input_grad[1] or ctx.needs_input_grad[0]) else None
        grad_std = z.mul_(z).sub_(1.0).mul_(scaled) if ctx.needs_input_grad[2] else None
        grad_x = (-grad_mean).sum_to_size(x.shape) if ctx.needs_input_grad[0] else None
        if grad_mean is not None:
            grad_mean = grad_mean.sum_to_size(mean.shape) if ctx.needs_input_grad[1] else None
        if grad_std is not None:
            grad_std = grad_std.sum_to_size(std.shape)
        return grad_x, grad_mean, grad_std
