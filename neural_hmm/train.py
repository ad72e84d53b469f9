"""Train Neural-HMM (the original's `train.py`, in plain PyTorch instead of PyTorch Lightning).

    python -m neural_hmm.train                                   # hparams.py defaults, LJ Speech lists
    python -m neural_hmm.train -c checkpoints/TestRun/checkpoint_500.ckpt          # resume
    python -m neural_hmm.train -c published.ckpt -w              # warm start (embedding re-initialised)
    python -m neural_hmm.train --hparams "batch_size=16,state_per_phone=1,precision=32" -r NH1
    torchrun --nproc_per_node 2 -m neural_hmm.train ...           # DDP, one process per GPU (gloo on CPU)

Configuration: every `HParams` field keeps the original's name and default (`hparams.py`). The original
has no override syntax (you edit `src/hparams.py`); here `--hparams "name=value,name=value"` sets any
field (values are Python literals: `parameternetwork=[256]`, `train_go=False`; bare words are strings),
and the common ones also have their own flag, which wins over `--hparams`: `-r/--run_name`,
`--checkpoint-dir`, `--tensorboard-log-dir`, `--training-files`, `--validation-files`, `--batch-size`,
`--learning-rate`, `--precision`, `--seed`.

The loop, top to bottom in `train`: data statistics (the original's `data_parameters.pt`, computed when
absent), data, forward (exact forward algorithm), loss = -mean log p(X | text), backward with torch.amp
(precision 16: fp16 autocast + GradScaler on CUDA, bf16 autocast on CPU; 32: off), clip at
`grad_clip_thresh`, Adam step, log, validation every `val_check_interval` iterations, and every
`save_model_checkpoint` iterations the synthesis images and a checkpoint, as in the original. What
differs from the original, on purpose:
  * data order: a DistributedSampler seeded by (seed, epoch) reshuffles every epoch (the original
    shuffles the list once and keeps that order); resuming mid-epoch continues with the next batch, so a
    resumed CPU run gives bit-identical weights to an uninterrupted one;
  * checkpoints hold model, optimizer, AMP scaler, every rank's RNG states, hparams (with the data
    statistics), iteration and epoch, written atomically as
    `<checkpoint_dir>/<run_name>/checkpoint_<iteration>.ckpt` with `checkpoint_last.ckpt` pointing at
    the newest; `load_neural_hmm` / synthesis.py read them;
  * a non-finite loss or gradient skips the step (reported); `--max-nonfinite-steps` in a row stop the
    run without touching the last checkpoint;
  * `--max-steps N` ends the run after N iterations (validated and checkpointed);
  * logs: `<tensorboard_log_dir>/<run_name>/` (TensorBoard) and `<checkpoint_dir>/<run_name>/log.jsonl`;
    no parameter histograms; the alignment images are the forward variables, the state posterior
    occupancy (gradient of log p w.r.t. the emission log-likelihoods) and its most likely state per frame.
Not supported: `gradient_accumulation_steps` > 1 and `stochastic_weight_avg` (an error says so).
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import random
import re
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python train.py`, `torchrun train.py`, as the original): resolve the relative
    # imports below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from filelists.parse import read_filelist  # noqa: E402 - needs the shim above when run as a file
from shared_text.sequence import UnknownSymbolError  # noqa: E402

from .checkpoints import (
    CheckpointError,
    load_state_dict_checked,
    point_last_checkpoint,
    read_checkpoint,
    read_training_checkpoint,
    save_training_checkpoint,
    training_checkpoint_path,
)
from .data import TextMelDataset, collate_text_mel, text_to_ids
from .generate_data_properties import apply_data_parameters, data_parameters_for_filelist
from .hmm import state_posteriors
from .hparams import HParams
from .logger import TrainingLog, plot_matrix, plot_state_path
from .losses import neural_hmm_loss
from .model import NeuralHMM

# ---------------------------------------------------------------------------------------------------
# Command line

# Flag -> HParams field, for the fields that have their own flag.
FIELD_FLAGS = {
    "run_name": ("-r", "--run_name", "--run-name"),
    "checkpoint_dir": ("-o", "--checkpoint-dir", "--output"),
    "tensorboard_log_dir": ("--tensorboard-log-dir",),
    "training_files": ("--training-files",),
    "validation_files": ("--validation-files",),
    "batch_size": ("--batch-size",),
    "learning_rate": ("--learning-rate",),
    "precision": ("--precision",),
    "seed": ("--seed",),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neural_hmm.train",
        description="Train Neural-HMM TTS. Multi-GPU: torchrun --nproc_per_node N -m neural_hmm.train ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # a misspelt or truncated flag is an error, never a silent guess
    )
    parser.add_argument(
        "-c",
        "--checkpoint_path",
        "--checkpoint-path",
        dest="checkpoint_path",
        default=None,
        help="resume from this train.py checkpoint (or, with -w, start from its weights)",
    )
    parser.add_argument(
        "-w",
        "--warm_start",
        "--warm-start",
        dest="warm_start",
        action="store_true",
        help="with -c: load the weights except hparams.ignore_layers, fresh optimizer and step 0",
    )
    parser.add_argument(
        "--hparams", default="", help='HParams overrides, "name=value,name=value" (Python literals)'
    )
    types = {f: type(getattr(HParams(), f)) for f in FIELD_FLAGS}
    for field, flags in FIELD_FLAGS.items():
        parser.add_argument(
            *flags, dest=field, type=types[field], default=None, help=f"HParams.{field} (default: hparams.py)"
        )
    parser.add_argument(
        "--dataset-path", default=None, help="root of relative wav paths (default: list folder)"
    )
    parser.add_argument(
        "--data-parameters",
        default="data_parameters.pt",
        help="data statistics file (the original's); computed from --training-files when absent",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute the output net in backward (the original's gradient_checkpointing branch)",
    )
    parser.add_argument(
        "--max-nonfinite-steps",
        type=int,
        default=10,
        help="stop after this many consecutive iterations with a non-finite loss or gradient",
    )
    return parser


def parse_overrides(text: str) -> dict:
    """'a=1,b=[2, 3],c=word' -> {'a': 1, 'b': [2, 3], 'c': 'word'} (commas inside brackets are kept)."""
    overrides = {}
    for item in re.split(r",(?=\s*\w+\s*=)", text.strip().rstrip(",")):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"--hparams: expected name=value, got {item!r}")
        name, value = (part.strip() for part in item.split("=", 1))
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value  # a bare word, e.g. a path or run name
    return overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warm_start and not args.checkpoint_path:
        parser.error("-w/--warm_start needs -c/--checkpoint_path")
    for name in ("max_steps", "max_nonfinite_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    try:
        parse_overrides(args.hparams)
    except ValueError as error:
        parser.error(str(error))
    return args


def hparams_from_args(args: argparse.Namespace, base: HParams | None = None) -> HParams:
    """`base` (default: hparams.py) with --hparams applied, then the dedicated flags."""
    values = (base or HParams()).to_dict()
    overrides = parse_overrides(args.hparams)
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise ValueError(
            f"--hparams: unknown names {unknown}; the names are HParams' (neural_hmm/hparams.py)"
        )
    for name, value in overrides.items():
        default = values[name]
        if isinstance(default, (bool, int, float, str)) and not isinstance(value, (bool, int, float, str)):
            kind = type(value).__name__
            raise ValueError(f"--hparams: {name}={value!r} is a {kind}, expected a single value")
    values.update(overrides)
    values.update({f: getattr(args, f) for f in FIELD_FLAGS if getattr(args, f) is not None})
    n_mel = values["n_mel_channels"]
    if "go_token_init_value" not in overrides and len(values["go_token_init_value"]) != n_mel:
        # Another mel size: the LJ Speech go token no longer fits; the data statistics replace it anyway.
        values["go_token_init_value"] = [0.0] * n_mel
    hparams = HParams.from_dict(values)
    if hparams.precision not in (16, 32):
        raise ValueError(f"precision must be 16 or 32, got {hparams.precision}")
    if hparams.gradient_accumulation_steps != 1:
        raise ValueError("gradient_accumulation_steps > 1 is not supported by this train.py")
    if hparams.stochastic_weight_avg:
        raise ValueError("stochastic_weight_avg is not supported by this train.py")
    if hparams.load_mel_from_disk:
        raise ValueError("load_mel_from_disk is not supported: mels are computed from the WAVs")
    return hparams


# ---------------------------------------------------------------------------------------------------
# Distributed set-up, seeding and RNG state


class Distributed(NamedTuple):
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """torchrun's RANK / LOCAL_RANK / WORLD_SIZE; a process group only when WORLD_SIZE > 1 (nccl on CUDA,
    gloo on CPU). Each CUDA process uses GPU LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(device_name)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return Distributed(rank, local_rank, world_size, device)


