"""The opt-in fast WaveGlow: packed couplings equal the model in float32 and stay close in bfloat16."""

import math

import pytest
import torch

from tacotron2_waveglow_ngc import export_vocoder
from tacotron2_waveglow_ngc.fast_inference import PackedWN, is_packed, pack_waveglow, prepare_waveglow
from tacotron2_waveglow_ngc.waveglow_model import WaveGlow


def tiny_waveglow(kernel_size: int = 3, alternate_halves: bool = False) -> WaveGlow:
    torch.manual_seed(0)
    model = WaveGlow(
        n_mel_channels=10,
        n_flows=4,
        n_group=8,
        n_early_every=2,
        n_early_size=2,
        WN_config=dict(n_layers=3, n_channels=16, kernel_size=kernel_size),
        alternate_halves=alternate_halves,
    )
    with torch.no_grad():  # non-identity couplings: `end` is zero-initialised
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.1)
            wn.end.bias.normal_(0.0, 0.1)
    return model.eval()


def infer(model: WaveGlow, mel: torch.Tensor, seed: int = 7) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.inference_mode():
        return model.infer(mel, sigma=0.6).float()


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return 10 * math.log10(float(reference.pow(2).sum()) / float((reference - estimate).pow(2).sum()))


@pytest.mark.parametrize("kernel_size,alternate_halves", [(3, False), (5, True)])
def test_float32_packing_equals_the_model(kernel_size, alternate_halves):
    """Weight norm still in place (packing folds it), batch of 2, any odd kernel."""
    model = tiny_waveglow(kernel_size, alternate_halves)
    mel = torch.randn(2, 10, 7, generator=torch.Generator().manual_seed(1))
    reference = infer(model, mel)
    packed = pack_waveglow(model, torch.float32)
    assert is_packed(packed) and not is_packed(model)
    torch.testing.assert_close(infer(packed, mel), reference, rtol=1e-5, atol=1e-5)


def test_one_packed_coupling_matches_wn_output():
    model = tiny_waveglow()
    wn = model.WN[0]
    audio = torch.randn(2, 4, 50)
    spect = torch.randn(2, 80, 50)
    with torch.inference_mode():
        expected = wn(audio, spect)
        actual = PackedWN(wn, torch.float32)(audio, spect)
    assert actual.shape == expected.shape == (2, 8, 50)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_bf16_variant_is_close_and_leaves_the_model_alone():
    model = tiny_waveglow()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    mel = torch.randn(1, 10, 20, generator=torch.Generator().manual_seed(2))
    reference = infer(model, mel)
    fast = prepare_waveglow(model, "bf16")
    assert fast is not model and is_packed(fast)
    assert fast.WN[0].layers[0].in_weight.dtype == torch.bfloat16
    audio = infer(fast, mel)
    assert audio.dtype == torch.float32 and audio.shape == reference.shape
    # bf16 keeps ~8 significant bits: 30 dB is far below the ~50 dB measured on the full-size model,
    # far above what a wrong packing gives (< 5 dB).
    assert snr_db(reference, audio) > 30
    assert prepare_waveglow(model, "fp32") is model and prepare_waveglow(model, "int8") is model
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert not is_packed(model)


def test_bf16_export_runs_and_stays_close():
    model = tiny_waveglow()
    mel = torch.randn(1, 10, 12, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        reference = model.infer(mel, sigma=0.0)
    vocoder = export_vocoder.build_vocoder(model, denoising_strength=0.0, dtype=torch.bfloat16)
    with torch.no_grad():
        audio = vocoder.infer(mel, 0.0, 0.0)
    assert audio.dtype == torch.float32
    assert snr_db(reference, audio) > 30


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown variant"):
        prepare_waveglow(tiny_waveglow(), "fp8")


def test_packing_leaves_the_modes_of_the_model_alone():
    model = tiny_waveglow().train()
    packed = pack_waveglow(model, torch.float32)
    assert not packed.training and not packed.WN[0].training
    assert all(module.training for module in model.modules())
