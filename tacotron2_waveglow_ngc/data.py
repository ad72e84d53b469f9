"""Training data: text/mel pairs for Tacotron 2, audio segments for WaveGlow.

Filelists are NVIDIA's `wav_path|text` lines (`filelists.parse`); relative paths are resolved against
`dataset_path` (DLE `--dataset-path`). Audio is read by the shared reader (`filelists.audio.read_audio`):
16-bit PCM exactly as the originals read it (int16 / 32768), other PCM widths and float WAVs at their
own full scale, no resampling, so a file at another rate is an error, not a silent resample.
`max_wav_value` stays a flag for checkpoint compatibility: a value other than 32768 scales the samples
by 32768 / max_wav_value, which is what the original's `int16 / max_wav_value` gives on 16-bit files.

Every problem is reported with the filelist file and line (and the audio path). `check_data` runs the
checks of `python -m filelists.validate --model tacotron2` (all samples read: silence, NaN, ...); the
datasets run them on the text and the audio headers when built, listing every bad line at once, and a
file that fails later, in a DataLoader worker, is still named with its line.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from filelists.audio import AudioError, read_audio
from filelists.checks import DataCheckError, Report, check_training_data, require_clean
from filelists.parse import Utterance, read_filelist
from shared_text import EmptyTextError, UnknownSymbolError, front_end

from .audio import TacotronSTFT


class DataError(ValueError):
    """A filelist entry that cannot be used; the message starts with `filelist:line:` (one line per
    problem when several lines are bad)."""


def _where(utterance: Utterance) -> str:
    return f"{utterance.source}:{utterance.line_number}"


def check_data(
    filelists: list[str | Path],
    dataset_path: str | Path | None,
    text_cleaners: list[str] | None = None,
    sampling_rate: int = 22050,
    filter_length: int = 1024,
    read_samples: bool = True,
    progress: bool | None = None,
    min_samples: int | None = None,
) -> Report:
    """Every problem of every line of `filelists`: the audio (missing, truncated, wrong rate, not mono,
    NaN, silent, shorter than filter_length) and, with `text_cleaners` (Tacotron 2; None for WaveGlow,
    which ignores the text), the text through the Tacotron 2 front end. The checks of
    `filelists.validate --model tacotron2`; `filelists.checks.require_clean(report)` raises one
    DataCheckError listing them. read_samples=False reads the audio headers only; min_samples (default
    filter_length) is the shortest clip accepted."""
    return check_training_data(
        filelists,
        dataset_path,
        front_end=None if text_cleaners is None else front_end("tacotron2", text_cleaners),
        sampling_rate=sampling_rate,
        min_samples=filter_length if min_samples is None else min_samples,
        read_samples=read_samples,
        progress=progress,
    )


def _stft_limit(filter_length: int) -> int:
    # The datasets' own check refuses only what the STFT cannot take at all: its reflect padding needs
    # more samples than half a window. check_data (and filelists.validate) ask for a whole window.
    return filter_length // 2 + 1


def _require_clean(report: Report) -> None:
    try:
        require_clean(report, quiet=True)
    except DataCheckError as error:
        raise DataError(str(error)) from None


def load_wav(utterance: Utterance, sampling_rate: int, max_wav_value: float = 32768.0) -> torch.Tensor:
    """The WAV of `utterance` as float32 (N,) in [-1, 1]: for 16-bit PCM exactly int16 / max_wav_value.
    DataError naming the line and the file when it cannot be used."""
    if not max_wav_value > 0:
        raise DataError(f"max_wav_value must be positive, got {max_wav_value}")
    try:
        samples, _ = read_audio(utterance.audio_path, sampling_rate)
    except AudioError as error:
        raise DataError(f"{_where(utterance)}: {error}") from None
    audio = torch.from_numpy(samples)
    return audio if max_wav_value == 32768.0 else audio * (32768.0 / max_wav_value)


def text_ids(utterance: Utterance, text_cleaners: list[str]) -> torch.Tensor:
    """Symbol ids (T_in,) int64 of the utterance's text; DataError names the line on a bad character or
    a text with nothing to speak (emoji only, punctuation only)."""
    try:
        ids = front_end("tacotron2", text_cleaners)(utterance.text)
    except (UnknownSymbolError, EmptyTextError) as error:
        raise DataError(f"{_where(utterance)}: {error}") from None
    return torch.tensor(ids, dtype=torch.long)


class TextMelDataset(Dataset):
    """Items `(text_ids (T_in,) int64, mel (n_mel, T_out) float32)` of a filelist.

    load_mel_from_disk (DLE `--load-mel-from-disk`): the filelist's first field names a `.pt` file
    holding the (n_mel, T_out) mel; otherwise the mel is computed from the WAV on the fly with
    `TacotronSTFT` (natural-log mel, floor 1e-5).
    """

    def __init__(
        self,
        filelist: str | Path,
        dataset_path: str | Path,
        text_cleaners: list[str],
        sampling_rate: int = 22050,
        max_wav_value: float = 32768.0,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = 8000.0,
        load_mel_from_disk: bool = False,
    ):
        # Fail before training, naming every bad line: text, and audio headers (or mel files). Training
        # runs check_data on every sample first; this keeps the dataset safe on its own.
        if load_mel_from_disk:
            encode = front_end("tacotron2", text_cleaners)
            report = check_training_data([filelist], dataset_path, encode, check_audio=False)
        else:
            report = check_data(
                [filelist],
                dataset_path,
                text_cleaners,
                sampling_rate,
                filter_length,
                read_samples=False,
                min_samples=_stft_limit(filter_length),
            )
        _require_clean(report)
        self.utterances = read_filelist(filelist, dataset_path)
        self.sampling_rate = sampling_rate
        self.max_wav_value = max_wav_value
        self.n_mel_channels = n_mel_channels
        self.load_mel_from_disk = load_mel_from_disk
        self.stft = TacotronSTFT(
            filter_length, hop_length, win_length, n_mel_channels, sampling_rate, mel_fmin, mel_fmax
        )
        self.texts = [text_ids(utterance, text_cleaners) for utterance in self.utterances]
        if load_mel_from_disk:
            missing = [u for u in self.utterances if not u.audio_path.is_file()]
            if missing:
                raise DataError(
                    "\n".join(f"{_where(u)}: mel file {u.audio_path} not found" for u in missing[:50])
                    + (f"\n... and {len(missing) - 50} more" if len(missing) > 50 else "")
                )

    def __len__(self) -> int:
        return len(self.utterances)

    def get_mel(self, utterance: Utterance) -> torch.Tensor:
        """(n_mel, T_out) float32 log-mel of one utterance."""
        if self.load_mel_from_disk:
            try:
                mel = torch.load(utterance.audio_path, map_location="cpu", weights_only=True)
            except Exception as error:  # noqa: BLE001 - any failure to read is reported with the line
                raise DataError(
                    f"{_where(utterance)}: cannot read mel file {utterance.audio_path}: {error}"
                ) from None
            if not isinstance(mel, torch.Tensor) or mel.dim() != 2 or mel.size(0) != self.n_mel_channels:
                shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
                raise DataError(
                    f"{_where(utterance)}: {utterance.audio_path} holds {shape}; expected a "
                    f"({self.n_mel_channels}, T) mel tensor"
                )
            return mel.float()
        audio = load_wav(utterance, self.sampling_rate, self.max_wav_value)
        return self.stft.mel_spectrogram(audio.unsqueeze(0)).squeeze(0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.texts[index], self.get_mel(self.utterances[index])


class TextMelBatch(NamedTuple):
    text_padded: torch.Tensor  # (B, T_in) int64, 0 past each length; sorted by input_lengths, longest first
    input_lengths: torch.Tensor  # (B,) int64
    mel_padded: torch.Tensor  # (B, n_mel, T_out) float32, 0 past each length
    gate_padded: torch.Tensor  # (B, T_out) float32, 1 from the last real frame on (stop target)
    output_lengths: torch.Tensor  # (B,) int64 mel frames


class TextMelCollate:
    """Batch `TextMelDataset` items: sort by text length (descending), zero-pad text and mels.

    Mels are padded to a multiple of n_frames_per_step (1 in DLE). The gate target is 1 from the last
    real frame on, so padding frames also ask the model to stop (as in the original).
    """

    def __init__(self, n_frames_per_step: int = 1):
        self.n_frames_per_step = n_frames_per_step

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> TextMelBatch:
        input_lengths = torch.tensor([len(text) for text, _ in batch], dtype=torch.long)
        input_lengths, order = torch.sort(input_lengths, descending=True)
        text_padded = torch.zeros(len(batch), int(input_lengths[0]), dtype=torch.long)
        for row, index in enumerate(order.tolist()):
            text = batch[index][0]
            text_padded[row, : len(text)] = text

        n_mel = batch[0][1].size(0)
        max_frames = max(mel.size(1) for _, mel in batch)
        max_frames += -max_frames % self.n_frames_per_step
        mel_padded = torch.zeros(len(batch), n_mel, max_frames)
        gate_padded = torch.zeros(len(batch), max_frames)
        output_lengths = torch.zeros(len(batch), dtype=torch.long)
        for row, index in enumerate(order.tolist()):
            mel = batch[index][1]
            mel_padded[row, :, : mel.size(1)] = mel
            gate_padded[row, mel.size(1) - 1 :] = 1
            output_lengths[row] = mel.size(1)
        return TextMelBatch(text_padded, input_lengths, mel_padded, gate_padded, output_lengths)


class AudioSegmentDataset(Dataset):
    """WaveGlow items `(mel (n_mel, F), audio (segment_length,))` of a filelist (the text is ignored).

    A random `segment_length` crop of each clip (shorter clips are zero-padded at the end), and the
    mel of that segment, F = 1 + segment_length // hop_length. The crop of item i in epoch e is drawn
    from a generator seeded with (seed, e, i), so it does not depend on worker processes and a resumed
    run crops exactly as an uninterrupted one (the original draws from Python's global `random`).
    Call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        filelist: str | Path,
        dataset_path: str | Path,
        segment_length: int,
        sampling_rate: int = 22050,
        max_wav_value: float = 32768.0,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = 8000.0,
        seed: int = 0,
    ):
        _require_clean(
            check_data(
                [filelist],
                dataset_path,
                None,
                sampling_rate,
                filter_length,
                read_samples=False,
                min_samples=_stft_limit(filter_length),
            )
        )
        self.utterances = read_filelist(filelist, dataset_path)
        self.segment_length = segment_length
        self.sampling_rate = sampling_rate
        self.max_wav_value = max_wav_value
        self.seed = seed
        self.epoch = 0
        self.stft = TacotronSTFT(
            filter_length, hop_length, win_length, n_mel_channels, sampling_rate, mel_fmin, mel_fmax
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        audio = load_wav(self.utterances[index], self.sampling_rate, self.max_wav_value)
        if audio.numel() >= self.segment_length:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            start = int(rng.integers(0, audio.numel() - self.segment_length + 1))
            audio = audio[start : start + self.segment_length]
        else:
            audio = torch.nn.functional.pad(audio, (0, self.segment_length - audio.numel()))
        mel = self.stft.mel_spectrogram(audio.unsqueeze(0)).squeeze(0)
        return mel, audio
