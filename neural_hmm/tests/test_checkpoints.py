"""Loading published-style Lightning checkpoints safely, our plain format and bare state dicts."""

import os
import pickle
import sys
import types

import pytest
import torch

from neural_hmm import convert_checkpoint
from neural_hmm.checkpoints import CheckpointError, load_neural_hmm, neural_hmm_checkpoint, read_checkpoint
from neural_hmm.hparams import HParams
from neural_hmm.model import NeuralHMM

TINY = dict(
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    prenet_dim=16,
    post_prenet_rnn_dim=32,
    parameternetwork=[24],
)


def fake_class(monkeypatch, module_name: str, class_name: str, base=object):
    """A class importable as module_name.class_name while the test runs, so pickle can save it."""
    parts = module_name.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules or not getattr(sys.modules[name], "_fake", False):
            module = types.ModuleType(name)
            module._fake = True
            monkeypatch.setitem(sys.modules, name, module)
    cls = type(class_name, (base,), {"__module__": module_name, "__qualname__": class_name})
    setattr(sys.modules[module_name], class_name, cls)
    return cls


def lightning_checkpoint(monkeypatch, model: NeuralHMM, attribute_dict: bool = False) -> dict:
    """The structure the original train.py writes under pytorch-lightning 1.4.9 (reference doc, sec. 6)."""
    normaliser_cls = fake_class(monkeypatch, "src.utilities.data", "Normalise")
    cmudict_cls = fake_class(monkeypatch, "src.utilities.text.cmudict", "CMUDict")
    callback_cls = fake_class(monkeypatch, "pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
    normaliser = normaliser_cls()
    normaliser.mean, normaliser.std = -5.52, 2.07
    cmudict = cmudict_cls()
    cmudict._entries = {"HELLO": ["HH AH0 L OW1"]}
    hyper_parameters = model.hparams.to_dict()
    for name in ("normaliser_mean", "normaliser_std"):
        hyper_parameters.pop(name)
    hyper_parameters.update(
        normaliser=normaliser,
        cmu_phonetiser=cmudict,
        logger=None,
        go_token_init_value=torch.tensor(hyper_parameters["go_token_init_value"]),
        init_transition_probability=torch.tensor([0.158]),
        checkpoint_path=None,
    )
    if attribute_dict:
        attribute_dict_cls = fake_class(
            monkeypatch, "pytorch_lightning.utilities.parsing", "AttributeDict", dict
        )
        hyper_parameters = attribute_dict_cls(hyper_parameters)
    optimiser = torch.optim.Adam(model.parameters())
    return {
        "epoch": 3,
        "global_step": 501,
        "pytorch-lightning_version": "1.4.9",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "callbacks": {
            callback_cls: {"monitor": None, "best_model_score": None, "best_model_path": "", "dirpath": "x"}
        },
        "optimizer_states": [optimiser.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "hparams",
        "hyper_parameters": hyper_parameters,
    }


def save_without_fake_modules(monkeypatch, checkpoint, path):
    torch.save(checkpoint, path)
    monkeypatch.undo()  # the original code and Lightning are not importable when loading
    assert "src.utilities.data" not in sys.modules


@pytest.mark.parametrize("attribute_dict", [False, True])
def test_lightning_checkpoint_loads_safely(monkeypatch, tmp_path, attribute_dict):
    torch.manual_seed(0)
    model = NeuralHMM(HParams(**TINY, variance_floor=0.001)).eval()
    path = tmp_path / "Neural-HMM-Female.ckpt"
    save_without_fake_modules(monkeypatch, lightning_checkpoint(monkeypatch, model, attribute_dict), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # plain weights-only loading refuses the pickled objects
    loaded = load_neural_hmm(path)
    assert loaded.hparams.variance_floor == 0.001  # stored hparams win over our defaults
    assert loaded.hparams.normaliser_mean == -5.52 and loaded.hparams.normaliser_std == 2.07
    assert loaded.hparams.init_transition_probability == pytest.approx(0.158)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not loaded.training


def test_forbidden_global_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"payload": Exploit()}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_neural_hmm(path)
    assert not marker.exists()


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "broken.ckpt"
    torch.save({"state_dict": {}}, path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_neural_hmm(path)


def test_convert_checkpoint_cli(monkeypatch, tmp_path, capsys):
    torch.manual_seed(0)
    model = NeuralHMM(HParams(**TINY, state_per_phone=1)).eval()
    source, target = tmp_path / "in.ckpt", tmp_path / "out.pt"
    save_without_fake_modules(monkeypatch, lightning_checkpoint(monkeypatch, model), source)
    assert convert_checkpoint.main([str(source), str(target)]) == 0
    assert "wrote" in capsys.readouterr().out
    plain = torch.load(target, weights_only=True)  # no allow list needed
    assert set(plain) == {"state_dict", "hparams"} and plain["hparams"]["normaliser_mean"] == -5.52
    assert list(plain["state_dict"]) == list(model.state_dict())
    reloaded = load_neural_hmm(target)
    assert reloaded.hparams.state_per_phone == 1
    text = torch.tensor([[5, 20, 31]])
    torch.testing.assert_close(
        reloaded.encode(text, torch.tensor([3]))[0], model.encode(text, torch.tensor([3]))[0]
    )


def test_convert_checkpoint_cli_reports_errors(tmp_path, capsys):
    assert convert_checkpoint.main([str(tmp_path / "missing.ckpt"), str(tmp_path / "out.pt")]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err


def test_own_format_round_trip(tmp_path):
    torch.manual_seed(0)
    model = NeuralHMM(HParams(**TINY, duration_quantile_threshold=0.42))
    torch.save(neural_hmm_checkpoint(model), tmp_path / "model.pt")
    loaded = load_neural_hmm(tmp_path / "model.pt", duration_quantile_threshold=0.6)
    assert loaded.hparams.duration_quantile_threshold == 0.6
    assert loaded.hparams.replace(duration_quantile_threshold=0.42) == model.hparams


def test_bare_state_dict_sizes_are_inferred():
    torch.manual_seed(0)
    hparams = HParams(**TINY, state_per_phone=1, prenet_n_layers=3, encoder_n_convolutions=2)
    model = NeuralHMM(hparams)
    loaded = read_checkpoint({f"model.{k}": v for k, v in model.state_dict().items()})
    assert loaded.source_format == "state_dict"
    names = ["encoder_embedding_dim", "state_per_phone", "prenet_n_layers", "prenet_dim"]
    names += ["post_prenet_rnn_dim", "parameternetwork", "encoder_n_convolutions", "n_symbols"]
    for name in names:
        assert getattr(loaded.hparams, name) == getattr(hparams, name), name
    load_neural_hmm({k: v for k, v in model.state_dict().items()})


def test_mismatched_weights_are_explained():
    model = NeuralHMM(HParams(**TINY))
    state = model.state_dict()
    state.pop("hmm.go_tokens")
    with pytest.raises(CheckpointError, match="lacks"):
        load_neural_hmm(state)
    checkpoint = neural_hmm_checkpoint(model)
    checkpoint["hparams"]["state_per_phone"] = 1
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_neural_hmm(checkpoint)
