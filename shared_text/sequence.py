"""Text <-> symbol-id sequences, shared by all paper folders.

`text_to_sequence` cleans the text outside ``{...}`` groups, then maps each character to its id; in
symbol sets with ARPAbet (all but "vits") a ``{HH AH0 L OW1}`` group maps each phone to ``@PHONE``.
`_` (the pad) and `~` are skipped and never emitted, which is what the keithito-derived originals
intend (``s is not '_'``); note that on current CPython that identity test is always true, so the
originals run today actually emit a literal `_` in the text as the pad id. Text never contains `_` in
practice, and emitting the pad id for it would only hide a data error. No BOS/EOS is added.

The originals silently drop characters that are not in the symbol table (VITS raises a KeyError). Here
``on_unknown="error"`` (default) raises `UnknownSymbolError`, and ``on_unknown="drop"`` drops them with a
warning; `find_unknown_characters` lists them for file-list validators.
"""

import re
import warnings
from collections.abc import Iterable, Sequence

from .cleaners import clean_text, clean_text_outside_braces
from .symbols import ARPABET_PREFIX, NEVER_EMITTED, has_arpabet, id_to_symbol, symbol_to_id

_BRACED_ARPABET = re.compile(r"\{(.+?)\}")
_ON_UNKNOWN_CHOICES = ("error", "drop")


class UnknownSymbolError(ValueError):
    """A character (or ARPAbet phone) of the cleaned text has no id in the chosen symbol set."""

    def __init__(self, symbol: str, position: int, text: str, symbol_set: str, raw_text: str | None = None):
        self.symbol = symbol
        self.position = position
        self.text = text
        self.symbol_set = symbol_set
        self.raw_text = raw_text
        source = f" (cleaned from {raw_text!r})" if raw_text is not None and raw_text != text else ""
        super().__init__(
            f"symbol {symbol!r} at position {position} of the cleaned text {text!r}{source} is not in the "
            f"{symbol_set!r} symbol set (use on_unknown='drop' to skip it)"
        )


def split_symbols(cleaned_text: str, arpabet: bool = True) -> list[tuple[str, int]]:
    """(symbol, position) for every symbol of `cleaned_text`.

    Outside braces every character is a symbol; inside ``{...}`` (when `arpabet` is true) every
    whitespace-separated phone becomes ``@PHONE`` at the position of its first character.
    """
    symbols: list[tuple[str, int]] = []
    position = 0
    groups = _BRACED_ARPABET.finditer(cleaned_text) if arpabet else ()
    for group in groups:
        symbols.extend(_character_symbols(cleaned_text, position, group.start()))
        symbols.extend(_arpabet_symbols(group))
        position = group.end()
    symbols.extend(_character_symbols(cleaned_text, position, len(cleaned_text)))
    return symbols


def _character_symbols(text: str, start: int, end: int) -> list[tuple[str, int]]:
    return [(text[index], index) for index in range(start, end)]


def _arpabet_symbols(group: re.Match) -> list[tuple[str, int]]:
    start = group.start(1)
    phones = re.finditer(r"\S+", group.group(1))
    return [(ARPABET_PREFIX + phone.group(0), start + phone.start()) for phone in phones]


def _check_on_unknown(on_unknown: str) -> None:
    if on_unknown not in _ON_UNKNOWN_CHOICES:
        raise ValueError(f"on_unknown must be one of {_ON_UNKNOWN_CHOICES}, got {on_unknown!r}")


def cleaned_text_to_sequence(
    cleaned_text: str, symbol_set: str = "tacotron2", on_unknown: str = "error"
) -> list[int]:
    """Ids of already-cleaned text (e.g. the phonemes of a VITS ``.cleaned`` file list)."""
    _check_on_unknown(on_unknown)
    lookup = symbol_to_id(symbol_set)
    ids: list[int] = []
    unknown: list[tuple[str, int]] = []
    for symbol, position in split_symbols(cleaned_text, arpabet=has_arpabet(symbol_set)):
        if symbol in NEVER_EMITTED:
            continue
        if symbol in lookup:
            ids.append(lookup[symbol])
        elif on_unknown == "error":
            raise UnknownSymbolError(symbol, position, cleaned_text, symbol_set)
        else:
            unknown.append((symbol, position))
    if unknown:
        dropped = ", ".join(f"{symbol!r} at {position}" for symbol, position in unknown)
        warnings.warn(
            f"dropped symbols not in the {symbol_set!r} set: {dropped} (cleaned text {cleaned_text!r})",
            stacklevel=2,
        )
    return ids


