"""Reading WAVs and bringing them to the 16 kHz mono float signal every metric here works on."""

from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

ANALYSIS_RATE = 16000  # pocketsphinx's en-us model is 16 kHz; MCD uses the same 0-8 kHz band


class AudioReadError(RuntimeError):
    """A WAV that cannot be read, with the offending path in the message."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] (channels averaged) and the file's sample rate."""
    try:
        samples, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as error:
        raise AudioReadError(f"cannot read audio file {path}: {error}") from error
    if samples.shape[0] == 0:
        raise AudioReadError(f"audio file {path} has no samples")
    return samples.mean(axis=1), sample_rate


def to_analysis_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample a mono signal (float in [-1, 1], or integer PCM) to 16 kHz float32."""
    samples = np.asarray(samples)
    if samples.dtype.kind in "iu":
        samples = samples / float(np.iinfo(samples.dtype).max)
    samples = samples.astype(np.float32, copy=False)
    if sample_rate == ANALYSIS_RATE:
        return samples
    return librosa.resample(samples, orig_sr=sample_rate, target_sr=ANALYSIS_RATE, res_type="soxr_hq")
