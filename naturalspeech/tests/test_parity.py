"""Our networks load the original's weights unchanged and reproduce its outputs (fixtures made by running
heatz123/naturalspeech on CPU; see fixtures/README.md for what each holds and the tolerances)."""

from pathlib import Path

import pytest
import torch

from naturalspeech import losses, models
from naturalspeech.commons import ReplayDraws, slice_segments
from naturalspeech.mel_processing import mel_spectrogram_torch, spec_to_mel_torch, spectrogram_torch

FIXTURES = Path(__file__).parent / "fixtures"
SUB_MODULE = dict(atol=1e-5, rtol=1e-5)
WHOLE_MODEL = dict(atol=1e-4, rtol=1e-5)

pytestmark = pytest.mark.usefixtures("one_thread")


def load(name):
    return torch.load(FIXTURES / name, weights_only=True)


def test_duration_predictor_and_learnable_upsampling():
    fixture = load("durator.pt")
    config, inputs, outputs = fixture["config"], fixture["inputs"], fixture["outputs"]
    predictor = models.DurationPredictor(**config["duration_predictor"])
    predictor.load_state_dict(fixture["state_dict"]["dp"])
    upsampler = models.LearnableUpsampling(**config["learnable_upsampling"])
    upsampler.load_state_dict(fixture["state_dict"]["learnable_upsampling"])
    predictor.eval(), upsampler.eval()
    logw = predictor(inputs["x"], inputs["x_mask"])
    torch.testing.assert_close(logw, outputs["logw"], **SUB_MODULE)
    w = torch.exp(logw) * inputs["x_mask"]
    torch.testing.assert_close(w, outputs["w"], **SUB_MODULE)
    d_gt = inputs["d_gt"]
    l_length = torch.sum((logw - torch.log(d_gt.unsqueeze(1) + 1e-6) * inputs["x_mask"]) ** 2, [1, 2])
    torch.testing.assert_close(l_length / inputs["x_mask"].sum(), outputs["l_length"], **SUB_MODULE)
    for name, durations in (("gt", d_gt), ("pred", w.squeeze(1))):
        result = upsampler(durations, inputs["x"].transpose(1, 2), inputs["src_mask"])
        torch.testing.assert_close(result.upsampled, outputs[f"{name}_upsampled_rep"], **SUB_MODULE)
        assert torch.equal(result.mel_pad, outputs[f"{name}_mel_mask"])
        assert torch.equal(result.mel_lengths, outputs[f"{name}_mel_len"])
        torch.testing.assert_close(result.W, outputs[f"{name}_W"], **SUB_MODULE)
        m_p, logs_p = torch.split(result.upsampled.transpose(1, 2), 192, dim=1)
        torch.testing.assert_close(m_p, outputs[f"{name}_m_p"], **SUB_MODULE)
        torch.testing.assert_close(logs_p, outputs[f"{name}_logs_p"], **SUB_MODULE)
    upsampler.train()  # BatchNorm on batch statistics, padding included
    result = upsampler(d_gt, inputs["x"].transpose(1, 2), inputs["src_mask"])
    torch.testing.assert_close(result.upsampled, outputs["train_gt_upsampled_rep"], **SUB_MODULE)
    torch.testing.assert_close(result.W, outputs["train_gt_W"], **SUB_MODULE)


def test_flow_both_directions_and_invertibility():
    fixture = load("flow.pt")
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    flow = models.ResidualCouplingBlock(**fixture["config"])
    flow.load_state_dict(fixture["state_dict"])
    flow.eval()
    mask = inputs["mask"]
    forward = flow(inputs["x"], mask)
    torch.testing.assert_close(forward, outputs["forward_x"], **SUB_MODULE)
    torch.testing.assert_close(
        flow(forward, mask, reverse=True), outputs["reverse_of_forward_x"], **SUB_MODULE
    )
    torch.testing.assert_close(flow(inputs["y"], mask, reverse=True), outputs["reverse_y"], **SUB_MODULE)
    coupling = flow.flows[0]
    torch.testing.assert_close(coupling(inputs["x"], mask), outputs["coupling0_forward_x"], **SUB_MODULE)
    assert torch.equal(coupling.log_determinant(inputs["x"]), outputs["coupling0_logdet"])
    # On valid frames the reverse undoes the forward (padding is zeroed by the mask).
    torch.testing.assert_close(
        flow(forward, mask, reverse=True) * mask, inputs["x"] * mask, atol=1e-5, rtol=0
    )


def test_memory_bank_attention_and_kmeans_initialisation():
    fixture = load("memory_bank.pt")
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    bank = models.VAEMemoryBank(**fixture["config"])
    bank.load_state_dict(fixture["state_dict"])
    bank.eval()
    torch.testing.assert_close(bank(inputs["z"]), outputs["output"], **SUB_MODULE)
    torch.testing.assert_close(bank.encoder.attn, outputs["attn"], **SUB_MODULE)
    initialised = models.VAEMemoryBank(**fixture["config"], init_values=inputs["kmeans_centers"].T)
    assert torch.equal(initialised.memory_bank.detach(), outputs["memory_bank_from_init_values"])


@pytest.fixture(scope="module")
def generator_fixture():
    fixture = load("generator.pt")
    config = fixture["config"]
    net = models.SynthesizerTrn(
        config["n_vocab"], config["spec_channels"], config["segment_size_frames"], config["hps"]["models"]
    )
    net.attach_memory_bank()
    net.load_state_dict(fixture["state_dict"], strict=True)  # every name and shape as the original's
    return net.eval(), fixture


