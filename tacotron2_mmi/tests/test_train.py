"""train.py on the synthetic tone corpus with a tiny model (CPU, a few seconds each)."""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from tacotron2_mmi import train
from tacotron2_mmi.checkpoints import load_tacotron2, read_training_checkpoint
from tacotron2_mmi.data import TextMelDataset, collate_text_mel
from tacotron2_mmi.global_mean import compute_global_mean
from tacotron2_mmi.hparams import create_hparams
from tacotron2_mmi.infra import Distributed

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = (
    "n_mel_channels=20,symbols_embedding_dim=16,encoder_embedding_dim=16,encoder_n_convolutions=1,"
    "attention_rnn_dim=24,attention_dim=8,attention_location_n_filters=4,attention_location_kernel_size=7,"
    "decoder_rnn_dim=24,prenet_dim=12,postnet_embedding_dim=16,postnet_n_convolutions=2,batch_size=2,"
    "num_workers=0,iters_per_checkpoint=2"
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """10 short utterances: train.txt (8), val.txt (the other 2), four.txt (the first four of train.txt),
    one_repeated.txt (the first one twice, so every batch is the same batch)."""
    root = tmp_path_factory.mktemp("corpus")
    synthetic = make_synthetic_corpus(
        n_utterances=10, seed=0, min_frames=2, max_frames=3, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(root, synthetic)
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "train.txt").write_text("".join(lines[:8]))
    (root / "val.txt").write_text("".join(lines[8:]))
    (root / "four.txt").write_text("".join(lines[:4]))
    (root / "one_repeated.txt").write_text(lines[0] * 2)
    return root


def argv(corpus: Path, output: Path, *extra: str, train_list="train.txt", val_list="val.txt", hp=""):
    return [
        "-o",
        str(output),
        "--device",
        "cpu",
        "--training-files",
        str(corpus / train_list),
        "--validation-files",
        str(corpus / val_list),
        "--hparams",
        TINY + ("," + hp if hp else ""),
        *extra,
    ]


def run(corpus: Path, output: Path, *extra: str, **options) -> int:
    return train.main(argv(corpus, output, *extra, **options))


def records(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]


def train_records(output: Path) -> list[dict]:
    return [r["data"] for r in records(output) if isinstance(r["step"], int) and "taco_loss" in r["data"]]


def test_run_writes_checkpoints_log_global_mean_and_tensorboard(corpus, tmp_path):
    assert run(corpus, tmp_path, "--max-steps", "3") == 0
    # The original's names: checkpoint_<index of the update>, every iters_per_checkpoint from update 0.
    assert sorted(p.name for p in tmp_path.glob("checkpoint_*")) == [
        "checkpoint_0",
        "checkpoint_2",
        "checkpoint_last",
    ]
    checkpoint = read_training_checkpoint(tmp_path / "checkpoint_last")
    assert checkpoint["iteration"] == 2 and checkpoint["learning_rate"] == 1e-3
    assert checkpoint["gaf"] == 0.5 and checkpoint["next_batch"] == 3
    stored = torch.load(tmp_path / "global_mean.pt", weights_only=True)
    assert stored["source"]["filelist"] == str(corpus / "train.txt")
    assert torch.equal(checkpoint["global_mean"], stored["global_mean"])
    hparams = create_hparams(TINY)
    expected = compute_global_mean(TextMelDataset(corpus / "train.txt", hparams))
    torch.testing.assert_close(stored["global_mean"], expected, atol=0, rtol=0)
    steps = train_records(tmp_path)
    assert len(steps) == 3 and all(math.isfinite(s["mi_loss"]) and s["gaf"] == 0.5 for s in steps)
    assert steps[0]["loss"] == pytest.approx(steps[0]["taco_loss"] + 0.5 * steps[0]["mi_loss"])
    validation = [r["data"] for r in records(tmp_path) if "validation.loss" in r["data"]]
    assert len(validation) == 2 and {"validation.mi_loss", "alignment/focus", "alignment/diagonal"} <= set(
        validation[0]
    )
    events = list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 20_000  # scalars, histograms and the four images
    model = load_tacotron2(tmp_path / "checkpoint_last")  # inference reads training checkpoints directly
    assert model.hparams.n_mel_channels == 20 and torch.equal(model.global_mean, stored["global_mean"])


def test_overfit_one_batch_with_mmi(corpus, tmp_path):
    """Every batch is the same two utterances: both the taco loss and the MI (CTC) loss must fall."""
    hp = "learning_rate=0.005,iters_per_checkpoint=1000,update_gaf_every_n_step=5"
    assert run(corpus, tmp_path, "--max-steps", "30", train_list="one_repeated.txt", hp=hp) == 0
    steps = train_records(tmp_path)
    taco, mi = [s["taco_loss"] for s in steps], [s["mi_loss"] for s in steps]
    assert np.mean(taco[-3:]) < 0.5 * np.mean(taco[:3]), taco
    assert np.mean(mi[-3:]) < 0.9 * np.mean(mi[:3]), mi
    assert all(0 < s["gaf"] <= 0.5 for s in steps)


def test_resume_is_bit_identical_including_gaf_and_global_mean(corpus, tmp_path):
    """6 updates in one go == 2, stop, resume for 4 (mid-epoch, between two GAF batches, with the global
    mean file deleted: the checkpoint's copy is used)."""
    hp = "update_gaf_every_n_step=3,max_gaf=1000,iters_per_checkpoint=1000"
    assert run(corpus, tmp_path / "whole", "--max-steps", "6", hp=hp) == 0
    assert run(corpus, tmp_path / "split", "--max-steps", "2", hp=hp) == 0
    first = read_training_checkpoint(tmp_path / "split" / "checkpoint_last")
    assert first["next_batch"] == 2 and first["epoch"] == 0  # 4 batches per epoch: mid-epoch, no GAF due
    (tmp_path / "split" / "global_mean.pt").unlink()
    assert run(corpus, tmp_path / "split", "--max-steps", "6", "--resume", hp=hp) == 0
    assert not (tmp_path / "split" / "global_mean.pt").exists()
    whole = read_training_checkpoint(tmp_path / "whole" / "checkpoint_5")
    split = read_training_checkpoint(tmp_path / "split" / "checkpoint_5")
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, split["state_dict"][name]), name
    assert whole["gaf"] == split["gaf"] and whole["gaf"] != 0.5  # the uncapped factor, renewed 3 times
    assert torch.equal(whole["global_mean"], split["global_mean"])
    whole_steps, split_steps = train_records(tmp_path / "whole"), train_records(tmp_path / "split")
    assert [s["loss"] for s in whole_steps] == [s["loss"] for s in split_steps]
    assert len({s["gaf"] for s in whole_steps}) == 3  # renewed at batches 0 and 3 of epoch 0, 0 of epoch 1


