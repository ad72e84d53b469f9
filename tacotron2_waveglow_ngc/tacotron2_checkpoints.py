"""Tacotron 2 weights in every published and trained layout: NGC / DLE `{'state_dict', 'config'}` files
and this folder's training checkpoints, NVIDIA/tacotron2's `tacotron2_statedict.pt` and `checkpoint_<n>`
(`{'state_dict', 'optimizer', ...}` without a config), and bare state dicts; read weights-only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from .checkpoints import (
    check_state_dict,
    count_indices,
    detect_model_name,
    strip_wrapper_prefixes,
    wrong_model_message,
)
from .config import Tacotron2Config
from .infra import CheckpointError, check_finite
from .safe_unpickling import read_checkpoint_file
from .tacotron2_model import Tacotron2

# NVIDIA/tacotron2 `hparams.py` values that differ from the DLE defaults of `Tacotron2Config`; used for
# `{'state_dict', ...}` files without a config (the published `tacotron2_statedict.pt`).
NVIDIA_TACOTRON2_DEFAULTS = {"mask_padding": True, "max_decoder_steps": 1000}


class Tacotron2Checkpoint(NamedTuple):
    """What `read_tacotron2_checkpoint` found.

    source_format: 'ngc' (`{'state_dict', 'config'}`: NGC/DLE files and this repo's training
    checkpoints), 'nvidia' (`{'state_dict', ...}` without a config: NVIDIA/tacotron2) or 'state_dict'.
    config: a complete `Tacotron2Config` dict (checkpoint config > sizes read off the shapes > defaults).
    """

    state_dict: OrderedDict[str, torch.Tensor]
    config: dict
    source_format: str


def infer_tacotron2_config(state_dict: dict) -> dict:
    """The `Tacotron2Config` sizes the tensor shapes determine (a size whose tensor is absent is left out)."""

    def shape(key: str) -> tuple | None:
        tensor = state_dict.get(key)
        return None if tensor is None else tuple(tensor.shape)

    config = {}
    if (s := shape("embedding.weight")) is not None:
        config["n_symbols"], config["symbols_embedding_dim"] = s
    if (n := count_indices(state_dict, r"encoder\.convolutions\.(\d+)\.")) > 0:
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
    if (n := count_indices(state_dict, r"postnet\.convolutions\.(\d+)\.")) > 0:
        config["postnet_n_convolutions"] = n
    if (s := shape("postnet.convolutions.0.0.conv.weight")) is not None:
        config["postnet_embedding_dim"], config["postnet_kernel_size"] = s[0], s[2]
    return config


def ensure_tacotron2_state_dict(state_dict: dict, source: str = "checkpoint") -> None:
    """Raise CheckpointError if the keys are those of another (or of no known) model."""
    name = detect_model_name(state_dict)
    if name not in ("Tacotron2", None):
        hint = "pass it as the vocoder (--waveglow) and the Tacotron 2 file as --tacotron2"
        raise CheckpointError(wrong_model_message(source, name, "Tacotron2", hint))
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
    source = str(checkpoint) if isinstance(checkpoint, (str, Path)) else "checkpoint"
    found = read_tacotron2_checkpoint(checkpoint, map_location)
    config = Tacotron2Config.from_dict({**found.config, **(config_overrides or {})})
    model = Tacotron2(config)
    check_state_dict(model, found.state_dict, source)
    check_finite(found.state_dict, source)
    model.load_state_dict(found.state_dict, strict=True)
    return model.to(map_location).eval(), config


def tacotron2_checkpoint(model: nn.Module) -> dict:
    """A plain `{'state_dict', 'config'}` checkpoint of a `Tacotron2` (DLE/NGC format, tensors on CPU)."""
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in model.state_dict().items())
    return {"state_dict": state_dict, "config": model.config.to_dict()}
