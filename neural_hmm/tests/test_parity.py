"""Parity with the original Neural-HMM (`fixtures/neural_hmm_fixture.pt`, branch main cf8a0c4).

Tolerances follow the fixture README: log-probabilities rtol 1e-5; per-frame tensors 1e-5 (relative
for large log-likelihoods); synthesis state sequences identical and mels 1e-5.
"""

from pathlib import Path

import pytest
import torch

from neural_hmm.audio import TacotronSTFT
from neural_hmm.data import text_to_ids
from neural_hmm.hmm import forward_algorithm
from neural_hmm.hparams import HParams
from neural_hmm.losses import neural_hmm_loss
from neural_hmm.model import NeuralHMM

PER_FRAME = dict(atol=1e-5, rtol=1e-5)
LOG_LIKELIHOOD = dict(atol=1e-4, rtol=1e-5)  # sums of 80 channel terms, magnitudes ~1e2-1e3


@pytest.fixture(scope="module")
def fixture():
    return torch.load(Path(__file__).parent / "fixtures" / "neural_hmm_fixture.pt", weights_only=True)


def to_device(value, device):
    if torch.is_tensor(value):
        return value.to(device)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, list):
        return [to_device(item, device) for item in value]
    return value


def build(fixture, device, train=False):
    model = NeuralHMM(HParams.from_dict(fixture["config"]))
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.to(device).train(train)


def inputs(fixture, device):
    i = to_device(fixture["inputs"], device)
    return i["text_padded"], i["input_lengths"], i["mel_padded"], i["output_lengths"]


def assert_close_with_nans(actual, expected, **tolerance):
    assert torch.equal(actual.isnan(), expected.isnan()), "NaN positions differ"
    keep = ~expected.isnan()
    torch.testing.assert_close(actual[keep], expected[keep], **tolerance)


def test_config_maps_onto_hparams(fixture):
    hparams = HParams.from_dict(fixture["config"])
    assert hparams.normaliser_mean == pytest.approx(-5.520822525)
    assert hparams.parameternetwork == [32] and hparams.prenet_dropout == 0.0
    assert HParams.from_dict(hparams.to_dict()) == hparams


def test_eval_forward(fixture, device):
    model = build(fixture, device).eval()
    expected = to_device(fixture["outputs"]["eval_forward"], device)
    out = model(*inputs(fixture, device), chunk_size=5, return_parameters=True)
    torch.testing.assert_close(out.log_probs, expected["log_probs"], rtol=1e-5, atol=0)
    torch.testing.assert_close(neural_hmm_loss(out.log_probs), expected["loss"], rtol=1e-5, atol=0)
    torch.testing.assert_close(out.encoder_outputs, expected["encoder_outputs"], **PER_FRAME)
    torch.testing.assert_close(out.state_lengths, expected["encoder_output_lengths"])
    torch.testing.assert_close(out.hmm.log_c, expected["log_c"], **LOG_LIKELIHOOD)
    torch.testing.assert_close(out.hmm.sum_final_log_c, expected["sum_final_log_c"], **LOG_LIKELIHOOD)
    torch.testing.assert_close(out.hmm.transition_logits, expected["transition_vector"], **PER_FRAME)
    torch.testing.assert_close(out.hmm.emission_log_probs, expected["emission_log_probs"], **LOG_LIKELIHOOD)
    torch.testing.assert_close(out.hmm.means.transpose(0, 1), expected["means"], **PER_FRAME)
    torch.testing.assert_close(out.hmm.stds.transpose(0, 1), expected["stds"], **PER_FRAME)
    assert_close_with_nans(out.hmm.log_alpha_scaled, expected["log_alpha_scaled"], atol=1e-3, rtol=1e-5)


def test_gradients(fixture, device):
    model = build(fixture, device).eval()
    grads = to_device(fixture["outputs"]["grads"], device)
    neural_hmm_loss(model(*inputs(fixture, device)).log_probs).backward()
    for name, parameter in model.named_parameters():
        scale = grads[name].abs().max()
        torch.testing.assert_close(parameter.grad, grads[name], atol=1e-5 * scale, rtol=1e-4, msg=name)
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    torch.testing.assert_close(
        total, fixture["outputs"]["eval_forward"]["grad_total_norm"].to(device), rtol=1e-5, atol=0
    )


def test_gradient_checkpointing_matches_fixture(fixture, device):
    model = build(fixture, device).eval()
    grads = to_device(fixture["outputs"]["grads"], device)
    out = model(*inputs(fixture, device), chunk_size=7, gradient_checkpointing=True)
    neural_hmm_loss(out.log_probs).backward()
    torch.testing.assert_close(
        out.log_probs, fixture["outputs"]["eval_forward"]["log_probs"].to(device), rtol=1e-5, atol=0
    )
    for name, parameter in model.named_parameters():
        scale = grads[name].abs().max()
        torch.testing.assert_close(parameter.grad, grads[name], atol=1e-5 * scale, rtol=1e-4, msg=name)


