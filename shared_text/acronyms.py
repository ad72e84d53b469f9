"""Flowtron's acronym rule: "NASA" -> "{N AE1 S AH0}", "AM" -> "{EY1} {EH1 M}".

An acronym is two or more capitals ("NASA", optionally a plural "s") or dotted capitals ("U.S.").
If the whole acronym, without dots, has exactly one pronunciation in Flowtron's CMUdict edition
(`shared_text.cmudict`), that pronunciation is used; otherwise each letter is spelled as ARPAbet in
its own braces. There are no word boundaries in the pattern, so capitals inside user-typed
``{ARPAbet}`` are rewritten too (a quirk kept for parity).
"""

import re

from . import cmudict

# How each capital is said when spelled out; "s" is the plural ending of e.g. "CDs".
LETTER_PRONUNCIATIONS = {
    "A": "EY1",
    "B": "B IY1",
    "C": "S IY1",
    "D": "D IY1",
    "E": "IY1",
    "F": "EH1 F",
    "G": "JH IY1",
    "H": "EY1 CH",
    "I": "AY1",
    "J": "JH EY1",
    "K": "K EY1",
    "L": "EH1 L",
    "M": "EH1 M",
    "N": "EH1 N",
    "O": "OW1",
    "P": "P IY1",
    "Q": "K Y UW1",
    "R": "AA1 R",
    "S": "EH1 S",
    "T": "T IY1",
    "U": "Y UW1",
    "V": "V IY1",
    "W": "D AH1 B AH0 L Y UW0",
    "X": "EH1 K S",
    "Y": "W AY1",
    "Z": "Z IY1",
    "s": "Z",
}

_ACRONYM = re.compile(r"([A-Z][A-Z]+)s?|([A-Z]\.([A-Z]\.)+s?)")


def spell_acronym(acronym: str) -> str:
    """Letter-by-letter ARPAbet, one ``{...}`` per letter; a plural "s" joins the last letter's braces."""
    spelled = [LETTER_PRONUNCIATIONS[letter] for letter in acronym]
    if len(spelled) > 1 and acronym.endswith("s"):
        plural = spelled.pop()
        spelled[-1] = f"{spelled[-1]} {plural}"
    return " ".join("{" + phones + "}" for phones in spelled)


def _acronym_as_arpabet(match: re.Match) -> str:
    acronym = "".join(match.group(0).replace(".", "").split())
    pronunciations = cmudict.lookup(acronym, keep_ambiguous=False, edition="flowtron")
    if pronunciations is None:
        return spell_acronym(acronym)
    return "{" + pronunciations[0] + "}"


def expand_acronyms(text: str) -> str:
    """Replace every acronym in `text` by ARPAbet in braces (case-sensitive text expected)."""
    return _ACRONYM.sub(_acronym_as_arpabet, text)
