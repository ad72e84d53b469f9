"""Train NaturalSpeech: the original's `train.py`, on CPU or GPU, resumable, with data checks first.

    python train.py -c configs/ljs.json -m RUN --warmup          # warm-up: durations given, no bank
    python attach_memory_bank.py -c configs/ljs.json --weights_path logs/RUN/G_200.pth
    python train.py -c configs/ljs.json -m RUN --resume          # main stage from G_200_with_memory.pth
    python train.py -c configs/ljs.json -m RUN --warmup --use-mas   # no durations: alignment search
    torchrun --nproc_per_node 2 train.py ...                      # DDP (nccl on CUDA, gloo on CPU)

The recipe, as `train()` reads: configuration and run folder, data checks, generator and multi-period
discriminator, AdamW for each, an ExponentialLR stepped per epoch; then per batch `train_step`
(discriminator update on the detached outputs, then generator update: GAN, feature matching, mel,
duration and KL losses with the config's multipliers); at the start of every eval_interval-th epoch
`save` (G_<epoch>.pth, D_<epoch>.pth) and `evaluate` (samples written to <run>/eval/<epoch>/).

What differs from the original, on purpose (each a fix or an addition; see README.md):
  * CPU training is allowed (--require-cuda restores the refusal); torchrun instead of mp.spawn;
  * a new run in a used folder stops unless --resume or --force; which files a run resumes from is
    decided by stage and content, not glob order (--legacy-resume restores the original's choice and its
    silent restart); resume is exact (optimizer, scheduler, scalers, every rank's RNG, the batch);
  * the warm-up always ends with a checkpoint; the final weights are saved after the last epoch;
  * the soft-DTW KL is padding-independent (train.sdtw_padding_independent false restores the original);
  * every line of both lists (audio, text, durations) is checked before the first step;
  * use_mas: durations by monotonic alignment search (VITS), no external durations needed;
  * a non-finite loss or gradient skips that update; --max-nonfinite-steps in a row stop the run.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

if __package__ in (None, ""):
    # Run as a file (`python train.py`, `torchrun train.py`, as the original): resolve the relative
    # imports below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from filelists.audio import AudioError
from filelists.checks import DataCheckError, require_clean
from filelists.parse import FilelistError

from . import checkpoints as ckpt
from .arguments import config_from_args, parse_args
from .commons import slice_segments
from .config import Config
from .data_utils import (
    DataError,
    build_data,
    check_data,
    epoch_loader,
    require_filelists,
)
from .infra import (
    Distributed,
    GuardedStep,
    Position,
    Precision,
    RunLog,
    UserError,
    atomic_write,
    barrier,
    gather_rng_states,
    mean_over_ranks,
    prepare_run_folder,
    restore_rng_states,
    rng_untouched,
    run_main,
    seed_everything,
    setup_distributed,
    teardown_distributed,
    wrap_for_training,
)
from .losses import discriminator_loss, feature_loss, generator_loss, kl_loss, kl_loss_dtw, mel_loss
from .mel_processing import mel_spectrogram_torch, spec_to_mel_torch
from .models import MultiPeriodDiscriminator
from .monitoring import evaluate, log_step
from .optimizers import make_adamw, make_scheduler

RUN_FOLDER_MARKERS = ("G_*.pth", "D_*.pth", "log.jsonl")

# ---------------------------------------------------------------------------------------------------
# Setting up: configuration, run folder, resume point, data checks, networks, optimizers


class Run(NamedTuple):
    config: Config  # what this stage trains with (warm-up: given durations, c_kl_fwd 0)
    stored_config: Config  # what checkpoints store (the file's, without the warm-up changes)
    folder: Path
    stage: str  # "warmup" or "main"
    generator: dict | None  # checkpoints to resume from
    discriminator: dict | None
    durations_dir: str | None


def prepare_run(args: argparse.Namespace, ddp: Distributed) -> Run:
    folder = Path(args.output_dir) / args.model
    point = None
    if args.resume or args.legacy_resume:
        point = (
            ckpt.legacy_resume_checkpoints(folder)
            if args.legacy_resume
            else ckpt.resume_checkpoints(folder, args.warmup)
        )
        if point is None and ddp.is_main:
            print(f"--resume: no checkpoint in {folder} yet; starting a new run", file=sys.stderr)
    generator = discriminator = None
    if point is not None:
        generator, discriminator = (
            ckpt.read_checkpoint(point.generator),
            ckpt.read_checkpoint(point.discriminator),
        )
    stored = ckpt.config_of(generator, point.generator, None) if generator and "config" in generator else None
    stored_config = config_from_args(args, stored)
    config = config_from_args(args, stored)
    if args.warmup:  # the original's warm-up: given durations, the forward KL off
        config.train.use_gt_duration, config.train.c_kl_fwd = True, 0.0
    if ddp.is_main:
        prepare_run_folder(
            folder,
            RUN_FOLDER_MARKERS,
            point is not None or args.resume,
            args.force,
            previous_logs=("log.jsonl",),
        )
        atomic_write(folder / "config.json", lambda stream: stream.write(stored_config.dumps().encode()))
    require_filelists(config)
    durations_dir = None if config.train.use_mas else config.data.durations_dir
    if durations_dir is None and not config.train.use_mas:
        raise UserError(
            "data.durations_dir is null: give durations (--durations DIR) or align with --use-mas"
        )
    lists = [config.data.training_files, config.data.validation_files]
    require_clean(check_data(lists, config, args.dataset_path, durations_dir))
    if point is not None and ddp.is_main:
        print(f"resuming from {point.generator} and {point.discriminator}", file=sys.stderr)
    stage = "warmup" if args.warmup else "main"
    return Run(config, stored_config, folder, stage, generator, discriminator, durations_dir)


class Nets(NamedTuple):
    g: torch.nn.Module  # the generator (unwrapped)
    d: MultiPeriodDiscriminator
    g_train: torch.nn.Module  # what the step calls (DDP wrappers or the networks)
    d_train: torch.nn.Module


def build_training(run: Run, args, ddp: Distributed):
    """Networks, optimizers, schedulers, precisions, the position to start from, and the run (without
    its checkpoints when --legacy-resume restarted)."""
    config = run.config
    seed_everything(config.train.seed)  # the same weights on every rank (DDP broadcasts rank 0's anyway)
    net_g = ckpt.build_generator(config, bank=False, device=ddp.device)
    net_d = MultiPeriodDiscriminator(**config.models.get("discriminator", {})).to(ddp.device)
    optim_g, optim_d = make_adamw(net_g.parameters(), config), make_adamw(net_d.parameters(), config)
    if run.stage == "main":  # the bank's own parameter group, as the original adds it
        net_g.attach_memory_bank()
        optim_g.add_param_group({"params": list(net_g.memory_bank.parameters())})
    seed_everything(config.train.seed + ddp.rank)  # dropout and noise differ between ranks
    enabled = args.amp or (config.train.fp16_run and ddp.device.type == "cuda")
    precisions = Precision(ddp.device, enabled), Precision(ddp.device, enabled)  # one scaler each: G, D
    position = Position()
    if run.generator is not None:
        try:
            position = restore(run, net_g, net_d, optim_g, optim_d, precisions)
        except Exception as error:  # noqa: BLE001 - only with --legacy-resume, which asks for this
            if not args.legacy_resume:
                raise
            ckpt.warn(
                f"--legacy-resume: loading failed ({error}); starting over from epoch 0, as the original"
            )
            run = run._replace(generator=None, discriminator=None)
    lr_decay = config.train.lr_decay
    schedulers = [make_scheduler(opt, lr_decay, position.epoch) for opt in (optim_g, optim_d)]
    if run.generator is not None:
        for scheduler, optimizer, saved in zip(
            schedulers, (optim_g, optim_d), (run.generator, run.discriminator)
        ):
            for group, saved_group in zip(optimizer.param_groups, saved["optimizer"]["param_groups"]):
                group["lr"] = saved_group["lr"]  # bit-identical resume: not recomputed from the epoch
            if "scheduler" in saved:
                scheduler.load_state_dict(saved["scheduler"])
    nets = Nets(net_g, net_d, wrap_for_training(net_g, ddp), wrap_for_training(net_d, ddp))
    return run, nets, (optim_g, optim_d), schedulers, precisions, position


def restore(run: Run, net_g, net_d, optim_g, optim_d, precisions) -> Position:
    ckpt.load_state_dict_checked(net_g, run.generator["model"], "generator checkpoint")
    ckpt.load_state_dict_checked(net_d, run.discriminator["model"], "discriminator checkpoint")
    optim_g.load_state_dict(run.generator["optimizer"])
    optim_d.load_state_dict(run.discriminator["optimizer"])
    for precision, saved in zip(precisions, (run.generator, run.discriminator)):
        if saved.get("scaler"):
            precision.scaler.load_state_dict(saved["scaler"])
    stored = run.generator.get("position")
    if stored:
        return Position(stored["epoch"], stored["iteration"], stored["next_batch"])
    return Position(int(run.generator["iteration"]), 0, 0)  # the original's files: epoch only


# ---------------------------------------------------------------------------------------------------
# One step: discriminator, then generator


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


def train_step(nets: Nets, batch, guards, precisions, config: Config, ddp: Distributed) -> dict:
    c, data = config.train, config.data
    batch = batch.to(ddp.device)
    guard_g, guard_d = guards
    guard_g.snapshot()
    with precisions[0].autocast():
        out = nets.g_train(
            batch.x,
            batch.x_lengths,
            batch.spec,
            batch.spec_lengths,
            d=batch.durations,
            use_gt_duration=c.use_gt_duration,
        )
        y1 = slice_segments(batch.y, out.ids_slice * data.hop_length, c.segment_size)
        y2 = slice_segments(batch.y, out.ids_slice_q * data.hop_length, c.segment_size)

    guard_d.snapshot()
    with precisions[1].autocast():
        real, fake, _, _ = nets.d_train(y1, out.y_hat.detach())
        real_e2e, fake_e2e, _, _ = nets.d_train(y2, out.y_hat_e2e.detach())
        loss_disc = discriminator_loss(real, fake)[0]
        loss_disc_e2e = discriminator_loss(real_e2e, fake_e2e)[0] * c.c_e2e
        loss_d = loss_disc + loss_disc_e2e
    reduced_d = mean_over_ranks({"loss_d": loss_d}, ddp)["loss_d"]
    result_d = guard_d.step(loss_d, reduced_d)

    with frozen(nets.d) as discriminator, precisions[0].autocast():
        with torch.no_grad():
            _, fmap_r = discriminator.score(y1)
        fake, fmap_g = discriminator.score(out.y_hat)
        fake_e2e, _ = discriminator.score(out.y_hat_e2e)
        frames = c.segment_size // data.hop_length
        spec_slice = slice_segments(batch.spec, out.ids_slice, frames).float()
        y_mel = spec_to_mel_torch(
            spec_slice,
            data.filter_length,
            data.n_mel_channels,
            data.sampling_rate,
            data.mel_fmin,
            data.mel_fmax,
        )
        y_hat_mel = mel_spectrogram_torch(
            out.y_hat.squeeze(1).float(),
            data.filter_length,
            data.n_mel_channels,
            data.sampling_rate,
            data.hop_length,
            data.win_length,
            data.mel_fmin,
            data.mel_fmax,
        )
        terms = {
            "gen": generator_loss(fake)[0],
            "gen_e2e": generator_loss(fake_e2e)[0] * c.c_e2e,
            "fm": feature_loss(fmap_r, fmap_g),
            "mel": mel_loss(y_mel, y_hat_mel) * c.c_mel,
            "dur": torch.sum(out.l_length.float()) * c.c_dur,
        }
        terms["kl"], terms["kl_fwd"] = kl_terms(out, c)
        if out.m_mas is not None:
            terms["kl_mas"] = kl_loss(out.z_p, out.logs_q, out.m_mas, out.logs_mas, out.z_mask) * c.c_kl_mas
        loss_g = sum(terms.values())
    reduced = mean_over_ranks(
        {"loss_g": loss_g, **terms, "loss_disc": loss_disc, "loss_disc_e2e": loss_disc_e2e}, ddp
    )
    result_g = guard_g.step(loss_g, reduced["loss_g"])
    return {
        "reduced": reduced,
        "loss_d": reduced_d,
        "result_d": result_d,
        "result_g": result_g,
        "out": out,
        "y_mel": y_mel,
        "y_hat_mel": y_hat_mel,
        "spec": batch.spec,
    }


def kl_terms(out, c) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's L_bwd (posterior in prior space vs prior) and L_fwd (prior sample mapped to z space vs
    posterior): frame-aligned, or through soft-DTW when the prior has other frames (use_sdtw)."""
    q_mask = out.z_mask.squeeze(1)
    if c.use_sdtw:
        options = dict(padding_independent=c.sdtw_padding_independent, backend=c.soft_dtw_backend)
        backward = kl_loss_dtw(out.z_p, out.logs_q, out.m_p, out.logs_p, out.p_mask, q_mask, **options)
        forward = kl_loss_dtw(out.z_q, out.logs_p, out.m_q, out.logs_q, q_mask, out.p_mask, **options)
    else:
        backward = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask)
        forward = kl_loss(out.z_q, out.logs_p, out.m_q, out.logs_q, out.p_mask.unsqueeze(1))
    return backward * c.c_kl, forward * c.c_kl_fwd


