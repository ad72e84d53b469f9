"""CMUdict lookup, Flowtron's random ARPAbet substitution and Neural-HMM's phonetise."""

import random

from shared_text import add_random_arpabet, flowtron_text_to_sequence, lookup, phonetise, word_to_arpabet
from shared_text.acronyms import expand_acronyms, spell_acronym
from shared_text.arpabet import tokenize_words

_SENTENCE = "The quick brown fox jumps over the lazy dog while Smith paints fences in Boston."


def test_lookup_all_pronunciations_and_ambiguity_filter():
    assert lookup("smith") == ("S M IH1 TH",)
    assert lookup("DOLLARS") == ("D AA1 L ER0 Z", "D AO1 L ER0 Z")
    assert lookup("dollars", keep_ambiguous=False) is None
    assert lookup("qwzxqj") is None


def test_word_to_arpabet_keeps_punctuation_outside_braces():
    assert word_to_arpabet('"Street,"') == '"{S T R IY1 T},"'
    assert word_to_arpabet("John's") == "{JH AA1 N Z}"  # possessive -> pronunciation + Z
    assert word_to_arpabet("it's") == "it's"  # excluded from the possessive rule (and ambiguous)
    assert word_to_arpabet("abuse") == "abuse"  # a heteronym is never converted
    assert word_to_arpabet("dollars,") == "dollars,"  # ambiguous and keep_ambiguous=False
    assert word_to_arpabet("dollars,", keep_ambiguous=True) == "{D AA1 L ER0 Z},"


def test_p_arpabet_extremes():
    assert add_random_arpabet(_SENTENCE, 0.0, random.Random(0)) == _SENTENCE
    converted = add_random_arpabet("Smith paints", 1.0, random.Random(0))
    assert converted == "{S M IH1 TH} {P EY1 N T S}"


def test_p_arpabet_is_reproducible_with_a_seed_and_varies_without_one():
    first = add_random_arpabet(_SENTENCE, 0.5, random.Random(1234))
    assert first == add_random_arpabet(_SENTENCE, 0.5, random.Random(1234))
    assert "{" in first and first != add_random_arpabet(_SENTENCE, 1.0, random.Random(1234))
    ids = flowtron_text_to_sequence(_SENTENCE, 0.5, random.Random(7))
    assert ids == flowtron_text_to_sequence(_SENTENCE, 0.5, random.Random(7))
    outputs = {add_random_arpabet(_SENTENCE, 0.5, random.Random(seed)) for seed in range(5)}
    assert len(outputs) > 1


def test_one_draw_per_token_even_when_p_is_zero():
    rng = random.Random(3)
    add_random_arpabet("three short words", 0.0, rng)
    reference = random.Random(3)
    for _ in range(3):
        reference.random()
    assert rng.random() == reference.random()


def test_flowtron_acronyms():
    assert expand_acronyms("NASA") == "{N AE1 S AH0}"
    assert expand_acronyms("at 10 AM") == "at 10 {EY1} {EH1 M}"  # "am" is ambiguous: spelled out
    assert spell_acronym("CDs") == "{S IY1} {D IY1 Z}"
    assert expand_acronyms("the U.S. team") == "the {Y UW1} {EH1 S} team"


def test_neural_hmm_tokenizer_and_phonetise():
    assert tokenize_words("Hello, world... It's 1,250 don't!") == [
        "Hello", ",", "world", "...", "It", "'s", "1,250", "do", "n't", "!"
    ]  # fmt: skip
    assert phonetise("Hello world.") == "{HH AH0 L OW1} {W ER1 L D} ."
    assert phonetise("Call 911 now") == "{K AO1 L} 911 {N AW1}"


def test_unknown_possessive_loses_its_s_like_the_original():
    assert word_to_arpabet("Xyzzyq's,") == "Xyzzyq,"
