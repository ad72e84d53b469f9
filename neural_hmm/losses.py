"""The training objective: the negative log-likelihood from the forward algorithm, nothing else."""

import torch


def neural_hmm_loss(log_probs: torch.Tensor) -> torch.Tensor:
    """-mean_b log p(X_b | text_b). log_probs: (B,) -> ().

    Not normalised by length, as in the original's `training_step` (coqui divides by the frame and
    symbol counts instead).
    """
    return -log_probs.mean()