def _clean_for_symbol_set(text: str, cleaner_names: Sequence[str] | str, symbol_set: str) -> str:
    # Without ARPAbet symbols (VITS) braces are ordinary characters, so the whole text is cleaned.
    if has_arpabet(symbol_set):
        return clean_text_outside_braces(text, cleaner_names)
    return clean_text(text, cleaner_names)


def text_to_sequence(
    text: str,
    cleaner_names: Sequence[str] | str = ("english_cleaners",),
    symbol_set: str = "tacotron2",
    on_unknown: str = "error",
) -> list[int]:
    """Clean `text` (outside ``{ARPAbet}`` groups) with `cleaner_names` and map it to symbol ids.

    Example: ``text_to_sequence("Hi {HH AH0 L OW1}!", ["english_cleaners"])`` -> ids of
    ``h i space @HH @AH0 @L @OW1 !`` in the 148-symbol Tacotron 2 table.
    Flowtron cleans the whole text (braces included) and may add ARPAbet per word: use
    `shared_text.arpabet.flowtron_text_to_sequence` for that pipeline.
    """
    _check_on_unknown(on_unknown)
    cleaned = _clean_for_symbol_set(text, cleaner_names, symbol_set)
    try:
        return cleaned_text_to_sequence(cleaned, symbol_set, on_unknown)
    except UnknownSymbolError as error:
        raise UnknownSymbolError(error.symbol, error.position, cleaned, symbol_set, raw_text=text) from None


def find_unknown_characters(
    text: str, cleaner_names: Sequence[str] | str, symbol_set: str = "tacotron2"
) -> list[tuple[str, int]]:
    """(symbol, position in the cleaned text) for every symbol that `text_to_sequence` would reject."""
    cleaned = _clean_for_symbol_set(text, cleaner_names, symbol_set)
    lookup = symbol_to_id(symbol_set)
    return [
        (symbol, position)
        for symbol, position in split_symbols(cleaned, arpabet=has_arpabet(symbol_set))
        if symbol not in lookup and symbol not in NEVER_EMITTED
    ]


def sequence_to_text(ids: Iterable[int], symbol_set: str = "tacotron2") -> str:
    """Symbols of `ids` joined into a string; ARPAbet phones are wrapped back into ``{...}`` groups,
    consecutive phones sharing one group, as the originals do. Ids outside the table are skipped."""
    lookup = id_to_symbol(symbol_set)
    pieces = []
    for symbol_id in ids:
        symbol = lookup.get(int(symbol_id))
        if symbol is None:
            continue
        if len(symbol) > 1 and symbol.startswith(ARPABET_PREFIX):
            symbol = "{" + symbol[1:] + "}"
        pieces.append(symbol)
    return "".join(pieces).replace("}{", " ")


def intersperse(sequence: Sequence[int], item: int = 0) -> list[int]:
    """VITS ``add_blank``: `item` before, between and after the ids (length 2n + 1)."""
    result = [item] * (2 * len(sequence) + 1)
    result[1::2] = sequence
    return result


def to_ctc_sequence(
    ids: Iterable[int], symbol_set: str = "tacotron2", ctc_symbol_set: str = "tacotron2_mmi_ctc"
) -> list[int]:
    """Tacotron2-MMI CTC targets: input ids re-indexed into the CTC alphabet, dropping every symbol
    the alphabet lacks (space, punctuation, hyphen). The CTC blank is the model's extra last class."""
    input_symbols = id_to_symbol(symbol_set)
    ctc_ids = symbol_to_id(ctc_symbol_set)
    symbols = (input_symbols[int(symbol_id)] for symbol_id in ids)
    return [ctc_ids[symbol] for symbol in symbols if symbol in ctc_ids]
