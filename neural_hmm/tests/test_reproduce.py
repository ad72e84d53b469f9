"""reproduce.py end to end at its smallest: --quick timing, a tiny espeak corpus, steps 0 and 2, two
sentences scored (about half a minute on one CPU thread)."""

import json
import math

import pytest

from neural_hmm import reproduce

# A tiny trained model: the curve is about the pipeline, not about speech quality.
TINY_TRAIN = (
    "encoder_n_convolutions=1,symbols_embedding_dim=16,encoder_embedding_dim=16,prenet_dim=16,"
    "post_prenet_rnn_dim=24,parameternetwork=[24]"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from filelists.demo_corpus import DemoCorpusError, build_demo_corpus

    try:
        return build_demo_corpus(
            tmp_path_factory.mktemp("demo_corpus"), size="tiny", voice="espeak", install=False, progress=False
        )
    except DemoCorpusError as error:
        pytest.skip(f"no espeak demo corpus: {error}")


@pytest.fixture(scope="module")
def report(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduction")
    argv = [
        "--out", str(out), "--corpus", str(corpus), "--steps", "2,0", "--max-utterances", "2", "--quick",
        "--max-sampling-time", "200", "--griffin-lim-iters", "4", "--train-hparams", TINY_TRAIN,
    ]  # fmt: skip
    assert reproduce.main(argv) == 0
    return out


def test_files_exist(report):
    for name in ("reproduction.md", "reproduction.json", "asr_over_training.png"):
        assert (report / name).is_file(), name
    png = (report / "asr_over_training.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_size_and_speed_tables(report):
    results = json.loads((report / "reproduction.json").read_text())
    table = (report / "reproduction.md").read_text()
    size = results["parameters"]
    assert size["tacotron2"] > size["nh2"] > size["nh1"] > 10_000_000
    for count in (size["nh2"], size["nh1"], 28_193_153):
        assert f"{count:,}" in table
    speed = results["speed"]
    assert speed["size"] == "tiny (--quick)" and "tiny (--quick)" in table
    assert speed["frames"] == reproduce.BENCH_FRAMES and len(speed["synthesis_s_runs"]) == 3
    assert speed["rtf"] == pytest.approx(speed["synthesis_s"] / speed["audio_s"])
    assert f"{speed['rtf']:.3f}" in table
    assert "2.85" in table and "0.615" in table and "not this run" in table


def test_training_curve(report):
    results = json.loads((report / "reproduction.json").read_text())
    points = results["training_curve"]["points"]
    assert [point["step"] for point in points] == [0, 2]
    table = (report / "reproduction.md").read_text()
    for point in points:
        assert point["n_utterances"] >= 1
        assert math.isfinite(point["wer_corpus_lm"]) and point["wer_corpus_lm"] >= 0
        assert math.isfinite(point["cer_corpus_lm"]) and point["cer_corpus_lm"] >= 0
        assert math.isfinite(point["mcd_mean_db"])
        assert f"| {point['step']} | {point['wer_corpus_lm']:.3f} |" in table
    assert "pipeline check" in table and "LJ Speech" in table