def all_reduce_sum(values: torch.Tensor, ddp: Distributed) -> torch.Tensor:
    if ddp.world_size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(ddp: Distributed) -> None:
    if ddp.world_size > 1:
        dist.barrier()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict:
    """This process's RNG states, in types `torch.load(weights_only=True)` accepts."""
    name, key, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda_all": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (name, torch.from_numpy(key.astype(np.int64)), position, has_gauss, cached_gaussian),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda_all"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_all"])
    name, key, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    random.setstate(state["python"])


def gather_rng_states(ddp: Distributed) -> list[dict]:
    """Every rank's RNG state, in rank order (a collective: all ranks must call it)."""
    if ddp.world_size == 1:
        return [rng_state()]
    states = [None] * ddp.world_size
    dist.all_gather_object(states, rng_state())
    return states


# ---------------------------------------------------------------------------------------------------
# Data, validation, images


def epoch_batches(sampler: DistributedSampler, epoch: int, batch_size: int) -> list[list[int]]:
    """This rank's batches of `epoch` (full batches only), in order: index lists for the DataLoader, so a
    resumed run can start in the middle of an epoch."""
    sampler.set_epoch(epoch)
    indices = list(sampler)
    return [indices[i : i + batch_size] for i in range(0, len(indices) - batch_size + 1, batch_size)]


