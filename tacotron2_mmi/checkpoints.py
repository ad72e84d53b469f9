"""Reading and writing Tacotron 2 + MMI weights, without running code from any file.

Accepted (a path or an already loaded dict), all read with `torch.load(weights_only=True)`:
  * this folder's training checkpoints (`checkpoint_<iteration>`, below) and plain files
    (`{'state_dict', 'hparams', 'global_mean', ...}`, from convert_checkpoint.py);
  * the original's training checkpoints (`{'iteration', 'state_dict', 'optimizer', 'learning_rate'}`;
    under apex O2 the weights are half precision and are read as float32); the sizes then come from the
    tensor shapes and `use_mmi` from the presence of `mi.*`;
  * bare state dicts;
  * NVIDIA's Tacotron 2 (`tacotron2_statedict.pt`, any `checkpoint_<n>` of NVIDIA/tacotron2), whose
    decoder output layers differ: it cannot synthesise here, but warm-starts training (`warm_start`):
    every tensor whose name and shape fit is taken, the output layers and the MI head keep their fresh
    initialisation, and the report says which.
Wrapper prefixes (`module.`) are removed; NaN or infinite weights are refused, naming the tensor.
"""

from __future__ import annotations

import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import torch

from .hparams import HParams
from .infra import CheckpointError, Position, check_finite, load_weights_only, point_last, save_atomic
from .model import Tacotron2

# NVIDIA/tacotron2's decoder output: one Linear [hidden; context] -> mel. bfs18's has `.0.` in the name.
NVIDIA_OUTPUT_LAYER = "decoder.linear_projection.linear_layer.weight"
MMI_OUTPUT_LAYER = "decoder.linear_projection.0.linear_layer.weight"


class LoadedCheckpoint(NamedTuple):
    state_dict: OrderedDict  # prefix-free
    hparams: HParams  # stored, or the defaults with the sizes read off the shapes
    global_mean: torch.Tensor | None  # (n_mel,) drop-frame mean, when the file holds one
    global_mean_source: dict | None  # what that mean was computed from
    layout: str  # "mmi" (bfs18) or "nvidia" (NVIDIA/tacotron2's output layers)
    source_format: str  # "ours", "original" (bfs18 or NVIDIA train.py) or "state_dict"


def read_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu"):
    return load_weights_only(path, map_location=map_location)


def strip_wrapper_prefixes(state_dict: dict) -> OrderedDict:
    """Remove a leading `module.` (DataParallel / DDP) from every key that has it."""
    return OrderedDict((key.removeprefix("module."), value) for key, value in state_dict.items())


def layout_of(state_dict: dict, where: str) -> str:
    if MMI_OUTPUT_LAYER in state_dict:
        return "mmi"
    if NVIDIA_OUTPUT_LAYER in state_dict:
        return "nvidia"
    if any(key.startswith("hmm.") for key in state_dict):
        raise CheckpointError(f"{where}: this is a Neural-HMM checkpoint, not a Tacotron 2 one")
    if any(key.startswith(("WN.", "convinv.")) for key in state_dict):
        raise CheckpointError(
            f"{where}: this is a WaveGlow checkpoint; give it as the vocoder, not the model"
        )
    raise CheckpointError(
        f"{where}: no Tacotron 2 decoder found (expected keys like {MMI_OUTPUT_LAYER!r}); first keys: "
        f"{list(state_dict)[:4]}"
    )


def _count(state_dict: dict, pattern: str) -> int:
    return len({m.group(1) for key in state_dict if (m := re.match(pattern, key))})


def hparams_from_state_dict(state_dict: dict, base: HParams | None = None) -> HParams:
    """The model sizes the tensor shapes determine; everything else from `base` (default: hparams.py)."""
    base = base or HParams()

    def shape(key: str) -> tuple:
        if key not in state_dict:
            raise CheckpointError(f"state dict lacks {key!r}, which every Tacotron 2 has")
        return tuple(state_dict[key].shape)

    n_symbols, embedding_dim = shape("embedding.weight")
    encoder_dim, _, encoder_kernel = shape("encoder.convolutions.0.0.conv.weight")
    prenet_dim, n_mel = shape("decoder.prenet.layers.0.linear_layer.weight")
    n_filters, _, location_kernel = shape("decoder.attention_layer.location_layer.location_conv.conv.weight")
    postnet_dim, _, postnet_kernel = shape("postnet.convolutions.0.0.conv.weight")
    return base.replace(
        n_symbols=n_symbols,
        symbols_embedding_dim=embedding_dim,
        encoder_embedding_dim=encoder_dim,
        encoder_kernel_size=encoder_kernel,
        encoder_n_convolutions=_count(state_dict, r"encoder\.convolutions\.(\d+)\."),
        n_mel_channels=n_mel,
        prenet_dim=prenet_dim,
        attention_rnn_dim=shape("decoder.attention_rnn.weight_hh")[1],
        decoder_rnn_dim=shape("decoder.decoder_rnn.weight_hh")[1],
        attention_dim=shape("decoder.attention_layer.query_layer.linear_layer.weight")[0],
        attention_location_n_filters=n_filters,
        attention_location_kernel_size=location_kernel,
        postnet_embedding_dim=postnet_dim,
        postnet_kernel_size=postnet_kernel,
        postnet_n_convolutions=_count(state_dict, r"postnet\.convolutions\.(\d+)\."),
        use_mmi=any(key.startswith("mi.") for key in state_dict),
    )


