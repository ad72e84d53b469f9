"""Read `wav_path|text` and `wav_path|text|speaker_id` filelists.

The format is the one NVIDIA's Tacotron2, WaveGlow and Flowtron lists use (and VITS after them): one
utterance per line, fields separated by `|`. Relative audio paths are resolved against a dataset root,
the NGC `--dataset-path` convention; by default that root is the folder holding the filelist.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import NamedTuple


class FilelistError(ValueError):
    """A filelist line that cannot be parsed; the message is `file:line: problem`.

    `source`, `line_number` (0 for the file as a whole) and `problem` are kept for tools that report
    many errors at once, such as `filelists.validate`.
    """

    def __init__(self, source: str | Path, line_number: int, problem: str):
        self.source, self.line_number, self.problem = Path(source), line_number, problem
        where = f"{source}:{line_number}" if line_number else str(source)
        super().__init__(f"{where}: {problem}")


class Utterance(NamedTuple):
    audio_path: Path  # resolved against the dataset path
    text: str
    speaker_id: int | None  # None for two-field lists
    source: Path  # the filelist this line came from
    line_number: int  # 1-based, as an editor shows it
    raw_audio_path: str  # the path exactly as written in the list


def resolve_audio_path(raw_path: str, dataset_path: str | Path) -> Path:
    """`raw_path` as written in a filelist, made absolute against `dataset_path` when relative."""
    path = Path(raw_path).expanduser()
    return path if path.is_absolute() else Path(dataset_path) / path


def parse_line(
    line: str,
    source: str | Path = "<string>",
    line_number: int = 1,
    dataset_path: str | Path | None = None,
    n_fields: int | None = None,
) -> Utterance:
    """Parse one non-blank line. `n_fields` (2 or 3) forces a field count; None accepts either.

    Raises FilelistError naming `source:line_number` and what was expected.
    """
    fields = line.rstrip("\r\n").split("|")
    allowed = (2, 3) if n_fields is None else (n_fields,)
    if len(fields) not in allowed:
        expected = " or ".join(str(n) for n in allowed)
        shape = (
            "wav_path|text or wav_path|text|speaker_id"
            if n_fields is None
            else ("wav_path|text" if n_fields == 2 else "wav_path|text|speaker_id")
        )
        raise FilelistError(
            source, line_number, f"expected {expected} '|'-separated fields ({shape}), found {len(fields)}"
        )
    raw_path = fields[0].strip()
    text = fields[1].strip()
    if not raw_path:
        raise FilelistError(source, line_number, "empty audio path (expected wav_path|text...)")
    if not text:
        raise FilelistError(source, line_number, f"empty text for {raw_path}")
    speaker_id = None
    if len(fields) == 3:
        speaker_field = fields[2].strip()
        try:
            speaker_id = int(speaker_field)
        except ValueError:
            raise FilelistError(
                source, line_number, f"speaker id must be an integer, found {speaker_field!r}"
            ) from None
        if speaker_id < 0:
            raise FilelistError(source, line_number, f"speaker id must be non-negative, found {speaker_id}")
    root = Path(source).parent if dataset_path is None else Path(dataset_path)
    return Utterance(
        audio_path=resolve_audio_path(raw_path, root),
        text=text,
        speaker_id=speaker_id,
        source=Path(source),
        line_number=line_number,
        raw_audio_path=raw_path,
    )


def decode_utf8(data: bytes, source: str | Path) -> str:
    """`data` as UTF-8 text (a leading BOM dropped); FilelistError naming the line and byte otherwise."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]  # error offsets below then count from the text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line_number = data.count(b"\n", 0, error.start) + 1
        raise FilelistError(
            source,
            line_number,
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at byte {error.start - line_start + 1} of the "
            "line; save the file as UTF-8",
        ) from None


def iter_lines(path: str | Path):
    """Yield (line_number, line) for the non-blank lines of `path`; a UTF-8 BOM is dropped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FilelistError(path, 0, "filelist not found") from None
    except IsADirectoryError:
        raise FilelistError(path, 0, "is a folder, not a filelist") from None
    content = decode_utf8(data, path)
    # split("\n"), not splitlines(): the latter also breaks at form feeds and Unicode line separators,
    # which would make our line numbers disagree with an editor's.
    for line_number, line in enumerate(content.split("\n"), start=1):
        if line.strip():
            yield line_number, line.rstrip("\r")


def read_filelist(
    path: str | Path, dataset_path: str | Path | None = None, n_fields: int | None = None
) -> list[Utterance]:
    """All utterances of a filelist; the first bad line raises FilelistError.

    dataset_path: root for relative audio paths (default: the filelist's own folder).
    n_fields: 2 or 3 to insist on one layout; None accepts both (but not mixed speaker/no speaker).
    """
    path = Path(path)
    utterances = []
    for line_number, line in iter_lines(path):
        utterance = parse_line(line, path, line_number, dataset_path, n_fields)
        if utterances and (utterance.speaker_id is None) != (utterances[0].speaker_id is None):
            first = utterances[0]
            raise FilelistError(
                path,
                line_number,
                f"found {2 if utterance.speaker_id is None else 3} fields but line "
                f"{first.line_number} has {2 if first.speaker_id is None else 3}; "
                "a filelist must use one layout",
            )
        utterances.append(utterance)
    return utterances
