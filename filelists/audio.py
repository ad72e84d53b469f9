"""The one audio reader and writer of every paper folder.

`read_audio` returns mono float32 samples in [-1, 1], scaled exactly as the originals scale 16-bit PCM
(`int16 / 32768`), so mels computed from 16-bit WAVs are bit-identical to theirs. Other encodings are
read right instead of being misread: 8-bit (unsigned WAV or signed), 24- and 32-bit integer PCM keep
the same full scale (`(x - 128) / 128`, `x / 2**23`, `x / 2**31`), float WAVs are taken as they are,
and whatever else libsndfile decodes (FLAC, AIFF, Ogg Vorbis, ...) works too. Nothing is resampled,
downmixed or clipped: a file at another rate, with more than one channel, with NaN/infinite samples or
with float samples outside [-1, 1] is an `AudioError` naming the file and saying what to do.

Two failures that libsndfile lets through silently are caught here:
- a truncated WAV (an interrupted copy): libsndfile reads the bytes that are there and reports fewer
  frames, with no error. The size of the `data` chunk promised by the RIFF header is compared with the
  bytes the file holds;
- a header-only WAV: it opens fine with 0 frames.

`write_wav` is the one output format: 16-bit PCM mono, written atomically.
"""

from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile

# libsndfile hands every integer width to us left-aligned in an int32 (a 16-bit sample x arrives as
# x * 2**16, an unsigned 8-bit sample u as (u - 128) * 2**24), so one division by 2**31 gives every width
# its own full scale, and for 16-bit files exactly int16 / 32768.
INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32"})
_INT32_FULL_SCALE = np.float32(2.0**31)
WRITE_SUBTYPE = "PCM_16"


class AudioError(ValueError):
    """An audio file that cannot be used; the message is `path: problem` (and what to do)."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


class AudioInfo(NamedTuple):
    """What the header of an audio file says (the file was found complete, see `audio_info`)."""

    sampling_rate: int
    n_samples: int  # frames per channel
    channels: int
    format: str  # libsndfile's name: "WAV", "FLAC", ...
    subtype: str  # "PCM_16", "PCM_24", "FLOAT", ...

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sampling_rate if self.sampling_rate else 0.0

    @property
    def is_float(self) -> bool:
        """True for float WAVs and for every encoding that is not plain integer PCM (decoded as float)."""
        return self.subtype not in INTEGER_SUBTYPES


def _riff_data_chunk(path: Path) -> tuple[int, int] | None:
    """(size the header declares for the `data` chunk, offset where its bytes start), or None when
    `path` is not a RIFF/RIFX WAVE file or its chunk list ends before a `data` chunk."""
    with open(path, "rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        while True:
            chunk = file.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
            if chunk_id == b"data":
                return size, file.tell()
            file.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to an even size


# A streaming writer that cannot seek back leaves one of these as the data size; libsndfile then reads
# to the end of the file, and so do we (no truncation can be told).
_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF)


def _check_complete(path: Path) -> None:
    data = _riff_data_chunk(path)
    if data is None:
        return
    declared, offset = data
    available = path.stat().st_size - offset
    if declared not in _UNKNOWN_DATA_SIZES and declared > available:
        raise AudioError(
            path,
            f"truncated: the WAV header promises {declared} bytes of samples but the file holds "
            f"{max(available, 0)} (an interrupted copy or download?); copy the file again",
        )


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """The header of `path`, after checking that the file exists, opens and is complete.

    Raises AudioError for a missing file, a folder, a file libsndfile cannot open, or a truncated WAV.
    Rate, channels and length are returned, not judged: see `header_problems`.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "audio file not found")
    if not path.is_file():
        raise AudioError(path, "not an audio file (a folder or device)")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"unreadable audio ({_libsndfile_message(error)})") from None
    _check_complete(path)
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels), info.format, info.subtype)


def _libsndfile_message(error: Exception) -> str:
    # soundfile prefixes its message with the file name, which our message names already.
    message = str(error)
    return message.split(": ", 1)[1] if message.startswith("Error opening") and ": " in message else message


def header_problems(info: AudioInfo, sampling_rate: int | None = None) -> list[str]:
    """What makes a file with this header unusable for training or vocoding: a rate other than
    `sampling_rate` (None accepts any), more than one channel, no samples. Empty when usable."""
    problems = []
    if sampling_rate is not None and info.sampling_rate != sampling_rate:
        problems.append(
            f"sampling rate {info.sampling_rate} Hz, expected {sampling_rate} Hz (audio is not resampled, "
            "as in the originals: convert the corpus first)"
        )
    if info.channels != 1:
        problems.append(
            f"{info.channels} channels, expected mono (downmix first, e.g. ffmpeg -i IN -ac 1 OUT)"
        )
    if info.n_samples == 0:
        problems.append("no samples (the file holds a header only)")
    return problems


