"""WaveGlow: parity with the DLE fixture, flow invertibility, log-determinants, state-dict layout."""

import copy
import json
from pathlib import Path

import pytest
import torch

from tacotron2_waveglow_ngc.losses import WaveGlowLoss
from tacotron2_waveglow_ngc.waveglow_checkpoints import load_waveglow, waveglow_kwargs
from tacotron2_waveglow_ngc.waveglow_model import WN, Invertible1x1Conv, WaveGlow

TINY = dict(n_mel_channels=4, n_flows=4, n_group=4, n_early_every=2, n_early_size=2)
TINY_WN = dict(n_layers=2, n_channels=4, kernel_size=3)


@pytest.fixture(scope="module")
def fixture():
    return torch.load(Path(__file__).parent / "fixtures" / "waveglow_fixture.pt", weights_only=True)


@pytest.fixture()
def model(fixture, device):
    model = WaveGlow(**waveglow_kwargs(fixture["config"]))
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.to(device).eval()


def max_abs(a, b):
    return (a.detach().cpu().double() - b.double()).abs().max().item()


def tiny_waveglow(seed=0, **overrides):
    torch.manual_seed(seed)
    model = WaveGlow(**{**TINY, **overrides}, WN_config=TINY_WN).double()
    # `end` starts at zero (identity coupling); randomise it so the couplings are exercised.
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.1)
            wn.end.bias.normal_(0, 0.1)
        for conv in model.convinv:
            conv.conv.weight.add_(0.2 * torch.randn_like(conv.conv.weight))
    return model.eval()


def test_forward_matches_fixture(model, fixture, device):
    inputs, expected = fixture["inputs"], fixture["outputs"]["forward"]
    mel, audio = inputs["mel"].to(device), inputs["audio"].to(device)
    assert max_abs(model.group_conditioning(mel, audio.size(1)), expected["spect_grouped"]) == 0.0
    assert max_abs(model.group_audio(audio), expected["audio_grouped"]) == 0.0
    output = model(mel, audio)
    assert max_abs(output.z, expected["z"]) < 1e-5
    assert len(output.log_s_list) == 12
    for log_s, ref in zip(output.log_s_list, expected["log_s_list"]):
        assert log_s.shape == ref.shape
        assert max_abs(log_s, ref) < 1e-5
    # The original loss accumulates into log_det_W_list[0] in place, so the stored entry 0 is the sum.
    log_det_W = torch.stack(output.log_det_W_list).cpu()
    ref_log_det_W = torch.stack(expected["log_det_W_list"])
    torch.testing.assert_close(log_det_W[1:], ref_log_det_W[1:], rtol=1e-6, atol=1e-3)
    torch.testing.assert_close(log_det_W.sum(), ref_log_det_W[0], rtol=1e-6, atol=1e-3)
    loss = WaveGlowLoss(sigma=fixture["config"]["sigma"])(output)
    assert max_abs(loss, expected["loss"]) < 1e-6
    assert sum(s.double().sum() for s in output.log_s_list).item() == pytest.approx(
        fixture["meta"]["cross_check"]["log_s_sum"], abs=1e-3
    )


def test_loss_does_not_modify_its_input(model, fixture):
    output = model(fixture["inputs"]["mel"], fixture["inputs"]["audio"])
    first = output.log_det_W_list[0].clone()
    WaveGlowLoss()(output)
    assert torch.equal(output.log_det_W_list[0], first)


@pytest.mark.parametrize("weightnorm", ["kept", "removed"])
def test_infer_matches_fixture(model, fixture, device, weightnorm):
    if weightnorm == "removed":
        model = WaveGlow.remove_weightnorm(copy.deepcopy(model))
    mel = fixture["inputs"]["mel"].to(device)
    audio = model.infer(mel, sigma=0.0)
    assert audio.shape == (2, 2304)
    assert max_abs(audio, fixture["outputs"]["infer_sigma0"]) < 1e-4
    noise = fixture["inputs"]["infer_noise_sigma0.6"]
    audio = model.infer(mel, sigma=0.6, noise=noise)
    assert max_abs(audio, fixture["outputs"]["infer_sigma0.6"]) < 1e-4