# ---------------------------------------------------------------------------------------------------
# Checkpoints, evaluation samples, logs


def save(run: Run, nets, optimizers, schedulers, precisions, position: Position, ddp: Distributed) -> None:
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        lr = run.config.train.learning_rate
        generator = ckpt.training_state(
            nets.g, optimizers[0], schedulers[0], precisions[0].scaler, position.epoch, lr
        )
        generator.update(
            config=run.stored_config.to_dict(),
            stage=run.stage,
            position=position._asdict(),
            rng_states_all=rng_states,
        )
        discriminator = ckpt.training_state(
            nets.d, optimizers[1], schedulers[1], precisions[1].scaler, position.epoch, lr
        )
        ckpt.save_checkpoints(run.folder, position.epoch, generator, discriminator)
    barrier(ddp)


# ---------------------------------------------------------------------------------------------------
# The loop


def train(args: argparse.Namespace):
    """Run training as `args` say; returns the (unwrapped) generator of this process."""
    if args.require_cuda and not torch.cuda.is_available():
        raise UserError("CPU training is not allowed (--require-cuda, the original's rule)")
    ddp = setup_distributed(args.device)
    log = None
    try:
        run = prepare_run(args, ddp)
        config, c = run.config, run.config.train
        log = RunLog(run.folder / "log.jsonl", run.folder / "tensorboard", ddp.is_main)
        log.record(
            "PARAMETER", {**config.to_dict(), "args": vars(args), "world_size": ddp.world_size}, "METADATA"
        )
        run, nets, optimizers, schedulers, precisions, position = build_training(run, args, ddp)
        data = build_data(run.config, args.dataset_path, run.durations_dir, ddp)
        if run.generator is not None and run.generator.get("rng_states_all"):
            restore_rng_states(run.generator["rng_states_all"], ddp)  # last: building drew random numbers
        guards = [
            GuardedStep(net, opt, prec, math.inf, args.max_nonfinite_steps)
            for net, opt, prec in zip((nets.g, nets.d), optimizers, precisions)
        ]
        if ddp.is_main:
            print(
                f"{run.stage} on {ddp.device} x{ddp.world_size} ({precisions[0].name}) in {run.folder}",
                file=sys.stderr,
            )

        started, saved_at, done = time.perf_counter(), None, False
        while not done and position.epoch <= c.epochs:
            if position.next_batch == 0 and position.epoch % c.eval_interval == 0:
                save(run, nets, optimizers, schedulers, precisions, position, ddp)
                saved_at = position
                if ddp.is_main:
                    with rng_untouched(ddp.device):
                        evaluate(run, nets.g, data.val_set, log, position, ddp.device)
            if run.stage == "warmup" and position.epoch >= c.warmup_epochs:
                break
            batches = data.batches.epoch(position.epoch)
            loader = epoch_loader(
                data.train_set, batches, position.next_batch, c.seed, position.epoch, **data.options
            )
            for batch in loader:
                step_started = time.perf_counter()
                step = train_step(nets, batch, guards, precisions, config, ddp)
                position = position._replace(
                    iteration=position.iteration + 1, next_batch=position.next_batch + 1
                )
                log_step(log, position, step, optimizers[0], time.perf_counter() - step_started, config)
                for guard in guards:
                    guard.check(f"step {position.iteration}")
                if args.max_steps is not None and position.iteration >= args.max_steps:
                    done = True
                    break
            if not done:
                for scheduler in schedulers:
                    scheduler.step()
                position = Position(position.epoch + 1, position.iteration, 0)
        if saved_at != position:  # the warm-up's end, --max-steps, or past the last epoch
            save(run, nets, optimizers, schedulers, precisions, position, ddp)
        if ddp.is_main and run.stage == "warmup" and position.epoch >= c.warmup_epochs:
            print(
                f"warm-up done. Next: python attach_memory_bank.py -c {args.config} --weights_path "
                f"{ckpt.checkpoint_path(run.folder, 'G', position.epoch)}",
                file=sys.stderr,
            )
        log.record(
            "END",
            {"run_time": time.perf_counter() - started, "steps": position.iteration, "epoch": position.epoch},
        )
        return nets.g
    finally:
        if log is not None:
            log.close()
        teardown_distributed(ddp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_config:
        return run_main(lambda: print(config_from_args(args).dumps()))
    return run_main(lambda: train(args), errors=(FilelistError, DataCheckError, DataError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
