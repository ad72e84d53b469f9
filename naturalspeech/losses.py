"""NaturalSpeech's objective (the original's models/losses.py and the loss lines of its train.py).

Generator:  L = L_adv(y_hat) + c_e2e L_adv(y_hat_e2e) + L_fm + c_mel L_mel + c_dur L_dur
                + c_kl L_bwd + c_kl_fwd L_fwd
Discriminator: L_D(y, y_hat) + c_e2e L_D(y, y_hat_e2e)   (least-squares GAN)

L_bwd / L_fwd are the paper's backward and forward KL between prior and posterior: frame-aligned when the
prior has the posterior's frames (given durations, `kl_loss`), or through soft-DTW when it does not
(predicted durations, `kl_loss_dtw`: gamma 0.01, warp 134.4 = 0.07 x 192).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .soft_dtw import soft_dtw

SDTW_GAMMA = 0.01
SDTW_WARP = 134.4
SDTW_INF = 1e5  # cost of pairing a valid frame with padding in the original's padded matrix


def feature_loss(fmap_r, fmap_g) -> torch.Tensor:
    """2 * sum over discriminators and layers of mean |real - fake| feature maps (real ones detached)."""
    loss = 0
    for maps_real, maps_fake in zip(fmap_r, fmap_g):
        for real, fake in zip(maps_real, maps_fake):
            loss = loss + torch.mean(torch.abs(real.float().detach() - fake.float()))
    return loss * 2


def discriminator_loss(disc_real_outputs, disc_generated_outputs):
    """sum of mean (1 - D(y))^2 + mean D(y_hat)^2 -> (loss, real terms, fake terms) (terms as tensors)."""
    loss, real_losses, fake_losses = 0, [], []
    for real, fake in zip(disc_real_outputs, disc_generated_outputs):
        real_loss = torch.mean((1 - real.float()) ** 2)
        fake_loss = torch.mean(fake.float() ** 2)
        loss = loss + real_loss + fake_loss
        real_losses.append(real_loss.detach())
        fake_losses.append(fake_loss.detach())
    return loss, real_losses, fake_losses


def generator_loss(disc_outputs):
    """sum of mean (1 - D(y_hat))^2 -> (loss, per-discriminator terms)."""
    loss, losses = 0, []
    for fake in disc_outputs:
        term = torch.mean((1 - fake.float()) ** 2)
        losses.append(term)
        loss = loss + term
    return loss, losses


def kl_loss(z_p, logs_q, m_p, logs_p, z_mask) -> torch.Tensor:
    """Single-sample KL(q || p) of frame-aligned Gaussians, summed over channels and valid frames, divided
    by the valid frames: sum[logs_p - logs_q - 1/2 + (z_p - m_p)^2 exp(-2 logs_p) / 2] / sum(mask).
    z_p, logs_q, m_p, logs_p (B, d, T); z_mask (B, 1, T) (or broadcastable)."""
    z_p, logs_q, m_p, logs_p, z_mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, z_mask))
    kl = logs_p - logs_q - 0.5
    kl = kl + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)


def sdtw_kl_matrix(z_p, logs_q, m_p, logs_p, exact: bool = False) -> torch.Tensor:
    """KL of every (prior frame i, posterior frame j) pair, summed over channels -> (B, T_p, T_q).
    z_p, logs_q (B, d, T_q); m_p, logs_p (B, d, T_p).

    exact=False (default): expanded into three matrix products (a few hundred times faster than a channel
    loop at d = 192; equal to float32 rounding). exact=True: the original's channel loop, in its order, so
    the matrix equals the original's bit for bit (soft-DTW gradients at gamma 0.01 amplify rounding)."""
    z_p, logs_q, m_p, logs_p = (t.float() for t in (z_p, logs_q, m_p, logs_p))
    if exact:
        batch, channels, t_p = m_p.shape
        kls = torch.zeros(batch, t_p, z_p.size(-1), dtype=z_p.dtype, device=z_p.device)
        for h in range(channels):
            kl = logs_p[:, h, :, None] - logs_q[:, h, None, :] - 0.5
            kl = kl + 0.5 * ((z_p[:, h, None, :] - m_p[:, h, :, None]) ** 2) * torch.exp(
                -2.0 * logs_p[:, h, :, None]
            )
            kls = kls + kl
        return kls
    precision = torch.exp(-2.0 * logs_p)  # (B, d, T_p)
    per_prior = torch.sum(logs_p + 0.5 * m_p**2 * precision, 1)[:, :, None]  # (B, T_p, 1)
    per_posterior = -torch.sum(logs_q, 1)[:, None, :] - 0.5 * z_p.size(1)  # (B, 1, T_q)
    quadratic = 0.5 * torch.matmul(precision.transpose(1, 2), z_p**2)  # sum_h z^2 s / 2
    cross = torch.matmul((m_p * precision).transpose(1, 2), z_p)  # sum_h m s z
    return per_prior + per_posterior + quadratic - cross


