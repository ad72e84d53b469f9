"""Text front end shared by the five paper folders: symbol tables, cleaners, number normalisation,
CMUdict/ARPAbet helpers, eSpeak phonemisation and text <-> id conversion.

Typical use::

    from shared_text import front_end, split_text, text_to_sequence
    ids = text_to_sequence("Dr. Smith paid $5.", ["english_cleaners"], symbol_set="tacotron2")
    ids = front_end("neural_hmm")("Hello world.")  # a model's whole front end, by name
    pieces = split_text(long_paragraph, max_chars=250)  # for synthesis
"""

from .arpabet import (
    add_random_arpabet,
    flowtron_text_to_sequence,
    phonetise,
    tokenize_words,
    word_to_arpabet,
)
from .cleaners import (
    CLEANERS,
    basic_cleaners,
    clean_text,
    clean_text_outside_braces,
    english_cleaners,
    english_cleaners2,
    flowtron_cleaners,
    get_cleaner,
    transliteration_cleaners,
)
from .cmudict import load_cmudict, lookup, set_cmudict_path
from .front_ends import FRONT_END_NAMES, EmptyTextError, FrontEnd, custom_front_end, front_end
from .numbers import expand_clock_times, normalize_numbers, normalize_numbers_flowtron
from .phonemize import EspeakUnavailableError, phonemize_espeak, set_disk_cache
from .sequence import (
    UnknownSymbolError,
    cleaned_text_to_sequence,
    find_unknown_characters,
    intersperse,
    sequence_to_text,
    text_to_sequence,
    to_ctc_sequence,
)
from .split import split_text
from .symbols import ARPABET_PHONES, ARPABET_SYMBOLS, SYMBOL_SETS, get_symbols, symbol_to_id

__all__ = [
    "ARPABET_PHONES",
    "ARPABET_SYMBOLS",
    "CLEANERS",
    "FRONT_END_NAMES",
    "SYMBOL_SETS",
    "EmptyTextError",
    "EspeakUnavailableError",
    "FrontEnd",
    "UnknownSymbolError",
    "add_random_arpabet",
    "basic_cleaners",
    "clean_text",
    "clean_text_outside_braces",
    "cleaned_text_to_sequence",
    "custom_front_end",
    "english_cleaners",
    "english_cleaners2",
    "expand_clock_times",
    "find_unknown_characters",
    "flowtron_cleaners",
    "flowtron_text_to_sequence",
    "front_end",
    "get_cleaner",
    "get_symbols",
    "intersperse",
    "load_cmudict",
    "lookup",
    "normalize_numbers",
    "normalize_numbers_flowtron",
    "phonemize_espeak",
    "phonetise",
    "sequence_to_text",
    "set_cmudict_path",
    "set_disk_cache",
    "split_text",
    "symbol_to_id",
    "text_to_sequence",
    "to_ctc_sequence",
    "tokenize_words",
    "transliteration_cleaners",
    "word_to_arpabet",
]
