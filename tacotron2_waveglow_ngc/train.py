"""Train Tacotron 2 or WaveGlow, with the command line of NVIDIA DeepLearningExamples' `train.py`.

    python -m tacotron2_waveglow_ngc.train -m Tacotron2 -o output/ -d LJSpeech-1.1 -lr 1e-3 \\
        --epochs 1501 -bs 48 --weight-decay 1e-6 --grad-clip-thresh 1.0 --cudnn-enabled \\
        --anneal-steps 500 1000 1500 --anneal-factor 0.1 --amp
    torchrun --nproc_per_node 8 -m tacotron2_waveglow_ngc.train ...      # one process per GPU

The loop, top to bottom in `train`: data, forward, loss, backward with torch.amp, gradient clipping,
optimizer step, logging, validation every epoch, checkpoint. What differs from DLE, on purpose:
  * arguments go through `parse_args`, so a misspelt flag is an error (DLE's `parse_known_args`
    ignores it); multi-GPU runs use `torchrun`'s environment instead of DLE's `multiproc.py`;
  * `--amp` on CUDA is fp16 autocast + GradScaler with the decoder's two LSTMCells in fp32 (the NGC
    recipe); on CPU it is bf16 autocast without a scaler;
  * checkpoints also hold the iteration, the arguments and every rank's RNG states (torch, CUDA,
    numpy, python), and are written atomically; a resumed CPU run gives bit-identical weights to an
    uninterrupted one, because data order and WaveGlow crops are seeded by (seed, epoch);
  * a non-finite loss skips the step (reported with the iteration); `--max-nonfinite-steps` in a row
    stop the run without touching the last checkpoint;
  * `--log-file` holds one JSON object per line in DLLogger's record layout (see `logger.py`): per
    iteration `train_loss`, `train_iter_items/sec`, `learning_rate`, `grad_norm`, `train_iter_time`; per
    epoch `train_loss` (the epoch's mean; DLE logs the last iteration's), `train_epoch_items/sec`,
    `train_epoch_time`, `val_loss`, `val_items/sec`. Items are mel frames (Tacotron 2) or audio samples
    (WaveGlow), summed over ranks. TensorBoard scalars and validation images go to `<output>/tensorboard`;
  * `--max-steps N` ends the run after N iterations in all: the current epoch is cut short, validated
    and checkpointed (a resumed run continues with the next epoch).
Not carried over: DLE's `--config-file`, `--bench-class` and the flags it parses but never uses.
"""

