"""Checkpoints: the original's `G_<epoch>.pth` / `D_<epoch>.pth` files, read without running code from them,
and written by train.py in the same format with what an exact resume needs added.

The original's format (what it reads and writes), kept:
    {"model": state dict, "iteration": epoch, "optimizer": optimizer state, "learning_rate": float}
train.py adds to both files: "scheduler", "scaler"; to G files: "config" (the whole configuration),
"stage" ("warmup" or "main"), "position" ({epoch, iteration, next_batch}) and "rng_states_all" (every rank's
RNG state). The original ignores keys it does not know, so it loads ours; ours load its files, whose
model and optimizer are taken as they are (the configuration then comes from --config).

`attach_memory_bank.py` writes `G_<epoch>_with_memory.pth`. Which file a resumed run starts from is
decided by `resume_checkpoints`, never by glob order (the original's bug: a warm-up G_N.pth could win
over G_N_with_memory.pth, fail to load its optimizer inside a try block, and restart from scratch).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

import torch

from .config import Config, config_from_dict, load_config
from .infra import CheckpointError, Position, check_finite, load_weights_only, save_atomic
from .models import SynthesizerTrn

N_VOCAB = 178  # the VITS symbol table
BANK_PREFIX = "memory_bank."
CHECKPOINT_NAME = re.compile(r"^([GD])_(\d+)(_with_memory)?\.pth$")


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A G or D file as a dict (weights-only: a pickle that would run code is refused, naming the file)."""
    checkpoint = load_weights_only(path, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(checkpoint).__name__}")
    model = checkpoint.get("model", checkpoint.get("state_dict"))
    if model is None and all(torch.is_tensor(v) for v in checkpoint.values()):
        model = checkpoint  # a bare state dict
    if not isinstance(model, dict) or not model:
        raise CheckpointError(f'{path}: no "model" state dict (keys: {sorted(map(str, checkpoint))[:8]})')
    check_finite(model, str(path))
    return {**checkpoint, "model": model}


def has_memory_bank(state_dict: dict) -> bool:
    return any(key.startswith(BANK_PREFIX) for key in state_dict)