def test_infer_generator_is_deterministic(model, fixture):
    mel = fixture["inputs"]["mel"]
    first = model.infer(mel, 0.6, generator=torch.Generator().manual_seed(3))
    second = model.infer(mel, 0.6, generator=torch.Generator().manual_seed(3))
    other = model.infer(mel, 0.6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, second) and not torch.equal(first, other)
    with pytest.raises(ValueError, match="noise of shape"):
        model.infer(mel, 0.6, noise=[torch.zeros(2, 3, 288)])


def test_flow_step_matches_fixture(model, fixture, device):
    step = fixture["outputs"]["flow_step"]
    k = step["k"]
    x, spect = step["x"].to(device), step["spect"].to(device)
    convinv, wn = model.convinv[k], model.WN[k]
    after_convinv, log_det_W = convinv(x)
    assert max_abs(after_convinv, step["after_convinv"]) < 1e-5
    torch.testing.assert_close(log_det_W.cpu(), step["log_det_W"], rtol=1e-6, atol=1e-3)
    wn_out = wn(after_convinv[:, :3], spect)
    assert max_abs(wn_out, step["wn_out"]) < 1e-5
    b, log_s = wn_out[:, :3], wn_out[:, 3:]
    output = torch.cat([after_convinv[:, :3], torch.exp(log_s) * after_convinv[:, 3:] + b], 1)
    assert max_abs(output, step["output"]) < 1e-5
    assert max_abs(convinv.conv.weight, step["W"]) == 0.0
    assert max_abs(convinv.weight_inverse(), step["W_inverse"]) < 1e-5
    # Inverse with the weight-norm-removed coupling, as the original does.
    wn_removed = copy.deepcopy(wn).remove_weightnorm()
    coupling = wn_removed(output[:, :3], spect)
    restored = torch.cat([output[:, :3], (output[:, 3:] - coupling[:, :3]) / torch.exp(coupling[:, 3:])], 1)
    x_reconstructed = convinv.inverse(restored)
    assert max_abs(x_reconstructed, step["x_reconstructed"]) < 1e-5
    assert max_abs(x_reconstructed, step["x"]) < 1e-5


@pytest.mark.parametrize("alternate_halves", [False, True])
def test_inverse_undoes_forward(alternate_halves):
    model = tiny_waveglow(alternate_halves=alternate_halves)
    torch.manual_seed(1)
    mel = torch.randn(2, 4, 3, dtype=torch.double)
    audio = torch.randn(2, 3 * 256, dtype=torch.double)
    z = model(mel, audio).z
    # infer draws its noise in the order [final channels, early split k=2] (k descending).
    noise = [z[:, 2:], z[:, :2]]
    reconstructed = model.infer(mel, sigma=1.0, noise=noise)
    assert reconstructed.shape == audio.shape
    torch.testing.assert_close(reconstructed, audio, rtol=0, atol=1e-10)


def test_log_determinant_matches_autograd_jacobian():
    model = tiny_waveglow()
    torch.manual_seed(2)
    mel = torch.randn(1, 4, 1, dtype=torch.double)
    audio = torch.randn(1, 16, dtype=torch.double)  # 16 samples -> 4 columns of 4

    def flow(samples):
        return model(mel, samples.view(1, -1)).z.reshape(-1)

    jacobian = torch.autograd.functional.jacobian(flow, audio.reshape(-1))
    sign, log_abs_det = torch.linalg.slogdet(jacobian)
    output = model(mel, audio)
    model_log_det = sum(s.sum() for s in output.log_s_list) + sum(output.log_det_W_list)
    assert sign.abs().item() == 1.0
    torch.testing.assert_close(model_log_det.double(), log_abs_det, rtol=1e-5, atol=1e-5)


