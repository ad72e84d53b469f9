"""Text normalisation shared by ASR references, ASR hypotheses and the corpus language model.

Scoring compares words, so both sides go through the same function: ASCII-fold, lowercase, numbers
spelled out as Tacotron 2's `english_cleaners` reads them (`21st` -> `twenty first`, `3.5` -> `three
point five`, `1886` -> `eighteen eighty six`; the rules live in `shared_text.numbers`), `%` ->
`percent`, hyphens split words, every other punctuation mark is removed. Apostrophes
inside a word are kept (`don't`, `o'clock` are entries of the CMU dictionary pocketsphinx uses);
quotes around a word are not. Pocketsphinx fillers (`<sil>`, `[noise]`, `++garbage++`) are dropped.
"""

import re

from unidecode import unidecode

from shared_text.numbers import normalize_numbers

_FILLER = re.compile(r"(<[^>]*>|\[[^\]]*\]|\+\+[^+]*\+\+)")
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")


def normalize_text(text: str) -> str:
    """Words for scoring, space separated: `"Mr. Smith's 2nd car-park, 10%!"` ->
    `"mr smith's second car park ten percent"`."""
    text = _FILLER.sub(" ", unidecode(text)).lower()
    text = text.replace("&", " and ")
    text = normalize_numbers(text.replace("%", " percent "))
    text = text.replace("-", " ")
    text = _NOT_WORD.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())
