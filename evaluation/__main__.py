"""`python -m evaluation`: score a folder of WAVs against a filelist, or merge several scores.

    python -m evaluation --wavs outputs/tacotron2 --filelist filelists/demo_corpus/test.txt \
        --dataset-path filelists/demo_corpus --label "Tacotron 2"
    python -m evaluation --compare outputs/tacotron2 outputs/flowtron --out outputs
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation.report import merge_tables
from evaluation.rtf import TimingsError
from evaluation.score import SCORES_JSON, SCORES_MD, EvaluationError, score_folder

COMPARISON_MD = "comparison.md"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description="Score synthesized WAVs against a filelist: pocketsphinx WER/CER with the generic and a "
        "corpus language model, mel-cepstral distortion with DTW, real-time factor from timings.json.",
    )
    parser.add_argument("--wavs", type=Path, help="folder of <utterance id>.wav files to score")
    parser.add_argument("--filelist", type=Path, help="wav_path|text[|speaker] list with the references")
    parser.add_argument(
        "--dataset-path",
        type=Path,
        default=None,
        help="root of the filelist's relative audio paths (default: the filelist's folder)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: --wavs; with --compare, print only unless given)",
    )
    parser.add_argument("--no-asr", action="store_true", help="skip the pocketsphinx WER/CER")
    parser.add_argument("--no-mcd", action="store_true", help="skip MCD (no reference audio needed)")
    parser.add_argument(
        "--max-utterances",
        type=int,
        default=None,
        metavar="N",
        help="score only the first N matched utterances, in filelist order",
    )
    parser.add_argument("--label", default=None, help="system name in the tables (default: the folder name)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="instead of scoring: merge the scores.json of these folders into one table "
        f"(printed, and written to OUT/{COMPARISON_MD} with --out)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare:
        try:
            table = merge_tables(args.compare)
        except (FileNotFoundError, ValueError) as error:
            parser.exit(2, f"error: {error}\n")
        print(table)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / COMPARISON_MD).write_text(table + "\n", encoding="utf-8")
            print(f"wrote {args.out / COMPARISON_MD}", file=sys.stderr)
        return 0
    if args.wavs is None or args.filelist is None:
        parser.error("--wavs and --filelist are required (or use --compare DIR ...)")
    if args.max_utterances is not None and args.max_utterances < 1:
        parser.error(f"--max-utterances must be >= 1, got {args.max_utterances}")
    try:
        scores = score_folder(
            args.wavs,
            args.filelist,
            dataset_path=args.dataset_path,
            out_dir=args.out,
            asr=not args.no_asr,
            mcd=not args.no_mcd,
            max_utterances=args.max_utterances,
            label=args.label,
            progress=not args.no_progress,
        )
    except (EvaluationError, TimingsError) as error:
        parser.exit(2, f"error: {error}\n")
    out_dir = args.wavs if args.out is None else args.out
    counts = scores["counts"]
    if counts["unreadable"]:
        print(
            f"warning: {counts['unreadable']} WAV(s) could not be scored and are left out of every metric:",
            *counts["unreadable_examples"],
            sep="\n  ",
            file=sys.stderr,
        )
    print(merge_tables([scores]))
    print(f"wrote {out_dir / SCORES_JSON} and {out_dir / SCORES_MD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