def test_invertible_conv_log_det_and_cache():
    torch.manual_seed(0)
    conv = Invertible1x1Conv(6)
    with torch.no_grad():
        conv.conv.weight.add_(0.3 * torch.randn(6, 6, 1))
    z = torch.randn(3, 6, 5)
    _, log_det_W = conv(z)
    torch.testing.assert_close(log_det_W, 3 * 5 * torch.linalg.slogdet(conv.conv.weight[..., 0])[1])
    first_inverse = conv.weight_inverse()
    assert conv.weight_inverse() is first_inverse  # cached
    with torch.no_grad():
        conv.conv.weight.mul_(2.0)  # e.g. an optimiser step
    torch.testing.assert_close(conv.weight_inverse(), first_inverse / 2.0)
    torch.testing.assert_close(conv.inverse(conv(z)[0]), z, rtol=1e-5, atol=1e-5)
    conv.load_state_dict({"conv.weight": torch.eye(6).unsqueeze(-1)})
    torch.testing.assert_close(conv.weight_inverse(), torch.eye(6).unsqueeze(-1))


def test_remove_weightnorm_keeps_the_coupling_function(model, fixture):
    step = fixture["outputs"]["flow_step"]
    wn: WN = model.WN[step["k"]]
    audio, spect = step["x"][:, :3], step["spect"]
    wn_removed = copy.deepcopy(wn).remove_weightnorm()
    assert not any(name.endswith(("weight_g", "weight_v")) for name in wn_removed.state_dict())
    torch.testing.assert_close(wn_removed(audio, spect), wn(audio, spect), rtol=0, atol=1e-6)


def test_backward_reaches_every_parameter():
    # n_group 8: every coupling conditions on >= 2 channels. (With one input channel, `start.weight_v`
    # rows are scalars and weight norm makes their gradient exactly zero.)
    model = tiny_waveglow(n_group=8).float().train()
    mel, audio = torch.randn(2, 4, 2), torch.randn(2, 512)
    WaveGlowLoss()(model(mel, audio)).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_meta_device_build_and_default_counts():
    with torch.device("meta"):
        model = WaveGlow()
    assert sum(t.numel() for t in model.state_dict().values()) == 268_294_760


def reference_entries(model: str) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) in order, from `fixtures/reference_state_dicts.json` (see `fixtures/README.md`)."""
    entries = json.loads((Path(__file__).parent / "fixtures" / "reference_state_dicts.json").read_text())
    return [(name, tuple(shape)) for name, shape, _ in entries[model]]


@pytest.mark.parametrize("n_channels, n_floats", [(512, 268_294_760), (256, 87_879_272)])
def test_default_state_dict_equals_reference(n_channels, n_floats):
    expected = reference_entries(f"waveglow_dle_n_channels_{n_channels}")
    with torch.device("meta"):
        model = WaveGlow(WN_config=dict(n_layers=8, kernel_size=3, n_channels=n_channels))
    ours = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    assert ours == expected
    assert sum(t.numel() for t in model.state_dict().values()) == n_floats


def test_nvidia_reference_layout_converts():
    from tacotron2_waveglow_ngc.waveglow_checkpoints import to_nvidia_layout

    expected = reference_entries("waveglow_nvidia_n_channels_256")
    with torch.device("meta"):
        model = WaveGlow(WN_config=dict(n_layers=8, kernel_size=3, n_channels=256))
    fused = to_nvidia_layout(model.state_dict())
    assert sorted((n, tuple(t.shape)) for n, t in fused.items()) == sorted(expected)


def test_loaded_fixture_model_is_unchanged_by_remove_weightnorm(fixture):
    model = load_waveglow(fixture["state_dict"])
    removed = load_waveglow(fixture["state_dict"], remove_weightnorm=True)
    assert "WN.0.start.weight" in removed.state_dict() and "WN.0.start.weight_g" not in removed.state_dict()
    mel = fixture["inputs"]["mel"]
    torch.testing.assert_close(removed.infer(mel, 0.0), model.infer(mel, 0.0), rtol=0, atol=1e-5)
