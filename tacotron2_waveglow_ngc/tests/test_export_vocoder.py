"""The TorchScript vocoder: CLI export, then loading and running it in a clean interpreter (torch only)."""

import subprocess
import sys

import pytest
import torch

from tacotron2_waveglow_ngc import export_vocoder
from tacotron2_waveglow_ngc.denoiser import Denoiser
from tacotron2_waveglow_ngc.waveglow_checkpoints import load_waveglow, waveglow_checkpoint
from tacotron2_waveglow_ngc.waveglow_model import WaveGlow

CLEAN_RUN = """
import sys
import torch
vocoder = torch.jit.load(sys.argv[1], map_location="cpu")
mel = torch.load(sys.argv[2])["mel"]
with torch.no_grad():
    outputs = {
        "denoised": vocoder.infer(mel, 0.0, 0.01),
        "raw": vocoder.infer(mel, 0.0, 0.0),
        "default": vocoder(mel),
    }
outputs["meta"] = torch.tensor([vocoder.sampling_rate, vocoder.hop_length, vocoder.n_mel_channels])
ours = ("tacotron2", "shared_text", "librosa")
outputs["modules"] = [name for name in sys.modules if name.startswith(ours)]
torch.save(outputs, sys.argv[3])
"""


def tiny_waveglow(alternate_halves: bool = False) -> WaveGlow:
    torch.manual_seed(1)
    model = WaveGlow(
        n_mel_channels=12,
        n_flows=4,
        n_group=8,
        n_early_every=2,
        n_early_size=2,
        WN_config=dict(n_layers=3, n_channels=8, kernel_size=3),
        alternate_halves=alternate_halves,
    )
    with torch.no_grad():
        for wn in model.WN:  # non-identity couplings (`end` is zero-initialised)
            wn.end.weight.normal_(0.0, 0.1)
            wn.end.bias.normal_(0.0, 0.1)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("alternate_halves", [False, True])
def test_export_round_trip_in_clean_interpreter(tmp_path, alternate_halves):
    torch.save(waveglow_checkpoint(tiny_waveglow(alternate_halves)), tmp_path / "wg.pt")
    argv = ["--waveglow", str(tmp_path / "wg.pt"), "-o", str(tmp_path / "vocoder.ts"), "--sigma", "0.7"]
    assert export_vocoder.main(argv) == 0

    mel = torch.randn(2, 12, 9, generator=torch.Generator().manual_seed(0))
    torch.save({"mel": mel}, tmp_path / "mel.pt")
    command = [
        sys.executable,
        "-I",
        "-c",
        CLEAN_RUN,
        *(str(tmp_path / f) for f in ("vocoder.ts", "mel.pt", "o.pt")),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    outputs = torch.load(tmp_path / "o.pt")
    assert outputs["modules"] == []  # nothing of this repository (or its dependencies) was imported

    eager = load_waveglow(tmp_path / "wg.pt", remove_weightnorm=True)
    with torch.inference_mode():
        raw = eager.infer(mel, sigma=0.0)
        denoised = Denoiser(eager)(raw, strength=0.01).squeeze(1)
    assert raw.abs().max() > 1e-3  # a non-trivial signal
    assert outputs["raw"].shape == (2, 9 * 256) == outputs["denoised"].shape
    torch.testing.assert_close(outputs["raw"], raw, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs["denoised"], denoised, rtol=1e-5, atol=1e-6)
    assert outputs["default"].shape == (2, 9 * 256)  # sigma 0.7: random, only the shape is fixed
    assert outputs["meta"].tolist() == [22050, 256, 12]


def test_export_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert export_vocoder.main(["--waveglow", str(tmp_path / "no.pt"), "-o", str(tmp_path / "v.ts")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err


def test_export_refuses_a_nan_vocoder_and_an_unwritable_output(tmp_path, capsys):
    model = tiny_waveglow()
    with torch.no_grad():
        model.WN[0].start.weight_v[0, 0, 0] = float("nan")
    torch.save(waveglow_checkpoint(model), tmp_path / "nan.pt")
    assert export_vocoder.main(["--waveglow", str(tmp_path / "nan.pt"), "-o", str(tmp_path / "v.ts")]) == 1
    assert "'WN.0.start.weight_v' has 1 non-finite value" in capsys.readouterr().err
    assert not (tmp_path / "v.ts").exists()
    torch.save(waveglow_checkpoint(tiny_waveglow()), tmp_path / "ok.pt")
    (tmp_path / "file").write_text("")
    argv = ["--waveglow", str(tmp_path / "ok.pt"), "-o", str(tmp_path / "file" / "v.ts")]
    assert export_vocoder.main(argv) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