def test_train_mode_forward(fixture, device):
    """Batch statistics over the padded batch (padding included); the fixture disabled encoder dropout."""
    model = build(fixture, device, train=True)
    model.encoder.dropout = 0.0
    expected = to_device(fixture["outputs"]["train_mode_forward"], device)
    out = model(*inputs(fixture, device))
    torch.testing.assert_close(out.log_probs, expected["log_probs"], rtol=1e-5, atol=0)
    torch.testing.assert_close(out.encoder_outputs, expected["encoder_outputs"], **PER_FRAME)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            torch.testing.assert_close(
                module.running_mean, expected["bn_running_mean_after"][name], **PER_FRAME
            )
            torch.testing.assert_close(
                module.running_var, expected["bn_running_var_after"][name], **PER_FRAME
            )


def test_output_net_with_variance_floor(fixture, device):
    model = build(fixture, device).eval()
    expected = to_device(fixture["outputs"]["decoder"], device)
    with torch.no_grad():
        out = model.hmm.decoder(expected["h_post_prenet"], expected["states"])
    assert (expected["std"] == 0.01).float().mean() > 0.4  # the fixture exercises the floor
    torch.testing.assert_close(out.mean, expected["mean"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.std, expected["std"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.transition_logit, expected["transition_vector"], atol=1e-4, rtol=1e-5)


def test_forward_algorithm_sub_fixture(fixture, device):
    expected = to_device(fixture["outputs"]["forward_algorithm"], device)
    out = forward_algorithm(
        expected["emission_log_probs"],
        expected["transition_logits"],
        expected["state_lengths"],
        expected["frame_lengths"],
    )
    torch.testing.assert_close(out.log_probs, expected["log_probs"], rtol=1e-6, atol=0)
    torch.testing.assert_close(out.log_c, expected["log_c"], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.sum_final_log_c, expected["sum_final_log_c"], rtol=1e-6, atol=1e-6)
    assert_close_with_nans(out.log_alpha_scaled, expected["log_alpha_scaled"], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(
        out.log_probs.double(), expected["log_probs_float64_independent"], rtol=1e-6, atol=0
    )


@pytest.mark.parametrize(
    "run", ["utt0_T300_thr0.5", "utt0_T300_thr0.7", "utt1_T300_thr0.5", "utt0_T15_thr0.5"]
)
def test_synthesis(fixture, device, run):
    model = build(fixture, device).eval()
    expected = to_device(fixture["outputs"]["synthesis"][run], device)
    with (
        pytest.warns(UserWarning, match="max_sampling_time") if run.endswith("T15_thr0.5") else _no_warning()
    ):
        out = model.synthesise(
            expected["text_ids"],
            sampling_temp=0.0,
            max_sampling_time=expected["max_sampling_time"],
            duration_quantile_threshold=expected["duration_quantile_threshold"],
        )
    assert torch.equal(out.states_travelled, expected["states_travelled"])
    assert torch.equal(out.state_index_per_step, expected["state_index_per_step"])
    torch.testing.assert_close(out.mel, expected["mel_output"], **PER_FRAME)
    torch.testing.assert_close(out.mel_normalised, expected["means_normalised"], **PER_FRAME)
    torch.testing.assert_close(out.stds, expected["stds"], **PER_FRAME)
    torch.testing.assert_close(out.transition_probability, expected["transition_probability"], **PER_FRAME)
    torch.testing.assert_close(out.encoder_outputs, expected["encoder_outputs"], **PER_FRAME)


class _no_warning:
    def __enter__(self):
        import warnings

        self._context = warnings.catch_warnings()
        self._context.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


def test_mel_features(fixture):
    stft = TacotronSTFT()
    config = fixture["config"]
    for audio, mel_log, mel_normalised in zip(
        fixture["inputs"]["audio"], fixture["outputs"]["mel_log"], fixture["outputs"]["mel_normalised"]
    ):
        mel = stft.mel_spectrogram(audio.unsqueeze(0))[0]
        torch.testing.assert_close(mel, mel_log, atol=1e-4, rtol=1e-5)
        normalised = (mel - config["normaliser_mean"]) / config["normaliser_std"]
        torch.testing.assert_close(normalised, mel_normalised, atol=5e-5, rtol=1e-5)


def test_text_front_end(fixture):
    front_end = fixture["inputs"]["text_front_end"]
    for text, ids in zip(front_end["texts"], front_end["ids"]):
        assert torch.equal(text_to_ids(text), ids), text
