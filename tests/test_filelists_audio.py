"""filelists.audio: every encoding read at its own full scale, every bad file refused by name, the writer."""

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from filelists.audio import AudioError, audio_info, read_audio, write_wav

RATE = 22050


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_16_bit_pcm_is_bit_identical_to_int16_over_32768(tmp_path, rng):
    samples = rng.integers(-32768, 32768, 5000).astype(np.int16)
    samples[:2] = (-32768, 32767)  # both ends of the range
    path = tmp_path / "a.wav"
    soundfile.write(path, samples, RATE, subtype="PCM_16")
    audio, rate = read_audio(path, RATE)
    assert rate == RATE and audio.dtype == np.float32 and audio.shape == (5000,)
    assert np.array_equal(audio, samples.astype(np.float32) / 32768)
    assert audio.min() == -1.0 and audio.max() < 1.0


def _raw_wav(path: Path, payload: bytes, bits: int, format_tag: int = 1, declared: int | None = None) -> None:
    """A minimal RIFF WAVE file written byte by byte (mono, RATE), with a chosen data-chunk size."""
    block = bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, 1, RATE, RATE * block, block, bits)
    size = len(payload) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_8_24_32_bit_and_float_each_at_their_own_full_scale(tmp_path, rng):
    unsigned8 = rng.integers(0, 256, 300).astype(np.uint8)
    _raw_wav(tmp_path / "u8.wav", unsigned8.tobytes(), 8)
    expected8 = (unsigned8.astype(np.float32) - 128) / 128
    assert np.array_equal(read_audio(tmp_path / "u8.wav")[0], expected8)

    signed24 = rng.integers(-(2**23), 2**23, 300)
    packed = b"".join(int(value).to_bytes(3, "little", signed=True) for value in signed24)
    _raw_wav(tmp_path / "s24.wav", packed, 24)
    assert np.array_equal(read_audio(tmp_path / "s24.wav")[0], (signed24 / 2**23).astype(np.float32))

    signed32 = rng.integers(-(2**31), 2**31, 300).astype("<i4")
    _raw_wav(tmp_path / "s32.wav", signed32.tobytes(), 32)
    assert np.array_equal(read_audio(tmp_path / "s32.wav")[0], (signed32 / 2**31).astype(np.float32))

    floats = rng.uniform(-1, 1, 300).astype("<f4")
    _raw_wav(tmp_path / "f32.wav", floats.tobytes(), 32, format_tag=3)
    assert np.array_equal(read_audio(tmp_path / "f32.wav")[0], floats)
    # Before: the same float file read as int16 came back as (almost) silence.
    assert np.abs(soundfile.read(tmp_path / "f32.wav", dtype="int16")[0]).max() <= 1

    soundfile.write(tmp_path / "a.flac", (floats * 30000).astype(np.int16), RATE, subtype="PCM_16")
    flac, _ = read_audio(tmp_path / "a.flac")
    assert np.array_equal(flac, (floats * 30000).astype(np.int16).astype(np.float32) / 32768)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "audio file not found"),
        ("folder", "not an audio file"),
        ("garbage", "unreadable audio"),
        ("truncated", "truncated: the WAV header promises 2000 bytes of samples but the file holds 1000"),
        ("header only", "truncated: the WAV header promises 2000 bytes of samples but the file holds 0"),
        ("empty data", "no samples"),
        ("stereo", "2 channels, expected mono"),
        ("16 kHz", "sampling rate 16000 Hz, expected 22050 Hz"),
        ("NaN", "1 of 1000 samples are NaN or infinite (the first at sample 7)"),
        ("loud float", "float samples reach 1.5, outside [-1, 1]"),
    ],
)
def test_bad_files_are_refused_naming_the_file(tmp_path, case, expected):
    path = tmp_path / f"{case}.wav"
    pcm = (np.sin(np.arange(1000) * 0.05) * 10000).astype("<i2").tobytes()
    if case == "folder":
        path.mkdir()
    elif case == "garbage":
        path.write_bytes(b"RIFF this is not a wave file at all")
    elif case == "truncated":
        _raw_wav(path, pcm[:1000], 16, declared=2000)
    elif case == "header only":
        _raw_wav(path, b"", 16, declared=2000)
    elif case == "empty data":
        _raw_wav(path, b"", 16)
    elif case == "stereo":
        soundfile.write(path, np.zeros((1000, 2)), RATE, subtype="PCM_16")
    elif case == "16 kHz":
        soundfile.write(path, np.zeros(1000), 16000, subtype="PCM_16")
    elif case == "NaN":
        samples = np.zeros(1000, dtype=np.float32)
        samples[7] = np.nan
        soundfile.write(path, samples, RATE, subtype="FLOAT")
    elif case == "loud float":
        soundfile.write(path, np.linspace(-1.5, 1.5, 1000), RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as error:
        read_audio(path, RATE)
    assert str(error.value).startswith(f"{path}: ") and expected in str(error.value)
    assert isinstance(error.value, ValueError) and error.value.path == path


def test_libsndfile_alone_misses_truncation_which_audio_info_catches(tmp_path):
    # Why the RIFF header is read: libsndfile opens a cut-off WAV without complaint and reports fewer frames.
    path = tmp_path / "cut.wav"
    soundfile.write(path, np.zeros(4000, dtype=np.int16), RATE, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3001])  # cut inside a sample, too
    assert soundfile.info(str(path)).frames < 4000
    with pytest.raises(AudioError, match="truncated"):
        audio_info(path)
    # A streaming writer's placeholder size (0xFFFFFFFF) is not taken for truncation.
    _raw_wav(tmp_path / "stream.wav", np.ones(100, dtype="<i2").tobytes(), 16, declared=0xFFFFFFFF)
    assert read_audio(tmp_path / "stream.wav")[0].shape == (100,)


