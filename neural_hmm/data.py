"""Text and audio pipeline of the original `TextMelLoader` / `TextMelCollate`: CMUdict phonetisation,
`english_cleaners`, the Neural-HMM symbol table, on-the-fly log-mels and global normalisation.

Text goes through the shared Neural-HMM front end and audio through the shared reader
(`filelists.audio.read_audio`); `check_data` runs the same checks as `filelists.validate --model
neural_hmm`, so a list that validates also trains."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch.utils.data import Dataset

from filelists.checks import DataCheckError, Report, check_training_data, require_clean
from filelists.parse import read_filelist
from shared_text.front_ends import FrontEnd, front_end

from .audio import TacotronSTFT, load_audio
from .hparams import HParams


@functools.cache
def _front_end(text_cleaners: tuple[str, ...], phonetise: bool) -> FrontEnd:
    return front_end("neural_hmm", text_cleaners, phonetise=phonetise)


def text_to_ids(text: str, text_cleaners=("english_cleaners",), phonetise: bool = True) -> torch.Tensor:
    """'Hello world.' -> (11,) long: `{HH AH0 L OW1} {W ER1 L D} .` in the 150-symbol table.

    The shared Neural-HMM front end (`shared_text.front_ends`), in its lenient form: the ids the original
    computes, even none or a lone space (the data checks and synthesis refuse those texts beforehand).
    UnknownSymbolError for a symbol outside the table.
    """
    return torch.tensor(_front_end(tuple(text_cleaners), phonetise).encode(text), dtype=torch.long)


class DataError(ValueError):
    """Training data that cannot be used; the message names the filelist line(s) and the audio file."""


def check_data(
    filelists: list[str | Path],
    hparams: HParams,
    dataset_path: str | Path | None = None,
    read_samples: bool = True,
    progress: bool | None = None,
    min_samples: int | None = None,
) -> Report:
    """Every problem of every line of `filelists` for training with `hparams`, by the checks that
    `python -m filelists.validate --model neural_hmm` runs (`filelists.checks`): the audio (missing,
    truncated, wrong rate, not mono, NaN, silent, shorter than filter_length, fewer mel frames than the
    text has HMM states) and the text through this front end. `filelists.checks.require_clean(report)`
    raises one DataCheckError listing them. read_samples=False reads the audio headers only; min_samples
    (default filter_length) is the shortest clip accepted."""
    return check_training_data(
        filelists,
        dataset_path,
        front_end=_front_end(tuple(hparams.text_cleaners), hparams.phonetise),
        sampling_rate=hparams.sampling_rate,
        min_samples=hparams.filter_length if min_samples is None else min_samples,
        hop_length=hparams.hop_length,
        frames_per_id=hparams.state_per_phone,
        read_samples=read_samples,
        progress=progress,
    )


class TextMelDataset(Dataset):
    """(text ids (L,), log-mel (n_mel, T)) pairs from a `wav|text` filelist.

    normalise=False gives raw log-mels (for `generate_data_properties`); True applies the global
    (x - normaliser_mean) / normaliser_std of the hparams, before any padding, as the original does.
    The original shuffles the list once with Python's `random.seed(seed)`; that is the data loader's job.
    check=True runs `check_data` on the list's text and audio headers first and raises one DataError
    listing every bad line (training, having checked every sample already, may pass False).
    """

    def __init__(
        self,
        filelist: str | Path,
        hparams: HParams,
        dataset_path: str | Path | None = None,
        normalise: bool = True,
        check: bool = True,
    ):
        self.utterances = read_filelist(filelist, dataset_path)
        self.hparams = hparams
        self.normalise = normalise
        if check:
            # Only what the STFT cannot take at all (its reflect padding needs more than half a window);
            # check_data, which training runs first, asks for a whole window.
            shortest = hparams.filter_length // 2 + 1
            try:
                report = check_data(
                    [filelist], hparams, dataset_path, read_samples=False, min_samples=shortest
                )
                require_clean(report, quiet=True)
            except DataCheckError as error:
                raise DataError(str(error)) from None
        self.stft = TacotronSTFT(
            hparams.filter_length,
            hparams.hop_length,
            hparams.win_length,
            hparams.n_mel_channels,
            hparams.sampling_rate,
            hparams.mel_fmin,
            hparams.mel_fmax,
        )

    def __len__(self) -> int:
        return len(self.utterances)

    def get_mel(self, path: str | Path) -> torch.Tensor:
        """(n_mel, T) log-mel of one WAV; AudioError (naming the file) when it cannot be used."""
        audio = load_audio(path, self.hparams.sampling_rate, self.hparams.max_wav_value)
        mel = self.stft.mel_spectrogram(audio.unsqueeze(0))[0]
        if self.normalise:
            mel = (mel - self.hparams.normaliser_mean) / self.hparams.normaliser_std
        return mel

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        utterance = self.utterances[index]
        try:
            ids = text_to_ids(utterance.text, self.hparams.text_cleaners, self.hparams.phonetise)
            return ids, self.get_mel(utterance.audio_path)
        except ValueError as error:  # AudioError, UnknownSymbolError: name the line, also from a worker
            raise DataError(f"{utterance.source}:{utterance.line_number}: {error}") from None


def collate_text_mel(batch):
    """Zero-pad and sort by text length, descending (`TextMelCollate`).

    Returns text (B, L_max), text_lengths (B,), mels (B, n_mel, T_max), mel_lengths (B,).
    """
    text_lengths, order = torch.sort(torch.tensor([len(ids) for ids, _ in batch]), descending=True)
    text = torch.zeros(len(batch), int(text_lengths[0]), dtype=torch.long)
    n_mel, max_frames = batch[0][1].shape[0], max(mel.shape[1] for _, mel in batch)
    mels = torch.zeros(len(batch), n_mel, max_frames)
    mel_lengths = torch.zeros(len(batch), dtype=torch.long)
    for row, index in enumerate(order.tolist()):
        ids, mel = batch[index]
        text[row, : len(ids)] = ids
        mels[row, :, : mel.shape[1]] = mel
        mel_lengths[row] = mel.shape[1]
    return text, text_lengths, mels, mel_lengths
