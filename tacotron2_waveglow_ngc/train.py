"""Train Tacotron 2 or WaveGlow, with the command line of NVIDIA DeepLearningExamples' `train.py`.

    python train.py -m Tacotron2 -o output/ -d LJSpeech-1.1 -lr 1e-3 --epochs 1501 -bs 48 \\
        --weight-decay 1e-6 --grad-clip-thresh 1.0 --anneal-steps 500 1000 1500 --anneal-factor 0.1 --amp
    python train.py ... --resume                     # continue from output/checkpoint_Tacotron2_last.pt
    torchrun --nproc_per_node 8 train.py ...         # one process per GPU

The recipe, as `train()` reads: the model's recipe (`recipes.py`: model, loss, data), Adam; then per epoch
DLE's learning-rate annealing and for each batch `train_step` (forward, loss, backward with torch.amp,
clipping, step); at the end of every epoch `validate`, and `save` every --epochs-per-checkpoint epochs.
What differs from DLE, on purpose:
  * a misspelt flag is an error (DLE's `parse_known_args` ignores it); `torchrun` instead of
    `multiproc.py`; `--print-config` shows the resolved model config and exits;
  * a new run in an output folder that holds this model's checkpoints needs --resume or --force;
  * `--amp` on CUDA is fp16 autocast + GradScaler with the decoder's two LSTMCells in fp32 (the NGC
    recipe); on CPU it is bf16 autocast;
  * checkpoints also hold the iteration, the next batch, the arguments and every rank's RNG states and are
    written atomically: a run stopped anywhere (`--max-steps`, or killed after a checkpoint) continues
    exactly, bit-identical on CPU; validation draws leave the training RNG untouched;
  * a step with a non-finite loss or gradient is skipped; --max-nonfinite-steps in a row stop the run;
  * the log (`--log-file`, JSON lines in DLLogger's record layout, starting with the code version and
    torch version) holds per iteration `train_loss`, `train_iter_items/sec`, `learning_rate`, `grad_norm`,
    `train_iter_time`, and per epoch `train_loss` (the epoch's mean; DLE logs the last iteration's),
    `train_epoch_items/sec`, `train_epoch_time`, `val_loss`, `val_items/sec`, and the loss's terms as
    `val_<term>` (Tacotron 2: `val_mel_loss`, `val_mel_postnet_loss`, `val_gate_loss`, and with a
    guided-attention weight `val_attention_loss`, so the original's loss stays readable); TensorBoard in
    `<output>/tensorboard`. Items are mel frames (Tacotron 2) or audio samples (WaveGlow);
  * `-d/--dataset-path` defaults to each filelist's folder (DLE: the current folder).
Not carried over: DLE's `--config-file`, `--bench-class` and the flags it parses but never uses.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python train.py`, `torchrun train.py`, as in DLE): resolve the relative imports
    # below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from filelists.audio import AudioError
from filelists.checks import DataCheckError, require_clean
from filelists.parse import FilelistError

from .arguments import parse_args
from .checkpoints import (
    read_training_checkpoint,
    resume_position,
    save_training_checkpoint,
    training_checkpoint,
    training_checkpoint_path,
)
from .data import DataError
from .infra import (
    AlignmentWatch,
    CheckpointError,
    Distributed,
    GuardedStep,
    Position,
    Precision,
    RunLog,
    UserError,
    all_reduce_sum,
    cpu_workers,
    epoch_batches,
    epoch_loader,
    gather_rng_states,
    make_adam,
    mean_over_ranks,
    prepare_run_folder,
    restore_rng_states,
    rng_untouched,
    run_main,
    seed_everything,
    set_learning_rate,
    setup_distributed,
    teardown_distributed,
    wrap_for_training,
)
from .recipes import RECIPES


def learning_rate_at(epoch: int, learning_rate: float, anneal_steps, anneal_factor: float) -> float:
    """DLE's epoch-based annealing. p = number of anneal steps <= epoch; factor 0.1: lr * 0.1^p;
    factor 0.3: lr * 0.1^(p // 2), times 0.3 when p is odd (1, 0.3, 0.1, 0.03, ...)."""
    p = sum(epoch >= step for step in anneal_steps or ())
    if anneal_factor == 0.3:
        return learning_rate * 0.1 ** (p // 2) * (0.3 if p % 2 else 1.0)
    return learning_rate * anneal_factor**p


# ---------------------------------------------------------------------------------------------------
# Setting up a run


def checkpoint_to_resume(args: argparse.Namespace, config) -> dict | None:
    """The training checkpoint to continue from (its model config must equal the command line's)."""
    path = args.checkpoint_path
    if not path and args.resume:
        last = training_checkpoint_path(args.output, args.model_name, "last")
        if not last.exists():
            print(f"--resume: no {last} yet; training from scratch", file=sys.stderr)
            return None
        path = str(last)
    if not path:
        return None
    checkpoint = read_training_checkpoint(path, args.model_name)
    wanted = config.to_dict()
    # Only the checkpoint's keys are compared: DLE's configs lack our extra keys (e.g. prenet_dropout).
    differences = [
        f"{k}: checkpoint {v!r}, command line {wanted.get(k)!r}"
        for k, v in checkpoint["config"].items()
        if v != wanted.get(k)
    ]
    if differences:
        raise CheckpointError(f"{path}: the model flags differ from the checkpoint's config: {differences}")
    return checkpoint


class Data(NamedTuple):
    train_set: object
    sampler: DistributedSampler  # shuffles by (seed, epoch), identically on every rank, then shards
    val_loader: DataLoader
    loader_options: dict


def build_data(recipe, args: argparse.Namespace, ddp: Distributed) -> Data:
    train_set, val_set, collate = recipe.datasets(args)
    sampler = DistributedSampler(
        train_set, ddp.world_size, ddp.rank, shuffle=True, seed=args.seed or 0, drop_last=True
    )
    if not epoch_batches(sampler, 0, args.batch_size):
        raise UserError(
            f"{args.training_files}: {len(sampler)} utterances per process, fewer than --batch-size "
            f"{args.batch_size}; no full batch to train on"
        )
    options = dict(
        collate_fn=collate, num_workers=cpu_workers(args.num_workers), pin_memory=ddp.device.type == "cuda"
    )
    val_sampler = DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False)
    return Data(
        train_set,
        sampler,
        DataLoader(val_set, batch_size=args.batch_size, sampler=val_sampler, **options),
        options,
    )


# ---------------------------------------------------------------------------------------------------
# One step, validation, checkpoints


def train_step(recipe, trainer, batch, ddp: Distributed):
    """Forward, loss, guarded backward and step -> (loss terms averaged over ranks, items of all ranks,
    StepResult)."""
    trainer.guard.snapshot()
    with trainer.precision.autocast():
        losses, n_items, _ = recipe.forward(trainer.training_model, batch, trainer.criterion, ddp.device)
    reduced = mean_over_ranks({**losses, "items": torch.tensor(float(n_items))}, ddp)
    n_items = round(reduced.pop("items") * ddp.world_size)
    return reduced, n_items, trainer.guard.step(losses["loss"], reduced["loss"])


class Validation(NamedTuple):
    loss: float  # mean over all batches of all ranks
    terms: dict  # every other term of the recipe's losses, the same mean (Tacotron 2: mel_loss, ...)
    items_per_sec: float
    images: dict  # of the first batch (rank 0)
    alignment: dict  # infra.alignment_health over every validation utterance ({} for WaveGlow)


@torch.no_grad()
def validate(recipe, trainer, loader, ddp: Distributed) -> Validation:
    model, criterion, precision = trainer.model, trainer.criterion, trainer.precision
    model.eval()
    loss_sums, n_batches, n_items, images, health = {}, 0, 0, {}, []
    started = time.perf_counter()
    for batch in loader:
        with precision.autocast():
            losses, items, outputs = recipe.forward(model, batch, criterion, ddp.device)
        for name, value in losses.items():
            loss_sums[name] = loss_sums.get(name, 0.0) + float(value)
        n_batches, n_items = n_batches + 1, n_items + items
        if n_batches == 1 and ddp.is_main:
            images = recipe.validation_images(batch, outputs)
        measured = recipe.alignment_health(batch, outputs)
        if measured:
            health.append(measured)
    names = list(health[0]) if health else []
    terms = [name for name in loss_sums if name != "loss"]
    sums = [loss_sums.get("loss", 0.0), n_batches, n_items] + [loss_sums[name] for name in terms]
    sums += [sum(h[name] for h in health) for name in names]
    totals = all_reduce_sum(torch.tensor(sums, dtype=torch.float64, device=ddp.device), ddp).tolist()
    model.train()
    n = max(totals[1], 1.0)
    term_means = {name: total / n for name, total in zip(terms, totals[3 : 3 + len(terms)])}
    alignment = {name: total / n for name, total in zip(names, totals[3 + len(terms) :])}
    return Validation(
        totals[0] / n, term_means, totals[2] / (time.perf_counter() - started), images, alignment
    )


def log_step(
    log: RunLog, progress, position: Position, losses: dict, n_items: int, result, lr: float, seconds: float
):
    step = [position.epoch, position.iteration]
    if not result.applied:
        message = (
            f"iteration {position.iteration} (epoch {position.epoch}): non-finite loss {losses['loss']} / "
            f"gradient norm {result.grad_norm}; step skipped"
        )
        log.record(step, {"nonfinite_step_skipped": message})
        if log.enabled:
            tqdm.write(message, file=sys.stderr)
        return
    items_per_sec = n_items / seconds
    log.record(
        step,
        {
            "train_loss": losses["loss"],
            "train_iter_items/sec": items_per_sec,
            "learning_rate": lr,
            "grad_norm": result.grad_norm,
            "train_iter_time": seconds,
        },
    )
    scalars = {**losses, "learning_rate": lr, "grad_norm": result.grad_norm, "items_per_sec": items_per_sec}
    log.scalars({f"train/{name}": value for name, value in scalars.items()}, position.iteration)
    progress.set_postfix(loss=f"{losses['loss']:.4f}", grad_norm=f"{result.grad_norm:.3f}")


def log_epoch(log: RunLog, position: Position, train_loss, items, seconds, val: Validation, watch) -> None:
    alignment = {f"alignment_{name}": value for name, value in val.alignment.items()}
    log.record(
        [position.epoch],
        {
            "train_loss": train_loss,
            "train_epoch_items/sec": items / seconds,
            "train_epoch_time": seconds,
            "val_loss": val.loss,
            **{f"val_{name}": value for name, value in val.terms.items()},
            "val_items/sec": val.items_per_sec,
            **alignment,
        },
    )
    log.scalars({"validation/loss": val.loss}, position.iteration)
    log.scalars({f"validation/{name}": value for name, value in val.terms.items()}, position.iteration)
    log.scalars({f"alignment/{name}": value for name, value in val.alignment.items()}, position.iteration)
    for tag, image in val.images.items():
        log.image(tag, image, position.iteration)
    warning = watch.update(val.alignment["score"]) if val.alignment else None
    if warning:
        log.record([position.epoch], {"alignment_warning": warning})
    if log.enabled:
        health = f", alignment score {val.alignment['score']:.3f}" if val.alignment else ""
        summary = f"train loss {train_loss:.5f}, val loss {val.loss:.5f}{health}, {seconds:.1f} s"
        tqdm.write(f"epoch {position.epoch}: {summary}", file=sys.stderr)
        if warning:
            tqdm.write(f"warning: {warning}", file=sys.stderr)


class Trainer(NamedTuple):
    model: torch.nn.Module  # the unwrapped model (what checkpoints hold)
    training_model: torch.nn.Module  # what the loop calls: the model, or DDP around it
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    precision: Precision
    guard: GuardedStep


def build_trainer(
    recipe, config, args: argparse.Namespace, ddp: Distributed
) -> tuple[Trainer, dict | None, Position]:
    """Model, loss, optimizer and precision; with the state of the checkpoint to resume, if any."""
    if args.seed is not None:
        seed_everything(args.seed + ddp.rank)  # different dropout per rank; DDP syncs the weights
    model = recipe.build_model(config, args).to(ddp.device)
    optimizer = make_adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    precision = Precision(ddp.device, args.amp)
    checkpoint, position = checkpoint_to_resume(args, config), Position()
    if checkpoint is not None:
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            precision.scaler.load_state_dict(checkpoint["scaler"])
        position = resume_position(checkpoint)
    guard = GuardedStep(model, optimizer, precision, recipe.clip_threshold(args), args.max_nonfinite_steps)
    trainer = Trainer(model, wrap_for_training(model, ddp), recipe.loss(args), optimizer, precision, guard)
    return trainer, checkpoint, position


def save(trainer: Trainer, config, position: Position, epoch_done: bool, args, ddp: Distributed) -> None:
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        state = training_checkpoint(
            trainer.model,
            config,
            trainer.optimizer,
            trainer.precision.scaler,
            rng_states,
            position,
            epoch_done,
            vars(args),
        )
        save_training_checkpoint(state, args.output, args.model_name)


# ---------------------------------------------------------------------------------------------------
# The loop


def train(args: argparse.Namespace) -> torch.nn.Module:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    output, log = Path(args.output), None
    try:
        recipe = RECIPES[args.model_name]
        config = recipe.config(args)
        if ddp.is_main:
            resuming = args.resume or bool(args.checkpoint_path)
            prepare_run_folder(output, [f"checkpoint_{args.model_name}_*.pt"], resuming, args.force)
        torch.backends.cudnn.enabled = args.cudnn_enabled
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        log = RunLog(output / args.log_file, output / "tensorboard", ddp.is_main)
        parameters = {**vars(args), "model_name": f"{args.model_name}_PyT", "world_size": ddp.world_size}
        log.record("PARAMETER", parameters, kind="METADATA")

        report = recipe.check_data(args)  # every bad line of both lists at once, before anything trains
        if report is not None:
            require_clean(report)
        trainer, checkpoint, position = build_trainer(recipe, config, args, ddp)
        data = build_data(recipe, args, ddp)
        if checkpoint is not None:  # last: building the model and loaders above drew from the RNG
            restore_rng_states(checkpoint.get("rng_states_all", []), ddp)

        run_started, train_loss, val_loss, epoch_rates = time.perf_counter(), math.nan, math.nan, []
        watch = AlignmentWatch(args.alignment_patience)
        done = args.max_steps is not None and position.iteration >= args.max_steps
        while not done and position.epoch < args.epochs:
            epoch, epoch_started, epoch_losses, epoch_items = position.epoch, time.perf_counter(), [], 0
            learning_rate = learning_rate_at(epoch, args.learning_rate, args.anneal_steps, args.anneal_factor)
            set_learning_rate(trainer.optimizer, learning_rate)
            recipe.set_epoch(data.train_set, epoch)
            options = data.loader_options
            batches = epoch_loader(
                data.train_set, data.sampler, position, args.batch_size, args.seed or 0, **options
            )
            last_batch = position.next_batch + len(batches)
            progress = tqdm(batches, desc=f"epoch {epoch}", disable=not ddp.is_main, dynamic_ncols=True)
            for batch in progress:
                started = time.perf_counter()
                losses, n_items, result = train_step(recipe, trainer, batch, ddp)
                position = position._replace(
                    iteration=position.iteration + 1, next_batch=position.next_batch + 1
                )
                log_step(
                    log,
                    progress,
                    position,
                    losses,
                    n_items,
                    result,
                    learning_rate,
                    time.perf_counter() - started,
                )
                trainer.guard.check(f"iteration {position.iteration}")
                if result.applied:
                    epoch_losses.append(losses["loss"])
                    epoch_items += n_items
                done = args.max_steps is not None and position.iteration >= args.max_steps
                if done:
                    break
            progress.close()
            epoch_done = position.next_batch >= last_batch

            epoch_time = time.perf_counter() - epoch_started
            with rng_untouched(ddp.device):  # the prenet's dropout stays on while validating
                validation = validate(recipe, trainer, data.val_loader, ddp)
            val_loss = validation.loss
            train_loss = float(np.mean(epoch_losses)) if epoch_losses else math.nan
            epoch_rates.append(epoch_items / epoch_time)
            log_epoch(log, position, train_loss, epoch_items, epoch_time, validation, watch)
            if epoch % args.epochs_per_checkpoint == 0 or epoch == args.epochs - 1 or done:
                save(trainer, config, position, epoch_done, args, ddp)
            if epoch_done:
                position = Position(epoch + 1, position.iteration, 0)

        items_per_sec = float(np.mean(epoch_rates)) if epoch_rates else math.nan
        summary = {"run_time": time.perf_counter() - run_started, "train_items/sec": items_per_sec}
        log.record([], {**summary, "train_loss": train_loss, "val_loss": val_loss})
        return trainer.model
    finally:
        if log is not None:
            log.close()
        teardown_distributed(ddp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_config:
        return run_main(lambda: print(RECIPES[args.model_name].config(args)))
    return run_main(lambda: train(args), errors=(FilelistError, DataCheckError, DataError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
