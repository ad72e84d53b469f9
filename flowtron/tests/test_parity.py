"""Our Flowtron against tensors the original code produced on CPU (`fixtures/README.md`): the fixtures'
state dicts load unchanged and every recorded output, loss, gradient and inference is reproduced.
Tolerance: atol 1e-5, rtol 1e-5 (float32), the fixture README's suggestion."""

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from flowtron.audio import TacotronSTFT
from flowtron.config import DataConfig
from flowtron.data import attention_prior, beta_binomial_prior, text_to_ids
from flowtron.flowtron import Flowtron, reverse_order
from flowtron.layers import MaskedInstanceNorm1d, masked_instance_norm
from flowtron.losses import FlowtronLoss, attention_ctc_loss

pytestmark = pytest.mark.usefixtures("one_thread")
FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "fixture.pt", weights_only=True)


@pytest.fixture(scope="module")
def sub():
    return torch.load(FIXTURES / "subfixtures.pt", weights_only=True)


def build(model_config, state_dict):
    model = Flowtron(**model_config)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def model(fixture):
    return build(fixture["config"]["model_config"], fixture["state_dict"])


def criterion(loss_config):
    keys = ("sigma", "gm_loss", "gate_loss", "use_ctc_loss", "ctc_loss_weight", "blank_logprob")
    return FlowtronLoss(*(loss_config[key] for key in keys))


def close(actual, expected, **tolerance):
    torch.testing.assert_close(actual, expected, **(tolerance or TOLERANCE))


@pytest.mark.parametrize("case", ["forward_with_prior", "forward_no_prior"])
def test_teacher_forced_outputs_and_losses(fixture, model, case):
    inputs, expected = fixture["inputs"], fixture["outputs"][case]
    prior = inputs["attn_prior"] if case == "forward_with_prior" else None
    output = model(
        inputs["mel"], inputs["speaker_ids"], inputs["text"], inputs["in_lens"], inputs["out_lens"], prior
    )
    close(output.z, expected["z"])  # padding included: its behaviour is reproduced too
    close(output.gate, expected["gate"])
    for flow in range(2):
        close(output.log_s_list[flow], expected["log_s_list"][flow])
        close(output.attns[flow], expected["attns"][flow])
        close(output.attn_logprobs[flow], expected["attn_logprobs"][flow])
    assert output.mean is None and expected["mean"] == "None"
    terms = criterion(fixture["config"]["loss_config"])(
        output, inputs["gate_target"], inputs["in_lens"], inputs["out_lens"]
    )
    close(terms.nll, expected["loss_nll"])
    close(terms.gate, expected["loss_gate"])
    close(terms.ctc, expected["loss_ctc"])
    close(terms.total(0.01, apply_ctc=True), expected["loss_total"])


def test_gradients_of_the_total_loss(fixture):
    model = build(fixture["config"]["model_config"], fixture["state_dict"])
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    output = model(
        inputs["mel"],
        inputs["speaker_ids"],
        inputs["text"],
        inputs["in_lens"],
        inputs["out_lens"],
        inputs["attn_prior"],
    )
    terms = criterion(fixture["config"]["loss_config"])(
        output, inputs["gate_target"], inputs["in_lens"], inputs["out_lens"]
    )
    terms.total(0.01, apply_ctc=True).backward()
    parameters = dict(model.named_parameters())
    for name, expected in outputs["grads_total_loss_with_prior"].items():
        close(parameters[name].grad, expected, atol=1e-6, rtol=1e-4)
    norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters() if p.grad is not None))
    close(norm, outputs["grad_global_norm_with_prior"])


INFERENCE_CASES = [
    "sigma0_gate0.5",
    "sigma0_nogate",
    "sigma0_gate0.485",
    "fixed_residual_sigma0.5_nogate",
    "sigma0_nogate_with_prior",
]


@pytest.mark.parametrize("case", INFERENCE_CASES)
def test_inference(fixture, model, case):
    expected = fixture["outputs"]["inference"][case]
    prior = expected.get("attn_prior")
    text = fixture["inputs"]["text"][1:2, :9]
    result = model.infer(
        expected["residual"],
        torch.tensor([[1]]),
        text,
        1.0,
        expected["gate_threshold"],
        attn_prior=None if isinstance(prior, str) else prior,
    )
    assert result.mel.shape[2] == expected["n_out"]
    close(result.mel, expected["mels"])
    for attention, reference in zip(result.attentions, expected["attns"]):
        close(attention, reference)
    close(result.gate_logits, expected["gate_logits_last_flow"])
    assert result.gate_fired == (expected["n_out"] < expected["residual"].shape[2])


def test_forward_inverts_inference_with_the_original_error(fixture, model):
    entry = fixture["outputs"]["inference"]
    mel = entry["fixed_residual_sigma0.5_nogate"]["mels"]
    text = fixture["inputs"]["text"][1:2, :9]
    z = model(mel, torch.tensor([1]), text, torch.tensor([9]), torch.tensor([10])).z
    close(z, entry["invertibility_fixed_residual"]["z_recon"])
    residual = entry["fixed_residual_sigma0.5_nogate"]["residual"].permute(2, 0, 1)
    assert (z - residual).abs().max() <= 10 * entry["invertibility_fixed_residual"]["max_abs_err"] + 1e-6


def test_backward_flow_order_is_the_originals_flip_then_roll():
    lengths = torch.tensor([3, 5, 1])
    order = reverse_order(lengths, 5)
    x = torch.arange(5.0)[:, None].expand(5, 3)
    for b, length in enumerate(lengths.tolist()):
        flipped = torch.flip(x[:, b], (0,)).roll(length, 0)
        assert torch.equal(x[:, b][order[:, b]], flipped)
    assert torch.equal(order.gather(0, order), torch.arange(5)[:, None].expand(5, 3))  # its own inverse


