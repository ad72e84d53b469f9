"""The data checks that training and `filelists.validate` share: a list that validates also trains.

Training calls, before its first step::

    report = check_training_data(
        [training_files, validation_files], dataset_path,
        front_end=front_end("neural_hmm", hparams.text_cleaners, phonetise=hparams.phonetise),
        sampling_rate=hparams.sampling_rate, min_samples=hparams.filter_length,
        hop_length=hparams.hop_length, frames_per_id=hparams.state_per_phone,
    )
    require_clean(report)  # raises DataCheckError listing every bad line; prints the warnings

What is checked, per line (every problem of every line, not just the first):
- the line: 2 or 3 `|`-separated fields, one layout per list, non-empty text, an integer speaker id, no
  audio file in two lists (a clip repeated within one list is a warning: it only trains more often);
- the text, through the model's own front end (`shared_text.front_ends`): characters the symbol set
  lacks after cleaning (for Neural-HMM after CMUdict phonetisation, so `$3.50` is caught), nothing
  speakable left (an emoji-only line); a warning when non-ASCII characters are read as their unidecode
  transliteration (Chinese as pinyin, emoji as nothing);
- the audio (`filelists.audio`): missing, unreadable, truncated, no samples, wrong sampling rate, more
  than one channel, NaN/infinite samples, float samples beyond [-1, 1], all zero or near silence (peak
  below `silence_peak`), shorter than one STFT window (`min_samples`), and (with `frames_per_id`) too
  few mel frames for the text (Neural-HMM's left-to-right HMM needs a frame per state). 8-bit, 24-bit,
  32-bit and float files are read right (`filelists.audio.read_audio`), so they are accepted.

Reading every sample (needed for silence and NaN) costs about the time to read the corpus from disk;
`read_samples=False` checks headers only (seconds for LJSpeech).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from filelists.audio import (
    AudioError,
    AudioInfo,
    audio_info,
    decode_samples,
    header_problems,
    sample_problems,
)
from filelists.parse import FilelistError, Utterance, iter_lines, parse_line

# Peak amplitude below which a clip counts as silent: -60 dBFS, 33 steps of 16-bit PCM. Speech is far
# louder: the quietest of the 300 demo-corpus clips peaks at 0.54 (-5 dBFS), their median at 0.65.
SILENCE_PEAK = 1e-3
MAX_LISTED = 50
# Above this many utterances a progress bar is shown (unless progress=False).
PROGRESS_FROM = 500

ERROR, WARNING = "error", "warning"


class ModelData(NamedTuple):
    """The data settings of a model's default configuration that the checks depend on."""

    sampling_rate: int
    filter_length: int  # samples of one STFT window: the shortest usable clip
    hop_length: int
    frames_per_id: int  # mel frames each text symbol needs at least (0: no such constraint)


# From each original's default config: NVIDIA/tacotron2 and NGC hparams, Neural-HMM hparams.py (2
# states per phone), Flowtron config.json, VITS ljs_base.json (NaturalSpeech keeps VITS's audio).
MODEL_DATA: dict[str, ModelData] = {
    "tacotron2": ModelData(22050, 1024, 256, 0),
    "tacotron2_mmi": ModelData(22050, 1024, 256, 0),
    "neural_hmm": ModelData(22050, 1024, 256, 2),
    "flowtron": ModelData(22050, 1024, 256, 0),
    "vits": ModelData(22050, 1024, 256, 0),
    "naturalspeech": ModelData(22050, 1024, 256, 0),
}


class Problem(NamedTuple):
    source: Path
    line_number: int  # 0 for a problem with the file as a whole
    message: str
    severity: str = ERROR  # "error" stops training; "warning" is reported only

    def __str__(self) -> str:
        where = f"{self.source}:{self.line_number}" if self.line_number else str(self.source)
        return f"{where}: warning: {self.message}" if self.severity == WARNING else f"{where}: {self.message}"


class Report(NamedTuple):
    problems: list[Problem]  # errors and warnings, in list and line order
    n_lists: int
    n_lines: int  # non-blank lines read
    n_utterances: int  # lines that parsed
    total_seconds: float  # audio duration of the readable files

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity != WARNING]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == WARNING]

    def summary(self) -> str:
        hours = self.total_seconds / 3600
        head = (
            f"{self.n_lists} filelist(s), {self.n_lines} lines, {self.n_utterances} parsed, "
            f"{self.total_seconds:.1f} s of audio ({hours:.2f} h)"
        )
        errors, warnings = self.errors, self.warnings
        tail = f", {len(warnings)} warning(s)" if warnings else ""
        if not errors:
            return f"OK: {head}, no problems{tail}"
        lines_with_problems = len({(p.source, p.line_number) for p in errors})
        return f"FAILED: {head}; {len(errors)} problem(s) on {lines_with_problems} line(s){tail}"


