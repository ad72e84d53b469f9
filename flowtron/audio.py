"""Log-mel features of the original (`audio_processing.TacotronSTFT`, Tacotron 2's), in plain torch.

The original convolves reflect-padded audio with a windowed Fourier basis; `torch.stft` with center=True,
reflect padding and a periodic Hann window computes the same magnitudes. Mel: librosa's Slaney filterbank;
compression: natural log of clamp(x, 1e-5); no normalisation.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import torch
from torch import nn

from filelists.audio import read_audio


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
        self.mel_fmin, self.mel_fmax = mel_fmin, mel_fmax
        mel_basis = librosa.filters.mel(
            sr=sampling_rate, n_fft=filter_length, n_mels=n_mel_channels, fmin=mel_fmin, fmax=mel_fmax
        )
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)

    def mel_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.min() < -1 or audio.max() > 1:
            raise ValueError(f"audio must lie in [-1, 1], got [{audio.min():.3f}, {audio.max():.3f}]")
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
        return torch.log(torch.clamp(torch.matmul(self.mel_basis, spectrum.abs()), min=1e-5))


def load_audio(path: str | Path, sampling_rate: int, max_wav_value: float = 32768.0) -> torch.Tensor:
    """(N,) float32 audio of a WAV in [-1, 1], read by `filelists.audio.read_audio`: 16-bit PCM exactly as
    the original (int16 / 32768), other PCM widths and float WAVs at their own full scale (the original
    divides float WAVs by 32768 too, which turns them into near-silence: issue #82). No resampling: a
    file at another rate is an AudioError naming it. `max_wav_value` other than 32768 scales the samples
    by 32768 / max_wav_value, which is what the original's division gives on 16-bit files."""
    if not max_wav_value > 0:
        raise ValueError(f"max_wav_value must be positive, got {max_wav_value}")
    samples, _ = read_audio(path, sampling_rate)
    audio = torch.from_numpy(samples)
    return audio if max_wav_value == 32768.0 else audio * (32768.0 / max_wav_value)
