"""neural_hmm.data: the shared audio reader keeps the mels of 16-bit WAVs bit-identical, reads other
encodings right, and every bad line is named before training (or in the worker that meets it)."""

import numpy as np
import pytest
import soundfile
import torch
from scipy.io import wavfile

from filelists.checks import require_clean
from neural_hmm.audio import TacotronSTFT, load_audio
from neural_hmm.data import DataError, TextMelDataset, check_data, text_to_ids
from neural_hmm.hparams import HParams

RATE = 22050


def speech_like(n_samples: int = RATE, peak: float = 0.4, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(n_samples) * 0.05
    return np.clip(peak * np.sin(np.arange(n_samples) * 0.07) + noise, -1, 1)


@pytest.fixture
def hparams() -> HParams:
    return HParams(normaliser_mean=0.0, normaliser_std=1.0)


def test_mels_of_16_bit_wavs_are_bit_identical_to_the_scipy_path(tmp_path, hparams):
    pcm = (speech_like() * 32767).astype(np.int16)
    wavfile.write(tmp_path / "a.wav", RATE, pcm)
    (tmp_path / "list.txt").write_text("a.wav|Hello world.\n")
    dataset = TextMelDataset(tmp_path / "list.txt", hparams)
    ids, mel = dataset[0]
    # What this folder did before the shared reader: scipy's int16 as float32, then / max_wav_value.
    _, data = wavfile.read(tmp_path / "a.wav")
    before = torch.from_numpy(data.astype(np.float32)) / hparams.max_wav_value
    stft = TacotronSTFT()
    assert torch.equal(mel, stft.mel_spectrogram(before.unsqueeze(0))[0])
    assert torch.equal(ids, text_to_ids("Hello world."))


@pytest.mark.filterwarnings("ignore::scipy.io.wavfile.WavFileWarning")  # the PEAK chunk of float WAVs
def test_float_and_24_bit_wavs_give_the_mel_of_the_same_samples(tmp_path, hparams):
    pcm = (speech_like() * 32767).astype(np.int16)
    soundfile.write(tmp_path / "a16.wav", pcm, RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "af.wav", pcm.astype(np.float32) / 32768, RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "a24.wav", pcm.astype(np.int32) << 16, RATE, subtype="PCM_24")
    (tmp_path / "list.txt").write_text("a16.wav|One.\naf.wav|One.\na24.wav|One.\n")
    dataset = TextMelDataset(tmp_path / "list.txt", hparams)
    assert torch.equal(dataset[0][1], dataset[1][1]) and torch.equal(dataset[0][1], dataset[2][1])
    # Before, scipy's float samples were divided by 32768 once more: a mel of near-silence.
    _, floats = wavfile.read(tmp_path / "af.wav")
    assert np.abs(floats / 32768).max() < 1e-4


def test_max_wav_value_scales_as_the_originals_division(tmp_path):
    pcm = (speech_like(peak=0.3) * 32767).astype(np.int16)
    soundfile.write(tmp_path / "a.wav", pcm, RATE, subtype="PCM_16")
    assert torch.equal(load_audio(tmp_path / "a.wav", RATE), torch.from_numpy(pcm.astype(np.float32)) / 32768)
    halved = load_audio(tmp_path / "a.wav", RATE, max_wav_value=16384.0)
    torch.testing.assert_close(halved, torch.from_numpy(pcm.astype(np.float32)) / 16384, rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_wav_value must be positive"):
        load_audio(tmp_path / "a.wav", RATE, max_wav_value=0)


def test_every_bad_line_is_named_when_the_dataset_is_built(tmp_path, hparams):
    soundfile.write(tmp_path / "ok.wav", speech_like(), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "16k.wav", speech_like(16000), 16000, subtype="PCM_16")
    (tmp_path / "list.txt").write_text(
        "ok.wav|Fine.\nmissing.wav|No audio.\nok2.wav|It costs $3.50.\n16k.wav|Wrong rate.\nok.wav|😀\n",
        encoding="utf-8",
    )
    soundfile.write(tmp_path / "ok2.wav", speech_like(), RATE, subtype="PCM_16")
    with pytest.raises(DataError) as error:
        TextMelDataset(tmp_path / "list.txt", hparams)
    message = str(error.value)
    listed = tmp_path / "list.txt"
    assert f"{listed}:2: {tmp_path / 'missing.wav'}: audio file not found" in message
    assert f"{listed}:3: characters not in symbol set 'neural_hmm' after cleaning: '$'" in message
    assert f"{listed}:4: {tmp_path / '16k.wav'}: sampling rate 16000 Hz" in message
    assert "duplicate" not in message  # a clip repeated within a list only trains more often
    assert f"{listed}:5: nothing to speak after the neural_hmm front end" in message
    assert ":1:" not in message
    TextMelDataset(tmp_path / "list.txt", hparams, check=False)  # training may have checked already


def test_check_data_sees_silence_and_a_clip_too_short_for_its_states(tmp_path, hparams):
    soundfile.write(tmp_path / "silent.wav", np.zeros(RATE), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "brief.wav", speech_like(2000), RATE, subtype="PCM_16")  # 8 frames
    (tmp_path / "list.txt").write_text("silent.wav|Quiet.\nbrief.wav|Far too many words for eight frames.\n")
    report = check_data([tmp_path / "list.txt"], hparams)
    assert [(p.line_number, p.message.split(": ", 1)[1].split(":")[0]) for p in report.errors] == [
        (1, "every sample is zero (silence)"),
        (2, "8 mel frames (0.09 s) are too few for the text"),
    ]
    with pytest.raises(ValueError, match="the training data has 2 problem"):
        require_clean(report, quiet=True)
    assert check_data([tmp_path / "list.txt"], hparams, read_samples=False).errors[0].line_number == 2


def test_a_file_spoilt_after_the_check_is_named_by_the_worker_that_reads_it(tmp_path, hparams):
    soundfile.write(tmp_path / "a.wav", speech_like(), RATE, subtype="FLOAT")
    (tmp_path / "list.txt").write_text("a.wav|Fine.\n")
    dataset = TextMelDataset(tmp_path / "list.txt", hparams)
    spoilt = speech_like().astype(np.float32)
    spoilt[5] = np.nan
    soundfile.write(tmp_path / "a.wav", spoilt, RATE, subtype="FLOAT")
    with pytest.raises(DataError, match=r"list.txt:1: .*a.wav: 1 of 22050 samples are NaN"):
        dataset[0]


def test_text_to_ids_keeps_the_originals_output_for_texts_the_checks_refuse():
    assert text_to_ids("😀 😀").tolist() == [text_to_ids("a b").tolist()[1]]  # a lone space, as the original
    assert text_to_ids("").tolist() == []
