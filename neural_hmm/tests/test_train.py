"""train.py on the synthetic tone corpus with a tiny model (CPU, a few seconds each)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from neural_hmm import train
from neural_hmm.checkpoints import load_neural_hmm, read_training_checkpoint
from neural_hmm.infra import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
N_MEL = 20
TINY = (
    f"n_mel_channels={N_MEL},symbols_embedding_dim=16,encoder_embedding_dim=16,encoder_n_convolutions=1,"
    "prenet_dim=16,post_prenet_rnn_dim=24,parameternetwork=[24],num_workers=0,precision=32,"
    "val_check_interval=3,save_model_checkpoint=3,batch_size=2"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """8 short utterances (2-3 frames per character): filelist.txt, four.txt, and one_repeated.txt (the
    first utterance twice: every batch of a run on it is the same batch)."""
    root = tmp_path_factory.mktemp("corpus")
    synthetic = make_synthetic_corpus(
        n_utterances=8, seed=0, min_frames=2, max_frames=3, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(root, synthetic)
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "four.txt").write_text("".join(lines[:4]))
    (root / "one_repeated.txt").write_text(lines[0] * 2)
    return root


pytestmark = pytest.mark.usefixtures("one_thread")


def argv(corpus: Path, output: Path, *extra: str, train_list="four.txt", val_list="four.txt", hp=""):
    return [
        "-o", str(output), "--device", "cpu",
        "--training-files", str(corpus / train_list), "--validation-files", str(corpus / val_list),
        "--hparams", TINY + ("," + hp if hp else ""), *extra,
    ]  # fmt: skip


def run(corpus: Path, output: Path, *extra: str, **options) -> int:
    return train.main(argv(corpus, output, *extra, **options))


def read_log(output: Path, run_name: str = "TestRun") -> list[dict]:
    return [json.loads(line) for line in (output / run_name / "log.jsonl").read_text().splitlines()]


def train_losses(output: Path) -> list[float]:
    return [r["data"]["loss/train"] for r in read_log(output) if isinstance(r["step"], int)
            and "loss/train" in r["data"]]  # fmt: skip


def test_hparams_overrides_and_flags():
    args = train.parse_args(["--hparams", "parameternetwork=[64, 32],train_go=False,run_name=x", "-r", "y"])
    hparams = train.hparams_from_args(args)
    assert hparams.parameternetwork == [64, 32] and hparams.train_go is False
    assert hparams.run_name == "y"  # the dedicated flag wins over --hparams
    trailing = train.hparams_from_args(train.parse_args(["--hparams", "save_model_checkpoint=7,"]))
    assert trailing.save_model_checkpoint == 7
    with pytest.raises(UserError, match="is a tuple, expected a int"):
        train.hparams_from_args(train.parse_args(["--hparams", "batch_size=(2, 3)"]))
    with pytest.raises(UserError, match="learning_rate='fast' is a str, expected a float"):
        train.hparams_from_args(train.parse_args(["--hparams", "learning_rate=fast"]))
    assert train.hparams_from_args(train.parse_args(["--hparams", "data_dropout=0.5"])).data_dropout == 0.5
    with pytest.raises(UserError, match="train_go=1 is a int, expected a bool"):
        train.hparams_from_args(train.parse_args(["--hparams", "train_go=1"]))
    with pytest.raises(UserError, match="unknown names"):
        train.hparams_from_args(train.parse_args(["--hparams", "batch_sise=3"]))
    with pytest.raises(SystemExit):
        train.parse_args(["--max-step", "3"])  # no abbreviations


def test_run_writes_checkpoints_logs_and_statistics(corpus, tmp_path):
    assert run(corpus, tmp_path, "--max-steps", "3") == 0
    run_dir = tmp_path / "TestRun"
    checkpoint = read_training_checkpoint(run_dir / "checkpoint_last.ckpt")
    assert checkpoint["iteration"] == 3 and (run_dir / "checkpoint_3.ckpt").is_file()
    # The data statistics were computed, cached and stored in the checkpoint's hparams.
    statistics = torch.load(run_dir / "data_parameters.pt", weights_only=True)
    assert statistics["source"]["filelist"] == str(corpus / "four.txt")
    assert checkpoint["hparams"]["normaliser_mean"] == pytest.approx(statistics["data_mean"].item())
    assert checkpoint["hparams"]["go_token_init_value"] == pytest.approx(
        statistics["go_token_init_value"].tolist()
    )
    records = read_log(tmp_path)
    assert records[0]["step"] == "PROVENANCE" and records[0]["data"]["torch"] == torch.__version__
    assert "git_commit" in records[0]["data"]
    validation = [r["data"] for r in records if "loss/val" in r["data"] and isinstance(r["step"], int)]
    assert validation and 0 <= validation[-1]["alignment/score"] <= 1  # the state posteriors' health
    assert {
        "alignment/focus",
        "alignment/monotonic",
        "alignment/coverage",
        "alignment/duration_spread",
    } <= set(validation[-1])
    assert len(train_losses(tmp_path)) == 3
    # Everything the run wrote is inside its folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TestRun"]
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 10_000  # scalars and the images
    model = load_neural_hmm(run_dir / "checkpoint_last.ckpt")  # synthesis.py reads it directly
    assert model.hparams.n_mel_channels == N_MEL


def test_used_run_folder_needs_resume_or_force(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path, "--max-steps", "3") == 0
    run_dir = tmp_path / "TestRun"
    (run_dir / ".checkpoint_9.ckpt.123.partial").write_bytes(b"left by a kill -9")
    assert run(corpus, tmp_path, "--max-steps", "4") == 1
    assert "already holds a run" in capsys.readouterr().err
    assert read_training_checkpoint(run_dir / "checkpoint_last.ckpt")["iteration"] == 3  # untouched
    # --resume continues from checkpoint_last; the leftover temporary file is gone.
    assert run(corpus, tmp_path, "--max-steps", "4", "--resume") == 0
    assert read_training_checkpoint(run_dir / "checkpoint_last.ckpt")["iteration"] == 4
    assert not list(run_dir.glob("*.partial"))
    # --force starts over and keeps the old log beside the new one.
    assert run(corpus, tmp_path, "--max-steps", "2", "--force") == 0
    assert read_training_checkpoint(run_dir / "checkpoint_last.ckpt")["iteration"] == 2
    assert (run_dir / "log.jsonl.1").is_file() and len(train_losses(tmp_path)) == 2


def test_data_statistics_of_another_corpus_are_refused(corpus, tmp_path, capsys):
    assert run(corpus, tmp_path / "a", "--max-steps", "1") == 0
    statistics = tmp_path / "a" / "TestRun" / "data_parameters.pt"
    code = run(corpus, tmp_path / "b", "--max-steps", "1", "--data-parameters", str(statistics),
               train_list="filelist.txt", val_list="filelist.txt")  # fmt: skip
    assert code == 1
    message = capsys.readouterr().err
    assert f"was computed from {corpus / 'four.txt'}, with another training filelist" in message
    statistics.write_bytes(statistics.read_bytes()[:40])  # truncated
    code = run(corpus, tmp_path / "c", "--max-steps", "1", "--data-parameters", str(statistics))
    assert code == 1
    assert "data statistics" in capsys.readouterr().err


def test_print_config_and_help(corpus, tmp_path, capsys):
    assert train.main(["--print-config", "--hparams", "batch_size=3"]) == 0
    assert "batch_size=3," in capsys.readouterr().out
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "[7]" in text  # batch_size's hparams.py default


def test_default_filelists_missing_say_what_to_pass(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--device", "cpu"]) == 1
    assert "pass --training-files and --validation-files" in capsys.readouterr().err


def test_overfit_one_batch(corpus, tmp_path):
    code = run(
        corpus, tmp_path, "--max-steps", "25", train_list="one_repeated.txt", val_list="one_repeated.txt",
        hp="learning_rate=0.005,val_check_interval=100,save_model_checkpoint=100",
    )  # fmt: skip
    assert code == 0
    losses = train_losses(tmp_path)
    assert len(losses) == 25
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3 * abs(np.mean(losses[:3])), losses


def test_resume_is_bit_identical(corpus, tmp_path):
    """6 iterations in one go == 3, stop, resume for 3 more (the resume point is mid-epoch)."""
    assert run(corpus, tmp_path / "whole", "--max-steps", "6") == 0
    assert run(corpus, tmp_path / "split", "--max-steps", "3") == 0
    first_half = tmp_path / "split" / "TestRun" / "checkpoint_3.ckpt"
    assert read_training_checkpoint(first_half)["next_batch"] == 1  # 2 batches per epoch: mid-epoch
    assert run(corpus, tmp_path / "split", "--max-steps", "6", "-c", str(first_half)) == 0
    whole = read_training_checkpoint(tmp_path / "whole" / "TestRun" / "checkpoint_6.ckpt")
    split = read_training_checkpoint(tmp_path / "split" / "TestRun" / "checkpoint_6.ckpt")
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, split["state_dict"][name]), name
    assert whole["optimizer"]["state"][0]["step"] == split["optimizer"]["state"][0]["step"]


def test_warm_start_keeps_all_but_the_ignored_layers(corpus, tmp_path):
    assert run(corpus, tmp_path / "source", "--max-steps", "1") == 0
    source = tmp_path / "source" / "TestRun" / "checkpoint_1.ckpt"
    saved = read_training_checkpoint(source)["state_dict"]
    hparams = train.HParams.from_dict(read_training_checkpoint(source)["hparams"])
    torch.manual_seed(5)
    model = train.NeuralHMM(hparams)
    fresh_embedding = model.embedding.weight.detach().clone()
    train.warm_start(model, str(source), hparams.ignore_layers)  # ["model.embedding.weight"]
    assert torch.equal(model.embedding.weight, fresh_embedding)
    for name, tensor in model.state_dict().items():
        if name != "embedding.weight":
            assert torch.equal(tensor, saved[name]), name
    # From the command line: a new run at iteration 0 (-w needs -c).
    assert run(corpus, tmp_path / "warm", "--max-steps", "1", "-c", str(source), "-w") == 0
    assert read_training_checkpoint(tmp_path / "warm" / "TestRun" / "checkpoint_last.ckpt")["iteration"] == 1
    with pytest.raises(SystemExit):
        train.parse_args(["-w"])


def test_bf16_autocast_step_with_gradient_checkpointing(corpus, tmp_path):
    # --amp is bf16 autocast on CPU; the output net is recomputed in backward.
    assert run(corpus, tmp_path, "--max-steps", "2", "--gradient-checkpointing", "--amp") == 0
    losses = train_losses(tmp_path)
    assert len(losses) == 2 and all(np.isfinite(losses))
    checkpoint = read_training_checkpoint(tmp_path / "TestRun" / "checkpoint_last.ckpt")
    assert all(t.dtype != torch.bfloat16 for t in checkpoint["state_dict"].values())  # fp32 master weights


def test_nonfinite_loss_is_skipped_then_stops(corpus, tmp_path, monkeypatch, capsys):
    calls = []
    original = train.neural_hmm_loss

    def first_loss_nan(log_probs):
        calls.append(1)
        loss = original(log_probs)
        return loss * float("nan") if len(calls) == 1 else loss

    monkeypatch.setattr(train, "neural_hmm_loss", first_loss_nan)
    assert run(corpus, tmp_path / "once", "--max-steps", "2") == 0
    records = read_log(tmp_path / "once")
    assert any("nonfinite_step_skipped" in r["data"] and r["step"] == 1 for r in records)
    assert len(train_losses(tmp_path / "once")) == 1

    monkeypatch.setattr(train, "neural_hmm_loss", lambda log_probs: original(log_probs) * float("nan"))
    code = run(corpus, tmp_path / "always", "--max-steps", "5", "--max-nonfinite-steps", "2")
    assert code == 1
    assert "stopped after 2 consecutive non-finite steps" in capsys.readouterr().err
    assert not list((tmp_path / "always" / "TestRun").glob("checkpoint_*.ckpt"))


def test_every_bad_line_is_reported_before_training(corpus, tmp_path, capsys):
    """One run names every problem of both lists at once, by the checks filelists.validate runs."""
    good = (corpus / "four.txt").read_text().splitlines()[0].split("|")[0]
    soundfile.write(tmp_path / "16k.wav", np.zeros(4000, dtype=np.float32), 16000, subtype="PCM_16")
    soundfile.write(tmp_path / "silent.wav", np.zeros(22050, dtype=np.float32), 22050, subtype="PCM_16")
    (tmp_path / "bad.txt").write_text(
        f"{corpus}/wavs/nope.wav|dot\n"
        f"{corpus}/{good}|dot ^ net\n"
        f"{tmp_path}/16k.wav|dot\n"
        f"{tmp_path}/silent.wav|dot\n"
        f"{corpus}/{good}|\U0001f600\n"
        f"{corpus}/{good}|$3.50\n"
    )
    assert run(corpus, tmp_path / "out", train_list=str(tmp_path / "bad.txt")) == 1
    message = capsys.readouterr().err
    listed = tmp_path / "bad.txt"
    expected = [(1, "audio file not found"), (2, "'^'"), (3, "sampling rate 16000 Hz"), (4, "silent"),
                (5, "nothing to speak"), (6, "'$'")]  # fmt: skip
    for line, problem in expected:
        assert f"{listed}:{line}: " in message and problem in message, (line, problem, message)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.ckpt"))


def test_broken_checkpoints_give_one_line_errors(corpus, tmp_path, capsys):
    (tmp_path / "truncated.ckpt").write_bytes(b"PK\x03\x04 not a whole file")
    assert run(corpus, tmp_path, "-c", str(tmp_path / "truncated.ckpt")) == 1
    assert "truncated.ckpt: truncated or not a PyTorch checkpoint" in capsys.readouterr().err
    (tmp_path / "text.ckpt").write_text("not a checkpoint at all\n")
    assert run(corpus, tmp_path, "-c", str(tmp_path / "text.ckpt")) == 1
    assert "text.ckpt: not a PyTorch checkpoint" in capsys.readouterr().err
    assert run(corpus, tmp_path, "-c", str(tmp_path)) == 1
    assert f"{tmp_path} is a folder, not a checkpoint file" in capsys.readouterr().err


def test_runs_as_a_file():
    result = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=REPO_ROOT / "neural_hmm", capture_output=True, text=True
    )
    assert result.returncode == 0 and "--hparams" in result.stdout


DDP_SCRIPT = """
import os, sys, torch
from neural_hmm import train
torch.set_num_threads(1)
model = train.train(train.parse_args(sys.argv[1:]))
parameters = {n: p.detach() for n, p in model.named_parameters()}
torch.save(parameters, os.path.join(os.environ["OUT"], f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(corpus, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), *argv(corpus, tmp_path, "--max-steps", "2")]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = read_training_checkpoint(tmp_path / "TestRun" / "checkpoint_last.ckpt")["state_dict"]
    for name, tensor in rank0.items():  # parameters: DDP keeps them equal; BatchNorm buffers are per rank
        assert torch.equal(tensor, rank1[name]), name
        assert torch.equal(tensor, saved[name]), name


def test_converter_never_destroys_a_training_checkpoint(corpus, tmp_path, capsys):
    from neural_hmm import convert_checkpoint

    assert run(corpus, tmp_path, "--max-steps", "3") == 0
    run_dir = tmp_path / "TestRun"
    last, checkpoint = run_dir / "checkpoint_last.ckpt", run_dir / "checkpoint_3.ckpt"
    before = checkpoint.read_bytes()
    for target in (checkpoint, last):
        assert convert_checkpoint.main([str(last), str(target), "--force"]) == 1
        message = capsys.readouterr().err
        assert "is the input" in message or "is a link" in message
    assert checkpoint.read_bytes() == before and last.resolve() == checkpoint
    assert convert_checkpoint.main([str(last), str(tmp_path / "plain.pt")]) == 0
    assert set(torch.load(tmp_path / "plain.pt", weights_only=True)) == {"state_dict", "hparams"}
    assert run(corpus, tmp_path, "--max-steps", "4", "--resume") == 0  # the training state is intact
