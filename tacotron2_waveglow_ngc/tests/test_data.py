"""tacotron2_waveglow_ngc.data: the shared reader keeps 16-bit mels bit-identical and reads float and
8-bit WAVs right (they were silence before); every bad line is named at once."""

import numpy as np
import pytest
import soundfile
import torch

from filelists.checks import require_clean
from filelists.parse import read_filelist
from tacotron2_waveglow_ngc.audio import TacotronSTFT
from tacotron2_waveglow_ngc.data import AudioSegmentDataset, DataError, TextMelDataset, check_data, load_wav

RATE = 22050
N_MEL = 16


def speech_like(n_samples: int = RATE, peak: float = 0.4, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(n_samples) * 0.05
    return np.clip(peak * np.sin(np.arange(n_samples) * 0.07) + noise, -1, 1)


def text_mel(filelist, root, **options) -> TextMelDataset:
    return TextMelDataset(filelist, root, ["english_cleaners"], n_mel_channels=N_MEL, **options)


def test_16_bit_mels_are_bit_identical_and_float_and_8_bit_are_read_right(tmp_path):
    pcm = (speech_like() * 32767).astype(np.int16)
    soundfile.write(tmp_path / "a16.wav", pcm, RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "af.wav", pcm.astype(np.float32) / 32768, RATE, subtype="FLOAT")
    pcm8 = (pcm.astype(np.int32) // 256 * 256).astype(np.int16)  # the values 8 bits can hold
    soundfile.write(tmp_path / "a8.wav", pcm8, RATE, subtype="PCM_U8")
    (tmp_path / "list.txt").write_text("a16.wav|One.\naf.wav|One.\na8.wav|One.\n")
    dataset = text_mel(tmp_path / "list.txt", tmp_path)
    stft = TacotronSTFT(n_mel_channels=N_MEL)
    # What this folder did before the shared reader: soundfile's int16, as float32, / max_wav_value.
    before = (
        torch.from_numpy(soundfile.read(tmp_path / "a16.wav", dtype="int16")[0].astype(np.float32)) / 32768.0
    )
    assert torch.equal(dataset[0][1], stft.mel_spectrogram(before[None])[0])
    assert torch.equal(dataset[1][1], dataset[0][1])  # float WAV: the same samples, the same mel
    eight_bit = torch.from_numpy(pcm8.astype(np.float32) / 32768)
    assert torch.equal(dataset[2][1], stft.mel_spectrogram(eight_bit[None])[0])
    # The float file as it was read before: at most 1/32768 (silence).
    assert np.abs(soundfile.read(tmp_path / "af.wav", dtype="int16")[0]).max() <= 1


def test_max_wav_value_scales_as_the_originals_division(tmp_path):
    pcm = (speech_like(peak=0.3) * 32767).astype(np.int16)
    soundfile.write(tmp_path / "a.wav", pcm, RATE, subtype="PCM_16")
    (tmp_path / "list.txt").write_text("a.wav|One.\n")
    utterance = read_filelist(tmp_path / "list.txt")[0]
    expected = torch.from_numpy(pcm.astype(np.float32))
    assert torch.equal(load_wav(utterance, RATE), expected / 32768)
    assert torch.equal(load_wav(utterance, RATE, max_wav_value=16384.0), expected / 16384)
    with pytest.raises(DataError, match="max_wav_value must be positive"):
        load_wav(utterance, RATE, max_wav_value=0.0)


def test_every_bad_line_is_named_when_a_dataset_is_built(tmp_path):
    soundfile.write(tmp_path / "ok.wav", speech_like(), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "tiny.wav", speech_like(300), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "stereo.wav", np.zeros((RATE, 2)), RATE, subtype="PCM_16")
    header = soundfile.SoundFile(tmp_path / "header.wav", "w", RATE, 1, "PCM_16")
    header.close()
    listed = tmp_path / "list.txt"
    listed.write_text(
        "ok.wav|Fine.\ntiny.wav|Tiny.\nstereo.wav|Two channels.\nheader.wav|Header only.\nok.wav|😀\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as error:
        text_mel(listed, tmp_path)
    message = str(error.value)
    assert f"{listed}:2: {tmp_path / 'tiny.wav'}: 300 samples" in message  # the STFT cannot take it
    assert f"{listed}:3: {tmp_path / 'stereo.wav'}: 2 channels, expected mono" in message
    assert f"{listed}:4: {tmp_path / 'header.wav'}: no samples" in message
    assert f"{listed}:5: nothing to speak after the tacotron2 front end" in message
    assert ":1:" not in message
    with pytest.raises(DataError) as error:  # WaveGlow ignores the text, not the audio
        AudioSegmentDataset(listed, tmp_path, 4000, n_mel_channels=N_MEL)
    assert ":5:" not in str(error.value) and f"{listed}:4:" in str(error.value)


def test_check_data_is_what_training_runs_first(tmp_path):
    soundfile.write(tmp_path / "silent.wav", np.zeros(RATE), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "short.wav", speech_like(800), RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "float.wav", speech_like(), RATE, subtype="FLOAT")
    (tmp_path / "list.txt").write_text("silent.wav|Quiet.\nshort.wav|Short.\nfloat.wav|Float is fine.\n")
    report = check_data([tmp_path / "list.txt"], tmp_path, ["english_cleaners"])
    assert [(p.line_number, p.message.split(": ", 1)[1][:20]) for p in report.errors] == [
        (1, "every sample is zero"),
        (2, "800 samples (36 ms),"),  # shorter than one window, though the STFT could pad it
    ]
    with pytest.raises(ValueError, match="the training data has 2 problem"):
        require_clean(report, quiet=True)
    AudioSegmentDataset(tmp_path / "list.txt", tmp_path, 4000, n_mel_channels=N_MEL)  # headers are fine


def test_a_file_spoilt_after_the_check_is_named_by_the_worker_that_reads_it(tmp_path):
    soundfile.write(tmp_path / "a.wav", speech_like(), RATE, subtype="FLOAT")
    (tmp_path / "list.txt").write_text("a.wav|Fine.\n")
    segments = AudioSegmentDataset(tmp_path / "list.txt", tmp_path, 4000, n_mel_channels=N_MEL)
    spoilt = speech_like().astype(np.float32)
    spoilt[5] = np.inf
    soundfile.write(tmp_path / "a.wav", spoilt, RATE, subtype="FLOAT")
    with pytest.raises(DataError, match=r"list.txt:1: .*a.wav: 1 of 22050 samples are NaN or infinite"):
        segments[0]
