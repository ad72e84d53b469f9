"""Train Neural-HMM: the original's `train.py`, in plain PyTorch instead of PyTorch Lightning.

    python train.py --training-files train.txt --validation-files val.txt -o checkpoints -r my_run
    python train.py ... --resume                           # continue the run in checkpoints/my_run
    python train.py -c checkpoints/my_run/checkpoint_500.ckpt    # resume from a given checkpoint
    python train.py -c Neural-HMM-Female.ckpt -w ...       # warm start (all but the embedding)
    torchrun --nproc_per_node 2 train.py ...               # DDP, one process per GPU (gloo on CPU)

Every `HParams` field keeps the original's name and default (`hparams.py`); `--hparams "name=value,..."`
sets any of them (the original has no override syntax: you edit `src/hparams.py`) and the common ones
have their own flags, which win. `--print-config` shows the resolved configuration and exits.

The recipe, as `train()` reads: data statistics (the original's `data_parameters.pt`), model, Adam; then
for each batch `train_step` (exact forward algorithm, loss = -mean log p(X | text), backward, clip at
`grad_clip_thresh`, step), `validate` every `val_check_interval` iterations, images and `save` every
`save_model_checkpoint`. What differs from the original, on purpose:
  * everything a run writes is in its folder `<checkpoint_dir>/<run_name>/` (checkpoints, `log.jsonl`,
    `tensorboard/`, `data_parameters.pt`); a new run in a used folder needs --resume or --force;
  * the data statistics record which filelist and settings they come from, and are refused for another;
  * the data are reshuffled every epoch by (seed, epoch); a resumed CPU run is bit-identical to an
    uninterrupted one (checkpoints hold optimizer, scaler, every rank's RNG and the next batch);
  * mixed precision: fp16 on CUDA when precision=16 (the original's default); on a CPU float32 unless
    --amp (bf16), since bf16 is slower than fp32 on CPUs without bf16 units;
  * a step with a non-finite loss or gradient is skipped; --max-nonfinite-steps in a row stop the run;
  * every line of both filelists is checked before the first step.
Not supported: `gradient_accumulation_steps` > 1, `stochastic_weight_avg`, `load_mel_from_disk`.
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
    # Run as a file (`python train.py`, `torchrun train.py`, as the original): resolve the relative
    # imports below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from filelists.audio import AudioError
from filelists.checks import DataCheckError, require_clean
from filelists.parse import FilelistError

from .arguments import hparams_from_args, parse_args
from .checkpoints import (
    LAST,
    load_state_dict_checked,
    read_checkpoint,
    read_training_checkpoint,
    resume_position,
    save_training_checkpoint,
    training_checkpoint,
    training_checkpoint_path,
)
from .data import DataError, TextMelDataset, check_data, collate_text_mel
from .data_properties import apply_data_parameters, data_parameters_for_filelist
from .hmm import state_posteriors
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
    barrier,
    cpu_workers,
    epoch_batches,
    epoch_loader,
    gather_rng_states,
    make_adam,
    mean_over_ranks,
    prepare_run_folder,
    restore_rng_states,
    return_freed_memory,
    rng_untouched,
    run_main,
    seed_everything,
    set_learning_rate,
    setup_distributed,
    teardown_distributed,
    wrap_for_training,
)
from .losses import neural_hmm_loss
from .model import NeuralHMM
from .plots import validation_images

RUN_FOLDER_MARKERS = ("checkpoint_*.ckpt", "log.jsonl")

# ---------------------------------------------------------------------------------------------------
# Setting up a run: configuration, run folder, data checks and statistics, data


class Run(NamedTuple):
    hparams: HParams
    folder: Path  # <checkpoint_dir>/<run_name>: everything the run writes
    tensorboard_dir: Path
    checkpoint: dict | None  # the training checkpoint to resume from
    checkpoint_path: str | None


def prepare_run(args: argparse.Namespace, ddp: Distributed) -> Run:
    """Resolve the configuration (a resumed run takes the checkpoint's hparams, with the data statistics it
    was trained with, and the command line on top), claim the run folder, check every filelist line, and
    compute or load the data statistics of a new run."""
    checkpoint_path = args.checkpoint_path
    if args.resume and not checkpoint_path:
        last = training_checkpoint_path(run_folder(hparams_from_args(args)), LAST)
        if last.exists():
            checkpoint_path = str(last)
        elif ddp.is_main:
            print(f"--resume: no {last} yet; starting a new run", file=sys.stderr)
    checkpoint = None
    if checkpoint_path and not args.warm_start:
        checkpoint = read_training_checkpoint(checkpoint_path)
        hparams = hparams_from_args(args, HParams.from_dict(checkpoint["hparams"], strict=False))
    else:
        hparams = hparams_from_args(args)
    folder = run_folder(hparams)
    if ddp.is_main:
        resuming = checkpoint is not None or args.resume
        prepare_run_folder(folder, RUN_FOLDER_MARKERS, resuming, args.force, previous_logs=("log.jsonl",))
    check_filelists(hparams, args.dataset_path)
    if checkpoint is None:
        hparams = with_data_statistics(hparams, args, folder, ddp)
    tensorboard = Path(args.tensorboard_log_dir) / hparams.run_name if args.tensorboard_log_dir else None
    return Run(hparams, folder, tensorboard or folder / "tensorboard", checkpoint, checkpoint_path)


def run_folder(hparams: HParams) -> Path:
    return Path(hparams.checkpoint_dir) / hparams.run_name


def check_filelists(hparams: HParams, dataset_path: str | None) -> None:
    """Every line of both filelists, before any training, by the checks `python -m filelists.validate
    --model neural_hmm` runs (audio readable, complete, at the rate, not silent, long enough for the text's
    states; text speakable through this front end): one DataCheckError listing every bad line."""
    for filelist in (hparams.training_files, hparams.validation_files):
        if not Path(filelist).is_file() and filelist in (HParams.training_files, HParams.validation_files):
            raise UserError(
                f"{filelist} (the hparams.py default, NVIDIA's LJ Speech list) not found: pass "
                "--training-files and --validation-files (LJ Speech lists: python -m filelists.ljspeech)"
            )
    require_clean(check_data([hparams.training_files, hparams.validation_files], hparams, dataset_path))


def with_data_statistics(
    hparams: HParams, args: argparse.Namespace, folder: Path, ddp: Distributed
) -> HParams:
    """hparams with the normaliser, go token and initial transition probability of the training list, read
    from --data-parameters (refused if computed from another list) or computed once by rank 0."""
    cache = Path(args.data_parameters) if args.data_parameters else folder / "data_parameters.pt"
    if ddp.is_main:
        action = "reading" if cache.is_file() else "computing"
        print(f"data statistics: {action} {cache}", file=sys.stderr)
        data_parameters_for_filelist(hparams.training_files, hparams, args.dataset_path, cache)
    barrier(ddp)  # the other ranks read the file rank 0 wrote
    parameters = data_parameters_for_filelist(hparams.training_files, hparams, args.dataset_path, cache)
    return apply_data_parameters(hparams, parameters)


class Data(NamedTuple):
    train_set: TextMelDataset
    sampler: DistributedSampler  # shuffles by (seed, epoch), identically on every rank, then shards
    val_set: TextMelDataset
    val_loader: DataLoader
    loader_options: dict


def build_data(hparams: HParams, args: argparse.Namespace, ddp: Distributed) -> Data:
    # check_filelists has checked every line already.
    train_set = TextMelDataset(hparams.training_files, hparams, args.dataset_path, check=False)
    val_set = TextMelDataset(hparams.validation_files, hparams, args.dataset_path, check=False)
    sampler = DistributedSampler(
        train_set, ddp.world_size, ddp.rank, shuffle=True, seed=hparams.seed, drop_last=True
    )
    if not epoch_batches(sampler, 0, hparams.batch_size):
        raise UserError(
            f"{hparams.training_files}: {len(sampler)} utterances per process, fewer than batch_size "
            f"{hparams.batch_size}; no full batch to train on"
        )
    options = dict(
        collate_fn=collate_text_mel,
        num_workers=cpu_workers(hparams.num_workers),
        pin_memory=ddp.device.type == "cuda",
    )
    val_loader = DataLoader(
        val_set,
        batch_size=hparams.batch_size,
        sampler=DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False),
        generator=torch.Generator().manual_seed(hparams.seed),
        **options,
    )
    return Data(train_set, sampler, val_set, val_loader, options)


def start_position(run: Run, args, model: NeuralHMM, optimizer, precision: Precision) -> Position:
    """Where training starts: the resumed checkpoint's state, a warm start's weights, or scratch."""
    if run.checkpoint is not None:
        load_state_dict_checked(model, run.checkpoint["state_dict"], run.checkpoint_path)
        optimizer.load_state_dict(run.checkpoint["optimizer"])
        set_learning_rate(optimizer, run.hparams.learning_rate)  # a changed --learning-rate applies
        if run.checkpoint.get("scaler"):
            precision.scaler.load_state_dict(run.checkpoint["scaler"])
        return resume_position(run.checkpoint)
    if args.warm_start:
        warm_start(model, args.checkpoint_path, run.hparams.ignore_layers)
    return Position()


def warm_start(model: NeuralHMM, path: str, ignore_layers: list) -> None:
    """The original's `-w`: every weight of the checkpoint except `ignore_layers` (names with or without
    Lightning's `model.` prefix); the ignored ones keep their fresh initialisation."""
    loaded = read_checkpoint(path)
    ignored = {name.removeprefix("model.") for name in ignore_layers}
    state = model.state_dict()
    state.update({k: v for k, v in loaded.state_dict.items() if k not in ignored})
    load_state_dict_checked(model, state, path)


