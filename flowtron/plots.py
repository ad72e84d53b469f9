"""Pictures of attention and the gate, for TensorBoard and for synthesis PNGs (matplotlib's Agg canvas
only: no display, no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .infra import figure_to_image, plot_matrix


def attention_image(weights: np.ndarray, title: str = "") -> np.ndarray:
    """weights (frames, text) -> (H, W, 3) uint8, text positions up the y axis (the original's layout)."""
    return plot_matrix(np.asarray(weights).T, "decoder timestep", "encoder timestep", title)


def gate_image(target: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Gate target and predicted probability per frame -> (H, W, 3) uint8."""
    figure = Figure(figsize=(12, 3))
    axes = figure.add_subplot()
    axes.scatter(range(len(target)), target, alpha=0.5, color="green", marker="+", s=4, label="target")
    axes.scatter(range(len(predicted)), predicted, alpha=0.5, color="red", marker=".", s=4, label="predicted")
    axes.set_xlabel("frames (green target, red predicted)")
    axes.set_ylabel("gate")
    figure.tight_layout()
    return figure_to_image(figure)


def synthesis_figure(mel: np.ndarray, attention: np.ndarray, title: str = "") -> Figure:
    """The original inference.py's picture: the mel (n_mel, T) beside one flow's attention (steps, text)."""
    figure = Figure(figsize=(16, 4))
    left, right = figure.subplots(1, 2)
    left.imshow(mel, origin="lower", aspect="auto", interpolation="none")
    left.set_title(title or "mel")
    right.imshow(np.asarray(attention).T, origin="lower", aspect="auto", interpolation="none")
    right.set_xlabel("frame (this flow's order)")
    right.set_ylabel("text position")
    figure.tight_layout()
    return figure
