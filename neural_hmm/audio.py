"""Log-mel features of the original (NVIDIA Tacotron 2's `TacotronSTFT`), in plain torch.

The original convolves reflect-padded audio with a windowed Fourier basis; `torch.stft` with
center=True, reflect padding and a periodic Hann window computes the same magnitudes.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import torch
from scipy.io import wavfile
from torch import nn


class TacotronSTFT(nn.Module):
    """Audio (B, N) in [-1, 1] -> log(clamp(mel magnitude, 1e-5)), shape (B, n_mel_channels, 1 + N // hop)."""

    def __init__(
        self,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        sampling_rate: int = 22050,
        mel_fmin: float = 0.0,
        mel_fmax: float = 8000.0,
    ):
        super().__init__()
        self.filter_length, self.hop_length, self.win_length = filter_length, hop_length, win_length
        self.n_mel_channels, self.sampling_rate = n_mel_channels, sampling_rate
        mel_basis = librosa.filters.mel(
            sr=sampling_rate, n_fft=filter_length, n_mels=n_mel_channels, fmin=mel_fmin, fmax=mel_fmax
        )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)

    def mel_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.min() < -1 or audio.max() > 1:
            raise ValueError(
                f"audio must lie in [-1, 1] (int16 / max_wav_value), got "
                f"[{audio.min():.3f}, {audio.max():.3f}]"
            )
        spectrum = torch.stft(
            audio,
            self.filter_length,
            self.hop_length,
            self.win_length,
            window=self.window.to(audio.dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        mel = torch.matmul(self.mel_basis, spectrum.abs())
        return torch.log(torch.clamp(mel, min=1e-5))


def load_wav_to_torch(path: str | Path) -> tuple[torch.Tensor, int]:
    """Raw sample values as float32 (int16 WAVs keep their integer scale) and the sampling rate."""
    sampling_rate, data = wavfile.read(path)
    return torch.from_numpy(data.astype(np.float32)), sampling_rate
