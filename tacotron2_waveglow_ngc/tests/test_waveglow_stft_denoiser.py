"""STFT used by the WaveGlow denoiser (and the mel features), and the Denoiser itself, against the fixture."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tacotron2_waveglow_ngc.denoiser import Denoiser
from tacotron2_waveglow_ngc.stft import STFT, fourier_basis, real_dft_pseudo_inverse
from tacotron2_waveglow_ngc.waveglow_checkpoints import load_waveglow


@pytest.fixture(scope="module")
def fixture():
    return torch.load(Path(__file__).parent / "fixtures" / "waveglow_fixture.pt", weights_only=True)


def test_closed_form_pseudo_inverse_equals_pinv():
    for n_fft in (16, 64):
        basis = fourier_basis(n_fft)
        np.testing.assert_allclose(real_dft_pseudo_inverse(n_fft), np.linalg.pinv(basis), atol=1e-12)
        fft = np.fft.fft(np.eye(n_fft))[: n_fft // 2 + 1]
        np.testing.assert_allclose(basis, np.vstack([fft.real, fft.imag]), atol=1e-12)


def test_transform_equals_torch_stft():
    torch.manual_seed(0)
    audio = torch.randn(2, 3000)
    stft = STFT()
    magnitude, phase = stft.transform(audio)
    reference = torch.stft(
        audio,
        1024,
        256,
        1024,
        window=torch.hann_window(1024),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    assert magnitude.shape == (2, 513, 1 + 3000 // 256)
    torch.testing.assert_close(magnitude, reference.abs(), rtol=1e-4, atol=2e-4)
    strong = reference.abs() > 1.0
    torch.testing.assert_close(
        torch.polar(torch.ones_like(phase), phase)[strong],
        (reference / reference.abs())[strong],
        rtol=1e-3,
        atol=1e-3,
    )


def test_original_bases_are_the_windowed_fourier_basis_and_its_inverse():
    stft = STFT(original_bases=True)
    audio = torch.randn(2, 3000, generator=torch.Generator().manual_seed(0))
    padded = F.pad(audio.unsqueeze(1), (512, 512), mode="reflect")
    convolved = F.conv1d(padded, stft.forward_basis, stride=256)
    spectrum = stft.spectrum(audio)
    torch.testing.assert_close(convolved, torch.cat([spectrum.real, spectrum.imag], 1), rtol=1e-4, atol=2e-4)
    # inverse_basisᵀ · forward_basis = diag(window²) · hop / n_fft
    product = stft.inverse_basis[:, 0].T.double() @ stft.forward_basis[:, 0].double()
    expected = torch.diag(stft.fft_window.double() ** 2) * 256 / 1024
    torch.testing.assert_close(product, expected, rtol=0, atol=1e-6)
    assert list(STFT().state_dict()) == []


def test_inverse_reconstructs_audio():
    torch.manual_seed(0)
    audio = torch.randn(2, 2560)
    stft = STFT()
    restored = stft.inverse(*stft.transform(audio))
    assert restored.shape == (2, 1, 2560)
    torch.testing.assert_close(restored[:, 0], audio, rtol=1e-4, atol=1e-4)


def test_denoiser_matches_fixture(fixture, device):
    waveglow = load_waveglow(fixture["state_dict"], remove_weightnorm=True).to(device)
    expected = fixture["outputs"]["denoiser"]
    with torch.no_grad():
        bias_audio = waveglow.infer(torch.zeros(expected["mel_input_shape"], device=device), sigma=0.0)
    assert (bias_audio.cpu() - expected["bias_audio"]).abs().max() < 1e-4
    denoiser = Denoiser(waveglow, mode="zeros").to(device)
    assert denoiser.bias_spec.shape == (1, 513, 1)
    assert (denoiser.bias_spec.cpu() - expected["bias_spec"]).abs().max() < 1e-4
    assert sorted(denoiser.state_dict()) == ["bias_spec", "stft.forward_basis", "stft.inverse_basis"]
    audio = expected["input_audio"].to(device)
    for strength, key in ((0.01, "denoised_strength_0_01"), (0.1, "denoised_strength_0_1")):
        denoised = denoiser(audio, strength=strength)
        assert denoised.shape == (2, 1, 2304)
        assert (denoised.cpu() - expected[key]).abs().max() < 1e-4
    assert torch.equal(denoiser(audio), denoiser(audio, strength=0.1))


def test_denoiser_normal_mode_uses_generator(fixture):
    waveglow = load_waveglow(fixture["state_dict"], remove_weightnorm=True)
    first = Denoiser(waveglow, mode="normal", generator=torch.Generator().manual_seed(0)).bias_spec
    second = Denoiser(waveglow, mode="normal", generator=torch.Generator().manual_seed(0)).bias_spec
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="mode"):
        Denoiser(waveglow, mode="ones")


def test_denoiser_is_scriptable(fixture):
    denoiser = Denoiser(load_waveglow(fixture["state_dict"], remove_weightnorm=True))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        scripted = torch.jit.script(denoiser)
    audio = fixture["outputs"]["denoiser"]["input_audio"]
    assert torch.equal(scripted(audio, 0.01), denoiser(audio, 0.01))
