"""Convert any Flowtron checkpoint to a plain `{'state_dict', 'model_config'}` file that loads with
`torch.load(weights_only=True)`: the published `flowtron_ljs.pt`, `flowtron_libritts.pt`, the LibriTTS 2K
file (a pickled model under 'model', read without running its code), files of the original train.py,
and ours.

    python convert_checkpoint.py flowtron_libritts2p3k.pt flowtron_libritts2k_plain.pt

The weights are loaded strictly into a Flowtron built from their shapes before anything is written; OUT
is written atomically, never over IN (nor through a link such as `model_last`), and over an existing
file only with --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python convert_checkpoint.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from .checkpoints import load_flowtron, plain_checkpoint
from .infra import HelpFormatter, check_output_file, refuse_to_replace, run_main, save_atomic


def convert(input_path: str, output_path: str, force: bool = False) -> dict:
    """Read any supported checkpoint, write the plain format to a new file; return it."""
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    model, loaded = load_flowtron(input_path)
    speakers = loaded.checkpoint.get("speaker_ids") if loaded.source_format == "ours" else None
    checkpoint = plain_checkpoint(model, loaded.model_config, speakers)
    save_atomic(checkpoint, output_path)
    return checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python convert_checkpoint.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("input", help="published, original train.py or our checkpoint")
    parser.add_argument("output", help="file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (never IN)")
    args = parser.parse_args(argv)

    def run() -> None:
        checkpoint = convert(args.input, args.output, args.force)
        config = checkpoint["model_config"]
        n_values = sum(t.numel() for t in checkpoint["state_dict"].values())
        print(
            f"wrote {args.output}: {len(checkpoint['state_dict'])} tensors, {n_values:,} values, "
            f"{config['n_speakers']} speaker(s), {config['n_flows']} flows"
        )

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
