"""What both models' checkpoint files share, and this folder's training checkpoints.

Loading published and converted weights is in `tacotron2_checkpoints.py` and `waveglow_checkpoints.py`;
reading pickles without running their code in `safe_unpickling.py`. Here: wrapper prefixes, telling the
models apart by their key names, strict loading with a readable mismatch report, and the training
checkpoint format that train.py writes and reads (`checkpoint_<Model>_<epoch>.pt`, DLE's names).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from .infra import CheckpointError, Position, check_finite, point_last, save_atomic
from .safe_unpickling import read_checkpoint_file

TACOTRON2_KEY_PREFIXES = ("decoder.", "postnet.")
MODEL_NAMES = {"Tacotron2": "Tacotron 2", "WaveGlow": "WaveGlow", "NeuralHMM": "Neural-HMM"}


def strip_wrapper_prefixes(state_dict: dict) -> OrderedDict[str, torch.Tensor]:
    """Remove leading `module.1.` / `module.` (DataParallel / DDP / hub wrappers) from every key."""
    stripped = OrderedDict()
    for key, value in state_dict.items():
        new_key = key
        while new_key.startswith("module."):
            new_key = (
                new_key[len("module.1.") :] if new_key.startswith("module.1.") else new_key[len("module.") :]
            )
        stripped[new_key] = value
    return stripped


def detect_model_name(state_dict: dict) -> str | None:
    """'Tacotron2', 'WaveGlow', 'NeuralHMM' (the neighbouring folder's model, whose encoder looks like
    Tacotron 2's) or None, from the key names (wrapper and Lightning prefixes ignored)."""
    keys = [key.removeprefix("model.") for key in strip_wrapper_prefixes(state_dict)]
    if any(key.startswith("hmm.") for key in keys):
        return "NeuralHMM"
    if any(key.startswith(TACOTRON2_KEY_PREFIXES) for key in keys):
        return "Tacotron2"
    if any(key.startswith(("WN.", "convinv.")) for key in keys):
        return "WaveGlow"
    return None


def wrong_model_message(source: str, found: str | None, wanted: str, flag_hint: str) -> str:
    """Why a checkpoint of another model (or of none) was refused, and where it belongs."""
    if found is not None:
        hint = "use neural_hmm/synthesis.py" if found == "NeuralHMM" else flag_hint
        return f"{source}: this is a {MODEL_NAMES[found]} checkpoint, not a {MODEL_NAMES[wanted]} one; {hint}"
    return f"{source}: no {MODEL_NAMES[wanted]} parameters found in it"


def indices_of(state_dict: dict, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state_dict if (m := re.match(pattern, key))})


def check_state_dict(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Raise CheckpointError naming missing, unexpected and mis-shaped keys (at most 10 of each shown)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or misshaped:
        parts = [
            f"{len(items)} {label}: {items[:10]}{' ...' if len(items) > 10 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if items
        ]
        raise CheckpointError(
            f"{source}: state dict does not fit {type(model).__name__} — " + "; ".join(parts)
        )


def count_indices(state_dict: dict, pattern: str) -> int:
    return len(indices_of(state_dict, pattern))


# ---------------------------------------------------------------------------------------------------
# Training checkpoints (train.py): `checkpoint_<Model>_<epoch>.pt` and `checkpoint_<Model>_last.pt`

# DLE's own training checkpoints have these too (without 'iteration'), so train.py resumes from them.
TRAINING_CHECKPOINT_KEYS = ("epoch", "config", "state_dict", "optimizer")


def training_checkpoint_path(output_dir: str | Path, model_name: str, epoch: int | str) -> Path:
    """`<output_dir>/checkpoint_<model_name>_<epoch>.pt` (epoch may be 'last'), the DLE names."""
    return Path(output_dir) / f"checkpoint_{model_name}_{epoch}.pt"


def training_checkpoint(
    model: nn.Module,
    config,
    optimizer,
    scaler,
    rng_states: list[dict],
    position: Position,
    epoch_done: bool,
    args: dict,
) -> dict:
    """DLE's keys (`epoch`, `config`, `state_dict`, `optimizer`) and what continuing exactly needs besides:
    the iteration, the next batch of the epoch (None once the epoch is complete), the AMP scaler, every
    rank's RNG states and the arguments."""
    return {
        "epoch": position.epoch,
        "iteration": position.iteration,
        "next_batch": None if epoch_done else position.next_batch,
        "config": config.to_dict(),
        "state_dict": model.state_dict(),  # the unwrapped model: no `module.` prefix
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng_states_all": rng_states,
        "args": args,
    }


def save_training_checkpoint(checkpoint: dict, output_dir: str | Path, model_name: str) -> Path:
    """Write `checkpoint_<Model>_<epoch>.pt` atomically and point `checkpoint_<Model>_last.pt` at it."""
    path = save_atomic(checkpoint, training_checkpoint_path(output_dir, model_name, checkpoint["epoch"]))
    point_last(path, training_checkpoint_path(output_dir, model_name, "last"))
    return path


def read_training_checkpoint(
    path: str | Path, model_name: str, map_location: str | torch.device = "cpu"
) -> dict:
    """A checkpoint written by train.py (or DLE's) for resuming `model_name` ('Tacotron2' or 'WaveGlow').

    `module.` prefixes (DLE multi-GPU checkpoints) are removed from the state dict. CheckpointError naming
    the file when it is missing, truncated or corrupt, holds another model, lacks the training state (a
    published NGC checkpoint has no optimizer) or has non-finite weights.
    """
    checkpoint = read_checkpoint_file(path, map_location)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        found = (
            sorted(map(str, checkpoint))[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        )
        raise CheckpointError(
            f"{path}: not a training checkpoint (expected a dict with 'state_dict'; found {found})"
        )
    found_name = detect_model_name(checkpoint["state_dict"])
    if found_name != model_name:
        raise CheckpointError(wrong_model_message(str(path), found_name, model_name, "check -m/--model-name"))
    missing = [key for key in TRAINING_CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path}: cannot resume training from it: missing {missing}. Published NGC checkpoints hold "
            "only weights and config; to fine-tune from one, load its 'state_dict' into a new run instead"
        )
    checkpoint["state_dict"] = strip_wrapper_prefixes(checkpoint["state_dict"])
    check_finite(checkpoint["state_dict"], str(path))
    return checkpoint


def resume_position(checkpoint: dict) -> Position:
    """Where a run continues: the next batch of the checkpoint's epoch, or the start of the next epoch
    (always so for DLE's checkpoints, which are written at epoch ends)."""
    epoch, iteration = checkpoint["epoch"], checkpoint.get("iteration", 0)
    if checkpoint.get("next_batch") is None:
        return Position(epoch + 1, iteration, 0)
    return Position(epoch, iteration, checkpoint["next_batch"])
