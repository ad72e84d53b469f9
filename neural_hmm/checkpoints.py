"""Loading Neural-HMM weights without running code from the file.

Accepted inputs (a path or an already loaded object):
  * the published PyTorch Lightning checkpoints (`Neural-HMM-Female.ckpt`, `Neural-HMM-Male.ckpt`) and any
    `.ckpt` written by the original `train.py`: `state_dict` with `model.`-prefixed keys, and
    `hyper_parameters`, a dict of every hparam that also pickles the original's `Normalise` and
    `CMUDict` objects (and, in `callbacks`, the ModelCheckpoint class as a dict key);
  * our own `{'state_dict', 'hparams'}` files (`neural_hmm_checkpoint`, `convert_checkpoint.py`);
  * a bare state dict with NeuralHMM names (the sizes are then read from the tensor shapes).

Files are read with `torch.load(weights_only=True)`. The few non-tensor classes Lightning checkpoints
reference are replaced by empty allow-listed stand-ins that only hold data, so no code from the file
runs and any other global (e.g. `os.system`) is refused with a CheckpointError.
"""

from __future__ import annotations

import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .hparams import HParams
from .infra import CheckpointError, Position, check_finite, load_weights_only, point_last, save_atomic
from .model import NeuralHMM

LIGHTNING_PREFIX = "model."
# Lightning hparams that are objects or run-time state rather than configuration.
NON_CONFIG_HPARAMS = ("normaliser", "cmu_phonetiser", "logger")


def _stand_in(module: str, name: str, base: type = object) -> type:
    """A data-only class that pickle resolves as `module.name`; unpickling only fills its __dict__."""
    return type(
        name,
        (base,),
        {"__module__": module, "__qualname__": name, "__doc__": f"Stand-in for {module}.{name}"},
    )


class _PlainDictStandIn(dict):
    """Unpickles as a plain dict: the weights-only unpickler fills only exact dicts (SETITEMS), so a
    stand-in for a dict subclass such as Lightning's AttributeDict must hand back a dict from __new__."""

    def __new__(cls, *args, **kwargs):
        return {}


def _dict_stand_in(module: str, name: str) -> type:
    return type(name, (_PlainDictStandIn,), {"__module__": module, "__qualname__": name})


STAND_INS = {
    f"{module}.{name}": make(module, name)
    for module, name, make in [
        ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", _stand_in),
        ("pytorch_lightning.utilities.parsing", "AttributeDict", _dict_stand_in),
        ("lightning_fabric.utilities.data", "AttributeDict", _dict_stand_in),
        ("lightning.fabric.utilities.data", "AttributeDict", _dict_stand_in),
        ("src.utilities.data", "Normalise", _stand_in),
        ("src.utilities.text.cmudict", "CMUDict", _stand_in),
        ("argparse", "Namespace", _stand_in),
    ]
}


def safe_globals_for_lightning() -> list:
    """(stand-in, qualified name) pairs for `torch.serialization.safe_globals`."""
    return [(cls, name) for name, cls in STAND_INS.items()] + [OrderedDict]


