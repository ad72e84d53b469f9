"""Training logs, written by rank 0 only: DLLogger-style JSON lines and TensorBoard scalars and images.

JSON record layout (DLLogger's `JSONStreamBackend`, without its `DLLL ` line prefix, so every line is
plain JSON): `{"timestamp", "elapsedtime", "type": "LOG" | "METADATA", "step", "data"}`, where step is
"PARAMETER" (the arguments), [epoch, iteration] (one training iteration), [epoch] (an epoch summary) or
[] (the end of the run). Plots use matplotlib's Agg canvas directly: no display, no pyplot state.
"""

import json
import time
from pathlib import Path

import numpy as np
import torch


class TrainingLog:
    """DLLogger-style JSON records (`{"timestamp", "elapsedtime", "type", "step", "data"}`, one per line)
    and TensorBoard scalars/images. Does nothing on ranks other than 0."""

    def __init__(self, output: Path, log_file: str, enabled: bool):
        self.enabled = enabled
        self.start = time.time()
        self.stream = self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter

            self.stream = open(output / log_file, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self.writer = SummaryWriter(logdir=str(output / "tensorboard"))

    def record(self, step, data: dict, kind: str = "LOG") -> None:
        if not self.enabled:
            return
        now = time.time()
        line = {"timestamp": now, "elapsedtime": now - self.start, "type": kind, "step": step, "data": data}
        self.stream.write(json.dumps(line) + "\n")
        self.stream.flush()

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        if self.enabled:
            for name, value in values.items():
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def tacotron2_images(self, batch, outputs, step: int) -> None:
        """Target vs predicted mel, alignment and gate of the first utterance of a validation batch."""
        if not self.enabled:
            return
        frames, tokens = int(batch.output_lengths[0]), int(batch.input_lengths[0])
        target = batch.mel_padded[0, :, :frames].numpy()
        predicted = outputs.mel_outputs_postnet[0, :, :frames].float().cpu().numpy()
        alignment = outputs.alignments[0, :frames, :tokens].float().cpu().numpy()
        gate_target = batch.gate_padded[0, :frames].numpy()
        gate_predicted = torch.sigmoid(outputs.gate_outputs[0, :frames].float()).cpu().numpy()
        self.writer.add_image(
            "validation/mel_target", plot_matrix(target, "frames", "mel channel"), step, dataformats="HWC"
        )
        self.writer.add_image(
            "validation/mel_predicted",
            plot_matrix(predicted, "frames", "mel channel"),
            step,
            dataformats="HWC",
        )
        self.writer.add_image(
            "validation/alignment",
            plot_matrix(alignment.T, "decoder step", "encoder step"),
            step,
            dataformats="HWC",
        )
        self.writer.add_image(
            "validation/gate", plot_gate(gate_target, gate_predicted), step, dataformats="HWC"
        )

    def close(self) -> None:
        if self.enabled:
            self.stream.close()
            self.writer.close()


def _figure_to_array(figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plot_matrix(matrix: np.ndarray, xlabel: str, ylabel: str) -> np.ndarray:
    """(rows, cols) -> RGB image (H, W, 3) uint8, row 0 at the bottom."""
    from matplotlib.figure import Figure  # the Agg canvas above: no display, no pyplot state

    figure = Figure(figsize=(10, 4))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, aspect="auto", origin="lower", interpolation="none")
    figure.colorbar(image, ax=axes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    figure.tight_layout()
    return _figure_to_array(figure)


def plot_gate(target: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3))
    axes = figure.add_subplot()
    axes.plot(target, color="green", marker="+", linestyle="", label="target")
    axes.plot(predicted, color="red", marker=".", linestyle="", label="predicted")
    axes.set_xlabel("frames (green target, red predicted)")
    axes.set_ylabel("stop probability")
    axes.set_ylim(-0.05, 1.05)
    figure.tight_layout()
    return _figure_to_array(figure)
