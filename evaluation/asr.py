"""Intelligibility: pocketsphinx transcripts scored against the filelist text with WER and CER.

Two language models, reported side by side (CORPUS.md shows why both matter):

- `generic`: the en-us trigram model bundled with the pocketsphinx wheel. Weak on robotic voices
  (eSpeak NG scores WER ~0.76 on clean audio), so it measures how "ordinary" the speech sounds.
- `corpus`: a trigram model of the corpus text itself (`evaluation.lm`, Witten-Bell), decoded with a
  pronunciation dictionary cut down to that model's words. The test sentences are inside the model,
  so the prior is very strong and the remaining errors come from the acoustics.

Both use the bundled en-us acoustic model at 16 kHz; audio at any rate is resampled first. One
`Transcriber` (one `pocketsphinx.Decoder`) serves every utterance of a run.
"""

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jiwer
import numpy as np

from evaluation.audio import ANALYSIS_RATE, to_analysis_rate
from evaluation.lm import LanguageModelInfo, write_arpa
from evaluation.text import normalize_text

ASR_PADDING_S = 0.25
ASR_NOISE_DB = -60.0  # relative to the signal's peak
ASR_NOISE_SEED = 0


def _model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


@cache
def pronunciations() -> dict[str, list[str]]:
    """The bundled CMU dictionary: word -> its dictionary lines (`the DH AH`, `the(2) DH IY`)."""
    entries: dict[str, list[str]] = {}
    with open(_model_dir() / "cmudict-en-us.dict", encoding="utf-8") as dictionary:
        for line in dictionary:
            line = line.strip()
            if line:
                entries.setdefault(line.split(maxsplit=1)[0].split("(")[0], []).append(line)
    return entries


_SIBILANTS = {"S", "Z", "SH", "ZH", "CH", "JH"}
_VOICELESS = {"P", "T", "K", "F", "TH"}


def possessive_pronunciations(word: str, entries: dict[str, list[str]]) -> list[str]:
    """Dictionary lines for `name's` when the dictionary has `name` but not `name's` (common with
    novel characters: `willoughby's`), by the English rule: /IH Z/ after a sibilant, /S/ after
    another voiceless consonant, /Z/ otherwise. [] when the rule does not apply."""
    if not word.endswith("'s") or word in entries or word[:-2] not in entries:
        return []
    lines = []
    for index, line in enumerate(entries[word[:-2]], start=1):
        phones = line.split()[1:]
        ending = "IH Z" if phones[-1] in _SIBILANTS else "S" if phones[-1] in _VOICELESS else "Z"
        lines.append(f"{word if index == 1 else f'{word}({index})'} {' '.join(phones)} {ending}")
    return lines


def build_corpus_lm(sentences: Iterable[str], directory: str | Path, order: int = 3) -> LanguageModelInfo:
    """Write `corpus_lm.arpa` and `corpus_lm.dict` (the dictionary lines of its words) into
    `directory` from raw sentences, normalised here with `normalize_text`.

    The cut-down dictionary is not only tidier: pocketsphinx 5 maps every dictionary word into the
    language model's word table, which takes ~10 s for the 135k-word CMU dictionary against a small
    model, and ~0.05 s against its own vocabulary. Possessives of dictionary words get a rule-made
    pronunciation (`possessive_pronunciations`); other words the dictionary lacks become `<unk>`
    (see `evaluation.lm`) and are listed in the returned `oov_words`.
    """
    directory = Path(directory)
    normalised = [normalize_text(sentence) for sentence in sentences]
    corpus_words = {word for sentence in normalised for word in sentence.split()}
    entries = pronunciations()
    lines = {word: entries.get(word) or possessive_pronunciations(word, entries) for word in corpus_words}
    lines = {word: word_lines for word, word_lines in lines.items() if word_lines}
    info = write_arpa(normalised, directory / "corpus_lm.arpa", order=order, in_vocabulary=lines.__contains__)
    with open(directory / "corpus_lm.dict", "w", encoding="utf-8") as dictionary:
        for word in sorted(lines):
            dictionary.write("\n".join(lines[word]) + "\n")
    return info


