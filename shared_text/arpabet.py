"""Word-level ARPAbet from CMUdict: Flowtron's random substitution and Neural-HMM's `phonetise`.

* Flowtron (`Data.get_text`): after `flowtron_cleaners`, each token draws ``rng.random()`` and, if the
  draw is below `p_arpabet`, becomes ``{its CMUdict pronunciation}`` (first one); punctuation around the
  word stays outside the braces, a possessive "'s" adds " Z", heteronyms are never converted, and with
  ``keep_ambiguous=False`` only words with exactly one pronunciation are.
* Neural-HMM: every token found in CMUdict becomes ``{first pronunciation}``; tokens are joined by
  single spaces, so punctuation ends up space-separated ("{HH AH0 L OW1} {W ER1 L D} .").
"""

import random
import re
from collections.abc import Sequence

from . import cmudict
from .cleaners import clean_text
from .heteronyms import FLOWTRON_HETERONYMS
from .sequence import cleaned_text_to_sequence

_LEADING_PUNCTUATION = re.compile(r"\A\W+")
_TRAILING_PUNCTUATION = re.compile(r"\W+\Z")
# A word starting with letters/apostrophes/hyphens that contains an apostrophe somewhere.
_HAS_APOSTROPHE = re.compile(r"(?=\S*')[a-zA-Z'-]+")
# Flowtron tokens: a run of non-spaces that contains a {...} group (spaces allowed inside), or any run
# of non-spaces.
_FLOWTRON_TOKEN = re.compile(r"\S*\{.*?\}\S*|\S+")


def _split_surrounding_punctuation(token: str) -> tuple[str, str, str]:
    """(leading punctuation, word, trailing punctuation); "\\W" counts braces and quotes too."""
    leading = _LEADING_PUNCTUATION.match(token)
    prefix = leading.group(0) if leading else ""
    rest = token[len(prefix) :]
    trailing = _TRAILING_PUNCTUATION.search(rest)
    suffix = trailing.group(0) if trailing else ""
    return prefix, rest[: len(rest) - len(suffix)], suffix


def word_to_arpabet(
    word: str, keep_ambiguous: bool = False, index: int = 0, edition: str = "flowtron"
) -> str:
    """Flowtron's ``get_arpabet``: "Street," -> "{S T R IY1 T},", "John's" -> "{JH AA1 N Z}".

    Returns the token unchanged when the word is a heteronym or has no (unambiguous) pronunciation,
    except that, as in the original, an unknown possessive loses its "'s" ("Xyzzy's" -> "Xyzzy").
    """
    prefix, core, suffix = _split_surrounding_punctuation(word)
    phone_suffix = ""
    # Any apostrophe word ending in "s" loses its last two characters, as in the original (which
    # assumes the ending is "'s"); "it's" is the one exception.
    if _HAS_APOSTROPHE.match(core) and core.lower() != "it's" and core.lower().endswith("s"):
        core = core[:-2]
        phone_suffix = " Z"
    pronunciations = None
    if core.lower() not in FLOWTRON_HETERONYMS:
        pronunciations = cmudict.lookup(core, keep_ambiguous=keep_ambiguous, edition=edition)
    if pronunciations is None:
        return prefix + core + suffix
    return prefix + "{" + pronunciations[index] + phone_suffix + "}" + suffix


def flowtron_tokens(text: str) -> list[str]:
    """Split cleaned text into Flowtron's word tokens (a ``{...}`` group stays inside one token)."""
    return _FLOWTRON_TOKEN.findall(text)


def add_random_arpabet(
    cleaned_text: str,
    p_arpabet: float,
    rng: random.Random,
    keep_ambiguous: bool = False,
    edition: str = "flowtron",
) -> str:
    """Replace each token by its ARPAbet with probability `p_arpabet`; tokens are re-joined by spaces.

    One ``rng.random()`` is drawn per token whatever `p_arpabet` is, so the random stream advances
    exactly as the original's module-level `random` does (seed it with 1234 for the original's stream).
    """
    tokens = flowtron_tokens(cleaned_text)
    return " ".join(
        word_to_arpabet(token, keep_ambiguous, edition=edition) if rng.random() < p_arpabet else token
        for token in tokens
    )


def flowtron_text_to_sequence(
    text: str,
    p_arpabet: float = 0.0,
    rng: random.Random | None = None,
    keep_ambiguous: bool = False,
    cleaner_names: Sequence[str] | str = ("flowtron_cleaners",),
    on_unknown: str = "drop",
    edition: str = "flowtron",
) -> list[int]:
    """Flowtron's ``Data.get_text``: clean the whole text, add random ARPAbet, map to the 185 symbols.

    `edition`: the CMUdict edition (`shared_text.cmudict`; "flowtron" is the one Flowtron ships).
    `on_unknown` defaults to "drop" because Flowtron's own cleaners can produce unknown symbols (e.g.
    from user-typed ``{ARPAbet}``, which the acronym rule mangles) and the original drops them.
    """
    rng = rng if rng is not None else random.Random()
    cleaned = clean_text(text, cleaner_names)
    with_arpabet = add_random_arpabet(cleaned, p_arpabet, rng, keep_ambiguous, edition)
    return cleaned_text_to_sequence(with_arpabet, "flowtron", on_unknown)


# Neural-HMM tokens, approximating nltk.word_tokenize for ordinary English: clitics ("n't", "'s", ...)
# split off, numbers with inner commas/points kept whole, every other punctuation mark on its own
# ("..." and "--" stay together).
_CLITIC_ENDING = r"(?:s|m|d|re|ve|ll)\b"
_NEURAL_HMM_TOKEN = re.compile(
    rf"[a-z]+(?=n't\b)|n't\b|'{_CLITIC_ENDING}"  # "don't" -> "do" "n't"; "It's" -> "It" "'s"
    rf"|[a-z]+(?:(?:[-.]|'(?!{_CLITIC_ENDING}))[a-z]+)*"  # words, incl. "o'clock", "U.S", "T-shirt"
    r"|\d+(?:[.,:]\d+)*|\.\.\.|--|\S",
    re.IGNORECASE,
)


def tokenize_words(text: str) -> list[str]:
    """Words, clitics, number runs and punctuation marks of `text`, in order."""
    return _NEURAL_HMM_TOKEN.findall(text)


def phonetise(text: str) -> str:
    """Neural-HMM's ``phonetise_text``: every CMUdict word becomes ``{first pronunciation}``, other
    tokens stay as they are, and all tokens are joined with single spaces."""
    tokens = []
    for token in tokenize_words(text):
        pronunciations = cmudict.lookup(token)
        tokens.append("{" + pronunciations[0] + "}" if pronunciations else token)
    return " ".join(tokens)