def read_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True and the Lightning stand-ins allow-listed; one-line errors."""
    return load_weights_only(path, safe_globals_for_lightning(), map_location)


def _plain(value: Any) -> Any:
    """Tensors -> floats / lists, so hparams stay plain Python."""
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 and value.dim() == 0 else value.tolist()
    return value


def hparams_from_lightning(hyper_parameters: dict) -> HParams:
    """HParams from a Lightning `hyper_parameters` dict (or AttributeDict / Namespace stand-in).

    The normaliser object's `.mean` / `.std` become `normaliser_mean` / `normaliser_std`; the CMUdict
    object and logger are dropped; names HParams does not know (from other code versions) are ignored.
    """
    values = dict(vars(hyper_parameters) if not isinstance(hyper_parameters, dict) else hyper_parameters)
    normaliser = values.get("normaliser")
    if normaliser is not None:
        state = normaliser if isinstance(normaliser, dict) else vars(normaliser)
        # Floats or tensors, depending on the code version; HParams turns either into a float.
        values["normaliser_mean"], values["normaliser_std"] = state["mean"], state["std"]
    for name in NON_CONFIG_HPARAMS:
        values.pop(name, None)
    values = {name: _plain(value) for name, value in values.items()}
    if values.get("checkpoint_path") is not None:
        values["checkpoint_path"] = str(values["checkpoint_path"])
    return HParams.from_dict(values, strict=False)


def hparams_from_state_dict(state_dict: dict, base: HParams | None = None) -> HParams:
    """Model sizes read from tensor shapes (for bare state dicts); other values from `base`."""
    base = base or HParams()
    try:
        n_symbols, embedding_dim = state_dict["embedding.weight"].shape
        conv_keys = sorted(
            k for k in state_dict if re.fullmatch(r"encoder\.convolutions\.\d+\.0\.conv\.weight", k)
        )
        lstm_hidden = state_dict["encoder.lstm.weight_hh_l0"].shape[1]
        prenet = [
            state_dict[f"hmm.prenet.layers.{i}.linear.0.weight"]
            for i in range(_count(state_dict, "hmm.prenet.layers"))
        ]
        network_layers = _count(state_dict, "hmm.decoder.decoder_network.layers")
        hidden = [state_dict[f"hmm.decoder.decoder_network.layers.{i}.linear.0.weight"].shape[0]
                  for i in range(network_layers - 1)]  # fmt: skip
        last = state_dict[f"hmm.decoder.decoder_network.layers.{network_layers - 1}.weight"]
        n_mel = (last.shape[0] - 1) // 2
        go_tokens = state_dict["hmm.go_tokens"]
        rnn_dim = state_dict["hmm.post_prenet_rnn.weight_hh"].shape[1]
    except KeyError as error:
        raise CheckpointError(f"state dict lacks {error}, which every Neural-HMM model has") from error
    return base.replace(
        n_symbols=n_symbols,
        symbols_embedding_dim=embedding_dim,
        encoder_embedding_dim=embedding_dim,
        encoder_n_convolutions=len(conv_keys),
        encoder_kernel_size=state_dict[conv_keys[0]].shape[2],
        state_per_phone=lstm_hidden // (embedding_dim // 2),
        n_mel_channels=n_mel,
        n_frames_per_step=go_tokens.shape[0],
        go_token_init_value=go_tokens[0].tolist(),
        prenet_n_layers=len(prenet),
        prenet_dim=prenet[0].shape[0],
        post_prenet_rnn_dim=rnn_dim,
        parameternetwork=hidden,
    )


def _count(state_dict: dict, prefix: str) -> int:
    indices = {int(m.group(1)) for k in state_dict if (m := re.match(re.escape(prefix) + r"\.(\d+)\.", k))}
    return len(indices)


class LoadedCheckpoint(NamedTuple):
    state_dict: OrderedDict  # NeuralHMM names (no `model.` prefix)
    hparams: HParams
    source_format: str  # "lightning", "neural_hmm" or "state_dict"


def read_checkpoint(source: str | Path | dict, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """State dict and hparams of any supported checkpoint (see the module docstring)."""
    checkpoint = read_checkpoint_file(source, map_location) if isinstance(source, (str, Path)) else source
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{where}: expected a dict, got {type(checkpoint).__name__}")
    if "state_dict" in checkpoint and (
        "hyper_parameters" in checkpoint or "pytorch-lightning_version" in checkpoint
    ):
        state_dict = strip_lightning_prefix(checkpoint["state_dict"])
        if "hyper_parameters" in checkpoint:
            hparams = hparams_from_lightning(checkpoint["hyper_parameters"])
        else:
            hparams = hparams_from_state_dict(state_dict)
        return LoadedCheckpoint(state_dict, hparams, "lightning")
    if "state_dict" in checkpoint and "hparams" in checkpoint:
        return LoadedCheckpoint(
            OrderedDict(checkpoint["state_dict"]),
            HParams.from_dict(checkpoint["hparams"], strict=False),
            "neural_hmm",
        )
    if "embedding.weight" in checkpoint or f"{LIGHTNING_PREFIX}embedding.weight" in checkpoint:
        state_dict = strip_lightning_prefix(checkpoint)
        print(
            f"warning: {where} is a bare state dict: it holds no data statistics, so the mel normaliser is "
            "LJ Speech's (hparams.py); for another corpus load it with its data_parameters.pt "
            "(load_neural_hmm(..., data_parameters=PATH))",
            file=sys.stderr,
        )
        return LoadedCheckpoint(state_dict, hparams_from_state_dict(state_dict), "state_dict")
    raise CheckpointError(
        f"{where}: not a Neural-HMM checkpoint (top-level keys {sorted(map(str, checkpoint))[:8]}); "
        "expected a Lightning .ckpt, a {'state_dict', 'hparams'} file or a NeuralHMM state dict"
    )


def strip_lightning_prefix(state_dict: dict) -> OrderedDict:
    """Remove the `model.` prefix TrainingModule adds to every key (only if every key has it)."""
    if state_dict and all(key.startswith(LIGHTNING_PREFIX) for key in state_dict):
        return OrderedDict((key[len(LIGHTNING_PREFIX) :], value) for key, value in state_dict.items())
    return OrderedDict(state_dict)


def load_state_dict_checked(model: NeuralHMM, state_dict: dict, where: str = "checkpoint") -> None:
    """Strict load with an error that lists missing, unexpected and mis-shaped tensors."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{where} does not fit NeuralHMM({model.hparams.encoder_embedding_dim}-dim, state_per_phone="
            f"{model.hparams.state_per_phone}): missing {missing[:6]}, unexpected {unexpected[:6]}, "
            f"shape mismatches {shapes[:6]}"
        )
    model.load_state_dict(state_dict, strict=True)


