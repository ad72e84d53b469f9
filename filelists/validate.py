"""Check filelists against their audio and a model's text front end, reporting every problem in one run.

    python -m filelists.validate LIST [LIST ...] --model neural_hmm [--dataset-path DIR]

`--model` applies that model's own front end (`shared_text.front_ends`: cleaners, CMUdict for
Neural-HMM, eSpeak for NaturalSpeech) and its default sampling rate and STFT window, and runs exactly the
checks its training runs before the first step (`filelists.checks`): missing, unreadable, truncated or
empty audio, wrong sampling rate, more than one channel, NaN/infinite or out-of-range samples, silence,
clips shorter than one STFT window, text the front end cannot encode or that leaves nothing to speak,
the same audio listed twice within or across the lists, a wrong number of fields. Non-ASCII text that
is read as its transliteration is a warning. Each problem is printed as `file:line: problem`, then a
summary; the exit code is 1 when any error was found (warnings alone give 0).

Without `--model`, `--symbol-set` and `--cleaners` choose the text check (default: Tacotron 2's). Every
sample is read (silence and NaN cannot be seen in a header): about 1 s per 2 hours of audio here, so
LJSpeech takes ~15 s; `--headers-only` skips that.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from filelists._cli import HelpFormatter
from filelists.checks import MODEL_DATA, Problem, Report, check_training_data

__all__ = ["MODELS", "Problem", "Report", "main", "validate_filelists"]

SYMBOL_SETS = ("tacotron2", "neural_hmm", "flowtron", "vits", "tacotron2_mmi_ctc")
CLEANERS = ("english_cleaners", "basic_cleaners", "flowtron_cleaners", "english_cleaners2")
MODELS = tuple(MODEL_DATA)
MODEL_SYMBOL_SET = "model"  # symbol_set default: the model's own set (tacotron2 without a model)


def validate_filelists(
    filelists: Sequence[str | Path],
    dataset_path: str | Path | None = None,
    sampling_rate: int | None = 22050,
    symbol_set: str | None = MODEL_SYMBOL_SET,
    cleaner_names: Sequence[str] | None = None,
    check_audio: bool = True,
    model: str | None = None,
    min_samples: int | None = None,
    read_samples: bool = True,
    progress: bool | None = False,
    workers: int | None = None,
) -> Report:
    """Validate every line of every list; nothing stops at the first problem.

    model: check as that model's training does (its front end, STFT window and, for Neural-HMM, frames
    per symbol); `cleaner_names` overrides its cleaners. Without a model, the text goes through
    `cleaner_names` (default english_cleaners) and `symbol_set` ("model": tacotron2), as
    `shared_text.text_to_sequence` does. symbol_set=None skips the text check; with a model any other
    value must be the model's own set.
    dataset_path: root for relative audio paths (default: each filelist's own folder, as training).
    sampling_rate: required rate in Hz, or None to accept any. min_samples: the shortest clip (default:
    the model's filter_length, 1024).
    """
    from shared_text.front_ends import custom_front_end, front_end

    frames_per_id, hop_length, filter_length = 0, 256, 1024
    text_front_end = None
    if model is not None:
        if model not in MODEL_DATA:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
        data = MODEL_DATA[model]
        frames_per_id, hop_length, filter_length = data.frames_per_id, data.hop_length, data.filter_length
        if symbol_set is not None:
            text_front_end = front_end(model, cleaner_names)
            if symbol_set not in (MODEL_SYMBOL_SET, text_front_end.symbol_set):
                raise ValueError(
                    f"symbol set {symbol_set!r} is not the {model} model's ({text_front_end.symbol_set!r})"
                )
    elif symbol_set is not None:
        text_front_end = custom_front_end(
            "tacotron2" if symbol_set == MODEL_SYMBOL_SET else symbol_set,
            ("english_cleaners",) if cleaner_names is None else cleaner_names,
        )
    return check_training_data(
        filelists,
        dataset_path,
        front_end=text_front_end,
        sampling_rate=sampling_rate,
        min_samples=filter_length if min_samples is None else min_samples,
        hop_length=hop_length,
        frames_per_id=frames_per_id,
        check_audio=check_audio,
        read_samples=read_samples,
        progress=progress,
        workers=workers,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.validate",
        description=(
            "Check wav_path|text[|speaker_id] filelists with the checks a model's training runs before its "
            "first step: every audio file exists, is complete and readable, mono, at the expected sampling "
            "rate, finite, in [-1, 1], not silent and at least one STFT window long; every text encodes with "
            "the model's front end and leaves something to speak; no audio file is listed twice (within or "
            "across the lists); every line has 2 or 3 fields. All problems are printed as "
            "'file:line: problem', then a summary. Exit code 1 if any error was found (warnings alone: 0)."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("filelists", nargs="+", metavar="LIST", help="filelist(s) to check together")
    parser.add_argument(
        "--model",
        choices=MODELS,
        default=None,
        help="check as this model's training does: its text front end (cleaners, CMUdict for neural_hmm, "
        "eSpeak for vits/naturalspeech), sampling rate and STFT window (default: the Tacotron 2 symbol set "
        "with --cleaners, without phonetisation)",
    )
    parser.add_argument(
        "--dataset-path",
        "-d",
        default=None,
        metavar="DIR",
        help="root for relative audio paths (default: each filelist's own folder, as in training)",
    )
    parser.add_argument(
        "--sampling-rate",
        type=int,
        default=None,
        help="required sampling rate in Hz; 0 accepts any rate (default: the model's, 22050)",
    )
    parser.add_argument(
        "--filter-length",
        type=int,
        default=None,
        metavar="SAMPLES",
        help="shortest usable clip: one STFT window (default: the model's filter_length, 1024)",
    )
    parser.add_argument(
        "--symbol-set",
        default=None,
        choices=(*SYMBOL_SETS, "none"),
        help="symbol set the cleaned text must fit; 'none' skips the text check (default: the model's, "
        "tacotron2 without --model)",
    )
    parser.add_argument(
        "--cleaners",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"cleaners applied before the character check, in order (from {', '.join(CLEANERS)}; "
        "default: the model's, english_cleaners without --model)",
    )
    parser.add_argument("--no-audio", action="store_true", help="check only the text, not the audio files")
    parser.add_argument(
        "--headers-only",
        action="store_true",
        help="read only the audio headers: much faster, but silence and NaN samples go unnoticed",
    )
    parser.add_argument("--workers", type=int, default=None, help="threads reading audio (default: up to 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (shown for long lists)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the summary line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cleaners = None
    if args.cleaners is not None:
        cleaners = [name for group in args.cleaners for name in group.split(",") if name]
        try:
            from shared_text import CLEANERS as known_cleaners
        except ImportError:
            known_cleaners = CLEANERS
        for name in cleaners:
            if name not in known_cleaners:
                parser.error(f"unknown cleaner {name!r}; choose from {', '.join(known_cleaners)}")
    if args.sampling_rate is not None and args.sampling_rate < 0:
        parser.error(f"--sampling-rate must be positive (or 0 for any rate), got {args.sampling_rate}")
    if args.filter_length is not None and args.filter_length < 0:
        parser.error(f"--filter-length must be >= 0, got {args.filter_length}")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    default_rate = MODEL_DATA[args.model].sampling_rate if args.model else 22050
    sampling_rate = default_rate if args.sampling_rate is None else (args.sampling_rate or None)
    symbol_set = {None: MODEL_SYMBOL_SET, "none": None}.get(args.symbol_set, args.symbol_set)
    try:
        from shared_text import EspeakUnavailableError
    except ImportError:
        EspeakUnavailableError = RuntimeError  # noqa: N806 - stands in for the class when text is unavailable
    try:
        report = validate_filelists(
            args.filelists,
            dataset_path=args.dataset_path,
            sampling_rate=sampling_rate,
            symbol_set=symbol_set,
            cleaner_names=cleaners,
            check_audio=not args.no_audio,
            model=args.model,
            min_samples=args.filter_length,
            read_samples=not args.headers_only,
            progress=False if args.no_progress else None,
            workers=args.workers,
        )
    except ImportError as error:
        print(
            f"error: the text check needs the shared_text package ({error}); "
            "install the repository or pass --symbol-set none",
            file=sys.stderr,
        )
        return 2
    except EspeakUnavailableError as error:
        print(f"error: the {args.model or args.cleaners} front end needs eSpeak NG: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a --symbol-set that is not the --model's
        parser.error(str(error))
    if not args.quiet:
        for problem in report.problems:
            print(problem)
    print(report.summary())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
