"""Convert a published or trained checkpoint to a plain `{'state_dict', 'config'}` file.

    python -m tacotron2_waveglow_ngc.convert_checkpoint IN OUT --model WaveGlow [--layout ngc|nvidia]
        [--remove-weightnorm]
    python -m tacotron2_waveglow_ngc.convert_checkpoint IN OUT --model Tacotron2

WaveGlow: IN may be an NGC/DLE checkpoint, a bare state dict or an NVIDIA/waveglow pickled model
(`waveglow_256channels*.pt`); pickles are read without executing their code (see `checkpoints.py`).
Tacotron 2: IN may be an NGC/DLE checkpoint, a training checkpoint of this repo, NVIDIA/tacotron2's
`tacotron2_statedict.pt` / `checkpoint_<iteration>` (config from NVIDIA's defaults and the tensor
shapes) or a bare state dict; `module.` prefixes are removed and optimizer state is dropped.
OUT loads with `torch.load(OUT)` (weights only) and with `waveglow_checkpoints.load_waveglow(OUT)` /
`tacotron2_checkpoints.load_tacotron2(OUT)`. OUT is written atomically, never over IN (nor through a link
such as `checkpoint_Tacotron2_last.pt`), and over an existing file only with --force, so a training
checkpoint keeps its optimizer, RNG state and position.
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python convert_checkpoint.py`): resolve the relative imports below against
    # this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .infra import check_output_file, refuse_to_replace, run_main, save_atomic
from .tacotron2_checkpoints import load_tacotron2, tacotron2_checkpoint
from .waveglow_checkpoints import load_waveglow, waveglow_checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help="checkpoint to read")
    parser.add_argument("output", help="file to write: {'state_dict', 'config'}")
    parser.add_argument(
        "--model", "-m", required=True, choices=["WaveGlow", "Tacotron2"], help="model in the checkpoint"
    )
    parser.add_argument(
        "--layout",
        choices=["ngc", "nvidia"],
        default="ngc",
        help="WaveGlow only: per-layer `cond_layers.i` (ngc) or fused `cond_layer` (nvidia) names",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (never IN)")
    parser.add_argument(
        "--remove-weightnorm",
        action="store_true",
        help="WaveGlow only: store folded `weight` instead of weight_g / weight_v",
    )
    return parser.parse_args(argv)


def convert_waveglow(
    input_path: str,
    output_path: str,
    layout: str = "ngc",
    remove_weightnorm: bool = False,
    force: bool = False,
) -> dict:
    """Read any supported WaveGlow checkpoint, write `{'state_dict', 'config'}`; returns the written dict."""
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    model = load_waveglow(input_path, remove_weightnorm=remove_weightnorm)
    checkpoint = waveglow_checkpoint(model, layout=layout)
    save_atomic(checkpoint, output_path)
    return checkpoint


def convert_tacotron2(input_path: str, output_path: str, force: bool = False) -> dict:
    """Read any supported Tacotron 2 checkpoint, write `{'state_dict', 'config'}`; return it."""
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    model, _ = load_tacotron2(input_path)
    checkpoint = tacotron2_checkpoint(model)
    save_atomic(checkpoint, output_path)
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.model == "Tacotron2" and (args.layout != "ngc" or args.remove_weightnorm):
        print("error: --layout / --remove-weightnorm apply to WaveGlow only", file=sys.stderr)
        return 2

    def run() -> None:
        if args.model == "Tacotron2":
            checkpoint = convert_tacotron2(args.input, args.output, args.force)
        else:
            checkpoint = convert_waveglow(
                args.input, args.output, args.layout, args.remove_weightnorm, args.force
            )
        n_floats = sum(t.numel() for t in checkpoint["state_dict"].values())
        print(
            f"wrote {args.output}: {args.model}, {len(checkpoint['state_dict'])} tensors, "
            f"{n_floats:,} floats, config {checkpoint['config']}"
        )

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
