"""Export WaveGlow (weight norm removed) + denoiser as one self-contained TorchScript vocoder.

    python -m tacotron2_waveglow_ngc.export_vocoder --waveglow CKPT -o vocoder.ts [--sigma 0.6]
        [--denoising-strength 0.01] [--precision fp32|bf16|fp16]

The file maps a natural-log mel spectrogram (B, n_mel, T) float32 to audio (B, T·256) float32 and
needs nothing but torch to run — this is how the other paper folders share a vocoder:

    vocoder = torch.jit.load("vocoder.ts", map_location="cpu")
    audio = vocoder(mel)                                  # the exported sigma and denoising strength
    audio = vocoder.infer(mel, sigma=0.0, strength=0.0)   # any other values
    vocoder.sampling_rate, vocoder.hop_length, vocoder.n_mel_channels   # metadata attributes

`ScriptedWaveGlowVocoder` re-states `WaveGlow.infer` + `Denoiser.forward` with script-friendly control
flow (flows stored in inverse order, couplings as `fast_inference.PackedWN`, W⁻¹ precomputed in float32
as `Invertible1x1Conv.weight_inverse`, the denoiser's window sum-square computed in-graph for any
length); at sigma 0 and `--precision fp32` it equals the eager model to float rounding (tested). Noise
comes from the global torch RNG (`torch.manual_seed`).
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):
    # Run as a file (`python export_vocoder.py`, as in DLE): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .denoiser import Denoiser
from .fast_inference import PackedWN
from .infra import atomic_write, check_output_file, refuse_to_replace, run_main
from .stft import STFT
from .waveglow_checkpoints import load_waveglow
from .waveglow_model import WaveGlow


class _ScriptedInverseFlow(nn.Module):
    """Inverse of flow k: affine coupling undone, then W⁻¹; re-enters early noise when flow k split it."""

    def __init__(self, waveglow: WaveGlow, k: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.coupling = PackedWN(waveglow.WN[k], dtype)
        self.swap_halves = bool(waveglow.alternate_halves and k % 2 == 1)
        self.n_early = waveglow.n_early_size if waveglow._emits_early(k) else 0
        with torch.no_grad():
            self.register_buffer("weight_inverse", waveglow.convinv[k].weight_inverse(torch.float32).clone())

    def forward(self, audio: torch.Tensor, spect: torch.Tensor, sigma: float) -> torch.Tensor:
        n_half = audio.size(1) // 2
        if self.swap_halves:
            audio_a, audio_b = audio[:, n_half:], audio[:, :n_half]
        else:
            audio_a, audio_b = audio[:, :n_half], audio[:, n_half:]
        coupling = self.coupling(audio_a, spect)
        log_s, b = coupling[:, n_half:], coupling[:, :n_half]
        audio_b = (audio_b - b) / torch.exp(log_s)
        joined = torch.cat([audio_b, audio_a], 1) if self.swap_halves else torch.cat([audio_a, audio_b], 1)
        audio = F.conv1d(joined, self.weight_inverse.to(joined.dtype))
        if self.n_early > 0:
            noise = torch.randn(
                audio.size(0), self.n_early, audio.size(2), dtype=audio.dtype, device=audio.device
            )
            audio = torch.cat([sigma * noise, audio], 1)
        return audio


class ScriptedWaveGlowVocoder(nn.Module):
    """WaveGlow inverse + denoiser with TorchScript-compatible control flow (see module docstring)."""

    def __init__(
        self,
        waveglow: WaveGlow,
        denoiser: Denoiser,
        sigma: float = 0.6,
        denoising_strength: float = 0.01,
        sampling_rate: int = 22050,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.upsample = waveglow.upsample
        self.trim = waveglow.upsample.kernel_size[0] - waveglow.upsample.stride[0]
        self.n_group = waveglow.n_group
        self.n_remaining_channels = waveglow.n_remaining_channels
        self.flows = nn.ModuleList(
            _ScriptedInverseFlow(waveglow, k, dtype) for k in reversed(range(waveglow.n_flows))
        )
        stft = denoiser.stft
        # The denoiser's transform without its state-dict-only conv bases (8 MB).
        self.stft = STFT(stft.filter_length, stft.hop_length, stft.win_length, stft.window)
        self.register_buffer("bias_spec", denoiser.bias_spec.float().clone())
        self.sigma = float(sigma)
        self.denoising_strength = float(denoising_strength)
        # Metadata for users of the file.
        self.sampling_rate = int(sampling_rate)
        self.hop_length = int(waveglow.upsample.stride[0])
        self.n_mel_channels = int(waveglow.n_mel_channels)

    def waveglow(self, mel: torch.Tensor, sigma: float) -> torch.Tensor:
        """mel (B, n_mel, T) -> WaveGlow audio (B, T·256), as `WaveGlow.infer`."""
        spect = self.upsample(mel)
        spect = spect[:, :, : spect.size(2) - self.trim]
        batch_size, n_mel, length = spect.shape
        n_columns = length // self.n_group
        spect = spect[:, :, : n_columns * self.n_group].reshape(batch_size, n_mel, n_columns, self.n_group)
        spect = spect.permute(0, 1, 3, 2).reshape(batch_size, n_mel * self.n_group, n_columns)
        noise = torch.randn(
            batch_size, self.n_remaining_channels, n_columns, dtype=mel.dtype, device=mel.device
        )
        audio = sigma * noise
        for flow in self.flows:
            audio = flow(audio, spect, sigma)
        return audio.transpose(1, 2).reshape(batch_size, -1)

    def denoise(self, audio: torch.Tensor, strength: float) -> torch.Tensor:
        """audio (B, N) -> (B, (N // hop)·hop): spectral subtraction of the bias spectrum, as `Denoiser`."""
        magnitude, phase = self.stft.transform(audio)
        magnitude = torch.clamp(magnitude - self.bias_spec * strength, min=0.0)
        return self.stft.inverse(magnitude, phase).squeeze(1)

    @torch.jit.export
    def infer(self, mel: torch.Tensor, sigma: float, strength: float) -> torch.Tensor:
        """mel (B, n_mel, T) float32 -> audio (B, T·256) float32, not normalised."""
        audio = self.waveglow(mel.float(), sigma)
        if strength > 0:
            audio = self.denoise(audio, strength)
        return audio

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.infer(mel, self.sigma, self.denoising_strength)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def build_vocoder(
    waveglow: WaveGlow,
    sigma: float = 0.6,
    denoising_strength: float = 0.01,
    sampling_rate: int = 22050,
    dtype: torch.dtype = torch.float32,
) -> torch.jit.ScriptModule:
    """Script `waveglow` (weight norm folded) with its denoiser (bias from a zero mel at sigma 0, in
    float32); the couplings' weights are stored in `dtype` (see `fast_inference.PackedWN`)."""
    waveglow = waveglow.float().eval()
    if any(hasattr(layer, "weight_g") for layer in waveglow.WN[0].in_layers):
        waveglow.remove_weightnorm()
    denoiser = Denoiser(waveglow)
    vocoder = ScriptedWaveGlowVocoder(
        waveglow, denoiser, sigma, denoising_strength, sampling_rate, dtype
    ).eval()
    return torch.jit.script(vocoder)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--waveglow", required=True, help="WaveGlow checkpoint (any format load_waveglow reads)"
    )
    parser.add_argument("-o", "--output", required=True, help="TorchScript file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--sigma", type=float, default=0.6, help="noise scale used by forward(mel)")
    parser.add_argument(
        "--denoising-strength", type=float, default=0.01, help="used by forward(mel); 0 = off"
    )
    parser.add_argument("-sr", "--sampling-rate", type=int, default=22050, help="stored as metadata")
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default="fp32",
        help="weights of the WaveGlow couplings: fp32 (the model's numbers), bf16 (about 3x faster on CPUs "
        "with AVX512-BF16/AMX, SNR ~50 dB vs fp32), fp16 (for CUDA)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def export() -> None:
        refuse_to_replace(args.output, args.waveglow)
        check_output_file(args.output, args.force, "-o/--output")
        waveglow = load_waveglow(args.waveglow, remove_weightnorm=True)  # refuses non-finite weights
        vocoder = build_vocoder(
            waveglow, args.sigma, args.denoising_strength, args.sampling_rate, PRECISIONS[args.precision]
        )
        # Atomically: a crash mid-write never leaves a truncated vocoder behind.
        atomic_write(args.output, lambda stream: torch.jit.save(vocoder, stream))
        n_weights = sum(t.numel() for t in vocoder.state_dict().values())
        print(
            f"wrote {args.output}: WaveGlow vocoder, {n_weights / 1e6:.1f}M {args.precision} weights, "
            f"sigma {args.sigma}, denoising strength {args.denoising_strength}; "
            f"mel (B, {waveglow.n_mel_channels}, T) -> audio (B, T*256)"
        )

    return run_main(export)


if __name__ == "__main__":
    sys.exit(main())
