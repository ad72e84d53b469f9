"""learning_curve.py: every checkpoint of a run synthesised, scored and plotted; rerunning reuses scores."""

import json

import pytest

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from tacotron2_waveglow_ngc import learning, learning_curve, train

TINY = (
    "--symbols-embedding-dim 16 --encoder-embedding-dim 16 --attention-rnn-dim 24 --attention-dim 8 "
    "--attention-location-n-filters 4 --attention-location-kernel-size 7 --decoder-rnn-dim 24 "
    "--prenet-dim 12 --postnet-embedding-dim 16"
).split()
pytestmark = pytest.mark.usefixtures("one_thread")


def test_curve_of_a_run_and_cached_rescoring(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "corpus"
    write_synthetic_corpus(
        corpus,
        make_synthetic_corpus(
            n_utterances=4, seed=0, min_frames=2, max_frames=3, n_words=(1, 1), word_length=(2, 3)
        ),
    )
    (corpus / "test.txt").write_text((corpus / "filelist.txt").read_text())
    run = tmp_path / "run"
    lists = [
        "--training-files",
        str(corpus / "filelist.txt"),
        "--validation-files",
        str(corpus / "filelist.txt"),
    ]
    argv = [
        "-m",
        "Tacotron2",
        "-o",
        str(run),
        "-d",
        str(corpus),
        "--device",
        "cpu",
        "--num-workers",
        "0",
        "-lr",
        "1e-3",
        "-bs",
        "2",
        "--epochs",
        "2",
        "--epochs-per-checkpoint",
        "1",
        *lists,
        *TINY,
    ]
    assert train.main(argv) == 0
    argv = [
        "--run",
        str(run),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "curve"),
        "--max-utterances",
        "1",
        "--max-decoder-steps",
        "10",
        "--griffin-lim-iters",
        "1",
    ]
    assert learning_curve.main(argv) == 0
    points = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert [p["step"] for p in points] == [2, 4] and all(p["n_utterances"] == 1 for p in points)
    assert all(p["hours"] > 0 and 0 <= p["alignment"] <= 1 for p in points)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 10_000
    wav = next((tmp_path / "curve" / "step_2").glob("*.wav"))
    before = wav.stat().st_mtime_ns
    assert learning_curve.main(argv) == 0  # scores of checkpoints already done are reused
    assert wav.stat().st_mtime_ns == before
    assert learning_curve.main([*argv, "--every", "2"]) == 0  # the other checkpoint's score stays
    assert [p["step"] for p in json.loads((tmp_path / "curve" / "curve.json").read_text())] == [2, 4]
    # The int8 fast path is scored alike, in its own folder; fp32 scores are never taken for int8 ones.
    assert learning_curve.main([*argv, "--variant", "int8"]) == 1
    assert "give --variant int8 its own --out" in capsys.readouterr().err
    int8_argv = [*argv[:4], "--out", str(tmp_path / "curve_int8"), *argv[6:], "--variant", "int8"]
    commands = []
    real_run_command = learning.run_command
    monkeypatch.setattr(learning, "run_command", lambda s, a: (commands.append(a), real_run_command(s, a)))
    assert learning_curve.main(int8_argv) == 0
    assert len(commands) == 2 and all("--int8" in command for command in commands)
    points = json.loads((tmp_path / "curve_int8" / "curve.json").read_text())
    assert [(p["step"], p["variant"]) for p in points] == [(2, "int8"), (4, "int8")]
    assert (
        "step_2_int8" in points[0]["wav_dir"]
        and "--int8 (int8)" in (tmp_path / "curve_int8" / "curve.md").read_text()
    )
    (tmp_path / "empty").mkdir()
    empty = ["--run", str(tmp_path / "empty"), *argv[2:4], "--out", str(tmp_path / "x")]
    assert learning_curve.main(empty) == 1
    assert "no checkpoint_Tacotron2" in capsys.readouterr().err
