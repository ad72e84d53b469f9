"""Reading WAVs and bringing them to the 16 kHz mono float signal every metric here works on."""

from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from filelists.audio import AudioError, audio_info, decode_samples

ANALYSIS_RATE = 16000  # pocketsphinx's en-us model is 16 kHz; MCD uses the same 0-8 kHz band


class AudioReadError(RuntimeError):
    """A WAV that cannot be scored, with the offending path in the message."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples (channels averaged) and the file's sample rate, any rate.

    Read by `filelists.audio` (every PCM width and float at its own full scale), which also catches
    truncated and header-only files. AudioReadError for those, for files that cannot be read, and for
    NaN or infinite samples, which no metric can score (a vocoder that diverged writes them).
    """
    path = Path(path)
    try:
        info = audio_info(path)
        if info.n_samples == 0:
            raise AudioError(path, "no samples")
        if info.channels == 1:
            samples = decode_samples(path, info)
        else:
            samples = sf.read(str(path), dtype="float64", always_2d=True)[0].mean(axis=1)
    except AudioError as error:
        raise AudioReadError(f"cannot read audio file {path}: {error.problem}") from None
    except (RuntimeError, OSError, sf.LibsndfileError) as error:
        raise AudioReadError(f"cannot read audio file {path}: {error}") from error
    finite = np.isfinite(samples)
    if not finite.all():  # float samples beyond full scale are scored as they are; NaN cannot be
        bad = int(samples.size - np.count_nonzero(finite))
        raise AudioReadError(
            f"cannot read audio file {path}: {bad} of {samples.size} samples are NaN or infinite"
        )
    return samples.astype(np.float32, copy=False), info.sampling_rate


def to_analysis_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample a mono signal (float in [-1, 1], or integer PCM) to 16 kHz float32."""
    samples = np.asarray(samples)
    if samples.dtype.kind in "iu":
        samples = samples / float(np.iinfo(samples.dtype).max)
    samples = samples.astype(np.float32, copy=False)
    if sample_rate == ANALYSIS_RATE:
        return samples
    return librosa.resample(samples, orig_sr=sample_rate, target_sr=ANALYSIS_RATE, res_type="soxr_hq")