def read_checkpoint(source: str | Path | dict, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Weights, hparams and global mean of any accepted checkpoint (see the module docstring)."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    loaded = read_checkpoint_file(source, map_location) if isinstance(source, (str, Path)) else source
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{where}: expected a dict, found a {type(loaded).__name__}")
    if isinstance(loaded.get("state_dict"), dict):
        state_dict, stored = strip_wrapper_prefixes(loaded["state_dict"]), loaded.get("hparams")
        source_format = "ours" if stored is not None else "original"
    elif loaded and all(torch.is_tensor(value) for value in loaded.values()):
        state_dict, stored, source_format = strip_wrapper_prefixes(loaded), None, "state_dict"
    else:
        raise CheckpointError(
            f"{where}: not a Tacotron 2 checkpoint (expected a state dict or a dict with 'state_dict'; "
            f"found keys {sorted(map(str, loaded))[:8]})"
        )
    layout = layout_of(state_dict, where)
    try:
        hparams = HParams.from_dict(stored, strict=False) if stored is not None else None
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{where}: its hparams do not make a model: {error}") from None
    if hparams is None and layout == "mmi":
        hparams = hparams_from_state_dict(state_dict)
    elif hparams is None:  # NVIDIA's: the shapes that fit ours
        hparams = hparams_from_state_dict(state_dict, HParams()).replace(use_mmi=True)
    mean = loaded.get("global_mean") if source_format == "ours" else None
    return LoadedCheckpoint(
        state_dict,
        hparams,
        None if mean is None else torch.as_tensor(mean).float(),
        loaded.get("global_mean_source"),
        layout,
        source_format,
    )


def check_state_dict(model: torch.nn.Module, state_dict: dict, where: str = "checkpoint") -> None:
    """CheckpointError listing missing, unexpected and mis-shaped tensors (at most 8 of each)."""
    own = model.state_dict()
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    misshaped = [
        f"{key}: file {tuple(state_dict[key].shape)}, model {tuple(value.shape)}"
        for key, value in own.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    if missing or unexpected or misshaped:
        parts = [
            f"{len(items)} {label}: {items[:8]}{' ...' if len(items) > 8 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if items
        ]
        hint = ""
        if missing and all(key.startswith("mi.") for key in missing):
            hint = " (the file has no MI head: it was trained with use_mmi=False)"
        elif unexpected and all(key.startswith("mi.") for key in unexpected):
            hint = " (the file has an MI head: build the model with use_mmi=True)"
        raise CheckpointError(f"{where} does not fit this Tacotron 2: " + "; ".join(parts) + hint)


def load_state_dict_checked(model: torch.nn.Module, state_dict: dict, where: str = "checkpoint") -> None:
    check_state_dict(model, state_dict, where)
    check_finite(state_dict, where)
    model.load_state_dict(state_dict, strict=True)


def load_tacotron2(
    source: str | Path | dict, map_location: str | torch.device = "cpu", **hparams_overrides
) -> Tacotron2:
    """A Tacotron2 in eval mode with the weights, hparams and global mean of `source`. Keyword overrides
    change inference settings (max_decoder_steps, gate_threshold, prenet_dropout, ...)."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    loaded = read_checkpoint(source, map_location)
    if loaded.layout == "nvidia":
        raise CheckpointError(
            f"{where} is NVIDIA's Tacotron 2, whose decoder output layers differ from this model's: "
            "it cannot synthesise here. Use it to warm-start training: train.py -c FILE --warm_start"
        )
    model = Tacotron2(loaded.hparams.replace(**hparams_overrides))
    load_state_dict_checked(model, loaded.state_dict, where)
    if loaded.global_mean is not None:
        model.set_global_mean(loaded.global_mean, loaded.global_mean_source)
    return model.to(map_location).eval()


class WarmStartReport(NamedTuple):
    loaded: list[str]  # taken from the file
    fresh: list[str]  # the model's own initialisation kept (ignored, absent or mis-shaped in the file)
    unused: list[str]  # in the file but not taken


def warm_start(model: Tacotron2, source: str | Path | dict, ignore_layers: list[str]) -> WarmStartReport:
    """The original's --warm_start (all weights but `ignore_layers`), made to work with NVIDIA's Tacotron 2
    too: a tensor whose name or shape does not fit keeps its fresh initialisation instead of failing."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    loaded = read_checkpoint(source)
    check_finite(loaded.state_dict, where)
    own = model.state_dict()
    taken = {
        key: value
        for key, value in loaded.state_dict.items()
        if key in own and key not in ignore_layers and value.shape == own[key].shape
    }
    model.load_state_dict({**own, **taken}, strict=True)
    report = WarmStartReport(
        sorted(taken), sorted(set(own) - set(taken)), sorted(set(loaded.state_dict) - set(taken))
    )
    print(
        f"warm start from {where} ({loaded.layout} layout): {len(report.loaded)} tensors loaded; fresh: "
        f"{report.fresh}; not used from the file: {report.unused}",
        file=sys.stderr,
    )
    return report


def plain_checkpoint(model: Tacotron2) -> dict:
    """`{'state_dict', 'hparams', 'global_mean', 'global_mean_source'}`, tensors on the CPU: what
    convert_checkpoint.py writes; loads with torch.load(weights_only=True) and `load_tacotron2`."""
    state = {
        "state_dict": OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items()),
        "hparams": model.hparams.to_dict(),
    }
    if model.global_mean is not None:
        state["global_mean"] = model.global_mean.detach().cpu()
        state["global_mean_source"] = model.global_mean_source
    return state


# ---------------------------------------------------------------------------------------------------
# Training checkpoints: `<output_directory>/checkpoint_<iteration>` (the original's name, no extension) and
# `checkpoint_last` pointing at the newest. The original's four keys keep their meaning (`iteration` is
# the index of the last update, so a run resumes at iteration + 1), so the original's train.py and
# this one resume from each other's files; the other keys are what continuing exactly needs.

TRAINING_KEYS = ("iteration", "state_dict", "optimizer", "learning_rate")
LAST = "last"


def training_checkpoint_path(output_directory: str | Path, iteration: int | str) -> Path:
    return Path(output_directory) / f"checkpoint_{iteration}"


def training_checkpoint(
    model: Tacotron2,
    optimizer,
    scaler,
    learning_rate: float,
    position: Position,
    gaf: float | None,
    rng_states: list[dict],
    args: dict,
) -> dict:
    state = plain_checkpoint(model)
    state.update(
        iteration=position.iteration - 1,
        optimizer=optimizer.state_dict(),
        learning_rate=learning_rate,
        scaler=scaler.state_dict(),
        epoch=position.epoch,
        next_batch=position.next_batch,
        gaf=gaf,
        rng_states_all=rng_states,
        args=args,
    )
    return state


def save_training_checkpoint(checkpoint: dict, output_directory: str | Path) -> Path:
    """Write `checkpoint_<iteration>` atomically and point `checkpoint_last` at it."""
    path = save_atomic(checkpoint, training_checkpoint_path(output_directory, checkpoint["iteration"]))
    point_last(path, training_checkpoint_path(output_directory, LAST))
    return path


def read_training_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint of this train.py or the original's, for resuming; CheckpointError naming the file when
    it is unreadable, has NaN weights or holds weights only (use --warm_start for those)."""
    checkpoint = read_checkpoint_file(path, map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a dict, found a {type(checkpoint).__name__}")
    missing = [key for key in TRAINING_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path}: cannot resume training from it: it lacks {missing} (weights only?); to start a new run "
            "from its weights use -c FILE --warm_start"
        )
    checkpoint["state_dict"] = strip_wrapper_prefixes(checkpoint["state_dict"])
    layout_of(checkpoint["state_dict"], str(path))
    check_finite(checkpoint["state_dict"], str(path))
    return checkpoint


def load_optimizer_state(optimizer: torch.optim.Optimizer, checkpoint: dict, where: str) -> None:
    """The checkpoint's optimizer state; CheckpointError naming the file when it belongs to another model."""
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"{where}: its optimizer state does not fit: {error}") from None


def resume_position(checkpoint: dict, batches_per_epoch: int) -> Position:
    """Where training continues. The original's checkpoints hold only the iteration: the epoch is then
    iteration // batches per epoch and the next epoch starts from its first batch, as the original does."""
    iteration = int(checkpoint["iteration"]) + 1
    if "next_batch" in checkpoint:
        return Position(int(checkpoint["epoch"]), iteration, int(checkpoint["next_batch"]))
    return Position(iteration // max(batches_per_epoch, 1), iteration, 0)
