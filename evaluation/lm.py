"""An n-gram language model of the corpus text, written as an ARPA file pocketsphinx can load.

Smoothing is interpolated Witten-Bell (Witten & Bell 1991; Chen & Goodman 1998, section 2.5):

    P(w | h) = (c(h w) + T(h) * P(w | h')) / (c(h) + T(h))

with c(h) the number of times history h is followed by any word, T(h) the number of distinct words
that follow it, and h' the history without its oldest word. Unigrams are interpolated with the
uniform distribution over the vocabulary in the same way. Because the lower-order term enters every
word alike, the interpolated model is exactly an ARPA back-off model: listed n-grams carry the
interpolated probability and history h carries the back-off weight T(h) / (c(h) + T(h)).

Out-of-dictionary words. The recogniser can only emit words its pronunciation dictionary holds, so
`write_arpa` takes an `in_vocabulary` predicate and maps every other word to `<unk>` (which is not in
the dictionary, so it is never decoded). The word still occupies its position, so no false n-grams
join its neighbours. References keep the original word: an out-of-dictionary word is always scored
as an error, and `LanguageModelInfo.oov_words` lists them so a report can say so.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

SENTENCE_START, SENTENCE_END, UNKNOWN = "<s>", "</s>", "<unk>"
_LOG10_ZERO = -99.0  # the ARPA convention for "never predicted" (<s>)


@dataclass
class LanguageModelInfo:
    path: str
    order: int
    sentences: int
    tokens: int
    vocabulary: int
    ngram_counts: dict[int, int]
    oov_words: list[str] = field(default_factory=list)


def count_ngrams(sentences: Iterable[list[str]], order: int) -> dict[int, Counter]:
    """counts[n][(w1, ..., wn)] over sentences padded as `<s> w1 ... wk </s>`; unigrams skip `<s>`,
    which is a history, never a predicted word."""
    counts = {n: Counter() for n in range(1, order + 1)}
    for words in sentences:
        padded = [SENTENCE_START, *words, SENTENCE_END]
        counts[1].update((token,) for token in padded[1:])
        for n in range(2, order + 1):
            counts[n].update(tuple(padded[i : i + n]) for i in range(len(padded) - n + 1))
    return counts


def witten_bell(counts: dict[int, Counter]) -> tuple[dict[tuple, float], dict[tuple, float]]:
    """Interpolated Witten-Bell in back-off form: (probabilities of listed n-grams, back-off weights
    of histories), both as natural probabilities (not logs)."""
    order = len(counts)
    probabilities: dict[tuple, float] = {}
    backoffs: dict[tuple, float] = {}

    # Unigrams back off to the uniform distribution; every vocabulary word is seen, so T = V.
    total = sum(counts[1].values())
    types = len(counts[1])
    uniform = 1.0 / types
    for ngram, count in counts[1].items():
        probabilities[ngram] = (count + types * uniform) / (total + types)

    for n in range(2, order + 1):
        history_total: dict[tuple, int] = defaultdict(int)
        history_types: dict[tuple, int] = defaultdict(int)
        for ngram, count in counts[n].items():
            history_total[ngram[:-1]] += count
            history_types[ngram[:-1]] += 1
        for ngram, count in counts[n].items():
            history = ngram[:-1]
            types = history_types[history]
            lower = probabilities[ngram[1:]]
            probabilities[ngram] = (count + types * lower) / (history_total[history] + types)
        for history, types in history_types.items():
            backoffs[history] = types / (history_total[history] + types)
    return probabilities, backoffs


def write_arpa(
    sentences: Iterable[str],
    path: str | Path,
    order: int = 3,
    in_vocabulary: Callable[[str], bool] | None = None,
) -> LanguageModelInfo:
    """Write an `order`-gram ARPA model of `sentences` (already normalised, space separated words).

    Words for which `in_vocabulary(word)` is False become `<unk>` (see the module docstring). Empty
    sentences are skipped. Returns what was written, including the out-of-vocabulary words.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    tokenised: list[list[str]] = []
    oov: set[str] = set()
    for sentence in sentences:
        words = sentence.split()
        if not words:
            continue
        if in_vocabulary is not None:
            oov.update(word for word in words if not in_vocabulary(word))
            words = [UNKNOWN if word in oov else word for word in words]
        tokenised.append(words)
    if not tokenised:
        raise ValueError("cannot build a language model from no words (all sentences are empty)")

    counts = count_ngrams(tokenised, order)
    probabilities, backoffs = witten_bell(counts)
    # <s> is listed as a unigram (it is a history) but never predicted.
    listed = {1: [(SENTENCE_START,), *sorted(counts[1])]}
    for n in range(2, order + 1):
        listed[n] = sorted(counts[n])

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as arpa:
        arpa.write("\\data\\\n")
        for n in range(1, order + 1):
            arpa.write(f"ngram {n}={len(listed[n])}\n")
        for n in range(1, order + 1):
            arpa.write(f"\n\\{n}-grams:\n")
            for ngram in listed[n]:
                log_prob = _LOG10_ZERO if ngram == (SENTENCE_START,) else math.log10(probabilities[ngram])
                line = f"{log_prob:.6f}\t{' '.join(ngram)}"
                if n < order and ngram in backoffs:
                    line += f"\t{math.log10(backoffs[ngram]):.6f}"
                arpa.write(line + "\n")
        arpa.write("\n\\end\\\n")

    return LanguageModelInfo(
        path=str(path),
        order=order,
        sentences=len(tokenised),
        tokens=sum(counts[1].values()),
        vocabulary=len(counts[1]),
        ngram_counts={n: len(listed[n]) for n in listed},
        oov_words=sorted(oov),
    )
