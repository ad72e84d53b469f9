"""Mel features of NVIDIA Tacotron 2 (`layers.TacotronSTFT` of the original), and Griffin-Lim to hear them
without a vocoder.

Features: natural log of max(mel_basis @ |STFT(y)|, 1e-5), where the STFT has centred frames with
reflect padding of filter_length // 2, a periodic Hann window of win_length zero-padded to
filter_length, and magnitudes (not power): T = 1 + len(y) // hop_length frames. The mel basis is
librosa's Slaney-normalised filterbank. The original convolves with a windowed Fourier basis; here
`torch.stft` computes the same transform (equal to float rounding, see tests/test_parity.py).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import torch
from scipy.signal import get_window
from torch import nn

LOG_FLOOR = 1e-5  # the original's clip_val of dynamic_range_compression


def hann_window(win_length: int, filter_length: int) -> torch.Tensor:
    """(filter_length,) periodic Hann window of win_length samples, centred and zero-padded."""
    window = get_window("hann", win_length, fftbins=True)
    left = (filter_length - win_length) // 2
    return torch.from_numpy(np.pad(window, (left, filter_length - win_length - left))).float()


class TacotronSTFT(nn.Module):
    """Waveform -> log-mel, with the original's argument names and defaults."""

    def __init__(
        self,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        sampling_rate: int = 22050,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = 8000.0,
    ):
        super().__init__()
        if win_length > filter_length:
            raise ValueError(f"win_length={win_length} must not exceed filter_length={filter_length}")
        self.filter_length, self.hop_length, self.win_length = filter_length, hop_length, win_length
        self.n_mel_channels, self.sampling_rate = n_mel_channels, sampling_rate
        mel_basis = librosa.filters.mel(
            sr=sampling_rate, n_fft=filter_length, n_mels=n_mel_channels, fmin=mel_fmin, fmax=mel_fmax
        )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis).float(), persistent=False)
        self.register_buffer("window", hann_window(win_length, filter_length), persistent=False)

    def spectrum(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, N), N > filter_length / 2 -> complex (B, filter_length // 2 + 1, 1 + N // hop_length)."""
        return torch.stft(
            y,
            self.filter_length,
            self.hop_length,
            window=self.window.to(y.dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )

    def mel_spectrogram(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, N) waveform in [-1, 1] -> log-mel (B, n_mel_channels, 1 + N // hop_length)."""
        if y.numel() and (y.min() < -1 or y.max() > 1):
            raise ValueError("TacotronSTFT.mel_spectrogram: the waveform must lie in [-1, 1]")
        magnitude = self.spectrum(y).abs()
        return torch.log(torch.clamp(self.mel_basis.to(y.dtype) @ magnitude, min=LOG_FLOOR))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.mel_spectrogram(y)


class GriffinLim(nn.Module):
    """Log-mel (B, n_mel, T) -> audio (B, T * hop_length): the mel basis' pseudo-inverse, then Griffin-Lim
    iterations from random phase. For listening without a vocoder; quality is that of Griffin-Lim."""

    def __init__(self, stft: TacotronSTFT, n_iters: int = 60):
        super().__init__()
        self.stft = stft
        self.n_iters = n_iters
        self.register_buffer(
            "inverse_mel_basis", torch.linalg.pinv(stft.mel_basis.double()).float(), persistent=False
        )

    def inverse(self, spectrum: torch.Tensor) -> torch.Tensor:
        return torch.istft(
            spectrum, self.stft.filter_length, self.stft.hop_length, window=self.stft.window, center=True
        )

    def forward(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # One silent frame is appended because the inverse STFT gives (frames - 1) * hop samples; at least
        # four frames keep the reflect padding of the re-analysis possible.
        n_frames = max(mel.size(2) + 1, 4)
        mel = nn.functional.pad(mel.float(), (0, n_frames - mel.size(2)), value=math.log(LOG_FLOOR))
        magnitude = torch.clamp(self.inverse_mel_basis @ torch.exp(mel), min=1e-10)
        phase = 2 * math.pi * torch.rand(magnitude.shape, generator=generator).to(mel.device)
        audio = self.inverse(torch.polar(magnitude, phase))
        for _ in range(self.n_iters):
            rebuilt = self.stft.spectrum(audio)
            audio = self.inverse(torch.polar(magnitude, rebuilt.angle()))
        return audio
