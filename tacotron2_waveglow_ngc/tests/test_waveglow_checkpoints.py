"""WaveGlow checkpoint loading: NGC / plain / NVIDIA-pickled formats, layouts, clear errors, converter CLI."""

import os
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm

from tacotron2_waveglow_ngc import convert_checkpoint
from tacotron2_waveglow_ngc.checkpoints import detect_model_name
from tacotron2_waveglow_ngc.infra import CheckpointError
from tacotron2_waveglow_ngc.waveglow_checkpoints import (
    load_waveglow,
    read_waveglow_checkpoint,
    to_ngc_layout,
    to_nvidia_layout,
    waveglow_checkpoint,
)


@pytest.fixture(scope="module")
def fixture():
    return torch.load(Path(__file__).parent / "fixtures" / "waveglow_fixture.pt", weights_only=True)


def assert_state_equal(model, state_dict):
    ours = model.state_dict()
    assert list(ours) == list(state_dict)
    for key, value in state_dict.items():
        assert torch.equal(ours[key], value), key


def assert_infers_like_fixture(model, fixture):
    audio = model.infer(fixture["inputs"]["mel"], sigma=0.0)
    assert (audio - fixture["outputs"]["infer_sigma0"]).abs().max() < 1e-4


@pytest.mark.parametrize("layout", ["state_dict", "state_dict_nvidia_waveglow_layout"])
def test_both_fixture_layouts_load_strictly(fixture, layout):
    model = load_waveglow(fixture[layout])
    assert_state_equal(model, fixture["state_dict"])
    assert not model.training
    assert_infers_like_fixture(model, fixture)


def test_layout_conversion_round_trip(fixture):
    fused = to_nvidia_layout(fixture["state_dict"])
    # Key order differs (ours: each fused cond_layer after its flow's other keys); loading ignores it.
    assert sorted(fused) == sorted(fixture["state_dict_nvidia_waveglow_layout"])
    for key, value in fixture["state_dict_nvidia_waveglow_layout"].items():
        assert torch.equal(fused[key], value), key
    per_layer = to_ngc_layout(fused)
    assert sorted(per_layer) == sorted(fixture["state_dict"])
    assert all(torch.equal(per_layer[k], v) for k, v in fixture["state_dict"].items())


def test_ngc_checkpoint_with_module_prefix_and_config(fixture, tmp_path):
    state_dict = {f"module.{k}": v for k, v in fixture["state_dict"].items()}
    config = {k: fixture["config"][k] for k in ("n_mel_channels", "n_flows", "n_group", "n_early_every")}
    config.update(n_early_size=2, WN_config=fixture["config"]["WN_config"])
    path = tmp_path / "checkpoint_WaveGlow_50.pt"
    torch.save({"epoch": 50, "config": config, "state_dict": state_dict, "optimizer": {}}, path)
    found = read_waveglow_checkpoint(path)
    assert found.source_format == "ngc" and found.config == config
    assert_state_equal(load_waveglow(path), fixture["state_dict"])


def test_config_inferred_from_shapes(fixture):
    found = read_waveglow_checkpoint(fixture["state_dict"])
    expected = {k: fixture["config"][k] for k in ("n_mel_channels", "n_flows", "n_group", "n_early_every")}
    assert found.config == {**expected, "n_early_size": 2, "WN_config": fixture["config"]["WN_config"]}


def test_weight_norm_removed_state_dict_loads(fixture):
    folded = load_waveglow(fixture["state_dict"], remove_weightnorm=True)
    state_dict = folded.state_dict()
    assert "WN.3.cond_layers.1.weight" in state_dict
    reloaded = load_waveglow(state_dict)
    assert_state_equal(reloaded, state_dict)
    fused = load_waveglow(to_nvidia_layout(state_dict))  # NVIDIA layout without weight norm
    assert_state_equal(fused, state_dict)
    assert_infers_like_fixture(reloaded, fixture)


def test_mismatched_state_dict_names_the_keys(fixture):
    state_dict = dict(fixture["state_dict"])
    del state_dict["WN.0.start.bias"]
    state_dict["WN.0.extra.weight"] = torch.zeros(1)
    state_dict["convinv.0.conv.weight"] = torch.zeros(8, 8, 2)
    with pytest.raises(CheckpointError) as error:
        load_waveglow(state_dict)
    message = str(error.value)
    assert "1 missing: ['WN.0.start.bias']" in message
    assert "1 unexpected: ['WN.0.extra.weight']" in message
    assert "convinv.0.conv.weight: checkpoint (8, 8, 2) vs model (8, 8, 1)" in message


