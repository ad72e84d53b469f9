"""Check filelists against their audio and a symbol set, reporting every problem in one run.

    python -m filelists.validate LIST [LIST ...] --dataset-path DIR --sampling-rate 22050 \\
        --symbol-set tacotron2 --cleaners english_cleaners

Each problem is printed as `file:line: problem` (missing or unreadable audio, wrong sampling rate,
more than one channel, empty text, characters the symbol set cannot encode after cleaning, the same
audio file listed twice within or across the lists, a wrong number of fields), followed by a summary.
The exit code is 1 when any problem was found, 0 otherwise. Audio headers are read with
soundfile.info, so a list of 13,100 LJSpeech clips takes a few seconds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import soundfile

from filelists._cli import HelpFormatter
from filelists.parse import FilelistError, Utterance, iter_lines, parse_line

SYMBOL_SETS = ("tacotron2", "neural_hmm", "flowtron", "vits", "tacotron2_mmi_ctc")
CLEANERS = ("english_cleaners", "basic_cleaners", "flowtron_cleaners", "english_cleaners2")


class Problem(NamedTuple):
    source: Path
    line_number: int  # 0 for a problem with the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line_number}" if self.line_number else str(self.source)
        return f"{where}: {self.message}"


class Report(NamedTuple):
    problems: list[Problem]
    n_lists: int
    n_lines: int  # non-blank lines read
    n_utterances: int  # lines that parsed
    total_seconds: float  # audio duration of the readable files

    def summary(self) -> str:
        hours = self.total_seconds / 3600
        head = (
            f"{self.n_lists} filelist(s), {self.n_lines} lines, {self.n_utterances} parsed, "
            f"{self.total_seconds:.1f} s of audio ({hours:.2f} h)"
        )
        if not self.problems:
            return f"OK: {head}, no problems"
        lines_with_problems = len({(p.source, p.line_number) for p in self.problems})
        return f"FAILED: {head}; {len(self.problems)} problem(s) on {lines_with_problems} line(s)"


def _unknown_character_finder(symbol_set: str | None, cleaner_names: Sequence[str]):
    """A function text -> sorted unknown characters, or None when no symbol set is checked."""
    if symbol_set is None:
        return None
    # Imported here so parsing and audio checks work even where the text package is unavailable.
    from shared_text import find_unknown_characters

    def unknown(text: str) -> list[str]:
        found = find_unknown_characters(text, list(cleaner_names), symbol_set)
        return sorted({char for char, _position in found})

    return unknown


def validate_filelists(
    filelists: Sequence[str | Path],
    dataset_path: str | Path | None = None,
    sampling_rate: int | None = 22050,
    symbol_set: str | None = "tacotron2",
    cleaner_names: Sequence[str] = ("english_cleaners",),
    check_audio: bool = True,
) -> Report:
    """Validate every line of every list; nothing stops at the first problem.

    dataset_path: root for relative audio paths (default: each filelist's own folder).
    sampling_rate: required rate in Hz, or None to accept any. symbol_set: None skips the text check.
    """
    unknown_characters = _unknown_character_finder(symbol_set, cleaner_names)
    problems: list[Problem] = []
    first_seen: dict[Path, Utterance] = {}
    n_lines = n_utterances = 0
    total_seconds = 0.0
    for filelist in map(Path, filelists):
        layout_line: tuple[int, int] | None = None  # (field count, line) of the first parsed line
        try:
            lines = list(iter_lines(filelist))
        except FilelistError as error:
            problems.append(Problem(filelist, 0, error.problem))
            continue
        if not lines:
            problems.append(Problem(filelist, 0, "filelist has no utterances"))
        for line_number, line in lines:
            n_lines += 1
            try:
                utterance = parse_line(line, filelist, line_number, dataset_path)
            except FilelistError as error:
                problems.append(Problem(filelist, line_number, error.problem))
                continue
            n_utterances += 1

            def report(message: str, _line=line_number, _list=filelist) -> None:
                problems.append(Problem(_list, _line, message))

            n_fields = 2 if utterance.speaker_id is None else 3
            if layout_line is None:
                layout_line = (n_fields, line_number)
            elif n_fields != layout_line[0]:
                report(f"{n_fields} fields but line {layout_line[1]} has {layout_line[0]}; use one layout")

            key = utterance.audio_path.resolve()
            if key in first_seen:
                first = first_seen[key]
                report(
                    f"duplicate audio path {utterance.raw_audio_path} "
                    f"(first listed at {first.source}:{first.line_number})"
                )
            else:
                first_seen[key] = utterance

            if unknown_characters is not None:
                unknown = unknown_characters(utterance.text)
                if unknown:
                    listed = " ".join(repr(char) for char in unknown)
                    report(f"characters not in symbol set {symbol_set!r} after cleaning: {listed}")

            if check_audio:
                total_seconds += _check_audio(utterance, sampling_rate, report)
    return Report(problems, len(filelists), n_lines, n_utterances, total_seconds)


def _check_audio(utterance: Utterance, sampling_rate: int | None, report) -> float:
    """Check one file's header; returns its duration in seconds (0 when unreadable)."""
    path = utterance.audio_path
    if not path.is_file():
        report(f"audio file not found: {path}")
        return 0.0
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # soundfile raises several error types for corrupt or foreign files
        report(f"unreadable audio {path}: {error}")
        return 0.0
    if sampling_rate is not None and info.samplerate != sampling_rate:
        report(f"sampling rate {info.samplerate} Hz, expected {sampling_rate} Hz: {path}")
    if info.channels != 1:
        report(f"{info.channels} channels, expected mono: {path}")
    if info.frames == 0:
        report(f"audio has no samples: {path}")
    return info.frames / info.samplerate if info.samplerate else 0.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.validate",
        description=(
            "Check wav_path|text[|speaker_id] filelists: every audio file exists, is readable, mono and "
            "at the expected sampling rate; every text is non-empty and, after the cleaners, uses only "
            "characters of the symbol set; no audio file is listed twice (within or across the lists); "
            "every line has 2 or 3 fields. All problems are printed as 'file:line: problem', then a "
            "summary. Exit code 1 if any problem was found."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("filelists", nargs="+", metavar="LIST", help="filelist(s) to check together")
    parser.add_argument(
        "--dataset-path",
        "-d",
        default=None,
        metavar="DIR",
        help="root for relative audio paths (default: each filelist's own folder)",
    )
    parser.add_argument(
        "--sampling-rate", type=int, default=22050, help="required sampling rate in Hz; 0 accepts any rate"
    )
    parser.add_argument(
        "--symbol-set",
        default="tacotron2",
        choices=(*SYMBOL_SETS, "none"),
        help="symbol set the cleaned text must fit; 'none' skips the character check",
    )
    parser.add_argument(
        "--cleaners",
        nargs="+",
        default=["english_cleaners"],
        metavar="NAME",
        help=f"cleaners applied before the character check, in order (from {', '.join(CLEANERS)})",
    )
    parser.add_argument("--no-audio", action="store_true", help="check only the text, not the audio files")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the summary line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cleaners = [name for group in args.cleaners for name in group.split(",") if name]
    try:
        from shared_text import CLEANERS as known_cleaners
    except ImportError:
        known_cleaners = CLEANERS
    for name in cleaners:
        if name not in known_cleaners:
            parser.error(f"unknown cleaner {name!r}; choose from {', '.join(known_cleaners)}")
    try:
        report = validate_filelists(
            args.filelists,
            dataset_path=args.dataset_path,
            sampling_rate=args.sampling_rate or None,
            symbol_set=None if args.symbol_set == "none" else args.symbol_set,
            cleaner_names=cleaners,
            check_audio=not args.no_audio,
        )
    except ImportError as error:
        print(
            f"error: the character check needs the shared_text package ({error}); "
            "install the repository or pass --symbol-set none",
            file=sys.stderr,
        )
        return 2
    if not args.quiet:
        for problem in report.problems:
            print(problem)
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
