"""Pictures: the original's TensorBoard images (alignment, mel target, mel predicted, gate) and the alignment
PNGs of inference. Drawn on matplotlib's Agg canvas: no display, no pyplot state."""

from __future__ import annotations

import numpy as np
import torch

from .infra import figure_to_image, plot_matrix

MAX_PANELS = 8  # sentences per inference PNG: a long text split in hundreds would make a huge picture


def plot_gate(target: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Stop targets (green) and predicted stop probabilities (red) per frame -> (H, W, 3) uint8."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3))
    axes = figure.add_subplot()
    axes.plot(target, color="green", marker="+", linestyle="", label="target")
    axes.plot(predicted, color="red", marker=".", linestyle="", label="predicted")
    axes.set_xlabel("frames (green target, red predicted)")
    axes.set_ylabel("stop probability")
    axes.set_ylim(-0.05, 1.05)
    figure.tight_layout()
    return figure_to_image(figure)


def validation_images(batch, outputs, index: int = 0) -> dict[str, np.ndarray]:
    """Images of utterance `index` of a validation batch (the original picks one at random)."""
    frames, tokens = int(batch.output_lengths[index]), int(batch.input_lengths[index])
    gate = torch.sigmoid(outputs.gate_outputs[index, :frames].float()).cpu().numpy()
    return {
        "alignment": plot_matrix(
            outputs.alignments[index, :frames, :tokens].float().cpu().numpy().T,
            "decoder timestep",
            "encoder timestep",
        ),
        "mel_target": plot_matrix(
            batch.mel_padded[index, :, :frames].float().cpu().numpy(), "frames", "channels"
        ),
        "mel_predicted": plot_matrix(
            outputs.mel_outputs_postnet[index, :, :frames].float().cpu().numpy(), "frames", "channels"
        ),
        "gate": plot_gate(batch.gate_padded[index, :frames].float().cpu().numpy(), gate),
    }


def save_alignment(path, alignments: list[torch.Tensor], title: str) -> None:
    """One panel per sentence (at most MAX_PANELS): encoder step against decoder step."""
    from matplotlib.figure import Figure

    shown = alignments[:MAX_PANELS]
    figure = Figure(figsize=(8, 3 * len(shown)))
    for k, (axis, alignment) in enumerate(zip(figure.subplots(len(shown), 1, squeeze=False)[:, 0], shown)):
        image = axis.imshow(alignment.float().numpy().T, aspect="auto", origin="lower", interpolation="none")
        figure.colorbar(image, ax=axis)
        axis.set_xlabel("decoder step")
        axis.set_ylabel("encoder step")
        label = f"{title} sentence {k + 1}" if len(alignments) > 1 else title
        if k == len(shown) - 1 and len(alignments) > len(shown):
            label += f" (first {len(shown)} of {len(alignments)} sentences shown)"
        axis.set_title(label, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
