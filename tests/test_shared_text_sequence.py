"""Text <-> id conversion, unknown-symbol handling, cleaners registry, blanks and CTC targets."""

import warnings

import pytest

from shared_text import (
    UnknownSymbolError,
    clean_text,
    cleaned_text_to_sequence,
    find_unknown_characters,
    get_cleaner,
    get_symbols,
    intersperse,
    sequence_to_text,
    text_to_sequence,
    to_ctc_sequence,
)


def test_arpabet_in_braces_maps_to_at_symbols_and_is_not_cleaned():
    symbols = get_symbols("tacotron2")
    ids = text_to_sequence("Hi {HH AH0 L OW1}!", ["english_cleaners"])
    assert [symbols[i] for i in ids] == ["h", "i", " ", "@HH", "@AH0", "@L", "@OW1", "!"]


def test_sequence_to_text_round_trip_rewraps_arpabet():
    text = "turn left on {HH AW1 S T AH0 N} street, {IH1 T} is."
    for symbol_set in ["tacotron2", "neural_hmm", "flowtron"]:
        ids = text_to_sequence(text, [], symbol_set=symbol_set)
        assert sequence_to_text(ids, symbol_set) == text
    # Adjacent braces merge into one group, as in the originals.
    assert sequence_to_text(text_to_sequence("{AA1}{B}", []), "tacotron2") == "{AA1 B}"


def test_vits_has_no_arpabet_and_maps_ipa_characters():
    ids = text_to_sequence("həlˈoʊ wˈɜːld!", [], symbol_set="vits")
    assert sequence_to_text(ids, "vits") == "həlˈoʊ wˈɜːld!"
    with pytest.raises(UnknownSymbolError, match=r"'\{'"):
        text_to_sequence("{AA1}", [], symbol_set="vits")


def test_unknown_character_error_names_character_position_and_text():
    with pytest.raises(UnknownSymbolError) as caught:
        text_to_sequence("Hi [there]", ["english_cleaners"])
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.symbol, error.position, error.text) == ("[", 3, "hi [there]")
    assert "'['" in str(error) and "position 3" in str(error) and "'Hi [there]'" in str(error)


def test_unknown_arpabet_phone_is_reported_too():
    with pytest.raises(UnknownSymbolError, match="'@XX' at position 4"):
        cleaned_text_to_sequence("ab {XX AH0}")


def test_drop_mode_warns_with_the_dropped_characters():
    with pytest.warns(UserWarning, match=r"'\[' at 3, '\]' at 9"):
        ids = text_to_sequence("Hi [there]", ["english_cleaners"], on_unknown="drop")
    assert sequence_to_text(ids) == "hi there"


def test_known_text_does_not_warn_and_bad_mode_is_rejected():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_to_sequence("Fine text.", ["english_cleaners"], on_unknown="drop")
    with pytest.raises(ValueError, match="on_unknown must be one of"):
        text_to_sequence("x", ["english_cleaners"], on_unknown="ignore")


def test_pad_and_tilde_are_never_emitted():
    assert text_to_sequence("a_b~c", ["basic_cleaners"]) == text_to_sequence("abc", ["basic_cleaners"])
    assert find_unknown_characters("a_b~c", ["basic_cleaners"]) == []


def test_find_unknown_characters_reports_positions_in_cleaned_text():
    found = find_unknown_characters("Hi [there] {XX AH0}", ["english_cleaners"])
    assert found == [("[", 3), ("]", 9), ("@XX", 12)]
    assert find_unknown_characters("Café 5", ["english_cleaners"]) == []
    assert find_unknown_characters("Café", ["basic_cleaners"]) == [("é", 3)]


def test_cleaner_registry_errors_and_string_name():
    with pytest.raises(ValueError, match="unknown text cleaner 'englsh_cleaners'.*english_cleaners"):
        get_cleaner("englsh_cleaners")
    assert clean_text("Two  words", "basic_cleaners") == clean_text("Two  words", ["basic_cleaners"])
    assert clean_text("Äb", ["transliteration_cleaners"]) == "ab"


def test_intersperse_adds_blanks_like_vits():
    assert intersperse([5, 6, 7]) == [0, 5, 0, 6, 0, 7, 0]
    assert intersperse([], item=3) == [3]


def test_ctc_targets_drop_space_punctuation_and_hyphen():
    ids = text_to_sequence("a-b, {AA1}!", ["basic_cleaners"])
    ctc_symbols = get_symbols("tacotron2_mmi_ctc")
    assert [ctc_symbols[i] for i in to_ctc_sequence(ids)] == ["a", "b", "@AA1"]
