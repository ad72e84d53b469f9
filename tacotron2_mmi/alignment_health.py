"""When is an attention alignment the clean diagonal that the MMI paper's figures show appearing early?

The measurements are the repository's one definition, `infra.alignment_health` (the same for every
attention or HMM model, so Tacotron 2, Tacotron 2 + MMI and Flowtron runs compare): over the valid part
of each utterance's attention weights A (T_out decoder steps x T_in symbols), with a_t = argmax_j A[t, j],

    focus      = mean_t max_j A[t, j]                     (1: every step attends one symbol)
    monotonic  = share of steps with 0 <= a_t - a_{t-1} <= 2   (reads the text left to right)
    coverage   = |{a_t}| / T_in                            (share of symbols some step attends most)

averaged over the validation utterances. This module adds the decision: the alignment is *diagonal* when
focus >= 0.5, monotonic >= 0.9 and coverage >= 0.8, i.e. one sharp path that walks forward through
(nearly) every symbol. An untrained attention is spread out (focus ~ 1 / T_in), a collapsed one stays on a
few symbols (low coverage), a jumbled one jumps back and forth (low monotonic).
"""

from __future__ import annotations

from collections.abc import Iterable

FOCUS_MIN = 0.5
MONOTONIC_MIN = 0.9
COVERAGE_MIN = 0.8


def is_diagonal(health: dict[str, float]) -> bool:
    """health: `infra.alignment_health`'s means (keys focus, monotonic, coverage)."""
    return (
        health["focus"] >= FOCUS_MIN
        and health["monotonic"] >= MONOTONIC_MIN
        and health["coverage"] >= COVERAGE_MIN
    )


def first_diagonal_step(history: Iterable[tuple[int, dict[str, float]]]) -> int | None:
    """The first step of (step, health) pairs, in step order, whose alignment is diagonal; None if none is."""
    return next(
        (step for step, health in sorted(history, key=lambda item: item[0]) if is_diagonal(health)), None
    )
