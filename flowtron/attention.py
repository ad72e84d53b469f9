"""Flowtron's attention: additive, content-only (no location features), with an optional alignment prior.

    energy e_tj = v · tanh(W_q h_t + W_k m_j) / temperature          (no biases)
    alpha_t     = softmax_j(e_tj) over valid text positions
    with a prior p_tj (beta-binomial, `data.beta_binomial_prior`):
    alpha_t     = softmax_j(log(alpha_tj + 1e-20) + log(p_tj + 1e-20))   -- the posterior is what the
                  context uses, so the prior changes the forward pass, not only the CTC loss
    context_t   = sum_j alpha_tj W_v m_j

h: the attention LSTM's output (n_hidden); m: the memory, text encoding and speaker vector
(n_text_dim + n_speaker_dim). Every projection has width n_attn_channels.

`AttentionConditioningLayer` is the `use_cumm_attention` variant's conditioning: convolutions over the
cumulative and previous attention give a sigmoid gate on the key input (Tacotron 2's location layer,
turned into a multiplicative gate).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .layers import ConvNorm, LinearNorm

# Kept from the original: the prior's and the attention's log are taken at +1e-20, the attention's log
# without a prior (for the CTC loss only) at +1e-8.
PRIOR_EPS = 1e-20
NO_PRIOR_EPS = 1e-8


class AttentionOutput(NamedTuple):
    context: torch.Tensor  # (T, B, n_attn_channels)
    weights: torch.Tensor  # (B, T, T_text); with a prior, the posterior weights
    log_probs: torch.Tensor | None  # (B, T, T_text), unmasked, for the CTC loss (None when forced)


class Attention(nn.Module):
    def __init__(
        self,
        n_query_channels: int = 1024,
        n_speaker_dim: int = 128,
        n_text_channels: int = 512,
        n_att_channels: int = 640,
    ):
        super().__init__()
        memory = n_text_channels + n_speaker_dim
        self.query = LinearNorm(n_query_channels, n_att_channels, bias=False, w_init_gain="tanh")
        self.key = LinearNorm(memory, n_att_channels, bias=False, w_init_gain="tanh")
        self.value = LinearNorm(memory, n_att_channels, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(n_att_channels, 1, bias=False, w_init_gain="tanh")

    def weights(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor | None,
        attn_prior: torch.Tensor | None,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention weights and log-probabilities from projected queries (B, T, A) and keys (B, T_text, A).

        mask: (B, T_text) bool, True at padded text positions (None: no padding). attn_prior: (B, T,
        T_text) or None. Returns (weights (B, T, T_text), log_probs (B, T, T_text))."""
        energies = self.v(torch.tanh(queries[:, :, None] + keys[:, None]))[..., 0] / temperature
        if mask is not None:
            energies = energies.masked_fill(mask[:, None], -float("inf"))
        weights = torch.softmax(energies, dim=2)
        if attn_prior is None:
            return weights, torch.log(weights.float() + NO_PRIOR_EPS)
        log_probs = torch.log(weights.float() + PRIOR_EPS) + torch.log(attn_prior.float() + PRIOR_EPS)
        posterior = log_probs if mask is None else log_probs.masked_fill(mask[:, None], -float("inf"))
        return torch.softmax(posterior, dim=2), log_probs

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None = None,
        attn_prior: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> AttentionOutput:
        """queries (T, B, n_hidden), keys and values (T_text, B, memory) -> AttentionOutput.

        mask (B, T_text) bool, True at padded text positions; attn_prior (B, T, T_text) or None."""
        projected_keys = self.key(keys).transpose(0, 1)
        projected_values = self.value(values).transpose(0, 1)
        projected_queries = self.query(queries).transpose(0, 1)
        weights, log_probs = self.weights(projected_queries, projected_keys, mask, attn_prior, temperature)
        context = torch.bmm(weights.to(projected_values.dtype), projected_values).transpose(0, 1)
        return AttentionOutput(context, weights, log_probs)


class AttentionConditioningLayer(nn.Module):
    """[cumulative attention, previous attention] (B, 2, T_text) -> sigmoid gate (B, memory, T_text).

    Kept from the original for checkpoint parity: the two convolutions are registered twice, under
    their own names and inside `conv_layers`, so both names appear in the state dict."""

    def __init__(
        self,
        input_dim: int = 2,
        attention_n_filters: int = 32,
        attention_kernel_sizes: tuple[int, int] = (5, 3),
        attention_dim: int = 640,
    ):
        super().__init__()
        self.location_conv_hidden = ConvNorm(
            input_dim, attention_n_filters, attention_kernel_sizes[0], w_init_gain="relu"
        )
        self.location_conv_out = ConvNorm(
            attention_n_filters, attention_dim, attention_kernel_sizes[1], w_init_gain="sigmoid"
        )
        self.conv_layers = nn.Sequential(
            self.location_conv_hidden, nn.ReLU(), self.location_conv_out, nn.Sigmoid()
        )

    def forward(self, attention_weights_cat: torch.Tensor) -> torch.Tensor:
        return self.conv_layers(attention_weights_cat)
