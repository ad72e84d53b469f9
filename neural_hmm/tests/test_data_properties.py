"""Data-dependent statistics (`generate_data_properties.py`) against a direct numpy computation."""

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from neural_hmm import data_properties as gdp
from neural_hmm import generate_data_properties
from neural_hmm.data import TextMelDataset, collate_text_mel, text_to_ids
from neural_hmm.hparams import HParams
from neural_hmm.model import NeuralHMM


def tiny_dataset(seed=0):
    generator = torch.Generator().manual_seed(seed)
    items = []
    for n_symbols, n_frames in [(5, 17), (9, 40), (3, 8)]:
        ids = torch.randint(1, 150, (n_symbols,), generator=generator)
        mel = torch.randn(80, n_frames, generator=generator) * 2 - 5 + torch.linspace(-1, 1, 80)[:, None]
        items.append((ids, mel))
    return items


def numpy_reference(items):
    mels = [mel.double().numpy() for _, mel in items]
    values = np.concatenate([m.reshape(-1) for m in mels])
    mean, std = values.mean(), values.std()
    one_pass_std = np.sqrt((values**2).mean() - mean**2)
    go = (np.mean([m[:, 0] for m in mels], axis=0) - mean) / one_pass_std
    transition = sum(len(ids) for ids, _ in items) / sum(m.shape[1] for m in mels)
    return mean, std, transition, go


def test_statistics_match_numpy():
    items = tiny_dataset()
    parameters = gdp.compute_data_parameters(items)
    mean, std, transition, go = numpy_reference(items)
    assert parameters.data_mean.dtype == torch.float32 and parameters.data_mean.shape == (1,)
    assert parameters.data_mean.item() == pytest.approx(mean, rel=1e-6)
    assert parameters.data_std.item() == pytest.approx(std, rel=1e-6)
    assert parameters.init_transition_prob.item() == pytest.approx(transition, rel=1e-6)  # per symbol
    np.testing.assert_allclose(parameters.go_token_init_value.numpy(), go, rtol=1e-5, atol=1e-6)


def test_cache_round_trip_and_hparams(tmp_path):
    parameters = gdp.compute_data_parameters(tiny_dataset())
    path = tmp_path / "data_parameters.pt"
    gdp.save_data_parameters(parameters, path)
    assert set(torch.load(path, weights_only=True)) == set(gdp.KEYS)  # the original's file layout
    loaded = gdp.load_data_parameters(path)
    for a, b in zip(loaded, parameters):
        assert torch.equal(a, b)
    hparams = gdp.apply_data_parameters(HParams(symbols_embedding_dim=16, encoder_embedding_dim=16), loaded)
    model = NeuralHMM(hparams)
    torch.testing.assert_close(model.hmm.go_tokens[0], parameters.go_token_init_value)
    assert hparams.normaliser_std == parameters.data_std.item()
    assert model.hmm.decoder.decoder_network.layers[-1].bias[-1].item() == pytest.approx(
        np.log(loaded.init_transition_prob.item() / (1 - loaded.init_transition_prob.item())), abs=1e-5
    )


def test_repository_ljspeech_values_are_the_defaults():
    hparams = HParams()
    assert hparams.normaliser_mean == pytest.approx(-5.5208, abs=1e-4)
    assert hparams.normaliser_std == pytest.approx(2.0656, abs=1e-4)
    assert hparams.init_transition_probability == pytest.approx(0.1580, abs=1e-4)


def write_corpus(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i, (text, seconds) in enumerate([("Hello world.", 0.4), ("Where is the cat?", 0.7)]):
        audio = (rng.standard_normal(int(22050 * seconds)) * 3000).astype(np.int16)
        wavfile.write(tmp_path / f"utt{i}.wav", 22050, audio)
        lines.append(f"utt{i}.wav|{text}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.txt"


def test_filelist_statistics_are_cached(tmp_path, monkeypatch):
    filelist = write_corpus(tmp_path)
    hparams = HParams()
    cache = tmp_path / "data_parameters.pt"
    parameters = gdp.data_parameters_for_filelist(filelist, hparams, cache_path=cache)
    dataset = TextMelDataset(filelist, hparams, normalise=False)
    mean, std, transition, go = numpy_reference([dataset[i] for i in range(len(dataset))])
    assert parameters.data_mean.item() == pytest.approx(mean, rel=1e-6)
    assert parameters.data_std.item() == pytest.approx(std, rel=1e-6)
    assert parameters.init_transition_prob.item() == pytest.approx(
        (11 + 15) / (1 + 8820 // 256 + 1 + 15435 // 256)
    )
    assert transition == pytest.approx(parameters.init_transition_prob.item(), rel=1e-6)
    assert cache.is_file()

    def fail(*args, **kwargs):
        raise AssertionError("statistics recomputed despite the cache")

    monkeypatch.setattr(gdp, "compute_data_parameters", fail)
    cached = gdp.data_parameters_for_filelist(filelist, hparams, cache_path=cache)
    assert torch.equal(cached.go_token_init_value, parameters.go_token_init_value)


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    filelist = write_corpus(tmp_path)
    out = tmp_path / "stats.pt"
    assert generate_data_properties.main(["--training-files", str(filelist), "-o", str(out)]) == 0
    assert generate_data_properties.main(["--training-files", str(filelist), "-o", str(out)]) == 1
    assert "exists; pass --force to replace it" in capsys.readouterr().err
    assert generate_data_properties.main(["--training-files", str(filelist), "-o", str(out), "-f"]) == 0


def test_dataset_normalises_and_collate_sorts(tmp_path):
    filelist = write_corpus(tmp_path)
    hparams = HParams()
    dataset = TextMelDataset(filelist, hparams)
    raw = TextMelDataset(filelist, hparams, normalise=False)
    ids, mel = dataset[1]
    assert torch.equal(ids, text_to_ids("Where is the cat?"))
    torch.testing.assert_close(mel, (raw[1][1] - hparams.normaliser_mean) / hparams.normaliser_std)
    text, text_lengths, mels, mel_lengths = collate_text_mel([dataset[0], dataset[1]])
    assert text_lengths.tolist() == [15, 11] and mel_lengths.tolist() == [
        mel.shape[1],
        dataset[0][1].shape[1],
    ]
    assert mels[1, :, mel_lengths[1] :].abs().sum() == 0
