"""Reading Flowtron checkpoints without running code from them, and the training checkpoint format.

Accepted inputs (a path or an already loaded dict):
  * the published `flowtron_ljs.pt` and `flowtron_libritts.pt`: `{'state_dict': tensors}` (no
    `iteration`, no `optimizer`, no pickled model);
  * the published LibriTTS 2K file (`flowtron_libritts2p3k.pt`) and every file the original `train.py`
    writes (`model_<iteration>`): a pickled `flowtron.Flowtron` object under `'model'` (plus, from
    train.py, `iteration`, `optimizer`, `learning_rate`). The pickled classes (`flowtron.AR_Step`, ...,
    and torch.nn's modules, including `InstanceNorm1d` in files from before the masked norm) are
    replaced by empty allow-listed stand-ins that only hold data, so nothing from the file runs; any
    other global (e.g. `os.system`) and any BUILD on a class is refused with a CheckpointError;
  * our own files: `convert_checkpoint.py` output `{'state_dict', 'model_config'}` and train.py's
    `model_<iteration>` (the same, plus the training state);
  * a bare state dict with Flowtron names.

The model's sizes are read from the tensor shapes (n_speakers 1, 123 or 2311 for the published files);
settings the weights cannot show (dummy_speaker_embedding, mean_scale) come from the stored config, the
pickled model's attributes or the given `model_config`. Non-finite weights are refused, naming the tensor.
"""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from .config import FlowtronConfig, ModelConfig
from .flowtron import Flowtron
from .infra import CheckpointError, Position, check_finite, load_weights_only, point_last, save_atomic

# ---------------------------------------------------------------------------------------------------
# Allow-listed stand-ins for the classes a pickled Flowtron references


def _stand_in(module: str, name: str) -> type:
    """An empty nn.Module subclass that pickle resolves as `module.name`: holds state, runs nothing."""
    return type(
        name,
        (nn.Module,),
        {"__module__": module, "__qualname__": name, "__doc__": f"Stand-in for {module}.{name}"},
    )


ORIGINAL_CLASSES = (
    "Flowtron",
    "AR_Step",
    "AR_Back_Step",
    "Attention",
    "LinearNorm",
    "ConvNorm",
    "DenseLayer",
    "Encoder",
    "MaskedInstanceNorm1d",
    "AttentionConditioningLayer",
    "MelEncoder",
    "GaussianMixture",
)
TORCH_CLASSES = {
    "torch.nn.modules.sparse": ("Embedding",),
    "torch.nn.modules.container": ("ModuleList", "Sequential"),
    "torch.nn.modules.conv": ("Conv1d",),
    "torch.nn.modules.rnn": ("LSTM",),
    "torch.nn.modules.linear": ("Linear",),
    "torch.nn.modules.activation": ("Softmax", "ReLU", "Sigmoid", "Tanh"),
    "torch.nn.modules.instancenorm": ("InstanceNorm1d",),
    "torch.nn.modules.batchnorm": ("BatchNorm1d",),
    "torch.nn.modules.dropout": ("Dropout",),
}
STAND_INS = {f"flowtron.{name}": _stand_in("flowtron", name) for name in ORIGINAL_CLASSES} | {
    f"{module}.{name}": _stand_in(module, name) for module, names in TORCH_CLASSES.items() for name in names
}


def _legacy_thnn_backend():
    """Stand-in for `torch.nn.backends.thnn._get_thnn_function_backend`, which modules pickled by
    PyTorch < 1.2 reference for their `_backend` attribute; it returns None, as later PyTorch does."""
    return None


def safe_globals() -> list:
    return [(cls, name) for name, cls in STAND_INS.items()] + [
        set,
        OrderedDict,
        (_legacy_thnn_backend, "torch.nn.backends.thnn._get_thnn_function_backend"),
    ]


def _allowed_globals() -> dict[str, Any]:
    allowed = {name: cls for name, cls in STAND_INS.items()}
    allowed |= {
        "collections.OrderedDict": OrderedDict,
        "builtins.set": set,
        "torch.nn.parameter.Parameter": nn.Parameter,
    }
    allowed["torch.nn.backends.thnn._get_thnn_function_backend"] = _legacy_thnn_backend
    for rebuild in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
    ):
        allowed[f"torch._utils.{rebuild}"] = getattr(torch._utils, rebuild)
    return allowed


ALLOWED_GLOBALS = _allowed_globals()
BUILDABLE = tuple(STAND_INS.values()) + (torch.Tensor, dict, list, set)


class _AllowListUnpickler(pickle._Unpickler):  # the Python unpickler: its opcodes can be overridden
    """For files of PyTorch < 1.6 (not zip archives): resolves only allow-listed globals and BUILDs only
    instances of allow-listed classes (never a class itself)."""

    def find_class(self, module: str, name: str):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
        if f"{module}.{name}" not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")
        return ALLOWED_GLOBALS[f"{module}.{name}"]

    def load_build(self):
        target = self.stack[-2]
        if isinstance(target, type) or not isinstance(target, BUILDABLE):
            what = f"the class {target.__qualname__}" if isinstance(target, type) else type(target).__name__
            raise pickle.UnpicklingError(
                f"refused BUILD on {what}: only instances of allowed classes are built"
            )
        super().load_build()

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build


