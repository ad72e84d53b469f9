"""Convert a training checkpoint (ours or the original's) or a bare state dict to a plain weights file.

    python convert_checkpoint.py IN OUT [--force]

OUT is `{'state_dict', 'hparams', 'global_mean', 'global_mean_source'}` (the mean only when IN has one):
it loads with `torch.load(OUT, weights_only=True)` and `checkpoints.load_tacotron2(OUT)`, and the original
code reads its `state_dict`. IN is read without running code from it; the optimizer, RNG states and
position are dropped. OUT is written atomically, never over IN (nor through a link such as
`checkpoint_last`), and over an existing file only with --force, so a training checkpoint keeps its state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python convert_checkpoint.py`): resolve the relative imports against this package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_mmi"

from .checkpoints import load_tacotron2, plain_checkpoint
from .infra import HelpFormatter, check_output_file, refuse_to_replace, run_main, save_atomic


def convert(input_path: str, output_path: str, force: bool = False) -> dict:
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    checkpoint = plain_checkpoint(load_tacotron2(input_path))
    save_atomic(checkpoint, output_path)
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python convert_checkpoint.py", description=__doc__,
                                     formatter_class=HelpFormatter)  # fmt: skip
    parser.add_argument("input", help="checkpoint to read (IN)")
    parser.add_argument("output", help="plain weights file to write (OUT)")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (never IN)")
    args = parser.parse_args(argv)

    def run() -> None:
        checkpoint = convert(args.input, args.output, args.force)
        n_floats = sum(t.numel() for t in checkpoint["state_dict"].values())
        mean = "with" if "global_mean" in checkpoint else "without"
        print(f"wrote {args.output}: {len(checkpoint['state_dict'])} tensors, {n_floats:,} numbers, {mean} "
              "the drop-frame global mean")  # fmt: skip

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
