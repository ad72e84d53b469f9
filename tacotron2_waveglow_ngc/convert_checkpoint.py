"""Convert a published or trained checkpoint to a plain `{'state_dict', 'config'}` file.

    python -m tacotron2_waveglow_ngc.convert_checkpoint IN OUT --model WaveGlow [--layout ngc|nvidia]
        [--remove-weightnorm]

IN may be an NGC/DLE checkpoint, a bare state dict or an NVIDIA/waveglow pickled model
(`waveglow_256channels*.pt`); pickles are read without executing their code (see `checkpoints.py`).
OUT loads with `torch.load(OUT)` (weights only) and with `checkpoints.load_waveglow(OUT)`.
"""

import argparse
import sys

import torch

from .checkpoints import CheckpointError, load_waveglow, waveglow_checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help="checkpoint to read")
    parser.add_argument("output", help="file to write: {'state_dict', 'config'}")
    parser.add_argument("--model", "-m", required=True, choices=["WaveGlow"], help="model in the checkpoint")
    parser.add_argument(
        "--layout",
        choices=["ngc", "nvidia"],
        default="ngc",
        help="WaveGlow cond-layer names: per-layer `cond_layers.i` (ngc) or fused `cond_layer` (nvidia)",
    )
    parser.add_argument(
        "--remove-weightnorm",
        action="store_true",
        help="store folded `weight` instead of weight_g / weight_v",
    )
    return parser.parse_args(argv)


def convert_waveglow(input_path: str, output_path: str, layout: str = "ngc", remove_weightnorm: bool = False):
    """Read any supported WaveGlow checkpoint, write `{'state_dict', 'config'}`; returns the written dict."""
    model = load_waveglow(input_path, remove_weightnorm=remove_weightnorm)
    checkpoint = waveglow_checkpoint(model, layout=layout)
    torch.save(checkpoint, output_path)
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        checkpoint = convert_waveglow(args.input, args.output, args.layout, args.remove_weightnorm)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    n_floats = sum(t.numel() for t in checkpoint["state_dict"].values())
    print(
        f"wrote {args.output}: {args.model}, {len(checkpoint['state_dict'])} tensors, {n_floats:,} floats, "
        f"config {checkpoint['config']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