class _allow_list_pickle:  # noqa: N801 - stands in for the `pickle` module in torch.load(pickle_module=...)
    Unpickler = _AllowListUnpickler

    @staticmethod
    def load(file, **kwargs):
        return _AllowListUnpickler(file, **kwargs).load()


def read_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load without running code from the file; CheckpointError naming it for anything missing,
    truncated, foreign or not allowed."""
    return load_weights_only(path, safe_globals(), map_location, legacy_pickle_module=_allow_list_pickle)


def module_tensors(module: nn.Module, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
    """State-dict-like {name: tensor} of an unpickled (stand-in) module: its `_parameters`, persistent
    `_buffers` and `_modules`, in registration order. A module registered twice (the cumulative-attention
    convolutions) appears under both names, as in the original's state dict."""
    tensors = OrderedDict()
    state = vars(module)
    non_persistent = state.get("_non_persistent_buffers_set", set())
    for name, parameter in state.get("_parameters", {}).items():
        if parameter is not None:
            tensors[prefix + name] = parameter.detach()
    for name, buffer in state.get("_buffers", {}).items():
        if buffer is not None and name not in non_persistent:
            tensors[prefix + name] = buffer.detach()
    for name, child in state.get("_modules", {}).items():
        if child is not None:
            tensors.update(module_tensors(child, f"{prefix}{name}."))
    return tensors


# ---------------------------------------------------------------------------------------------------
# Any checkpoint -> state dict and model config


class LoadedCheckpoint(NamedTuple):
    state_dict: OrderedDict
    model_config: ModelConfig
    source_format: str  # "state_dict" (published), "pickled_model" (original train.py / 2K), "ours", "bare"
    checkpoint: dict  # the whole loaded object (iteration, optimizer, ... where present)


def _count(state_dict: dict, pattern: str) -> int:
    return len({m.group(1) for key in state_dict if (m := re.match(pattern, key))})


def model_config_from_state_dict(state_dict: dict, base: ModelConfig | None = None) -> ModelConfig:
    """Sizes read from tensor shapes; what the weights cannot show comes from `base`."""
    base = base or ModelConfig()
    try:
        n_speakers, n_speaker_dim = state_dict["speaker_embedding.weight"].shape
        n_text, n_text_dim = state_dict["embedding.weight"].shape
        n_flows = _count(state_dict, r"flows\.(\d+)\.")
        first = "flows.0."
        n_hidden = state_dict[first + "attention_lstm.weight_hh_l0"].shape[1]
        n_mel_channels = state_dict[first + "attention_lstm.weight_ih_l0"].shape[1]
        n_attn_channels = state_dict[first + "attention_layer.query.linear_layer.weight"].shape[0]
        n_lstm_layers = _count(state_dict, r"flows\.0\.lstm\.weight_ih_l(\d+)$")
    except KeyError as error:
        raise CheckpointError(f"the weights lack {error}, which every Flowtron model has") from None
    values = dict(
        n_speakers=n_speakers,
        n_speaker_dim=n_speaker_dim,
        n_text=n_text,
        n_text_dim=n_text_dim,
        n_flows=n_flows,
        n_mel_channels=n_mel_channels,
        n_hidden=n_hidden,
        n_attn_channels=n_attn_channels,
        n_lstm_layers=n_lstm_layers,
        use_gate_layer=any(".gate_layer." in key for key in state_dict),
        use_cumm_attention=any(".attn_cond_layer." in key for key in state_dict),
    )
    if "gaussian_mixture.prob_layer.linear_layer.weight" in state_dict:
        n_components, hidden = state_dict["gaussian_mixture.prob_layer.linear_layer.weight"].shape
        values |= dict(
            n_components=n_components,
            mel_encoder_n_hidden=hidden,
            fixed_gaussian="gaussian_mixture.mean" in state_dict,
        )
    else:
        values["n_components"] = 0
    return replace(base, **values)


def _config_from_pickled_model(model: nn.Module, base: ModelConfig) -> ModelConfig:
    """The options a pickled original Flowtron keeps as attributes."""
    dummy = vars(model).get("dummy_speaker_embedding")
    return replace(base, dummy_speaker_embedding=bool(dummy)) if dummy is not None else base


