"""WaveGlow bias removal (DLE `waveglow/denoiser.py`): subtract the spectrum WaveGlow produces for silence."""

import torch
from torch import nn

from .stft import STFT


class Denoiser(nn.Module):
    """Spectral subtraction of WaveGlow's "bias" spectrum.

    bias_spec (1, filter_length//2 + 1, 1): STFT magnitude of frame 0 of `waveglow.infer(mel, sigma=0)`
    with mel = zeros (mode "zeros") or standard-normal (mode "normal") of shape (1, n_mel, n_mel_frames).
    The original hard-codes 80 mel channels; here n_mel is read from `waveglow.upsample.in_channels`.
    Buffers: `stft.forward_basis`, `stft.inverse_basis`, `bias_spec` (the original's state dict).
    TorchScript-compatible once built.
    """

    def __init__(
        self,
        waveglow: nn.Module,
        filter_length: int = 1024,
        n_overlap: int = 4,
        win_length: int = 1024,
        mode: str = "zeros",
        n_mel_frames: int = 88,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        weight = waveglow.upsample.weight
        hop_length = filter_length // n_overlap
        self.stft = STFT(filter_length, hop_length, win_length, original_bases=True)
        self.stft.to(weight.device)
        shape = (1, waveglow.upsample.in_channels, n_mel_frames)
        if mode == "zeros":
            mel = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
        elif mode == "normal":
            mel = torch.randn(shape, generator=generator, device=weight.device).to(weight.dtype)
        else:
            raise ValueError(f"Denoiser: mode must be 'zeros' or 'normal', got {mode!r}")
        with torch.no_grad():
            bias_audio = waveglow.infer(mel, sigma=0.0).float()
            bias_spec, _ = self.stft.transform(bias_audio)
        self.register_buffer("bias_spec", bias_spec[:, :, :1])

    def forward(self, audio: torch.Tensor, strength: float = 0.1) -> torch.Tensor:
        """audio (B, T) -> denoised audio (B, 1, (T // hop)·hop), float32 (hop = filter_length / n_overlap).

        |X|' = max(|X| − strength · bias_spec, 0), phase kept. `strength`: 0.1 here (the original's
        default), 0.01 in DLE `inference.py`.
        """
        magnitude, phase = self.stft.transform(audio.float())
        magnitude = torch.clamp(magnitude - self.bias_spec * strength, min=0.0)
        return self.stft.inverse(magnitude, phase)
