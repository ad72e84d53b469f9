"""recipes/speak.sh: the commands it runs (with a stand-in Python that records them), and that train.py
accepts its flags and its hparams."""

import os
import subprocess
from pathlib import Path

from neural_hmm.arguments import hparams_from_args, parse_args

FOLDER = Path(__file__).resolve().parents[1]
RECIPE = FOLDER / "recipes" / "speak.sh"


def run_recipe(work: Path, tmp_path: Path, **env: str) -> list[list[str]]:
    """Run the recipe with a Python that only records its arguments -> one argument list per call."""
    calls = tmp_path / "calls.txt"
    stand_in = tmp_path / "python"
    stand_in.write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> {calls}\necho >> {calls}\n')
    stand_in.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k not in ("CORPUS", "STEPS", "VOCODER")}
    environment.update(PYTHON=str(stand_in), **env)
    result = subprocess.run(["bash", str(RECIPE), str(work)], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [line.rstrip("\x1f").split("\x1f") for line in calls.read_text().splitlines()]


def test_the_recipe_builds_the_corpus_trains_then_scores(tmp_path):
    work = tmp_path / "work"
    corpus_call, train_call, curve_call = run_recipe(work, tmp_path, STEPS="7", VOCODER="hifigan-universal")
    assert corpus_call[:2] == ["-m", "filelists.demo_corpus"]
    assert corpus_call[corpus_call.index("--output-dir") + 1] == str(work / "corpus")

    assert train_call[0] == str(FOLDER / "train.py")
    args = parse_args(train_call[1:])  # every flag and hparam the recipe passes is one train.py knows
    assert args.max_steps == 7 and args.resume  # a rerun continues; the first run starts
    hparams = hparams_from_args(args)
    assert (hparams.batch_size, hparams.state_per_phone, hparams.data_dropout) == (16, 2, 0.3)
    assert hparams.post_prenet_rnn_dim == 512 and list(hparams.parameternetwork) == [256]

    assert curve_call[0] == str(FOLDER / "learning_curve.py")
    assert curve_call[curve_call.index("--run") + 1] == str(work / "speak")
    assert curve_call[curve_call.index("--out") + 1] == str(work / "curve_hifigan-universal")
    assert curve_call[curve_call.index("--vocoder") + 1] == "hifigan-universal"
