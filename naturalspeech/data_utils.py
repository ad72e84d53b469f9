"""Data (the original's utils/data_utils.py): text, audio and duration triples, their collate, the
length-bucketing sampler, and the checks training runs before its first step.

Text goes through the shared NaturalSpeech front end (`shared_text.front_end("naturalspeech")`:
english_cleaners2, eSpeak NG IPA, the VITS symbol table); with `cleaned_text` (the original's setting)
the filelist holds the phonemes already (`preprocess.py` writes them) and no cleaner runs. A blank (id 0)
goes between symbols when `add_blank`. Audio is read only with `filelists.audio.read_audio`.

Durations, when used, are the original's `durations/<wav file name>.npy`: one int64 per symbol of the
blank-interspersed sequence, summing to the spectrogram frames (samples // hop). A file that disagrees
with its text or audio is reported before training (it is the original's issue #27, from
re-phonemising with another eSpeak version).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from filelists.audio import AudioError, audio_info, read_audio
from filelists.checks import ERROR, WARNING, Problem, Report, check_training_data
from filelists.parse import Utterance, read_filelist
from shared_text.front_ends import FrontEnd, front_end

from .commons import intersperse
from .config import Config, DataConfig
from .infra import UserError, cpu_workers
from .mel_processing import spectrogram_torch


class DataError(ValueError):
    """Training data that cannot be used; the message names the filelist line and the file."""


@functools.cache
def _front_end(cleaners: tuple[str, ...]) -> FrontEnd:
    return front_end("naturalspeech", cleaners)


def text_front_end(data: DataConfig) -> FrontEnd:
    """The front end a filelist's text goes through: none of the cleaners for phonemised (`.cleaned`)
    lists, the configured ones (english_cleaners2: eSpeak) for plain text."""
    return _front_end(() if data.cleaned_text else tuple(data.text_cleaners))


def text_to_ids(text: str, data: DataConfig, strict: bool = True) -> list[int]:
    """Symbol ids of one filelist text (blank-interspersed with add_blank). strict: refuse a text with
    nothing to speak (EmptyTextError); UnknownSymbolError for a symbol outside the table."""
    encode = text_front_end(data)
    ids = encode(text) if strict else encode.encode(text)
    return intersperse(ids, 0) if data.add_blank else list(ids)


def durations_path(durations_dir: str | Path, audio_path: Path) -> Path:
    """The original's naming: durations/<wav file name>.npy, e.g. durations/LJ001-0001.wav.npy."""
    return Path(durations_dir) / f"{audio_path.name}.npy"


def read_durations(path: Path) -> np.ndarray:
    """(K,) int64 frames per symbol; DataError naming the file when it is missing or not such an array."""
    if not path.is_file():
        raise DataError(f"{path}: durations file not found")
    try:
        durations = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(f"{path}: not a durations array ({error})") from None
    if durations.ndim != 1 or not np.issubdtype(durations.dtype, np.integer) or (durations < 0).any():
        raise DataError(
            f"{path}: expected a 1-D array of non-negative integers, got {durations.dtype} {durations.shape}"
        )
    return durations.astype(np.int64)


def duration_problem(durations: np.ndarray, n_ids: int, n_frames: int) -> str | None:
    if len(durations) != n_ids:
        return (
            f"{len(durations)} durations for {n_ids} symbols of the text (with blanks): the durations were "
            "made from another phonemisation of this line (re-phonemising with another eSpeak version "
            "changes it; keep the .cleaned lists the durations came with, or train with use_mas)"
        )
    if int(durations.sum()) != n_frames:
        return (
            f"durations sum to {int(durations.sum())} frames, but the audio has {n_frames} (samples // hop)"
        )
    return None


class Item(NamedTuple):
    ids: torch.Tensor  # (K,) long
    spec: torch.Tensor  # (n_fft // 2 + 1, T) linear magnitude
    audio: torch.Tensor  # (1, T * hop) float in [-1, 1]
    durations: torch.Tensor | None  # (K,) long, or None (alignment search)


