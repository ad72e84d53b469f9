"""The drop-frame global mean: the per-channel mean log-mel of the training set (the original
`train.calculate_global_mean`), computed once and kept with what it was computed from.

    mean[c] = sum over utterances and valid frames of mel[c, t] / number of valid frames   (float64 sums)

What differs from the original, on purpose: every training utterance counts (the original sums the batches
of its shuffled training DataLoader with drop_last=True, so the last partial batch is skipped, a different
subset for each seed); the file records the training list (its SHA-256) and the audio settings, and a mean
computed from another list or other settings is refused instead of silently reused (the original loads
whatever `ljspeech_global_mean.npy` is in the working directory); it is written atomically; and training
checkpoints store the mean and its record, so resuming and inference never depend on the file. An
original `.npy` can still be given: it is used with a warning, as nothing says where it came from.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

from .hparams import HParams
from .infra import CheckpointError, Distributed, UserError, barrier, load_weights_only, save_atomic

AUDIO_SETTINGS = (
    "sampling_rate",
    "filter_length",
    "hop_length",
    "win_length",
    "n_mel_channels",
    "mel_fmin",
    "mel_fmax",
    "max_wav_value",
)


def compute_global_mean(dataset) -> torch.Tensor:
    """(n_mel,) float32 mean over every frame of every item; items are (..., mel (n_mel, T))."""
    if len(dataset) == 0:
        raise UserError("cannot compute the global mean of an empty training set")
    total, n_frames = None, 0
    for index in range(len(dataset)):
        mel = dataset[index][-1].double()
        total = mel.sum(dim=1) if total is None else total + mel.sum(dim=1)
        n_frames += mel.size(1)
    return (total / n_frames).float()


def global_mean_source(filelist: str | Path, hparams: HParams) -> dict:
    """What the mean depends on: the training list's content and the audio settings."""
    try:
        digest = hashlib.sha256(Path(filelist).read_bytes()).hexdigest()
    except OSError as error:
        raise UserError(f"{filelist}: cannot read the training filelist ({error.strerror})") from None
    return {
        "filelist": str(filelist),
        "filelist_sha256": digest,
        "audio": {name: getattr(hparams, name) for name in AUDIO_SETTINGS},
    }


def source_differences(recorded: dict, expected: dict) -> list[str]:
    """What differs between two records, in words ([] when the mean fits)."""
    words = {"filelist_sha256": "training filelist", "audio": "audio settings"}
    return [words[key] for key in words if recorded.get(key) != expected.get(key)]


def require_same_source(recorded: dict | None, expected: dict, where: str) -> None:
    """UserError when a mean recorded as computed from `recorded` is used for `expected`'s corpus."""
    if recorded is None:
        print(f"warning: {where} does not say what it was computed from; using it as given", file=sys.stderr)
        return
    differences = source_differences(recorded, expected)
    if differences:
        raise UserError(
            f"{where}: the drop-frame global mean was computed from {recorded.get('filelist')} with another "
            f"{' and '.join(differences)} than this run's ({expected['filelist']}); a mean of another corpus "
            "would replace dropped frames with the wrong spectrum. Use a new global_mean_npy path (it is "
            "then computed from this training list)"
        )


def save_global_mean(mean: torch.Tensor, source: dict, path: str | Path) -> None:
    save_atomic({"global_mean": mean.float().cpu(), "source": source}, path)


def load_global_mean(path: str | Path, n_mel_channels: int) -> tuple[torch.Tensor, dict | None]:
    """(mean (n_mel,), its record or None) from our `.pt` file or an original `.npy` (no record)."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            values, source = torch.from_numpy(np.load(path, allow_pickle=False)).float(), None
        except (OSError, ValueError) as error:
            raise UserError(f"global mean {path}: not a readable .npy array ({error})") from None
    else:
        try:
            stored = load_weights_only(path)
        except CheckpointError as error:
            raise UserError(f"global mean {error}; delete it to recompute it") from None
        if not isinstance(stored, dict) or "global_mean" not in stored:
            raise UserError(
                f"{path}: not a global mean file (expected a dict with 'global_mean' and 'source')"
            )
        values, source = torch.as_tensor(stored["global_mean"]).float(), stored.get("source")
    values = values.reshape(-1)
    if values.numel() != n_mel_channels or not bool(torch.isfinite(values).all()):
        raise UserError(f"{path}: expected {n_mel_channels} finite values, found {values.numel()}")
    return values, source


def global_mean_for_run(
    path: str | Path, filelist: str | Path, hparams: HParams, dataset_path: str | Path | None = None
) -> tuple[torch.Tensor, dict]:
    """The mean of the training list: read from `path` if it is there (refused if computed from another
    list or with other audio settings), else computed from the audio and written to `path`."""
    source = global_mean_source(filelist, hparams)
    if Path(path).is_file():
        mean, recorded = load_global_mean(path, hparams.n_mel_channels)
        require_same_source(recorded, source, str(path))
        return mean, recorded or source
    from .data import TextMelDataset

    mean = compute_global_mean(TextMelDataset(filelist, hparams, dataset_path))
    save_global_mean(mean, source, path)
    return mean, source


def global_mean_of_run(
    hparams: HParams, folder: Path, dataset_path, checkpoint: dict | None, ddp: Distributed
) -> tuple[torch.Tensor | None, dict | None]:
    """train.py's mean: the resumed checkpoint's (refused if the training list or audio settings changed),
    else, with drop frames, `global_mean_npy` (relative to the run folder) read or computed once by rank 0."""
    if checkpoint is not None and checkpoint.get("global_mean") is not None:
        source = checkpoint.get("global_mean_source")
        require_same_source(source, global_mean_source(hparams.training_files, hparams), "the checkpoint")
        return torch.as_tensor(checkpoint["global_mean"]).float(), source
    if hparams.drop_frame_rate == 0:
        return None, None
    path = Path(folder) / hparams.global_mean_npy
    if ddp.is_main:
        print(f"global mean: {'reading' if path.is_file() else 'computing'} {path}", file=sys.stderr)
        global_mean_for_run(path, hparams.training_files, hparams, dataset_path)
    barrier(ddp)  # the other ranks read what rank 0 wrote
    return global_mean_for_run(path, hparams.training_files, hparams, dataset_path)
