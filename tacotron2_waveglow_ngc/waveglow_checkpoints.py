"""WaveGlow weights in every published and trained layout: reading, converting, loading, exporting.

Accepted inputs (a path or an already loaded object):
  * NGC / DeepLearningExamples checkpoints `{'state_dict', 'config', ...}`, keys possibly prefixed by
    `module.` (DistributedDataParallel) or `module.1.`;
  * plain state dicts (ours or DLE's), with or without weight norm (`weight` instead of
    `weight_g`/`weight_v`);
  * NVIDIA/waveglow pickled whole-model files `{'model': <glow.WaveGlow>, 'iteration', ...}`
    (`waveglow_256channels*.pt`, `waveglow_old.pt` from `glow_old`), zip or legacy format, read without
    running their code (`safe_unpickling.py`); the config comes from the instance attributes.
NVIDIA's fused `WN.k.cond_layer` (and the older split `res_layers` / `skip_layers`) are converted to the
NGC per-layer names automatically; `to_nvidia_layout` converts back for export.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from .checkpoints import (
    check_state_dict,
    detect_model_name,
    indices_of,
    strip_wrapper_prefixes,
    wrong_model_message,
)
from .infra import CheckpointError, check_finite
from .safe_unpickling import config_from_pickled_model, module_tensors, read_checkpoint_file
from .waveglow_model import WaveGlow

WAVEGLOW_CONFIG_KEYS = ("n_mel_channels", "n_flows", "n_group", "n_early_every", "n_early_size", "WN_config")


def ensure_waveglow_state_dict(state_dict: dict, source: str = "checkpoint") -> None:
    """Raise CheckpointError if the keys are those of another (or of no known) model."""
    name = detect_model_name(state_dict)
    if name not in ("WaveGlow", None):
        hint = "pass it as the Tacotron 2 model (--tacotron2) and the WaveGlow file as --waveglow"
        raise CheckpointError(wrong_model_message(source, name, "WaveGlow", hint))
    if name is None:
        raise CheckpointError(
            f"{source}: no WaveGlow parameters found (expected keys like 'WN.0.start.weight_g', "
            f"'convinv.0.conv.weight'); first keys: {list(state_dict)[:5]}"
        )


def _n_layers(state_dict: dict, flow: int) -> int:
    layers = indices_of(state_dict, rf"WN\.{flow}\.in_layers\.(\d+)\.")
    return len(layers)


def to_ngc_layout(state_dict: dict) -> OrderedDict[str, torch.Tensor]:
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


def to_nvidia_layout(state_dict: dict) -> OrderedDict[str, torch.Tensor]:
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
            for k in indices_of(state_dict, r"convinv\.(\d+)\.")
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


class WaveGlowCheckpoint(NamedTuple):
    """What `read_waveglow_checkpoint` found: NGC-layout tensors, config and the source format.

    source_format: 'ngc' (`{'state_dict','config'}`), 'state_dict' (bare), 'nvidia_pickle' or 'module'
    (a `WaveGlow` instance of this package).
    """

    state_dict: OrderedDict[str, torch.Tensor]
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
    check_finite(found.state_dict, source)
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
