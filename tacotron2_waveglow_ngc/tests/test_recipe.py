"""recipes/speak.sh: the commands it runs (with a stand-in Python that records them), that train.py accepts
its flags and builds the reduced-width model, and that a rerun continues the run."""

import os
import subprocess
from pathlib import Path

from tacotron2_waveglow_ngc.arguments import parse_args
from tacotron2_waveglow_ngc.recipes import RECIPES

FOLDER = Path(__file__).resolve().parents[1]
RECIPE = FOLDER / "recipes" / "speak.sh"


def run_recipe(work: Path, tmp_path: Path, **env: str) -> list[list[str]]:
    """Run the recipe with a Python that only records its arguments -> one argument list per call."""
    calls = tmp_path / "calls.txt"
    calls.unlink(missing_ok=True)
    stand_in = tmp_path / "python"
    stand_in.write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> {calls}\necho >> {calls}\n')
    stand_in.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k not in ("CORPUS", "STEPS", "VOCODER", "GUIDED")}
    environment.update(PYTHON=str(stand_in), **env)
    result = subprocess.run(["bash", str(RECIPE), str(work)], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [line.rstrip("\x1f").split("\x1f") for line in calls.read_text().splitlines()]


def test_the_recipe_builds_the_corpus_trains_then_scores(tmp_path):
    work = tmp_path / "work"
    corpus_call, train_call, curve_call = run_recipe(work, tmp_path, STEPS="7")
    assert corpus_call[:2] == ["-m", "filelists.demo_corpus"]
    assert corpus_call[corpus_call.index("--output-dir") + 1] == str(work / "corpus")
    assert corpus_call[corpus_call.index("--sentences") + 1] == "short"

    assert train_call[0] == str(FOLDER / "train.py")
    args = parse_args(train_call[1:])  # every flag the recipe passes is one train.py knows
    assert args.max_steps == 7 and args.batch_size == 16 and not args.resume
    assert args.guided_attention_weight == 1.0
    assert Path(args.output) == work / "train" and Path(args.training_files) == work / "corpus" / "train.txt"
    config = RECIPES["Tacotron2"].config(args)
    assert (config.encoder_embedding_dim, config.attention_rnn_dim, config.decoder_rnn_dim) == (128, 256, 256)

    assert curve_call[0] == str(FOLDER / "learning_curve.py")
    assert curve_call[curve_call.index("--run") + 1] == str(work / "train")
    assert curve_call[curve_call.index("--out") + 1] == str(work / "curve")


def test_a_rerun_continues_and_a_vocoder_gets_its_own_curve(tmp_path):
    work = tmp_path / "work"
    (work / "train").mkdir(parents=True)
    (work / "train" / "checkpoint_Tacotron2_last.pt").write_bytes(b"")
    _, train_call, curve_call = run_recipe(work, tmp_path, VOCODER="hifigan-universal")
    assert parse_args(train_call[1:]).resume
    _, train_call, _ = run_recipe(work, tmp_path, GUIDED="0")
    assert parse_args(train_call[1:]).guided_attention_weight == 0.0  # the original's loss
    assert curve_call[curve_call.index("--out") + 1] == str(work / "curve_hifigan-universal")
    assert curve_call[curve_call.index("--vocoder") + 1] == "hifigan-universal"
