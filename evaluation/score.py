"""Score a folder of synthesized WAVs against a filelist: ASR WER/CER (two LMs), MCD, RTF.

Each `DIR/<stem>.wav` is matched to the filelist entry whose audio file has the same stem
(`LJ001-0001.wav` <-> `wavs/LJ001-0001.wav|text`); the entry's text is the ASR reference and its
audio the MCD reference. Results go to `scores.json` (per utterance and aggregate, with the
definitions used) and `scores.md` (one Markdown table row, see `evaluation.report`).
"""

import datetime
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evaluation import mcd as mcd_metric
from evaluation import rtf as rtf_metric
from evaluation.asr import ErrorRates, Transcriber, corpus_transcriber, error_rates, pooled_rates
from evaluation.audio import AudioReadError, read_audio
from evaluation.report import aggregate_table
from evaluation.text import normalize_text
from filelists.parse import FilelistError, Utterance, read_filelist

SCORES_JSON, SCORES_MD = "scores.json", "scores.md"
LM_SUBDIR = "corpus_lm"

DEFINITIONS = {
    "wer": "word error rate, pooled: (substitutions + deletions + insertions) summed over utterances / "
    "reference words summed over utterances (jiwer alignment)",
    "cer": "character error rate, pooled the same way over characters (single spaces between words count)",
    "text_normalisation": "evaluation.text.normalize_text on reference and hypothesis: ASCII, lowercase, "
    "simple numbers as words, hyphens split, punctuation and ASR fillers removed",
    "asr": "pocketsphinx 5 with its bundled en-us acoustic model at 16 kHz (audio resampled)",
    "generic_lm": "the en-us trigram LM bundled with pocketsphinx, full CMU dictionary",
    "corpus_lm": "interpolated Witten-Bell trigram of ALL filelist sentences (test sentences included), "
    "dictionary cut to its words; possessives of dictionary words get rule-made pronunciations, other words "
    "missing from the CMU dictionary become <unk> and always count as errors (listed in corpus_lm.oov_words)",
    "asr_input": "16 kHz, 0.25 s padding at both ends, seeded Gaussian noise 60 dB below the peak",
    "mcd": mcd_metric.DEFINITION,
    "rtf": rtf_metric.DEFINITION,
    "unreadable": "synthesized WAVs that cannot be read or hold NaN/infinite samples are listed (counts."
    "unreadable, and utterances[].error) and left out of every metric, so compare counts.scored too",
}


class EvaluationError(RuntimeError):
    """Something the user must fix (folder, filelist, audio); the message says what and where."""


@dataclass
class Match:
    wav: Path
    utterance: Utterance

    @property
    def id(self) -> str:
        return self.wav.stem


def _examples(names, n: int = 3) -> str:
    names = list(names)
    shown = ", ".join(names[:n])
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def match_wavs(wav_dir: Path, utterances: list[Utterance], filelist: Path) -> tuple[list[Match], list[str]]:
    """(matches in filelist order, stems of WAVs with no filelist entry). Raises EvaluationError for
    an empty folder, a filelist naming one stem twice, or no match at all."""
    if not wav_dir.is_dir():
        raise EvaluationError(f"--wavs {wav_dir} is not a folder")
    wavs = {path.stem: path for path in sorted(wav_dir.glob("*.wav"))}
    if not wavs:
        raise EvaluationError(f"no .wav files in {wav_dir}")
    by_stem: dict[str, Utterance] = {}
    for utterance in utterances:
        stem = utterance.audio_path.stem
        if stem in by_stem:
            raise EvaluationError(
                f"{filelist}: lines {by_stem[stem].line_number} and {utterance.line_number} both name audio "
                f"stem {stem!r}; WAVs are matched by stem, so stems must be unique"
            )
        by_stem[stem] = utterance
    matches = [Match(wavs[stem], utterance) for stem, utterance in by_stem.items() if stem in wavs]
    if not matches:
        raise EvaluationError(
            f"none of the {len(wavs)} WAVs in {wav_dir} matches an entry of {filelist} by file stem; "
            f"WAV stems: {_examples(wavs)}; filelist stems: {_examples(by_stem)}"
        )
    return matches, sorted(set(wavs) - set(by_stem))


