"""Training losses.

Tacotron 2: L = MSE(mel) + MSE(mel_postnet) + BCE-with-logits(gate), weights 1:1:1.
WaveGlow: negative log-likelihood per audio sample without the Gaussian constant.
"""

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .tacotron2_model import Tacotron2Output, padding_mask
from .waveglow_model import WaveGlowOutput


class Tacotron2LossTerms(NamedTuple):
    total: torch.Tensor  # scalar, sum of the three terms below
    mel_loss: torch.Tensor  # MSE of the decoder output before the postnet
    mel_postnet_loss: torch.Tensor  # MSE of the output after the postnet
    gate_loss: torch.Tensor  # BCE with logits of the stop gate


class Tacotron2Loss(nn.Module):
    """masked=False (the original): every mean runs over the whole padded batch, B*n_mel*T_out for
    the mels and B*T_out for the gate, so padding frames count as targets.
    masked=True: means over the valid frames only (output_lengths required).
    """

    def __init__(self, masked: bool = False):
        super().__init__()
        self.masked = masked

    def forward(
        self,
        outputs: Tacotron2Output,
        mel_target: torch.Tensor,
        gate_target: torch.Tensor,
        output_lengths: torch.Tensor | None = None,
    ) -> Tacotron2LossTerms:
        """mel_target: (B, n_mel, T_out); gate_target: (B, T_out), 1 from the last valid frame on;
        output_lengths: (B,) valid frames, needed when masked."""
        mel_target = mel_target.detach()
        gate_target = gate_target.detach()
        if not self.masked:
            mel_loss = F.mse_loss(outputs.mel_outputs, mel_target)
            mel_postnet_loss = F.mse_loss(outputs.mel_outputs_postnet, mel_target)
            gate_loss = F.binary_cross_entropy_with_logits(outputs.gate_outputs, gate_target)
        else:
            if output_lengths is None:
                raise ValueError("Tacotron2Loss(masked=True) needs output_lengths")
            valid = (~padding_mask(output_lengths, mel_target.size(2))).to(mel_target.dtype)  # (B, T_out)
            n_valid = valid.sum()
            mel_weights = valid.unsqueeze(1)
            n_mel = mel_target.size(1)
            mel_loss = ((outputs.mel_outputs - mel_target) ** 2 * mel_weights).sum() / (n_valid * n_mel)
            mel_postnet_loss = ((outputs.mel_outputs_postnet - mel_target) ** 2 * mel_weights).sum() / (
                n_valid * n_mel
            )
            gate_terms = F.binary_cross_entropy_with_logits(
                outputs.gate_outputs, gate_target, reduction="none"
            )
            gate_loss = (gate_terms * valid).sum() / n_valid
        return Tacotron2LossTerms(
            mel_loss + mel_postnet_loss + gate_loss, mel_loss, mel_postnet_loss, gate_loss
        )


class WaveGlowLoss(nn.Module):
    """Negative log-likelihood per audio sample, without the Gaussian constant (hence negative values).

    loss = [Σ z² / (2σ²) − Σ_k Σ log_s_k − Σ_k log_det_W_k] / (B · n_group · T/n_group), σ = 1.0 in training.
    Unlike the original, `log_det_W_list[0]` is not modified in place while summing.
    """

    def __init__(self, sigma: float = 1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, model_output: WaveGlowOutput) -> torch.Tensor:
        """model_output: `WaveGlowOutput` (z (B, n_group, T'), log_s_list, log_det_W_list) -> scalar loss."""
        z, log_s_list, log_det_W_list = model_output
        log_s_total = sum(torch.sum(log_s) for log_s in log_s_list)
        log_det_W_total = sum(log_det_W_list)
        loss = torch.sum(z * z) / (2 * self.sigma * self.sigma) - log_s_total - log_det_W_total
        return loss / z.numel()