def prepare_for_asr(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """16 kHz signal with 0.25 s of padding at both ends and seeded Gaussian noise 60 dB below the
    peak added throughout.

    Why: speech that starts or ends at the first/last sample, or digital silence, upsets
    pocketsphinx's start-up noise and cepstral-mean estimates and it drops the first and last words.
    On 10 eSpeak NG Harvard sentences with the corpus LM, WER is 0.34 on the bare signal, 0.24 with
    zero padding, 0.0 with this. The noise is relative to the peak (gain does not matter) and seeded
    (the same audio always gives the same transcript).
    """
    audio = to_analysis_rate(samples, sample_rate)
    padding = int(ASR_PADDING_S * ANALYSIS_RATE)
    padded = np.pad(audio, padding).astype(np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    noise_std = (peak if peak > 0 else 1.0) * 10.0 ** (ASR_NOISE_DB / 20.0)
    noise = np.random.default_rng(ASR_NOISE_SEED).standard_normal(padded.size).astype(np.float32)
    return padded + noise_std * noise


class Transcriber:
    """One pocketsphinx decoder with the bundled en-us acoustic model.

    `Transcriber()` uses the bundled generic language model and full dictionary;
    `Transcriber(lm_path, dict_path)` a model written by `build_corpus_lm`.
    """

    def __init__(self, lm_path: str | Path | None = None, dict_path: str | Path | None = None):
        from pocketsphinx import Decoder

        options = {"loglevel": "FATAL"}
        if lm_path is not None:
            options["lm"] = str(lm_path)
        if dict_path is not None:
            options["dict"] = str(dict_path)
        self.decoder = Decoder(**options)

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """Best hypothesis for a mono signal (float in [-1, 1] or int16) at any rate; fillers are
        dropped, words are lowercase and space separated, `""` when nothing was recognised."""
        pcm = (np.clip(prepare_for_asr(samples, sample_rate), -1.0, 1.0) * 32767.0).astype("<i2")
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def corpus_transcriber(sentences: Iterable[str], directory: str | Path | None = None):
    """(Transcriber with a corpus trigram model, LanguageModelInfo). Without `directory` the model
    files go to a temporary folder that lives as long as the process."""
    if directory is None:
        directory = tempfile.mkdtemp(prefix="corpus_lm_")
    info = build_corpus_lm(sentences, directory)
    return Transcriber(info.path, Path(directory) / "corpus_lm.dict"), info


@dataclass
class ErrorRates:
    wer: float | None  # None when the normalised reference is empty
    cer: float | None
    reference_words: int
    reference_chars: int
    word_errors: int
    char_errors: int


def error_rates(reference: str, hypothesis: str) -> ErrorRates:
    """Word and character error rates after `normalize_text` on both sides. Characters include
    the single spaces between words."""
    reference, hypothesis = normalize_text(reference), normalize_text(hypothesis)
    if not reference:
        return ErrorRates(None, None, 0, 0, 0, 0)
    words = jiwer.process_words(reference, hypothesis)
    chars = jiwer.process_characters(reference, hypothesis)
    word_errors = words.substitutions + words.deletions + words.insertions
    char_errors = chars.substitutions + chars.deletions + chars.insertions
    n_words, n_chars = len(reference.split()), len(reference)
    return ErrorRates(
        word_errors / n_words, char_errors / n_chars, n_words, n_chars, word_errors, char_errors
    )


def pooled_rates(rates: Iterable[ErrorRates]) -> tuple[float | None, float | None]:
    """Corpus-level WER and CER: all errors over all reference words (characters), so long
    utterances weigh more than short ones, as in `jiwer.wer(list, list)`."""
    rates = [r for r in rates if r.wer is not None]
    words = sum(r.reference_words for r in rates)
    chars = sum(r.reference_chars for r in rates)
    if words == 0:
        return None, None
    return sum(r.word_errors for r in rates) / words, sum(r.char_errors for r in rates) / chars