def _listing(problems: Sequence[Problem], max_listed: int) -> list[str]:
    lines = [f"  {problem}" for problem in problems[:max_listed]]
    if len(problems) > max_listed:
        lines.append(f"  ... and {len(problems) - max_listed} more")
    return lines


class DataCheckError(ValueError):
    """The training data has problems; the message lists them (the first `max_listed`), one per line."""

    def __init__(self, report: Report, max_listed: int = MAX_LISTED):
        self.report = report
        errors = report.errors
        lines = [f"the training data has {len(errors)} problem(s); fix them before training:"]
        lines += _listing(errors, max_listed)
        if len(errors) > max_listed:
            lines.append("  (python -m filelists.validate --model MODEL LIST ... lists every one)")
        super().__init__("\n".join(lines))


def require_clean(
    report: Report, max_listed: int = MAX_LISTED, quiet: bool = False, stream: TextIO | None = None
) -> None:
    """Raise DataCheckError when `report` has errors. Its warnings (at most `max_listed`) are written to
    `stream` (default: sys.stderr at call time) unless `quiet`."""
    warnings = report.warnings
    if warnings and not quiet:
        stream = sys.stderr if stream is None else stream
        print(f"{len(warnings)} warning(s) about the training data:", file=stream)
        print("\n".join(_listing(warnings, max_listed)), file=stream)
    if report.errors:
        raise DataCheckError(report, max_listed)


# ---------------------------------------------------------------------------------------------------
# One audio file


class AudioCheck(NamedTuple):
    problems: list[str]  # each names the file
    info: AudioInfo | None  # None when the header could not be read


def check_audio_file(
    path: str | os.PathLike,
    sampling_rate: int | None = None,
    min_samples: int = 0,
    silence_peak: float = SILENCE_PEAK,
    read_samples: bool = True,
) -> AudioCheck:
    """Every problem of one audio file for training (see the module docstring); each message names
    `path`. read_samples=False checks the header only (no silence, NaN or range check)."""
    path = Path(path)
    try:
        info = audio_info(path)
    except AudioError as error:
        return AudioCheck([str(error)], None)
    problems = [f"{path}: {problem}" for problem in header_problems(info, sampling_rate)]
    if 0 < info.n_samples < min_samples:
        problems.append(
            f"{path}: {info.n_samples} samples ({1000 * info.seconds:.0f} ms), shorter than one STFT window "
            f"({min_samples} samples)"
        )
    if read_samples and info.channels == 1 and info.n_samples > 0:
        try:
            samples = decode_samples(path, info)
        except AudioError as error:
            return AudioCheck([*problems, str(error)], info)
        found = sample_problems(samples, info)
        problems += [f"{path}: {problem}" for problem in found]
        if not found:
            problems += _silence_problems(path, samples, silence_peak)
    return AudioCheck(problems, info)


def _silence_problems(path: Path, samples: np.ndarray, silence_peak: float) -> list[str]:
    peak = float(np.abs(samples).max())
    if peak == 0:
        return [f"{path}: every sample is zero (silence)"]
    if peak < silence_peak:
        return [
            f"{path}: near silence: the peak amplitude {peak:.2g} ({20 * np.log10(peak):.0f} dBFS) is below "
            f"{silence_peak:g} ({20 * np.log10(silence_peak):.0f} dBFS); is this the right file?"
        ]
    return []


# ---------------------------------------------------------------------------------------------------
# One text


class TextCheck(NamedTuple):
    errors: list[str]
    warnings: list[str]
    ids: list[int] | None  # None when the text cannot be encoded


def check_text(text: str, front_end: Callable[[str], list[int]]) -> TextCheck:
    """Problems of `text` under `front_end` (a `shared_text.front_ends.FrontEnd`, or any callable
    text -> ids that raises UnknownSymbolError / EmptyTextError)."""
    from shared_text.front_ends import EmptyTextError, FrontEnd
    from shared_text.sequence import UnknownSymbolError

    try:
        ids = list(front_end(text))
    except UnknownSymbolError as error:
        symbols = [error.symbol]
        if isinstance(front_end, FrontEnd):
            symbols = sorted({symbol for symbol, _ in front_end.unknown_symbols(text)}) or symbols
        listed = " ".join(repr(_readable(symbol)) for symbol in symbols)
        return TextCheck(
            [f"characters not in symbol set {error.symbol_set!r} after cleaning: {listed}"], [], None
        )
    except EmptyTextError as error:
        return TextCheck(
            [f"nothing to speak after the {error.front_end} front end: {text!r} becomes {error.cleaned!r}"],
            [],
            None,
        )
    if not ids:
        return TextCheck([f"the text {text!r} is empty after the front end"], [], None)
    warnings = []  # only for texts that pass: an error says enough
    if isinstance(front_end, FrontEnd):
        transliterated = front_end.transliterations(text)
        if transliterated:
            shown = ", ".join(f"{char!r} -> {reading.strip()!r}" for char, reading in transliterated[:8])
            more = f" (and {len(transliterated) - 8} more)" if len(transliterated) > 8 else ""
            warnings.append(f"non-ASCII characters are read as their transliteration: {shown}{more}")
    return TextCheck([], warnings, ids)


