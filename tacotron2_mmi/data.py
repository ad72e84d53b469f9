"""Training data (the original `data_utils.py`): `wav_path|text` filelists -> (ids, CTC ids, log-mel), and
the collate that pads them and adds the stop targets and the CTC targets.

Text goes through the shared front end of this model (`shared_text.front_end("tacotron2_mmi")`:
english_cleaners, the 148-symbol table, ARPAbet in `{...}`), whose `ctc_ids` gives the CTC target: the ids
without the symbols outside the 137-symbol CTC alphabet (space, punctuation, `-`), renumbered in it.
Audio is read by `filelists.audio.read_audio` only (16-bit PCM exactly as the original, int16 / 32768;
other widths at their own full scale; a wrong sampling rate is an error, not a resample).
`check_data` runs the checks of `python -m filelists.validate --model tacotron2_mmi`, which include that a
clip has at least as many mel frames as its CTC target needs; train.py runs it before the first step.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import Dataset

from filelists.audio import AudioError, read_audio
from filelists.checks import Report, check_training_data
from filelists.parse import read_filelist
from shared_text import EmptyTextError, UnknownSymbolError
from shared_text.front_ends import FrontEnd, front_end

from .audio import TacotronSTFT
from .hparams import HParams
from .infra import UserError


class DataError(ValueError):
    """A filelist entry that cannot be used; the message starts with `filelist:line:`."""


@functools.cache
def text_front_end(text_cleaners: tuple[str, ...] = ("english_cleaners",)) -> FrontEnd:
    return front_end("tacotron2_mmi", list(text_cleaners))


def text_to_ids(text: str, text_cleaners=("english_cleaners",)) -> tuple[list[int], list[int]]:
    """'Hi {HH AH0 L OW1}!' -> (input ids, CTC target ids). UnknownSymbolError / EmptyTextError for a text
    with a symbol outside the table or nothing to speak."""
    encode = text_front_end(tuple(text_cleaners))
    ids = encode(text)
    return ids, encode.ctc_ids(ids)


def check_data(
    filelists: list[str | Path],
    hparams: HParams,
    dataset_path: str | Path | None = None,
    read_samples: bool = True,
    progress: bool | None = None,
) -> Report:
    """Every problem of every line of `filelists` (audio missing, truncated, at another rate, not mono,
    NaN, silent, shorter than filter_length, with fewer mel frames than its CTC target needs; text with
    symbols outside the table or nothing to speak), as `filelists.validate --model tacotron2_mmi` reports
    them. `filelists.checks.require_clean(report)` raises one DataCheckError listing them."""
    return check_training_data(
        filelists,
        dataset_path,
        front_end=text_front_end(tuple(hparams.text_cleaners)),
        sampling_rate=hparams.sampling_rate,
        min_samples=hparams.filter_length,
        hop_length=hparams.hop_length,
        read_samples=read_samples,
        progress=progress,
    )


def require_default_filelists(hparams: HParams) -> None:
    """UserError naming the flags to pass when a filelist is still hparams.py's default (NVIDIA's LJ Speech
    list, relative to the working directory) and is not there."""
    defaults = (HParams.training_files, HParams.validation_files)
    for filelist in (hparams.training_files, hparams.validation_files):
        if filelist in defaults and not Path(filelist).is_file():
            raise UserError(
                f"{filelist} (the hparams.py default, NVIDIA's LJ Speech list) not found: pass "
                "--training-files and --validation-files (LJ Speech lists: python -m filelists.ljspeech)"
            )


def mel_stft(hparams: HParams) -> TacotronSTFT:
    return TacotronSTFT(
        hparams.filter_length,
        hparams.hop_length,
        hparams.win_length,
        hparams.n_mel_channels,
        hparams.sampling_rate,
        hparams.mel_fmin,
        hparams.mel_fmax,
    )


class TextMelDataset(Dataset):
    """Items (ids (L,) int64, CTC ids (L',) int64, log-mel (n_mel, T) float32) of a filelist; the text is
    encoded when the dataset is built, so a bad line fails at once, naming it. (The original also shuffles
    the list once with random.seed(1234); the order here is the sampler's, by seed and epoch.)"""

    def __init__(self, filelist: str | Path, hparams: HParams, dataset_path: str | Path | None = None):
        self.utterances = read_filelist(filelist, dataset_path)
        self.sampling_rate = hparams.sampling_rate
        self.scale = 32768.0 / hparams.max_wav_value  # max_wav_value != 32768 rescales as int16 / it would
        self.stft = mel_stft(hparams)
        self.texts = []
        for utterance in self.utterances:
            try:
                ids, ctc_ids = text_to_ids(utterance.text, hparams.text_cleaners)
            except (UnknownSymbolError, EmptyTextError) as error:
                raise DataError(f"{utterance.source}:{utterance.line_number}: {error}") from None
            self.texts.append((torch.tensor(ids, dtype=torch.long), torch.tensor(ctc_ids, dtype=torch.long)))

    def __len__(self) -> int:
        return len(self.utterances)

    def get_mel(self, index: int) -> torch.Tensor:
        """(n_mel, T) log-mel of utterance `index`; DataError naming the line if its audio is unusable."""
        utterance = self.utterances[index]
        try:
            samples, _ = read_audio(utterance.audio_path, self.sampling_rate)
        except AudioError as error:
            raise DataError(f"{utterance.source}:{utterance.line_number}: {error}") from None
        audio = torch.from_numpy(samples) * self.scale
        where = f"{utterance.source}:{utterance.line_number}: {utterance.audio_path}"
        if audio.numel() <= self.stft.filter_length // 2:
            raise DataError(
                f"{where} has {audio.numel()} samples, too short for the STFT (more than "
                f"{self.stft.filter_length // 2} needed)"
            )
        try:
            return self.stft.mel_spectrogram(audio.unsqueeze(0))[0]
        except ValueError as error:  # samples beyond [-1, 1] after the max_wav_value scaling
            raise DataError(f"{where}: {error}") from None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, ctc_ids = self.texts[index]
        return ids, ctc_ids, self.get_mel(index)


class TextMelBatch(NamedTuple):
    """A padded batch, in the original collate's order (sorted by text length, longest first)."""

    text_padded: torch.Tensor  # (B, L) int64, 0 past each length
    input_lengths: torch.Tensor  # (B,) int64
    mel_padded: torch.Tensor  # (B, n_mel, T) float32, 0 past each length
    gate_padded: torch.Tensor  # (B, T) float32, 1 from the last real frame on
    output_lengths: torch.Tensor  # (B,) int64 mel frames (not sorted)
    ctc_text_padded: torch.Tensor  # (B, L') int64 CTC targets, 0 past each length
    ctc_text_lengths: torch.Tensor  # (B,) int64

    def to(self, device: torch.device) -> TextMelBatch:
        return TextMelBatch(*(t.to(device, non_blocking=True) for t in self))


def collate_text_mel(batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> TextMelBatch:
    """Pad `TextMelDataset` items into a TextMelBatch (the original `TextMelCollate`, one frame per step)."""
    input_lengths, order = torch.sort(torch.tensor([len(ids) for ids, _, _ in batch]), descending=True)
    size = len(batch)
    text_padded = torch.zeros(size, int(input_lengths[0]), dtype=torch.long)
    ctc_text_lengths = torch.tensor([len(batch[i][1]) for i in order.tolist()], dtype=torch.long)
    ctc_text_padded = torch.zeros(size, max(1, int(ctc_text_lengths.max())), dtype=torch.long)
    n_mel, max_frames = batch[0][2].size(0), max(mel.size(1) for _, _, mel in batch)
    mel_padded = torch.zeros(size, n_mel, max_frames)
    gate_padded = torch.zeros(size, max_frames)
    output_lengths = torch.zeros(size, dtype=torch.long)
    for row, index in enumerate(order.tolist()):
        ids, ctc_ids, mel = batch[index]
        text_padded[row, : len(ids)] = ids
        ctc_text_padded[row, : len(ctc_ids)] = ctc_ids
        mel_padded[row, :, : mel.size(1)] = mel
        gate_padded[row, mel.size(1) - 1 :] = 1
        output_lengths[row] = mel.size(1)
    return TextMelBatch(
        text_padded, input_lengths, mel_padded, gate_padded, output_lengths, ctc_text_padded, ctc_text_lengths
    )
