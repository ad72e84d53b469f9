"""Training losses.

Tacotron 2: L = MSE(mel) + MSE(mel_postnet) + BCE-with-logits(gate), weights 1:1:1; optionally plus a
guided-attention term (not in the original; off unless its weight is set).
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
    attention_loss: torch.Tensor  # guided-attention penalty (unweighted; 0 when its weight is 0)


def guided_attention_loss(
    alignments: torch.Tensor, input_lengths: torch.Tensor, output_lengths: torch.Tensor, sigma: float = 0.2
) -> torch.Tensor:
    """How far from the diagonal the attention reads (Tachibana et al. 2018, "guided attention").

    alignments: (B, T_out, T_in); input_lengths, output_lengths: (B,). Each weight a[t, n] is scaled by
    W[t, n] = 1 - exp(-(n / N - t / T)^2 / (2 sigma^2)), with N, T the utterance's own lengths; the
    result is sum_n a[t, n] W[t, n] (the penalty expected under frame t's attention) averaged over the
    valid frames of the batch. A flat attention scores about 0.6 (sigma 0.2), a diagonal one near 0: the
    term pulls a random attention towards reading the text left to right, the step a Tacotron 2 otherwise
    takes thousands of updates to find. (ESPnet averages over every (t, n) instead, a 1/N smaller scale.)
    """
    frames = torch.arange(alignments.size(1), device=alignments.device, dtype=torch.float32)
    inputs = torch.arange(alignments.size(2), device=alignments.device, dtype=torch.float32)
    t_rel = frames.unsqueeze(0) / output_lengths.unsqueeze(1).float()  # (B, T_out)
    n_rel = inputs.unsqueeze(0) / input_lengths.unsqueeze(1).float()  # (B, T_in)
    distance = n_rel.unsqueeze(1) - t_rel.unsqueeze(2)  # (B, T_out, T_in)
    penalty = 1.0 - torch.exp(-(distance**2) / (2.0 * sigma**2))
    valid = (~padding_mask(output_lengths, alignments.size(1))).unsqueeze(2) & (
        ~padding_mask(input_lengths, alignments.size(2))
    ).unsqueeze(1)
    return (alignments.float() * penalty * valid).sum() / valid.any(dim=2).sum()


class Tacotron2Loss(nn.Module):
    """masked=False (the original): every mean runs over the whole padded batch, B*n_mel*T_out for
    the mels and B*T_out for the gate, so padding frames count as targets.
    masked=True: means over the valid frames only (output_lengths required).
    guided_attention_weight > 0 adds that multiple of `guided_attention_loss` (input_lengths and
    output_lengths required); 0, the default, is the original's loss.
    """

    def __init__(
        self, masked: bool = False, guided_attention_weight: float = 0.0, guided_attention_sigma=0.2
    ):
        super().__init__()
        self.masked = masked
        self.guided_attention_weight = guided_attention_weight
        self.guided_attention_sigma = guided_attention_sigma

    def forward(
        self,
        outputs: Tacotron2Output,
        mel_target: torch.Tensor,
        gate_target: torch.Tensor,
        output_lengths: torch.Tensor | None = None,
        input_lengths: torch.Tensor | None = None,
    ) -> Tacotron2LossTerms:
        """mel_target: (B, n_mel, T_out); gate_target: (B, T_out), 1 from the last valid frame on;
        output_lengths: (B,) valid frames, needed when masked or guided; input_lengths: (B,) valid
        symbols, needed when guided."""
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
        total = mel_loss + mel_postnet_loss + gate_loss
        attention_loss = torch.zeros((), device=total.device)
        if self.guided_attention_weight > 0:
            if output_lengths is None or input_lengths is None:
                raise ValueError("a guided-attention weight needs input_lengths and output_lengths")
            attention_loss = guided_attention_loss(
                outputs.alignments, input_lengths, output_lengths, self.guided_attention_sigma
            )
            total = total + self.guided_attention_weight * attention_loss
        return Tacotron2LossTerms(total, mel_loss, mel_postnet_loss, gate_loss, attention_loss)


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
