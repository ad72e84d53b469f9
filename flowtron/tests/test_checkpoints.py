"""Published and original checkpoints load without running pickled code; the converter writes plain
state dicts. The real files cannot be downloaded here, so files with the published structure are built:
`{'state_dict'}` (flowtron_ljs.pt, flowtron_libritts.pt) and a pickled `flowtron.Flowtron` under 'model'
(the LibriTTS 2K file, and the original train.py's checkpoints with iteration/optimizer)."""

import pickle
import sys
from collections import OrderedDict

import pytest
import torch
from torch import nn

import flowtron as flowtron_package
from flowtron import convert_checkpoint
from flowtron.checkpoints import ORIGINAL_CLASSES, load_flowtron, read_checkpoint
from flowtron.config import ModelConfig
from flowtron.flowtron import Flowtron
from flowtron.infra import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = dict(n_speaker_dim=4, n_text_dim=8, n_attn_channels=6, n_hidden=8)


def small_model(n_speakers=1, **options):
    torch.manual_seed(0)
    return Flowtron(n_speakers=n_speakers, **SMALL, **options)


@pytest.fixture
def original_classes(monkeypatch):
    """Classes named `flowtron.<Name>` as the original's module defines them, so that a model pickles
    the way the original's files do (pickle checks that `flowtron.Flowtron` resolves to the class)."""
    classes = {
        name: type(name, (nn.Module,), {"__module__": "flowtron", "__qualname__": name})
        for name in ORIGINAL_CLASSES
    }
    for name, cls in classes.items():
        monkeypatch.setattr(flowtron_package, name, cls, raising=False)
    return classes


def as_original_pickle(model: nn.Module, classes: dict, instance_norm: bool = False) -> nn.Module:
    """`model` with each of our classes swapped for the original's name (and, for files from before the
    masked norm, the encoder norms as torch's InstanceNorm1d)."""
    renames = {"MaskedInstanceNorm1d": "MaskedInstanceNorm1d"}
    for module in model.modules():
        name = type(module).__name__
        if instance_norm and name == "MaskedInstanceNorm1d":
            module.__class__ = nn.InstanceNorm1d
        elif name in classes:
            module.__class__ = classes[renames.get(name, name)]
    return model


def test_published_state_dict_files_load(tmp_path):
    for n_speakers, name in ((1, "flowtron_ljs.pt"), (123, "flowtron_libritts.pt")):
        model = small_model(n_speakers)
        torch.save({"state_dict": model.state_dict()}, tmp_path / name)
        loaded, info = load_flowtron(tmp_path / name)
        assert info.source_format == "state_dict" and info.model_config.n_speakers == n_speakers
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value)


@pytest.mark.parametrize("instance_norm", [False, True])
def test_pickled_model_file_loads_without_running_code(tmp_path, original_classes, instance_norm):
    model = small_model(2311 if instance_norm else 3, use_cumm_attention=not instance_norm)
    expected = {key: value.clone() for key, value in model.state_dict().items()}
    path = tmp_path / "flowtron_libritts2p3k.pt"
    torch.save({"model": as_original_pickle(model, original_classes, instance_norm)}, path)
    loaded, info = load_flowtron(path)
    assert info.source_format == "pickled_model"
    assert info.model_config.n_speakers == (2311 if instance_norm else 3)
    assert list(loaded.state_dict()) == list(expected)
    for key, value in expected.items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_original_train_py_checkpoint_loads_and_converts(tmp_path, original_classes):
    model = small_model(2)
    expected = {key: value.clone() for key, value in model.state_dict().items()}
    optimizer = torch.optim.RAdam(model.parameters())
    path = tmp_path / "model_1000"
    torch.save(
        {
            "model": as_original_pickle(model, original_classes),
            "iteration": 1000,
            "optimizer": optimizer.state_dict(),
            "learning_rate": 1e-3,
        },
        path,
    )
    info = read_checkpoint(path)
    assert info.checkpoint["iteration"] == 1000
    out = tmp_path / "plain.pt"
    assert convert_checkpoint.main([str(path), str(out)]) == 0
    plain = torch.load(out, weights_only=True)
    assert plain["model_config"]["n_speakers"] == 2
    for key, value in expected.items():
        assert torch.equal(plain["state_dict"][key], value)
    assert convert_checkpoint.main([str(path), str(out)]) == 1  # exists: --force needed
    assert convert_checkpoint.main([str(out), str(out), "--force"]) == 1  # never over its input


class Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused to load.*print"):
        read_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out


def test_legacy_pickle_with_a_global_outside_the_allow_list_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save(
        {"state_dict": OrderedDict(embedding=torch.zeros(1))}, path, _use_new_zipfile_serialization=False
    )
    assert read_checkpoint_keys(path) == ["state_dict"]
    evil = tmp_path / "legacy_evil.pt"
    torch.save({"model": Payload()}, evil, _use_new_zipfile_serialization=False, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refused.*print"):
        read_checkpoint(evil)


def read_checkpoint_keys(path):
    from flowtron.checkpoints import read_checkpoint_file

    return list(read_checkpoint_file(path))


def test_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Flowtron checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    state = small_model().state_dict()
    state["flows.0.conv.bias"][0] = float("nan")
    torch.save({"state_dict": state}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="flows.0.conv.bias.*non-finite"):
        load_flowtron(tmp_path / "nan.pt")
    state["flows.0.conv.bias"][0] = 0.0
    del state["encoder.lstm.weight_ih_l0"]
    with pytest.raises(CheckpointError, match="missing"):
        load_flowtron({"state_dict": state})


def test_options_the_weights_cannot_show_come_from_the_given_config(tmp_path):
    torch.save({"state_dict": small_model().state_dict()}, tmp_path / "ljs.pt")
    _, info = load_flowtron(tmp_path / "ljs.pt", ModelConfig(dummy_speaker_embedding=True))
    assert info.model_config.dummy_speaker_embedding and info.model_config.n_hidden == 8


def test_modules_are_not_left_patched():
    assert "Flowtron" not in vars(sys.modules["flowtron"])
