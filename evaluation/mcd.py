"""Mel-cepstral distortion (MCD) between a synthesized and a reference recording, aligned with DTW.

Mel-cepstrum (24th order, all-pass warping alpha = 0.42, the usual value for 16 kHz), per frame:

1. Both signals are resampled to 16 kHz, so the band analysed is 0-8 kHz whatever the input rate.
2. Hann window of 25 ms, hop 5 ms, 1024-point FFT; power floored at -80 dB below the utterance's
   loudest bin (so digital silence is finite and a gain change only moves c0).
3. Spectral envelope by cepstral smoothing: the natural-log amplitude spectrum's real cepstrum is
   cut to quefrencies below 2.5 ms, which removes the harmonic ripple of any F0 under 400 Hz.
4. Frequency warping: the envelope is resampled (linear interpolation) on a grid uniform in the
   warped frequency beta(omega) = omega + 2 atan(alpha sin(omega) / (1 - alpha cos(omega))) -- the
   phase of the first-order all-pass (z^-1 - alpha) / (1 - alpha z^-1) that defines the
   mel-cepstrum -- and its cosine transform gives c(m), m = 0..24, in the causal (SPTK) convention
   log|H| = c(0) + sum_m c(m) cos(m beta). This is the mel-cepstrum of the smoothed envelope, as
   SPTK's `freqt` would give from the liftered cepstrum, without the iterative UELS fit of `mcep`.

Distortion: c(0) (energy) is excluded; frames are aligned by DTW (librosa, steps (1,1), (1,0),
(0,1), Euclidean cost on c(1..24)) and

    MCD [dB] = mean over aligned frame pairs of (10 / ln 10) * sqrt(2 * sum_{m=1..24} (c_syn(m) - c_ref(m))^2)

which is the RMS over warped frequency of the difference of the two log envelopes in dB.
Identical audio gives exactly 0.0.
"""

from functools import cache

import librosa
import numpy as np
from scipy.spatial.distance import cdist

from evaluation.audio import to_analysis_rate

ORDER = 24
ALPHA = 0.42
N_FFT = 1024
WIN_LENGTH = 400  # 25 ms at 16 kHz
HOP_LENGTH = 80  # 5 ms
FLOOR_DB = -80.0
LIFTER = 40  # 2.5 ms at 16 kHz
MCD_SCALE = 10.0 / np.log(10.0) * np.sqrt(2.0)

DEFINITION = (
    "MCD [dB]: mean over DTW-aligned frame pairs of (10/ln10)*sqrt(2*sum_{m=1..24}(dc_m)^2); "
    "24th-order mel-cepstrum (alpha 0.42) of the cepstrally smoothed log spectrum (16 kHz, 0-8 kHz, "
    "25 ms Hann, 5 ms hop), c0 excluded"
)


def warp_frequency(omega: np.ndarray, alpha: float) -> np.ndarray:
    """Phase response of the first-order all-pass: linear frequency (rad) -> warped frequency.
    warp_frequency(., -alpha) is its inverse."""
    return omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))


@cache
def _warping_matrix(n_bins: int, alpha: float) -> np.ndarray:
    """(n_bins, n_bins) linear-interpolation matrix from bins uniform in omega to bins uniform in beta."""
    beta = np.linspace(0.0, np.pi, n_bins)
    position = warp_frequency(beta, -alpha) / np.pi * (n_bins - 1)
    lower = np.clip(np.floor(position).astype(int), 0, n_bins - 2)
    fraction = position - lower
    matrix = np.zeros((n_bins, n_bins))
    matrix[np.arange(n_bins), lower] = 1.0 - fraction
    matrix[np.arange(n_bins), lower + 1] += fraction
    return matrix


def mel_cepstrum(
    samples: np.ndarray, sample_rate: int, order: int = ORDER, alpha: float = ALPHA
) -> np.ndarray:
    """(T, order + 1) mel-cepstra c(0..order) of a mono signal at any rate (see module docstring)."""
    audio = to_analysis_rate(samples, sample_rate).astype(np.float64)
    spectrum = librosa.stft(
        audio, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window="hann", center=True
    )
    power = np.abs(spectrum) ** 2  # (F, T)
    floor = max(float(power.max()), 1e-20) * 10.0 ** (FLOOR_DB / 10.0)
    log_amplitude = 0.5 * np.log(np.maximum(power, floor))

    cepstrum = np.fft.irfft(log_amplitude, n=N_FFT, axis=0)
    cepstrum[LIFTER : N_FFT - LIFTER + 1] = 0.0
    envelope = np.fft.rfft(cepstrum, n=N_FFT, axis=0).real  # (F, T)

    warped = _warping_matrix(envelope.shape[0], alpha) @ envelope
    mcep = np.fft.irfft(warped, n=N_FFT, axis=0)[: order + 1]
    mcep[1:] *= 2.0  # symmetric real cepstrum -> causal convention
    return mcep.T


def mcd_from_cepstra(synthesized: np.ndarray, reference: np.ndarray) -> float:
    """MCD in dB between (T_syn, D) and (T_ref, D) mel-cepstra, c(0) in column 0 is ignored."""
    cost = cdist(synthesized[:, 1:], reference[:, 1:], metric="euclidean")
    _, path = librosa.sequence.dtw(C=cost, backtrack=True)
    return float(MCD_SCALE * cost[path[:, 0], path[:, 1]].mean())


def mel_cepstral_distortion(
    synthesized: np.ndarray, synthesized_rate: int, reference: np.ndarray, reference_rate: int
) -> float:
    """MCD in dB with DTW between two mono signals at any sample rates (see module docstring)."""
    return mcd_from_cepstra(
        mel_cepstrum(synthesized, synthesized_rate), mel_cepstrum(reference, reference_rate)
    )
