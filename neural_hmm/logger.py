"""Training logs, written by rank 0 only: JSON lines and TensorBoard scalars and images.

JSON record layout (one object per line): `{"timestamp", "elapsedtime", "type": "LOG" | "METADATA",
"step", "data"}`, where step is "PARAMETER" (the hparams and arguments), an iteration number, or "END".
TensorBoard tags follow the original's names: `loss/train`, `loss/val`, `grad_2.0_norm_total_step`,
`mel_target`, `synthesised/mel_synthesised`, `alignment/...`, `transition_probabilities`.
Plots use matplotlib's Agg canvas directly: no display, no pyplot state.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np


class TrainingLog:
    """JSON records and TensorBoard scalars/images; does nothing on ranks other than 0."""

    def __init__(self, json_path: Path, tensorboard_dir: Path, enabled: bool):
        self.enabled = enabled
        self.start = time.time()
        self.stream = self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter

            json_path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = open(json_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.writer = SummaryWriter(logdir=str(tensorboard_dir))

    def record(self, step, data: dict, kind: str = "LOG") -> None:
        if not self.enabled:
            return
        now = time.time()
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}
        line = {"timestamp": now, "elapsedtime": now - self.start, "type": kind, "step": step, "data": clean}
        self.stream.write(json.dumps(line, default=str) + "\n")
        self.stream.flush()

    def scalars(self, values: dict, step: int) -> None:
        if self.enabled:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        if self.enabled:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.stream.close()
            self.writer.close()


def _figure_to_array(figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_matrix(matrix: np.ndarray, xlabel: str, ylabel: str, title: str = "") -> np.ndarray:
    """(rows, cols) -> RGB image (H, W, 3) uint8, row 0 at the bottom."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, aspect="auto", origin="lower", interpolation="none")
    figure.colorbar(image, ax=axes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return _figure_to_array(figure)


def plot_state_path(states: np.ndarray, n_states: int, title: str = "") -> np.ndarray:
    """The state index of every frame as a step line (frames on x, states on y)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3))
    axes = figure.add_subplot()
    axes.step(np.arange(len(states)), states, where="post")
    axes.set_xlim(0, max(len(states) - 1, 1))
    axes.set_ylim(-0.5, n_states - 0.5)
    axes.set_xlabel("frame")
    axes.set_ylabel("state")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return _figure_to_array(figure)


def plot_mel_and_states(mel: np.ndarray, states: np.ndarray, n_states: int, title: str = ""):
    """A matplotlib Figure: log-mel (n_mel, T) on top, the state of every frame below (synthesis PNGs)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    image = top.imshow(mel, aspect="auto", origin="lower", interpolation="none")
    figure.colorbar(image, ax=top)
    top.set_ylabel("mel channel")
    if title:
        top.set_title(title)
    bottom.step(np.arange(len(states)), states, where="post")
    bottom.set_ylim(-0.5, n_states - 0.5)
    bottom.set_xlabel("frame")
    bottom.set_ylabel("state")
    figure.tight_layout()
    return figure
