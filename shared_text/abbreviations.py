"""Abbreviation expansion ("Dr." -> "doctor") used by `english_cleaners` and `english_cleaners2`."""

import re

# (abbreviation, expansion) in the originals' order ("misess" is the originals' spelling).
ENGLISH_ABBREVIATIONS = (
    ("mrs", "misess"),
    ("mr", "mister"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("co", "company"),
    ("jr", "junior"),
    ("maj", "major"),
    ("gen", "general"),
    ("drs", "doctors"),
    ("rev", "reverend"),
    ("lt", "lieutenant"),
    ("hon", "honorable"),
    ("sgt", "sergeant"),
    ("capt", "captain"),
    ("esq", "esquire"),
    ("ltd", "limited"),
    ("col", "colonel"),
    ("ft", "fort"),
)


def _compile(pairs) -> list[tuple[re.Pattern, str]]:
    """Whole-word, case-insensitive patterns that require the trailing full stop."""
    return [
        (re.compile(rf"\b{abbreviation}\.", re.IGNORECASE), expansion) for abbreviation, expansion in pairs
    ]


_ENGLISH_PATTERNS = _compile(ENGLISH_ABBREVIATIONS)
# Flowtron expands only this one ("safe") abbreviation; "Dr." and friends stay as written.
_FLOWTRON_PATTERNS = _compile([("no", "number")])


def _apply(patterns: list[tuple[re.Pattern, str]], text: str) -> str:
    for pattern, expansion in patterns:
        text = pattern.sub(expansion, text)
    return text


def expand_abbreviations(text: str) -> str:
    """Expand the 18 English abbreviations of Tacotron 2 / VITS ("mr." -> "mister")."""
    return _apply(_ENGLISH_PATTERNS, text)


def expand_safe_abbreviations(text: str) -> str:
    """Flowtron's only abbreviation: "no." -> "number" (any case)."""
    return _apply(_FLOWTRON_PATTERNS, text)