def run_forward(net, fixture, use_memory_bank=True):
    inputs = fixture["inputs"]
    net.use_memory_bank = use_memory_bank
    try:
        return net(
            inputs["x"],
            inputs["x_lengths"],
            inputs["spec"],
            inputs["spec_lengths"],
            d=inputs["duration"],
            use_gt_duration=True,
            draws=ReplayDraws(inputs["noise_forward"]),
        )
    finally:
        net.use_memory_bank = True


def test_whole_generator_forward_with_replayed_noise(generator_fixture):
    net, fixture = generator_fixture
    outputs = fixture["outputs"]
    out = run_forward(net, fixture)
    for name in ("ids_slice", "ids_slice_q", "p_mask"):
        assert torch.equal(getattr(out, name), outputs[name]), name
    for name in (
        "y_hat",
        "l_length",
        "x_mask",
        "z_mask",
        "z",
        "z_p",
        "m_p",
        "logs_p",
        "m_q",
        "logs_q",
        "W",
        "y_hat_e2e",
        "z_q",
        "d",
    ):
        torch.testing.assert_close(getattr(out, name), outputs[name], **WHOLE_MODEL, msg=name)
    warm_up = run_forward(net, fixture, use_memory_bank=False)
    torch.testing.assert_close(warm_up.y_hat, outputs["nobank_y_hat"], **WHOLE_MODEL)
    torch.testing.assert_close(warm_up.y_hat_e2e, outputs["nobank_y_hat_e2e"], **WHOLE_MODEL)


def test_whole_generator_losses(generator_fixture):
    net, fixture = generator_fixture
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    train = fixture["config"]["hps"]["train"]
    out = run_forward(net, fixture)
    y1 = slice_segments(inputs["y"], out.ids_slice * 256, 2048)
    assert torch.equal(y1, outputs["y1"])
    assert torch.equal(slice_segments(inputs["y"], out.ids_slice_q * 256, 2048), outputs["y2"])
    mel = spec_to_mel_torch(inputs["spec"], 1024, 80, 22050, 0.0, None)
    torch.testing.assert_close(mel, outputs["mel"], **SUB_MODULE)
    y_mel = slice_segments(mel, out.ids_slice, 8)
    torch.testing.assert_close(y_mel, outputs["y_mel"], **SUB_MODULE)
    y_hat_mel = mel_spectrogram_torch(out.y_hat.squeeze(1), 1024, 80, 22050, 256, 1024, 0.0, None)
    torch.testing.assert_close(y_hat_mel, outputs["y_hat_mel"], **WHOLE_MODEL)
    computed = {
        "loss_mel": losses.mel_loss(y_mel, y_hat_mel) * train["c_mel"],
        "loss_kl": losses.kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask) * train["c_kl"],
        "loss_kl_fwd": losses.kl_loss(out.z_q, out.logs_p, out.m_q, out.logs_q, out.p_mask.unsqueeze(1))
        * train["c_kl_fwd"],
        "loss_dur": out.l_length.sum() * train["c_dur"],
    }
    for name, value in computed.items():
        torch.testing.assert_close(value, outputs[name], atol=1e-4, rtol=1e-5, msg=name)
    q_mask = out.z_mask.squeeze(1)
    for exact in (True, False):
        backward_kl = losses.kl_loss_dtw(
            out.z_p,
            out.logs_q,
            out.m_p,
            out.logs_p,
            out.p_mask,
            q_mask,
            padding_independent=False,
            exact_matrix=exact,
        )
        forward_kl = losses.kl_loss_dtw(
            out.z_q,
            out.logs_p,
            out.m_q,
            out.logs_q,
            q_mask,
            out.p_mask,
            padding_independent=False,
            exact_matrix=exact,
        )
        torch.testing.assert_close(backward_kl, outputs["loss_kl_dtw_raw"], atol=0, rtol=1e-6)
        torch.testing.assert_close(forward_kl, outputs["loss_kl_fwd_dtw_raw"], atol=0, rtol=1e-6)


def test_spectrogram_of_the_fixture_audio(generator_fixture):
    _, fixture = generator_fixture
    inputs = fixture["inputs"]
    for item, (samples, frames) in enumerate(zip(inputs["y_lengths"], inputs["spec_lengths"])):
        spec = spectrogram_torch(inputs["y"][item, :, :samples], 1024, 256, 1024)
        torch.testing.assert_close(spec[0], inputs["spec"][item, :, :frames], **SUB_MODULE)


@pytest.mark.parametrize("tag, given", [("infer_pred_dur", False), ("infer_gt_dur", True)])
def test_inference_with_replayed_prior_noise(generator_fixture, tag, given):
    net, fixture = generator_fixture
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    durations = inputs["duration"][:1] if given else None
    result = net.infer(
        inputs["x"][:1],
        inputs["x_lengths"][:1],
        noise_scale=0.667,
        length_scale=1.0,
        d=durations,
        draws=ReplayDraws([outputs[f"{tag}_prior_eps"]]),
    )
    assert torch.equal(result.y_mask, outputs[f"{tag}_y_mask"])
    for name, ours in (
        ("o", result.audio),
        ("z_p", result.z_p),
        ("m_p", result.m_p),
        ("logs_p", result.logs_p),
    ):
        torch.testing.assert_close(ours, outputs[f"{tag}_{name}"], **WHOLE_MODEL, msg=name)
    # z is the memory bank's output, whose attention the fixture sharpened (x4): it magnifies float32
    # rounding of its input (measured: 1.4e-4 on values up to 15.6 with predicted durations, 2.4e-5 given).
    torch.testing.assert_close(result.z, outputs[f"{tag}_z"], atol=5e-4, rtol=1e-5)