def use_amp(args: argparse.Namespace, hparams: HParams, device: torch.device) -> bool:
    return args.amp or (hparams.precision == 16 and device.type == "cuda")


# ---------------------------------------------------------------------------------------------------
# One step, validation, checkpoints


def to_device(batch, device: torch.device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


def train_step(training_model, batch, guard: GuardedStep, precision: Precision, ddp: Distributed, args):
    """Forward algorithm, loss, guarded backward and step -> (loss averaged over ranks, StepResult)."""
    text, text_lengths, mels, mel_lengths = to_device(batch, ddp.device)
    guard.snapshot()
    with precision.autocast():
        output = training_model(
            text, text_lengths, mels, mel_lengths, gradient_checkpointing=args.gradient_checkpointing
        )
        loss = neural_hmm_loss(output.log_probs)
    reduced = mean_over_ranks({"loss": loss}, ddp)["loss"]
    return reduced, guard.step(loss, reduced)


@torch.no_grad()
def validate(model, loader, ddp: Distributed, precision: Precision) -> tuple[float, dict]:
    """Mean validation loss over all batches of all ranks (the original's `loss/val`), in eval mode (the
    prenet dropout stays on, as hparams.prenet_dropout_while_eval says), and infra.alignment_health of the
    state posteriors (sharpness, monotonicity, coverage, duration spread over the states)."""
    model.eval()
    loss_sum, n_batches, health = 0.0, 0, []
    for batch in loader:
        text, text_lengths, mels, mel_lengths = to_device(batch, ddp.device)
        with precision.autocast():
            output = model(text, text_lengths, mels, mel_lengths)
        loss_sum += float(neural_hmm_loss(output.log_probs))
        n_batches += 1
        hmm = output.hmm
        posteriors = state_posteriors(
            hmm.emission_log_probs, hmm.transition_logits, output.state_lengths, mel_lengths
        )
        health.append(alignment_health(posteriors, output.state_lengths, mel_lengths))
    names = list(health[0]) if health else []
    sums = [loss_sum, n_batches] + [sum(h[name] for h in health) for name in names]
    totals = all_reduce_sum(torch.tensor(sums, dtype=torch.float64, device=ddp.device), ddp).tolist()
    model.train()
    return totals[0] / max(totals[1], 1.0), {
        name: total / totals[1] for name, total in zip(names, totals[2:])
    }


def save(
    run: Run, model, optimizer, precision: Precision, position: Position, args, ddp: Distributed
) -> None:
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        state = training_checkpoint(model, optimizer, precision.scaler, rng_states, position, vars(args))
        save_training_checkpoint(state, run.folder)


def log_step(
    log: RunLog, progress, position: Position, loss: float, result, learning_rate: float, seconds: float
):
    iteration = position.iteration
    if not result.applied:
        message = f"iteration {iteration}: non-finite loss {loss} / gradient norm {result.grad_norm}; skipped"
        log.record(iteration, {"nonfinite_step_skipped": message})
        if log.enabled:
            tqdm.write(message, file=sys.stderr)
        return
    values = {
        "loss/train": loss,
        "grad_2.0_norm_total_step": result.grad_norm,
        "learning_rate": learning_rate,
    }
    log.record(iteration, {"epoch": position.epoch, **values, "iteration_time": seconds})
    log.scalars({**values, "epoch": position.epoch}, iteration)
    progress.set_postfix(loss=f"{loss:.3f}", grad_norm=f"{result.grad_norm:.1f}")


def log_validation(log: RunLog, position: Position, val_loss: float, alignment: dict, watch) -> None:
    values = {"loss/val": val_loss, **{f"alignment/{name}": value for name, value in alignment.items()}}
    log.record(position.iteration, {"epoch": position.epoch, **values})
    log.scalars(values, position.iteration)
    warning = watch.update(alignment["score"]) if alignment else None
    if warning:
        log.record(position.iteration, {"alignment_warning": warning})
    if log.enabled:
        score = f", alignment score {alignment['score']:.3f}" if alignment else ""
        tqdm.write(f"iteration {position.iteration}: validation loss {val_loss:.3f}{score}", file=sys.stderr)
        if warning:
            tqdm.write(f"warning: {warning}", file=sys.stderr)


def log_images(
    log: RunLog, model: NeuralHMM, val_set: TextMelDataset, device: torch.device, step: int
) -> None:
    """The original's images of the first validation utterance (rank 0 only: the others have no writer)."""
    if log.enabled:
        ids, mel = val_set[0]
        for tag, image in validation_images(model, ids.to(device), mel.to(device)).items():
            log.image(tag, image, step)


# ---------------------------------------------------------------------------------------------------
# The loop


def train(args: argparse.Namespace) -> NeuralHMM:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    log = None
    try:
        run = prepare_run(args, ddp)
        hparams = run.hparams
        log = RunLog(run.folder / "log.jsonl", run.tensorboard_dir, ddp.is_main)
        log.record("PARAMETER", {**hparams.to_dict(), **vars(args), "world_size": ddp.world_size}, "METADATA")

        # The same seed on every rank for the weights (DDP broadcasts rank 0's anyway), then one seed per
        # rank so that dropout masks differ between ranks.
        seed_everything(hparams.seed)
        model = NeuralHMM(hparams).to(ddp.device)
        seed_everything(hparams.seed + ddp.rank)
        optimizer = make_adam(model.parameters(), lr=hparams.learning_rate, weight_decay=hparams.weight_decay)
        precision = Precision(ddp.device, use_amp(args, hparams, ddp.device))
        position = start_position(run, args, model, optimizer, precision)
        training_model = wrap_for_training(model, ddp)
        data = build_data(hparams, args, ddp)
        if run.checkpoint is not None:  # last: building the model and data above drew from the RNG
            restore_rng_states(run.checkpoint.get("rng_states_all", []), ddp)
        guard = GuardedStep(model, optimizer, precision, hparams.grad_clip_thresh, args.max_nonfinite_steps)
        if ddp.is_main:
            print(
                f"training on {ddp.device} x{ddp.world_size} ({precision.name}) in {run.folder}",
                file=sys.stderr,
            )

        saved_at, train_loss, val_loss, started = position.iteration, math.nan, math.nan, time.perf_counter()
        watch = AlignmentWatch(args.alignment_patience)
        done = args.max_steps is not None and position.iteration >= args.max_steps
        while not done and position.epoch < hparams.max_epochs:
            batches = epoch_loader(
                data.train_set,
                data.sampler,
                position,
                hparams.batch_size,
                hparams.seed,
                **data.loader_options,
            )
            progress = tqdm(
                batches, desc=f"epoch {position.epoch}", disable=not ddp.is_main, dynamic_ncols=True
            )
            for batch in progress:
                step_started = time.perf_counter()
                loss, result = train_step(training_model, batch, guard, precision, ddp, args)
                if ddp.device.type == "cpu":  # the speaking recipe settles ~2 GB above its first step;
                    return_freed_memory(growth_mib=4096)  # 2 GiB still trimmed every ~5 steps
                position = position._replace(
                    iteration=position.iteration + 1, next_batch=position.next_batch + 1
                )
                seconds = time.perf_counter() - step_started
                log_step(log, progress, position, loss, result, hparams.learning_rate, seconds)
                guard.check(f"iteration {position.iteration}")
                train_loss = loss if result.applied else train_loss

                done = args.max_steps is not None and position.iteration >= args.max_steps
                if position.iteration % hparams.val_check_interval == 0 or done:
                    with rng_untouched(ddp.device):  # the prenet dropout stays on while validating
                        val_loss, alignment = validate(training_model, data.val_loader, ddp, precision)
                    log_validation(log, position, val_loss, alignment, watch)
                if position.iteration % hparams.save_model_checkpoint == 0 or done:
                    with rng_untouched(ddp.device):
                        log_images(log, model, data.val_set, ddp.device, position.iteration)
                    save(run, model, optimizer, precision, position, args, ddp)
                    saved_at = position.iteration
                if done:
                    break
            progress.close()
            if not done:
                position = Position(position.epoch + 1, position.iteration, 0)
        if saved_at != position.iteration:  # max_epochs reached between two checkpoints: keep the weights
            save(run, model, optimizer, precision, position, args, ddp)

        summary = {"run_time": time.perf_counter() - started, "iterations": position.iteration}
        log.record("END", {**summary, "loss/train": train_loss, "loss/val": val_loss})
        return model
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