class TextAudioDurationDataset(Dataset):
    """(ids, linear spectrogram, audio, durations) of each usable line of a `wav|text` filelist.

    Lines whose text has fewer than min_text_len or more than max_text_len characters are left out, as
    the original's loader does (`dropped` counts them). The audio is cut to whole hops (T * hop samples),
    the span the spectrogram describes. durations_dir None: no durations (alignment search)."""

    def __init__(self, filelist, data: DataConfig, dataset_path=None, durations_dir=None):
        self.data, self.durations_dir = data, durations_dir
        utterances = read_filelist(filelist, dataset_path)
        self.utterances = [u for u in utterances if data.min_text_len <= len(u.text) <= data.max_text_len]
        self.dropped = len(utterances) - len(self.utterances)
        self._frames: list[int] | None = None

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def frames(self) -> list[int]:
        """Spectrogram frames of every utterance (from the audio headers), for bucketing."""
        if self._frames is None:
            hop = self.data.hop_length
            self._frames = [audio_info(u.audio_path).n_samples // hop for u in self.utterances]
        return self._frames

    def where(self, index: int) -> str:
        utterance = self.utterances[index]
        return f"{utterance.source}:{utterance.line_number}"

    def __getitem__(self, index: int) -> Item:
        utterance = self.utterances[index]
        try:
            ids = torch.tensor(text_to_ids(utterance.text, self.data), dtype=torch.long)
            samples, _ = read_audio(utterance.audio_path, self.data.sampling_rate)
            n_frames = len(samples) // self.data.hop_length
            audio = torch.from_numpy(samples[: n_frames * self.data.hop_length]).unsqueeze(0)
            spec = spectrogram_torch(
                torch.from_numpy(samples).unsqueeze(0),
                self.data.filter_length,
                self.data.hop_length,
                self.data.win_length,
            )[0]
            durations = None
            if self.durations_dir is not None:
                path = durations_path(self.durations_dir, utterance.audio_path)
                found = read_durations(path)
                problem = duration_problem(found, len(ids), spec.size(1))
                if problem:
                    raise DataError(f"{path}: {problem}")
                durations = torch.from_numpy(found)
        except (ValueError, DataError) as error:  # AudioError, UnknownSymbolError, ...: name the line
            raise DataError(f"{self.where(index)}: {error}") from None
        return Item(ids, spec, audio, durations)


class Batch(NamedTuple):
    x: torch.Tensor  # (B, K) long, 0-padded
    x_lengths: torch.Tensor  # (B,)
    spec: torch.Tensor  # (B, n_fft // 2 + 1, T)
    spec_lengths: torch.Tensor  # (B,)
    y: torch.Tensor  # (B, 1, T * hop)
    y_lengths: torch.Tensor  # (B,)
    durations: torch.Tensor | None  # (B, K) float, 0-padded

    def to(self, device: torch.device) -> Batch:
        return Batch(*(None if t is None else t.to(device, non_blocking=True) for t in self))


def collate(items: list[Item]) -> Batch:
    """Zero-pad and order by spectrogram length, longest first (the original's collate)."""
    order = sorted(range(len(items)), key=lambda i: -items[i].spec.size(1))
    items = [items[i] for i in order]
    batch = len(items)
    max_ids = max(len(item.ids) for item in items)
    max_frames = max(item.spec.size(1) for item in items)
    max_samples = max(item.audio.size(1) for item in items)
    x = torch.zeros(batch, max_ids, dtype=torch.long)
    spec = torch.zeros(batch, items[0].spec.size(0), max_frames)
    y = torch.zeros(batch, 1, max_samples)
    durations = None if items[0].durations is None else torch.zeros(batch, max_ids)
    for row, item in enumerate(items):
        x[row, : len(item.ids)] = item.ids
        spec[row, :, : item.spec.size(1)] = item.spec
        y[row, :, : item.audio.size(1)] = item.audio
        if durations is not None:
            durations[row, : len(item.durations)] = item.durations.float()
    lengths = [
        torch.tensor([f(item) for item in items])
        for f in (lambda item: len(item.ids), lambda item: item.spec.size(1), lambda item: item.audio.size(1))
    ]
    return Batch(x, lengths[0], spec, lengths[1], y, lengths[2], durations)


class BucketBatches:
    """The original's DistributedBucketSampler as a function of the epoch: utterances grouped by length
    (boundaries[i] < frames <= boundaries[i + 1]; others left out), each bucket filled up to a multiple of
    world_size * batch_size by repeating its utterances, shuffled by (seed, epoch), dealt to the ranks,
    cut into batches, and the batches shuffled. Every rank gets the same number of batches."""

    def __init__(
        self, frames: list[int], batch_size: int, boundaries: list[int], world_size=1, rank=0, seed=0
    ):
        self.batch_size, self.world_size, self.rank, self.seed = batch_size, world_size, rank, seed
        self.buckets: list[list[int]] = [[] for _ in range(len(boundaries) - 1)]
        self.left_out = 0
        for index, length in enumerate(frames):
            bucket = next(
                (i for i in range(len(boundaries) - 1) if boundaries[i] < length <= boundaries[i + 1]), None
            )
            if bucket is None:
                self.left_out += 1
            else:
                self.buckets[bucket].append(index)
        self.buckets = [bucket for bucket in self.buckets if bucket]

    def epoch(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        per_step = self.world_size * self.batch_size
        batches = []
        for bucket in self.buckets:
            order = torch.randperm(len(bucket), generator=generator).tolist()
            missing = (per_step - len(order) % per_step) % per_step
            order = (order * (1 + missing // len(order)))[: len(order) + missing] if missing else order
            mine = order[self.rank :: self.world_size]
            batches += [
                [bucket[i] for i in mine[j : j + self.batch_size]]
                for j in range(0, len(mine), self.batch_size)
            ]
        shuffle = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffle]


def epoch_loader(dataset, batches: list[list[int]], next_batch: int, seed: int, epoch: int, **options):
    """A DataLoader over an epoch's batches from `next_batch` on (resumable mid-epoch: the batches are
    fixed by (seed, epoch); an own generator keeps loader creation off the global RNG)."""
    generator = torch.Generator().manual_seed(seed + epoch)
    return DataLoader(
        dataset, batch_sampler=batches[next_batch:], generator=generator, collate_fn=collate, **options
    )


class Data(NamedTuple):
    train_set: TextAudioDurationDataset
    batches: BucketBatches
    val_set: TextAudioDurationDataset
    options: dict


def build_data(config: Config, dataset_path, durations_dir, ddp) -> Data:
    """Training and validation sets, and this rank's batches (`ddp`: infra.Distributed)."""
    train_set = TextAudioDurationDataset(config.data.training_files, config.data, dataset_path, durations_dir)
    val_set = TextAudioDurationDataset(config.data.validation_files, config.data, dataset_path, durations_dir)
    batches = BucketBatches(
        train_set.frames,
        config.train.batch_size,
        config.train.bucket_boundaries,
        ddp.world_size,
        ddp.rank,
        config.train.seed,
    )
    if not batches.epoch(0):
        raise UserError(
            f"{config.data.training_files}: no batch of {config.train.batch_size} utterances within "
            f"train.bucket_boundaries {config.train.bucket_boundaries} frames ({batches.left_out} outside "
            "them)"
        )
    if ddp.is_main and (batches.left_out or train_set.dropped):
        print(
            f"{batches.left_out + train_set.dropped} training utterance(s) left out (length limits)",
            file=sys.stderr,
        )
    options = dict(num_workers=cpu_workers(config.train.num_workers), pin_memory=ddp.device.type == "cuda")
    return Data(train_set, batches, val_set, options)


# ---------------------------------------------------------------------------------------------------
# Checks before training


def check_data(
    filelists, config: Config, dataset_path=None, durations_dir=None, read_samples: bool = True, progress=None
) -> Report:
    """Every problem of every line, by the checks `python -m filelists.validate --model naturalspeech`
    runs (audio readable, complete, at the rate, mono, not silent, at least one STFT window; text
    speakable through this front end), plus, with durations_dir, each line's durations file: present,
    one entry per symbol of the text, summing to the frames. `filelists.checks.require_clean(report)`
    raises one DataCheckError listing them."""
    data = config.data
    encode = text_front_end(data)
    report = check_training_data(
        filelists,
        dataset_path,
        front_end=encode,
        sampling_rate=data.sampling_rate,
        min_samples=data.filter_length,
        hop_length=data.hop_length,
        read_samples=read_samples,
        progress=progress,
    )
    problems = list(report.problems)
    if durations_dir is not None and not Path(durations_dir).is_dir():
        problems.append(Problem(Path(durations_dir), 0, "durations folder not found (or pass --use-mas)"))
    elif durations_dir is not None:
        bad_lines = {(p.source, p.line_number) for p in report.errors}
        for filelist in filelists:
            try:
                utterances = read_filelist(filelist, dataset_path)
            except ValueError:
                continue  # already reported
            for utterance in utterances:
                if (utterance.source, utterance.line_number) in bad_lines:
                    continue
                problem = _duration_check(utterance, data, durations_dir)
                if problem:
                    problems.append(Problem(utterance.source, utterance.line_number, problem, ERROR))
    long_texts = 0
    for filelist in filelists:
        try:
            long_texts += sum(
                1 for u in read_filelist(filelist, dataset_path) if len(u.text) > data.max_text_len
            )
        except ValueError:
            continue
    if long_texts:
        problems.append(
            Problem(
                Path(filelists[0]),
                0,
                f"{long_texts} line(s) with more than data.max_text_len = "
                f"{data.max_text_len} characters are left out, as in the original",
                WARNING,
            )
        )
    return report._replace(problems=problems)


def _duration_check(utterance: Utterance, data: DataConfig, durations_dir) -> str | None:
    path = durations_path(durations_dir, utterance.audio_path)
    try:
        durations = read_durations(path)
        n_ids = len(text_to_ids(utterance.text, data, strict=False))
        n_frames = audio_info(utterance.audio_path).n_samples // data.hop_length
    except (DataError, AudioError) as error:
        return str(error)
    except ValueError:
        return None  # the text check reported it
    problem = duration_problem(durations, n_ids, n_frames)
    return f"{path}: {problem}" if problem else None


def require_filelists(config: Config) -> None:
    for name in ("training_files", "validation_files"):
        path = Path(getattr(config.data, name))
        if not path.is_file():
            raise UserError(
                f"data.{name} {path} not found: make the lists with `python -m filelists.ljspeech` and "
                "`python preprocess.py`, or pass --training-files / --validation-files"
            )