def read_checkpoint(
    source: str | Path | dict, model_config: ModelConfig | None = None, map_location="cpu"
) -> LoadedCheckpoint:
    """State dict and model config of any supported checkpoint (see the module docstring)."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    checkpoint = read_checkpoint_file(source, map_location) if isinstance(source, (str, Path)) else source
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{where}: expected a dict, got {type(checkpoint).__name__}")
    base = model_config or ModelConfig()
    if "model" in checkpoint and isinstance(checkpoint["model"], nn.Module):
        state_dict = module_tensors(checkpoint["model"])
        base = _config_from_pickled_model(checkpoint["model"], base)
        source_format = "pickled_model"
    elif isinstance(checkpoint.get("state_dict"), dict):
        state_dict = OrderedDict(checkpoint["state_dict"])
        if isinstance(checkpoint.get("model_config"), dict) and model_config is None:
            known = {f.name for f in fields(ModelConfig)}
            base = ModelConfig(**{k: v for k, v in checkpoint["model_config"].items() if k in known})
        source_format = "ours" if "model_config" in checkpoint else "state_dict"
    elif "embedding.weight" in checkpoint:
        state_dict, source_format = OrderedDict(checkpoint), "bare"
    else:
        keys = sorted(map(str, checkpoint))[:8]
        raise CheckpointError(
            f"{where}: not a Flowtron checkpoint (top-level keys {keys}); expected 'state_dict', a pickled "
            "'model' or a Flowtron state dict"
        )
    state_dict = OrderedDict((key.removeprefix("module."), value) for key, value in state_dict.items())
    try:
        config = model_config_from_state_dict(state_dict, base)
    except CheckpointError as error:
        raise CheckpointError(f"{where}: {error}") from None
    return LoadedCheckpoint(state_dict, config, source_format, checkpoint)


def read_state_dict(source: str | Path | dict, map_location="cpu") -> OrderedDict:
    """Just the weights of any checkpoint this module reads, or of another model's (a Tacotron 2
    `{'state_dict'}` file for a warm start), without the `module.` prefix of DDP."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    checkpoint = read_checkpoint_file(source, map_location) if isinstance(source, (str, Path)) else source
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), nn.Module):
        state_dict = module_tensors(checkpoint["model"])
    elif isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        state_dict = checkpoint["state_dict"]
    elif isinstance(checkpoint, dict) and all(torch.is_tensor(v) for v in checkpoint.values()) and checkpoint:
        state_dict = checkpoint
    else:
        raise CheckpointError(
            f"{where}: no weights found (expected 'state_dict', a pickled 'model' or a state dict)"
        )
    state_dict = OrderedDict((key.removeprefix("module."), value) for key, value in state_dict.items())
    check_finite(state_dict, where)
    return state_dict


def load_state_dict_checked(model: Flowtron, state_dict: dict, where: str = "checkpoint") -> None:
    """Strict load with an error listing missing, unexpected and mis-shaped tensors."""
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
            f"{where} does not fit this Flowtron: missing {missing[:6]}, unexpected {unexpected[:6]}, "
            f"shape mismatches {shapes[:6]}"
        )
    model.load_state_dict(state_dict, strict=True)


def load_flowtron(
    source: str | Path | dict, model_config: ModelConfig | None = None, map_location="cpu"
) -> tuple[Flowtron, LoadedCheckpoint]:
    """A Flowtron in eval mode with the weights of `source`, and what was read."""
    where = str(source) if isinstance(source, (str, Path)) else "checkpoint"
    loaded = read_checkpoint(source, model_config, map_location)
    check_finite(loaded.state_dict, where)
    model = Flowtron(**asdict(loaded.model_config))
    load_state_dict_checked(model, loaded.state_dict, where)
    return model.to(map_location).eval(), loaded


def plain_checkpoint(model: Flowtron, model_config: ModelConfig, speaker_ids: dict | None = None) -> dict:
    """Our weights-only format: loads with `torch.load(weights_only=True)` and `load_flowtron`."""
    state = {"state_dict": OrderedDict(model.state_dict()), "model_config": asdict(model_config)}
    if speaker_ids is not None:
        state["speaker_ids"] = dict(speaker_ids)
    return state


# ---------------------------------------------------------------------------------------------------
# Training checkpoints (train.py): `<output_directory>/model_<iteration>` as the original, plus
# `model_last` pointing at the newest. Weights-only readable; `load_flowtron` reads them directly.

LAST = "last"
TRAINING_KEYS = ("state_dict", "config", "optimizer", "iteration", "epoch")


def training_checkpoint_path(folder: str | Path, iteration: int | str) -> Path:
    return Path(folder) / f"model_{iteration}"


def training_checkpoint(
    model: Flowtron,
    config: FlowtronConfig,
    optimizer,
    scaler,
    rng_states: list[dict],
    position: Position,
    speaker_ids: dict,
    args: dict,
) -> dict:
    """Everything a run needs to continue exactly: weights, the whole config, optimizer and scaler,
    every rank's RNG states, where it is (`next_batch` of `epoch`) and the speaker table."""
    return {
        "state_dict": model.state_dict(),
        "model_config": asdict(config.model_config),
        "config": config.to_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng_states_all": rng_states,
        "iteration": position.iteration,
        "epoch": position.epoch,
        "next_batch": position.next_batch,
        "learning_rate": config.train_config.learning_rate,
        "speaker_ids": dict(speaker_ids),
        "args": args,
    }


def save_training_checkpoint(checkpoint: dict, folder: str | Path) -> Path:
    """Write `model_<iteration>` atomically and point `model_last` at it."""
    path = save_atomic(checkpoint, training_checkpoint_path(folder, checkpoint["iteration"]))
    point_last(path, training_checkpoint_path(folder, LAST))
    return path


def resume_position(checkpoint: dict) -> Position:
    return Position(checkpoint["epoch"], checkpoint["iteration"], checkpoint.get("next_batch", 0))
