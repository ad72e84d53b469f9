"""Pictures of a Neural-HMM: validation images for TensorBoard (the original's tags) and the synthesis PNG.

TensorBoard tags follow the original: `mel_target`, `alignment/...`, `transition_probabilities`,
`synthesised/mel_synthesised[_normalised]`, `synthesised/hidden_state_travelled`, `parameters/go_tokens`.
All drawing goes through matplotlib's Agg canvas: no display, no pyplot state.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .hmm import state_posteriors
from .infra import figure_to_image, plot_matrix


def plot_state_path(states: np.ndarray, n_states: int, title: str = "") -> np.ndarray:
    """The state index of every frame as a step line (frames on x, states on y) -> (H, W, 3) uint8."""
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
    return figure_to_image(figure)


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


@torch.no_grad()
def validation_images(model, text_ids: torch.Tensor, mel: torch.Tensor) -> dict[str, np.ndarray]:
    """The original's validation images for one utterance: target mel, forward variables, state
    posteriors and their most likely state per frame, transition probabilities, and a synthesised mel
    with the states it travelled. text_ids: (L,) long; mel: (n_mel, T) normalised, on the model's device."""
    was_training = model.training
    model.eval()
    try:
        device = mel.device
        text, text_lengths = text_ids.unsqueeze(0), torch.tensor([len(text_ids)], device=device)
        mels, mel_lengths = mel.unsqueeze(0), torch.tensor([mel.shape[1]], device=device)
        output = model(text, text_lengths, mels, mel_lengths)
        hmm = output.hmm
        n_states, frames = int(output.state_lengths[0]), mel.shape[1]
        log_alpha = hmm.log_alpha_scaled[0, :frames, :n_states].float().cpu()
        posterior = state_posteriors(
            hmm.emission_log_probs, hmm.transition_logits, output.state_lengths, mel_lengths
        )
        posterior = posterior[0, :frames, :n_states].cpu()
        transitions = torch.sigmoid(hmm.transition_logits[0, :frames, :n_states].float()).cpu()
        images = {
            "mel_target": plot_matrix(mel.float().cpu().numpy(), "frame", "mel channel"),
            "alignment/log_alpha_scaled": plot_matrix(log_alpha.T.numpy(), "frame", "state"),
            "alignment/alpha_scaled": plot_matrix(log_alpha.exp().T.numpy(), "frame", "state"),
            "alignment/state_posterior": plot_matrix(posterior.T.numpy(), "frame", "state"),
            "alignment/most_likely_state": plot_state_path(
                posterior.argmax(1).numpy(), n_states, "argmax_n P(state n | X) per frame"
            ),
            "transition_probabilities": plot_matrix(transitions.T.numpy(), "frame", "state (P(leave))"),
        }
        with warnings.catch_warnings():  # an early model rarely reaches its last state: expected
            warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
            sample = model.synthesise(text_ids, max_sampling_time=max(4 * frames, 200))
        if sample.mel.shape[0] > 0:
            images["synthesised/mel_synthesised"] = plot_matrix(
                sample.mel.float().cpu().numpy().T, "frame", "mel channel"
            )
            images["synthesised/mel_synthesised_normalised"] = plot_matrix(
                sample.mel_normalised.float().cpu().numpy().T, "frame", "mel channel"
            )
        images["synthesised/hidden_state_travelled"] = plot_state_path(
            sample.states_travelled.cpu().numpy(), n_states
        )
        images["parameters/go_tokens"] = plot_matrix(
            model.hmm.go_tokens.detach().float().cpu().numpy().T, "AR step", "mel channel"
        )
        return images
    finally:
        model.train(was_training)
