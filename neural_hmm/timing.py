"""How long synthesis takes: the one measurement `bench.py` and `reproduce.py` share (shared protocol:
a fixed random text forced to a fixed number of frames, one warm-up run, then the timed runs)."""

from __future__ import annotations

import time
import warnings

import torch

from .model import NeuralHMM


def time_synthesis(
    model: NeuralHMM, n_tokens: int, n_frames: int, runs: int, seed: int = 1234
) -> list[float]:
    """Seconds of each of `runs` syntheses (after one warm-up) of a random `n_tokens` text, forced to
    exactly `n_frames` frames: a quantile threshold near zero never leaves the first state, whatever the
    (untrained) model's durations are."""
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, model.hparams.n_symbols, (n_tokens,), generator=generator)
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
            sample = model.synthesise(
                text, sampling_temp=0.0, max_sampling_time=n_frames, duration_quantile_threshold=1e-30
            )
        if run > 0:  # run 0 is the warm-up
            times.append(time.perf_counter() - started)
    if sample.mel.shape[0] != n_frames:
        raise RuntimeError(
            f"time_synthesis: expected {n_frames} frames, the model made {sample.mel.shape[0]}"
        )
    return times
