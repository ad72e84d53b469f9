"""Symbol tables of the five originals, each in its embedding-row order.

The position of a symbol in its list is the row of the text embedding in the published checkpoints, so
these lists must never be re-sorted or de-duplicated. Every table is a plain ``list[str]``; ARPAbet phones
appear as ``"@" + phone`` so that they cannot collide with upper-case letters.
"""

from functools import cache

# The 84 ARPAbet phones (with stress digits) in the order of keithito's ``cmudict.valid_symbols``.
ARPABET_PHONES = (
    "AA AA0 AA1 AA2 AE AE0 AE1 AE2 AH AH0 AH1 AH2 AO AO0 AO1 AO2 AW AW0 AW1 AW2 AY AY0 AY1 AY2 "
    "B CH D DH EH EH0 EH1 EH2 ER ER0 ER1 ER2 EY EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY IY0 IY1 IY2 "
    "JH K L M N NG OW OW0 OW1 OW2 OY OY0 OY1 OY2 P R S SH T TH UH UH0 UH1 UH2 UW UW0 UW1 UW2 "
    "V W Y Z ZH"
).split()
ARPABET_PREFIX = "@"
ARPABET_SYMBOLS = [ARPABET_PREFIX + phone for phone in ARPABET_PHONES]

PAD = "_"
# Characters that text_to_sequence skips silently, as all the originals do (`~` was keithito's EOS).
NEVER_EMITTED = frozenset({"_", "~"})

_LETTERS = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TACOTRON_PUNCTUATION = list("!'(),.:;? ")

# NVIDIA/tacotron2 (also the NGC/DLE port and bfs18's Tacotron2-MMI inputs): pad, hyphen, punctuation,
# letters, ARPAbet.
TACOTRON2_SYMBOLS = [PAD, "-", *_TACOTRON_PUNCTUATION, *_LETTERS, *ARPABET_SYMBOLS]

# Neural-HMM adds "@" and "#" right after the hyphen, which shifts every later id by two.
NEURAL_HMM_SYMBOLS = [PAD, "-", "@", "#", *_TACOTRON_PUNCTUATION, *_LETTERS, *ARPABET_SYMBOLS]

# Tacotron2-MMI's CTC alphabet: no space, punctuation or hyphen. The CTC blank is appended by the model
# as class len(TACOTRON2_MMI_CTC_SYMBOLS) and is not part of this list.
TACOTRON2_MMI_CTC_SYMBOLS = [PAD, *_LETTERS, *ARPABET_SYMBOLS]

# Flowtron: case-sensitive, with digits and a few accented letters; the pad character is "!" (id 0),
# the "_" at id 20 is an ordinary (never emitted) symbol.
FLOWTRON_SYMBOLS = [
    *"!'\",.:;? ",
    *"#%&*+-/[]()",
    *"_@©°½—₩€$",
    *"áçéêëñöøćž",
    *"0123456789",
    *_LETTERS,
    *ARPABET_SYMBOLS,
]

# jaywalnut310/vits IPA set (used by NaturalSpeech). The apostrophe occurs twice (ids 174 and 176); the
# symbol -> id lookup keeps the later id, exactly like the original's dict comprehension.
_VITS_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_VITS_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
    "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'\u0329'ᵻ"
)
VITS_SYMBOLS = [PAD, *_VITS_PUNCTUATION, *_LETTERS, *_VITS_IPA]

SYMBOL_SETS: dict[str, list[str]] = {
    "tacotron2": TACOTRON2_SYMBOLS,
    "neural_hmm": NEURAL_HMM_SYMBOLS,
    "tacotron2_mmi_ctc": TACOTRON2_MMI_CTC_SYMBOLS,
    "flowtron": FLOWTRON_SYMBOLS,
    "vits": VITS_SYMBOLS,
}


def get_symbols(name: str) -> list[str]:
    """The symbol list registered as `name` (a copy, so callers cannot corrupt the table)."""
    if name not in SYMBOL_SETS:
        valid = ", ".join(sorted(SYMBOL_SETS))
        raise ValueError(f"unknown symbol set {name!r}; valid names are: {valid}")
    return list(SYMBOL_SETS[name])


@cache
def symbol_to_id(name: str) -> dict[str, int]:
    """Map symbol -> id for the set `name`; a duplicated symbol maps to its last position."""
    return {symbol: index for index, symbol in enumerate(get_symbols(name))}


@cache
def id_to_symbol(name: str) -> dict[int, str]:
    """Map id -> symbol for the set `name`."""
    return dict(enumerate(get_symbols(name)))


def has_arpabet(name: str) -> bool:
    """True if the set has ``@PHONE`` symbols, i.e. ``{...}`` in text is read as ARPAbet."""
    return ARPABET_SYMBOLS[0] in symbol_to_id(name)