def test_used_output_directory_needs_resume_or_force(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path, "--max-steps", "1") == 0
    (tmp_path / ".checkpoint_9.123.partial").write_bytes(b"left by a kill -9")
    assert run(corpus, tmp_path, "--max-steps", "2") == 1
    assert "already holds a run" in capsys.readouterr().err
    assert run(corpus, tmp_path, "--max-steps", "2", "--resume") == 0
    assert read_training_checkpoint(tmp_path / "checkpoint_last")["iteration"] == 1
    assert not list(tmp_path.glob("*.partial"))
    assert run(corpus, tmp_path, "--max-steps", "1", "--force") == 0
    assert (tmp_path / "log.jsonl.1").is_file() and len(train_records(tmp_path)) == 1


def test_global_mean_of_another_corpus_is_refused(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path / "a", "--max-steps", "1", train_list="four.txt") == 0
    mean = tmp_path / "a" / "global_mean.pt"
    code = run(corpus, tmp_path / "b", "--max-steps", "1", hp=f"global_mean_npy={mean}")
    assert code == 1
    assert f"computed from {corpus / 'four.txt'} with another training filelist" in capsys.readouterr().err
    # Resuming with another training list: the checkpoint's mean is refused as well.
    code = run(corpus, tmp_path / "a", "--max-steps", "2", "--resume", train_list="train.txt")
    assert code == 1 and "with another training filelist" in capsys.readouterr().err
    mean.write_bytes(mean.read_bytes()[:30])  # truncated
    code = run(
        corpus, tmp_path / "c", "--max-steps", "1", train_list="four.txt", hp=f"global_mean_npy={mean}"
    )
    assert code == 1 and "global mean" in capsys.readouterr().err


def test_bf16_step_on_cpu(corpus, tmp_path):
    assert run(corpus, tmp_path, "--max-steps", "2", "--amp") == 0
    steps = train_records(tmp_path)
    assert len(steps) == 2 and all(math.isfinite(s["loss"]) for s in steps)
    checkpoint = read_training_checkpoint(tmp_path / "checkpoint_last")
    assert all(t.dtype != torch.bfloat16 for t in checkpoint["state_dict"].values())