def kl_loss_dtw(
    z_p,
    logs_q,
    m_p,
    logs_p,
    p_mask,
    q_mask,
    padding_independent: bool = True,
    exact_matrix: bool = False,
    backend: str = "cython",
) -> torch.Tensor:
    """KL between a prior of T_p frames and a posterior of T_q frames, aligned by soft-DTW, divided by the
    valid prior frames of the batch. p_mask (B, T_p), q_mask (B, T_q): 1/True on valid frames.

    padding_independent=True (default, our fix): each item's soft-DTW runs on its own valid frames.
    False: the original's computation, which pads one zero row and column, charges SDTW_INF for pairing
    a valid frame with padding, 0 for padding with padding, and runs soft-DTW to the padded corner: an
    item then pays `warp` for every non-diagonal step through the padding of its batch, so its loss
    depends on how long the other items are."""
    kl = sdtw_kl_matrix(z_p, logs_q, m_p, logs_p, exact=exact_matrix)
    p_valid, q_valid = p_mask.bool(), q_mask.bool()
    if padding_independent:
        values = soft_dtw(
            kl, p_valid.sum(1), q_valid.sum(1), gamma=SDTW_GAMMA, warp=SDTW_WARP, backend=backend
        )
        return values.sum() / p_valid.sum()
    kl = F.pad(kl, (0, 1, 0, 1), "constant", 0)
    p_valid, q_valid = F.pad(p_valid, (0, 1)), F.pad(q_valid, (0, 1))
    one_side = p_valid[:, :, None] ^ q_valid[:, None, :]
    neither = ~p_valid[:, :, None] & ~q_valid[:, None, :]
    kl = kl.masked_fill(one_side, SDTW_INF).masked_fill(neither, 0)
    return soft_dtw(kl, gamma=SDTW_GAMMA, warp=SDTW_WARP, backend=backend).sum() / p_valid.sum()


def mel_loss(y_mel: torch.Tensor, y_hat_mel: torch.Tensor) -> torch.Tensor:
    """L1 between log-mels (unweighted; train.py multiplies by c_mel)."""
    return F.l1_loss(y_mel, y_hat_mel)


def kl_terms(out, train) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's L_bwd (the posterior mapped into the prior's space against the prior) and L_fwd (a prior
    sample mapped into z space against the posterior), times c_kl and c_kl_fwd of `train`
    (config.TrainConfig): frame-aligned, or through soft-DTW when the prior has its own frames (use_sdtw).
    out: models.GeneratorOutput."""
    q_mask = out.z_mask.squeeze(1)
    if train.use_sdtw:
        options = dict(padding_independent=train.sdtw_padding_independent, backend=train.soft_dtw_backend)
        backward = kl_loss_dtw(out.z_p, out.logs_q, out.m_p, out.logs_p, out.p_mask, q_mask, **options)
        forward = kl_loss_dtw(out.z_q, out.logs_p, out.m_q, out.logs_q, q_mask, out.p_mask, **options)
    else:
        backward = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask)
        forward = kl_loss(out.z_q, out.logs_p, out.m_q, out.logs_q, out.p_mask.unsqueeze(1))
    return backward * train.c_kl, forward * train.c_kl_fwd
