"""bench.py at a tiny size (its protocol, not its numbers) and reproduce.py's report on made-up logs."""

import json
import math

import pytest

from tacotron2_mmi import bench, reproduce
from tacotron2_mmi.alignment_health import first_diagonal_step, is_diagonal

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_runs_tiny_without_the_original(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["--tiny", "--tokens", "8", "--frames", "12", "--train-batch-size", "2", "--warmup", "0",
            "--repeats", "1", "-o", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    steps = report["training_step"]
    assert {"ours_plain", "ours_mmi", "ours_mmi_gaf", "ours_mmi_mean_of_10"} <= set(steps)
    assert all(steps[k]["seconds"] > 0 for k in ("ours_plain", "ours_mmi", "ours_mmi_gaf"))
    assert math.isfinite(steps["ours_mmi_overhead_vs_plain"])
    assert report["inference_batch1"]["ours"]["frames_per_sec"] > 0 and "speedup_vs_original" not in report
    with pytest.raises(SystemExit):  # an existing report is replaced only with --force
        bench.parse_args(["--tiny", "-o", str(out)])
    assert bench.parse_args(["--tiny", "-o", str(out), "--force"]).force
    # --overhead: the three variants in the same rounds, so the overhead is also taken round by round.
    assert (
        bench.main([*argv[:-2], "--repeats", "2", "--no-infer", "--overhead", "-o", str(out), "--force"]) == 0
    )
    steps = json.loads(out.read_text())["training_step"]
    assert (
        math.isfinite(steps["ours_mmi_overhead_vs_plain_paired"])
        and len(steps["ours_plain"]["all_seconds"]) == 2
    )


def health(focus, monotonic, coverage):
    return {
        "focus": focus,
        "monotonic": monotonic,
        "coverage": coverage,
        "score": focus * monotonic * coverage,
    }


def test_diagonal_decision_and_first_step():
    assert is_diagonal(health(0.5, 0.9, 0.8)) and not is_diagonal(health(0.49, 1.0, 1.0))
    assert not is_diagonal(health(0.9, 0.89, 1.0)) and not is_diagonal(health(0.9, 1.0, 0.79))
    history = [(301, health(0.9, 1.0, 1.0)), (101, health(0.2, 0.8, 0.3)), (201, health(0.6, 0.95, 0.9))]
    assert first_diagonal_step(history) == 201 and first_diagonal_step(history[1:2]) is None


def write_log(folder, healths):
    folder.mkdir(parents=True)
    lines = [{"step": "PROVENANCE", "type": "METADATA", "data": {}}]
    for iteration, values in healths:
        lines.append({"step": iteration, "type": "LOG", "data": {"taco_loss": 1.0}})
        alignment = {f"alignment/{k}": v for k, v in values.items()}
        lines.append({"step": iteration, "type": "LOG", "data": {"validation.loss": 1.0, **alignment}})
    (folder / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_reproduce_report_from_run_logs(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_log(
        runs / "plain_seed0",
        [(0, health(0.2, 0.8, 0.3)), (99, health(0.3, 0.9, 0.5)), (199, health(0.6, 0.95, 0.9))],
    )
    write_log(
        runs / "mmi_seed0",
        [(0, health(0.2, 0.8, 0.3)), (99, health(0.7, 0.95, 0.9)), (199, health(0.8, 1.0, 1.0))],
    )
    assert reproduce.main(["-o", str(tmp_path), "--seeds", "0", "--report-only"]) == 0
    results = json.loads((tmp_path / "reproduction.json").read_text())
    assert results["runs"]["plain_seed0"]["first_diagonal_step"] == 200  # updates done at that validation
    assert results["runs"]["mmi_seed0"]["first_diagonal_step"] == 100
    assert "| mmi_seed0 | 100 | 200 |" in (tmp_path / "reproduction.md").read_text()
    assert (tmp_path / "alignment_over_training.png").stat().st_size > 10_000


def test_reproduce_corpora(tmp_path):
    train, val = reproduce.tone_corpus(tmp_path / "tone", n_utterances=20, n_validation=4)
    assert len(train.read_text().splitlines()) == 16 and len(val.read_text().splitlines()) == 4
    (tmp_path / "list.txt").write_text(
        "wavs/a.wav|Short one.\nwavs/b.wav|A much longer sentence than that.\n"
    )
    kept = reproduce.short_utterances(tmp_path / "list.txt", tmp_path / "short.txt", 12, tmp_path)
    assert kept.read_text() == f"{(tmp_path / 'wavs/a.wav').resolve()}|Short one.\n"
