"""Train Tacotron 2 with maximum mutual information: the original's `train.py`, with torchrun and torch.amp.

    python train.py -o outdir -l logdir --training-files train.txt --validation-files val.txt
    python train.py -o outdir -l logdir -c outdir/checkpoint_999            # resume (ours or the original's)
    python train.py -o outdir -l logdir -c tacotron2_statedict.pt --warm_start   # from NVIDIA's Tacotron 2
    python train.py -o outdir ... --resume --hparams "use_mmi=False,drop_frame_rate=0.0"
    torchrun --nproc_per_node 2 train.py ...        # DDP (nccl on CUDA, gloo on CPU)

The recipe, as `train()` reads: the drop-frame global mean of the training list, model, Adam; then for
each batch `train_step` (forward with drop frames, taco loss, MI loss, the gradient adaptive factor every
10th batch of an epoch, backward, clip, step) and every `iters_per_checkpoint` updates `validate` (taco
loss, MI loss, the alignment health, the original's images) and `save`. What differs from the original,
on purpose:
  * everything a run writes is in its output directory: `checkpoint_<iteration>` (+ `checkpoint_last`),
    `log.jsonl`, the global mean file and TensorBoard (`-l`); a new run in a used folder needs --resume or
    --force;
  * checkpoints also hold the hparams, the global mean with what it was computed from, the GAF value, the
    AMP scaler, every rank's RNG state and the position in the epoch: a resumed CPU run is bit-identical
    to an uninterrupted one, also mid-epoch;
  * the GAF batch costs two backward passes instead of three, its value leaves out the conv biases before
    BatchNorm (see gradient_adaptive_factor.py), and it goes through the GradScaler and DDP;
  * CTC utterances with too few frames contribute 0 and are counted (`mi_infeasible`) instead of turning
    the loss infinite; a step with a non-finite loss or gradient is skipped, --max-nonfinite-steps in a row
    stop the run; every line of both filelists is checked before the first step.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python train.py`, as the original): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_mmi"

from filelists.audio import AudioError
from filelists.checks import DataCheckError, require_clean
from filelists.parse import FilelistError

from .alignment_health import is_diagonal
from .arguments import hparams_from_args, parse_args
from .checkpoints import (
    LAST,
    hparams_from_state_dict,
    load_optimizer_state,
    load_state_dict_checked,
    read_training_checkpoint,
    resume_position,
    save_training_checkpoint,
    training_checkpoint,
    training_checkpoint_path,
    warm_start,
)
from .data import DataError, TextMelDataset, check_data, collate_text_mel, require_default_filelists
from .global_mean import global_mean_of_run
from .gradient_adaptive_factor import GradientAdaptiveFactor, adaptive_loss, batchnorm_conv_biases
from .hparams import HParams
from .infra import (
    AlignmentWatch,
    Distributed,
    GuardedStep,
    Position,
    Precision,
    RunLog,
    UserError,
    alignment_health,
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
from .losses import Tacotron2MMILoss
from .model import Tacotron2
from .plots import validation_images

RUN_FOLDER_MARKERS = ("checkpoint_*", "log.jsonl")

# ---------------------------------------------------------------------------------------------------
# Setting up a run: configuration, run folder, data checks, the global mean, data


class Run(NamedTuple):
    hparams: HParams
    folder: Path
    checkpoint: dict | None  # the training checkpoint to resume from
    checkpoint_path: str | None
    global_mean: torch.Tensor | None  # (n_mel,) for drop frames
    global_mean_source: dict | None


def prepare_run(args: argparse.Namespace, ddp: Distributed) -> Run:
    """Configuration (a resumed run starts from the checkpoint's hparams, the command line on top), the
    output directory, every line of both filelists checked, then the drop-frame global mean."""
    folder, path = Path(args.output_directory), args.checkpoint_path
    if args.resume and not path:
        last = training_checkpoint_path(folder, LAST)
        path = str(last) if last.exists() else None
        if path is None and ddp.is_main:
            print(f"--resume: no {last} yet; starting a new run", file=sys.stderr)
    checkpoint = read_training_checkpoint(path) if path and not args.warm_start else None
    if checkpoint is None:
        hparams = hparams_from_args(args)
    elif "hparams" in checkpoint:
        hparams = hparams_from_args(args, HParams.from_dict(checkpoint["hparams"], strict=False))
    else:  # the original's checkpoint: sizes from the shapes, the rest from hparams.py and --hparams
        hparams = hparams_from_args(args, hparams_from_state_dict(checkpoint["state_dict"]))
    if ddp.is_main:
        resuming = checkpoint is not None or args.resume
        prepare_run_folder(folder, RUN_FOLDER_MARKERS, resuming, args.force, previous_logs=("log.jsonl",))
    require_default_filelists(hparams)
    require_clean(check_data([hparams.training_files, hparams.validation_files], hparams, args.dataset_path))
    mean, source = global_mean_of_run(hparams, folder, args.dataset_path, checkpoint, ddp)
    return Run(hparams, folder, checkpoint, path, mean, source)


class Data(NamedTuple):
    train_set: TextMelDataset
    sampler: DistributedSampler  # shuffles by (seed, epoch), identically on every rank, then shards
    val_loader: DataLoader
    loader_options: dict


def build_data(hparams: HParams, args: argparse.Namespace, ddp: Distributed) -> Data:
    train_set = TextMelDataset(hparams.training_files, hparams, args.dataset_path)
    val_set = TextMelDataset(hparams.validation_files, hparams, args.dataset_path)
    sampler = DistributedSampler(train_set, ddp.world_size, ddp.rank, seed=hparams.seed, drop_last=True)
    if not epoch_batches(sampler, 0, hparams.batch_size):
        raise UserError(
            f"{hparams.training_files}: {len(sampler)} utterances per process, fewer than batch_size "
            f"{hparams.batch_size}; no full batch to train on"
        )
    options = dict(collate_fn=collate_text_mel, num_workers=cpu_workers(hparams.num_workers))
    options["pin_memory"] = ddp.device.type == "cuda"
    val_sampler = DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False)
    val_loader = DataLoader(val_set, hparams.batch_size, sampler=val_sampler, **options)
    return Data(train_set, sampler, val_loader, options)


class Trainer(NamedTuple):
    model: Tacotron2  # unwrapped: what checkpoints hold
    training_model: torch.nn.Module  # the model, or DDP around it
    optimizer: torch.optim.Optimizer
    precision: Precision
    guard: GuardedStep
    criterion: Tacotron2MMILoss
    gaf: GradientAdaptiveFactor | None  # None: use_mmi or use_gaf off


def build_trainer(run: Run, args, ddp: Distributed, batches_per_epoch: int):
    """Model, optimizer, precision, GAF, with the resumed or warm-started state -> (trainer, position,
    learning rate)."""
    hparams, checkpoint = run.hparams, run.checkpoint
    seed_everything(hparams.seed)  # the same initial weights on every rank, then per-rank dropout
    model = Tacotron2(hparams).to(ddp.device)
    if run.global_mean is not None:
        model.set_global_mean(run.global_mean, run.global_mean_source)
    seed_everything(hparams.seed + ddp.rank)
    optimizer = make_adam(model.parameters(), lr=hparams.learning_rate, weight_decay=hparams.weight_decay)
    precision = Precision(ddp.device, args.amp or hparams.fp16_run)
    position, learning_rate, gaf_value = Position(), hparams.learning_rate, None
    if checkpoint is not None:
        load_state_dict_checked(model, checkpoint["state_dict"], run.checkpoint_path)
        load_optimizer_state(optimizer, checkpoint, run.checkpoint_path)
        if checkpoint.get("scaler"):
            precision.scaler.load_state_dict(checkpoint["scaler"])
        if hparams.use_saved_learning_rate:
            learning_rate = float(checkpoint["learning_rate"])
        position, gaf_value = resume_position(checkpoint, batches_per_epoch), checkpoint.get("gaf")
    elif args.warm_start:
        warm_start(model, args.checkpoint_path, hparams.ignore_layers)
    gaf = None
    if hparams.use_mmi and hparams.use_gaf:
        excluded = batchnorm_conv_biases(model) if hparams.gaf_exclude_batchnorm_conv_bias else set()
        gaf = GradientAdaptiveFactor(hparams.max_gaf, hparams.update_gaf_every_n_step, excluded, gaf_value)
    guard = GuardedStep(model, optimizer, precision, hparams.grad_clip_thresh, args.max_nonfinite_steps)
    training_model = wrap_for_training(model, ddp)
    return (
        Trainer(model, training_model, optimizer, precision, guard, Tacotron2MMILoss(), gaf),
        position,
        learning_rate,
    )


# ---------------------------------------------------------------------------------------------------
# One step, validation, checkpoints


def train_step(trainer: Trainer, batch, batch_in_epoch: int, ddp: Distributed):
    """Forward (with drop frames), taco and MI losses, the GAF when due, guarded backward and step ->
    (loss terms averaged over ranks, StepResult)."""
    batch = batch.to(ddp.device)
    trainer.guard.snapshot()
    with trainer.precision.autocast():
        outputs = trainer.training_model(*batch[:3], batch.output_lengths)
        taco, mi = trainer.criterion(outputs, batch)
    terms = dict(zip(taco._fields, taco))
    if mi is not None:
        terms.update(mi_loss=mi.mi_loss, mi_infeasible=mi.mi_infeasible.float() * ddp.world_size)
    reduced = mean_over_ranks(terms, ddp)
    loss, reduced["loss"] = taco.taco_loss, reduced["taco_loss"]
    if mi is not None:
        gaf = trainer.gaf
        if (
            gaf is not None
            and gaf.due(batch_in_epoch)
            and math.isfinite(reduced["taco_loss"] + reduced["mi_loss"])
        ):
            scaler = trainer.precision.scaler
            loss = adaptive_loss(gaf, trainer.model, taco.taco_loss, mi.mi_loss, scaler, ddp)
        else:
            loss = taco.taco_loss + (1.0 if gaf is None else gaf.current) * mi.mi_loss
        reduced["gaf"] = 1.0 if gaf is None else gaf.current
        reduced["loss"] = reduced["taco_loss"] + reduced["gaf"] * reduced["mi_loss"]
    return reduced, trainer.guard.step(loss, reduced["loss"])


@torch.no_grad()
def validate(trainer: Trainer, loader: DataLoader, ddp: Distributed) -> tuple[dict, dict]:
    """The original's validation loss (taco loss, mean over batches), the MI loss and the alignment health
    (`infra.alignment_health` of the teacher-forced attention, mean over utterances) of all ranks, and
    the original's images of the first utterance (rank 0)."""
    model = trainer.model
    model.eval()
    names = ("focus", "monotonic", "coverage", "score", "duration_spread")
    sums, images = torch.zeros(4 + len(names), dtype=torch.float64), {}  # taco, mi, batches, utterances
    for batch in loader:
        batch = batch.to(ddp.device)
        with trainer.precision.autocast():
            outputs = model(*batch[:3], batch.output_lengths)
            taco, mi = trainer.criterion(outputs, batch)
        health = alignment_health(outputs.alignments, batch.input_lengths, batch.output_lengths)
        size = len(batch.input_lengths)
        mi_value = float(mi.mi_loss) if mi is not None else 0.0
        sums += torch.tensor([float(taco.taco_loss), mi_value, 1, size, *(health[n] * size for n in names)])
        if not images and ddp.is_main:
            images = validation_images(batch, outputs)
    sums = all_reduce_sum(sums.to(ddp.device), ddp).cpu().tolist()
    model.train()
    health = {name: total / sums[3] for name, total in zip(names, sums[4:])}
    values = {"validation.loss": sums[0] / sums[2]}
    if model.mi is not None:
        values["validation.mi_loss"] = sums[1] / sums[2]
    values.update({f"alignment/{name}": value for name, value in health.items()})
    values["alignment/diagonal"] = float(is_diagonal(health))
    return values, images


def save(trainer: Trainer, run: Run, position: Position, learning_rate: float, args, ddp: Distributed):
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        gaf = None if trainer.gaf is None else trainer.gaf.value
        scaler = trainer.precision.scaler
        state = training_checkpoint(trainer.model, trainer.optimizer, scaler, learning_rate, position, gaf,
                                    rng_states, vars(args))  # fmt: skip
        save_training_checkpoint(state, run.folder)


def log_step(log: RunLog, progress, iteration: int, losses: dict, result, learning_rate: float, seconds):
    """The original's scalars (training.loss, training.taco_loss, training.mi_loss, grad.norm, grad.gaf,
    learning.rate, duration) and one JSON record per update."""
    if not result.applied:
        message = (
            f"iteration {iteration}: non-finite loss {losses['loss']} / gradient norm {result.grad_norm}"
        )
        log.record(iteration, {"nonfinite_step_skipped": message + "; step skipped"})
        if log.enabled:
            tqdm.write(message + "; step skipped", file=sys.stderr)
        return
    scalars = {"training.loss": losses["loss"], "training.taco_loss": losses["taco_loss"]}
    scalars.update({"grad.norm": result.grad_norm, "learning.rate": learning_rate, "duration": seconds})
    if "mi_loss" in losses:
        scalars.update({"training.mi_loss": losses["mi_loss"], "grad.gaf": losses["gaf"]})
        scalars["training.mi_infeasible"] = losses["mi_infeasible"]
    log.record(iteration, {**losses, **scalars})
    log.scalars(scalars, iteration)
    shown = {"loss": losses["taco_loss"], "mi_loss": losses.get("mi_loss"), "gaf": losses.get("gaf")}
    progress.set_postfix(
        {k: f"{v:.4f}" for k, v in shown.items() if v is not None}, grad_norm=result.grad_norm
    )


def log_validation(log: RunLog, model, iteration: int, values: dict, images: dict, watch) -> None:
    log.record(iteration, values)
    log.scalars(values, iteration)
    for tag, image in images.items():
        log.image(tag, image, iteration)
    if log.writer is not None:  # the original's per-parameter histograms
        for name, parameter in model.named_parameters():
            log.writer.add_histogram(
                name.replace(".", "/"), parameter.detach().float().cpu().numpy(), iteration
            )
    warning = watch.update(values["alignment/score"])
    if warning:
        log.record(iteration, {"alignment_warning": warning})
    if log.enabled:
        shown = ", ".join(f"{k.removeprefix('validation.')} {v:.4f}" for k, v in values.items())
        tqdm.write(f"validation at iteration {iteration}: {shown}", file=sys.stderr)
        if warning:
            tqdm.write(f"warning: {warning}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------
# The loop


def train(args: argparse.Namespace) -> Tacotron2:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    log = None
    try:
        run = prepare_run(args, ddp)
        hparams = run.hparams
        torch.backends.cudnn.enabled = hparams.cudnn_enabled
        torch.backends.cudnn.benchmark = hparams.cudnn_benchmark
        log = RunLog(run.folder / "log.jsonl", run.folder / args.log_directory, ddp.is_main)
        parameters = {"hparams": hparams.to_dict(), "args": vars(args), "world_size": ddp.world_size}
        log.record("PARAMETER", parameters, "METADATA")
        data = build_data(hparams, args, ddp)
        batches_per_epoch = len(epoch_batches(data.sampler, 0, hparams.batch_size))
        trainer, position, learning_rate = build_trainer(run, args, ddp, batches_per_epoch)
        if run.checkpoint is not None:  # last: building the model and the data drew from the RNG
            restore_rng_states(run.checkpoint.get("rng_states_all", []), ddp)
        set_learning_rate(trainer.optimizer, learning_rate)
        watch = AlignmentWatch(args.alignment_patience)
        if ddp.is_main:
            print(f"training on {ddp.device} x{ddp.world_size} ({trainer.precision.name}) in {run.folder}; "
                  f"MMI {'on' if hparams.use_mmi else 'off'}, drop_frame_rate {hparams.drop_frame_rate}",
                  file=sys.stderr)  # fmt: skip

        saved_at, started = position.iteration, time.perf_counter()
        done = args.max_steps is not None and position.iteration >= args.max_steps
        while not done and position.epoch < hparams.epochs:
            batches = epoch_loader(data.train_set, data.sampler, position, hparams.batch_size, hparams.seed,
                                   **data.loader_options)  # fmt: skip
            progress = tqdm(
                batches, desc=f"epoch {position.epoch}", disable=not ddp.is_main, dynamic_ncols=True
            )
            for batch in progress:
                step_started = time.perf_counter()
                losses, result = train_step(trainer, batch, position.next_batch, ddp)
                iteration = position.iteration  # the original's: the index of this update
                position = Position(position.epoch, iteration + 1, position.next_batch + 1)
                seconds = time.perf_counter() - step_started
                log_step(log, progress, iteration, losses, result, learning_rate, seconds)
                trainer.guard.check(f"iteration {iteration}")

                done = args.max_steps is not None and position.iteration >= args.max_steps
                if iteration % hparams.iters_per_checkpoint == 0 or done:
                    with rng_untouched(ddp.device):  # the prenet dropout stays on while validating
                        values, images = validate(trainer, data.val_loader, ddp)
                    log_validation(log, trainer.model, iteration, values, images, watch)
                    save(trainer, run, position, learning_rate, args, ddp)
                    saved_at = position.iteration
                if done:
                    break
            progress.close()
            if not done:
                position = Position(position.epoch + 1, position.iteration, 0)
        if saved_at != position.iteration:  # epochs ran out between two checkpoints: keep the weights
            save(trainer, run, position, learning_rate, args, ddp)
        log.record("END", {"run_time": time.perf_counter() - started, "iterations": position.iteration})
        return trainer.model
    finally:
        if log is not None:
            log.close()
        teardown_distributed(ddp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_config:
        return run_main(lambda: print(hparams_from_args(args)))
    return run_main(lambda: train(args), errors=(FilelistError, DataCheckError, DataError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
