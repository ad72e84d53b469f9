"""Pictures of Tacotron 2: validation images for TensorBoard and the alignment PNGs of inference.
All drawing goes through matplotlib's Agg canvas: no display, no pyplot state."""

from __future__ import annotations

import numpy as np
import torch

from .infra import figure_to_image, plot_matrix

# An alignment PNG shows at most this many sentences: a long text split into hundreds of pieces would
# otherwise make a picture tens of thousands of pixels tall.
MAX_ALIGNMENT_PANELS = 8


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


def tacotron2_validation_images(batch, outputs) -> dict[str, np.ndarray]:
    """Target and predicted mel, alignment and gate of the first utterance of a validation batch."""
    frames, tokens = int(batch.output_lengths[0]), int(batch.input_lengths[0])
    gate = torch.sigmoid(outputs.gate_outputs[0, :frames].float()).cpu().numpy()
    return {
        "validation/mel_target": plot_matrix(
            batch.mel_padded[0, :, :frames].numpy(), "frames", "mel channel"
        ),
        "validation/mel_predicted": plot_matrix(
            outputs.mel_outputs_postnet[0, :, :frames].float().cpu().numpy(), "frames", "mel channel"
        ),
        "validation/alignment": plot_matrix(
            outputs.alignments[0, :frames, :tokens].float().cpu().numpy().T, "decoder step", "encoder step"
        ),
        "validation/gate": plot_gate(batch.gate_padded[0, :frames].numpy(), gate),
    }


def save_alignment(path, alignments: list[torch.Tensor], title: str) -> None:
    """One panel per sentence (at most MAX_ALIGNMENT_PANELS): encoder step (y) against decoder step (x),
    as DLE's plot; each panel's width in pixels is fixed, whatever the sentence's length."""
    from matplotlib.figure import Figure

    shown = alignments[:MAX_ALIGNMENT_PANELS]
    figure = Figure(figsize=(8, 3 * len(shown)))
    axes = figure.subplots(len(shown), 1, squeeze=False)[:, 0]
    for k, (axis, alignment) in enumerate(zip(axes, shown)):
        image = axis.imshow(alignment.numpy().T, aspect="auto", origin="lower", interpolation="none")
        figure.colorbar(image, ax=axis)
        axis.set_xlabel("decoder step")
        axis.set_ylabel("encoder step")
        label = f"{title} sentence {k + 1}" if len(alignments) > 1 else title
        if k == len(shown) - 1 and len(alignments) > len(shown):
            label += f" (first {len(shown)} of {len(alignments)} sentences shown)"
        axis.set_title(label, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
