"""Loading WaveGlow (and, at the end, Tacotron 2) weights from every published / trained layout, without
running pickled code.

Accepted inputs (a path or an already loaded object):
  * NGC / DeepLearningExamples checkpoints `{'state_dict', 'config', ...}`, keys possibly prefixed by
    `module.` (DistributedDataParallel) or `module.1.`;
  * plain state dicts (ours or DLE's), with or without weight norm (`weight` instead of
    `weight_g`/`weight_v`);
  * NVIDIA/waveglow pickled whole-model files `{'model': <glow.WaveGlow>, 'iteration', ...}`
    (`waveglow_256channels*.pt`, `waveglow_old.pt` from `glow_old`), zip or legacy (PyTorch < 1.6)
    format. They are read with `torch.load(weights_only=True)` (zip) or an unpickler with the same allow
    list (legacy): the `glow` / `glow_old` classes are replaced by empty allow-listed stand-ins, so no
    code from the file runs and no other global resolves; the config comes from the instance attributes
    (`n_flows`, `n_group`, ..., `WN[0].n_channels`).
NVIDIA's fused `WN.k.cond_layer` (and the older split `res_layers` / `skip_layers`) are converted to the
NGC per-layer names automatically; `to_nvidia_layout` converts back for export.
"""

import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import fields
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm

from .waveglow_model import WaveGlow

WAVEGLOW_CONFIG_KEYS = ("n_mel_channels", "n_flows", "n_group", "n_early_every", "n_early_size", "WN_config")
TACOTRON2_KEY_PREFIXES = ("embedding.", "encoder.", "decoder.", "postnet.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message says what and where."""


# ---------------------------------------------------------------------------------------------------
# Safe unpickling of NVIDIA/waveglow whole-model files


def _stand_in(module: str, name: str) -> type:
    """An empty nn.Module subclass that pickle resolves as `module.name`: holds state, runs nothing."""
    return type(
        name,
        (nn.Module,),
        {"__module__": module, "__qualname__": name, "__doc__": f"Stand-in for {module}.{name}"},
    )


STAND_IN_CLASSES = {
    f"{module}.{name}": _stand_in(module, name)
    for module in ("glow", "glow_old")
    for name in ("WaveGlow", "WN", "Invertible1x1Conv")
}


def _legacy_thnn_backend():
    """Stand-in for `torch.nn.backends.thnn._get_thnn_function_backend`, which modules pickled by
    PyTorch ≤ 1.0 reference for their `_backend` attribute (from memory of that code; unverified)."""
    return None


def safe_globals_for_waveglow() -> list:
    """Everything a pickled NVIDIA WaveGlow references beyond torch's default weights-only allow list."""
    return [
        *STAND_IN_CLASSES.values(),
        nn.Conv1d,
        nn.ConvTranspose1d,
        nn.ModuleList,
        WeightNorm,
        set,
        OrderedDict,
        (_legacy_thnn_backend, "torch.nn.backends.thnn._get_thnn_function_backend"),
    ]


def _allowed_globals() -> dict[str, Any]:
    """Fully qualified name -> object for the restricted unpickler of legacy (non-zip) files."""
    allowed = {}
    for entry in safe_globals_for_waveglow():
        obj, name = entry if isinstance(entry, tuple) else (entry, f"{entry.__module__}.{entry.__qualname__}")
        allowed[name] = obj
    allowed["collections.OrderedDict"] = OrderedDict
    allowed["torch.nn.parameter.Parameter"] = nn.Parameter
    for rebuild in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
    ):
        allowed[f"torch._utils.{rebuild}"] = getattr(torch._utils, rebuild)
    return allowed


