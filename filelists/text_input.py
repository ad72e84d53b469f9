"""What to synthesise: one `--text`, a plain text file, or a filelist, read the same way in every folder.

    items = read_synthesis_input(path="phrases.txt")           # form decided from the whole file
    items = read_synthesis_input(text="One sentence.")         # one item, stem "audio_0"

A plain text file holds one utterance per non-blank line; line i (counted from 0 over non-blank lines)
is written as `audio_<i>.wav`. A filelist holds `wav_path|text[|speaker_id]` lines (`filelists.parse`);
each utterance is written under its audio file's stem (`wavs/LJ001-0001.wav` -> `LJ001-0001.wav`), and
the speaker field is the speaker, never part of the text.

Which of the two a file is, is decided for the file as a whole, never line by line: with
form="auto" a file is a filelist when every line parses as one and every first field names an audio
(or mel) file; `Hello | world` in a text file is therefore spoken as written. A file whose lines are
partly filelist lines is an error that names a line of each kind (pass form="text" or "filelist").
Line numbers are an editor's (only `\\n` ends a line).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from filelists.parse import FilelistError, decode_utf8, parse_line

FORMS = ("auto", "text", "filelist")
# First fields that make a line a filelist line: audio files, and the mel files of
# --load-mel-from-disk lists.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".aif", ".aiff", ".au", ".m4a"})
FEATURE_EXTENSIONS = frozenset({".pt", ".npy"})
TEXT_SOURCE = "--text"


class SynthesisInputError(FilelistError):
    """Input text that cannot be synthesised; the message is `file:line: problem`."""


class SynthesisItem(NamedTuple):
    stem: str  # output file name without extension: "audio_3" or the filelist's audio stem
    text: str  # what to speak (stripped; the speaker field is never part of it)
    line_number: int  # 1-based, as an editor shows it; 0 for --text
    source: Path  # the input file, or Path("--text")
    speaker_id: int | None  # from a 3-field filelist, else None


def _numbered_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of the non-blank lines; only '\\n' ends a line (not form feeds, U+2028...)."""
    if not path.exists():
        raise SynthesisInputError(path, 0, "no such input file")
    if path.is_dir():
        raise SynthesisInputError(path, 0, "is a folder; expected a text file or a filelist")
    try:
        content = decode_utf8(path.read_bytes(), path)
    except FilelistError as error:
        raise SynthesisInputError(error.source, error.line_number, error.problem) from None
    lines = (line.rstrip("\r") for line in content.split("\n"))
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def _filelist_line(line: str, path: Path, number: int):
    """The parsed Utterance when `line` reads as a filelist line naming an audio or mel file, else None."""
    try:
        utterance = parse_line(line, path, number)
    except FilelistError:
        return None
    suffix = Path(utterance.raw_audio_path).suffix.lower()
    return utterance if suffix in AUDIO_EXTENSIONS | FEATURE_EXTENSIONS else None


def _text_items(lines: list[tuple[int, str]], path: Path) -> list[SynthesisItem]:
    return [
        SynthesisItem(f"audio_{index}", line.strip(), number, path, None)
        for index, (number, line) in enumerate(lines)
    ]


def _filelist_items(lines: list[tuple[int, str]], path: Path) -> list[SynthesisItem]:
    items: list[SynthesisItem] = []
    first_line_of_stem: dict[str, int] = {}
    for number, line in lines:
        try:
            utterance = parse_line(line, path, number)
        except FilelistError as error:
            raise SynthesisInputError(path, number, error.problem) from None
        if items and (utterance.speaker_id is None) != (items[0].speaker_id is None):
            raise SynthesisInputError(
                path, number, f"the field count differs from line {items[0].line_number}; use one layout"
            )
        stem = Path(utterance.raw_audio_path).stem
        if stem in first_line_of_stem:
            raise SynthesisInputError(
                path,
                number,
                f"output name {stem!r} is already used by line {first_line_of_stem[stem]} (outputs are named "
                "after the audio file's stem, so stems must be unique)",
            )
        first_line_of_stem[stem] = number
        items.append(SynthesisItem(stem, utterance.text, number, path, utterance.speaker_id))
    return items


def _decide_form(lines: list[tuple[int, str]], path: Path) -> str:
    kinds = [(number, _filelist_line(line, path, number) is not None) for number, line in lines]
    filelist_lines = [number for number, is_filelist in kinds if is_filelist]
    if not filelist_lines:
        return "text"
    if len(filelist_lines) == len(kinds):
        return "filelist"
    text_line = next(number for number, is_filelist in kinds if not is_filelist)
    raise SynthesisInputError(
        path,
        text_line,
        f"this line is plain text but line {filelist_lines[0]} is a wav_path|text filelist line; make the "
        "file one or the other, or say which it is (text: every line is spoken as written; filelist)",
    )


def read_synthesis_input(
    text: str | None = None, path: str | Path | None = None, form: str = "auto"
) -> list[SynthesisItem]:
    """The utterances to synthesise from `text` (one item) or the file at `path`, in input order.

    form: "text" (one utterance per non-blank line), "filelist" (`wav_path|text[|speaker_id]` lines) or
    "auto" (decided from the whole file, see the module docstring); ignored for `text`.
    Raises SynthesisInputError (`file:line: problem`) for a missing, empty or non-UTF-8 file, a bad
    filelist line, a file mixing both forms (auto), or two filelist lines with the same audio stem;
    ValueError for a wrong call (both or neither of text and path, an unknown form).
    """
    if (text is None) == (path is None):
        raise ValueError("give exactly one of text= and path=")
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    if text is not None:
        if not text.strip():
            raise SynthesisInputError(TEXT_SOURCE, 0, "the text to synthesise is empty")
        return [SynthesisItem("audio_0", text.strip(), 0, Path(TEXT_SOURCE), None)]
    path = Path(path)
    lines = _numbered_lines(path)
    if not lines:
        raise SynthesisInputError(
            path, 0, "the input file is empty (expected one sentence per line, or wav_path|text lines)"
        )
    if form == "auto":
        form = _decide_form(lines, path)
    return _text_items(lines, path) if form == "text" else _filelist_items(lines, path)
