"""learning_curve.py: every checkpoint of a run synthesised, scored and plotted; rerunning reuses scores."""

import json

import pytest

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from neural_hmm import learning_curve, train

TINY = (
    "n_mel_channels=80,symbols_embedding_dim=16,encoder_embedding_dim=16,encoder_n_convolutions=1,"
    "prenet_dim=16,post_prenet_rnn_dim=24,parameternetwork=[24],num_workers=0,"
    "val_check_interval=1,save_model_checkpoint=1,batch_size=2"
)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_curve_of_a_run_and_cached_rescoring(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    write_synthetic_corpus(
        corpus,
        make_synthetic_corpus(
            n_utterances=4, seed=0, min_frames=2, max_frames=3, n_words=(1, 1), word_length=(2, 3)
        ),
    )
    (corpus / "test.txt").write_text((corpus / "filelist.txt").read_text())
    runs = tmp_path / "runs"
    lists = [
        "--training-files",
        str(corpus / "filelist.txt"),
        "--validation-files",
        str(corpus / "filelist.txt"),
    ]
    assert (
        train.main(
            ["-o", str(runs), "-r", "r", "--device", "cpu", *lists, "--hparams", TINY, "--max-steps", "2"]
        )
        == 0
    )
    argv = [
        "--run",
        str(runs / "r"),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "curve"),
        "--max-utterances",
        "1",
        "--max-sampling-time",
        "20",
        "--griffin-lim-iters",
        "1",
    ]
    assert learning_curve.main(argv) == 0
    points = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert [p["step"] for p in points] == [1, 2] and all(p["n_utterances"] == 1 for p in points)
    assert all(p["hours"] > 0 and 0 <= p["alignment"] <= 1 for p in points)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 10_000
    wav = next((tmp_path / "curve" / "step_1").glob("*.wav"))
    before = wav.stat().st_mtime_ns
    assert learning_curve.main(argv) == 0  # scores of checkpoints already done are reused
    assert wav.stat().st_mtime_ns == before
    assert "| 2 |" in (tmp_path / "curve" / "curve.md").read_text()
    assert learning_curve.main([*argv, "--every", "2"]) == 0  # step 1's score stays in the curve
    assert [p["step"] for p in json.loads((tmp_path / "curve" / "curve.json").read_text())] == [1, 2]
    assert (
        learning_curve.main(
            [*argv[:2], "--corpus", str(corpus), "--out", str(tmp_path / "x"), "--every", "7"]
        )
        == 1
    )
    assert "no checkpoint" in capsys.readouterr().err
