"""Data-dependent initialisation and normalisation statistics (`generate_data_properties.py` of the
original), cached in a `data_parameters.pt` with the original's keys:

    data_mean (1,), data_std (1,)      scalar mean and std over all channels and frames of raw log-mels
    init_transition_prob (1,)          sum(symbols) / sum(frames): one *phone's* mean duration per state
                                       (not multiplied by state_per_phone; coqui does multiply)
    go_token_init_value (n_mel,)       mean first frame, normalised

plus `source`: what they were computed from (the filelist's SHA-256, the text front end and the audio
settings), so a file computed for one corpus is refused for another instead of being silently reused
(the original reads whatever `data_parameters.pt` lies in the current folder). The original's four keys
are unchanged, so the file still works with the original code.

`generate_data_properties.py` is the command (the original's script name) that writes such a file.

Quirks kept: the mean comes from a first pass, the std from a second pass over (x - mean)^2; the go
token is normalised with the *first* pass's std, sqrt(E[x^2] - mean^2), as in the original.
Accumulation is in float64; results are stored as float32. Runs on any device (the original needs CUDA).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from .hparams import HParams
from .infra import CheckpointError, UserError, load_weights_only, save_atomic

KEYS = ("data_mean", "data_std", "init_transition_prob", "go_token_init_value")


class DataParameters(NamedTuple):
    data_mean: torch.Tensor  # (1,) float32
    data_std: torch.Tensor  # (1,) float32
    init_transition_prob: torch.Tensor  # (1,) float32
    go_token_init_value: torch.Tensor  # (n_mel,) float32


def compute_data_parameters(dataset: Sequence) -> DataParameters:
    """Two passes over `dataset`, whose items are (text ids (L,), raw log-mel (n_mel, T)) pairs."""
    if len(dataset) == 0:
        raise ValueError("cannot compute data parameters of an empty dataset")
    n_symbols = n_frames = mel_sum = mel_square_sum = 0.0
    first_frame_sum = None
    for ids, mel in _items(dataset):
        mel = mel.double()
        n_symbols += len(ids)
        n_frames += mel.shape[1]
        mel_sum += mel.sum().item()
        mel_square_sum += mel.pow(2).sum().item()
        first_frame_sum = mel[:, 0] if first_frame_sum is None else first_frame_sum + mel[:, 0]
    n_mel = first_frame_sum.shape[0]
    n_values = n_frames * n_mel
    mean = mel_sum / n_values
    one_pass_std = (mel_square_sum / n_values - mean**2) ** 0.5
    go_token = (first_frame_sum / len(dataset) - mean) / one_pass_std

    squared_error = 0.0
    for _, mel in _items(dataset):
        squared_error += (mel.double() - mean).pow(2).sum().item()
    std = (squared_error / n_values) ** 0.5

    return DataParameters(
        data_mean=torch.tensor([mean], dtype=torch.float32),
        data_std=torch.tensor([std], dtype=torch.float32),
        init_transition_prob=torch.tensor([n_symbols / n_frames], dtype=torch.float32),
        go_token_init_value=go_token.float().cpu(),
    )


def _items(dataset):
    for index in range(len(dataset)):
        yield dataset[index]


def data_source(filelist: str | Path, hparams: HParams) -> dict:
    """What the statistics depend on: the training list's content, the text front end, the audio settings."""
    try:
        digest = hashlib.sha256(Path(filelist).read_bytes()).hexdigest()
    except OSError as error:
        raise UserError(f"{filelist}: cannot read the training filelist ({error.strerror})") from None
    return {
        "filelist": str(filelist),
        "filelist_sha256": digest,
        "text": {"text_cleaners": list(hparams.text_cleaners), "phonetise": bool(hparams.phonetise)},
        "audio": {
            name: getattr(hparams, name)
            for name in (
                "sampling_rate",
                "filter_length",
                "hop_length",
                "win_length",
                "n_mel_channels",
                "mel_fmin",
                "mel_fmax",
                "max_wav_value",
            )
        },
    }


def save_data_parameters(parameters: DataParameters, path: str | Path, source: dict | None = None) -> None:
    """Atomically: a run killed while writing never leaves a truncated file for the next run to trip on."""
    values = dict(parameters._asdict())
    if source is not None:
        values["source"] = source
    save_atomic(values, path)


def load_data_parameters(path: str | Path, expected_source: dict | None = None) -> DataParameters:
    """The statistics in `path`; with `expected_source`, a UserError when they were computed from another
    filelist or with other text or audio settings (a file without a record is accepted with a warning)."""
    try:
        values = load_weights_only(path)
    except CheckpointError as error:
        raise UserError(f"data statistics {error}; delete it to recompute") from None
    missing = [key for key in KEYS if not isinstance(values, dict) or key not in values]
    if missing:
        raise UserError(f"{path}: not a data_parameters file, missing {missing} (expected keys {list(KEYS)})")
    if expected_source is not None:
        recorded = values.get("source")
        if recorded is None:
            print(
                f"warning: {path} does not record what it was computed from; using it as given",
                file=sys.stderr,
            )
        else:
            differences = [
                key
                for key in ("filelist_sha256", "text", "audio")
                if recorded.get(key) != expected_source[key]
            ]
            if differences:
                what = {
                    "filelist_sha256": "training filelist",
                    "text": "text front end",
                    "audio": "audio settings",
                }
                other = ", ".join(what[key] for key in differences)
                raise UserError(
                    f"{path} was computed from {recorded.get('filelist')}, with another {other} than this "
                    f"run's ({expected_source['filelist']}); delete it or pass another --data-parameters "
                    "path to compute the statistics of this corpus"
                )
    try:
        return DataParameters(*(torch.as_tensor(values[key]).float().reshape(-1) for key in KEYS))
    except (TypeError, ValueError, RuntimeError) as error:
        raise UserError(f"{path}: malformed data statistics ({error})") from None


def apply_data_parameters(hparams: HParams, parameters: DataParameters) -> HParams:
    """hparams with the normaliser, go-token init and initial transition probability from `parameters`."""
    return hparams.replace(
        normaliser_mean=parameters.data_mean.item(),
        normaliser_std=parameters.data_std.item(),
        init_transition_probability=parameters.init_transition_prob.item(),
        go_token_init_value=parameters.go_token_init_value.tolist(),
    )


def data_parameters_for_filelist(
    filelist: str | Path,
    hparams: HParams,
    dataset_path: str | Path | None = None,
    cache_path: str | Path | None = "data_parameters.pt",
    force: bool = False,
) -> DataParameters:
    """Statistics of a training filelist, read from `cache_path` if it exists and was computed from the
    same list and settings (unless `force`), else computed from the audio and written there."""
    source = data_source(filelist, hparams)
    if cache_path is not None and Path(cache_path).is_file() and not force:
        return load_data_parameters(cache_path, source)
    from .data import TextMelDataset

    parameters = compute_data_parameters(TextMelDataset(filelist, hparams, dataset_path, normalise=False))
    if cache_path is not None:
        save_data_parameters(parameters, cache_path, source)
    return parameters
