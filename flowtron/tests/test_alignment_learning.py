"""Trained with the attention prior, Flowtron's attention learns the true alignment of the known-alignment
tone corpus (filelists/synthetic.py). The corpus, the tiny model, its training (train.py's step) and the
scoring are flowtron/tone_corpus.py's, whose docstring says why each was cut the way it is; reproduce.py
runs the same training longer, with and without the prior.
"""

import pytest
import torch

from flowtron.tone_corpus import alignment_scores, tiny_tone_model, tone_items, tone_training, tone_utterances

N_TRAIN, N_HELD_OUT, STEPS = 200, 16, 200

pytestmark = pytest.mark.usefixtures("one_thread")


def alignment_before_and_after_training(seed: int) -> dict[str, float]:
    utterances = tone_utterances(N_TRAIN + N_HELD_OUT, seed)
    items, _ = tone_items(utterances, N_TRAIN)
    training = items[:N_TRAIN], utterances[:N_TRAIN]
    held_out = items[N_TRAIN:], utterances[N_TRAIN:]
    torch.manual_seed(seed)
    model = tiny_tone_model()

    def aligned(items_and_utterances, with_prior: bool) -> float:
        return alignment_scores(model, *items_and_utterances, with_prior=with_prior)["aligned"]

    result = {"untrained": aligned(training, True), "untrained_own": aligned(training, False)}
    tone_training(model, training[0], seed).run(STEPS)
    result["trained"] = aligned(training, True)
    result["held_out"] = aligned(held_out, True)
    result["trained_own"] = aligned(training, False)
    return result


def test_training_with_the_prior_learns_the_true_alignment():
    """Measured over seeds 0-5, with the prior: untrained 0.57-0.74, trained 0.88-0.93 (gain 0.17-0.34),
    held out 0.87-0.94; the model's own attention (no prior, as at inference) 0.24-0.38 untrained,
    0.56-0.67 trained (gain 0.22-0.40). Seed 0: 0.643 -> 0.887, held out 0.897, own 0.238 -> 0.599.
    The thresholds hold for every one of these seeds, not only the pinned one."""
    accuracy = alignment_before_and_after_training(seed=0)
    assert accuracy["untrained"] < 0.78, accuracy  # the prior alone aligns about proportionally
    assert accuracy["trained"] >= 0.87 and accuracy["held_out"] >= 0.85, accuracy
    assert accuracy["trained"] >= accuracy["untrained"] + 0.15, accuracy
    assert accuracy["trained_own"] >= accuracy["untrained_own"] + 0.2, accuracy
