"""One training step of NaturalSpeech, as the original's train.py takes it: the generator's forward pass,
the discriminator's update on its detached outputs, then the generator's update (GAN, feature matching,
mel, duration and KL losses with the config's multipliers) against the updated discriminator.

    result = train_step(nets, batch, guards, precisions, config, ddp)   # train.py's loop, bench.py

A library module, so that both commands can take the same step.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import torch

from .commons import slice_segments
from .config import Config
from .data_utils import Batch
from .infra import mean_over_ranks
from .losses import discriminator_loss, feature_loss, generator_loss, kl_loss, kl_terms, mel_loss
from .mel_processing import mel_of_audio, mel_of_spectrogram
from .models import GeneratorOutput, MultiPeriodDiscriminator


class Nets(NamedTuple):
    g: torch.nn.Module  # the generator (unwrapped)
    d: MultiPeriodDiscriminator
    g_train: torch.nn.Module  # what the step calls (DDP wrappers or the networks)
    d_train: torch.nn.Module


class Pair(NamedTuple):
    """One for the generator, one for the discriminator (optimizers, schedulers, precisions, guards)."""

    g: Any
    d: Any


class Segments(NamedTuple):
    """The recordings (B, 1, segment_size) at the two decoded segments."""

    posterior: torch.Tensor  # where the posterior path's audio was decoded
    e2e: torch.Tensor  # where the end-to-end (prior) path's audio was decoded


class StepResult(NamedTuple):
    losses: dict  # means over ranks: loss_g, loss_d and every named term
    applied: Pair  # infra.StepResult of each update (applied or skipped, gradient norm)
    out: GeneratorOutput
    y_mel: torch.Tensor  # (B, n_mels, segment frames) of the recording
    y_hat_mel: torch.Tensor  # the same of the generated segment


def train_step(nets: Nets, batch: Batch, guards: Pair, precisions: Pair, config: Config, ddp) -> StepResult:
    """The original's step: the generator's forward pass, the discriminator's update on the detached
    outputs, then the generator's update against the updated discriminator."""
    c, hop = config.train, config.data.hop_length
    batch = batch.to(ddp.device)
    guards.g.snapshot()
    with precisions.g.autocast():
        out = nets.g_train(
            batch.x, batch.x_lengths, batch.spec, batch.spec_lengths, d=batch.durations,
            use_gt_duration=c.use_gt_duration,
        )  # fmt: skip
        real = Segments(
            slice_segments(batch.y, out.ids_slice * hop, c.segment_size),
            slice_segments(batch.y, out.ids_slice_q * hop, c.segment_size),
        )
    loss_d, result_d = discriminator_step(nets.d_train, real, out, guards.d, precisions.d, c, ddp)
    losses, result_g, mels = generator_step(nets.d, real, out, batch, guards.g, precisions.g, config, ddp)
    return StepResult({**losses, **loss_d}, Pair(result_g, result_d), out, *mels)


def discriminator_step(discriminator, real: Segments, out, guard, precision, c, ddp):
    """LSGAN on (recording, posterior-path audio) plus c_e2e x the same on the end-to-end path."""
    guard.snapshot()
    with precision.autocast():
        scores_real, scores_fake, _, _ = discriminator(real.posterior, out.y_hat.detach())
        scores_real_e2e, scores_fake_e2e, _, _ = discriminator(real.e2e, out.y_hat_e2e.detach())
        loss_disc = discriminator_loss(scores_real, scores_fake)[0]
        loss_disc_e2e = discriminator_loss(scores_real_e2e, scores_fake_e2e)[0] * c.c_e2e
        loss_d = loss_disc + loss_disc_e2e
    losses = mean_over_ranks({"loss_d": loss_d, "loss_disc": loss_disc, "loss_disc_e2e": loss_disc_e2e}, ddp)
    return losses, guard.step(loss_d, losses["loss_d"])


@contextlib.contextmanager
def frozen(module: torch.nn.Module):
    """The discriminator as a fixed function during the generator update (its gradients would be discarded:
    the original zeroes them before the next discriminator update)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def generator_step(discriminator, real: Segments, out, batch: Batch, guard, precision, config: Config, ddp):
    """The generator's loss with the config's multipliers: GAN on both paths, feature matching and mel on
    the posterior path, duration, the two KL terms (and the alignment KL with use_mas)."""
    c, data = config.train, config.data
    with frozen(discriminator), precision.autocast():
        with torch.no_grad():
            _, maps_real = discriminator.score(real.posterior)
        scores_fake, maps_fake = discriminator.score(out.y_hat)
        scores_fake_e2e, _ = discriminator.score(out.y_hat_e2e)
        spec_slice = slice_segments(batch.spec, out.ids_slice, c.segment_size // data.hop_length)
        y_mel = mel_of_spectrogram(spec_slice.float(), data)
        y_hat_mel = mel_of_audio(out.y_hat.squeeze(1).float(), data)
        terms = {
            "gen": generator_loss(scores_fake)[0],
            "gen_e2e": generator_loss(scores_fake_e2e)[0] * c.c_e2e,
            "fm": feature_loss(maps_real, maps_fake),
            "mel": mel_loss(y_mel, y_hat_mel) * c.c_mel,
            "dur": torch.sum(out.l_length.float()) * c.c_dur,
        }
        terms["kl"], terms["kl_fwd"] = kl_terms(out, c)
        if out.m_mas is not None:
            terms["kl_mas"] = kl_loss(out.z_p, out.logs_q, out.m_mas, out.logs_mas, out.z_mask) * c.c_kl_mas
        loss_g = sum(terms.values())
    losses = mean_over_ranks({"loss_g": loss_g, **terms}, ddp)
    return losses, guard.step(loss_g, losses["loss_g"]), (y_mel, y_hat_mel)
