"""shared_text.split: long text becomes pieces of at most max_chars, split at the best boundary there is."""

import pytest

from shared_text.split import split_sentences, split_text


def _words(text: str) -> list[str]:
    return text.split()


def test_sentences_stay_whole_when_short_and_keep_their_marks_and_quotes():
    text = 'He said "Stop!" Then he left.  Dr. Smith asked (why?) Mrs. Dashwood came.\nThe end'
    assert split_sentences(text) == [
        'He said "Stop!"',
        "Then he left.",
        "Dr. Smith asked (why?)",  # no break after the title abbreviation
        "Mrs. Dashwood came.",
        "The end",
    ]
    assert split_text(text, max_chars=250) == split_sentences(text)


def test_long_sentence_splits_at_clauses_before_words():
    sentence = "First clause here, second clause there; third one: and a final clause -- after a dash."
    pieces = split_text(sentence, max_chars=40)
    assert pieces == [
        "First clause here, second clause there;",
        "third one: and a final clause",
        "-- after a dash.",
    ]
    assert " ".join(pieces) == sentence


@pytest.mark.parametrize("max_chars", [10, 37, 80, 250])
def test_unpunctuated_paragraph_is_split_at_words_within_the_limit(max_chars):
    paragraph = " ".join(f"word{index}" for index in range(200))  # ~1,300 characters, no punctuation
    pieces = split_text(paragraph, max_chars)
    assert len(pieces) > 1 and all(0 < len(piece) <= max_chars for piece in pieces)
    assert _words(" ".join(pieces)) == _words(paragraph)  # nothing lost, reordered or cut inside a word
    # Greedy packing: no piece could have taken the next piece's first word.
    for piece, following in zip(pieces, pieces[1:]):
        assert len(piece) + 1 + len(following.split()[0]) > max_chars


def test_only_a_word_longer_than_the_limit_is_cut():
    url = "https://example.org/" + "x" * 50
    pieces = split_text(f"See {url} now.", max_chars=20)
    assert all(len(piece) <= 20 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == f"See{url}now."
    assert pieces[0] == "See"


def test_empty_and_invalid_input():
    assert split_text("") == [] and split_text("  \n\t ") == []
    with pytest.raises(ValueError, match="max_chars must be at least 1"):
        split_text("text", max_chars=0)
