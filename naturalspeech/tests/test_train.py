"""train.py and attach_memory_bank.py on the tone corpus with a tiny configuration (CPU, seconds each)."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from naturalspeech import attach_memory_bank, train
from naturalspeech.checkpoints import read_checkpoint
from naturalspeech.tests.conftest import tiny_config

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


def argv(corpus, output, *extra, lists="train.txt", mas=False, config=None):
    config_path = corpus / "tiny.json"
    if config is not None:
        config_path = output.parent / f"{output.name}.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(config))
    durations = ["--use-mas"] if mas else ["--durations", str(corpus / "durations")]
    return [
        "-c",
        str(config_path),
        "-m",
        "run",
        "-o",
        str(output),
        "--cpu",
        "--training-files",
        str(corpus / lists),
        "--validation-files",
        str(corpus / "val.txt"),
        *durations,
        *extra,
    ]


def run(corpus, output, *extra, **options) -> int:
    return train.main(argv(corpus, output, *extra, **options))


def records(output):
    return [json.loads(line) for line in (output / "run" / "log.jsonl").read_text().splitlines()]


def losses(output, name="loss/g/mel"):
    return [r["data"][name] for r in records(output) if isinstance(r["step"], int) and name in r["data"]]


def test_warmup_attach_then_main_stage(corpus, tmp_path, capsys):
    """The original's three stages, with alignment search instead of external durations."""
    assert run(corpus, tmp_path, "--warmup", "--max-steps", "3", mas=True) == 0
    folder = tmp_path / "run"
    warmup = read_checkpoint(folder / "G_0.pth")
    # The original's four keys are there (its loader reads only those), plus ours.
    assert {"model", "iteration", "optimizer", "learning_rate", "config", "position"} <= set(warmup)
    assert warmup["stage"] == "warmup" and not any(k.startswith("memory_bank.") for k in warmup["model"])
    assert warmup["config"]["train"]["c_kl_fwd"] == 0.001  # the file's value, not the warm-up's 0
    assert (folder / "eval" / "0" / "0.wav").is_file() and (folder / "eval" / "0" / "0_gt.wav").is_file()
    assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    assert len(losses(tmp_path)) == 3 and all(np.isfinite(losses(tmp_path, "loss/g/kl_mas")))

    # The main stage without a bank is refused, with what to do.
    assert run(corpus, tmp_path, "--resume", "--max-steps", "4", mas=True) == 1
    assert "run `python attach_memory_bank.py" in capsys.readouterr().err
    newest = max(folder.glob("G_[0-9].pth"))
    assert (
        attach_memory_bank.main(
            ["--weights_path", str(newest), "--training-files", str(corpus / "train.txt"), "--cpu"]
        )
        == 0
    )
    attached = newest.with_name(f"{newest.stem}_with_memory.pth")
    bank = read_checkpoint(attached)["model"]["memory_bank.memory_bank"]
    assert bank.shape == (16, 8) and (folder / "bank_init.pth").is_file()
    assert len(read_checkpoint(attached)["optimizer"]["param_groups"]) == 2  # the bank's own group

    assert run(corpus, tmp_path, "--resume", "--max-steps", "5", mas=True) == 0
    assert f"resuming from {attached}" in capsys.readouterr().err
    final = read_checkpoint(max(folder.glob("G_[0-9].pth")))
    assert final["stage"] == "main" and final["position"]["iteration"] == 5
    assert not torch.equal(final["model"]["memory_bank.memory_bank"], bank)  # the bank trains


def test_resume_is_bit_identical(corpus, tmp_path):
    """6 updates in one go == 3, stop (mid-epoch: 4 batches an epoch), resume for 3 more."""
    assert run(corpus, tmp_path / "whole", "--max-steps", "6") == 0
    assert run(corpus, tmp_path / "split", "--max-steps", "3") == 0
    assert read_checkpoint(tmp_path / "split" / "run" / "G_0.pth")["position"]["next_batch"] == 3
    assert run(corpus, tmp_path / "split", "--max-steps", "6", "--resume") == 0
    for kind in ("G", "D"):
        whole = read_checkpoint(tmp_path / "whole" / "run" / f"{kind}_1.pth")
        split = read_checkpoint(tmp_path / "split" / "run" / f"{kind}_1.pth")
        for name, tensor in whole["model"].items():
            assert torch.equal(tensor, split["model"][name]), (kind, name)
        assert whole["optimizer"]["param_groups"][0]["lr"] == split["optimizer"]["param_groups"][0]["lr"]
    assert losses(tmp_path / "whole")[3:] == losses(tmp_path / "split")[3:]


def test_used_run_folder_needs_resume_or_force(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path, "--max-steps", "1") == 0
    assert run(corpus, tmp_path, "--max-steps", "2") == 1
    assert "already holds a run" in capsys.readouterr().err
    assert run(corpus, tmp_path, "--max-steps", "1", "--force") == 0
    assert (tmp_path / "run" / "log.jsonl.1").is_file()


