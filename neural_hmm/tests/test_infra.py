"""infra.py, which every paper folder carries as an identical copy: tested once, here."""

import math
import os
import platform
import sys

import pytest
import torch

from neural_hmm import infra
from neural_hmm.infra import (
    AlignmentWatch,
    OutputError,
    alignment_health,
    refuse_to_replace,
    resident_mib,
    return_freed_memory,
    synthesis_outputs,
)


def stepped_alignment(n_in: int, frames_per_input: list[int]) -> torch.Tensor:
    """(1, T_out, n_in) hard left-to-right alignment holding input i for frames_per_input[i] frames."""
    rows = [torch.nn.functional.one_hot(torch.tensor(i), n_in).float() for i, n in enumerate(frames_per_input)
            for _ in range(n)]  # fmt: skip
    return torch.stack(rows).unsqueeze(0)


def test_a_clean_alignment_scores_one_and_its_durations_spread():
    even = stepped_alignment(4, [3, 3, 3, 3])
    health = alignment_health(even, [4], [12])
    assert health["focus"] == health["monotonic"] == health["coverage"] == health["score"] == 1.0
    assert health["duration_spread"] == 0.0
    uneven = alignment_health(stepped_alignment(4, [1, 5, 1, 5]), [4], [12])
    assert uneven["score"] == 1.0 and uneven["duration_spread"] == pytest.approx(math.sqrt(4) / 3)


def test_a_flat_or_scrambled_alignment_scores_low_and_padding_is_ignored():
    flat = torch.full((1, 12, 4), 0.25)
    health = alignment_health(flat, [4], [12])
    assert health["focus"] == 0.25 and health["coverage"] == 0.25 and health["score"] < 0.1
    backwards = stepped_alignment(4, [3, 3, 3, 3]).flip(2)
    assert alignment_health(backwards, [4], [12])["monotonic"] < 0.95
    padded = torch.zeros(2, 20, 6)
    padded[0, :12, :4] = stepped_alignment(4, [3, 3, 3, 3])[0]
    padded[1, :12, :4] = flat[0]
    both = alignment_health(padded, [4, 4], [12, 12])
    assert both["focus"] == pytest.approx((1.0 + 0.25) / 2)


def test_watch_warns_only_after_patience_validations_without_progress():
    watch = AlignmentWatch(patience=3)
    assert [watch.update(score) for score in (0.1, 0.3, 0.5)] == [None, None, None]
    messages = [watch.update(0.5) for _ in range(3)]
    assert messages[:2] == [None, None] and "has not improved for 3 validations" in messages[2]
    assert watch.update(0.9) is None


def test_converters_cannot_write_over_their_input_or_through_links(tmp_path):
    source = tmp_path / "in.pt"
    source.write_bytes(b"weights")
    link = tmp_path / "last.pt"
    os.symlink("in.pt", link)
    os.link(source, tmp_path / "hard.pt")
    for target in (source, link, tmp_path / "hard.pt", tmp_path / "." / "in.pt"):
        with pytest.raises(OutputError):
            refuse_to_replace(target, source)
    refuse_to_replace(tmp_path / "new.pt", source)  # a new file is fine


def test_synthesis_outputs(tmp_path):
    assert synthesis_outputs(tmp_path / "one.wav", ["audio_0"]) == {"audio_0": tmp_path / "one.wav"}
    with pytest.raises(OutputError, match="2 utterances need an output folder"):
        synthesis_outputs(tmp_path / "one.wav", ["a", "b"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.wav").write_bytes(b"")
    with pytest.raises(OutputError, match="b.wav exist"):
        synthesis_outputs(tmp_path / "out", ["a", "b"])
    assert set(synthesis_outputs(tmp_path / "out", ["a", "b"], force=True)) == {"a", "b"}


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="reads /proc; glibc's malloc_trim",
)
def test_freed_tensor_buffers_go_back_to_the_os():
    # Buffers below glibc's mmap threshold stay on its heap when freed, and a survivor above them keeps
    # the heap from shrinking: the growth that got a CPU training run killed for memory.
    blocks = [torch.ones(100_000 + 1_000 * i) for i in range(400)]  # ~480 MB
    survivors = blocks[::40]
    del blocks
    before = resident_mib()
    return_freed_memory()
    assert before - resident_mib() > 30, "the freed buffers stayed resident"
    assert sum(float(block[0]) for block in survivors) == len(survivors)  # still intact


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="reads /proc; glibc's malloc_trim",
)
def test_with_a_growth_allowance_the_heap_is_trimmed_only_once_it_has_grown_that_much(monkeypatch):
    # Training trims with an allowance because a trim after every step cost ~60% per update.
    monkeypatch.setattr(infra, "_reference_mib", None)
    return_freed_memory()
    return_freed_memory(growth_mib=2_000)  # the reference: the resident size now
    reference = infra._reference_mib
    blocks = [torch.ones(100_000 + 1_000 * i) for i in range(400)]  # ~480 MB
    survivors = blocks[::40]
    del blocks
    before = resident_mib()
    return_freed_memory(growth_mib=2_000)
    assert resident_mib() > before - 30, "trimmed before the process grew by the allowance"
    return_freed_memory(growth_mib=200)
    assert before - resident_mib() > 30, "not trimmed after growing past the allowance"
    assert infra._reference_mib == reference  # not reset by a trim: that trimmed every few steps
    assert sum(float(block[0]) for block in survivors) == len(survivors)