def test_write_wav_is_16_bit_mono_clipped_atomic_and_read_back_exactly(tmp_path, rng):
    samples = rng.integers(-32768, 32768, 1000).astype(np.int16)
    path = write_wav(tmp_path / "out.wav", samples.astype(np.float32) / 32768, RATE)
    info = soundfile.info(str(path))
    assert (info.subtype, info.channels, info.samplerate) == ("PCM_16", 1, RATE)
    assert np.array_equal(soundfile.read(path, dtype="int16")[0], samples)  # read -> write is lossless
    write_wav(path, np.array([[2.0, -3.0, 0.5]]), RATE)  # (1, N) is one channel; overshoot is clipped
    assert soundfile.read(path, dtype="int16")[0].tolist() == [32767, -32768, 16384]
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]  # no temporary file left behind


def test_write_wav_refuses_nan_bad_shapes_and_unwritable_places(tmp_path):
    good = np.zeros(10)
    write_wav(tmp_path / "keep.wav", good + 0.5, RATE)
    before = (tmp_path / "keep.wav").read_bytes()
    bad = good.copy()
    bad[3] = np.inf
    with pytest.raises(AudioError, match=r"keep.wav: 1 of 10 samples are NaN or infinite; nothing written"):
        write_wav(tmp_path / "keep.wav", bad, RATE)
    assert (tmp_path / "keep.wav").read_bytes() == before  # the old file is untouched
    with pytest.raises(AudioError, match="expected mono audio of shape"):
        write_wav(tmp_path / "stereo.wav", np.zeros((2, 10)), RATE)
    with pytest.raises(AudioError, match="no samples"):
        write_wav(tmp_path / "empty.wav", np.zeros(0), RATE)
    with pytest.raises(AudioError, match=f"{tmp_path / 'absent'} does not exist"):
        write_wav(tmp_path / "absent" / "x.wav", good, RATE)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(AudioError, match="cannot write the WAV: .*a_file is a file, not a folder"):
        write_wav(tmp_path / "a_file" / "x.wav", good, RATE)
    with pytest.raises(AudioError, match="this is a folder"):
        write_wav(tmp_path, good, RATE)
    assert sorted(os.listdir(tmp_path)) == ["a_file", "keep.wav"]


def test_write_wav_takes_torch_tensors():
    torch = pytest.importorskip("torch")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = write_wav(Path(folder) / "t.wav", torch.full((1, 4), 0.25, dtype=torch.bfloat16), RATE)
        assert soundfile.read(path, dtype="int16")[0].tolist() == [8192] * 4
