"""Flowtron's objective, with named terms.

With N valid frames (sum of out_lens) and C mel channels:
    nll  = [ sum_valid z^2 / (2 sigma^2) - sum_flows sum_valid log_s ] / (N C)
           (the Gaussian negative log-likelihood of paper eq. 2-3 without the constant terms, as the
           original); the GMM variant replaces z^2/(2 sigma^2) by -log sum_k pi_k N(z; mu_k, e^{lv_k})
           (again without the 2 pi term)
    gate = sum_valid BCEWithLogits(gate_logit, 1[t >= L-1]) / N       (the logits are compared with the
           target index by index: a backward last flow learns to fire at the end of its own order)
    ctc  = mean over flows of the alignment CTC loss (`attention_ctc_loss`)
    total = nll + gate + ctc_loss_weight * ctc, the CTC term from iteration ctc_loss_start_iter on
           (train.py decides when; it is always computed and logged).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .flowtron import FlowtronOutput, reverse_order
from .layers import lengths_to_mask


class LossTerms(NamedTuple):
    nll: torch.Tensor  # ()
    gate: torch.Tensor  # ()
    ctc: torch.Tensor  # ()

    def total(self, ctc_loss_weight: float, apply_ctc: bool) -> torch.Tensor:
        return self.nll + self.gate + (ctc_loss_weight * self.ctc if apply_ctc else 0.0)


def attention_ctc_loss(
    attn_logprob: torch.Tensor, in_lens: torch.Tensor, out_lens: torch.Tensor, blank_logprob: float = -1.0
) -> torch.Tensor:
    """The alignment CTC loss of one flow (Badlani et al.'s "One TTS alignment to rule them all", which the
    original implements without citing it).

    attn_logprob (B, T, T_text), rows in forward time order. Per utterance: the first L_mel frames and
    L_text text positions, a blank column of constant `blank_logprob` in front, log-softmax per frame,
    and CTC with target 1..L_text (every text position once, in order); the cost is divided by L_text
    (nn.CTCLoss 'mean'), impossible alignments cost 0 (zero_infinity), and the batch is averaged.
    Computed for the whole batch at once: padded text positions get a log-probability so low (-1e9)
    that their exp is exactly 0, which leaves every utterance's normalisation as if it were alone (not
    -inf, whose CTC gradient is NaN)."""
    batch, _, n_text = attn_logprob.shape
    text_mask = lengths_to_mask(in_lens, n_text)  # (B, T_text)
    logits = attn_logprob.float().masked_fill(~text_mask[:, None], -1e9)
    logits = F.pad(logits, (1, 0), value=blank_logprob)
    log_probs = torch.log_softmax(logits, dim=2).transpose(0, 1)  # (T, B, 1 + T_text)
    targets = torch.arange(1, n_text + 1, device=attn_logprob.device).expand(batch, -1)
    costs = F.ctc_loss(log_probs, targets, out_lens, in_lens, blank=0, reduction="none", zero_infinity=True)
    return (costs / in_lens.to(costs.dtype)).mean()


class FlowtronLoss(nn.Module):
    """The original's `FlowtronLoss` (same arguments) returning LossTerms(nll, gate, ctc)."""

    def __init__(
        self,
        sigma: float = 1.0,
        gm_loss: bool = False,
        gate_loss: bool = True,
        use_ctc_loss: bool = False,
        ctc_loss_weight: float = 0.0,
        blank_logprob: float = -1.0,
    ):
        super().__init__()
        self.sigma, self.gm_loss, self.gate_loss = sigma, gm_loss, gate_loss
        self.use_ctc_loss, self.ctc_loss_weight, self.blank_logprob = (
            use_ctc_loss,
            ctc_loss_weight,
            blank_logprob,
        )

    def forward(
        self, output: FlowtronOutput, gate_target: torch.Tensor, in_lens: torch.Tensor, out_lens: torch.Tensor
    ) -> LossTerms:
        """gate_target (B, T): 1 from frame L-1 on."""
        z = output.z.float()
        mask = lengths_to_mask(out_lens, z.size(0)).T[..., None].to(z.dtype)  # (T, B, 1)
        n_elements = mask.sum()
        log_s_total = sum((log_s.float() * mask).sum() for log_s in output.log_s_list)
        if self.gm_loss:
            nll = -(mask * gmm_log_likelihood(z, output.mean, output.log_var, output.prob)).sum()
        else:
            nll = ((z * mask) ** 2).sum() / (2 * self.sigma**2)
        loss_nll = (nll - log_s_total) / (n_elements * z.size(2))

        loss_gate = z.new_zeros(())
        if self.gate_loss and output.gate is not None:
            logits = (output.gate.float() * mask)[..., 0].T  # (B, T)
            bce = F.binary_cross_entropy_with_logits(logits, gate_target.float(), reduction="none")
            loss_gate = (bce.T * mask[..., 0]).sum() / n_elements

        loss_ctc = z.new_zeros(())
        if self.use_ctc_loss:
            costs = []
            for index, logprob in enumerate(output.attn_logprobs):
                if index % 2 == 1:  # a backward flow: its rows back in forward order
                    order = reverse_order(out_lens, logprob.size(1)).T  # (B, T)
                    logprob = logprob.gather(1, order[..., None].expand(-1, -1, logprob.size(2)))
                costs.append(attention_ctc_loss(logprob, in_lens, out_lens, self.blank_logprob))
            loss_ctc = torch.stack(costs).mean()
        return LossTerms(loss_nll, loss_gate, loss_ctc)


def gmm_log_likelihood(z, mean, log_var, prob) -> torch.Tensor:
    """z (T, B, C); mean, log_var ((1 or B), C, K); prob (B, K) -> (T, B, C) log sum_k pi_k
    exp(-(z - mu_k)^2 / (2 e^{lv_k})) / e^{lv_k / 2}, max-shifted as the original (no 2 pi term)."""
    z = z[..., None]
    mean, log_var, prob = mean[None].float(), log_var[None].float(), prob[None, :, None].float()
    exponent = -((z - mean) ** 2) / (2 * torch.exp(log_var))
    peak = exponent.max(dim=3, keepdim=True)[0]
    weighted = prob * torch.exp(exponent - peak) / torch.sqrt(torch.exp(log_var))
    return (peak + torch.log(weighted.sum(dim=3, keepdim=True)))[..., 0]
