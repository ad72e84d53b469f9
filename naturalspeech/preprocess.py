"""Phonemise filelists once, before training (the original's preprocess_texts.py; its README calls it
preprocess.py): each `wav|text` line becomes `wav|phonemes` in `<list>.cleaned`.

    python preprocess.py --filelists filelists/ljs/ljs_audio_text_train_filelist.txt \\
        filelists/ljs/ljs_audio_text_val_filelist.txt [--text_cleaners english_cleaners2]

The text goes through the shared front end's cleaners (english_cleaners2: unidecode, lowercase,
abbreviations, eSpeak NG en-us IPA with stress and punctuation), which training then skips
(`"cleaned_text": true`). Every line is cleaned and checked against the VITS symbol table before anything
is written; each output is written atomically and an existing one is replaced only with --force.

Mind the original's issue #27: another eSpeak version phonemises some lines differently, so durations
made from the original's shipped `.cleaned` lists do not fit lists phonemised here (train.py reports each
such line). With your own lists, train with --use-mas (alignment search) instead of external durations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from filelists.parse import FilelistError, iter_lines
from shared_text.cleaners import clean_text
from shared_text.front_ends import EmptyTextError, front_end
from shared_text.sequence import UnknownSymbolError

from .infra import HelpFormatter, UserError, atomic_write, check_output_file, refuse_to_replace, run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python preprocess.py", description=__doc__, formatter_class=HelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--filelists", nargs="+", required=True, help="wav|text filelists to phonemise")
    parser.add_argument("--out_extension", "--out-extension", default="cleaned", help="output: <list>.<ext>")
    parser.add_argument("--text_index", "--text-index", type=int, default=1, help="field holding the text")
    parser.add_argument(
        "--text_cleaners",
        "--text-cleaners",
        nargs="+",
        default=["english_cleaners2"],
        help="cleaners, in order",
    )
    parser.add_argument("--force", action="store_true", help="replace existing outputs (never an input)")
    return parser


def clean_filelist(path: Path, text_index: int, cleaners: list[str]) -> list[str]:
    """The lines of `path` with field `text_index` cleaned; UserError naming every line that fails."""
    check = front_end("naturalspeech", cleaners=())  # the cleaned text must fit the symbol table
    lines, problems = [], []
    for number, line in iter_lines(path):
        fields = line.rstrip("\r\n").split("|")
        if text_index >= len(fields):
            problems.append(f"{path}:{number}: no field {text_index} in {line!r}")
            continue
        fields[text_index] = clean_text(fields[text_index], cleaners)
        try:
            check(fields[text_index])
        except (UnknownSymbolError, EmptyTextError) as error:
            problems.append(f"{path}:{number}: {error}")
            continue
        lines.append("|".join(fields))
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise UserError(f"{len(problems)} line(s) cannot be phonemised:\n  " + "\n  ".join(shown))
    return lines


def preprocess(args: argparse.Namespace) -> list[Path]:
    outputs = []
    for filelist in map(Path, args.filelists):
        output = filelist.with_name(f"{filelist.name}.{args.out_extension}")
        refuse_to_replace(output, filelist)
        check_output_file(output, args.force, "output")
        outputs.append((filelist, output))
    written = []
    for filelist, output in outputs:
        lines = clean_filelist(filelist, args.text_index, args.text_cleaners)
        text = "\n".join(lines) + "\n"
        atomic_write(output, lambda stream, text=text: stream.write(text.encode("utf-8")))
        print(f"wrote {output} ({len(lines)} lines)", file=sys.stderr)
        written.append(output)
    return written


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: preprocess(args), errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
