"""Log-mel features of the original (NVIDIA Tacotron 2's `TacotronSTFT`), in plain torch.

The original convolves reflect-padded audio with a windowed Fourier basis; `torch.stft` with
center=True, reflect padding and a periodic Hann window computes the same magnitudes.
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


def load_audio(path: str | Path, sampling_rate: int, max_wav_value: float = 32768.0) -> torch.Tensor:
    """(N,) float32 audio of a WAV for `TacotronSTFT`: the original's `int16 / max_wav_value`.

    Read by `filelists.audio.read_audio` (every PCM width and float WAVs at their own full scale, no
    resampling; AudioError naming the file otherwise), which gives 16-bit files exactly int16 / 32768.
    `max_wav_value` stays an hparam for checkpoint compatibility: any value other than 32768 scales the
    samples by 32768 / max_wav_value, which is what the original's division gives on 16-bit files.
    """
    if not max_wav_value > 0:
        raise ValueError(f"max_wav_value must be positive, got {max_wav_value}")
    samples, _ = read_audio(path, sampling_rate)
    audio = torch.from_numpy(samples)
    return audio if max_wav_value == 32768.0 else audio * (32768.0 / max_wav_value)
