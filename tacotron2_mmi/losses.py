"""The objective: Tacotron 2's loss plus the gradient-adaptive-factor-weighted CTC (MI) loss.

    taco_loss = MSE(mel, target) + MSE(mel_postnet, target) + BCE-with-logits(gate, gate_target)
                (each a mean over the whole padded batch, as NVIDIA's `Tacotron2Loss`)
    mi_loss   = mean over utterances b of CTC_b / T_b   (T_b: mel frames of b; the original divides by the
                frames "since taco_loss is averaged", so both are per-frame quantities)
    loss      = taco_loss + gaf * mi_loss               (gaf: `gradient_adaptive_factor.py`; 1 without it)

The validation loss is taco_loss, as in the original. CTC targets are the input ids reduced to the CTC
alphabet (`data.py`); the blank is the last class. Unlike the original (`zero_infinity=False`, whose loss
is infinite as soon as one utterance has fewer frames than its target needs, and then every weight turns
NaN), an infeasible utterance contributes 0 and is counted in `mi_infeasible`, which train.py logs; the
data checks refuse such utterances before training anyway.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .model import Tacotron2Output


class TacoLossTerms(NamedTuple):
    taco_loss: torch.Tensor  # sum of the three terms below
    mel_loss: torch.Tensor  # MSE before the postnet
    mel_postnet_loss: torch.Tensor  # MSE after the postnet
    gate_loss: torch.Tensor  # BCE with logits of the stop gate


class MILossTerms(NamedTuple):
    mi_loss: torch.Tensor  # mean over the batch of CTC / frames
    ctc_per_utterance: torch.Tensor  # (B,) CTC negative log-likelihood (0 where infeasible)
    mi_infeasible: torch.Tensor  # number of utterances with fewer frames than their CTC target needs


def taco_loss(outputs: Tacotron2Output, mel_target: torch.Tensor, gate_target: torch.Tensor) -> TacoLossTerms:
    """mel_target: (B, n_mel, T); gate_target: (B, T), 1 from the last real frame on (padding included)."""
    mel_target, gate_target = mel_target.detach().float(), gate_target.detach().float()
    mel_loss = F.mse_loss(outputs.mel_outputs.float(), mel_target)
    mel_postnet_loss = F.mse_loss(outputs.mel_outputs_postnet.float(), mel_target)
    gate_loss = F.binary_cross_entropy_with_logits(outputs.gate_outputs.float(), gate_target)
    return TacoLossTerms(mel_loss + mel_postnet_loss + gate_loss, mel_loss, mel_postnet_loss, gate_loss)


def frames_needed(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """targets: (B, L) padded CTC ids; -> (B,) the fewest frames a CTC path needs: one per target, plus a
    blank between two equal neighbours."""
    same_as_previous = targets[:, 1:] == targets[:, :-1]
    inside = torch.arange(1, targets.size(1), device=targets.device) < target_lengths.unsqueeze(1)
    return target_lengths + (same_as_previous & inside).sum(dim=1)


def mi_loss(
    ctc_log_probs: torch.Tensor,
    ctc_targets: torch.Tensor,
    ctc_target_lengths: torch.Tensor,
    mel_lengths: torch.Tensor,
) -> MILossTerms:
    """ctc_log_probs: (B, T, C) float32, blank = C - 1; ctc_targets: (B, L); lengths: (B,)."""
    blank = ctc_log_probs.size(-1) - 1
    per_utterance = F.ctc_loss(
        ctc_log_probs.float().transpose(0, 1),
        ctc_targets,
        mel_lengths,
        ctc_target_lengths,
        blank=blank,
        reduction="none",
        zero_infinity=True,
    )
    infeasible = (mel_lengths < frames_needed(ctc_targets, ctc_target_lengths)).sum()
    return MILossTerms((per_utterance / mel_lengths.float()).mean(), per_utterance, infeasible)


class Tacotron2MMILoss(nn.Module):
    """Both parts of the objective for one batch; returns the terms separately (the gradient adaptive
    factor needs their gradients apart)."""

    def forward(self, outputs: Tacotron2Output, batch) -> tuple[TacoLossTerms, MILossTerms | None]:
        """batch: a `data.TextMelBatch` on the model's device."""
        taco = taco_loss(outputs, batch.mel_padded, batch.gate_padded)
        if outputs.ctc_log_probs is None:
            return taco, None
        mi = mi_loss(
            outputs.ctc_log_probs, batch.ctc_text_padded, batch.ctc_text_lengths, batch.output_lengths
        )
        return taco, mi
