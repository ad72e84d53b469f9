"""shared_text.front_ends: each model's front end equals the pipeline its training runs, and refuses
what that training would choke on or train on silently."""

import random

import pytest

from shared_text import (
    EmptyTextError,
    UnknownSymbolError,
    cleaned_text_to_sequence,
    flowtron_text_to_sequence,
    phonetise,
    sequence_to_text,
    text_to_sequence,
    to_ctc_sequence,
)
from shared_text.front_ends import FRONT_END_NAMES, custom_front_end, front_end

TEXTS = [
    "Hello world.",
    "Dr. Smith paid 5 dollars at 3:30, didn't he?",
    "The U.S. Army's T-shirt costs twenty-one pounds.",
    "  Mixed   CASE and    spaces  ",
]


@pytest.mark.parametrize("text", TEXTS)
def test_each_front_end_is_its_models_pipeline(text):
    assert front_end("tacotron2")(text) == text_to_sequence(text, ["english_cleaners"], "tacotron2")
    assert front_end("tacotron2_mmi")(text) == text_to_sequence(text, ["english_cleaners"], "tacotron2")
    phonetised = phonetise(text)
    assert front_end("neural_hmm")(text) == text_to_sequence(phonetised, ["english_cleaners"], "neural_hmm")
    flowtron = flowtron_text_to_sequence(text, p_arpabet=0.0, rng=random.Random(5), on_unknown="error")
    assert front_end("flowtron")(text) == flowtron


def test_tacotron2_reads_braces_as_arpabet():
    text = "Say {HH AH0 L OW1} now."
    assert front_end("tacotron2")(text) == text_to_sequence(text, ["english_cleaners"], "tacotron2")
    assert "{HH AH0 L OW1}" in sequence_to_text(front_end("tacotron2")(text))


def test_tacotron2_mmi_ctc_target_drops_spaces_and_punctuation():
    encode = front_end("tacotron2_mmi")
    ids = encode("Hi, you.")
    assert encode.ctc_ids(ids) == to_ctc_sequence(ids)
    assert sequence_to_text(encode.ctc_ids(ids), "tacotron2_mmi_ctc") == "hiyou"
    with pytest.raises(ValueError, match="no CTC target"):
        front_end("tacotron2").ctc_ids(ids)


def test_neural_hmm_money_fails_only_after_phonetisation():
    # "$3.50" passes the plain symbol-set check (the cleaners spell the amount out) ...
    assert text_to_sequence("$3.50", ["english_cleaners"], "neural_hmm")
    # ... but Neural-HMM phonetises first, which splits "$" from the number, and "$" has no symbol.
    with pytest.raises(UnknownSymbolError) as error:
        front_end("neural_hmm")("$3.50")
    assert error.value.symbol == "$" and error.value.raw_text == "$3.50"
    assert [symbol for symbol, _ in front_end("neural_hmm").unknown_symbols("$3.50 < 4")] == ["$", "<"]


@pytest.mark.parametrize("name", ["tacotron2", "neural_hmm", "tacotron2_mmi"])
@pytest.mark.parametrize("text", ["😀", "😀 🎉", "...", " - "])
def test_nothing_to_speak_is_an_error_but_encode_keeps_the_originals_output(name, text):
    encode = front_end(name)
    with pytest.raises(EmptyTextError, match="nothing to speak"):
        encode(text)
    ids = encode.encode(text)  # what the original computes: empty, a lone space, punctuation
    assert not encode.is_speakable(ids)


def test_neural_hmm_emoji_line_is_a_lone_space_for_the_original():
    assert sequence_to_text(front_end("neural_hmm").encode("😀 😀"), "neural_hmm") == " "


def test_transliteration_is_listed_only_where_unidecode_changes_the_reading():
    encode = front_end("tacotron2")
    assert encode.transliterations("你好, world 😀") == [("你", "Ni "), ("好", "Hao "), ("😀", "")]
    # Accents, curly quotes and dashes read as expected: nothing to warn about.
    assert encode.transliterations("Café “naïve” — déjà vu’s") == []
    assert front_end("flowtron").transliterations("你好") == []  # no transliteration: unknown symbols instead
    with pytest.raises(UnknownSymbolError):
        front_end("flowtron")("你好")


def test_names_overrides_and_custom_front_ends():
    assert set(FRONT_END_NAMES) == set(
        "tacotron2 tacotron2_mmi neural_hmm flowtron vits naturalspeech".split()
    )
    plain = front_end("neural_hmm", ["basic_cleaners"], phonetise=False)
    assert plain("nee aa") == text_to_sequence("nee aa", ["basic_cleaners"], "neural_hmm")
    assert front_end("tacotron2", "basic_cleaners").cleaners == ("basic_cleaners",)
    dropping = front_end("tacotron2", on_unknown="drop")
    with pytest.warns(UserWarning, match="dropped symbols"):
        assert dropping("a # b") == cleaned_text_to_sequence("a  b", "tacotron2")
    with pytest.raises(ValueError, match="unknown front end 'tacotron3'"):
        front_end("tacotron3")
    legacy = custom_front_end("neural_hmm", ["english_cleaners"])
    # No phonetisation: "$3.50" is spelt out by the cleaners and passes.
    assert legacy("$3.50") == text_to_sequence("$3.50", ["english_cleaners"], "neural_hmm")
    with pytest.raises(ValueError, match="unknown symbol set"):
        custom_front_end("klingon")


def test_vits_front_end_is_espeak_ipa():
    pytest.importorskip("phonemizer")
    pytest.importorskip("espeakng_loader")
    encode = front_end("naturalspeech")
    assert encode.symbol_set == "vits" and encode("Hello.") == text_to_sequence(
        "Hello.", ["english_cleaners2"], "vits"
    )
    with pytest.raises(EmptyTextError):
        encode("😀")
