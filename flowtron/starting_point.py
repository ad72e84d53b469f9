"""Where a training run starts, as train.py's options choose it: our own checkpoint (--resume, exactly),
train_config.checkpoint_path (the original's `load_checkpoint`, without its KeyErrors), a warm start
(warmstart_checkpoint_path with include_layers), or scratch; and finetune_layers, the only weights
trained."""

from __future__ import annotations

import sys

from .checkpoints import load_state_dict_checked, read_checkpoint, read_state_dict, resume_position
from .config import ConfigError, TrainConfig
from .flowtron import Flowtron
from .infra import CheckpointError, Position, Precision, set_learning_rate


def freeze_all_but(model: Flowtron, finetune_layers: list) -> None:
    """finetune_layers: the only parameters trained (exact names); unknown names are an error."""
    if not finetune_layers:
        return
    names = dict(model.named_parameters())
    unknown = [name for name in finetune_layers if name not in names]
    if unknown:
        raise ConfigError(f"train_config.finetune_layers: no parameters named {unknown}")
    for name, parameter in names.items():
        parameter.requires_grad = name in finetune_layers


def start_position(
    checkpoint: dict | None, train: TrainConfig, model: Flowtron, optimizer, precision: Precision
) -> Position:
    """Where training starts: our checkpoint (--resume: exactly), train_config.checkpoint_path (weights,
    optimizer and iteration where the file has them), a warm start, or scratch."""
    if checkpoint is not None:
        load_state_dict_checked(model, checkpoint["state_dict"], "model_last")
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            precision.scaler.load_state_dict(checkpoint["scaler"])
        set_learning_rate(optimizer, train.learning_rate)  # the original overwrites it at every start
        return resume_position(checkpoint)
    position = Position()
    if train.warmstart_checkpoint_path:
        warm_start(model, train.warmstart_checkpoint_path, train.include_layers)
    if train.checkpoint_path:
        position = load_checkpoint(model, optimizer, train.checkpoint_path, train.ignore_layers)
        set_learning_rate(optimizer, train.learning_rate)
    return position


def load_checkpoint(model: Flowtron, optimizer, path: str, ignore_layers: list) -> Position:
    """The original's `load_checkpoint`, without its KeyErrors: weights (ignore_layers keep their fresh
    initialisation), the optimizer when the file has one and nothing is ignored, and the iteration."""
    loaded = read_checkpoint(path)
    state = model.state_dict()
    state.update({k: v for k, v in loaded.state_dict.items() if k not in set(ignore_layers)})
    load_state_dict_checked(model, state, path)
    if not ignore_layers and isinstance(loaded.checkpoint.get("optimizer"), dict):
        try:
            optimizer.load_state_dict(loaded.checkpoint["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            print(f"{path}: optimizer state not loaded ({error}); starting it afresh", file=sys.stderr)
    iteration = loaded.checkpoint.get("iteration")
    if not isinstance(iteration, int):
        return Position()
    # The original's files count the step just taken from 0; ours count steps taken.
    return Position(iteration=iteration if loaded.source_format == "ours" else iteration + 1)


def warm_start(model: Flowtron, path: str, include_layers: list) -> None:
    """Weights whose names contain one of include_layers (all when empty) and fit the model; a
    mismatched embedding or speaker table (another symbol set or speaker count, a Tacotron 2 checkpoint)
    is dropped, any other mismatch is an error."""
    loaded = read_state_dict(path)
    own = model.state_dict()
    chosen = {
        k: v
        for k, v in loaded.items()
        if k in own and (not include_layers or any(s in k for s in include_layers))
    }
    dropped = [
        k
        for k in ("embedding.weight", "speaker_embedding.weight")
        if k in chosen and chosen[k].shape != own[k].shape
    ]
    for key in dropped:
        del chosen[key]
    if not chosen:
        raise CheckpointError(f"warmstart_checkpoint_path {path}: no weight fits this model")
    own.update(chosen)
    load_state_dict_checked(model, own, path)
    print(f"warm start from {path}: {len(chosen)} tensors; dropped (shape) {dropped}", file=sys.stderr)
