"""Each model's text front end by name, so that validation, training and synthesis encode text alike.

    from shared_text.front_ends import front_end
    encode = front_end("neural_hmm")
    encode("Hello world.")  # -> ids of "{HH AH0 L OW1} {W ER1 L D} ." in the 150-symbol table

| name | steps | symbol set |
|---|---|---|
| `tacotron2` | `english_cleaners` outside `{ARPAbet}` groups | `tacotron2` (148) |
| `tacotron2_mmi` | as `tacotron2`; `ctc_ids` gives the CTC target | `tacotron2`, CTC: `tacotron2_mmi_ctc` |
| `neural_hmm` | CMUdict `phonetise`, then `english_cleaners` outside braces | `neural_hmm` (150) |
| `flowtron` | `flowtron_cleaners` on the whole text, tokens re-joined, p_arpabet = 0 | `flowtron` (185) |
| `vits`, `naturalspeech` | `english_cleaners2` (eSpeak NG IPA) | `vits` |

A `FrontEnd` is called like a function: text -> ids, raising `UnknownSymbolError` for a symbol outside the
set and `EmptyTextError` when nothing speakable is left (an emoji-only line, a line of punctuation).
`encode` is the lenient form the originals apply: it returns whatever ids there are, even none. VITS's
`add_blank` (interspersing 0) is the model's step, not the front end's.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from unidecode import unidecode

from .arpabet import add_random_arpabet
from .arpabet import phonetise as phonetise_text
from .cleaners import clean_text, clean_text_outside_braces
from .sequence import UnknownSymbolError, cleaned_text_to_sequence, split_symbols, to_ctc_sequence
from .symbols import ARPABET_PREFIX, NEVER_EMITTED, has_arpabet, id_to_symbol, symbol_to_id

# Cleaners that pass the text through unidecode: characters outside ASCII are read as their
# transliteration (Chinese as pinyin, Cyrillic as Latin letters, emoji as nothing).
_TRANSLITERATING_CLEANERS = frozenset({"english_cleaners", "transliteration_cleaners", "english_cleaners2"})


class EmptyTextError(ValueError):
    """Nothing speakable is left of a text after the front end (no letter, digit or phone)."""

    def __init__(self, text: str, cleaned: str, front_end: str):
        self.text, self.cleaned, self.front_end = text, cleaned, front_end
        super().__init__(
            f"the text {text!r} has nothing to speak after the {front_end} front end (cleaned: {cleaned!r})"
        )


@dataclass(frozen=True)
class FrontEnd:
    """Text -> symbol ids as one model's training does it.

    name: model name (for messages). symbol_set: a `shared_text.SYMBOL_SETS` name. cleaners: applied in
    order. phonetise: CMUdict ARPAbet for every known word first (Neural-HMM). flowtron: clean the whole
    text, then re-join its tokens as Flowtron's `get_text` does with p_arpabet = 0. ctc_symbol_set: the
    CTC alphabet (Tacotron2-MMI). on_unknown: "error" or "drop" (Flowtron's original drops silently).
    """

    name: str
    symbol_set: str
    cleaners: tuple[str, ...]
    phonetise: bool = False
    flowtron: bool = False
    ctc_symbol_set: str | None = None
    on_unknown: str = "error"

    def prepare(self, text: str) -> str:
        """The cleaned text whose symbols become the ids ({...} groups are ARPAbet where the set has it)."""
        if self.flowtron:
            cleaned = clean_text(text, self.cleaners)
            # p_arpabet = 0 draws one number per token and converts none; only the spacing changes.
            return add_random_arpabet(cleaned, 0.0, random.Random(0))
        if self.phonetise:
            text = phonetise_text(text)
        if has_arpabet(self.symbol_set):
            return clean_text_outside_braces(text, self.cleaners)
        return clean_text(text, self.cleaners)

    def encode(self, text: str) -> list[int]:
        """Ids of `text` exactly as the original model computes them; may be empty. Raises
        UnknownSymbolError (with on_unknown="error") for a symbol outside the set."""
        cleaned = self.prepare(text)
        try:
            return cleaned_text_to_sequence(cleaned, self.symbol_set, self.on_unknown)
        except UnknownSymbolError as error:
            raise UnknownSymbolError(
                error.symbol, error.position, cleaned, self.symbol_set, raw_text=text
            ) from None

    def __call__(self, text: str) -> list[int]:
        """`encode`, refusing a text with nothing to speak (EmptyTextError)."""
        ids = self.encode(text)
        if not self.is_speakable(ids):
            raise EmptyTextError(text, self.prepare(text), self.name)
        return ids

    def is_speakable(self, ids: Sequence[int]) -> bool:
        """True if some id is a letter, digit or phone (not only spaces and punctuation)."""
        symbols = id_to_symbol(self.symbol_set)
        return any(_speakable(symbols[int(symbol_id)]) for symbol_id in ids)

    def unknown_symbols(self, text: str) -> list[tuple[str, int]]:
        """(symbol, position in the cleaned text) of every symbol `encode` would reject."""
        cleaned = self.prepare(text)
        lookup = symbol_to_id(self.symbol_set)
        return [
            (symbol, position)
            for symbol, position in split_symbols(cleaned, arpabet=has_arpabet(self.symbol_set))
            if symbol not in lookup and symbol not in NEVER_EMITTED
        ]

    def ctc_ids(self, ids: Sequence[int]) -> list[int]:
        """The CTC target of input `ids` (Tacotron2-MMI); ValueError for a front end without one."""
        if self.ctc_symbol_set is None:
            raise ValueError(f"the {self.name} front end has no CTC target")
        return to_ctc_sequence(ids, self.symbol_set, self.ctc_symbol_set)

    def transliterations(self, text: str) -> list[tuple[str, str]]:
        """(character, what the model reads instead) for non-ASCII characters that the cleaners
        transliterate into something else: "你" -> "Ni ", "😀" -> "". Accented Latin letters ("é" -> "e"),
        punctuation and spaces are not listed. Empty for front ends that do not transliterate."""
        if not _TRANSLITERATING_CLEANERS.intersection(self.cleaners):
            return []
        found: dict[str, str] = {}
        for char in text:
            if char.isascii() or char in found or _plain_variant(char):
                continue
            found[char] = unidecode(char)
        return list(found.items())


def _speakable(symbol: str) -> bool:
    return symbol.isalnum() or (len(symbol) > 1 and symbol.startswith(ARPABET_PREFIX))


def _plain_variant(char: str) -> bool:
    """True for characters whose transliteration is what a reader expects: an accented Latin letter
    (its decomposition without marks is ASCII), or punctuation and spaces (curly quotes, dashes)."""
    if unicodedata.category(char)[0] in "PZ":
        return True
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bool(base) and base.isascii() and base.isalpha()


_FRONT_ENDS: dict[str, FrontEnd] = {
    "tacotron2": FrontEnd("tacotron2", "tacotron2", ("english_cleaners",)),
    "tacotron2_mmi": FrontEnd(
        "tacotron2_mmi", "tacotron2", ("english_cleaners",), ctc_symbol_set="tacotron2_mmi_ctc"
    ),
    "neural_hmm": FrontEnd("neural_hmm", "neural_hmm", ("english_cleaners",), phonetise=True),
    "flowtron": FrontEnd("flowtron", "flowtron", ("flowtron_cleaners",), flowtron=True),
    "vits": FrontEnd("vits", "vits", ("english_cleaners2",)),
    "naturalspeech": FrontEnd("naturalspeech", "vits", ("english_cleaners2",)),
}
FRONT_END_NAMES = tuple(_FRONT_ENDS)


def front_end(
    name: str,
    cleaners: Sequence[str] | str | None = None,
    on_unknown: str = "error",
    phonetise: bool | None = None,
) -> FrontEnd:
    """The front end of model `name` (one of FRONT_END_NAMES); `cleaners` and `phonetise` (Neural-HMM's
    hparams of the same names) override its defaults. ValueError for an unknown name."""
    if name not in _FRONT_ENDS:
        raise ValueError(f"unknown front end {name!r}; choose from {', '.join(FRONT_END_NAMES)}")
    chosen = _FRONT_ENDS[name]
    changes: dict = {"on_unknown": on_unknown}
    if cleaners is not None:
        changes["cleaners"] = (cleaners,) if isinstance(cleaners, str) else tuple(cleaners)
    if phonetise is not None:
        changes["phonetise"] = phonetise
    return replace(chosen, **changes)


def custom_front_end(
    symbol_set: str, cleaners: Sequence[str] | str = ("english_cleaners",), on_unknown: str = "error"
) -> FrontEnd:
    """A front end of just `cleaners` and `symbol_set` (what `text_to_sequence` does), for lists checked
    against a symbol set rather than a model."""
    symbol_to_id(symbol_set)  # ValueError naming the valid sets
    cleaners = (cleaners,) if isinstance(cleaners, str) else tuple(cleaners)
    return FrontEnd(f"{symbol_set} ({', '.join(cleaners)})", symbol_set, cleaners, on_unknown=on_unknown)