def tiny_trainer(corpus: Path, tmp_path: Path, **hp):
    hparams = create_hparams(TINY + f",training_files={corpus / 'four.txt'}").replace(**hp)
    mean = compute_global_mean(TextMelDataset(corpus / "four.txt", hparams))
    run_ = train.Run(hparams, tmp_path, None, None, mean, None)
    args = argparse.Namespace(amp=False, warm_start=False, max_nonfinite_steps=10, checkpoint_path=None)
    ddp = Distributed(0, 0, 1, torch.device("cpu"))
    trainer, _, _ = train.build_trainer(run_, args, ddp, 2)
    batch = collate_text_mel([TextMelDataset(corpus / "four.txt", hparams)[i] for i in range(2)])
    return trainer, batch, ddp


def test_gaf_goes_through_the_grad_scaler(corpus, tmp_path):
    """The two GAF passes run on scaled losses: the factor and the update equal the unscaled ones; an
    overflow makes the scaler skip the step and keeps the previous factor."""
    reference, batch, ddp = tiny_trainer(corpus, tmp_path, max_gaf=1000.0)
    scaled, _, _ = tiny_trainer(corpus, tmp_path, max_gaf=1000.0)
    scaled.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    for trainer in (reference, scaled):
        torch.manual_seed(3)
        losses, result = train.train_step(trainer, batch, 0, ddp)
        assert result.applied and math.isfinite(losses["gaf"])
    assert scaled.gaf.value == pytest.approx(reference.gaf.value, rel=1e-6)
    for (name, a), b in zip(reference.model.named_parameters(), scaled.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    before = {k: v.clone() for k, v in scaled.model.state_dict().items()}
    gaf_before = scaled.gaf.value
    scaled.precision.scaler.update(2.0**127)  # the next scaled gradients overflow float32
    torch.manual_seed(3)
    train.train_step(scaled, batch, 0, ddp)
    assert scaled.gaf.value == gaf_before and scaled.precision.scaler.get_scale() < 2.0**127
    for name, tensor in scaled.model.state_dict().items():
        if tensor.is_floating_point() and "running" not in name:
            assert torch.equal(tensor, before[name]), name


def test_nonfinite_loss_is_skipped_then_stops(corpus, tmp_path, monkeypatch, capsys):
    calls = []

    class FirstNaN(train.Tacotron2MMILoss):
        def forward(self, outputs, batch):
            taco, mi = super().forward(outputs, batch)
            calls.append(1)
            return (taco._replace(taco_loss=taco.taco_loss * math.nan) if len(calls) == 1 else taco), mi

    monkeypatch.setattr(train, "Tacotron2MMILoss", FirstNaN)
    assert run(corpus, tmp_path / "once", "--max-steps", "2") == 0
    assert any("nonfinite_step_skipped" in r["data"] for r in records(tmp_path / "once"))
    assert len(train_records(tmp_path / "once")) == 1

    class AlwaysNaN(train.Tacotron2MMILoss):
        def forward(self, outputs, batch):
            taco, mi = super().forward(outputs, batch)
            return taco._replace(taco_loss=taco.taco_loss * math.nan), mi

    monkeypatch.setattr(train, "Tacotron2MMILoss", AlwaysNaN)
    assert run(corpus, tmp_path / "always", "--max-steps", "5", "--max-nonfinite-steps", "2") == 1
    assert "stopped after 2 consecutive non-finite steps" in capsys.readouterr().err
    # Only the validation checkpoint of update 0 (as the original, it validates and saves after update 0).
    assert sorted(p.name for p in (tmp_path / "always").glob("checkpoint_*")) == [
        "checkpoint_0",
        "checkpoint_last",
    ]


def test_every_bad_line_is_reported_before_training(corpus, tmp_path, capsys):
    good = (corpus / "four.txt").read_text().splitlines()[0].split("|")[0]
    soundfile.write(tmp_path / "16k.wav", np.zeros(4000, dtype=np.float32), 16000, subtype="PCM_16")
    soundfile.write(tmp_path / "short.wav", 0.1 * np.ones(2000, dtype=np.float32), 22050, subtype="PCM_16")
    (tmp_path / "bad.txt").write_text(
        f"{corpus}/wavs/nope.wav|dot\n{corpus}/{good}|dot ^ net\n{tmp_path}/16k.wav|dot\n"
        f"{corpus}/{good}|\U0001f600\n{tmp_path}/short.wav|a long sentence for two thousand samples\n"
    )
    assert run(corpus, tmp_path / "out", train_list=str(tmp_path / "bad.txt")) == 1
    message = capsys.readouterr().err
    expected = [
        (1, "audio file not found"),
        (2, "'^'"),
        (3, "sampling rate 16000 Hz"),
        (4, "nothing to speak"),
        (5, "too few for the text"),
    ]
    for line, problem in expected:
        assert f"{tmp_path / 'bad.txt'}:{line}: " in message and problem in message, (line, problem, message)
    assert not list((tmp_path / "out").glob("checkpoint_*"))


def test_checkpoint_errors_are_one_line(corpus, tmp_path, capsys):
    (tmp_path / "truncated").write_bytes(b"PK\x03\x04 not a whole file")
    assert run(corpus, tmp_path / "o", "-c", str(tmp_path / "truncated")) == 1
    assert "truncated: truncated or not a PyTorch checkpoint" in capsys.readouterr().err
    torch.save({"state_dict": {"embedding.weight": torch.zeros(2)}}, tmp_path / "weights.pt")
    assert run(corpus, tmp_path / "o", "-c", str(tmp_path / "weights.pt")) == 1
    assert "--warm_start" in capsys.readouterr().err
    assert run(corpus, tmp_path / "o", "-c", str(tmp_path)) == 1
    assert "is a folder, not a checkpoint file" in capsys.readouterr().err


def test_resume_from_the_originals_checkpoint_and_warm_start(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path / "ours", "--max-steps", "3") == 0
    ours = read_training_checkpoint(tmp_path / "ours" / "checkpoint_2")
    original = {key: ours[key] for key in ("iteration", "state_dict", "optimizer", "learning_rate")}
    torch.save(original, tmp_path / "checkpoint_2")
    # The original's file holds no hparams: the sizes come from the shapes, the rest from the command line.
    assert run(corpus, tmp_path / "resumed", "--max-steps", "5", "-c", str(tmp_path / "checkpoint_2")) == 0
    resumed = read_training_checkpoint(tmp_path / "resumed" / "checkpoint_last")
    assert resumed["iteration"] == 4 and resumed["epoch"] == 0  # 3 updates of 4 batches: still epoch 0
    assert (
        run(
            corpus,
            tmp_path / "warm",
            "--max-steps",
            "1",
            "-c",
            str(tmp_path / "checkpoint_2"),
            "--warm_start",
        )
        == 0
    )
    assert read_training_checkpoint(tmp_path / "warm" / "checkpoint_last")["iteration"] == 0
    assert "fresh: ['embedding.weight']" in capsys.readouterr().err


def test_print_config_help_and_flags(capsys):
    assert train.main(["--print-config", "--hparams", "batch_size=3,use_mmi=false", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "batch_size=3," in out and "use_mmi=False," in out and "seed=7," in out
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    assert "--warm_start" in text and "--output_directory" in text and "[32]" in text
    for bad in (
        ["-o", "x", "--max-step", "3"],
        ["-o", "x", "--warm_start"],
        ["-o", "x", "--hparams", "nope=1"],
        [],
    ):
        with pytest.raises(SystemExit):
            train.parse_args(bad)


def test_default_filelists_missing_say_what_to_pass(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(["-o", str(tmp_path / "out"), "--device", "cpu"]) == 1
    assert "pass --training-files and --validation-files" in capsys.readouterr().err


DDP_SCRIPT = """
import os, sys, torch
from tacotron2_mmi import train
torch.set_num_threads(1)
model = train.train(train.parse_args(sys.argv[1:]))
parameters = {n: p.detach() for n, p in model.named_parameters()}
torch.save(parameters, os.path.join(os.environ["OUT"], f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(corpus, tmp_path):
    """DDP with the GAF renewed on every batch: both ranks hold the same weights and the checkpoint's."""
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
        *argv(corpus, tmp_path / "run", "--max-steps", "2", hp="update_gaf_every_n_step=1"),
    ]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = read_training_checkpoint(tmp_path / "run" / "checkpoint_last")
    assert len(saved["rng_states_all"]) == 2 and saved["gaf"] == 0.5
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
        assert torch.equal(tensor, saved["state_dict"][name]), name
