"""Short-time Fourier transform as a pair of fixed convolutions (DLE `tacotron2_common/stft.py`).

`STFT.transform` is the analysis used for the mel features of Tacotron 2 / WaveGlow and by the
WaveGlow `Denoiser`; `STFT.inverse` is the window-sum-square normalised overlap-add the denoiser uses
to go back to audio. Frames are centred: the input is reflect-padded by `filter_length // 2` on both
sides, so `n_frames = 1 + n_samples // hop_length`.

Stable API (the mel code of this folder relies on it):
    stft = STFT(filter_length=1024, hop_length=256, win_length=1024, window="hann")
    magnitude, phase = stft.transform(audio)   # audio (B, N) -> both (B, filter_length // 2 + 1, F)
    audio = stft.inverse(magnitude, phase)      # -> (B, 1, N') with N' = (F - 1) * hop_length
"""

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import get_window
from torch import nn


def fourier_basis(filter_length: int) -> np.ndarray:
    """Real DFT basis, float64 (2·(n_fft//2+1), n_fft): cosine rows of bins 0..n_fft/2, then sine rows.

    Row k is Re(e^{-2πi·k·n/N}) and row (n_fft//2+1)+k is Im(e^{-2πi·k·n/N}), as `np.fft.fft(eye)` gives.
    """
    n_bins = filter_length // 2 + 1
    phase = 2.0 * np.pi * np.outer(np.arange(n_bins), np.arange(filter_length)) / filter_length
    return np.vstack([np.cos(phase), -np.sin(phase)])


def real_dft_pseudo_inverse(filter_length: int) -> np.ndarray:
    """Moore–Penrose inverse of `fourier_basis(N)` (N even), float64 (N, 2·(N/2+1)), in closed form.

    The original calls `np.linalg.pinv` (an SVD of a 1026 x 1024 matrix, seconds on a CPU). The basis B
    has full column rank and Gram matrix BᵀB = N/2·I + ½(11ᵀ + ssᵀ) with s = (-1)^n, so by
    Sherman–Morrison (1 ⟂ s, |1|² = |s|² = N) pinv(B) = (BᵀB)⁻¹Bᵀ = 2/N·(I − (11ᵀ + ssᵀ)/(2N))·Bᵀ.
    Equal to `pinv` to float64 rounding (checked in `tests/test_waveglow_stft_denoiser.py`).
    """
    basis = fourier_basis(filter_length)
    if filter_length % 2:
        return np.linalg.pinv(basis)
    ones = np.ones(filter_length)
    alternating = (-1.0) ** np.arange(filter_length)
    basis_t = basis.T
    correction = np.outer(ones, ones @ basis_t) + np.outer(alternating, alternating @ basis_t)
    return (2.0 / filter_length) * (basis_t - correction / (2.0 * filter_length))


@lru_cache(maxsize=64)
def window_sumsquare(window: str, n_frames: int, hop_length: int, win_length: int, n_fft: int) -> np.ndarray:
    """Sum of squared, centre-padded windows over `n_frames` frames: float32 (n_fft + hop·(n_frames−1),).

    Accumulated in a float32 array like the original (`audio_processing.window_sumsquare`, librosa
    style, no window normalisation).
    """
    length = n_fft + hop_length * (n_frames - 1)
    total = np.zeros(length, dtype=np.float32)
    window_sq = pad_center(get_window(window, win_length, fftbins=True) ** 2, n_fft)
    for frame in range(n_frames):
        start = frame * hop_length
        total[start : min(length, start + n_fft)] += window_sq[: max(0, min(n_fft, length - start))]
    total.setflags(write=False)
    return total


def pad_center(values: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 1-D array on both sides to `size` (left pad = (size − len) // 2, as librosa)."""
    left = (size - len(values)) // 2
    return np.pad(values, (left, size - len(values) - left))


class STFT(nn.Module):
    """STFT / inverse STFT by convolution with a windowed Fourier basis.

    Buffers (names as the original, so a saved `Denoiser` state dict matches):
    `forward_basis` (2·(filter_length//2+1), 1, filter_length) and `inverse_basis` (same shape).
    The window (`scipy.signal.get_window(window, win_length, fftbins=True)`, i.e. periodic Hann by
    default) is zero-padded to `filter_length` and multiplied into both bases.
    """

    def __init__(
        self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024, window: str = "hann"
    ):
        super().__init__()
        if win_length > filter_length:
            raise ValueError(f"STFT: win_length={win_length} must be <= filter_length={filter_length}")
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.n_bins = filter_length // 2 + 1

        basis = fourier_basis(filter_length)
        scale = filter_length / hop_length
        # pinv(scale · B) = pinv(B) / scale, B the Fourier basis.
        inverse = (real_dft_pseudo_inverse(filter_length) / scale).T
        fft_window = pad_center(get_window(window, win_length, fftbins=True), filter_length)
        # Rounded to float32 before the window product, as the original builds FloatTensors first.
        forward_basis = torch.from_numpy(basis[:, None, :]).float() * torch.from_numpy(fft_window).float()
        inverse_basis = torch.from_numpy(inverse[:, None, :]).float() * torch.from_numpy(fft_window).float()
        self.register_buffer("forward_basis", forward_basis)
        self.register_buffer("inverse_basis", inverse_basis)

    def transform(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, N) float -> (magnitude, phase), each (B, filter_length//2 + 1, 1 + N // hop_length).

        magnitude = sqrt(re² + im²) (not power); phase = atan2(im, re), radians.
        Reflect padding needs N > filter_length // 2.
        """
        pad = self.filter_length // 2
        padded = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect")
        spectrum = F.conv1d(padded, self.forward_basis, stride=self.hop_length)
        real, imag = spectrum[:, : self.n_bins], spectrum[:, self.n_bins :]
        magnitude = torch.sqrt(real**2 + imag**2)
        phase = torch.atan2(imag.detach(), real.detach())
        return magnitude, phase

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """(magnitude, phase) (B, filter_length//2 + 1, F) -> audio (B, 1, (F − 1)·hop_length).

        Overlap-add of the windowed inverse basis, divided by the window sum-square where it is
        larger than float32 `tiny`, scaled by filter_length / hop_length, and trimmed by
        filter_length // 2 on both sides.
        """
        recombined = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
        audio = F.conv_transpose1d(recombined, self.inverse_basis, stride=self.hop_length)
        if self.window is not None:
            window_sum = window_sumsquare(
                self.window, magnitude.size(-1), self.hop_length, self.win_length, self.filter_length
            )
            window_sum = torch.from_numpy(window_sum.copy()).to(audio.device)
            nonzero = window_sum > torch.finfo(torch.float32).tiny
            # Division only where the windows overlap (the original leaves the rest untouched).
            audio = torch.where(nonzero, audio / torch.where(nonzero, window_sum, 1.0), audio)
            audio = audio * (float(self.filter_length) / self.hop_length)
        pad = self.filter_length // 2
        return audio[:, :, pad:-pad]