def test_attention_prior(sub):
    for case in sub["attn_prior"]["cases"]:
        prior = beta_binomial_prior(case["text_len"], case["mel_len"], case["scaling_factor"])
        np.testing.assert_allclose(prior, case["prior"].numpy(), rtol=1e-9, atol=1e-12)
    thresholded = sub["attn_prior"]["thresholded"]
    prior = attention_prior(
        thresholded["text_len"],
        thresholded["mel_len"],
        thresholded["scaling_factor"],
        thresholded["threshold"],
    )
    close(prior, thresholded["prior"].float())
    assert int((prior == 0).sum()) == int((thresholded["prior"] == 0).sum()) > 0


@pytest.mark.parametrize("case", [0, 1])
def test_ctc_loss(sub, case):
    ctc = sub["ctc"]
    expected = ctc["cases"][case]
    cost = attention_ctc_loss(
        ctc["attn_logprob"][:, 0], ctc["in_lens"], ctc["out_lens"], expected["blank_logprob"]
    )
    close(cost, expected["cost"])


def test_masked_instance_norm(sub):
    norm = sub["masked_instance_norm"]
    close(
        masked_instance_norm(norm["x"], norm["mask"], norm["weight"], norm["bias"], norm["eps"]),
        norm["y_masked"],
    )
    module = MaskedInstanceNorm1d(4)
    with torch.no_grad():
        module.weight.copy_(norm["weight"])
        module.bias.copy_(norm["bias"])
    close(module(norm["x"]), norm["y_unmasked"])
    close(module(norm["x"], norm["mask"]), norm["y_masked"])


def test_radam_is_torchs_with_decoupled_weight_decay(sub):
    radam = sub["radam"]
    parameter = torch.nn.Parameter(radam["p0"].clone())
    optimizer = torch.optim.RAdam(
        [parameter],
        lr=radam["lr"],
        betas=tuple(radam["betas"]),
        eps=radam["eps"],
        weight_decay=radam["weight_decay"],
        decoupled_weight_decay=True,
    )
    for gradient, expected in zip(radam["grads"], radam["params_after_each_step"]):
        parameter.grad = gradient.clone()
        optimizer.step()
        torch.testing.assert_close(parameter.detach(), expected, atol=0, rtol=0)


def test_mel_features(sub):
    mel = sub["mel"]
    stft = TacotronSTFT(**mel["config"], n_mel_channels=mel["n_mel_channels"])
    close(stft.mel_basis, mel["mel_basis"])
    audio = mel["audio_int16_as_float"] / mel["max_wav_value"]
    close(stft.mel_spectrogram(audio[None])[0], mel["mel"], atol=5e-5, rtol=1e-5)


def test_symbols(sub):
    from shared_text.symbols import get_symbols

    assert list(get_symbols("flowtron")) == sub["text"]["symbols"]


@pytest.mark.parametrize("index", range(8))
def test_text_front_end(sub, index):
    case = sub["text"]["cases"][index]
    config = replace(DataConfig(), p_arpabet=case["p_arpabet"], keep_ambiguous=False)
    with pytest.warns(UserWarning) if "{" in case["raw"] else _no_warning():
        ids = text_to_ids(case["raw"], config, random.Random(1234))
    assert ids.tolist() == case["sequence"].tolist()


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cumulative_attention_variant(fixture, sub):
    variant, inputs = sub["cumm_attention"], fixture["inputs"]
    model = build(variant["model_config"], variant["state_dict"])
    assert list(model.state_dict()) == list(variant["state_dict"])  # the alias keys, in order
    output = model(
        inputs["mel"], inputs["speaker_ids"], inputs["text"], inputs["in_lens"], inputs["out_lens"]
    )
    close(output.z, variant["z"])
    close(output.gate, variant["gate"])
    for flow in range(2):
        close(output.log_s_list[flow], variant["log_s_list"][flow])
        close(output.attns[flow], variant["attns"][flow])
        close(output.attn_logprobs[flow], variant["attn_logprobs"][flow])
    terms = FlowtronLoss(1.0, False, True, True, 0.01, -8)(
        output, inputs["gate_target"], inputs["in_lens"], inputs["out_lens"]
    )
    close(terms.nll, variant["loss_nll"])
    close(terms.gate, variant["loss_gate"])
    close(terms.ctc, variant["loss_ctc"])
    result = model.infer(
        torch.zeros(1, 80, 6), torch.tensor([[1]]), inputs["text"][1:2, :9], gate_threshold=2.0
    )
    close(result.mel, variant["infer_sigma0_nogate_mels"])
    for attention, reference in zip(result.attentions, variant["infer_attns"]):
        close(attention, reference.reshape(attention.shape))


def test_gmm_variant(fixture, sub):
    variant, inputs = sub["gmm"], fixture["inputs"]
    np.random.seed(77)  # the fixed means are drawn from numpy's global RNG, as the original
    model = build(variant["model_config"], variant["state_dict"])
    output = model(
        inputs["mel"],
        inputs["speaker_ids"],
        inputs["text"],
        inputs["in_lens"],
        inputs["out_lens"],
        inputs["attn_prior"],
    )
    for name in ("z", "gate", "mean", "log_var", "prob"):
        close(getattr(output, name), variant[name])
    for flow in range(2):
        close(output.log_s_list[flow], variant["log_s_list"][flow])
    terms = FlowtronLoss(1.0, True, True, True, 0.01, -8)(
        output, inputs["gate_target"], inputs["in_lens"], inputs["out_lens"]
    )
    close(terms.nll, variant["loss_nll"])
    close(terms.gate, variant["loss_gate"])
    close(terms.ctc, variant["loss_ctc"])
