"""Spectrograms as VITS computes them: the linear magnitude spectrogram the posterior encoder reads, and the
log-mel of the mel loss (librosa Slaney filters, natural log of the magnitude clamped at 1e-5).

Both pad the audio by (n_fft - hop) / 2 on each side (reflect) and use an uncentred STFT, so an utterance
of S samples has S // hop frames. audio (B, S) in [-1, 1]."""

from __future__ import annotations

import functools

import librosa
import torch


@functools.cache
def _window(win_length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.hann_window(win_length, dtype=dtype, device=device)


@functools.cache
def _mel_basis(sampling_rate, n_fft, n_mels, fmin, fmax, dtype, device) -> torch.Tensor:
    basis = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(basis).to(dtype=dtype, device=device)


def spectrogram_torch(audio: torch.Tensor, n_fft: int, hop_size: int, win_size: int) -> torch.Tensor:
    """(B, S) -> (B, n_fft // 2 + 1, S // hop) magnitude sqrt(re^2 + im^2 + 1e-6)."""
    pad = (n_fft - hop_size) // 2
    audio = torch.nn.functional.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(
        audio,
        n_fft,
        hop_length=hop_size,
        win_length=win_size,
        window=_window(win_size, audio.dtype, audio.device),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-6)


def spec_to_mel_torch(spec, n_fft, num_mels, sampling_rate, fmin, fmax) -> torch.Tensor:
    """Linear magnitude (B, n_fft // 2 + 1, T) -> natural-log mel (B, num_mels, T)."""
    basis = _mel_basis(sampling_rate, n_fft, num_mels, fmin, fmax, spec.dtype, spec.device)
    return torch.log(torch.clamp(torch.matmul(basis, spec), min=1e-5))


def mel_spectrogram_torch(audio, n_fft, num_mels, sampling_rate, hop_size, win_size, fmin, fmax):
    """(B, S) -> natural-log mel (B, num_mels, S // hop)."""
    spec = spectrogram_torch(audio, n_fft, hop_size, win_size)
    return spec_to_mel_torch(spec, n_fft, num_mels, sampling_rate, fmin, fmax)


def mel_of_spectrogram(spec: torch.Tensor, data) -> torch.Tensor:
    """The mel-loss target: log-mel (B, n_mel_channels, T) of a linear spectrogram, with the settings of
    `data` (config.DataConfig)."""
    return spec_to_mel_torch(
        spec, data.filter_length, data.n_mel_channels, data.sampling_rate, data.mel_fmin, data.mel_fmax
    )


def mel_of_audio(audio: torch.Tensor, data) -> torch.Tensor:
    """Log-mel (B, n_mel_channels, S // hop) of audio (B, S), with the settings of `data`."""
    spec = spectrogram_torch(audio, data.filter_length, data.hop_length, data.win_length)
    return mel_of_spectrogram(spec, data)
