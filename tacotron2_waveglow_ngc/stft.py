"""The one short-time Fourier transform of this folder: mel features, WaveGlow `Denoiser`, Griffin-Lim.

Frames are centred: the input is reflect-padded by `filter_length // 2` on both sides, so
`n_frames = 1 + n_samples // hop_length`. The window (`scipy.signal.get_window(window, win_length,
fftbins=True)`, periodic Hann by default) is zero-padded to `filter_length`. The inverse is the
window-sum-square normalised overlap-add.

The original (DLE `tacotron2_common/stft.py`) convolves with a windowed real Fourier basis and its
pseudo-inverse; here both directions are FFTs (`torch.stft` / `torch.istft`), the same transform up
to float rounding and about 8x faster for the mel features. With `original_bases=True` the two bases
are still stored, only so that state dicts match the original's layout (the `Denoiser`'s).

    stft = STFT(filter_length=1024, hop_length=256, win_length=1024, window="hann")
    magnitude, phase = stft.transform(audio)   # audio (B, N) -> both (B, filter_length // 2 + 1, F)
    audio = stft.inverse(magnitude, phase)      # -> (B, 1, N') with N' = (F - 1) * hop_length
"""

import numpy as np
import torch
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


def pad_center(values: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 1-D array on both sides to `size` (left pad = (size − len) // 2, as librosa)."""
    left = (size - len(values)) // 2
    return np.pad(values, (left, size - len(values) - left))


def conv_bases(fft_window: torch.Tensor, hop_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's conv1d / conv_transpose1d weights for a window (n_fft,) float32.

    Returns (forward_basis, inverse_basis), each (2·(n_fft//2+1), 1, n_fft) float32: the Fourier basis
    and pinv(n_fft / hop · basis)ᵀ, each times the window. The bases are rounded to float32 before the
    window product, as the original builds FloatTensors first, so loaded state dicts compare equal.
    """
    n_fft = fft_window.numel()
    scale = n_fft / hop_length
    forward = torch.from_numpy(fourier_basis(n_fft)[:, None, :]).float()
    inverse = torch.from_numpy((real_dft_pseudo_inverse(n_fft) / scale).T[:, None, :]).float()
    return forward * fft_window, inverse * fft_window


class STFT(nn.Module):
    """STFT (magnitude, phase) and its inverse, by FFT; see the module docstring for the conventions.

    Buffers: `fft_window` (filter_length,), not saved. With `original_bases=True` also `forward_basis`
    and `inverse_basis` (2·(filter_length//2+1), 1, filter_length), saved and otherwise unused.
    TorchScript-compatible.
    """

    def __init__(
        self,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        window: str = "hann",
        original_bases: bool = False,
    ):
        super().__init__()
        if win_length > filter_length:
            raise ValueError(f"STFT: win_length={win_length} must be <= filter_length={filter_length}")
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.n_bins = filter_length // 2 + 1
        fft_window = torch.from_numpy(
            pad_center(get_window(window, win_length, fftbins=True), filter_length)
        ).float()
        self.register_buffer("fft_window", fft_window, persistent=False)
        if original_bases:
            forward_basis, inverse_basis = conv_bases(fft_window, hop_length)
            self.register_buffer("forward_basis", forward_basis)
            self.register_buffer("inverse_basis", inverse_basis)

    def spectrum(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N) real -> complex STFT (B, filter_length//2 + 1, 1 + N // hop_length).

        Reflect padding needs N > filter_length // 2.
        """
        return torch.stft(
            audio,
            n_fft=self.filter_length,
            hop_length=self.hop_length,
            window=self.fft_window.to(audio.dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )

    def transform(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio (B, N) -> (magnitude, phase), each (B, filter_length//2 + 1, 1 + N // hop_length).

        magnitude = |X| (not power); phase = arg X in radians, detached as in the original.
        """
        spectrum = self.spectrum(audio)
        return spectrum.abs(), spectrum.detach().angle()

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """(magnitude, phase) (B, filter_length//2 + 1, F) -> audio (B, 1, (F − 1)·hop_length).

        Windowed overlap-add divided by the window sum-square, trimmed by filter_length // 2 on both
        sides. Raises if the window sum-square vanishes inside that span (where the original would
        leave those samples unnormalised); it does not for the Hann window and hop ≤ win_length / 2.
        """
        audio = torch.istft(
            torch.polar(magnitude, phase),
            n_fft=self.filter_length,
            hop_length=self.hop_length,
            window=self.fft_window.to(magnitude.dtype),
            center=True,
        )
        return audio.unsqueeze(1)
