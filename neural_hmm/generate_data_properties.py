"""Data-dependent initialisation and normalisation statistics (`generate_data_properties.py` of the
original), cached in a `data_parameters.pt` with the original's keys:

    data_mean (1,), data_std (1,)      scalar mean and std over all channels and frames of raw log-mels
    init_transition_prob (1,)          sum(symbols) / sum(frames): one *phone's* mean duration per state
                                       (not multiplied by state_per_phone; coqui does multiply)
    go_token_init_value (n_mel,)       mean first frame, normalised

    python -m neural_hmm.generate_data_properties --training-files LIST [--dataset-path ROOT] [-o FILE] [-f]

Quirks kept: the mean comes from a first pass, the std from a second pass over (x - mean)^2; the go
token is normalised with the *first* pass's std, sqrt(E[x^2] - mean^2), as in the original.
Accumulation is in float64; results are stored as float32. Runs on any device (the original needs CUDA).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

if __package__ in (None, ""):
    # Run as a file (`python generate_data_properties.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .hparams import HParams

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


def save_data_parameters(parameters: DataParameters, path: str | Path) -> None:
    torch.save(dict(parameters._asdict()), path)


def load_data_parameters(path: str | Path) -> DataParameters:
    values = torch.load(path, map_location="cpu", weights_only=True)
    missing = [key for key in KEYS if key not in values]
    if missing:
        raise KeyError(f"{path}: not a data_parameters file, missing {missing} (expected keys {list(KEYS)})")
    return DataParameters(*(values[key].float().reshape(-1) for key in KEYS))


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
    """Statistics of a training filelist, read from `cache_path` if it exists (unless `force`), else
    computed from the audio and written there."""
    if cache_path is not None and Path(cache_path).is_file() and not force:
        return load_data_parameters(cache_path)
    from .data import TextMelDataset

    parameters = compute_data_parameters(TextMelDataset(filelist, hparams, dataset_path, normalise=False))
    if cache_path is not None:
        save_data_parameters(parameters, cache_path)
    return parameters


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = HParams()
    parser.add_argument("--training-files", default=defaults.training_files, help="wav|text filelist")
    parser.add_argument(
        "--dataset-path", default=None, help="root of relative wav paths (default: list folder)"
    )
    parser.add_argument("-o", "--output-file", default="data_parameters.pt")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)
    if Path(args.output_file).exists() and not args.force:
        print(f"{args.output_file} already exists. Use -f to force overwrite", file=sys.stderr)
        return 1
    parameters = data_parameters_for_filelist(
        args.training_files, defaults, args.dataset_path, cache_path=args.output_file, force=True
    )
    print(
        f"wrote {args.output_file}: data_mean {parameters.data_mean.item():.6f}, "
        f"data_std {parameters.data_std.item():.6f}, "
        f"init_transition_prob {parameters.init_transition_prob.item():.6f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
