"""Convert a Neural-HMM checkpoint (e.g. the published Lightning `Neural-HMM-Female.ckpt`) to a plain
`{'state_dict', 'hparams'}` file that loads with `torch.load(weights_only=True)`.

    python -m neural_hmm.convert_checkpoint IN OUT

The Lightning file is read without executing its pickled objects (see `checkpoints.py`); the weights are
loaded strictly into a NeuralHMM built from its stored hparams before anything is written.
"""

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python convert_checkpoint.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .checkpoints import CheckpointError, load_neural_hmm, neural_hmm_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", help="Lightning .ckpt, {'state_dict', 'hparams'} file or bare state dict")
    parser.add_argument("output", help="file to write")
    args = parser.parse_args(argv)
    try:
        model = load_neural_hmm(args.input)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    checkpoint = neural_hmm_checkpoint(model)
    torch.save(checkpoint, args.output)
    n_parameters = sum(p.numel() for p in model.parameters())
    hp = model.hparams
    print(
        f"wrote {args.output}: {len(checkpoint['state_dict'])} tensors, {n_parameters:,} parameters, "
        f"state_per_phone {hp.state_per_phone}, variance_floor {hp.variance_floor}, "
        f"normaliser ({hp.normaliser_mean:.4f}, {hp.normaliser_std:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