def load_neural_hmm(
    source: str | Path | dict,
    map_location: str | torch.device = "cpu",
    data_parameters: str | Path | None = None,
    **hparams_overrides,
) -> NeuralHMM:
    """A NeuralHMM in eval mode with the weights and stored hparams of `source`.

    Synthesis settings (`duration_quantile_threshold`, `prenet_dropout_while_eval`, ...) can be
    overridden by keyword, as the original allows through `model.model.hmm.hparams`. data_parameters: a
    `data_parameters.pt` whose normaliser replaces the stored one (needed for a bare state dict of a
    model trained on another corpus than LJ Speech). Non-finite weights are refused, naming the tensor.
    """
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    loaded = read_checkpoint(source, map_location)
    check_finite(loaded.state_dict, where)
    hparams = loaded.hparams
    if data_parameters is not None:
        from .data_properties import apply_data_parameters, load_data_parameters

        hparams = apply_data_parameters(hparams, load_data_parameters(data_parameters))
    hparams = hparams.replace(**hparams_overrides) if hparams_overrides else hparams
    model = NeuralHMM(hparams)
    load_state_dict_checked(model, loaded.state_dict, where)
    return model.to(map_location).eval()


def neural_hmm_checkpoint(model: NeuralHMM) -> dict:
    """Our plain format: `torch.save` it; loads with `torch.load(weights_only=True)` and `load_neural_hmm`."""
    return {"state_dict": OrderedDict(model.state_dict()), "hparams": model.hparams.to_dict()}


# ---------------------------------------------------------------------------------------------------
# Training checkpoints (train.py): `<checkpoint_dir>/<run_name>/checkpoint_<step>.ckpt` as the original,
# plus `checkpoint_last.ckpt` pointing at the newest. They are `{'state_dict', 'hparams'}` files with the
# training state added, so `load_neural_hmm` and synthesis.py read them directly.

TRAINING_CHECKPOINT_KEYS = ("state_dict", "hparams", "optimizer", "iteration", "epoch")
LAST = "last"


def training_checkpoint_path(run_dir: str | Path, step: int | str) -> Path:
    return Path(run_dir) / f"checkpoint_{step}.ckpt"


def training_checkpoint(
    model: NeuralHMM, optimizer, scaler, rng_states: list[dict], position: Position, args: dict
) -> dict:
    """Everything a run needs to continue exactly: weights and hparams (what `load_neural_hmm` reads),
    optimizer and AMP scaler, every rank's RNG states, and where it is (`next_batch` of `epoch`)."""
    return {
        "state_dict": model.state_dict(),  # the unwrapped model: no `module.` prefix
        "hparams": model.hparams.to_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng_states_all": rng_states,
        "iteration": position.iteration,
        "epoch": position.epoch,
        "next_batch": position.next_batch,
        "args": args,
    }


def save_training_checkpoint(checkpoint: dict, run_dir: str | Path) -> Path:
    """Write `checkpoint_<iteration>.ckpt` atomically and point `checkpoint_last.ckpt` at it."""
    path = save_atomic(checkpoint, training_checkpoint_path(run_dir, checkpoint["iteration"]))
    point_last(path, training_checkpoint_path(run_dir, LAST))
    return path


def read_training_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint written by train.py, for resuming; CheckpointError naming the file when it is missing,
    truncated, or holds weights only (a published or converted checkpoint: use -w/--warm_start)."""
    checkpoint = read_checkpoint_file(path, map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(checkpoint).__name__}")
    missing = [key for key in TRAINING_CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path}: cannot resume training from it: missing {missing} (a weights-only checkpoint; "
            "to start a new run from its weights use -w/--warm_start with -c)"
        )
    check_finite(checkpoint["state_dict"], str(path))
    return checkpoint


def resume_position(checkpoint: dict) -> Position:
    return Position(checkpoint["epoch"], checkpoint["iteration"], checkpoint.get("next_batch", 0))
