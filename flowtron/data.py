"""Training data as the original's `Data` / `DataCollate`: `wav_path|text|speaker_id` filelists, mels computed
on the fly, Flowtron's text front end with random ARPAbet, and the beta-binomial attention prior.

Audio goes through the shared reader (`filelists.audio`, 16-bit and float WAVs both at their own scale),
text through the shared Flowtron front end (`shared_text`: `flowtron_cleaners`, CMUdict ARPAbet with
probability p_arpabet per word). `check_data` runs the checks of `python -m filelists.validate --model
flowtron`; train.py runs it on both lists before the first step.

Differences from the original, on purpose: every filelist problem names its file and line; the ARPAbet
draws come from a generator seeded by (seed, epoch, item) instead of Python's global `random` (seeded once
with 1234), so a resumed run draws what an uninterrupted one would; two-field lists (no speaker) are
speaker 0; priors are computed in memory (vectorised), never cached on disk.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import betabinom
from torch.utils.data import Dataset

from filelists.checks import Report, check_training_data
from filelists.parse import Utterance, read_filelist
from shared_text import cmudict
from shared_text.arpabet import add_random_arpabet
from shared_text.cleaners import clean_text
from shared_text.front_ends import front_end
from shared_text.sequence import cleaned_text_to_sequence

from .audio import TacotronSTFT, load_audio
from .config import DataConfig


class DataError(ValueError):
    """Training data that cannot be used; the message names the filelist line and the audio file."""


# ---------------------------------------------------------------------------------------------------
# The attention prior


def beta_binomial_prior(text_length: int, mel_length: int, scaling_factor: float = 1.0) -> np.ndarray:
    """(mel_length, text_length) float64: row i (1-based) is the BetaBinomial(n=P-1, a=s*i, b=s*(M+1-i)) pmf
    over text positions 0..P-1. Each row sums to 1 and peaks near (P-1) i / (M+1): a soft diagonal. A
    larger s narrows the band."""
    rows = np.arange(1, mel_length + 1, dtype=np.float64)[:, None]
    positions = np.arange(text_length)[None, :]
    a, b = scaling_factor * rows, scaling_factor * (mel_length + 1 - rows)
    return betabinom(text_length - 1, a, b).pmf(positions)


@functools.lru_cache(maxsize=4096)
def _cached_prior(text_length: int, mel_length: int, scaling_factor: float, threshold: float) -> torch.Tensor:
    prior = torch.from_numpy(beta_binomial_prior(text_length, mel_length, scaling_factor))
    if threshold > 0:
        prior = prior.masked_fill(prior < threshold, 0.0)
    return prior.float()


def attention_prior(text_length: int, mel_length: int, scaling_factor: float = 1.0, threshold: float = 0.0):
    """(mel_length, text_length) float32 prior, values below `threshold` zeroed (attn_prior_threshold)."""
    return _cached_prior(text_length, mel_length, float(scaling_factor), float(threshold))


# ---------------------------------------------------------------------------------------------------
# Text


def use_cmudict(path: str) -> None:
    """data_config.cmudict_path: "" keeps the shared dictionary; a path switches every lookup to it."""
    if path:
        if not Path(path).is_file():
            raise DataError(f"data_config.cmudict_path {path!r}: no such file")
        cmudict.set_cmudict_path(path)


def text_to_ids(text: str, config: DataConfig, rng: random.Random | None = None) -> torch.Tensor:
    """Flowtron's `Data.get_text`: flowtron_cleaners on the whole text, then each word becomes its CMUdict
    ARPAbet with probability p_arpabet (one draw per word from `rng`; heteronyms and, unless
    keep_ambiguous, words with several pronunciations never), then the 185-symbol table. Characters
    outside the table are dropped, as the original does (the data checks refuse them beforehand)."""
    cleaned = clean_text(text, config.text_cleaners)
    with_arpabet = add_random_arpabet(
        cleaned, config.p_arpabet, rng or random.Random(0), config.keep_ambiguous
    )
    return torch.tensor(cleaned_text_to_sequence(with_arpabet, "flowtron", "drop"), dtype=torch.long)


def check_data(
    filelists: list[str | Path],
    config: DataConfig,
    dataset_path: str | Path | None = None,
    read_samples: bool = True,
    progress: bool | None = None,
) -> Report:
    """Every problem of every line of `filelists`, by the checks `python -m filelists.validate --model
    flowtron` runs: audio missing, truncated, at another rate, not mono, NaN, silent, shorter than one
    STFT window; text the Flowtron front end cannot encode or that leaves nothing to speak; bad speaker
    fields. `filelists.checks.require_clean(report)` raises one DataCheckError listing them."""
    return check_training_data(
        filelists,
        dataset_path,
        front_end=front_end("flowtron", list(config.text_cleaners)),
        sampling_rate=config.sampling_rate,
        min_samples=config.filter_length,
        hop_length=config.hop_length,
        read_samples=read_samples,
        progress=progress,
    )


# ---------------------------------------------------------------------------------------------------
# Speakers


def speaker_table(utterances: list[Utterance]) -> dict[int, int]:
    """Raw speaker id -> embedding row. As the original: the distinct ids sorted as the strings written in
    the list ("10" before "2"), which is the order published multi-speaker models were trained with.
    Two-field lists are one speaker, 0."""
    raw = {u.speaker_id if u.speaker_id is not None else 0 for u in utterances}
    return {speaker: row for row, speaker in enumerate(sorted(raw, key=str))}


# ---------------------------------------------------------------------------------------------------
# Dataset and collate


class Item(NamedTuple):
    mel: torch.Tensor  # (n_mel, T)
    speaker_id: torch.Tensor  # (1,) long, the embedding row
    text: torch.Tensor  # (T_text,) long
    attn_prior: torch.Tensor | None  # (T, T_text) float32


class Data(Dataset):
    """Items of a `wav_path|text|speaker_id` (or `wav_path|text`) filelist.

    speaker_ids: the raw id -> row table to use (validation takes the training list's; None: built from
    this list). seed: the ARPAbet draws of item i in epoch e come from Random((seed, e, i)).
    """

    def __init__(
        self,
        filelist: str | Path,
        config: DataConfig,
        n_mel_channels: int = 80,
        dataset_path: str | Path | None = None,
        speaker_ids: dict[int, int] | None = None,
        seed: int = 1234,
    ):
        self.utterances = read_filelist(filelist, dataset_path)
        self.config, self.seed, self.epoch = config, seed, 0
        self.speaker_ids = speaker_table(self.utterances) if speaker_ids is None else speaker_ids
        unknown = sorted(
            {u.speaker_id for u in self.utterances if (u.speaker_id or 0) not in self.speaker_ids}
        )
        if unknown:
            first = next(u for u in self.utterances if u.speaker_id in unknown)
            raise DataError(
                f"{first.source}:{first.line_number}: speaker id(s) {unknown} are not among the training "
                f"list's speakers {sorted(self.speaker_ids)}"
            )
        use_cmudict(config.cmudict_path)
        self.stft = TacotronSTFT(
            config.filter_length,
            config.hop_length,
            config.win_length,
            n_mel_channels,
            config.sampling_rate,
            config.mel_fmin,
            config.mel_fmax,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utterances)

    def get_mel(self, path: str | Path) -> torch.Tensor:
        audio = load_audio(path, self.config.sampling_rate, self.config.max_wav_value)
        return self.stft.mel_spectrogram(audio[None])[0]

    def get_speaker_id(self, speaker_id: int | None) -> torch.Tensor:
        return torch.tensor([self.speaker_ids[speaker_id if speaker_id is not None else 0]])

    def __getitem__(self, index: int) -> Item:
        utterance = self.utterances[index]
        try:
            mel = self.get_mel(utterance.audio_path)
            rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
            text = text_to_ids(utterance.text, self.config, rng)
        except ValueError as error:  # AudioError and the like: name the line, also from a worker
            raise DataError(f"{utterance.source}:{utterance.line_number}: {error}") from None
        if len(text) == 0:
            raise DataError(
                f"{utterance.source}:{utterance.line_number}: nothing to speak in {utterance.text!r}"
            )
        prior = None
        if self.config.use_attn_prior:
            prior = attention_prior(
                len(text), mel.shape[1], self.config.betab_scaling_factor, self.config.attn_prior_threshold
            )
        return Item(mel, self.get_speaker_id(utterance.speaker_id), text, prior)


class Batch(NamedTuple):
    mel: torch.Tensor  # (B, n_mel, T_max), zero-padded
    speaker_ids: torch.Tensor  # (B,)
    text: torch.Tensor  # (B, T_text_max), zero-padded; rows sorted by text length, descending
    in_lens: torch.Tensor  # (B,)
    out_lens: torch.Tensor  # (B,)
    gate_target: torch.Tensor  # (B, T_max): 1 from frame L-1 on
    attn_prior: torch.Tensor | None  # (B, T_max, T_text_max), zero-padded

    def to(self, device: torch.device) -> Batch:
        return Batch(*(None if t is None else t.to(device, non_blocking=True) for t in self))


def collate(items: list[Item]) -> Batch:
    """The original's `DataCollate` (n_frames_per_step 1): sorted by text length, descending."""
    in_lens, order = torch.sort(torch.tensor([len(item.text) for item in items]), descending=True)
    n_mel, max_frames = items[0].mel.shape[0], max(item.mel.shape[1] for item in items)
    text = torch.zeros(len(items), int(in_lens[0]), dtype=torch.long)
    mel = torch.zeros(len(items), n_mel, max_frames)
    gate = torch.zeros(len(items), max_frames)
    out_lens = torch.zeros(len(items), dtype=torch.long)
    speakers = torch.zeros(len(items), dtype=torch.long)
    with_prior = items[0].attn_prior is not None
    prior = torch.zeros(len(items), max_frames, int(in_lens[0])) if with_prior else None
    for row, index in enumerate(order.tolist()):
        item = items[index]
        frames = item.mel.shape[1]
        text[row, : len(item.text)] = item.text
        mel[row, :, :frames] = item.mel
        gate[row, frames - 1 :] = 1
        out_lens[row] = frames
        speakers[row] = item.speaker_id
        if with_prior:
            prior[row, :frames, : len(item.text)] = item.attn_prior
    return Batch(mel, speakers, text, in_lens, out_lens, gate, prior)
