"""train.py and inference.py on the synthetic tone corpus with a tiny model, two speakers (CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from flowtron import inference, train, training_step
from flowtron.checkpoints import read_checkpoint_file
from flowtron.config import ConfigError, FlowtronConfig, load_config
from flowtron.flowtron import Flowtron, rows_in_forward_time
from flowtron.infra import read_log

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")
MODEL = {
    "n_speakers": 2,
    "n_speaker_dim": 4,
    "n_text_dim": 8,
    "n_attn_channels": 8,
    "n_hidden": 8,
    "n_mel_channels": 20,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """8 short utterances of two speakers (ids 3 and 11, so the string sort of the original matters)."""
    root = tmp_path_factory.mktemp("corpus")
    synthetic = make_synthetic_corpus(
        n_utterances=8, seed=0, min_frames=2, max_frames=3, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(root, synthetic)
    lines = (root / "filelist.txt").read_text().splitlines()
    (root / "train.txt").write_text("".join(f"{line}|{3 if i % 2 else 11}\n" for i, line in enumerate(lines)))
    return root


def write_config(folder: Path, corpus: Path, **train_options) -> Path:
    config = {
        "train_config": {
            "output_directory": str(folder / "run"),
            "batch_size": 2,
            "iters_per_checkpoint": 3,
            "fp16_run": False,
            "with_tensorboard": False,
            "ctc_loss_start_iter": 2,
            **train_options,
        },
        "data_config": {
            "training_files": str(corpus / "train.txt"),
            "validation_files": str(corpus / "train.txt"),
            "p_arpabet": 0.0,
            "filter_length": 256,
            "win_length": 256,
            "mel_fmax": 8000.0,
        },
        "model_config": MODEL,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def run(config: Path, *extra: str) -> int:
    return train.main(["-c", str(config), "--cpu", "--num-workers", "0", *extra])


def weights(folder: Path, name: str = "model_last") -> dict:
    return read_checkpoint_file(folder / "run" / name)["state_dict"]


def test_typed_overrides_and_their_errors():
    config = FlowtronConfig().with_overrides(
        [
            "data_config.use_attn_prior=false",
            "train_config.fp16_run=0",
            "train_config.batch_size=3",
            'train_config.ignore_layers=["a.b"]',
            "train_config.output_directory=x=y",
            "train_config.learning_rate=1",
        ]
    )
    assert config.data_config.use_attn_prior is False and config.train_config.fp16_run is False
    assert config.train_config.ignore_layers == ["a.b"] and config.train_config.output_directory == "x=y"
    assert config.train_config.batch_size == 3 and config.train_config.learning_rate == 1.0
    for bad, message in (
        ("train_config.fp16=true", "did you mean 'fp16_run'"),
        ("train_config.batch_size=two", "expected an integer"),
        ("data_config.use_attn_prior=maybe", "expected true or false"),
        ("batch_size=2", "section.name"),
        ("train_config.ignore_layers=a", "expected a list"),
    ):
        with pytest.raises(ConfigError, match=message):
            FlowtronConfig().with_overrides([bad])


def test_bad_override_on_the_command_line_exits_with_a_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["-p", "train_config.batch_sise=2"])
    assert exit_info.value.code == 2 and "did you mean 'batch_size'" in capsys.readouterr().err


def test_shipped_config_is_the_originals_defaults():
    shipped = load_config(Path(train.__file__).parent / "config.json")
    assert shipped == FlowtronConfig()
    assert shipped.train_config.include_layers == ["speaker", "encoder", "embedding"]


def test_missing_files_and_used_folders_are_clear_errors(corpus, tmp_path, capsys):
    config = write_config(tmp_path, corpus)
    assert train.main(["-c", str(tmp_path / "nope.json"), "--cpu"]) == 1
    assert "no such config file" in capsys.readouterr().err
    assert run(config, "-p", f"data_config.training_files={tmp_path / 'none.txt'}") == 1
    assert "no such filelist" in capsys.readouterr().err
    assert run(config, "--max-steps", "1") == 0
    assert run(config, "--max-steps", "1") == 1
    assert "--resume" in capsys.readouterr().err


def test_resume_equals_the_uninterrupted_run_mid_epoch(corpus, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run(write_config(whole.mkdir() or whole, corpus), "--max-steps", "6") == 0
    config = write_config(parts.mkdir() or parts, corpus)
    assert run(config, "--max-steps", "3") == 0  # stops mid-epoch (4 batches per epoch)
    assert run(config, "--max-steps", "6", "--resume") == 0
    expected, resumed = weights(whole), weights(parts)
    for name, tensor in expected.items():
        assert torch.equal(tensor, resumed[name]), name
    log = [json.loads(line) for line in (parts / "run" / "log.jsonl").read_text().splitlines()]
    assert any("validation/loss_ctc" in record["data"] for record in log)


def test_gate_only_retraining_changes_only_the_gate(corpus, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    assert run(write_config(first, corpus), "--max-steps", "2") == 0
    gate = ["flows.1.ar_step.gate_layer.linear_layer.weight", "flows.1.ar_step.gate_layer.linear_layer.bias"]
    second = tmp_path / "second"
    second.mkdir()
    options = dict(
        checkpoint_path=str(first / "run" / "model_last"), ignore_layers=gate, finetune_layers=gate
    )
    assert (
        run(
            write_config(second, corpus, **options),
            "--max-steps",
            "4",
            "-p",
            "data_config.use_attn_prior=false",
        )
        == 0
    )
    before, after = weights(first), weights(second)
    assert read_checkpoint_file(second / "run" / "model_last")["iteration"] == 4  # continued from 2
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]) != (name in gate), name


def test_warm_start_from_a_tacotron2_checkpoint_and_published_weights(corpus, tmp_path, capsys):
    torch.manual_seed(0)
    donor = Flowtron(**MODEL).state_dict()
    tacotron2 = {
        "state_dict": {
            "embedding.weight": torch.randn(148, 8),
            "decoder.linear.weight": torch.randn(3, 3),
            **{k: v + 1 for k, v in donor.items() if k.startswith("encoder.")},
            "encoder.convolutions.0.1.running_mean": torch.zeros(8),
        },
        "optimizer": {},
        "iteration": 5,
    }
    torch.save(tacotron2, tmp_path / "tacotron2.pt")
    config = write_config(
        tmp_path, corpus, warmstart_checkpoint_path=str(tmp_path / "tacotron2.pt"), learning_rate=1e-9
    )
    assert run(config, "--max-steps", "1") == 0
    assert "dropped (shape) ['embedding.weight']" in capsys.readouterr().err
    started = weights(tmp_path)
    assert torch.allclose(
        started["encoder.lstm.weight_ih_l0"], donor["encoder.lstm.weight_ih_l0"] + 1, atol=1e-6
    )
    # A published weights-only file as checkpoint_path (the README's fine-tuning command): no KeyError.
    torch.save(
        {"state_dict": Flowtron(**{**MODEL, "n_speakers": 1}).state_dict()}, tmp_path / "flowtron_ljs.pt"
    )
    options = dict(
        checkpoint_path=str(tmp_path / "flowtron_ljs.pt"), ignore_layers=["speaker_embedding.weight"]
    )
    assert run(write_config(tmp_path, corpus, **options), "--max-steps", "1", "--force") == 0
    assert read_checkpoint_file(tmp_path / "run" / "model_last")["iteration"] == 1


def test_overfits_one_batch():
    """Fifty RAdam steps on one batch drive the loss far down (measured: 9.1 -> below 5)."""
    torch.manual_seed(0)
    model = Flowtron(**MODEL)
    optimizer = torch.optim.RAdam(model.parameters(), lr=1e-2, decoupled_weight_decay=True)
    from flowtron.losses import FlowtronLoss

    mel, text = torch.randn(2, 20, 12) * 0.5 - 4, torch.randint(1, 185, (2, 5))
    in_lens, out_lens, speakers = torch.tensor([5, 4]), torch.tensor([12, 9]), torch.tensor([0, 1])
    gate = (torch.arange(12)[None] >= out_lens[:, None] - 1).float()
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = FlowtronLoss()(model(mel, speakers, text, in_lens, out_lens), gate, in_lens, out_lens).total(
            0, False
        )
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 3, losses[::10]


def test_bf16_step_on_cpu(corpus, tmp_path):
    assert run(write_config(tmp_path, corpus), "--max-steps", "1", "--amp") == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["data"]["training/loss"] for r in log if "training/loss" in r["data"]]
    assert len(losses) == 1 and losses[0] is not None


def test_attention_health_reads_a_backward_flow_in_forward_time():
    """A clean diagonal attention scores 1 in the forward flow and, stored in the backward flow's own
    (reversed) order, scores 1 too once its rows are put back; padding frames are ignored."""
    in_lens, out_lens = torch.tensor([4, 3]), torch.tensor([8, 6])
    forward = torch.zeros(2, 8, 4)
    for row, (n_in, n_out) in enumerate(zip(in_lens.tolist(), out_lens.tolist())):
        forward[row, torch.arange(n_out), torch.arange(n_out) * n_in // n_out] = 1.0
    backward = rows_in_forward_time(forward, out_lens)  # the same map turns forward rows into backward
    assert torch.equal(backward[1, :6], forward[1, :6].flip(0)) and torch.equal(
        backward[1, 6:], forward[1, 6:]
    )
    output = SimpleNamespace(attns=[forward, backward])
    batch = SimpleNamespace(in_lens=in_lens, out_lens=out_lens)
    health = training_step.attention_health(output, batch)
    assert health["alignment/score"] == 1.0 and health["alignment/flow1/score"] == 1.0, health
    # forward rows taken for a backward flow's: reordered, they run backwards (every other step down)
    misread = training_step.attention_health(SimpleNamespace(attns=[forward, forward]), batch)
    assert misread["alignment/flow1/monotonic"] < 0.6 and misread["alignment/score"] < 0.8, misread


def test_end_to_end_two_speakers_with_tensorboard_images(corpus, tmp_path, capsys):
    config = write_config(tmp_path, corpus, with_tensorboard=True)
    assert run(config, "--max-steps", "3") == 0
    events = list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 10_000  # scalars and the attention / gate images
    checkpoint = tmp_path / "run" / "model_last"
    assert read_checkpoint_file(checkpoint)["speaker_ids"] == {11: 0, 3: 1}  # "11" sorts before "3"
    validation = [
        r["data"] for r in read_log(tmp_path / "run" / "log.jsonl") if "validation/loss" in r["data"]
    ]
    names = ("focus", "monotonic", "coverage", "score", "duration_spread")
    assert validation and 0 <= validation[-1]["alignment/score"] <= 1, validation
    assert {f"alignment/flow{k}/{name}" for k in (0, 1) for name in names} < set(validation[-1])
    out = tmp_path / "wavs"
    for speaker in ("3", "11"):
        argv = [
            "-c",
            str(config),
            "-f",
            str(checkpoint),
            "-t",
            "sdas na",
            "-i",
            speaker,
            "-n",
            "30",
            "-o",
            str(out),
            "--cpu",
            "--griffin-lim-iters",
            "2",
        ]
        assert inference.main(argv) == 0, capsys.readouterr().err
    report = json.loads((out / "synthesis.json").read_text())
    assert {"gate_fired", "attention_reached_end"} <= set(report["sid11_sigma0.5"])
    assert report["sid11_sigma0.5"]["frames"] <= 30 and (out / "sid3_sigma0.5_attnlayer1.png").is_file()
    bad = [
        "-c",
        str(config),
        "-f",
        str(checkpoint),
        "-t",
        "sdas",
        "-i",
        "5",
        "-o",
        str(tmp_path / "x"),
        "--cpu",
    ]
    assert inference.main(bad) == 1
    assert "unknown speaker id 5; this model knows 3, 11" in capsys.readouterr().err
    zero_frames = [
        "-c",
        str(config),
        "-f",
        str(checkpoint),
        "-t",
        "sdas",
        "-n",
        "0",
        "-o",
        str(tmp_path / "x"),
    ]
    assert inference.main(zero_frames) == 1
    assert "-n/--n_frames must be at least 1" in capsys.readouterr().err


DDP_SCRIPT = """
import os, sys, torch
from flowtron import train
torch.set_num_threads(1)
model = train.train(train.parse_args(sys.argv[1:]))
parameters = {n: p.detach() for n, p in model.named_parameters()}
torch.save(parameters, os.path.join(os.environ["OUT"], f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(corpus, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    config = write_config(tmp_path, corpus, batch_size=1)
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        "-c",
        str(config),
        "--cpu",
        "--num-workers",
        "0",
        "--max-steps",
        "2",
    ]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = weights(tmp_path)
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
        assert torch.equal(tensor, saved[name]), name
