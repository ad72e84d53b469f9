"""Convert a G_<N>.pth (train.py's, attach_memory_bank.py's or the original's) into a plain generator file:
`{"model": state dict, "config": configuration, "iteration": epoch}`, without optimizer, scheduler or RNG
state; it loads with `torch.load(weights_only=True)` and inference.py reads it without --config.

    python convert_checkpoint.py logs/RUN/G_1500.pth naturalspeech_ljs.pth [-c configs/ljs.json]

The input is read without running code from it and loaded strictly into the model it describes before
anything is written; the output is written atomically, never over the input (nor through a link), and
over an existing file only with --force.
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from .checkpoints import load_generator, read_checkpoint
from .infra import HelpFormatter, check_output_file, refuse_to_replace, run_main, save_atomic


def convert(input_path: str, output_path: str, config_path: str | None = None, force: bool = False) -> dict:
    refuse_to_replace(output_path, input_path)
    check_output_file(output_path, force, "OUT")
    net_g, config = load_generator(input_path, config_path)
    iteration = read_checkpoint(input_path).get("iteration", 0)
    converted = {"model": net_g.state_dict(), "config": config.to_dict(), "iteration": iteration}
    save_atomic(converted, output_path)
    return converted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python convert_checkpoint.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("input", help="G_<N>.pth")
    parser.add_argument("output", help="file to write")
    parser.add_argument("-c", "--config", default=None, help="JSON config, for the original's files")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT (never IN)")
    args = parser.parse_args(argv)

    def run() -> None:
        converted = convert(args.input, args.output, args.config, args.force)
        values = sum(t.numel() for t in converted["model"].values())
        print(f"wrote {args.output}: {len(converted['model'])} tensors, {values:,} values", file=sys.stderr)

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