class _AllowListUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals (torch maps `*Storage` names itself before asking)."""

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles (the legacy format) use Python 2 module names.
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
        allowed = _allowed_globals()
        if f"{module}.{name}" not in allowed:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")
        return allowed[f"{module}.{name}"]


class _allow_list_pickle:  # noqa: N801 - stands in for the `pickle` module in torch.load(pickle_module=...)
    Unpickler = _AllowListUnpickler

    @staticmethod
    def load(file, **kwargs):
        return _AllowListUnpickler(file, **kwargs).load()


def read_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint without executing code from it; clear errors.

    Zip-format files (PyTorch ≥ 1.6): `torch.load(weights_only=True)` with the WaveGlow stand-ins
    allow-listed. Legacy files (older PyTorch, e.g. NVIDIA's 2018–2020 WaveGlow releases) pickle module
    classes in a way the weights-only loader rejects; they go through an unpickler that resolves the
    same allow list and nothing else. Raises CheckpointError for a missing, truncated or non-PyTorch
    file and for a pickle that references any other global (e.g. `os.system`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if zipfile.is_zipfile(path):
            with torch.serialization.safe_globals(safe_globals_for_waveglow()):
                return torch.load(path, map_location=map_location, weights_only=True)
        with warnings.catch_warnings():
            # Legacy files store the source of pickled classes; the stand-ins have none to compare.
            warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
            return torch.load(
                path, map_location=map_location, weights_only=False, pickle_module=_allow_list_pickle
            )
    except pickle.UnpicklingError as error:
        message = str(error)
        if "truncated" in message or "EOF" in message:
            raise CheckpointError(
                f"{path}: the file is truncated or corrupt ({message.splitlines()[0]})"
            ) from error
        found = re.search(r"GLOBAL ([\w.]+)", message)
        reason = re.search(r"WeightsUnpickler error: (.+)", message)
        detail = (
            f"it references the global `{found.group(1)}`"
            if found
            else (reason.group(1) if reason else message.splitlines()[0])
        )
        raise CheckpointError(
            f"{path}: refused to load: {detail}, which is not on the allow list of weights-only loading. "
            "WaveGlow checkpoints only need tensors, containers and the glow/glow_old model classes; "
            "this file may run arbitrary code if unpickled normally — do not load it with weights_only=False "
            "unless you trust its origin."
        ) from error
    except (EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: the file is truncated or not a PyTorch checkpoint "
            f"({path.stat().st_size} bytes; {error})"
        ) from error
    except RuntimeError as error:
        message = str(error)
        if any(
            hint in message for hint in ("PytorchStreamReader", "central directory", "zip archive", "EOF")
        ):
            raise CheckpointError(
                f"{path}: the file is truncated or not a PyTorch checkpoint ({path.stat().st_size} bytes): "
                f"{message.splitlines()[0]}"
            ) from error
        raise


def _children(module: nn.Module) -> dict:
    return vars(module).get("_modules", {})


def module_tensors(module: nn.Module, prefix: str = "") -> "OrderedDict[str, torch.Tensor]":
    """State-dict-like {name: tensor} of an unpickled module, walking `_parameters`, `_buffers`, `_modules`.

    Works on stand-ins and on modules pickled by old PyTorch versions that lack newer attributes.
    Weight-norm hooks keep `weight` as a plain attribute; only the parameters `weight_g`/`weight_v` count.
    """
    tensors = OrderedDict()
    state = vars(module)
    non_persistent = state.get("_non_persistent_buffers_set", set())
    for name, param in state.get("_parameters", {}).items():
        if param is not None:
            tensors[prefix + name] = param.detach()
    for name, buffer in state.get("_buffers", {}).items():
        if buffer is not None and name not in non_persistent:
            tensors[prefix + name] = buffer.detach()
    for name, child in _children(module).items():
        if child is not None:
            tensors.update(module_tensors(child, f"{prefix}{name}."))
    return tensors


def config_from_pickled_model(model: nn.Module) -> dict:
    """DLE-style WaveGlow config from the attributes of an NVIDIA `glow.WaveGlow` instance."""
    try:
        first_wn = _children(_children(model)["WN"])["0"]
        first_in_layer = _children(_children(first_wn)["in_layers"])["0"]
        config = dict(
            n_mel_channels=_children(model)["upsample"].in_channels,
            n_flows=model.n_flows,
            n_group=model.n_group,
            n_early_every=model.n_early_every,
            n_early_size=model.n_early_size,
            WN_config=dict(
                n_layers=first_wn.n_layers,
                n_channels=first_wn.n_channels,
                kernel_size=first_in_layer.kernel_size[0],
            ),
        )
    except (KeyError, AttributeError) as error:
        raise CheckpointError(
            f"pickled WaveGlow model lacks an expected attribute or sub-module: {error}"
        ) from error
    if type(model).__module__ == "glow_old":
        config["alternate_halves"] = True
    return config


# ---------------------------------------------------------------------------------------------------
# Key layouts


def strip_wrapper_prefixes(state_dict: dict) -> "OrderedDict[str, torch.Tensor]":
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
    """'Tacotron2', 'WaveGlow' or None, from the (prefix-stripped) key names."""
    keys = list(strip_wrapper_prefixes(state_dict))
    if any(key.startswith(TACOTRON2_KEY_PREFIXES) for key in keys):
        return "Tacotron2"
    if any(key.startswith(("WN.", "convinv.")) for key in keys):
        return "WaveGlow"
    return None


def ensure_waveglow_state_dict(state_dict: dict, source: str = "checkpoint") -> None:
    """Raise CheckpointError if the keys are those of a Tacotron 2 (or of no known) model."""
    name = detect_model_name(state_dict)
    if name == "Tacotron2":
        examples = [k for k in state_dict if any(p in k for p in TACOTRON2_KEY_PREFIXES)][:3]
        raise CheckpointError(
            f"{source}: this is a Tacotron 2 checkpoint (keys such as {examples}), not a WaveGlow one; "
            "pass it as the Tacotron 2 model (e.g. --tacotron2) and give the WaveGlow file as --waveglow"
        )
    if name is None:
        raise CheckpointError(
            f"{source}: no WaveGlow parameters found (expected keys like 'WN.0.start.weight_g', "
            f"'convinv.0.conv.weight'); first keys: {list(state_dict)[:5]}"
        )


def _flow_indices(state_dict: dict, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state_dict if (m := re.match(pattern, key))})


def _n_layers(state_dict: dict, flow: int) -> int:
    layers = _flow_indices(state_dict, rf"WN\.{flow}\.in_layers\.(\d+)\.")
    return len(layers)


def to_ngc_layout(state_dict: dict) -> "OrderedDict[str, torch.Tensor]":
    """Convert NVIDIA/waveglow keys to the NGC per-layer layout (other keys pass through, order kept).

    * fused `WN.k.cond_layer.X` (L·2C, n_mel, 1) -> `WN.k.cond_layers.i.X`, chunks of 2C along dim 0;
    * `WN.k.res_layers.i.X` + `WN.k.skip_layers.i.X` (pre-2018-11 pickles) -> `WN.k.res_skip_layers.i.X`
      = concatenation along dim 0 (the last layer has only a skip conv).
    Both are exact: weight norm normalises each output channel on its own.
    """
    converted = OrderedDict()
    for key, value in state_dict.items():
        fused = re.match(r"WN\.(\d+)\.cond_layer\.(\w+)$", key)
        res = re.match(r"WN\.(\d+)\.(res|skip)_layers\.(\d+)\.(\w+)$", key)
        if fused:
            flow, name = int(fused.group(1)), fused.group(2)
            n_layers = _n_layers(state_dict, flow)
            if n_layers == 0 or value.size(0) % n_layers:
                raise CheckpointError(
                    f"{key}: cannot split {tuple(value.shape)} into {n_layers} per-layer cond convs"
                )
            for i, chunk in enumerate(value.chunk(n_layers, dim=0)):
                converted[f"WN.{flow}.cond_layers.{i}.{name}"] = chunk.clone()
        elif res:
            flow, kind, layer, name = int(res.group(1)), res.group(2), int(res.group(3)), res.group(4)
            if kind == "res":
                continue
            res_key = f"WN.{flow}.res_layers.{layer}.{name}"
            parts = [state_dict[res_key], value] if res_key in state_dict else [value]
            converted[f"WN.{flow}.res_skip_layers.{layer}.{name}"] = torch.cat(parts, dim=0)
        else:
            converted[key] = value
    return converted


def to_nvidia_layout(state_dict: dict) -> "OrderedDict[str, torch.Tensor]":
    """NGC per-layer `WN.k.cond_layers.i.X` -> NVIDIA/waveglow fused `WN.k.cond_layer.X` (i ascending).

    The fused entries follow the other keys of their flow, as in NVIDIA's state dicts.
    """
    others = OrderedDict()
    fused: dict[int, dict[str, list[tuple[int, torch.Tensor]]]] = {}
    for key, value in state_dict.items():
        per_layer = re.match(r"WN\.(\d+)\.cond_layers\.(\d+)\.(\w+)$", key)
        if per_layer:
            flow, layer, name = int(per_layer.group(1)), int(per_layer.group(2)), per_layer.group(3)
            fused.setdefault(flow, {}).setdefault(name, []).append((layer, value))
        else:
            others[key] = value
    last_key_of_flow = {}
    for key in others:
        flow = re.match(r"WN\.(\d+)\.", key)
        if flow:
            last_key_of_flow[int(flow.group(1))] = key
    converted = OrderedDict()

    def emit_fused(flow: int):
        for name, parts in fused.pop(flow).items():
            converted[f"WN.{flow}.cond_layer.{name}"] = torch.cat(
                [t for _, t in sorted(parts, key=lambda p: p[0])]
            )

    for key, value in others.items():
        converted[key] = value
        flow = re.match(r"WN\.(\d+)\.", key)
        if flow and int(flow.group(1)) in fused and last_key_of_flow[int(flow.group(1))] == key:
            emit_fused(int(flow.group(1)))
    for flow in list(fused):
        emit_fused(flow)
    return converted


def is_weight_norm_removed(state_dict: dict) -> bool:
    """True when the WN convs carry a plain `weight` (after `remove_weightnorm`) instead of g / v."""
    return any(re.match(r"WN\.\d+\.start\.weight$", key) for key in state_dict)


def infer_waveglow_config(state_dict: dict) -> dict:
    """DLE WaveGlow config read off the tensor shapes of an NGC-layout state dict."""
    try:
        channels = [
            state_dict[f"convinv.{k}.conv.weight"].size(0)
            for k in _flow_indices(state_dict, r"convinv\.(\d+)\.")
        ]
        n_early_every, n_early_size = len(channels), 2
        for k in range(1, len(channels)):
            if channels[k] < channels[k - 1]:
                n_early_every, n_early_size = k, channels[k - 1] - channels[k]
                break
        suffix = "weight" if is_weight_norm_removed(state_dict) else "weight_v"
        in_layer = state_dict[f"WN.0.in_layers.0.{suffix}"]
        return dict(
            n_mel_channels=state_dict["upsample.weight"].size(0),
            n_flows=len(channels),
            n_group=channels[0],
            n_early_every=n_early_every,
            n_early_size=n_early_size,
            WN_config=dict(
                n_layers=_n_layers(state_dict, 0), n_channels=in_layer.size(1), kernel_size=in_layer.size(2)
            ),
        )
    except (KeyError, IndexError) as error:
        raise CheckpointError(
            f"cannot infer the WaveGlow config from the state dict: missing key {error}"
        ) from error


# ---------------------------------------------------------------------------------------------------
# Loading


class WaveGlowCheckpoint(NamedTuple):
    """What `read_waveglow_checkpoint` found: NGC-layout tensors, config and the source format.

    source_format: 'ngc' (`{'state_dict','config'}`), 'state_dict' (bare), 'nvidia_pickle' or 'module'
    (a `WaveGlow` instance of this package).
    """

    state_dict: "OrderedDict[str, torch.Tensor]"
    config: dict
    source_format: str


def read_waveglow_checkpoint(
    checkpoint: str | Path | dict | nn.Module, map_location: str | torch.device = "cpu"
) -> WaveGlowCheckpoint:
    """Any supported WaveGlow checkpoint (path or loaded object) -> NGC-layout state dict + config."""
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint"
    obj = (
        read_checkpoint_file(checkpoint, map_location) if isinstance(checkpoint, (str, Path)) else checkpoint
    )
    config = None
    if isinstance(obj, dict) and isinstance(obj.get("model"), nn.Module):
        obj = obj["model"]
    if isinstance(obj, WaveGlow):
        exported = waveglow_checkpoint(obj)
        state_dict, config, source_format = exported["state_dict"], exported["config"], "module"
    elif isinstance(obj, nn.Module):
        state_dict, config, source_format = (
            module_tensors(obj),
            config_from_pickled_model(obj),
            "nvidia_pickle",
        )
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state_dict, config, source_format = obj["state_dict"], obj.get("config"), "ngc"
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state_dict, source_format = obj, "state_dict"
    else:
        keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{source}: not a WaveGlow checkpoint: expected a state dict, {{'state_dict', 'config'}} or "
            f"{{'model': <glow.WaveGlow>}}; found {keys}"
        )
    state_dict = strip_wrapper_prefixes(state_dict)
    ensure_waveglow_state_dict(state_dict, source)
    state_dict = to_ngc_layout(state_dict)
    if config is None:
        config = infer_waveglow_config(state_dict)
    return WaveGlowCheckpoint(state_dict, dict(config), source_format)


def waveglow_kwargs(config: dict) -> dict:
    """Constructor arguments of `WaveGlow` picked from a config dict (extra training keys ignored)."""
    kwargs = {key: config[key] for key in WAVEGLOW_CONFIG_KEYS if key in config}
    if config.get("alternate_halves"):
        kwargs["alternate_halves"] = True
    return kwargs


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


def load_waveglow(
    checkpoint: str | Path | dict | nn.Module,
    map_location: str | torch.device = "cpu",
    config: dict | None = None,
    remove_weightnorm: bool = False,
) -> WaveGlow:
    """Build a `WaveGlow` and load any supported checkpoint strictly; returned in eval mode.

    config: overrides the checkpoint's (or the inferred) config. Weight-norm-removed checkpoints load
    into a model whose weight norm is removed; `remove_weightnorm=True` removes it in any case.
    """
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint"
    found = read_waveglow_checkpoint(checkpoint, map_location)
    model = WaveGlow(**waveglow_kwargs(config if config is not None else found.config))
    if is_weight_norm_removed(found.state_dict):
        model.remove_weightnorm()
    check_state_dict(model, found.state_dict, source)
    model.load_state_dict(found.state_dict, strict=True)
    if remove_weightnorm:
        model.remove_weightnorm()
    return model.to(map_location).eval()


def waveglow_checkpoint(model: WaveGlow, layout: str = "ngc") -> dict:
    """A plain `{'state_dict', 'config'}` checkpoint (DLE format; `layout='nvidia'` fuses cond layers)."""
    config = dict(
        n_mel_channels=model.n_mel_channels,
        n_flows=model.n_flows,
        n_group=model.n_group,
        n_early_every=model.n_early_every,
        n_early_size=model.n_early_size,
        WN_config=dict(
            n_layers=model.WN[0].n_layers,
            n_channels=model.WN[0].n_channels,
            kernel_size=model.WN[0].in_layers[0].kernel_size[0],
        ),
    )
    if model.alternate_halves:
        config["alternate_halves"] = True
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
    if layout == "nvidia":
        state_dict = to_nvidia_layout(state_dict)
    elif layout != "ngc":
        raise ValueError(f"waveglow_checkpoint: layout must be 'ngc' or 'nvidia', got {layout!r}")
    return {"state_dict": state_dict, "config": config}


# ---------------------------------------------------------------------------------------------------
# Tacotron 2

# NVIDIA/tacotron2 `hparams.py` values that differ from the DLE defaults of `Tacotron2Config`; used for
# `{'state_dict', ...}` files without a config (the published `tacotron2_statedict.pt`).
NVIDIA_TACOTRON2_DEFAULTS = {"mask_padding": True, "max_decoder_steps": 1000}


class Tacotron2Checkpoint(NamedTuple):
    """What `read_tacotron2_checkpoint` found.

    source_format: 'ngc' (`{'state_dict', 'config'}`: NGC/DLE files and this repo's training
    checkpoints), 'nvidia' (`{'state_dict', ...}` without a config: NVIDIA/tacotron2) or 'state_dict'.
    config: a complete `Tacotron2Config` dict (checkpoint config > sizes read off the shapes > defaults).
    """

    state_dict: "OrderedDict[str, torch.Tensor]"
    config: dict
    source_format: str


def _count_indices(state_dict: dict, pattern: str) -> int:
    return len(_flow_indices(state_dict, pattern))


def infer_tacotron2_config(state_dict: dict) -> dict:
    """The `Tacotron2Config` sizes the tensor shapes determine (a size whose tensor is absent is left out)."""

    def shape(key: str) -> tuple | None:
        tensor = state_dict.get(key)
        return None if tensor is None else tuple(tensor.shape)

    config = {}
    if (s := shape("embedding.weight")) is not None:
        config["n_symbols"], config["symbols_embedding_dim"] = s
    if (n := _count_indices(state_dict, r"encoder\.convolutions\.(\d+)\.")) > 0:
        config["encoder_n_convolutions"] = n
    if (s := shape("encoder.convolutions.0.0.conv.weight")) is not None:
        config["encoder_embedding_dim"], config["encoder_kernel_size"] = s[0], s[2]
    if (s := shape("decoder.prenet.layers.0.linear_layer.weight")) is not None:
        config["prenet_dim"], config["n_mel_channels"] = s
    if (s := shape("decoder.attention_rnn.weight_hh")) is not None:
        config["attention_rnn_dim"] = s[1]
    if (s := shape("decoder.decoder_rnn.weight_hh")) is not None:
        config["decoder_rnn_dim"] = s[1]
    if (s := shape("decoder.attention_layer.query_layer.linear_layer.weight")) is not None:
        config["attention_dim"] = s[0]
    if (s := shape("decoder.attention_layer.location_layer.location_conv.conv.weight")) is not None:
        config["attention_location_n_filters"], config["attention_location_kernel_size"] = s[0], s[2]
    if (n := _count_indices(state_dict, r"postnet\.convolutions\.(\d+)\.")) > 0:
        config["postnet_n_convolutions"] = n
    if (s := shape("postnet.convolutions.0.0.conv.weight")) is not None:
        config["postnet_embedding_dim"], config["postnet_kernel_size"] = s[0], s[2]
    return config


def ensure_tacotron2_state_dict(state_dict: dict, source: str = "checkpoint") -> None:
    """Raise CheckpointError if the keys are those of a WaveGlow (or of no known) model."""
    name = detect_model_name(state_dict)
    if name == "WaveGlow":
        raise CheckpointError(
            f"{source}: this is a WaveGlow checkpoint (keys such as {list(state_dict)[:3]}), not a "
            "Tacotron 2 one; pass it as the vocoder (e.g. --waveglow) and the Tacotron 2 file as --tacotron2"
        )
    if name is None:
        raise CheckpointError(
            f"{source}: no Tacotron 2 parameters found (expected keys like 'embedding.weight', "
            f"'decoder.attention_rnn.weight_ih'); first keys: {list(state_dict)[:5]}"
        )


def read_tacotron2_checkpoint(
    checkpoint: str | Path | dict, map_location: str | torch.device = "cpu"
) -> Tacotron2Checkpoint:
    """Any supported Tacotron 2 checkpoint (path or loaded dict) -> prefix-free state dict + full config.

    Config precedence: the checkpoint's `config` (keys that are not `Tacotron2Config` fields, e.g.
    training options, are ignored), then sizes read off the tensor shapes, then the defaults — DLE's,
    or NVIDIA/tacotron2's (`mask_padding=True`, `max_decoder_steps=1000`) for a `{'state_dict', ...}`
    file without a config.
    """
    from .config import Tacotron2Config

    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint"
    obj = (
        read_checkpoint_file(checkpoint, map_location) if isinstance(checkpoint, (str, Path)) else checkpoint
    )
    if isinstance(obj, dict) and isinstance(obj.get("model"), nn.Module):
        raise CheckpointError(
            f"{source}: this file pickles a whole NVIDIA/waveglow WaveGlow model, not a Tacotron 2 "
            "checkpoint; pass it as the vocoder (e.g. --waveglow)"
        )
    stored_config = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state_dict, stored_config = obj["state_dict"], obj.get("config")
        source_format = "ngc" if stored_config is not None else "nvidia"
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state_dict, source_format = obj, "state_dict"
    else:
        keys = list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{source}: not a Tacotron 2 checkpoint: expected a state dict or a dict with 'state_dict' "
            f"(and 'config'); found {keys}"
        )
    state_dict = strip_wrapper_prefixes(state_dict)
    ensure_tacotron2_state_dict(state_dict, source)
    if stored_config is not None and not isinstance(stored_config, dict):
        stored_config = getattr(stored_config, "__dict__", None)
        if stored_config is None:
            raise CheckpointError(f"{source}: 'config' is a {type(obj['config']).__name__}, expected a dict")
    known = {f.name for f in fields(Tacotron2Config)}
    config = Tacotron2Config().to_dict()
    if source_format == "nvidia":
        config.update(NVIDIA_TACOTRON2_DEFAULTS)
    config.update(infer_tacotron2_config(state_dict))
    config.update({k: v for k, v in (stored_config or {}).items() if k in known})
    return Tacotron2Checkpoint(state_dict, config, source_format)


def load_tacotron2(
    checkpoint: str | Path | dict,
    map_location: str | torch.device = "cpu",
    config_overrides: dict | None = None,
):
    """Build a `Tacotron2` and load any supported checkpoint strictly -> (model in eval mode, config).

    Accepts NGC/DLE files and this repo's training checkpoints (`{'state_dict', 'config', ...}`, keys
    possibly prefixed by `module.` / `module.1.`), NVIDIA/tacotron2 files (`tacotron2_statedict.pt`,
    `checkpoint_<iteration>`: `{'state_dict', 'optimizer', ...}`) and bare state dicts; files are read
    weights-only. config_overrides: `Tacotron2Config` fields to change (e.g. `max_decoder_steps`).
    """
    from .config import Tacotron2Config
    from .tacotron2_model import Tacotron2

    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint"
    found = read_tacotron2_checkpoint(checkpoint, map_location)
    config = Tacotron2Config.from_dict({**found.config, **(config_overrides or {})})
    model = Tacotron2(config)
    check_state_dict(model, found.state_dict, source)
    model.load_state_dict(found.state_dict, strict=True)
    return model.to(map_location).eval(), config


def tacotron2_checkpoint(model: nn.Module) -> dict:
    """A plain `{'state_dict', 'config'}` checkpoint of a `Tacotron2` (DLE/NGC format, tensors on CPU)."""
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
    return {"state_dict": state_dict, "config": model.config.to_dict()}


# ---------------------------------------------------------------------------------------------------
# Training checkpoints (train.py): `checkpoint_<Model>_<epoch>.pt` and `checkpoint_<Model>_last.pt`

# DLE's own training checkpoints have these too (without 'iteration'), so train.py resumes from them.
TRAINING_CHECKPOINT_KEYS = ("epoch", "config", "state_dict", "optimizer")


def training_checkpoint_path(output_dir: str | Path, model_name: str, epoch: int | str) -> Path:
    """`<output_dir>/checkpoint_<model_name>_<epoch>.pt` (epoch may be 'last'), the DLE names."""
    return Path(output_dir) / f"checkpoint_{model_name}_{epoch}.pt"


def save_training_checkpoint(checkpoint: dict, path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, then `os.replace`, so an interrupted
    save never leaves a truncated checkpoint under the final name."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as stream:
            torch.save(checkpoint, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def point_last_checkpoint(path: str | Path, last_path: str | Path) -> None:
    """Make `last_path` a relative symlink to `path` (as DLE does), replaced atomically; where symlinks
    are unavailable, an atomic copy instead."""
    import os
    import shutil

    path, last_path = Path(path), Path(last_path)
    temporary = last_path.with_name(f".{last_path.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(path, last_path.parent), temporary)
    except OSError:
        shutil.copyfile(path, temporary)
    os.replace(temporary, last_path)


def read_training_checkpoint(
    path: str | Path, model_name: str, map_location: str | torch.device = "cpu"
) -> dict:
    """Load a checkpoint written by train.py for resuming `model_name` ('Tacotron2' or 'WaveGlow').

    `module.` prefixes (DLE multi-GPU checkpoints) are removed from the state dict.
    Raises CheckpointError naming the file when it is missing, truncated or corrupt, holds the other
    model, or lacks the training state (e.g. a published NGC checkpoint, which has no optimizer).
    """
    checkpoint = read_checkpoint_file(path, map_location)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        found = sorted(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path}: not a training checkpoint (expected a dict with 'state_dict'; found {found})"
        )
    found_name = detect_model_name(checkpoint["state_dict"])
    if found_name != model_name:
        what = f"a {found_name} checkpoint" if found_name else "a checkpoint of no known model"
        raise CheckpointError(
            f"{path}: this is {what}, but training was asked for {model_name} (-m/--model-name)"
        )
    missing = [key for key in TRAINING_CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path}: cannot resume training from it: missing {missing}. Published NGC checkpoints hold "
            "only weights and config; to fine-tune from one, load its 'state_dict' into a new run instead"
        )
    checkpoint["state_dict"] = strip_wrapper_prefixes(checkpoint["state_dict"])
    return checkpoint
