"""Compute a corpus's data statistics (`data_parameters.pt`), as the original's `generate_data_properties.py`:

    python generate_data_properties.py --training-files LIST [--dataset-path ROOT] [-o FILE] [-f]

The file holds the normaliser's mean and std, the initial transition probability and the go token
(`data_properties.py` says how each is computed), and records which filelist and settings they come
from. train.py computes it by itself when a run starts; this command is for computing it ahead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python generate_data_properties.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from filelists.parse import FilelistError

from .data_properties import data_parameters_for_filelist
from .hparams import HParams
from .infra import HelpFormatter, check_output_file, run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python generate_data_properties.py",
        description=__doc__.split("\n")[0],
        formatter_class=HelpFormatter,
    )
    defaults = HParams()
    parser.add_argument("--training-files", default=defaults.training_files, help="wav_path|text filelist")
    parser.add_argument("--dataset-path", default=None, help="root of relative wav paths [the list's folder]")
    parser.add_argument(
        "-o", "--output-file", default="data_parameters.pt", help="where to write the statistics"
    )
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)

    def compute() -> None:
        check_output_file(args.output_file, force=args.force, flag="-o/--output-file")
        parameters = data_parameters_for_filelist(
            args.training_files, defaults, args.dataset_path, cache_path=args.output_file, force=True
        )
        print(
            f"wrote {args.output_file}: data_mean {parameters.data_mean.item():.6f}, "
            f"data_std {parameters.data_std.item():.6f}, "
            f"init_transition_prob {parameters.init_transition_prob.item():.6f}"
        )

    return run_main(compute, errors=(FilelistError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