def load_state_dict_checked(module: torch.nn.Module, state_dict: dict, where: str) -> None:
    """Strict load with an error listing missing, unexpected and mis-shaped tensors."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        hint = ""
        if any(k.startswith(BANK_PREFIX) for k in missing):
            hint = " (the file has no memory bank: a warm-up checkpoint; run attach_memory_bank.py first)"
        elif any(k.startswith(BANK_PREFIX) for k in unexpected):
            hint = " (the file has a memory bank: it is past warm-up)"
        raise CheckpointError(
            f"{where} does not fit the model{hint}: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatches {shapes[:5]} (is --config the configuration it was trained with?)"
        )
    module.load_state_dict(state_dict, strict=True)


def config_of(checkpoint: dict, path, fallback: str | Path | None) -> Config:
    """The checkpoint's own configuration, else the --config file (the original's files hold none)."""
    if isinstance(checkpoint.get("config"), dict):
        return config_from_dict(checkpoint["config"], f"{path} (stored configuration)")
    if fallback is None:
        raise CheckpointError(f"{path} holds no configuration (a file of the original code): pass --config")
    return load_config(fallback)


def build_generator(config: Config, bank: bool, device="cpu") -> SynthesizerTrn:
    train = config.train
    net = SynthesizerTrn(
        N_VOCAB,
        config.spec_channels,
        config.segment_frames,
        config.models,
        use_mas=train.use_mas,
        mas_backend=train.mas_backend,
    )
    if bank:
        net.attach_memory_bank()
    return net.to(device)


def load_generator(path: str | Path, config_path=None, device="cpu") -> tuple[SynthesizerTrn, Config]:
    """A generator in eval mode from a G file (ours, the original's, or a converted one), with its
    configuration; the memory bank is attached when the file has one."""
    checkpoint = read_checkpoint(path)
    config = config_of(checkpoint, path, config_path)
    state = checkpoint["model"]
    if "enc_p.proj.weight" in state and not config.train.use_mas:
        config.train.use_mas = True  # trained with alignment search: the projection is part of it
    net = build_generator(config, has_memory_bank(state))
    load_state_dict_checked(net, state, str(path))
    return net.to(device).eval(), config


# ---------------------------------------------------------------------------------------------------
# Training checkpoints


def checkpoint_path(folder: str | Path, kind: str, epoch: int, with_memory: bool = False) -> Path:
    return Path(folder) / f"{kind}_{epoch}{'_with_memory' if with_memory else ''}.pth"


def save_checkpoints(folder, epoch: int, generator: dict, discriminator: dict) -> tuple[Path, Path]:
    """Write G_<epoch>.pth and D_<epoch>.pth atomically (G last: a G file means its D file is there)."""
    d_path = save_atomic(discriminator, checkpoint_path(folder, "D", epoch))
    g_path = save_atomic(generator, checkpoint_path(folder, "G", epoch))
    return g_path, d_path


def training_state(module, optimizer, scheduler, scaler, epoch: int, learning_rate: float) -> dict:
    """The original's four keys plus scheduler and scaler."""
    return {
        "model": module.state_dict(),
        "iteration": epoch,
        "optimizer": optimizer.state_dict(),
        "learning_rate": learning_rate,
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }


def load_training_state(saved: dict, net, optimizer, scaler, name: str) -> None:
    """A G or D training checkpoint into its network, optimizer and gradient scaler."""
    load_state_dict_checked(net, saved["model"], f"{name} checkpoint")
    optimizer.load_state_dict(saved["optimizer"])
    if saved.get("scaler"):
        scaler.load_state_dict(saved["scaler"])


def restore_schedule(saved: dict, optimizer, scheduler) -> None:
    """The learning rates as saved (not recomputed from the epoch: a resume is bit-identical), and the
    scheduler's state where the file has one (the original's files have none)."""
    for group, saved_group in zip(optimizer.param_groups, saved["optimizer"]["param_groups"]):
        group["lr"] = saved_group["lr"]
    if "scheduler" in saved:
        scheduler.load_state_dict(saved["scheduler"])


def saved_position(generator: dict) -> Position:
    """Where a G file's run stopped; the original's files record the epoch only."""
    stored = generator.get("position")
    if stored:
        return Position(stored["epoch"], stored["iteration"], stored["next_batch"])
    return Position(int(generator["iteration"]), 0, 0)


def checkpoint_files(folder: str | Path) -> list[tuple[int, bool, Path]]:
    """(epoch, with_memory, path) of every G file in `folder`."""
    found = []
    for path in Path(folder).glob("G_*.pth"):
        match = CHECKPOINT_NAME.match(path.name)
        if match:
            found.append((int(match.group(2)), bool(match.group(3)), path))
    return sorted(found)


class ResumePoint(NamedTuple):
    generator: Path
    discriminator: Path


def resume_checkpoints(folder: str | Path, warmup: bool) -> ResumePoint | None:
    """The G and D files a resumed run continues from, or None when the folder holds none.

    Warm-up: the newest plain G_N.pth without a memory bank. Main stage: the newest epoch; at an epoch
    with both G_N.pth and G_N_with_memory.pth, G_N.pth only if it has the bank (train.py wrote it after
    the attach), else the attached file. A main-stage run whose newest file has no bank is an error that
    says to run attach_memory_bank.py, not a silent restart."""
    files = checkpoint_files(folder)
    if not files:
        return None
    newest = max(epoch for epoch, _, _ in files)
    if warmup:
        plain = [(epoch, path) for epoch, memory, path in files if not memory]
        if not plain:
            return None
        epoch, path = plain[-1]
        if has_memory_bank(read_checkpoint(path)["model"]):
            raise CheckpointError(f"{path} has a memory bank: this run is past warm-up; drop --warmup")
        return ResumePoint(path, checkpoint_path(folder, "D", epoch))
    candidates = {memory: path for epoch, memory, path in files if epoch == newest}
    plain, attached = candidates.get(False), candidates.get(True)
    if plain is not None and (attached is None or has_memory_bank(read_checkpoint(plain)["model"])):
        chosen = plain
    else:
        chosen = attached
    if not has_memory_bank(read_checkpoint(chosen)["model"]):
        raise CheckpointError(
            f"{chosen} is a warm-up checkpoint (no memory bank): run `python attach_memory_bank.py -c CONFIG "
            f"--weights_path {chosen}` first, or continue the warm-up with --warmup"
        )
    return ResumePoint(chosen, checkpoint_path(folder, "D", newest))


def legacy_resume_checkpoints(folder: str | Path) -> ResumePoint | None:
    """The original's choice, kept for reproducing it (--legacy-resume): the G and D files whose path has
    the largest number formed from all its digits, ties in directory order."""

    def number(path: Path) -> int:
        return int("".join(filter(str.isdigit, str(path))) or 0)

    generators = sorted(Path(folder).glob("G_*.pth"), key=number)
    discriminators = sorted(Path(folder).glob("D_*.pth"), key=number)
    if not generators or not discriminators:
        return None
    return ResumePoint(generators[-1], discriminators[-1])


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
