"""Tacotron 2 mel features: natural log of max(mel_basis @ |STFT(y)|, 1e-5).

STFT: the folder's `stft.STFT` (centred frames, reflect padding, periodic Hann window, magnitude not
power), F = 1 + floor(N / hop). Mel basis: librosa's Slaney-normalised filters. Equals the original
`TacotronSTFT` (a conv1d against a windowed Fourier basis) up to float rounding.
"""

import librosa
import torch
from torch import nn

from .stft import STFT


def dynamic_range_compression(x: torch.Tensor, C: float = 1.0, clip_val: float = 1e-5) -> torch.Tensor:
    return torch.log(torch.clamp(x, min=clip_val) * C)


def dynamic_range_decompression(x: torch.Tensor, C: float = 1.0) -> torch.Tensor:
    return torch.exp(x) / C


class TacotronSTFT(nn.Module):
    """Log-mel front end with the original's argument names and defaults."""

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
        self.stft_fn = STFT(filter_length, hop_length, win_length)
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mel_channels = n_mel_channels
        self.sampling_rate = sampling_rate
        mel_basis = librosa.filters.mel(
            sr=sampling_rate, n_fft=filter_length, n_mels=n_mel_channels, fmin=mel_fmin, fmax=mel_fmax
        )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis).float(), persistent=False)

    def mel_spectrogram(self, y: torch.Tensor) -> torch.Tensor:
        """y: (B, N) waveform in [-1, 1] -> log-mel (B, n_mel_channels, 1 + N // hop_length)."""
        if y.numel() and (y.min() < -1 or y.max() > 1):
            raise ValueError("TacotronSTFT.mel_spectrogram: waveform must lie in [-1, 1]")
        mel = torch.matmul(self.mel_basis.to(y.dtype), self.stft_fn.spectrum(y).abs())
        return dynamic_range_compression(mel)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.mel_spectrogram(y)
