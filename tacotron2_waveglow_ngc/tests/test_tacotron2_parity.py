"""Parity with the DeepLearningExamples Tacotron 2 fixture (`fixtures/tacotron2_fixture.pt`).

The fixture was produced with the prenet dropout removed, so the model here is built with
`prenet_dropout=0`. Tolerances follow the fixture README: teacher forcing and losses 1e-5,
greedy decoding 1e-4 (autoregressive accumulation), lengths exact.
"""

import warnings
from pathlib import Path

import pytest
import torch

from tacotron2_waveglow_ngc.audio import TacotronSTFT
from tacotron2_waveglow_ngc.config import Tacotron2Config
from tacotron2_waveglow_ngc.losses import Tacotron2Loss
from tacotron2_waveglow_ngc.tacotron2_model import Tacotron2

TEACHER_FORCED = dict(atol=1e-5, rtol=1e-5)
GREEDY = dict(atol=1e-4, rtol=1e-5)
FIXTURE = Path(__file__).parent / "fixtures" / "tacotron2_fixture.pt"


def to_device(value, device):
    if torch.is_tensor(value):
        return value.to(device)
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, list):
        return [to_device(item, device) for item in value]
    return value


@pytest.fixture(scope="module")
def fixture(device):
    return to_device(torch.load(FIXTURE, weights_only=True), device)


def build_model(fixture, device, **overrides) -> Tacotron2:
    config = Tacotron2Config.from_dict({**fixture["config"], "prenet_dropout": 0.0, **overrides})
    model = Tacotron2(config)
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.to(device).eval()


@pytest.fixture(scope="module")
def model(fixture, device):
    return build_model(fixture, device)


def check(actual: torch.Tensor, expected: torch.Tensor, name: str, tolerance: dict):
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    torch.testing.assert_close(actual, expected, **tolerance, msg=lambda message: f"{name}: {message}")


def test_config_matches_fixture_arguments(fixture):
    config = Tacotron2Config.from_dict(fixture["config"])
    assert {key: getattr(config, key) for key in fixture["config"]} == fixture["config"]


@pytest.mark.parametrize("mask_padding", [False, True])
def test_teacher_forced_outputs_and_losses(fixture, device, mask_padding):
    inputs = fixture["inputs"]
    key = "teacher_forced_mask_padding" if mask_padding else "teacher_forced"
    expected = fixture["outputs"][key]
    model = build_model(fixture, device, mask_padding=mask_padding)
    with torch.inference_mode():
        outputs = model(
            inputs["text_padded"], inputs["input_lengths"], inputs["mel_padded"], inputs["output_lengths"]
        )
        losses = Tacotron2Loss()(outputs, inputs["mel_padded"], inputs["gate_padded"])
    for name in ("mel_outputs", "mel_outputs_postnet", "gate_outputs", "alignments"):
        check(getattr(outputs, name), expected[name], f"{key}/{name}", TEACHER_FORCED)
    for name in ("mel_loss", "mel_postnet_loss", "gate_loss", "total"):
        check(getattr(losses, name), expected["loss"][name], f"{key}/loss/{name}", TEACHER_FORCED)


def test_teacher_forced_intermediates(fixture, model):
    inputs = fixture["inputs"]
    expected = fixture["outputs"]["teacher_forced"]
    with torch.inference_mode():
        embedded = model.embedding(inputs["text_padded"])
        memory = model.encoder(embedded.transpose(1, 2), inputs["input_lengths"])
        processed_memory = model.decoder.attention_layer.memory_layer(memory)
        mel = inputs["mel_padded"]
        frames = torch.cat((mel.new_zeros(1, mel.size(0), mel.size(1)), mel.permute(2, 0, 1)))
        prenet_out = model.decoder.prenet(frames)
        postnet_residual = model.postnet(expected["mel_outputs"])
    check(embedded, expected["embedded"], "embedded", TEACHER_FORCED)
    check(memory, expected["encoder_outputs"], "encoder_outputs", TEACHER_FORCED)
    check(processed_memory, expected["processed_memory"], "processed_memory", TEACHER_FORCED)
    check(prenet_out, expected["prenet_out"], "prenet_out", TEACHER_FORCED)
    check(postnet_residual, expected["postnet_residual"], "postnet_residual", TEACHER_FORCED)


def test_batched_greedy_inference(fixture, model):
    inputs = fixture["inputs"]
    expected = fixture["outputs"]["infer"]
    with torch.inference_mode():
        memory = model.encode(inputs["text_padded"], inputs["input_lengths"])
        result = model.infer(inputs["text_padded"], inputs["input_lengths"])
    check(memory, expected["encoder_outputs"], "infer/encoder_outputs", TEACHER_FORCED)
    assert result.mel_lengths.dtype == torch.int32
    assert result.mel_lengths.tolist() == expected["mel_lengths"].tolist()
    for name in ("mel_outputs_postnet", "mel_outputs", "alignments", "gate_outputs"):
        check(getattr(result, name), expected[name], f"infer/{name}", GREEDY)
    # The original returns the gate step-major: [t0b0, t0b1, t1b0, ...].
    check(
        result.gate_outputs.t().reshape(1, -1), expected["gate_outputs_raw"], "infer/gate_outputs_raw", GREEDY
    )


def test_greedy_inference_without_early_stopping(fixture, model):
    inputs = fixture["inputs"]
    expected = fixture["outputs"]["infer_no_early_stopping"]
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("error")  # both utterances fire, so reaching the limit is no warning
        result = model.infer(inputs["text_padded"], inputs["input_lengths"], early_stopping=False)
    assert result.mel_lengths.tolist() == expected["mel_lengths"].tolist()
    for name in ("mel_outputs_postnet", "alignments"):
        check(getattr(result, name), expected[name], f"infer_no_early_stopping/{name}", GREEDY)


@pytest.mark.parametrize("utterance", [0, 1])
def test_nvidia_single_utterance_inference(fixture, model, utterance):
    inputs = fixture["inputs"]
    expected = fixture["outputs"]["infer_nvidia_single"][f"utt{utterance}"]
    length = int(inputs["input_lengths"][utterance])
    text = inputs["text_padded"][utterance : utterance + 1, :length]
    with torch.inference_mode():
        result = model.infer(text, stop_convention="nvidia")
    n_frames = expected["mel_outputs"].size(2)
    assert result.mel_lengths.tolist() == [n_frames]  # the firing frame is kept
    for name in ("mel_outputs", "mel_outputs_postnet", "alignments"):
        check(getattr(result, name), expected[name], f"nvidia/utt{utterance}/{name}", GREEDY)
    check(result.gate_outputs.unsqueeze(-1), expected["gate_outputs"], f"nvidia/utt{utterance}/gate", GREEDY)


def test_mel_features(fixture, device):
    stft = TacotronSTFT().to(device)
    for utterance, wav in enumerate(fixture["inputs"]["wavs"]):
        expected = fixture["outputs"]["mel_features"][f"mel_utt{utterance}"]
        # 5e-5: a float64 STFT is itself 3e-5 away from the fixture's float32 conv1d STFT (log of
        # low-energy bins); the mean error is ~1e-6.
        check(
            stft.mel_spectrogram(wav.unsqueeze(0))[0],
            expected,
            f"mel_utt{utterance}",
            dict(atol=5e-5, rtol=1e-5),
        )
