"""Reading NVIDIA/waveglow's pickled whole-model files without running code from them.

`waveglow_256channels*.pt` (and `waveglow_old.pt`) pickle a `glow.WaveGlow` / `glow_old.WaveGlow`
instance, which the weights-only loader refuses. Here the classes they name are replaced by empty
allow-listed stand-ins that only hold state, and nothing else resolves:
  * zip files (PyTorch >= 1.6): `torch.load(weights_only=True)` with the stand-ins allow-listed;
  * legacy files (PyTorch < 1.6, NVIDIA's 2018-2020 releases): an unpickler that resolves the same allow
    list, and builds (pickle's BUILD) only instances of allow-listed classes, never a class itself, so a
    crafted file cannot set attributes on an allowed class for the whole process (torch's weights-only
    unpickler forbids the same).
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm

from .infra import CheckpointError, load_weights_only


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
    """Stand-in for `torch.nn.backends.thnn._get_thnn_function_backend`. Modules pickled by PyTorch < 1.2
    held a `_backend` attribute whose class, `THNNFunctionBackend`, pickles as a call of that function
    (its `__reduce__`, in PyTorch 0.x's `torch/nn/backends/thnn.py`); later PyTorch keeps the function,
    returning None, for such files. So does this stand-in."""
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


ALLOWED_GLOBALS = _allowed_globals()
# What BUILD may fill in: instances of these, plus tensors and plain containers.
BUILDABLE = tuple(obj for obj in ALLOWED_GLOBALS.values() if isinstance(obj, type)) + (
    torch.Tensor,
    dict,
    list,
    set,
)


class _AllowListUnpickler(pickle._Unpickler):  # the Python unpickler: its opcodes can be overridden
    """Resolves only allow-listed globals (torch maps `*Storage` names itself before asking), and BUILDs
    only instances of allow-listed classes."""

    def find_class(self, module: str, name: str):
        # Protocol-2 pickles (the legacy format) use Python 2 module names.
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
    """Load any checkpoint of this folder without executing code from it (see the module docstring);
    CheckpointError naming the file for anything missing, truncated, foreign or not allowed."""
    return load_weights_only(
        path, safe_globals_for_waveglow(), map_location, legacy_pickle_module=_allow_list_pickle
    )


def _children(module: nn.Module) -> dict:
    return vars(module).get("_modules", {})


def module_tensors(module: nn.Module, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
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
        ) from None
    if type(model).__module__ == "glow_old":
        config["alternate_halves"] = True
    return config