def _read(path: Path, role: str, hint: str = "") -> tuple[np.ndarray, int]:
    try:
        return read_audio(path)
    except AudioReadError as error:
        raise EvaluationError(f"{role}: {error}{hint}") from None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values))


def _score_utterance(
    match: Match, filelist: Path, transcribers: dict[str, Transcriber], mcd: bool, timings: dict | None
) -> tuple[dict, dict[str, ErrorRates]]:
    """The scores.json record of one utterance, and its error counts per language model. A synthesized
    WAV that cannot be read (or holds NaN) gives a record with its `error` and no scores."""
    record = {
        "id": match.id,
        "text": match.utterance.text,
        "reference": normalize_text(match.utterance.text),
        "wav": str(match.wav),
        "reference_wav": str(match.utterance.audio_path),
    }
    try:
        samples, sample_rate = read_audio(match.wav)
    except AudioReadError as error:
        return {**record, "error": str(error)}, {}
    duration = len(samples) / sample_rate
    record["duration_s"] = duration
    rates = {}
    for name, transcriber in transcribers.items():
        hypothesis = transcriber.transcribe(samples, sample_rate)
        rates[name] = error_rates(match.utterance.text, hypothesis)
        record[name] = {"hypothesis": normalize_text(hypothesis), **asdict(rates[name])}
    if mcd:
        reference, reference_rate = _read(
            match.utterance.audio_path,
            f"reference audio for {match.id} ({filelist}:{match.utterance.line_number})",
            " (pass --dataset-path to the folder the filelist's paths are relative to, or --no-mcd)",
        )
        record["mcd_db"] = mcd_metric.mel_cepstral_distortion(samples, sample_rate, reference, reference_rate)
    if timings is not None and match.id in timings:
        record["synthesis_s"] = timings[match.id]
        record["rtf"] = rtf_metric.real_time_factor(timings[match.id], duration)
    return record, rates


