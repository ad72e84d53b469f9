"""Text and audio pipeline of the original `TextMelLoader` / `TextMelCollate`: CMUdict phonetisation,
`english_cleaners`, the Neural-HMM symbol table, on-the-fly log-mels and global normalisation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from filelists.parse import read_filelist
from shared_text.arpabet import phonetise as phonetise_text
from shared_text.sequence import text_to_sequence

from .audio import TacotronSTFT, load_wav_to_torch
from .hparams import HParams


def text_to_ids(text: str, text_cleaners=("english_cleaners",), phonetise: bool = True) -> torch.Tensor:
    """'Hello world.' -> (11,) long: `{HH AH0 L OW1} {W ER1 L D} .` in the 150-symbol table."""
    if phonetise:
        text = phonetise_text(text)
    return torch.tensor(
        text_to_sequence(text, list(text_cleaners), symbol_set="neural_hmm"), dtype=torch.long
    )


class TextMelDataset(Dataset):
    """(text ids (L,), log-mel (n_mel, T)) pairs from a `wav|text` filelist.

    normalise=False gives raw log-mels (for `generate_data_properties`); True applies the global
    (x - normaliser_mean) / normaliser_std of the hparams, before any padding, as the original does.
    The original shuffles the list once with Python's `random.seed(seed)`; that is the data loader's job.
    """

    def __init__(
        self,
        filelist: str | Path,
        hparams: HParams,
        dataset_path: str | Path | None = None,
        normalise: bool = True,
    ):
        self.utterances = read_filelist(filelist, dataset_path)
        self.hparams = hparams
        self.normalise = normalise
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
        audio, sampling_rate = load_wav_to_torch(path)
        if sampling_rate != self.hparams.sampling_rate:
            raise ValueError(
                f"{path}: sampling rate {sampling_rate} Hz, expected {self.hparams.sampling_rate} Hz"
            )
        mel = self.stft.mel_spectrogram((audio / self.hparams.max_wav_value).unsqueeze(0))[0]
        if self.normalise:
            mel = (mel - self.hparams.normaliser_mean) / self.hparams.normaliser_std
        return mel

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        utterance = self.utterances[index]
        ids = text_to_ids(utterance.text, self.hparams.text_cleaners, self.hparams.phonetise)
        return ids, self.get_mel(utterance.audio_path)


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