def test_overfit_one_batch(corpus, tmp_path):
    """One utterance shorter than the segment (so every step decodes all of it): 30 updates at lr 3e-3
    roughly halve the generator loss (measured: total 205 -> 93, mel 140 -> 87)."""
    # No TensorBoard images (every 2 steps in tiny_config): the losses come from log.jsonl, and the 60
    # figures cost ~10 s of CPU time (measured: 24 -> 14 s for the whole test).
    config = tiny_config(learning_rate=3e-3, segment_size=8192, log_interval=1000)
    code = run(corpus, tmp_path / "out", "--max-steps", "30", lists="one_repeated.txt", config=config)
    assert code == 0
    total, mel = losses(tmp_path / "out", "loss/g/total"), losses(tmp_path / "out")
    assert np.mean(total[-5:]) < 0.6 * np.mean(total[:3]), total
    assert np.mean(mel[-5:]) < 0.8 * np.mean(mel[:3]), mel


def test_predicted_durations_with_soft_dtw_and_bf16(corpus, tmp_path):
    """The reproduce configuration's path (predicted durations, soft-DTW KL both ways), under --amp."""
    config = tiny_config(use_gt_duration=False, use_sdtw=True)
    assert run(corpus, tmp_path / "out", "--max-steps", "2", "--amp", config=config) == 0
    assert len(losses(tmp_path / "out", "loss/g/kl")) == 2
    assert all(np.isfinite(losses(tmp_path / "out", "loss/g/kl_fwd")))
    state = read_checkpoint(max((tmp_path / "out" / "run").glob("G_*.pth")))["model"]
    assert all(t.dtype == torch.float32 for t in state.values() if t.is_floating_point())


def test_durations_that_disagree_with_the_text_are_reported_before_training(corpus, tmp_path, capsys):
    bad = tmp_path / "durations"
    bad.mkdir()
    for path in (corpus / "durations").glob("*.npy"):
        durations = np.load(path)
        if path.name.startswith("syn-0002"):
            durations = np.concatenate([durations, [1]])  # one symbol too many
        if path.name.startswith("syn-0003"):
            durations = durations + 1  # more frames than the audio
        if not path.name.startswith("syn-0004"):  # missing
            np.save(bad / path.name, durations)
    code = train.main([*argv(corpus, tmp_path / "out", "--max-steps", "1")[:-2], "--durations", str(bad)])
    assert code == 1
    message = capsys.readouterr().err
    assert "train.txt:2: " in message and "durations for" in message and "symbols of the text" in message
    assert "train.txt:3: " in message and "frames, but the audio has" in message
    assert "train.txt:4: " in message and "durations file not found" in message
    assert not list((tmp_path / "out").rglob("G_*.pth"))


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_checkpoint_that_would_run_code_is_refused(corpus, tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    for kind in ("G", "D"):
        torch.save(
            {"model": {"w": torch.zeros(1)}, "iteration": 0, "payload": RunsCode()}, folder / f"{kind}_0.pth"
        )
    assert run(corpus, tmp_path, "--resume", "--max-steps", "1") == 1
    message = capsys.readouterr().err
    assert "refused to load" in message and ("os.system" in message or "posix.system" in message)
    assert pickle  # the file above is a real pickle with a system call


def test_missing_audio_and_filelists_give_one_line_errors(corpus, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{corpus}/wavs/nope.wav|dot\n")
    common = ["-c", str(corpus / "tiny.json"), "-m", "x", "-o", str(tmp_path), "--cpu", "--use-mas"]
    assert (
        train.main([*common, "--training-files", str(listing), "--validation-files", str(corpus / "val.txt")])
        == 1
    )
    message = capsys.readouterr().err
    assert "list.txt:1: " in message and "audio file not found" in message
    assert train.main([*common, "--training-files", str(tmp_path / "none.txt")]) == 1
    assert "none.txt not found" in capsys.readouterr().err


def test_require_cuda_and_legacy_resume(corpus, tmp_path, capsys):
    if not torch.cuda.is_available():
        assert run(corpus, tmp_path, "--require-cuda") == 1
        assert "CPU training is not allowed" in capsys.readouterr().err
    # A warm-up checkpoint only, in the main stage: we stop and say why; the original (--legacy-resume)
    # fails to load it and silently starts over from epoch 0 (here with a warning).
    assert run(corpus, tmp_path, "--warmup", "--max-steps", "1") == 0
    assert run(corpus, tmp_path, "--resume", "--max-steps", "2") == 1
    assert "warm-up checkpoint" in capsys.readouterr().err
    assert run(corpus, tmp_path, "--legacy-resume", "--max-steps", "1") == 0
    assert "starting over from epoch 0" in capsys.readouterr().err


def test_print_config(corpus, capsys):
    assert (
        train.main(
            ["-c", str(corpus / "tiny.json"), "-m", "x", "--print-config", "--set", "train.batch_size=3"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["train"]["batch_size"] == 3
    assert (
        train.main(
            ["-c", str(corpus / "tiny.json"), "-m", "x", "--print-config", "--set", "train.batch_sise=3"]
        )
        == 1
    )
    assert 'unknown key(s) in "train": batch_sise' in capsys.readouterr().err


DDP_SCRIPT = """
import os, sys, torch
from naturalspeech import train
torch.set_num_threads(1)
model = train.train(train.parse_args(sys.argv[1:]))
torch.save({n: p.detach() for n, p in model.named_parameters()}, os.path.join(os.environ["OUT"],
           f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(corpus, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        *argv(corpus, tmp_path, "--max-steps", "2"),
    ]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = read_checkpoint(max((tmp_path / "run").glob("G_*.pth")))["model"]
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
        assert torch.equal(tensor, saved[name]), name