import argparse
import math
import os
import random
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python train.py`, `torchrun train.py`, as in DLE): resolve the relative imports
    # below against this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .checkpoints import (
    CheckpointError,
    point_last_checkpoint,
    read_training_checkpoint,
    save_training_checkpoint,
    training_checkpoint_path,
)
from .config import Tacotron2Config, WaveGlowConfig
from .data import AudioSegmentDataset, TextMelCollate, TextMelDataset
from .logger import TrainingLog
from .losses import Tacotron2Loss, WaveGlowLoss
from .tacotron2_model import Tacotron2
from .waveglow_model import WaveGlow

MODEL_NAMES = ("Tacotron2", "WaveGlow")
# Tacotron2Config fields that are not model flags: the mel size is an audio flag shared with WaveGlow.
TACOTRON2_NON_FLAGS = ("n_mel_channels",)


# ---------------------------------------------------------------------------------------------------
# Command line


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tacotron2_waveglow_ngc.train",
        description="Train Tacotron 2 or WaveGlow (NVIDIA DeepLearningExamples recipe). Multi-GPU: "
        "torchrun --nproc_per_node N -m tacotron2_waveglow_ngc.train ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # a misspelt or truncated flag is an error, never a silent guess
    )
    parser.add_argument("-m", "--model-name", required=True, choices=MODEL_NAMES, help="model to train")
    parser.add_argument("-o", "--output", required=True, help="folder for checkpoints, log and tensorboard/")
    parser.add_argument("-d", "--dataset-path", default="./", help="root of the relative paths in filelists")
    parser.add_argument("--log-file", default="nvlog.json", help="JSON-lines log, relative to --output")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")

    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, required=True, help="number of epochs to run")
    training.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    training.add_argument("--epochs-per-checkpoint", type=int, default=50, help="checkpoint every N epochs")
    training.add_argument("--checkpoint-path", default="", help="resume from this checkpoint")
    training.add_argument(
        "--resume-from-last", action="store_true", help="resume from <output>/checkpoint_<model>_last.pt"
    )
    training.add_argument("--seed", type=int, default=None, help="seed (None: weights unseeded, data seed 0)")
    training.add_argument("--amp", action="store_true", help="mixed precision: fp16 on CUDA, bf16 on CPU")
    training.add_argument(
        "--cudnn-enabled", action="store_true", help="enable cuDNN (off unless given, as DLE)"
    )
    training.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick the fastest kernels")
    training.add_argument(
        "--disable-uniform-initialize-bn-weight",
        action="store_true",
        help="keep PyTorch's BatchNorm weight init (ones) instead of DLE's U[0,1)",
    )
    training.add_argument(
        "--max-nonfinite-steps",
        type=int,
        default=10,
        help="stop after this many consecutive iterations with a non-finite loss or gradient",
    )

    optimization = parser.add_argument_group("optimization")
    optimization.add_argument("-lr", "--learning-rate", type=float, required=True, help="learning rate")
    optimization.add_argument("--weight-decay", type=float, default=1e-6, help="Adam weight decay (L2)")
    optimization.add_argument(
        "--grad-clip-thresh", type=float, default=1.0, help="gradient L2-norm clip (Tacotron 2 only)"
    )
    optimization.add_argument("-bs", "--batch-size", type=int, required=True, help="batch size per process")
    optimization.add_argument(
        "--anneal-steps", nargs="*", type=int, default=None, help="epochs at which the learning rate drops"
    )
    optimization.add_argument("--anneal-factor", type=float, choices=(0.1, 0.3), default=0.1)

    data = parser.add_argument_group("dataset")
    data.add_argument("--load-mel-from-disk", action="store_true", help="filelists name .pt mels, not WAVs")
    data.add_argument("--training-files", default="filelists/ljs_audio_text_train_filelist.txt")
    data.add_argument("--validation-files", default="filelists/ljs_audio_text_val_filelist.txt")
    data.add_argument("--text-cleaners", nargs="*", default=["english_cleaners"])
    data.add_argument("--num-workers", type=int, default=1, help="DataLoader worker processes")

    audio = parser.add_argument_group("audio")
    audio.add_argument("--max-wav-value", type=float, default=32768.0)
    audio.add_argument("--sampling-rate", type=int, default=22050)
    audio.add_argument("--filter-length", type=int, default=1024)
    audio.add_argument("--hop-length", type=int, default=256)
    audio.add_argument("--win-length", type=int, default=1024)
    audio.add_argument("--mel-fmin", type=float, default=0.0)
    audio.add_argument("--mel-fmax", type=float, default=8000.0)
    audio.add_argument("--n-mel-channels", type=int, default=80)

    tacotron2 = parser.add_argument_group("Tacotron 2 model (Tacotron2Config)")
    for field in fields(Tacotron2Config):
        if field.name in TACOTRON2_NON_FLAGS:
            continue
        if field.type in (bool, "bool"):
            action = "store_true" if not field.default else argparse.BooleanOptionalAction
            tacotron2.add_argument(_flag(field.name), action=action, default=field.default)
        else:
            tacotron2.add_argument(_flag(field.name), type=field.type, default=field.default)

    waveglow = parser.add_argument_group("WaveGlow model")
    waveglow.add_argument("--flows", type=int, default=12, help="number of flows")
    waveglow.add_argument("--groups", type=int, default=8, help="audio samples folded into channels")
    waveglow.add_argument("--early-every", type=int, default=4, help="flows between early outputs")
    waveglow.add_argument("--early-size", type=int, default=2, help="channels output early")
    waveglow.add_argument("--sigma", type=float, default=1.0, help="standard deviation of the prior")
    waveglow.add_argument("--segment-length", type=int, default=4000, help="audio samples per item")
    waveglow.add_argument("--wn-kernel-size", type=int, default=3)
    waveglow.add_argument("--wn-channels", type=int, default=512)
    waveglow.add_argument("--wn-layers", type=int, default=8)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "epochs_per_checkpoint", "max_nonfinite_steps", "max_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return args


def model_config(args: argparse.Namespace) -> Tacotron2Config | WaveGlowConfig:
    """The model's config object from the command line."""
    if args.model_name == "Tacotron2":
        values = {f.name: getattr(args, f.name) for f in fields(Tacotron2Config)}
        return Tacotron2Config(**values)
    return WaveGlowConfig(
        n_mel_channels=args.n_mel_channels,
        n_flows=args.flows,
        n_group=args.groups,
        n_early_every=args.early_every,
        n_early_size=args.early_size,
        WN_config={
            "n_layers": args.wn_layers,
            "kernel_size": args.wn_kernel_size,
            "n_channels": args.wn_channels,
        },
    )


def build_model(config: Tacotron2Config | WaveGlowConfig, uniform_bn_weight: bool = False) -> torch.nn.Module:
    if isinstance(config, WaveGlowConfig):
        return WaveGlow(**config.to_dict())
    model = Tacotron2(config)
    if uniform_bn_weight:
        # DLE's train.py redraws every BatchNorm weight from U[0,1), PyTorch's default before 1.2,
        # unless --disable-uniform-initialize-bn-weight; NVIDIA/tacotron2 keeps the ones.
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                torch.nn.init.uniform_(module.weight)
    return model


def learning_rate_at(epoch: int, learning_rate: float, anneal_steps, anneal_factor: float) -> float:
    """DLE's epoch-based annealing. p = number of anneal steps <= epoch; factor 0.1: lr * 0.1^p;
    factor 0.3: lr * 0.1^(p // 2), times 0.3 when p is odd (1, 0.3, 0.1, 0.03, ...)."""
    p = sum(epoch >= step for step in anneal_steps or ())
    if anneal_factor == 0.3:
        return learning_rate * 0.1 ** (p // 2) * (0.3 if p % 2 else 1.0)
    return learning_rate * anneal_factor**p


# ---------------------------------------------------------------------------------------------------
# Distributed set-up, seeding and RNG state (everything DDP lives here and in `all_reduce_sum`)


class Distributed(NamedTuple):
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """Read torchrun's RANK / LOCAL_RANK / WORLD_SIZE; start a process group only when WORLD_SIZE > 1
    (nccl on CUDA, gloo on CPU). Each CUDA process uses GPU LOCAL_RANK."""
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


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
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
# Data


def build_datasets(args: argparse.Namespace):
    """(train set, validation set, collate function) for the chosen model."""
    audio = dict(
        sampling_rate=args.sampling_rate,
        max_wav_value=args.max_wav_value,
        filter_length=args.filter_length,
        hop_length=args.hop_length,
        win_length=args.win_length,
        n_mel_channels=args.n_mel_channels,
        mel_fmin=args.mel_fmin,
        mel_fmax=args.mel_fmax,
    )
    if args.model_name == "Tacotron2":

        def dataset(filelist):
            return TextMelDataset(
                filelist,
                args.dataset_path,
                args.text_cleaners,
                **audio,
                load_mel_from_disk=args.load_mel_from_disk,
            )

        return (
            dataset(args.training_files),
            dataset(args.validation_files),
            TextMelCollate(args.n_frames_per_step),
        )

    def segments(filelist):
        return AudioSegmentDataset(
            filelist, args.dataset_path, args.segment_length, **audio, seed=args.seed or 0
        )

    return segments(args.training_files), segments(args.validation_files), None


def forward_and_loss(model_name: str, model, batch, criterion, device: torch.device):
    """One batch through the model -> ({'loss': total, other terms...}, items, outputs).

    Items are what DLE counts for throughput: mel frames (Tacotron 2) or audio samples (WaveGlow).
    """
    if model_name == "Tacotron2":
        text, input_lengths, mel, gate, output_lengths = (t.to(device, non_blocking=True) for t in batch)
        outputs = model(text, input_lengths, mel, output_lengths)
        terms = criterion(outputs, mel, gate, output_lengths)
        losses = {
            "loss": terms.total,
            "mel_loss": terms.mel_loss,
            "mel_postnet_loss": terms.mel_postnet_loss,
            "gate_loss": terms.gate_loss,
        }
        return losses, int(batch.output_lengths.sum()), outputs
    mel, audio = (t.to(device, non_blocking=True) for t in batch)
    outputs = model(mel, audio)
    return {"loss": criterion(outputs)}, audio.numel(), outputs


def reduce_losses(losses: dict, n_items: int, ddp: Distributed) -> tuple[dict, int]:
    """Loss terms averaged over ranks and items summed over ranks, as Python numbers (one collective)."""
    values = torch.stack([value.detach().float() for value in losses.values()])
    values = torch.cat([values, values.new_tensor([n_items])])
    values = all_reduce_sum(values, ddp).tolist()
    return {name: value / ddp.world_size for name, value in zip(losses, values[:-1])}, int(values[-1])


# ---------------------------------------------------------------------------------------------------
# Validation and checkpoints


@torch.no_grad()
def validate(args, model, loader, criterion, ddp: Distributed, autocast: dict):
    """Mean validation loss over all batches of all ranks, items/s, and the first batch and outputs."""
    model.eval()
    loss_sum, n_batches, n_items, first = 0.0, 0, 0, None
    started = time.perf_counter()
    for batch in loader:
        with torch.autocast(**autocast):
            losses, items, outputs = forward_and_loss(args.model_name, model, batch, criterion, ddp.device)
        loss_sum += float(losses["loss"])
        n_batches += 1
        n_items += items
        if first is None:
            first = (batch, outputs)
    totals = all_reduce_sum(
        torch.tensor([loss_sum, n_batches, n_items], dtype=torch.float64, device=ddp.device), ddp
    ).tolist()
    model.train()
    val_loss = totals[0] / max(totals[1], 1)
    return val_loss, totals[2] / (time.perf_counter() - started), first


def load_for_resume(args, config, model, optimizer, scaler) -> dict | None:
    """The checkpoint to resume from (weights, optimizer and scaler loaded), or None to start afresh."""
    path = args.checkpoint_path
    if not path and args.resume_from_last:
        last = training_checkpoint_path(args.output, args.model_name, "last")
        if not last.exists():
            print(f"--resume-from-last: no {last} yet; training from scratch", file=sys.stderr)
            return None
        path = str(last)
    if not path:
        return None
    checkpoint = read_training_checkpoint(path, args.model_name)
    saved, wanted = checkpoint["config"], config.to_dict()
    # Only the checkpoint's keys are compared: DLE's configs lack our extra keys (e.g. prenet_dropout).
    differences = [
        f"{k}: checkpoint {v!r}, command line {wanted.get(k)!r}"
        for k, v in saved.items()
        if v != wanted.get(k)
    ]
    if differences:
        raise CheckpointError(f"{path}: the model flags differ from the checkpoint's config: {differences}")
    model.load_state_dict(checkpoint["state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    return checkpoint


class TrainingStopped(RuntimeError):
    """Training cannot go on (too many non-finite losses in a row); the last checkpoint is kept."""


# ---------------------------------------------------------------------------------------------------
# Training


def make_adam(parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The original's Adam, through torch's fused kernel where the device has one: the same update, to
    float rounding, in one op over all tensors (the default per-tensor loop takes ~3x longer on CPU:
    1.36 vs 0.41 s per step for WaveGlow's 88M weights)."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # a device without the fused kernel
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def train(args: argparse.Namespace) -> torch.nn.Module:
    """Run training as configured by `args`; returns the trained (unwrapped) model of this process."""
    ddp = setup_distributed(args.device)
    output = Path(args.output)
    log = None
    try:
        if ddp.is_main:
            output.mkdir(parents=True, exist_ok=True)
        torch.backends.cudnn.enabled = args.cudnn_enabled
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        if args.seed is not None:
            seed_everything(args.seed + ddp.rank)  # different dropout per rank; DDP syncs the weights
        log = TrainingLog(output, args.log_file, ddp.is_main)
        parameters = {**vars(args), "model_name": f"{args.model_name}_PyT", "world_size": ddp.world_size}
        log.record("PARAMETER", parameters, kind="METADATA")

        # Model, loss, optimizer, mixed precision.
        config = model_config(args)
        model = build_model(config, uniform_bn_weight=not args.disable_uniform_initialize_bn_weight)
        model = model.to(ddp.device)
        criterion = Tacotron2Loss() if args.model_name == "Tacotron2" else WaveGlowLoss(args.sigma)
        optimizer = make_adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        use_scaler = args.amp and ddp.device.type == "cuda"
        scaler = torch.amp.GradScaler(ddp.device.type, enabled=use_scaler)
        autocast = dict(
            device_type=ddp.device.type,
            dtype=torch.float16 if ddp.device.type == "cuda" else torch.bfloat16,
            enabled=args.amp,
        )
        # WaveGlow is not clipped in DLE (threshold 3.4e38): the norm is only computed for the log.
        clip_threshold = args.grad_clip_thresh if args.model_name == "Tacotron2" else math.inf

        start_epoch, iteration = 0, 0
        checkpoint = load_for_resume(args, config, model, optimizer, scaler)
        if checkpoint is not None:
            start_epoch, iteration = checkpoint["epoch"] + 1, checkpoint.get("iteration", 0)
        training_model = model
        if ddp.world_size > 1:  # DDP averages gradients across ranks during backward
            device_ids = [ddp.device.index] if ddp.device.type == "cuda" else None
            training_model = DistributedDataParallel(model, device_ids=device_ids)

        # Data: the sampler shuffles by (seed, epoch), identically on every rank, then shards.
        train_set, val_set, collate = build_datasets(args)
        data_seed = args.seed or 0
        train_sampler = DistributedSampler(train_set, ddp.world_size, ddp.rank, shuffle=True, seed=data_seed)
        val_sampler = DistributedSampler(val_set, ddp.world_size, ddp.rank, shuffle=False)
        loader_options = dict(
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            collate_fn=collate,
            pin_memory=ddp.device.type == "cuda",
        )
        train_loader = DataLoader(train_set, sampler=train_sampler, drop_last=True, **loader_options)
        val_loader = DataLoader(val_set, sampler=val_sampler, **loader_options)
        if len(train_loader) == 0:
            raise ValueError(
                f"{args.training_files}: {len(train_sampler)} utterances per process, fewer than "
                f"--batch-size {args.batch_size}; no full batch to train on"
            )

        if checkpoint is not None:  # restore RNG last: building the model and loaders above drew from it
            states = checkpoint.get("rng_states_all", [])
            if len(states) == ddp.world_size:
                set_rng_state(states[ddp.rank])
            elif ddp.is_main:
                print(
                    f"checkpoint has RNG states of {len(states)} ranks, not {ddp.world_size}: not restored",
                    file=sys.stderr,
                )

        run_started = time.perf_counter()
        train_loss = val_loss = math.nan
        epoch_items_per_sec: list[float] = []
        nonfinite_in_a_row = 0
        reached_max_steps = args.max_steps is not None and iteration >= args.max_steps
        for epoch in range(start_epoch, args.epochs):
            if reached_max_steps:
                break
            epoch_started = time.perf_counter()
            learning_rate = learning_rate_at(epoch, args.learning_rate, args.anneal_steps, args.anneal_factor)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
            train_sampler.set_epoch(epoch)
            if isinstance(train_set, AudioSegmentDataset):
                train_set.set_epoch(epoch)
            training_model.train()
            epoch_losses, epoch_items = [], 0

            progress = tqdm(train_loader, desc=f"epoch {epoch}", disable=not ddp.is_main, dynamic_ncols=True)
            for batch in progress:
                iteration_started = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                # The forward pass updates BatchNorm statistics: keep them to undo a non-finite step.
                buffers_before = [buffer.clone() for buffer in model.buffers()]
                with torch.autocast(**autocast):
                    losses, n_items, _ = forward_and_loss(
                        args.model_name, training_model, batch, criterion, ddp.device
                    )
                # Averaged over ranks first, so every rank takes the same skip decision.
                reduced, n_items = reduce_losses(losses, n_items, ddp)
                iteration += 1

                grad_norm = math.nan
                if math.isfinite(reduced["loss"]):
                    scaler.scale(losses["loss"]).backward()
                    scaler.unscale_(optimizer)
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip_threshold))
                # With fp16 the scaler skips steps with inf/NaN gradients and lowers its scale: routine.
                step_ok = math.isfinite(reduced["loss"]) and (use_scaler or math.isfinite(grad_norm))
                if step_ok:
                    scaler.step(optimizer)
                    scaler.update()
                    nonfinite_in_a_row = 0
                else:
                    nonfinite_in_a_row += 1
                    with torch.no_grad():
                        for buffer, saved in zip(model.buffers(), buffers_before):
                            buffer.copy_(saved)
                    message = (
                        f"iteration {iteration} (epoch {epoch}): non-finite loss {reduced['loss']} / "
                        f"gradient norm {grad_norm}; step skipped ({nonfinite_in_a_row} in a row)"
                    )
                    log.record([epoch, iteration], {"nonfinite_step_skipped": message})
                    if ddp.is_main:
                        tqdm.write(message, file=sys.stderr)
                    if nonfinite_in_a_row >= args.max_nonfinite_steps:
                        raise TrainingStopped(
                            f"stopped after {nonfinite_in_a_row} consecutive non-finite iterations (last: "
                            f"{iteration}); the last checkpoint in {output} is unchanged"
                        )
                    continue

                iteration_time = time.perf_counter() - iteration_started
                items_per_sec = n_items / iteration_time
                epoch_losses.append(reduced["loss"])
                epoch_items += n_items
                log.record(
                    [epoch, iteration],
                    {
                        "train_loss": reduced["loss"],
                        "train_iter_items/sec": items_per_sec,
                        "learning_rate": learning_rate,
                        "grad_norm": grad_norm,
                        "train_iter_time": iteration_time,
                    },
                )
                log.scalars(
                    "train",
                    {
                        **reduced,
                        "learning_rate": learning_rate,
                        "grad_norm": grad_norm,
                        "items_per_sec": items_per_sec,
                    },
                    iteration,
                )
                progress.set_postfix(loss=f"{reduced['loss']:.4f}", grad_norm=f"{grad_norm:.3f}")
                if args.max_steps is not None and iteration >= args.max_steps:
                    reached_max_steps = True
                    break
            progress.close()

            epoch_time = time.perf_counter() - epoch_started
            val_loss, val_items_per_sec, (val_batch, val_outputs) = validate(
                args, model, val_loader, criterion, ddp, autocast
            )
            train_loss = float(np.mean(epoch_losses)) if epoch_losses else math.nan
            epoch_items_per_sec.append(epoch_items / epoch_time)
            log.record(
                [epoch],
                {
                    "train_loss": train_loss,
                    "train_epoch_items/sec": epoch_items / epoch_time,
                    "train_epoch_time": epoch_time,
                    "val_loss": val_loss,
                    "val_items/sec": val_items_per_sec,
                },
            )
            log.scalars("validation", {"loss": val_loss}, iteration)
            if args.model_name == "Tacotron2":
                log.tacotron2_images(val_batch, val_outputs, iteration)
            if ddp.is_main:
                tqdm.write(
                    f"epoch {epoch}: train loss {train_loss:.5f}, val loss {val_loss:.5f}, "
                    f"{epoch_time:.1f} s",
                    file=sys.stderr,
                )

            is_last = epoch == args.epochs - 1 or reached_max_steps
            if epoch % args.epochs_per_checkpoint == 0 or is_last:
                rng_states_all = gather_rng_states(ddp)  # a collective: every rank takes part
                if ddp.is_main:
                    state = {
                        "epoch": epoch,
                        "iteration": iteration,
                        "config": config.to_dict(),
                        "state_dict": model.state_dict(),  # the unwrapped model: no `module.` prefix
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "rng_states_all": rng_states_all,
                        "args": vars(args),
                    }
                    path = training_checkpoint_path(output, args.model_name, epoch)
                    save_training_checkpoint(state, path)
                    point_last_checkpoint(path, training_checkpoint_path(output, args.model_name, "last"))

        log.record(
            [],
            {
                "run_time": time.perf_counter() - run_started,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_items/sec": float(np.mean(epoch_items_per_sec)) if epoch_items_per_sec else math.nan,
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
    except (TrainingStopped, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
