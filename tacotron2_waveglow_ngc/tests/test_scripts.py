"""scripts/train_*.sh: run outside an activated venv (no torchrun on PATH), from any folder, with DATA and
OUTPUT taken relative to where they are run."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1]
REPO_ROOT = FOLDER.parent
SCRIPTS = {
    "Tacotron2": FOLDER / "scripts" / "train_tacotron2.sh",
    "WaveGlow": FOLDER / "scripts" / "train_waveglow.sh",
}
VENV_PYTHON = REPO_ROOT / os.environ.get("TTS_VENV", ".venv") / "bin" / "python"
BARE_PATH = "/usr/bin:/bin"  # no venv, no torchrun


def run_script(script: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATA", "OUTPUT", "PYTHON", "VIRTUAL_ENV")
    }
    environment.update(PATH=BARE_PATH, **env)
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


@pytest.fixture(scope="module")
def venv_python() -> Path:
    if not VENV_PYTHON.is_file():
        pytest.skip(f"no virtual environment at {VENV_PYTHON.parent.parent} (run bash install.sh)")
    return VENV_PYTHON


def launch_and_train_args(stdout: str) -> tuple[list[str], list[str]]:
    """The printed command split into the launcher's words and train.py's arguments."""
    words = shlex.split(stdout)
    script = next(n for n, word in enumerate(words) if word.endswith("train.py"))
    return words[: script + 1], words[script + 1 :]


@pytest.mark.parametrize("model", SCRIPTS)
def test_dry_run_resolves_data_and_output_against_the_callers_folder(model, venv_python, tmp_path):
    env = {"DATA": "corpora", "OUTPUT": "./runs/t2", "NUM_GPUS": "2", "AMP": "1", "TTS_DRY_RUN": "1"}
    result = run_script(SCRIPTS[model], tmp_path, "--seed", "7", **env)
    assert result.returncode == 0, result.stderr
    launcher, args = launch_and_train_args(result.stdout)
    torchrun = [str(venv_python), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert launcher == [*torchrun, str(FOLDER / "train.py")]
    assert option(args, "-m") == model and option(args, "-o") == str(tmp_path / "runs" / "t2")
    data = tmp_path / "corpora"
    assert option(args, "--dataset-path") == str(data / "LJSpeech-1.1")
    assert option(args, "--training-files") == str(data / "filelists" / "ljs_audio_text_train_filelist.txt")
    assert option(args, "--validation-files") == str(data / "filelists" / "ljs_audio_text_val_filelist.txt")
    assert "--amp" in args and args[-2:] == ["--seed", "7"]


def test_defaults_and_absolute_paths(venv_python, tmp_path):
    result = run_script(SCRIPTS["WaveGlow"], tmp_path, DATA="/srv/tts-data", TTS_DRY_RUN="1")
    _, args = launch_and_train_args(result.stdout)
    assert option(args, "--dataset-path") == "/srv/tts-data/LJSpeech-1.1"
    assert option(args, "-o") == str(tmp_path / "output") and "--amp" not in args


def test_python_and_venv_can_be_chosen(venv_python, tmp_path):
    chosen = run_script(SCRIPTS["Tacotron2"], tmp_path, PYTHON=sys.executable, TTS_DRY_RUN="1")
    assert shlex.split(chosen.stdout)[0] == sys.executable
    missing = run_script(SCRIPTS["Tacotron2"], tmp_path, TTS_VENV="no-such-venv", TTS_DRY_RUN="1")
    assert missing.returncode == 1
    assert f"no Python at {REPO_ROOT / 'no-such-venv' / 'bin' / 'python'}" in missing.stderr
    assert "install.sh" in missing.stderr


def test_the_launch_reaches_train_py_without_torchrun_on_path(venv_python, tmp_path):
    """No dry run: the venv's torch.distributed.run starts train.py, which prints its help and exits."""
    result = run_script(SCRIPTS["Tacotron2"], tmp_path, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--load-mel-from-disk" in result.stdout
