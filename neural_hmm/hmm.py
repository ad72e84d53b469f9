"""The exact log-likelihood of a left-to-right, no-skip HMM: the forward algorithm in log space with
per-frame scaling (Mehta et al. 2021, Sec. 2-3; `HMM.forward` of the original).

Vectorised over batch and states; the loop runs over time only, with a handful of small kernels per
frame. Conventions of the original, kept on purpose:
  * the transition logit of frame t (computed after seeing x_{t-1}) governs the move from frame t-1
    into frame t;
  * transition log-probabilities are log(max(p, 1e-4));
  * an utterance must end in its last state and then leave it (absorption);
  * padded frames are computed but contribute nothing; the returned `log_alpha_scaled` is multiplied
    by the frame mask, so entries that were -inf in padded frames are NaN exactly as in the original.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

from .layers import log_clamped


class ForwardAlgorithmOutput(NamedTuple):
    log_probs: torch.Tensor  # (B,) log p(X_b | text_b), nats
    log_c: torch.Tensor  # (B, T) per-frame log scaling factors, 0 beyond each length
    sum_final_log_c: torch.Tensor  # (B,) absorption term: log alpha_hat(T-1, N-1) + log P(leave)
    log_alpha_scaled: torch.Tensor  # (B, T, N) scaled log forward variables (NaN/0 in padded frames)


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) -> (B, max_len) bool, True at valid positions."""
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(1)


def log_add_exp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(exp(a) + exp(b)) elementwise, giving -inf with zero (not NaN) gradients where both are -inf.

    Same arithmetic as the original's custom two-term logsumexp, so values agree to the last bit.
    """
    m = torch.maximum(a, b)
    both_inf = m == float("-inf")
    m_safe = m.masked_fill(both_inf, 0.0)
    s = torch.exp(a - m_safe) + torch.exp(b - m_safe)
    return s.masked_fill(both_inf, 1.0).log() + m


def forward_algorithm(
    emission_log_probs: torch.Tensor,
    transition_logits: torch.Tensor,
    state_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
) -> ForwardAlgorithmOutput:
    """log p(X | text) of each utterance.

    emission_log_probs: (B, T, N) log p(x_t | state n); values at padded states are ignored.
    transition_logits: (B, T, N) tau_t(n); P(leave n) = sigmoid(tau), P(stay) = sigmoid(-tau).
    state_lengths: (B,) number of states N_b; frame_lengths: (B,) number of frames T_b.

    alpha_hat_0 = log pi + e_0 with pi = one-hot(state 0);
    alpha_t(n) = e_t(n) + logaddexp(alpha_hat_{t-1}(n) + log P_t(stay n),
                                    alpha_hat_{t-1}(n-1) + log P_t(leave n-1));
    c_t = logsumexp_n alpha_t(n), alpha_hat_t = alpha_t - c_t;
    log p = sum_{t < T_b} c_t + alpha_hat_{T_b-1}(N_b-1) + log P_{T_b-1}(leave N_b-1).
    Computed in float32 at least, also under autocast.
    """
    dtype = torch.promote_types(emission_log_probs.dtype, torch.float32)
    emission_log_probs = emission_log_probs.to(dtype)
    transition_logits = transition_logits.to(dtype)
    batch_size, max_frames, n_states = emission_log_probs.shape
    state_mask = lengths_to_mask(state_lengths, n_states)  # (B, N)
    frame_mask = lengths_to_mask(frame_lengths, max_frames)  # (B, T)
    # Per-frame views through unbind: its backward stacks all frame gradients once, whereas indexing
    # [:, t] in the loop would scatter each into a fresh (B, T, N) tensor (quadratic in T).
    log_stay = log_clamped(torch.sigmoid(-transition_logits)).unbind(1)  # T x (B, N)
    log_leave_all = log_clamped(torch.sigmoid(transition_logits))
    log_leave = log_leave_all.unbind(1)
    emission = emission_log_probs.unbind(1)

    # t = 0: the chain starts in state 0; padded states are not masked here (pi already is -inf there).
    log_prior = torch.full((n_states,), float("-inf"), dtype=dtype, device=emission_log_probs.device)
    log_prior[0] = 0.0
    log_alpha = log_prior + emission[0]
    log_c_t = torch.logsumexp(log_alpha, dim=1)
    log_alpha_scaled = [log_alpha - log_c_t.unsqueeze(1)]
    log_c = [log_c_t]
    for t in range(1, max_frames):
        previous = log_alpha_scaled[-1]
        staying = previous + log_stay[t]
        # Leaving n-1 enters n; nothing enters state 0.
        entering = F.pad((previous + log_leave[t])[:, :-1], (1, 0), value=float("-inf"))
        log_alpha = log_add_exp(staying, entering).masked_fill(~state_mask, float("-inf"))
        log_alpha = log_alpha + emission[t]
        log_c_t = torch.logsumexp(log_alpha, dim=1)
        log_alpha_scaled.append(log_alpha - log_c_t.unsqueeze(1))
        log_c.append(log_c_t)
    log_c = torch.stack(log_c, dim=1) * frame_mask
    log_alpha_scaled = torch.stack(log_alpha_scaled, dim=1)

    batch = torch.arange(batch_size, device=emission_log_probs.device)
    last_frame, last_state = frame_lengths - 1, state_lengths - 1
    sum_final_log_c = (
        log_alpha_scaled[batch, last_frame, last_state] + log_leave_all[batch, last_frame, last_state]
    )
    log_probs = log_c.sum(dim=1) + sum_final_log_c
    # Kept for parity: the original multiplies by the frame mask, turning -inf into NaN in padded frames.
    log_alpha_scaled = log_alpha_scaled * frame_mask.unsqueeze(2)
    return ForwardAlgorithmOutput(log_probs, log_c, sum_final_log_c, log_alpha_scaled)


def state_posteriors(
    emission_log_probs: torch.Tensor,
    transition_logits: torch.Tensor,
    state_lengths: torch.Tensor,
    frame_lengths: torch.Tensor,
) -> torch.Tensor:
    """gamma_t(n) = P(state n at frame t | X, text) of the HMM `forward_algorithm` scores.

    Arguments as for `forward_algorithm`. Returns (B, T, N), float32 at least and detached: each valid
    frame sums to 1 over the valid states, padded frames and states are 0.

    log p(X) is a log-sum over paths of exp(sum of the path's emission terms + transition terms), so
    d log p / d e_t(n) is the posterior mass of the paths through state n at frame t: one backward pass
    through the forward algorithm is the forward-backward algorithm, with the same clamps and
    absorption. An impossible utterance (fewer frames than states, log p = -inf) gives NaN rows.
    """
    dtype = torch.promote_types(emission_log_probs.dtype, torch.float32)
    with torch.enable_grad():
        emissions = emission_log_probs.detach().to(dtype).requires_grad_(True)
        log_probs = forward_algorithm(
            emissions, transition_logits.detach().to(dtype), state_lengths, frame_lengths
        ).log_probs
        (posteriors,) = torch.autograd.grad(log_probs.sum(), emissions)
    return posteriors
