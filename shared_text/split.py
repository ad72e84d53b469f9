"""Split long input text into pieces a sequence-to-sequence model can speak in one go.

Attention and HMM decoders are trained on single sentences of a few seconds; a paragraph read in one
pass runs into `max_decoder_steps` and is cut off. `split_text` breaks text at sentence ends first,
then at clause marks (, ; : and dashes) and finally between words, so that no piece is longer than
`max_chars` characters; a paragraph without any punctuation is therefore still split (at words). Only a
single word longer than `max_chars` (a URL, say) has to be cut inside the word.

    split_text("First sentence. Second one, which is long ...", max_chars=30)
"""

from __future__ import annotations

import re

from .abbreviations import ENGLISH_ABBREVIATIONS

DEFAULT_MAX_CHARS = 250

# A sentence ends after . ! ? (optionally followed by closing quotes or brackets) and white space; the
# group keeps the mark and the quotes with the sentence.
_SENTENCE_END = re.compile(r"([.!?][\"'”’)\]]*)\s+(?=\S)")
# ... except after the abbreviations the cleaners expand ("Dr. Smith", "Mrs. Dashwood").
_ENDS_WITH_ABBREVIATION = re.compile(
    rf"\b(?:{'|'.join(abbreviation for abbreviation, _ in ENGLISH_ABBREVIATIONS)})\.\Z", re.IGNORECASE
)
# Clause boundaries: after , ; : or a dash surrounded by spaces.
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=(?:--|—|–)\s)")
_WHITESPACE = re.compile(r"\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (split after . ! ? and any closing quotes or brackets), white space collapsed."""
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        return []
    pieces = _SENTENCE_END.split(text)  # [sentence, its end mark, sentence, its end mark, ..., last]
    pieces.append("")
    sentences: list[str] = []
    for index in range(0, len(pieces) - 1, 2):
        sentence = pieces[index] + pieces[index + 1]
        if sentences and _ENDS_WITH_ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {sentence}"
        else:
            sentences.append(sentence)
    return sentences


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Join consecutive `parts` with single spaces into as few pieces of at most `max_chars` as a
    greedy left-to-right pass gives; a part longer than `max_chars` stays alone (the caller splits it)."""
    pieces: list[str] = []
    current = ""
    for part in parts:
        if current and len(current) + 1 + len(part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _split_words(text: str, max_chars: int) -> list[str]:
    pieces = []
    for piece in _pack(text.split(" "), max_chars):
        # Only a single word longer than max_chars is left over-long by packing: cut it.
        pieces.extend(piece[start : start + max_chars] for start in range(0, len(piece), max_chars))
    return pieces


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Pieces of `text`, in order, each at most `max_chars` characters long, white space collapsed.

    Every sentence becomes its own piece (or several); a sentence longer than `max_chars` is split at
    clause marks, packing clauses into pieces of at most `max_chars`; a clause still too long is split
    between words. Joining the pieces with spaces gives back the text with its white space collapsed.
    Empty text gives []. ValueError for max_chars < 1.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    pieces = []
    for sentence in split_sentences(text):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        clauses = [clause for clause in _CLAUSE_END.split(sentence) if clause]
        for piece in _pack(clauses, max_chars):
            if len(piece) <= max_chars:
                pieces.append(piece)
            else:
                pieces.extend(_split_words(piece, max_chars))
    return pieces
