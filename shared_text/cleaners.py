"""Text cleaners of the originals, selectable by name as in their configs (``text_cleaners``).

* `basic_cleaners`, `transliteration_cleaners`, `english_cleaners`: keithito/tacotron, used by
  NVIDIA Tacotron 2 (and NGC), Tacotron2-MMI and Neural-HMM.
* `flowtron_cleaners`: Flowtron; keeps case, no transliteration, writes acronyms as ``{ARPAbet}``.
* `english_cleaners2`: VITS / NaturalSpeech; returns eSpeak IPA, not letters.

`clean_text` applies a list of cleaners to the whole string; `clean_text_outside_braces` leaves
``{ARPAbet}`` groups untouched, which is what Tacotron 2's `text_to_sequence` does.
"""

import re
from collections.abc import Callable, Sequence

from unidecode import unidecode

from .abbreviations import expand_abbreviations, expand_safe_abbreviations
from .acronyms import expand_acronyms
from .numbers import expand_clock_times, normalize_numbers, normalize_numbers_flowtron
from .phonemize import phonemize_espeak

_WHITESPACE = re.compile(r"\s+")
_HYPHEN_BETWEEN_WORD_CHARACTERS = re.compile(r"(?<=\w)-(?=\w)")
_BRACED_ARPABET = re.compile(r"\{(.+?)\}")


def lowercase(text: str) -> str:
    return text.lower()


def collapse_whitespace(text: str) -> str:
    """Each whitespace run becomes one space; leading/trailing spaces are kept, as in the originals."""
    return _WHITESPACE.sub(" ", text)


def convert_to_ascii(text: str) -> str:
    """Transliterate to ASCII with `unidecode` ("café" -> "cafe")."""
    return unidecode(text)


def remove_hyphens(text: str) -> str:
    """Flowtron: a hyphen between two word characters becomes a space ("T-shirt" -> "T shirt")."""
    return _HYPHEN_BETWEEN_WORD_CHARACTERS.sub(" ", text)


def basic_cleaners(text: str) -> str:
    """Lowercase and collapse whitespace, without transliteration."""
    return collapse_whitespace(lowercase(text))


def transliteration_cleaners(text: str) -> str:
    """ASCII transliteration, lowercase, collapse whitespace (non-English text)."""
    return collapse_whitespace(lowercase(convert_to_ascii(text)))


def english_cleaners(text: str) -> str:
    """Tacotron 2: ASCII, lowercase, numbers and abbreviations spelled out, whitespace collapsed."""
    text = lowercase(convert_to_ascii(text))
    text = normalize_numbers(text)
    text = expand_abbreviations(text)
    return collapse_whitespace(text)


def flowtron_cleaners(text: str) -> str:
    """Flowtron: whitespace, hyphens, clock times, numbers, "no.", then acronyms as ARPAbet; case kept."""
    text = collapse_whitespace(text)
    text = remove_hyphens(text)
    text = expand_clock_times(text)
    text = normalize_numbers_flowtron(text)
    text = expand_safe_abbreviations(text)
    return expand_acronyms(text)


def english_cleaners2(text: str) -> str:
    """VITS / NaturalSpeech: ASCII, lowercase, abbreviations, then eSpeak en-us IPA with stress marks
    and punctuation kept, whitespace collapsed. Numbers are left to eSpeak."""
    text = expand_abbreviations(lowercase(convert_to_ascii(text)))
    phonemes = phonemize_espeak(text, language="en-us", preserve_punctuation=True, with_stress=True)
    return collapse_whitespace(phonemes)


CLEANERS: dict[str, Callable[[str], str]] = {
    "basic_cleaners": basic_cleaners,
    "transliteration_cleaners": transliteration_cleaners,
    "english_cleaners": english_cleaners,
    "flowtron_cleaners": flowtron_cleaners,
    "english_cleaners2": english_cleaners2,
}


def get_cleaner(name: str) -> Callable[[str], str]:
    """The cleaner function registered as `name`."""
    if name not in CLEANERS:
        raise ValueError(f"unknown text cleaner {name!r}; valid cleaners are: {', '.join(CLEANERS)}")
    return CLEANERS[name]


def _as_name_list(cleaner_names: Sequence[str] | str) -> list[str]:
    # A bare string is a common config slip ("english_cleaners" instead of ["english_cleaners"]).
    return [cleaner_names] if isinstance(cleaner_names, str) else list(cleaner_names)


def clean_text(text: str, cleaner_names: Sequence[str] | str) -> str:
    """Apply the named cleaners, in order, to the whole of `text`."""
    cleaners = [get_cleaner(name) for name in _as_name_list(cleaner_names)]
    for cleaner in cleaners:
        text = cleaner(text)
    return text


def clean_text_outside_braces(text: str, cleaner_names: Sequence[str] | str) -> str:
    """Clean only the text between ``{ARPAbet}`` groups; the groups are copied unchanged.

    Each plain stretch is cleaned on its own, as Tacotron 2's `text_to_sequence` does.
    """
    pieces = []
    position = 0
    for group in _BRACED_ARPABET.finditer(text):
        pieces.append(clean_text(text[position : group.start()], cleaner_names))
        pieces.append(group.group(0))
        position = group.end()
    pieces.append(clean_text(text[position:], cleaner_names))
    return "".join(pieces)
