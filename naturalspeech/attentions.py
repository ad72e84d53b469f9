"""The phoneme encoder's Transformer (VITS' attentions.py): post-LayerNorm blocks of multi-head self-attention
with relative position embeddings (window 4, shared across heads) and a convolutional feed-forward
network. The memory bank reuses MultiHeadAttention without relative positions. Tensors are (B, C, T).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .modules import LayerNorm


class Encoder(nn.Module):
    """n_layers x [self-attention -> dropout -> residual -> LayerNorm -> FFN -> dropout -> residual ->
    LayerNorm]. x (B, hidden, T), x_mask (B, 1, T) -> (B, hidden, T), zero on padding."""

    def __init__(
        self, hidden_channels, filter_channels, n_heads, n_layers, kernel_size=1, p_dropout=0.0, window_size=4
    ):
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(
                    hidden_channels, hidden_channels, n_heads, p_dropout=p_dropout, window_size=window_size
                )
            )
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(
                FFN(hidden_channels, hidden_channels, filter_channels, kernel_size, p_dropout=p_dropout)
            )
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attention, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2
        ):
            x = norm_1(x + self.drop(attention(x, x, attn_mask)))
            x = norm_2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention of queries from x over keys and values from c, with 1x1 convolution
    projections; with window_size, relative position embeddings for keys and values (Shaw et al.),
    one table for all heads. x (B, C, T_q), c (B, C, T_kv), attn_mask (B, 1, T_q, T_kv) 1 = attend."""

    def __init__(self, channels, out_channels, n_heads, p_dropout=0.0, window_size=None):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"attention channels {channels} are not divisible by {n_heads} heads")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.attn = None  # the last attention weights (B, heads, T_q, T_kv), for inspection
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        if window_size is not None:
            scale = self.k_channels**-0.5
            self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * scale)
            self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.k_channels) * scale)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        output, self.attn = self.attention(self.conv_q(x), self.conv_k(c), self.conv_v(c), attn_mask)
        return self.conv_o(output)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, heads, T, k_channels)."""
        batch, _, length = x.shape
        return x.view(batch, self.n_heads, self.k_channels, length).transpose(2, 3)

    def attention(self, query, key, value, mask=None):
        batch, channels, length_kv = key.shape
        length_q = query.size(2)
        query = self._heads(query) / math.sqrt(self.k_channels)
        key, value = self._heads(key), self._heads(value)
        scores = torch.matmul(query, key.transpose(-2, -1))
        if self.window_size is not None:
            if length_kv != length_q:
                raise ValueError("relative positions need self-attention (as many queries as keys)")
            relative_keys = self._window(self.emb_rel_k, length_kv)  # (1, 2L - 1, k)
            relative_logits = torch.matmul(query, relative_keys.unsqueeze(0).transpose(-2, -1))
            scores = scores + self._relative_to_absolute(relative_logits)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e4)
        weights = self.drop(F.softmax(scores, dim=-1))  # (B, heads, T_q, T_kv)
        output = torch.matmul(weights, value)
        if self.window_size is not None:
            relative_values = self._window(self.emb_rel_v, length_kv)
            output = output + torch.matmul(self._absolute_to_relative(weights), relative_values.unsqueeze(0))
        return output.transpose(2, 3).contiguous().view(batch, channels, length_q), weights

    def _window(self, embeddings: torch.Tensor, length: int) -> torch.Tensor:
        """The 2 * length - 1 relative positions -(length - 1) .. length - 1 of a (1, 2w + 1, k) table: the
        table zero-padded beyond the window, or its middle for short inputs."""
        pad = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        if pad > 0:
            embeddings = F.pad(embeddings, (0, 0, pad, pad))
        return embeddings[:, start : start + 2 * length - 1]

    @staticmethod
    def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
        """(B, H, L, 2L - 1) logits by relative position -> (B, H, L, L) by key position: out[l, j] =
        x[l, j - l + L - 1], done with pads and reshapes (no gather)."""
        batch, heads, length, _ = x.shape
        x = F.pad(x, (0, 1)).view(batch, heads, 2 * length * length)
        x = F.pad(x, (0, length - 1)).view(batch, heads, length + 1, 2 * length - 1)
        return x[:, :, :length, length - 1 :]

    @staticmethod
    def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
        """The inverse placement: (B, H, L, L) weights by key position -> (B, H, L, 2L - 1) by relative
        position, zero where a relative position has no key."""
        batch, heads, length, _ = x.shape
        x = F.pad(x, (0, length - 1)).view(batch, heads, length * (2 * length - 1))
        x = F.pad(x, (length, 0)).view(batch, heads, length, 2 * length)
        return x[:, :, :, 1:]


class FFN(nn.Module):
    """conv (kernel_size, 'same') -> ReLU -> dropout -> conv, masked. x (B, C, T) -> (B, out, T)."""

    def __init__(self, in_channels, out_channels, filter_channels, kernel_size, p_dropout=0.0):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def _same_padding(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(torch.relu(self.conv_1(self._same_padding(x * x_mask))))
        return self.conv_2(self._same_padding(x * x_mask)) * x_mask
