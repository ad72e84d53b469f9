"""Train Flowtron with the original's command line: `python train.py -c config.json -p key=value ...`.

    python train.py -c config.json -p train_config.output_directory=outdir data_config.use_attn_prior=true
    python train.py -c config.json -p train_config.output_directory=outdir --resume     # continue a run
    # phase 2 of the recipe: resume without the attention prior once the alignments look good
    python train.py -c config.json -p train_config.output_directory=outdir \
        data_config.use_attn_prior=false --resume
    torchrun --nproc_per_node 2 train.py -c config.json -p ...   # DDP, one process per GPU (gloo on CPU)

The recipe, as `train()` reads: model, RAdam (torch's, decoupled weight decay: the same updates as the
original's radam.py), the starting point (resume, train_config.checkpoint_path, warm start); then for
each batch `train_step` (forward, NLL + gate + CTC after ctc_loss_start_iter, backward with torch.amp,
clip at grad_clip_val, step), and every iters_per_checkpoint iterations `validate` (losses, attention
images per flow, the gate) and `save`. Options, with the original's names (README.md has recipes):
  * train_config.checkpoint_path: continue from a checkpoint of ours or of the original train.py (weights,
    optimizer unless ignore_layers is set, iteration), or from published weights-only files
    (iteration 0, fresh optimizer: the README's fine-tuning command works, no KeyError);
  * ignore_layers: names that keep their fresh initialisation; finetune_layers: the only names trained
    (gate-only retraining sets both to the two gate tensors);
  * warmstart_checkpoint_path: weights of any Flowtron or Tacotron 2 checkpoint whose names contain one of
    include_layers (honoured here; the original ignores it), with mismatched embedding and speaker
    tensors dropped; iteration 0, fresh optimizer.
What differs from the original, on purpose: everything a run writes is in output_directory (`model_<n>`
checkpoints with `model_last`, `log.jsonl`, TensorBoard in `logs/`); a new run in a used folder needs
--resume or --force; overrides are typed and checked; checkpoints hold optimizer, scaler, every rank's
RNG and the next batch, so a resumed CPU run is bit-identical to an uninterrupted one; checkpoints come
every iters_per_checkpoint steps (the original also after its first); a non-finite step is skipped;
fp16 on CUDA when fp16_run, bf16 on a CPU only with --amp; every line of both lists is checked first.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python train.py`, `torchrun train.py`, as the original): resolve the relative
    # imports below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from filelists.audio import AudioError
from filelists.checks import DataCheckError, require_clean
from filelists.parse import FilelistError

from .arguments import config_from_args, parse_args
from .checkpoints import (
    LAST,
    read_checkpoint_file,
    save_training_checkpoint,
    training_checkpoint,
    training_checkpoint_path,
)
from .config import ConfigError, FlowtronConfig
from .data import Batch, Data, DataError, check_data, collate
from .flowtron import Flowtron
from .infra import (
    AlignmentWatch,
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
from .losses import FlowtronLoss
from .plots import attention_image, gate_image
from .starting_point import freeze_all_but, start_position
from .training_step import LOSS_NAMES, attention_health, losses, make_optimizer

RUN_FOLDER_MARKERS = ("model_*", "log.jsonl")

# ---------------------------------------------------------------------------------------------------
# Setting up a run


class Run(NamedTuple):
    config: FlowtronConfig
    folder: Path
    checkpoint: dict | None  # our training checkpoint to resume from exactly (--resume)


def prepare_run(args: argparse.Namespace, ddp: Distributed) -> Run:
    """The config (the model config of a resumed run must be the checkpoint's), the run folder (claimed
    before anything else), and every line of both filelists checked."""
    config = config_from_args(args)
    folder = Path(config.train_config.output_directory)
    checkpoint = None
    last = training_checkpoint_path(folder, LAST)
    if args.resume and last.exists():
        checkpoint = read_checkpoint_file(last)
        stored = checkpoint.get("model_config")
        if stored != asdict(config.model_config):
            raise ConfigError(f"--resume: model_config differs from {last}'s: {stored}")
    elif args.resume and ddp.is_main:
        print(f"--resume: no {last} yet; starting a new run", file=sys.stderr)
    if ddp.is_main:
        prepare_run_folder(folder, RUN_FOLDER_MARKERS, args.resume, args.force, previous_logs=("log.jsonl",))
    data = config.data_config
    for name in ("training_files", "validation_files"):
        if not Path(getattr(data, name)).is_file():
            raise UserError(f"data_config.{name} {getattr(data, name)}: no such filelist")
    require_clean(check_data([data.training_files, data.validation_files], data, args.dataset_path))
    return Run(config, folder, checkpoint)


class Loaders(NamedTuple):
    train_set: Data
    sampler: DistributedSampler  # shuffles by (seed, epoch), identically on every rank, then shards
    val_loader: DataLoader
    loader_options: dict


def build_data(config: FlowtronConfig, args: argparse.Namespace, ddp: Distributed) -> Loaders:
    train, data, n_mel = config.train_config, config.data_config, config.model_config.n_mel_channels
    train_set = Data(data.training_files, data, n_mel, args.dataset_path, seed=train.seed)
    if len(train_set.speaker_ids) > config.model_config.n_speakers:
        raise ConfigError(
            f"{data.training_files} has {len(train_set.speaker_ids)} speakers but model_config.n_speakers is "
            f"{config.model_config.n_speakers}"
        )
    val_set = Data(data.validation_files, data, n_mel, args.dataset_path, train_set.speaker_ids, train.seed)
    sampler = DistributedSampler(
        train_set, ddp.world_size, ddp.rank, shuffle=True, seed=train.seed, drop_last=True
    )
    if not epoch_batches(sampler, 0, train.batch_size):
        raise UserError(
            f"{data.training_files}: {len(sampler)} utterances per process, fewer than batch_size "
            f"{train.batch_size}; no full batch to train on"
        )
    options = dict(
        collate_fn=collate, num_workers=cpu_workers(args.num_workers), pin_memory=ddp.device.type == "cuda"
    )
    val_sampler = DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False)
    val_loader = DataLoader(val_set, batch_size=train.batch_size, sampler=val_sampler, **options)
    return Loaders(train_set, sampler, val_loader, options)


def use_amp(args: argparse.Namespace, config: FlowtronConfig, device: torch.device) -> bool:
    return args.amp or (config.train_config.fp16_run and device.type == "cuda")


# ---------------------------------------------------------------------------------------------------
# One step, validation, checkpoints


def train_step(
    training_model, batch: Batch, criterion, guard: GuardedStep, precision, ddp, apply_ctc, weight
):
    """Forward, loss, guarded backward and step -> (losses averaged over ranks, StepResult)."""
    guard.snapshot()
    with precision.autocast():
        terms, _ = losses(training_model, batch.to(ddp.device), criterion, apply_ctc, weight)
    reduced = mean_over_ranks(terms, ddp)
    return reduced, guard.step(terms["loss"], reduced["loss"])


@torch.no_grad()
def validate(
    model, loader, criterion, ddp: Distributed, precision: Precision, apply_ctc: bool, weight: float
):
    """Mean validation losses and attention health over all batches of all ranks, in eval mode, and the
    pictures of the first utterance of the first batch (attention per flow, gate), as the original logs
    them."""
    model.eval()
    sums, n_batches, images = {}, 0, {}
    for batch in loader:
        batch = batch.to(ddp.device)
        with precision.autocast():
            terms, output = losses(model, batch, criterion, apply_ctc, weight)
        measured = {f"validation/{name}": float(terms[name]) for name in LOSS_NAMES}
        for name, value in (measured | attention_health(output, batch)).items():
            sums[name] = sums.get(name, 0.0) + value
        n_batches += 1
        if n_batches == 1 and ddp.is_main:
            images = validation_images(batch, output)
    names = sorted(sums)  # the same names on every rank: they follow from the model config
    packed = torch.tensor(
        [sums[name] for name in names] + [n_batches], dtype=torch.float64, device=ddp.device
    )
    totals = all_reduce_sum(packed, ddp).tolist()
    model.train()
    return {name: total / max(totals[-1], 1.0) for name, total in zip(names, totals)}, images


def validation_images(batch: Batch, output) -> dict:
    frames, n_text = int(batch.out_lens[0]), int(batch.in_lens[0])
    images = {
        f"attention_weights_{k}": attention_image(attn[0, :frames, :n_text].float().cpu().numpy())
        for k, attn in enumerate(output.attns)
    }
    if output.gate is not None:
        predicted = torch.sigmoid(output.gate[:frames, 0, 0].float()).cpu().numpy()
        images["gate"] = gate_image(batch.gate_target[0, :frames].cpu().numpy(), predicted)
    return images


def save(run: Run, model, optimizer, precision, position, speaker_ids, args, ddp: Distributed) -> None:
    rng_states = gather_rng_states(ddp)  # a collective: every rank takes part
    if ddp.is_main:
        state = training_checkpoint(
            model, run.config, optimizer, precision.scaler, rng_states, position, speaker_ids, vars(args)
        )
        save_training_checkpoint(state, run.folder)


def log_step(
    log: RunLog, progress, position: Position, terms: dict, result, learning_rate: float, seconds: float
):
    iteration = position.iteration
    if not result.applied:
        loss, norm = terms["loss"], result.grad_norm
        message = f"iteration {iteration}: non-finite loss {loss} / gradient norm {norm}; skipped"
        log.record(iteration, {"nonfinite_step_skipped": message})
        if log.enabled:
            tqdm.write(message, file=sys.stderr)
        return
    values = {f"training/{name}": value for name, value in terms.items()}
    values |= {"learning_rate": learning_rate, "grad_norm": result.grad_norm}
    log.record(iteration, {"epoch": position.epoch, **values, "iteration_time": seconds})
    log.scalars(values, iteration)
    progress.set_postfix(loss=f"{terms['loss']:.4f}", grad_norm=f"{result.grad_norm:.2f}")


def log_validation(
    log: RunLog, position: Position, values: dict, images: dict, watch: AlignmentWatch
) -> None:
    log.record(position.iteration, {"epoch": position.epoch, **values})
    log.scalars(values, position.iteration)
    for tag, image in images.items():
        log.image(tag, image, position.iteration)
    warning = watch.update(values["alignment/score"])
    if warning:
        log.record(position.iteration, {"alignment_warning": warning})
    if log.enabled:
        tqdm.write(
            f"iteration {position.iteration}: validation loss {values['validation/loss']:.5f}, "
            f"alignment score {values['alignment/score']:.3f}",
            file=sys.stderr,
        )
        if warning:
            tqdm.write(f"warning: {warning}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------
# The loop


def train(args: argparse.Namespace) -> Flowtron:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    log = None
    try:
        run = prepare_run(args, ddp)
        train_config, config = run.config.train_config, run.config
        tensorboard = run.folder / "logs" if train_config.with_tensorboard else None
        log = RunLog(run.folder / "log.jsonl", tensorboard, ddp.is_main)
        log.record(
            "PARAMETER", {**config.to_dict(), "args": vars(args), "world_size": ddp.world_size}, "METADATA"
        )

        # The same seed on every rank for the weights (DDP broadcasts rank 0's anyway), then one per rank
        # so that the encoder's dropout masks differ between ranks.
        seed_everything(train_config.seed)
        model = Flowtron(**asdict(config.model_config)).to(ddp.device)
        seed_everything(train_config.seed + ddp.rank)
        freeze_all_but(model, train_config.finetune_layers)
        optimizer = make_optimizer(model, config)
        precision = Precision(ddp.device, use_amp(args, config, ddp.device))
        position = start_position(run.checkpoint, train_config, model, optimizer, precision)
        training_model = wrap_for_training(model, ddp)
        data = build_data(config, args, ddp)
        if run.checkpoint is not None:  # last: building the model and data above drew from the RNG
            restore_rng_states(run.checkpoint.get("rng_states_all", []), ddp)
        clip = train_config.grad_clip_val if train_config.grad_clip_val > 0 else math.inf
        guard = GuardedStep(model, optimizer, precision, clip, args.max_nonfinite_steps)
        criterion = FlowtronLoss(
            train_config.sigma,
            config.model_config.n_components > 1,
            train_config.gate_loss,
            train_config.use_ctc_loss,
            train_config.ctc_loss_weight,
            train_config.blank_logprob,
        )
        if ddp.is_main:
            print(
                f"training on {ddp.device} x{ddp.world_size} ({precision.name}) in {run.folder}",
                file=sys.stderr,
            )

        saved_at, started, done = position.iteration, time.perf_counter(), False
        watch = AlignmentWatch(args.alignment_patience)
        done = args.max_steps is not None and position.iteration >= args.max_steps
        while not done and position.epoch < train_config.epochs:
            data.train_set.set_epoch(position.epoch)
            batches = epoch_loader(
                data.train_set,
                data.sampler,
                position,
                train_config.batch_size,
                train_config.seed,
                **data.loader_options,
            )
            progress = tqdm(
                batches, desc=f"epoch {position.epoch}", disable=not ddp.is_main, dynamic_ncols=True
            )
            for batch in progress:
                apply_ctc = (
                    train_config.use_ctc_loss and position.iteration >= train_config.ctc_loss_start_iter
                )
                step_started = time.perf_counter()
                terms, result = train_step(
                    training_model,
                    batch,
                    criterion,
                    guard,
                    precision,
                    ddp,
                    apply_ctc,
                    train_config.ctc_loss_weight,
                )
                position = position._replace(
                    iteration=position.iteration + 1, next_batch=position.next_batch + 1
                )
                log_step(
                    log,
                    progress,
                    position,
                    terms,
                    result,
                    train_config.learning_rate,
                    time.perf_counter() - step_started,
                )
                guard.check(f"iteration {position.iteration}")

                done = args.max_steps is not None and position.iteration >= args.max_steps
                if position.iteration % train_config.iters_per_checkpoint == 0 or done:
                    with rng_untouched(ddp.device):
                        values, images = validate(
                            model,
                            data.val_loader,
                            criterion,
                            ddp,
                            precision,
                            apply_ctc,
                            train_config.ctc_loss_weight,
                        )
                    log_validation(log, position, values, images, watch)
                    save(run, model, optimizer, precision, position, data.train_set.speaker_ids, args, ddp)
                    saved_at = position.iteration
                if done:
                    break
            progress.close()
            if not done:
                position = Position(position.epoch + 1, position.iteration, 0)
        if saved_at != position.iteration:  # epochs ran out between two checkpoints: keep the weights
            save(run, model, optimizer, precision, position, data.train_set.speaker_ids, args, ddp)
        log.record("END", {"run_time": time.perf_counter() - started, "iterations": position.iteration})
        return model
    finally:
        if log is not None:
            log.close()
        teardown_distributed(ddp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.print_config:
        return run_main(lambda: print(config_from_args(args).to_json()))
    return run_main(lambda: train(args), errors=(FilelistError, DataCheckError, DataError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