def test_tacotron2_state_dict_is_refused(tmp_path):
    state_dict = {
        "embedding.weight": torch.zeros(148, 512),
        "encoder.convolutions.0.0.conv.weight": torch.zeros(512, 512, 5),
        "decoder.gate_layer.linear_layer.bias": torch.zeros(1),
    }
    assert detect_model_name(state_dict) == "Tacotron2"
    path = tmp_path / "checkpoint_Tacotron2_last.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state_dict.items()}, "config": {}}, path)
    with pytest.raises(CheckpointError, match="this is a Tacotron 2 checkpoint.*not a WaveGlow one"):
        load_waveglow(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_and_missing_files(fixture, tmp_path, legacy):
    path = tmp_path / "waveglow.pt"
    save({"state_dict": fixture["state_dict"]}, path, legacy)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_waveglow(truncated)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_waveglow(tmp_path / "absent.pt")


class _RunsShellCommand:
    """Unpickling this would call os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_with_forbidden_global_is_refused(tmp_path, legacy):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    save({"model": _RunsShellCommand(f"touch {marker}"), "iteration": 1}, path, legacy)
    with pytest.raises(CheckpointError, match=r"refused to load: it references `(posix|nt|os)\.system`"):
        load_waveglow(path)
    assert not marker.exists()


def legacy_file_with_pickle(path: Path, main_pickle: bytes) -> None:
    """A PyTorch < 1.6 checkpoint file whose object pickle is `main_pickle` (hand-assembled opcodes)."""
    import pickle

    with open(path, "wb") as stream:
        pickle.dump(0x1950A86A20F9469CFC6C, stream, protocol=2)  # torch's legacy magic number
        pickle.dump(1001, stream, protocol=2)  # protocol version
        pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {}}, stream, protocol=2)
        stream.write(main_pickle)
        pickle.dump([], stream, protocol=2)  # no storages


@pytest.mark.parametrize(
    "target", ["torch.nn.modules.conv\nConv1d", "torch.nn.utils.weight_norm\nWeightNorm"]
)
def test_legacy_pickle_cannot_set_attributes_on_an_allowed_class(tmp_path, target):
    """BUILD with a (None, {name: value}) state would setattr on the class itself, for the whole process."""
    path = tmp_path / "build.pt"
    name = b"hijacked_by_a_checkpoint"
    state = b"N}" + b"X" + len(name).to_bytes(4, "little") + name + b"K\x01s\x86"  # (None, {name: 1})
    legacy_file_with_pickle(path, b"\x80\x02c" + target.encode() + b"\n" + state + b"b.")
    with pytest.raises(CheckpointError, match="refused BUILD on the class"):
        load_waveglow(path)
    assert not hasattr(nn.Conv1d, name.decode())
    assert not hasattr(WeightNorm, name.decode())


def _fake_glow_module(module_name: str) -> types.ModuleType:
    """A stand-in for NVIDIA/waveglow's `glow` module: same class names, attributes and sub-modules."""
    module = types.ModuleType(module_name)

    def weight_normed(conv):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.nn.utils.weight_norm(conv, name="weight")

    class Invertible1x1Conv(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv1d(c, c, kernel_size=1, bias=False)

    class WN(nn.Module):
        def __init__(self, n_in_channels, n_mel_channels, n_layers, n_channels, kernel_size):
            super().__init__()
            self.n_layers, self.n_channels = n_layers, n_channels
            self.in_layers, self.res_skip_layers = nn.ModuleList(), nn.ModuleList()
            self.start = weight_normed(nn.Conv1d(n_in_channels, n_channels, 1))
            self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
            self.cond_layer = weight_normed(nn.Conv1d(n_mel_channels, 2 * n_channels * n_layers, 1))
            for i in range(n_layers):
                dilation = 2**i
                self.in_layers.append(
                    weight_normed(
                        nn.Conv1d(
                            n_channels, 2 * n_channels, kernel_size, dilation=dilation, padding=dilation
                        )
                    )
                )
                out = 2 * n_channels if i < n_layers - 1 else n_channels
                self.res_skip_layers.append(weight_normed(nn.Conv1d(n_channels, out, 1)))

    class WaveGlow(nn.Module):
        def __init__(self, n_mel_channels, n_flows, n_group, n_early_every, n_early_size, WN_config):
            super().__init__()
            self.upsample = nn.ConvTranspose1d(n_mel_channels, n_mel_channels, 1024, stride=256)
            self.n_flows, self.n_group = n_flows, n_group
            self.n_early_every, self.n_early_size = n_early_every, n_early_size
            self.WN, self.convinv = nn.ModuleList(), nn.ModuleList()
            n_half, n_remaining = n_group // 2, n_group
            for k in range(n_flows):
                if k % n_early_every == 0 and k > 0:
                    n_half -= n_early_size // 2
                    n_remaining -= n_early_size
                self.convinv.append(Invertible1x1Conv(n_remaining))
                self.WN.append(WN(n_half, n_mel_channels * n_group, **WN_config))
            self.n_remaining_channels = n_remaining

    for cls in (Invertible1x1Conv, WN, WaveGlow):
        cls.__module__, cls.__qualname__ = module_name, cls.__name__
        setattr(module, cls.__name__, cls)
    return module


def save(obj, path, legacy: bool):
    """torch.save in the zip format (PyTorch >= 1.6) or the legacy one of NVIDIA's 2018-2020 releases."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't retrieve source code")
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


@pytest.mark.parametrize("module_name, legacy", [("glow", False), ("glow_old", False), ("glow", True)])
def test_nvidia_pickled_model_loads_without_glow_module(fixture, tmp_path, module_name, legacy):
    glow = _fake_glow_module(module_name)
    assert module_name not in sys.modules
    sys.modules[module_name] = glow
    try:
        config = fixture["config"]
        original = glow.WaveGlow(
            config["n_mel_channels"],
            config["n_flows"],
            config["n_group"],
            config["n_early_every"],
            config["n_early_size"],
            config["WN_config"],
        )
        original.load_state_dict(fixture["state_dict_nvidia_waveglow_layout"], strict=True)
        original.convinv[0].W_inverse = torch.eye(8).unsqueeze(-1)  # cached by a past inference run
        path = tmp_path / "waveglow_256channels_universal_v5.pt"
        save({"model": original, "iteration": 580000, "optimizer": None, "learning_rate": 1e-4}, path, legacy)
    finally:
        del sys.modules[module_name]

    found = read_waveglow_checkpoint(path)
    assert found.source_format == "nvidia_pickle"
    assert found.config.get("alternate_halves", False) == (module_name == "glow_old")
    model = load_waveglow(path)
    assert_state_equal(model, fixture["state_dict"])
    assert model.alternate_halves == (module_name == "glow_old")
    if module_name == "glow":
        assert_infers_like_fixture(model, fixture)


def test_converter_cli_round_trip(fixture, tmp_path, capsys):
    source = tmp_path / "in.pt"
    torch.save(fixture["state_dict_nvidia_waveglow_layout"], source)
    for layout in ("ngc", "nvidia"):
        output = tmp_path / f"out_{layout}.pt"
        argv = [str(source), str(output), "--model", "WaveGlow", "--layout", layout]
        assert convert_checkpoint.main(argv) == 0
        written = torch.load(output)  # weights_only default: plain tensors and dicts
        assert set(written) == {"state_dict", "config"}
        expected = fixture["state_dict"] if layout == "ngc" else fixture["state_dict_nvidia_waveglow_layout"]
        assert sorted(written["state_dict"]) == sorted(expected)
        assert_state_equal(load_waveglow(output), fixture["state_dict"])
    assert "wrote" in capsys.readouterr().out
    assert (
        convert_checkpoint.main([str(tmp_path / "absent.pt"), str(tmp_path / "x.pt"), "-m", "WaveGlow"]) == 1
    )
    assert "no such checkpoint file" in capsys.readouterr().err


def test_waveglow_checkpoint_config_builds_same_model(fixture):
    model = load_waveglow(fixture["state_dict"])
    exported = waveglow_checkpoint(model)
    assert exported["config"] == {k: fixture["config"][k] for k in exported["config"]}
    assert_state_equal(load_waveglow(exported), fixture["state_dict"])


def test_half_precision_checkpoint_loads_as_float32(fixture):
    # NGC "fp16" / AMP checkpoints may store half tensors; they load into the float32 model.
    half = {k: v.half() for k, v in fixture["state_dict"].items()}
    model = load_waveglow({"state_dict": {f"module.{k}": v for k, v in half.items()}})
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(model.state_dict()[k], v.float()) for k, v in half.items())
