"""reproduce.py at its --quick sizes: both parts run end to end and the report has its structure, finite
numbers and the fixed baseline's zero spread. The speech part reads a small tone corpus written as an LJ
Speech-format folder (no voice needed); the real runs' numbers are in the README."""

import json
import math

import pytest

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from flowtron import reproduce

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def speech_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, make_synthetic_corpus(n_utterances=6, seed=1, n_words=(1, 1)))
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "train.txt").write_text("".join(lines[:4]))
    (root / "test.txt").write_text("".join(lines[4:]))
    return root


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_quick_run_writes_a_complete_report(speech_corpus, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["-o", str(out), "--quick", "--speech-corpus", str(speech_corpus), "--gate", "1.1"]
    assert reproduce.main(argv) == 0
    report = json.loads((out / "reproduction.json").read_text())
    assert (out / "reproduction.png").stat().st_size > 10_000
    assert all((out / name).is_file() for name in ("tone_prior.pt", "tone_phase2.pt", "speech.pt"))
    assert "| prior (step 4) |" in (out / "reproduction.md").read_text()

    runs = report["alignment"]["runs"]
    assert set(runs) == {"prior", "no_prior"}
    for run in runs.values():
        assert [point["step"] for point in run["history"]] == [0, 2, 4]  # --quick: 4 steps, every 2
        for point in run["history"]:
            for key in ("as_validated", "own"):
                assert set(reproduce.HEALTH) <= set(point[key])
                assert all(finite(v) and 0 <= v <= 1 for k, v in point[key].items() if k in reproduce.HEALTH)
        assert run["first_diagonal_step_own"] is None or run["first_diagonal_step_own"] in (0, 2, 4)
    # the same starting weights: at step 0 the two runs' own attention is the same
    assert runs["prior"]["history"][0]["own"] == runs["no_prior"]["history"][0]["own"]

    speech = report["sigma"]["speech"]["by_sigma"]
    assert set(speech) == {"0", "0.5", "1"}
    for sigma, row in speech.items():
        assert finite(row["frames_spread"]) and row["mean_frames"] == 24  # --gate 1.1: never stops
        for name in ("f0_mean_spread_hz", "f0_std_spread_hz", "f0_within_utterance_std_hz"):
            assert row[name] is None or finite(row[name]), (sigma, name, row[name])
        assert len(row["samples"]) == 1 and len(row["samples"][0]) == 2
    assert speech["0"]["frames_spread"] == 0.0 and speech["0"]["f0_mean_spread_hz"] in (None, 0.0)
    zero = speech["0"]["samples"][0]
    assert zero[0]["f0"] == zero[1]["f0"]  # z = 0: every sample the same

    tone = report["sigma"]["tone"]
    assert finite(tone["data_frames_spread"]) and tone["data_frames_spread"] > 0
    for row in tone["by_sigma"].values():
        assert finite(row["frames_spread"]) and len(row["frames"]) == 2 and len(row["frames"][0]) == 2
    assert tone["by_sigma"]["0"]["frames_spread"] == 0.0
    phase = report["alignment"]["phase_two"]
    assert phase["steps"] == 2 and all(finite(phase["own_after"][k]) for k in reproduce.HEALTH)

    assert reproduce.main(argv) == 1  # an existing report is kept without --force
    assert "--force" in capsys.readouterr().err