def score_folder(
    wav_dir: str | Path,
    filelist: str | Path,
    dataset_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    asr: bool = True,
    mcd: bool = True,
    max_utterances: int | None = None,
    label: str | None = None,
    progress: bool = True,
) -> dict:
    """Score `wav_dir` against `filelist`, write `scores.json` and `scores.md` into `out_dir`
    (default: `wav_dir`) and return the scores.json content.

    dataset_path: root for the filelist's relative audio paths (default: the filelist's folder).
    max_utterances: score only the first N matches, in filelist order.
    """
    wav_dir, filelist = Path(wav_dir), Path(filelist)
    out_dir = wav_dir if out_dir is None else Path(out_dir)
    try:
        utterances = read_filelist(filelist, dataset_path)
    except FilelistError as error:
        raise EvaluationError(str(error)) from None
    if not utterances:
        raise EvaluationError(f"{filelist}: the filelist has no entries")
    matches, unmatched = match_wavs(wav_dir, utterances, filelist)
    scored = matches if max_utterances is None else matches[:max_utterances]
    timings = rtf_metric.load_timings(wav_dir)

    transcribers: dict[str, Transcriber] = {}
    lm_info = None
    if asr:
        transcribers["generic_lm"] = Transcriber()
        transcribers["corpus_lm"], lm_info = corpus_transcriber(
            (u.text for u in utterances), out_dir / LM_SUBDIR
        )

    all_records, rates = [], {name: [] for name in transcribers}
    for match in tqdm(scored, desc=f"scoring {label or wav_dir.name}", unit="utt", disable=not progress):
        record, utterance_rates = _score_utterance(match, filelist, transcribers, mcd, timings)
        all_records.append(record)
        for name, rate in utterance_rates.items():
            rates[name].append(rate)
    records = [record for record in all_records if "error" not in record]
    unreadable = [record for record in all_records if "error" in record]
    if not records:
        raise EvaluationError(
            f"none of the {len(unreadable)} matched WAVs can be scored; the first: {unreadable[0]['error']}"
        )

    wer_generic, cer_generic = pooled_rates(rates.get("generic_lm", []))
    wer_corpus, cer_corpus = pooled_rates(rates.get("corpus_lm", []))
    mcds = [record["mcd_db"] for record in records if "mcd_db" in record]
    mcd_mean, mcd_std = _mean_std(mcds)
    timed = [record for record in records if "rtf" in record]
    audio_seconds = sum(record["duration_s"] for record in records)
    timed_audio_seconds = sum(record["duration_s"] for record in timed)
    synthesis_seconds = sum(record["synthesis_s"] for record in timed)
    scores = {
        "label": label or wav_dir.name,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wav_dir": str(wav_dir),
        "filelist": str(filelist),
        "dataset_path": None if dataset_path is None else str(dataset_path),
        "aggregate": {
            "wer_generic_lm": wer_generic,
            "cer_generic_lm": cer_generic,
            "wer_corpus_lm": wer_corpus,
            "cer_corpus_lm": cer_corpus,
            "mcd_mean_db": mcd_mean,
            "mcd_std_db": mcd_std,
            "rtf": rtf_metric.real_time_factor(synthesis_seconds, timed_audio_seconds) if timed else None,
            "audio_seconds": audio_seconds,
            "synthesis_seconds": synthesis_seconds if timed else None,
        },
        "counts": {
            "wavs_in_folder": len(matches) + len(unmatched),
            "filelist_entries": len(utterances),
            "matched": len(matches),
            "scored": len(records),
            "unreadable": len(unreadable),
            "unreadable_examples": [record["error"] for record in unreadable[:10]],
            "unmatched_wavs": len(unmatched),
            "unmatched_wav_examples": unmatched[:10],
            "asr_scored": len(rates.get("corpus_lm", [])),
            "mcd_scored": len(mcds),
            "timed": len(timed),
            "timings_file": timings is not None,
        },
        "corpus_lm": None
        if lm_info is None
        else {
            "arpa": lm_info.path,
            "order": lm_info.order,
            "sentences": lm_info.sentences,
            "tokens": lm_info.tokens,
            "vocabulary": lm_info.vocabulary,
            "ngrams": {str(n): count for n, count in lm_info.ngram_counts.items()},
            "oov_words": lm_info.oov_words,
        },
        "definitions": DEFINITIONS,
        "utterances": all_records,
    }
    write_scores(scores, out_dir)
    return scores


def write_scores(scores: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `scores.json` and `scores.md` into `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / SCORES_JSON, out_dir / SCORES_MD
    json_path.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    counts = scores["counts"]
    lines = [
        f"# Scores: {scores['label']}",
        "",
        aggregate_table([scores]),
        "",
        f"{counts['scored']} of {counts['matched']} matched WAVs scored ({counts['wavs_in_folder']} in "
        f"`{scores['wav_dir']}`, {counts['filelist_entries']} filelist entries in `{scores['filelist']}`).",
    ]
    if counts.get("unreadable"):
        lines.append(
            f"**{counts['unreadable']} WAV(s) could not be scored** (unreadable or NaN; left out of every "
            f"metric): "
            + "; ".join(counts["unreadable_examples"])
            + ("; ..." if counts["unreadable"] > 10 else "")
        )
    if scores["corpus_lm"] and scores["corpus_lm"]["oov_words"]:
        lines.append(
            f"Words missing from the pronunciation dictionary (always errors): "
            f"{', '.join(scores['corpus_lm']['oov_words'])}."
        )
    lines += ["", "Definitions:", ""]
    lines += [f"- **{name}**: {text}" for name, text in scores["definitions"].items()]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path