def _readable(symbol: str) -> str:
    # ARPAbet phones are "@PHONE" inside the tables; users write them as {PHONE}.
    return "{" + symbol[1:] + "}" if len(symbol) > 1 and symbol.startswith("@") else symbol


def frames_needed(ids: Sequence[int], front_end, frames_per_id: int) -> int:
    """Mel frames the text needs at least: `frames_per_id` per symbol (Neural-HMM's states), and for a
    CTC front end (Tacotron2-MMI) one per CTC target plus one blank between repeated targets."""
    needed = frames_per_id * len(ids)
    if getattr(front_end, "ctc_symbol_set", None) is not None:
        target = front_end.ctc_ids(ids)
        repeats = sum(1 for first, second in zip(target, target[1:]) if first == second)
        needed = max(needed, len(target) + repeats)
    return needed


# ---------------------------------------------------------------------------------------------------
# Whole lists


def _resolve_front_end(front_end):
    if front_end is None or callable(front_end):
        return front_end
    from shared_text.front_ends import front_end as named_front_end

    return named_front_end(front_end)


def _progress(iterable, total: int, progress: bool | None, description: str):
    if progress is False or (progress is None and total < PROGRESS_FROM):
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=description, unit="file", file=sys.stderr)


def check_utterances(
    utterances: Sequence[Utterance],
    front_end: Callable[[str], list[int]] | str | None = None,
    sampling_rate: int | None = 22050,
    min_samples: int = 0,
    hop_length: int = 256,
    frames_per_id: int = 0,
    silence_peak: float = SILENCE_PEAK,
    check_audio: bool = True,
    read_samples: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> tuple[list[Problem], float]:
    """(problems of every utterance, in order; seconds of readable audio). See `check_training_data`."""
    front_end = _resolve_front_end(front_end)
    problems: dict[int, list[Problem]] = {index: [] for index in range(len(utterances))}
    total_seconds = 0.0

    def check(utterance: Utterance) -> AudioCheck:
        return check_audio_file(utterance.audio_path, sampling_rate, min_samples, silence_peak, read_samples)

    workers = max(1, workers or min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        # The audio is read in the pool (libsndfile and numpy release the GIL) while the text is checked
        # here: eSpeak (english_cleaners2) must not be called from several threads.
        audio_results = pool.map(check, utterances) if check_audio else iter(())
        ids: dict[int, list[int]] = {}
        for index, utterance in enumerate(utterances if front_end is not None else ()):
            result = check_text(utterance.text, front_end)
            where = (utterance.source, utterance.line_number)
            problems[index] += [Problem(*where, message) for message in result.errors]
            problems[index] += [Problem(*where, message, WARNING) for message in result.warnings]
            if result.ids is not None:
                ids[index] = result.ids
        results = _progress(audio_results, len(utterances), progress, "checking audio")
        for index, result in enumerate(results):
            utterance = utterances[index]
            where = (utterance.source, utterance.line_number)
            problems[index] += [Problem(*where, message) for message in result.problems]
            if result.info is None:
                continue
            total_seconds += result.info.seconds
            if index in ids and not result.problems:
                frames = 1 + result.info.n_samples // hop_length
                needed = frames_needed(ids[index], front_end, frames_per_id)
                if frames < needed:
                    problems[index].append(
                        Problem(
                            *where,
                            f"{utterance.audio_path}: {frames} mel frames ({result.info.seconds:.2f} s) are "
                            f"too few for the text: its {len(ids[index])} symbols need at least {needed}",
                        )
                    )
    ordered = [problem for index in range(len(utterances)) for problem in problems[index]]
    return ordered, total_seconds


def check_training_data(
    filelists: Sequence[str | os.PathLike],
    dataset_path: str | os.PathLike | None = None,
    front_end: Callable[[str], list[int]] | str | None = "tacotron2",
    sampling_rate: int | None = 22050,
    min_samples: int = 1024,
    hop_length: int = 256,
    frames_per_id: int = 0,
    silence_peak: float = SILENCE_PEAK,
    check_audio: bool = True,
    read_samples: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> Report:
    """Check every line of every filelist; nothing stops at the first problem.

    dataset_path: root for relative audio paths (default: each filelist's own folder, as in training).
    front_end: a model name (`shared_text.front_ends.FRONT_END_NAMES`), a FrontEnd or any callable
    text -> ids; None skips the text checks. sampling_rate: required rate in Hz (None: any).
    min_samples: shortest clip (one STFT window, `filter_length`). hop_length, frames_per_id: with
    frames_per_id > 0, a clip must give at least frames_per_id mel frames per symbol.
    check_audio=False skips the audio; read_samples=False reads headers only (fast: no silence or NaN
    check). workers: threads reading audio (default min(4, cores)). progress: a tqdm bar on stderr
    (None: only for lists longer than 500 lines).
    """
    if sampling_rate is not None and sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive or None, got {sampling_rate}")
    if min_samples < 0 or hop_length <= 0 or frames_per_id < 0:
        raise ValueError(
            f"need min_samples >= 0, hop_length > 0, frames_per_id >= 0; got {min_samples}, {hop_length}, "
            f"{frames_per_id}"
        )
    utterances: list[Utterance] = []
    # Every problem goes under its (list, line), line 0 for the list itself; insertion order is the
    # order of the lists and their lines.
    line_problems: dict[tuple[Path, int], list[Problem]] = {}
    first_seen: dict[Path, Utterance] = {}
    n_lines = 0
    # The same list given twice (a quick experiment validating on its training list) is checked once, so
    # its lines are not reported as duplicates of themselves.
    distinct: list[Path] = []
    for name in map(Path, filelists):
        if all(name.resolve() != other.resolve() for other in distinct):
            distinct.append(name)
    for filelist in distinct:
        layout_line: tuple[int, int] | None = None  # (field count, line) of the first parsed line
        try:
            lines = list(iter_lines(filelist))
        except FilelistError as error:
            line_problems.setdefault((filelist, error.line_number), []).append(
                Problem(filelist, error.line_number, error.problem)
            )
            continue
        if not lines:
            line_problems.setdefault((filelist, 0), []).append(
                Problem(filelist, 0, "filelist has no utterances")
            )
        for line_number, line in lines:
            n_lines += 1
            found = line_problems.setdefault((filelist, line_number), [])
            try:
                utterance = parse_line(line, filelist, line_number, dataset_path)
            except FilelistError as error:
                found.append(Problem(filelist, line_number, error.problem))
                continue
            utterances.append(utterance)
            n_fields = 2 if utterance.speaker_id is None else 3
            if layout_line is None:
                layout_line = (n_fields, line_number)
            elif n_fields != layout_line[0]:
                found.append(
                    Problem(
                        filelist,
                        line_number,
                        f"{n_fields} fields but line {layout_line[1]} has {layout_line[0]}; use one layout",
                    )
                )
            key = utterance.audio_path.resolve()
            if key in first_seen:
                first = first_seen[key]
                first_at = f"{first.source}:{first.line_number}"
                where = f"duplicate audio path {utterance.raw_audio_path} (first listed at {first_at})"
                if first.source == filelist:
                    # Repeating a clip within a list only trains on it more often (an overfitting test
                    # does it on purpose), so it is reported but does not stop training.
                    found.append(
                        Problem(filelist, line_number, f"{where}; it is used twice per epoch", WARNING)
                    )
                else:
                    # The same clip in two lists: validation or test numbers would be measured on
                    # training data.
                    found.append(Problem(filelist, line_number, f"{where}; the lists overlap"))
            else:
                first_seen[key] = utterance
    checked, total_seconds = check_utterances(
        utterances,
        front_end,
        sampling_rate=sampling_rate,
        min_samples=min_samples,
        hop_length=hop_length,
        frames_per_id=frames_per_id,
        silence_peak=silence_peak,
        check_audio=check_audio,
        read_samples=read_samples,
        workers=workers,
        progress=progress,
    )
    for problem in checked:
        line_problems[(problem.source, problem.line_number)].append(problem)
    problems = [problem for found in line_problems.values() for problem in found]
    return Report(problems, len(filelists), n_lines, len(utterances), total_seconds)


def check_model_data(
    filelists: Sequence[str | os.PathLike],
    model: str,
    dataset_path: str | os.PathLike | None = None,
    **overrides,
) -> Report:
    """`check_training_data` with the front end and data settings of `model`'s default configuration
    (MODEL_DATA); keyword `overrides` (e.g. sampling_rate=16000, front_end=...) replace them."""
    if model not in MODEL_DATA:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODEL_DATA)}")
    data = MODEL_DATA[model]
    settings = dict(
        front_end=model,
        sampling_rate=data.sampling_rate,
        min_samples=data.filter_length,
        hop_length=data.hop_length,
        frames_per_id=data.frames_per_id,
    )
    settings.update(overrides)
    return check_training_data(filelists, dataset_path, **settings)
