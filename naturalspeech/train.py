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
from .config import Config
from .data_utils import DataError, build_data, check_data, epoch_loader, require_filelists
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
    prepare_run_folder,
    restore_rng_states,
    rng_untouched,
    run_main,
    seed_everything,
    setup_distributed,
    teardown_distributed,
    wrap_for_training,
)
from .models import MultiPeriodDiscriminator
from .monitoring import evaluate, log_step
from .optimizers import make_adamw, make_scheduler
from .training_step import Nets, Pair, train_step

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
    """The checkpoints to resume from, the configuration (a resumed run's stored one, the command line on
    top), the claimed run folder, and every line of both filelists checked."""
    folder = Path(args.output_dir) / args.model
    point = None
    if args.resume or args.legacy_resume:
        choose = ckpt.legacy_resume_checkpoints if args.legacy_resume else ckpt.resume_checkpoints
        point = choose(folder) if args.legacy_resume else choose(folder, args.warmup)
        if point is None and ddp.is_main:
            print(f"--resume: no checkpoint in {folder} yet; starting a new run", file=sys.stderr)
    generator = discriminator = stored = None
    if point is not None:
        generator, discriminator = map(ckpt.read_checkpoint, point)
        if "config" in generator:
            stored = ckpt.config_of(generator, point.generator, None)
    stored_config, config = config_from_args(args, stored), config_from_args(args, stored)
    if args.warmup:  # the original's warm-up: given durations, the forward KL off
        config.train.use_gt_duration, config.train.c_kl_fwd = True, 0.0
    if ddp.is_main:
        resuming = point is not None or args.resume
        prepare_run_folder(folder, RUN_FOLDER_MARKERS, resuming, args.force, previous_logs=("log.jsonl",))
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


class Training(NamedTuple):
    run: Run  # without its checkpoints when --legacy-resume restarted
    nets: Nets
    optimizers: Pair  # AdamW
    schedulers: Pair  # ExponentialLR, stepped per epoch
    precisions: Pair  # autocast and a GradScaler each
    guards: Pair  # infra.GuardedStep: a non-finite loss or gradient skips that network's update


def build_training(run: Run, args, ddp: Distributed) -> tuple[Training, Position]:
    """Networks, optimizers, schedulers, precisions and guards, and the position to start from."""
    config = run.config
    seed_everything(config.train.seed)  # the same weights on every rank (DDP broadcasts rank 0's anyway)
    net_g = ckpt.build_generator(config, bank=False, device=ddp.device)
    net_d = MultiPeriodDiscriminator(**config.models.get("discriminator", {})).to(ddp.device)
    optimizers = Pair(make_adamw(net_g.parameters(), config), make_adamw(net_d.parameters(), config))
    if run.stage == "main":  # the bank's own parameter group, as the original adds it
        net_g.attach_memory_bank()
        optimizers.g.add_param_group({"params": list(net_g.memory_bank.parameters())})
    seed_everything(config.train.seed + ddp.rank)  # dropout and noise differ between ranks
    enabled = args.amp or (config.train.fp16_run and ddp.device.type == "cuda")
    precisions = Pair(Precision(ddp.device, enabled), Precision(ddp.device, enabled))
    run, position = restore(run, Pair(net_g, net_d), optimizers, precisions, args.legacy_resume)
    schedulers = Pair(*(make_scheduler(opt, config.train.lr_decay, position.epoch) for opt in optimizers))
    if run.generator is not None:
        for saved, optimizer, scheduler in zip((run.generator, run.discriminator), optimizers, schedulers):
            ckpt.restore_schedule(saved, optimizer, scheduler)
    nets = Nets(net_g, net_d, wrap_for_training(net_g, ddp), wrap_for_training(net_d, ddp))
    limit = args.max_nonfinite_steps  # no gradient clipping (math.inf), as the original
    guards = Pair(*(GuardedStep(*parts, math.inf, limit) for parts in zip(nets[:2], optimizers, precisions)))
    return Training(run, nets, optimizers, schedulers, precisions, guards), position


def restore(run: Run, nets: Pair, optimizers: Pair, precisions: Pair, legacy: bool) -> tuple[Run, Position]:
    """Load the resumed checkpoints into the networks, optimizers and scalers -> (run, position). With
    --legacy-resume a file that does not load means a silent restart from epoch 0, as in the original."""
    if run.generator is None:
        return run, Position()
    saved = (run.generator, run.discriminator)
    try:
        for parts in zip(saved, nets, optimizers, (precision.scaler for precision in precisions), "GD"):
            ckpt.load_training_state(*parts)
    except Exception as error:  # noqa: BLE001 - only with --legacy-resume, which asks for this
        if not legacy:
            raise
        ckpt.warn(f"--legacy-resume: loading failed ({error}); starting over from epoch 0, as the original")
        return run._replace(generator=None, discriminator=None), Position()
    return run, ckpt.saved_position(run.generator)


# ---------------------------------------------------------------------------------------------------
# Checkpoints


def save(training: Training, position: Position, ddp: Distributed) -> None:
    """G_<epoch>.pth and D_<epoch>.pth (the original's format plus what an exact resume needs)."""
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        run, lr = training.run, training.run.config.train.learning_rate
        states = [
            ckpt.training_state(net, optimizer, scheduler, precision.scaler, position.epoch, lr)
            for net, optimizer, scheduler, precision in zip(
                (training.nets.g, training.nets.d),
                training.optimizers,
                training.schedulers,
                training.precisions,
            )
        ]
        states[0].update(
            config=run.stored_config.to_dict(),
            stage=run.stage,
            position=position._asdict(),
            rng_states_all=rng_states,
        )
        ckpt.save_checkpoints(run.folder, position.epoch, *states)
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
        training, position = build_training(run, args, ddp)
        run, nets = training.run, training.nets
        data = build_data(run.config, args.dataset_path, run.durations_dir, ddp)
        if run.generator is not None and run.generator.get("rng_states_all"):
            restore_rng_states(run.generator["rng_states_all"], ddp)  # last: building drew random numbers
        if ddp.is_main:
            precision = training.precisions.g.name
            print(
                f"{run.stage} on {ddp.device} x{ddp.world_size} ({precision}) in {run.folder}",
                file=sys.stderr,
            )

        started, saved_at, done = time.perf_counter(), None, False
        while not done and position.epoch <= c.epochs:
            # The original saves and evaluates at the start of every eval_interval-th epoch.
            if position.next_batch == 0 and position.epoch % c.eval_interval == 0:
                save(training, position, ddp)
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
                step = train_step(nets, batch, training.guards, training.precisions, config, ddp)
                position = position._replace(
                    iteration=position.iteration + 1, next_batch=position.next_batch + 1
                )
                seconds = time.perf_counter() - step_started
                log_step(log, position, step, training.optimizers.g, seconds, config)
                for guard in training.guards:
                    guard.check(f"step {position.iteration}")
                if args.max_steps is not None and position.iteration >= args.max_steps:
                    done = True
                    break
            if not done:
                for scheduler in training.schedulers:
                    scheduler.step()
                position = Position(position.epoch + 1, position.iteration, 0)
        if saved_at != position:  # the warm-up's end, --max-steps, or past the last epoch
            save(training, position, ddp)
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
