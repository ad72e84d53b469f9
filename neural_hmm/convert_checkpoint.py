"""Convert a Neural-HMM checkpoint (e.g. the published Lightning `Neural-HMM-Female.ckpt`) to a plain
`{'state_dict', 'hparams'}` file that loads with `torch.load(weights_only=True)`.

    python -m neural_hmm.convert_checkpoint IN OUT

The Lightning file is read without executing its pickled objects (see `checkpoints.py`); the weights are
loaded strictly into a NeuralHMM built from its stored hparams before anything is written. OUT holds
weights and hparams only; it is written atomically, never over IN (nor through a link such as
`checkpoint_last.ckpt`), and over an existing file only with --force, so a training checkpoint keeps its
optimizer, RNG state and position.
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python convert_checkpoint.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .checkpoints import load_neural_hmm, neural_hmm_checkpoint
from .hparams import HParams
from .infra import check_output_file, refuse_to_replace, run_main, save_atomic


def convert(input_path: str, output_path: str, force: bool = False) -> dict:
    """Read any supported checkpoint, write `{'state_dict', 'hparams'}` to a new file; return it."""
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    model = load_neural_hmm(input_path)
    checkpoint = neural_hmm_checkpoint(model)
    save_atomic(checkpoint, output_path)
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python convert_checkpoint.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="Lightning .ckpt, {'state_dict', 'hparams'} file or bare state dict")
    parser.add_argument("output", help="file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (never IN)")
    args = parser.parse_args(argv)

    def run() -> None:
        checkpoint = convert(args.input, args.output, args.force)
        hp = HParams.from_dict(checkpoint["hparams"])
        n_parameters = sum(t.numel() for t in checkpoint["state_dict"].values())
        print(
            f"wrote {args.output}: {len(checkpoint['state_dict'])} tensors, {n_parameters:,} values, "
            f"state_per_phone {hp.state_per_phone}, variance_floor {hp.variance_floor}, "
            f"normaliser ({hp.normaliser_mean:.4f}, {hp.normaliser_std:.4f})"
        )

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