def to_device(batch, device: torch.device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


@torch.no_grad()
def validate(model, loader, ddp: Distributed, autocast: dict) -> float:
    """Mean validation loss over all batches of all ranks (the original's `loss/val`), in eval mode (the
    prenet dropout stays on, as hparams.prenet_dropout_while_eval says)."""
    model.eval()
    loss_sum, n_batches = 0.0, 0
    for batch in loader:
        text, text_lengths, mels, mel_lengths = to_device(batch, ddp.device)
        with torch.autocast(**autocast):
            output = model(text, text_lengths, mels, mel_lengths)
        loss_sum += float(neural_hmm_loss(output.log_probs))
        n_batches += 1
    totals = all_reduce_sum(torch.tensor([loss_sum, n_batches], dtype=torch.float64, device=ddp.device), ddp)
    model.train()
    return float(totals[0] / max(float(totals[1]), 1.0))


@torch.no_grad()
def log_images(log: TrainingLog, model: NeuralHMM, val_set, device: torch.device, step: int) -> None:
    """The original's validation images for the first validation utterance (rank 0 only): target mel,
    forward variables, state posteriors and their most likely state per frame, transition probabilities,
    and a synthesised mel with the states it travelled."""
    was_training = model.training
    model.eval()
    try:
        ids, mel = val_set[0]
        text, text_lengths = ids.unsqueeze(0).to(device), torch.tensor([len(ids)], device=device)
        mels, mel_lengths = mel.unsqueeze(0).to(device), torch.tensor([mel.shape[1]], device=device)
        output = model(text, text_lengths, mels, mel_lengths)
        n_states = int(output.state_lengths[0])
        frames = mel.shape[1]
        log_alpha = output.hmm.log_alpha_scaled[0, :frames, :n_states].float().cpu()
        hmm = output.hmm
        posterior = state_posteriors(
            hmm.emission_log_probs, hmm.transition_logits, output.state_lengths, mel_lengths
        )
        posterior = posterior[0, :frames, :n_states].cpu()
        transitions = torch.sigmoid(hmm.transition_logits[0, :frames, :n_states].float()).cpu()
        log.image("mel_target", plot_matrix(mel.numpy(), "frame", "mel channel"), step)
        log.image("alignment/log_alpha_scaled", plot_matrix(log_alpha.T.numpy(), "frame", "state"), step)
        log.image("alignment/alpha_scaled", plot_matrix(log_alpha.exp().T.numpy(), "frame", "state"), step)
        log.image("alignment/state_posterior", plot_matrix(posterior.T.numpy(), "frame", "state"), step)
        log.image(
            "alignment/most_likely_state",
            plot_state_path(posterior.argmax(1).numpy(), n_states, "argmax_n P(state n | X) per frame"),
            step,
        )
        log.image(
            "transition_probabilities", plot_matrix(transitions.T.numpy(), "frame", "state (P(leave))"), step
        )
        with warnings.catch_warnings():  # an early model rarely reaches its last state: expected
            warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
            sample = model.synthesise(ids.to(device), max_sampling_time=max(4 * frames, 200))
        synthesised = sample.mel.float().cpu().numpy().T
        if synthesised.shape[1] > 0:
            log.image("synthesised/mel_synthesised", plot_matrix(synthesised, "frame", "mel channel"), step)
            log.image(
                "synthesised/mel_synthesised_normalised",
                plot_matrix(sample.mel_normalised.float().cpu().numpy().T, "frame", "mel channel"),
                step,
            )
        log.image(
            "synthesised/hidden_state_travelled",
            plot_state_path(sample.states_travelled.cpu().numpy(), n_states),
            step,
        )
        log.image(
            "parameters/go_tokens",
            plot_matrix(model.hmm.go_tokens.detach().float().cpu().numpy().T, "AR step", "mel channel"),
            step,
        )
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------------
# Model set-up and checkpoints


class TrainingStopped(RuntimeError):
    """Training cannot go on (too many non-finite losses in a row); the last checkpoint is kept."""


def check_filelists(hparams: HParams, dataset_path: str | None) -> None:
    """Fail before any training with `file:line: problem` for a missing WAV or a character outside the
    symbol table (the sampling rate is checked when the audio is read)."""
    for filelist in (hparams.training_files, hparams.validation_files):
        for utterance in read_filelist(filelist, dataset_path):
            where = f"{utterance.source}:{utterance.line_number}"
            if not utterance.audio_path.is_file():
                raise ValueError(f"{where}: audio file {utterance.audio_path} not found")
            try:
                text_to_ids(utterance.text, hparams.text_cleaners, hparams.phonetise)
            except UnknownSymbolError as error:
                raise ValueError(
                    f"{where}: character {error.symbol!r} of {utterance.text!r} is not in the Neural-HMM "
                    "symbol table"
                ) from None


def prepare_hparams(args: argparse.Namespace, ddp: Distributed) -> tuple[HParams, dict | None]:
    """The run's hparams and, when resuming, the checkpoint. A resumed run takes the checkpoint's hparams
    (with the data statistics it was trained with) and applies the command line on top; a new run (or a
    warm start) takes the data statistics from --data-parameters, computing that file when absent."""
    if args.checkpoint_path and not args.warm_start:
        checkpoint = read_training_checkpoint(args.checkpoint_path)
        hparams = hparams_from_args(args, HParams.from_dict(checkpoint["hparams"], strict=False))
        check_filelists(hparams, args.dataset_path)
        return hparams, checkpoint
    hparams = hparams_from_args(args)
    check_filelists(hparams, args.dataset_path)
    cache = Path(args.data_parameters)
    if ddp.is_main:
        if cache.is_file():
            print(f"data statistics: {cache} (delete it to recompute)", file=sys.stderr)
        else:
            print(f"data statistics: computing from {hparams.training_files} into {cache}", file=sys.stderr)
            cache.parent.mkdir(parents=True, exist_ok=True)
            data_parameters_for_filelist(hparams.training_files, hparams, args.dataset_path, cache)
    barrier(ddp)  # the other ranks read the file rank 0 wrote
    parameters = data_parameters_for_filelist(hparams.training_files, hparams, args.dataset_path, cache)
    return apply_data_parameters(hparams, parameters), None


def warm_start(model: NeuralHMM, path: str, ignore_layers: list) -> None:
    """The original's `-w`: every weight of the checkpoint except `ignore_layers` (names with or without
    Lightning's `model.` prefix); the ignored ones keep their fresh initialisation."""
    loaded = read_checkpoint(path)
    ignored = {name.removeprefix("model.") for name in ignore_layers}
    state = model.state_dict()
    state.update({k: v for k, v in loaded.state_dict.items() if k not in ignored})
    load_state_dict_checked(model, state, path)


# ---------------------------------------------------------------------------------------------------
# Training


def make_adam(parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The original's Adam, through torch's fused kernel where the device has one: the same update, to
    float rounding, in one op over all tensors (the default per-tensor loop takes ~3x longer on CPU)."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # a device without the fused kernel
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def train(args: argparse.Namespace) -> NeuralHMM:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    log = None
    try:
        hparams, checkpoint = prepare_hparams(args, ddp)
        run_dir = Path(hparams.checkpoint_dir) / hparams.run_name
        if ddp.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        log = TrainingLog(
            run_dir / "log.jsonl", Path(hparams.tensorboard_log_dir) / hparams.run_name, ddp.is_main
        )
        log.record("PARAMETER", {**hparams.to_dict(), **vars(args), "world_size": ddp.world_size}, "METADATA")

        # Model, optimizer, mixed precision. The same seed on every rank for the initial weights (DDP
        # broadcasts rank 0's anyway), then one seed per rank so dropout masks differ between ranks.
        seed_everything(hparams.seed)
        model = NeuralHMM(hparams).to(ddp.device)
        seed_everything(hparams.seed + ddp.rank)
        optimizer = make_adam(model.parameters(), lr=hparams.learning_rate, weight_decay=hparams.weight_decay)
        amp = hparams.precision == 16
        use_scaler = amp and ddp.device.type == "cuda"
        scaler = torch.amp.GradScaler(ddp.device.type, enabled=use_scaler)
        autocast = dict(
            device_type=ddp.device.type,
            dtype=torch.float16 if ddp.device.type == "cuda" else torch.bfloat16,
            enabled=amp,
        )

        iteration, epoch, first_batch = 0, 0, 0
        if checkpoint is not None:
            load_state_dict_checked(model, checkpoint["state_dict"], args.checkpoint_path)
            optimizer.load_state_dict(checkpoint["optimizer"])
            for group in optimizer.param_groups:  # a changed learning rate on the command line applies
                group["lr"] = hparams.learning_rate
            if checkpoint.get("scaler"):
                scaler.load_state_dict(checkpoint["scaler"])
            iteration, epoch = checkpoint["iteration"], checkpoint["epoch"]
            first_batch = checkpoint.get("next_batch", 0)
        elif args.warm_start:
            warm_start(model, args.checkpoint_path, hparams.ignore_layers)
        training_model = model
        if ddp.world_size > 1:  # DDP averages gradients across ranks during backward
            device_ids = [ddp.device.index] if ddp.device.type == "cuda" else None
            training_model = DistributedDataParallel(model, device_ids=device_ids)

        # Data: the sampler shuffles by (seed, epoch), identically on every rank, then shards.
        train_set = TextMelDataset(hparams.training_files, hparams, args.dataset_path)
        val_set = TextMelDataset(hparams.validation_files, hparams, args.dataset_path)
        train_sampler = DistributedSampler(
            train_set, ddp.world_size, ddp.rank, shuffle=True, seed=hparams.seed, drop_last=True
        )
        loader_options = dict(
            collate_fn=collate_text_mel,
            num_workers=hparams.num_workers,
            pin_memory=ddp.device.type == "cuda",
        )
        val_loader = DataLoader(
            val_set,
            batch_size=hparams.batch_size,
            sampler=DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False),
            generator=torch.Generator().manual_seed(hparams.seed),
            **loader_options,
        )
        if not epoch_batches(train_sampler, 0, hparams.batch_size):
            raise ValueError(
                f"{hparams.training_files}: {len(train_sampler)} utterances per process, fewer than "
                f"batch_size {hparams.batch_size}; no full batch to train on"
            )

        if checkpoint is not None:  # restore RNG last: building the model and data above drew from it
            states = checkpoint.get("rng_states_all", [])
            if len(states) == ddp.world_size:
                set_rng_state(states[ddp.rank])
            elif ddp.is_main:
                print(
                    f"checkpoint has RNG states of {len(states)} ranks, not {ddp.world_size}: not restored",
                    file=sys.stderr,
                )

        def save_checkpoint(next_batch: int) -> None:
            rng_states_all = gather_rng_states(ddp)  # a collective: every rank takes part
            if ddp.is_main:
                state = {
                    "state_dict": model.state_dict(),  # the unwrapped model: no `module.` prefix
                    "hparams": hparams.to_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng_states_all": rng_states_all,
                    "iteration": iteration,
                    "epoch": epoch,
                    "next_batch": next_batch,
                    "args": vars(args),
                }
                path = save_training_checkpoint(state, training_checkpoint_path(run_dir, iteration))
                point_last_checkpoint(path, training_checkpoint_path(run_dir, "last"))
            saved_at.append(iteration)

        saved_at = [iteration if checkpoint is not None else -1]

        run_started = time.perf_counter()
        train_loss = val_loss = math.nan
        nonfinite_in_a_row = 0
        done = args.max_steps is not None and iteration >= args.max_steps
        while not done and epoch < hparams.max_epochs:
            batches = epoch_batches(train_sampler, epoch, hparams.batch_size)
            # An own generator: creating a DataLoader iterator otherwise draws from the global RNG, and a
            # run resumed mid-epoch creates one more than an uninterrupted run.
            generator = torch.Generator().manual_seed(hparams.seed + epoch)
            loader = DataLoader(
                train_set, batch_sampler=batches[first_batch:], generator=generator, **loader_options
            )
            training_model.train()
            progress = tqdm(loader, desc=f"epoch {epoch}", disable=not ddp.is_main, dynamic_ncols=True)
            for batch_index, batch in enumerate(progress, start=first_batch):
                started = time.perf_counter()
                text, text_lengths, mels, mel_lengths = to_device(batch, ddp.device)
                optimizer.zero_grad(set_to_none=True)
                # The forward pass updates BatchNorm statistics: keep them to undo a non-finite step.
                buffers_before = [buffer.clone() for buffer in model.buffers()]
                with torch.autocast(**autocast):
                    output = training_model(
                        text,
                        text_lengths,
                        mels,
                        mel_lengths,
                        gradient_checkpointing=args.gradient_checkpointing,
                    )
                    loss = neural_hmm_loss(output.log_probs)
                # Averaged over ranks first, so every rank takes the same skip decision.
                reduced = float(all_reduce_sum(loss.detach().float().reshape(1), ddp)) / ddp.world_size
                iteration += 1

                grad_norm = math.nan
                if math.isfinite(reduced):
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    grad_norm = float(
                        torch.nn.utils.clip_grad_norm_(model.parameters(), hparams.grad_clip_thresh)
                    )
                # With fp16 the scaler skips steps with inf/NaN gradients and lowers its scale: routine.
                if math.isfinite(reduced) and (use_scaler or math.isfinite(grad_norm)):
                    scaler.step(optimizer)
                    scaler.update()
                    nonfinite_in_a_row = 0
                    train_loss = reduced
                    log.record(
                        iteration,
                        {
                            "epoch": epoch,
                            "loss/train": reduced,
                            "grad_norm": grad_norm,
                            "learning_rate": hparams.learning_rate,
                            "iteration_time": time.perf_counter() - started,
                        },
                    )
                    log.scalars(
                        {
                            "loss/train": reduced,
                            "grad_2.0_norm_total_step": grad_norm,
                            "learning_rate": hparams.learning_rate,
                            "epoch": epoch,
                        },
                        iteration,
                    )
                    progress.set_postfix(loss=f"{reduced:.3f}", grad_norm=f"{grad_norm:.1f}")
                else:
                    nonfinite_in_a_row += 1
                    optimizer.zero_grad(set_to_none=True)
                    with torch.no_grad():
                        for buffer, saved in zip(model.buffers(), buffers_before):
                            buffer.copy_(saved)
                    message = (
                        f"iteration {iteration} (epoch {epoch}): non-finite loss {reduced} / gradient norm "
                        f"{grad_norm}; step skipped ({nonfinite_in_a_row} in a row)"
                    )
                    log.record(iteration, {"nonfinite_step_skipped": message})
                    if ddp.is_main:
                        tqdm.write(message, file=sys.stderr)
                    if nonfinite_in_a_row >= args.max_nonfinite_steps:
                        raise TrainingStopped(
                            f"stopped after {nonfinite_in_a_row} consecutive non-finite iterations (last: "
                            f"{iteration}); the last checkpoint in {run_dir} is unchanged"
                        )

                done = args.max_steps is not None and iteration >= args.max_steps
                if iteration % hparams.val_check_interval == 0 or done:
                    val_loss = validate(training_model, val_loader, ddp, autocast)
                    log.record(iteration, {"epoch": epoch, "loss/val": val_loss})
                    log.scalars({"loss/val": val_loss}, iteration)
                    if ddp.is_main:
                        tqdm.write(f"iteration {iteration}: validation loss {val_loss:.3f}", file=sys.stderr)
                if iteration % hparams.save_model_checkpoint == 0 or done:
                    if ddp.is_main:
                        log_images(log, model, val_set, ddp.device, iteration)
                    save_checkpoint(batch_index + 1)
                if done:
                    break
            progress.close()
            if not done:
                epoch, first_batch = epoch + 1, 0
        if saved_at[-1] != iteration:  # max_epochs reached between two checkpoints: keep the final weights
            save_checkpoint(0)

        log.record(
            "END",
            {
                "run_time": time.perf_counter() - run_started,
                "iterations": iteration,
                "loss/train": train_loss,
                "loss/val": val_loss,
            },
        )
        return model
    finally:
        if log is not None:
            log.close()
        if ddp.world_size > 1:
            dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (TrainingStopped, CheckpointError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