def decode_samples(path: Path, info: AudioInfo) -> np.ndarray:
    """(N,) float32 (integer PCM scaled to [-1, 1)) or float64 (float encodings, unscaled) samples."""
    try:
        if info.is_float:
            samples, _ = soundfile.read(str(path), dtype="float64", always_2d=False)
            return samples
        if info.subtype == "PCM_16":  # the common case, at half the memory traffic; the same values
            samples, _ = soundfile.read(str(path), dtype="int16", always_2d=False)
            return samples.astype(np.float32) / np.float32(32768.0)
        samples, _ = soundfile.read(str(path), dtype="int32", always_2d=False)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
        raise AudioError(path, f"unreadable audio ({_libsndfile_message(error)})") from None
    return samples.astype(np.float32) / _INT32_FULL_SCALE


def sample_problems(samples: np.ndarray, info: AudioInfo) -> list[str]:
    """Problems of decoded samples: non-finite values, float samples beyond [-1, 1] (never clipped)."""
    if not info.is_float:
        return []  # integer PCM is finite and in [-1, 1) by construction
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(samples.size - np.count_nonzero(finite))
        first = int(np.argmin(finite))
        return [f"{bad} of {samples.size} samples are NaN or infinite (the first at sample {first})"]
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > 1.0:
        return [
            f"{info.subtype.lower()} samples reach {peak:.4g}, outside [-1, 1]; rescale the file (values "
            "are not clipped)"
        ]
    return []


def read_audio(path: str | os.PathLike, sampling_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono samples of `path` as float32 (N,) in [-1, 1], and the file's sampling rate in Hz.

    16-bit PCM gives exactly `int16 / 32768` (the originals' scale); 8-bit `(x - 128) / 128`, 24-bit
    `x / 2**23`, 32-bit integer `x / 2**31`; float files as stored. `sampling_rate` (Hz), when given, must
    match the file's: there is no resampling. Raises AudioError (naming `path`) for a missing, unreadable,
    truncated or empty file, a wrong rate, more than one channel, NaN/infinite samples, or float samples
    outside [-1, 1].
    """
    path = Path(path)
    info = audio_info(path)
    problems = header_problems(info, sampling_rate)
    if problems:
        raise AudioError(path, "; ".join(problems))
    samples = decode_samples(path, info)
    problems = sample_problems(samples, info)
    if problems:
        raise AudioError(path, "; ".join(problems))
    return samples.astype(np.float32, copy=False), info.sampling_rate


def _as_mono_array(audio, path: Path) -> np.ndarray:
    if hasattr(audio, "detach"):  # a torch tensor, possibly bf16 or on a GPU
        audio = audio.detach().float().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        if audio.size and audio.ndim > 1 and all(size == 1 for size in audio.shape[:-1]):
            audio = audio.reshape(-1)  # (1, N) or (1, 1, N): one channel
        else:
            raise AudioError(
                path, f"expected mono audio of shape (N,), got shape {audio.shape}; nothing written"
            )
    return audio


def _write_failure(path: Path, error: OSError) -> str:
    """Why writing into `path`'s folder failed, in words that point at the path to fix."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a folder"
    if not path.parent.exists():
        return f"the folder {path.parent} does not exist"
    return error.strerror or str(error)


def write_wav(path: str | os.PathLike, audio, sampling_rate: int) -> Path:
    """Write mono `audio` (N,) as a 16-bit PCM WAV at `path`, atomically; returns the path.

    Samples are clipped to [-1, 1] (a vocoder overshooting full scale is normal and not an error), then
    stored as round(x * 32768) limited to the int16 range, the inverse of `read_audio`, so a 16-bit file
    read and written again is unchanged. The file appears complete or not at all: it is written to a
    temporary file in the same folder and renamed over `path`. Raises AudioError naming `path` for
    NaN/infinite samples (nothing is written; the caller says which sentence) or an unwritable location.
    """
    path = Path(path)
    audio = _as_mono_array(audio, path)
    finite = np.isfinite(audio)
    if not finite.all():
        bad = int(audio.size - np.count_nonzero(finite))
        raise AudioError(path, f"{bad} of {audio.size} samples are NaN or infinite; nothing written")
    if audio.size == 0:
        raise AudioError(path, "no samples to write (empty audio); nothing written")
    if not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise AudioError(path, f"sampling rate must be a positive integer, got {sampling_rate!r}")
    pcm = np.clip(np.rint(np.clip(audio, -1.0, 1.0) * 32768.0), -32768, 32767).astype(np.int16)
    if path.is_dir():
        raise AudioError(path, "cannot write the WAV: this is a folder")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    created = False
    try:
        # os.open applies the umask, so the WAV gets the permissions a plain open() would give it.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        created = True
        with os.fdopen(descriptor, "wb") as file:
            soundfile.write(file, pcm, int(sampling_rate), subtype=WRITE_SUBTYPE, format="WAV")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if created:
            temporary.unlink(missing_ok=True)
        raise AudioError(path, f"cannot write the WAV: {_write_failure(path, error)}") from None
    except BaseException:
        if created:
            temporary.unlink(missing_ok=True)
        raise
    return path
