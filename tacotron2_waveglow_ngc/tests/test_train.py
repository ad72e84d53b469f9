"""Training data pipeline and train.py, on the synthetic tone corpus with tiny models (CPU, seconds each)."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from tacotron2_waveglow_ngc import train
from tacotron2_waveglow_ngc.audio import TacotronSTFT
from tacotron2_waveglow_ngc.data import AudioSegmentDataset, TextMelCollate, TextMelDataset
from tacotron2_waveglow_ngc.recipes import RECIPES
from tacotron2_waveglow_ngc.tacotron2_model import run_lstm_cell_in_fp32
from tacotron2_waveglow_ngc.waveglow_checkpoints import waveglow_checkpoint
from tacotron2_waveglow_ngc.waveglow_model import WaveGlow

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMON = ["-m", "Tacotron2", "-o", "out", "-lr", "1e-3", "-bs", "2", "--epochs", "1"]
N_MEL = 20
TINY_TACOTRON2 = (
    f"--n-mel-channels {N_MEL} --symbols-embedding-dim 16 --encoder-embedding-dim 16 --attention-rnn-dim 24 "
    "--attention-dim 8 --attention-location-n-filters 4 --attention-location-kernel-size 7 "
    "--decoder-rnn-dim 24 --prenet-dim 12 --postnet-embedding-dim 16"
).split()
TINY_WAVEGLOW = (
    f"--n-mel-channels {N_MEL} --flows 4 --groups 8 --early-every 2 --early-size 2 --wn-channels 8 "
    "--wn-layers 2 --wn-kernel-size 3 --segment-length 2048 --weight-decay 0"
).split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """8 short utterances (22,050 Hz int16): wavs/, filelist.txt, four.txt, one.txt and one_repeated.txt
    (the first utterance 12 times: every batch of a run on it is the same batch)."""
    root = tmp_path_factory.mktemp("corpus")
    synthetic = make_synthetic_corpus(
        n_utterances=8, seed=0, min_frames=2, max_frames=3, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(root, synthetic)
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "four.txt").write_text("".join(lines[:4]))
    (root / "one.txt").write_text(lines[0])
    (root / "last_four.txt").write_text("".join(lines[4:]))  # no clip of four.txt: a disjoint validation list
    (root / "one_repeated.txt").write_text(lines[0] * 12)
    return root


pytestmark = pytest.mark.usefixtures("one_thread")


def run(
    corpus: Path, output: Path, model: str, *extra: str, train_list="four.txt", val_list="four.txt"
) -> int:
    tiny = TINY_TACOTRON2 if model == "Tacotron2" else TINY_WAVEGLOW
    argv = ["-m", model, "-o", str(output), "-d", str(corpus), "--device", "cpu", "--num-workers", "0"]
    argv += ["--training-files", str(corpus / train_list), "--validation-files", str(corpus / val_list)]
    argv += ["--seed", "1", "--epochs", "1", "-bs", "2", "-lr", "1e-3", *tiny, *extra]
    return train.main(argv)


def read_log(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "nvlog.json").read_text().splitlines()]


def iteration_records(log: list[dict]) -> list[dict]:
    return [r["data"] for r in log if isinstance(r["step"], list) and len(r["step"]) == 2]


def epoch_records(log: list[dict]) -> list[dict]:
    return [r["data"] for r in log if isinstance(r["step"], list) and len(r["step"]) == 1]


def tensorboard_tags(folder: Path) -> set[str]:
    """Summary tags in the TFRecord event files of `folder` (length, crc, event proto, crc per record)."""
    from tensorboardX.proto import event_pb2

    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            tags.update(value.tag for value in event.summary.value)
            offset += 12 + length + 4
    return tags


def state_dict_of(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


# ---------------------------------------------------------------------------------------------------
# Data


def test_collate_sorts_by_text_length_pads_and_sets_gate():
    items = [
        (torch.tensor([1, 2]), torch.ones(N_MEL, 3)),
        (torch.tensor([3, 4, 5]), torch.full((N_MEL, 5), 2.0)),
    ]
    batch = TextMelCollate()(items)
    assert batch.input_lengths.tolist() == [3, 2] and batch.output_lengths.tolist() == [5, 3]
    assert batch.text_padded.tolist() == [[3, 4, 5], [1, 2, 0]]
    assert batch.mel_padded.shape == (2, N_MEL, 5)
    assert torch.all(batch.mel_padded[1, :, 3:] == 0) and torch.all(batch.mel_padded[1, :, :3] == 1)
    assert batch.gate_padded.tolist() == [[0, 0, 0, 0, 1], [0, 0, 1, 1, 1]]
    assert TextMelCollate(n_frames_per_step=4)(items).mel_padded.size(2) == 8


def test_text_mel_dataset_matches_stft_and_mels_from_disk(corpus, tmp_path):
    dataset = TextMelDataset(corpus / "four.txt", corpus, ["english_cleaners"], n_mel_channels=N_MEL)
    text, mel = dataset[0]
    samples, rate = soundfile.read(str(corpus / "wavs" / "syn-0001.wav"), dtype="int16")
    expected = TacotronSTFT(n_mel_channels=N_MEL).mel_spectrogram(
        torch.from_numpy(samples / 32768.0).float()[None]
    )
    assert rate == 22050 and text.dtype == torch.long and len(text) == len("nee aa")
    torch.testing.assert_close(mel, expected[0])
    # --load-mel-from-disk: the list names .pt mels instead of WAVs.
    torch.save(mel, tmp_path / "syn-0001.pt")
    (tmp_path / "mels.txt").write_text("syn-0001.pt|nee aa\n")
    from_disk = TextMelDataset(
        tmp_path / "mels.txt", tmp_path, ["english_cleaners"], n_mel_channels=N_MEL, load_mel_from_disk=True
    )
    assert torch.equal(from_disk[0][1], mel)


def test_audio_segment_dataset_crops_by_seed_and_epoch_and_pads_short_clips(corpus):
    def dataset(segment_length, seed=3):
        return AudioSegmentDataset(
            corpus / "four.txt", corpus, segment_length, n_mel_channels=N_MEL, seed=seed
        )

    crops = dataset(1024)
    first = crops[0][1]
    assert torch.equal(first, dataset(1024)[0][1])  # same (seed, epoch, index): same crop
    crops.set_epoch(1)
    assert not torch.equal(first, crops[0][1])
    mel, audio = dataset(100_000)[0]  # longer than every clip: zero-padded at the end
    n_samples = soundfile.info(str(corpus / "wavs" / "syn-0001.wav")).frames
    assert (
        audio.shape == (100_000,) and torch.all(audio[n_samples:] == 0) and audio[:n_samples].abs().max() > 0
    )
    assert mel.shape == (N_MEL, 1 + 100_000 // 256)


@pytest.mark.parametrize("problem", ["empty text", "unknown character", "missing wav", "wrong sample rate"])
def test_bad_filelist_entries_name_file_and_line(corpus, tmp_path, problem):
    good = (corpus / "four.txt").read_text().splitlines()
    wav = "wavs/syn-0002.wav"
    if problem == "empty text":
        bad = f"{wav}|   "
    elif problem == "unknown character":
        bad = f"{wav}|nee # aa"
    elif problem == "missing wav":
        wav = "wavs/missing.wav"
        bad = f"{wav}|nee aa"
    else:
        wav = str(tmp_path / "16k.wav")
        soundfile.write(wav, np.zeros(1600, dtype=np.int16), 16000, subtype="PCM_16")
        bad = f"{wav}|nee aa"
    filelist = tmp_path / "list.txt"
    filelist.write_text("\n".join([good[0], bad, good[1]]) + "\n")
    with pytest.raises(ValueError) as error:
        TextMelDataset(filelist, corpus, ["english_cleaners"], n_mel_channels=N_MEL)
    message = str(error.value)
    assert f"{filelist}:2" in message
    if problem in ("missing wav", "wrong sample rate"):
        assert Path(wav).name in message and (
            "16000 Hz" in message if problem == "wrong sample rate" else True
        )
    if problem == "unknown character":
        assert "'#'" in message
    # train.py turns it into a one-line error and exit status 1.
    assert run(corpus, tmp_path / "out", "Tacotron2", train_list=str(filelist)) == 1


# ---------------------------------------------------------------------------------------------------
# Command line and schedule


def test_misspelt_abbreviated_or_invalid_flags_are_errors():
    assert train.parse_args(COMMON).epochs == 1
    bad = (
        ["--guided-attention-weight", "-1"],
        ["--guided-attention-weight", "nan"],
        ["--guided-attention-sigma", "0"],
    )
    with pytest.raises(SystemExit):
        train.parse_args([*COMMON[:1], "WaveGlow", *COMMON[2:], "--guided-attention-weight", "1"])
    for typo in (["--batch", "2"], ["--grad-clip-treshold", "1"], ["--epochs-per-checkpoint", "0"], *bad):
        with pytest.raises(SystemExit):
            train.parse_args([*COMMON, *typo])


def test_learning_rate_annealing_matches_dle():
    steps = [500, 1000, 1500]
    assert [train.learning_rate_at(e, 1e-3, steps, 0.1) for e in (0, 499, 500, 1000, 1500)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-5, 1e-6]
    )
    assert [train.learning_rate_at(e, 1e-3, steps, 0.3) for e in (0, 500, 1000, 1500)] == pytest.approx(
        [1e-3, 3e-4, 1e-4, 3e-5]
    )
    assert train.learning_rate_at(10_000, 1e-3, None, 0.1) == 1e-3


# ---------------------------------------------------------------------------------------------------
# Training runs


def test_tacotron2_overfits_one_batch_and_logs(corpus, tmp_path):
    output = tmp_path / "out"
    options = ["-lr", "3e-2", "--epochs", "2", "--epochs-per-checkpoint", "5"]
    assert (
        run(corpus, output, "Tacotron2", *options, train_list="one_repeated.txt", val_list="one_repeated.txt")
        == 0
    )
    log = read_log(output)
    losses = [record["train_loss"] for record in iteration_records(log)]
    assert len(losses) == 12 and losses[-1] < 0.3 * losses[0], losses
    for record in iteration_records(log):
        assert {"train_loss", "train_iter_items/sec", "learning_rate", "grad_norm"} <= set(record)
    for record in epoch_records(log):
        assert {"train_epoch_items/sec", "train_loss", "val_loss", "train_epoch_time"} <= set(record)
        assert 0 <= record["alignment_score"] <= 1 and "alignment_focus" in record
        terms = record["val_mel_loss"] + record["val_mel_postnet_loss"] + record["val_gate_loss"]
        assert terms == pytest.approx(record["val_loss"]) and "val_attention_loss" not in record
    assert log[0]["step"] == "PROVENANCE" and log[0]["data"]["torch"] == torch.__version__
    assert log[1]["step"] == "PARAMETER" and log[-1]["step"] == [] and "run_time" in log[-1]["data"]
    checkpoints = sorted(path.name for path in output.glob("checkpoint_*"))
    assert checkpoints == [f"checkpoint_Tacotron2_{name}.pt" for name in ("0", "1", "last")]
    tags = tensorboard_tags(output / "tensorboard")
    assert {
        "train/loss",
        "train/grad_norm",
        "train/learning_rate",
        "validation/loss",
        "alignment/score",
    } <= tags
    images = {"validation/mel_target", "validation/mel_predicted", "validation/alignment", "validation/gate"}
    assert images <= tags


def test_guided_attention_is_optimised_and_logged_beside_the_original_loss(corpus, tmp_path):
    output = tmp_path / "out"
    assert run(corpus, output, "Tacotron2", "--guided-attention-weight", "2.5") == 0
    (record,) = epoch_records(read_log(output))
    original = record["val_mel_loss"] + record["val_mel_postnet_loss"] + record["val_gate_loss"]
    assert 0 < record["val_attention_loss"] < 1
    assert record["val_loss"] == pytest.approx(original + 2.5 * record["val_attention_loss"])
    assert {"train/attention_loss", "validation/attention_loss"} <= tensorboard_tags(output / "tensorboard")


def test_waveglow_loss_falls(corpus, tmp_path):
    output = tmp_path / "out"
    options = ["-lr", "3e-3", "--epochs", "2"]
    assert (
        run(corpus, output, "WaveGlow", *options, train_list="one_repeated.txt", val_list="one_repeated.txt")
        == 0
    )
    losses = [record["train_loss"] for record in iteration_records(read_log(output))]
    assert len(losses) == 12 and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.5, losses
    assert (output / "checkpoint_WaveGlow_last.pt").exists()


@pytest.mark.parametrize("model", ["Tacotron2", "WaveGlow"])
def test_resumed_run_equals_uninterrupted_run(corpus, tmp_path, model):
    options = ["--epochs-per-checkpoint", "1"]
    assert run(corpus, tmp_path / "straight", model, "--epochs", "2", *options) == 0
    assert run(corpus, tmp_path / "resumed", model, "--epochs", "1", *options) == 0
    assert run(corpus, tmp_path / "resumed", model, "--epochs", "2", "--resume-from-last", *options) == 0
    straight = torch.load(tmp_path / "straight" / f"checkpoint_{model}_1.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / f"checkpoint_{model}_last.pt", weights_only=True)
    assert resumed["epoch"] == 1 and resumed["iteration"] == straight["iteration"] == 4
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name
    first = straight["optimizer"]["state"][0]
    assert torch.equal(first["exp_avg_sq"], resumed["optimizer"]["state"][0]["exp_avg_sq"])


@pytest.mark.parametrize("model", ["Tacotron2", "WaveGlow"])
def test_run_stopped_mid_epoch_continues_exactly(corpus, tmp_path, model):
    """--max-steps 3 stops in the middle of epoch 1 (2 batches per epoch); --resume finishes that epoch,
    then the next, as an uninterrupted run does (DLE's resume would skip the rest of the epoch)."""
    assert run(corpus, tmp_path / "straight", model, "--epochs", "3") == 0
    assert run(corpus, tmp_path / "split", model, "--epochs", "3", "--max-steps", "3") == 0
    stopped = torch.load(tmp_path / "split" / f"checkpoint_{model}_last.pt", weights_only=True)
    assert (stopped["epoch"], stopped["iteration"], stopped["next_batch"]) == (1, 3, 1)
    assert run(corpus, tmp_path / "split", model, "--epochs", "3", "--resume") == 0
    straight = torch.load(tmp_path / "straight" / f"checkpoint_{model}_2.pt", weights_only=True)
    resumed = torch.load(tmp_path / "split" / f"checkpoint_{model}_2.pt", weights_only=True)
    assert resumed["iteration"] == straight["iteration"] == 6 and resumed["next_batch"] is None
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name
    steps = [
        r["step"] for r in read_log(tmp_path / "split") if isinstance(r["step"], list) and len(r["step"]) == 2
    ]
    assert steps == [[0, 1], [0, 2], [1, 3], [1, 4], [2, 5], [2, 6]]


def test_used_output_folder_needs_resume_or_force(corpus, tmp_path, capsys):
    output = tmp_path / "out"
    assert run(corpus, output, "Tacotron2", "--max-steps", "1") == 0
    before = (output / "checkpoint_Tacotron2_0.pt").read_bytes()
    (output / ".checkpoint_Tacotron2_9.pt.77.partial").write_bytes(b"left by kill -9")
    assert run(corpus, output, "Tacotron2", "--max-steps", "1") == 1
    assert "already holds a run" in capsys.readouterr().err
    assert (output / "checkpoint_Tacotron2_0.pt").read_bytes() == before
    # A WaveGlow run may share the folder (as in DLE's scripts); --force starts Tacotron 2 afresh.
    assert run(corpus, output, "WaveGlow", "--max-steps", "1") == 0
    assert run(corpus, output, "Tacotron2", "--max-steps", "1", "--force") == 0
    assert not list(output.glob(".*.partial"))


def test_help_explains_every_flag_and_print_config(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    assert "attention LSTMCell size (default: 1024)" in " ".join(text.split())
    assert train.main([*COMMON, *TINY_TACOTRON2, "--print-config"]) == 0
    assert "Tacotron2Config(" in capsys.readouterr().out and not Path("out").exists()


def test_bf16_autocast_step_on_cpu_keeps_decoder_cells_in_fp32(corpus, tmp_path):
    cell = torch.nn.LSTMCell(4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden, _ = run_lstm_cell_in_fp32(
            cell, torch.randn(2, 4).bfloat16(), (torch.zeros(2, 3), torch.zeros(2, 3))
        )
        assert hidden.dtype == torch.float32 and torch.nn.Linear(3, 3)(hidden).dtype == torch.bfloat16
    assert run(corpus, tmp_path / "out", "Tacotron2", "--amp", "--max-steps", "2") == 0
    losses = [record["train_loss"] for record in iteration_records(read_log(tmp_path / "out"))]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert all(
        torch.isfinite(t).all()
        for t in state_dict_of(tmp_path / "out" / "checkpoint_Tacotron2_0.pt").values()
    )


def test_nonfinite_loss_is_skipped_then_training_stops_keeping_checkpoint(corpus, tmp_path, capsys):
    dataset = TextMelDataset(corpus / "four.txt", corpus, ["english_cleaners"], n_mel_channels=N_MEL)
    lines = []
    for index, utterance in enumerate(dataset.utterances):
        mel = dataset.get_mel(utterance)
        torch.save(mel, tmp_path / f"{index}.pt")
        torch.save(torch.full_like(mel, float("nan")), tmp_path / f"nan{index}.pt")
        lines.append(f"{index}.pt|{utterance.text}\n")
    (tmp_path / "poisoned.txt").write_text("".join(lines[:3]) + f"nan0.pt|{dataset.utterances[0].text}\n")
    (tmp_path / "all_nan.txt").write_text(
        "".join(f"nan{i}.pt|{u.text}\n" for i, u in enumerate(dataset.utterances))
    )
    (tmp_path / "val.txt").write_text(lines[0])
    options = f"-d {tmp_path} --load-mel-from-disk -bs 1 --validation-files {tmp_path / 'val.txt'}".split()
    output = tmp_path / "out"

    assert run(corpus, output, "Tacotron2", *options, "--training-files", str(tmp_path / "poisoned.txt")) == 0
    log = read_log(output)
    skipped = [r["data"]["nonfinite_step_skipped"] for r in log if "nonfinite_step_skipped" in r["data"]]
    assert len(skipped) == 1 and "iteration" in skipped[0] and "skipped" in capsys.readouterr().err
    assert len(iteration_records(log)) == 4  # three good steps and the skipped one
    checkpoint = output / "checkpoint_Tacotron2_0.pt"
    assert all(torch.isfinite(t).all() for t in state_dict_of(checkpoint).values())

    before = checkpoint.read_bytes()
    options += ["--training-files", str(tmp_path / "all_nan.txt"), "--epochs", "3", "--resume-from-last"]
    assert run(corpus, output, "Tacotron2", *options, "--max-nonfinite-steps", "3") == 1
    assert "3 consecutive non-finite steps" in capsys.readouterr().err
    assert checkpoint.read_bytes() == before
    assert (output / "checkpoint_Tacotron2_last.pt").resolve() == checkpoint
    assert not list(output.glob("checkpoint_Tacotron2_1*"))


def test_truncated_or_wrong_model_checkpoint_names_the_file(corpus, tmp_path, capsys):
    args = train.parse_args(COMMON + TINY_TACOTRON2)
    acoustic = RECIPES["Tacotron2"].build_model(RECIPES["Tacotron2"].config(args), args)
    good = tmp_path / "checkpoint_Tacotron2_0.pt"
    config = acoustic.config.to_dict()
    torch.save({"epoch": 0, "config": config, "optimizer": {}, "state_dict": acoustic.state_dict()}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert run(corpus, tmp_path / "a", "Tacotron2", "--checkpoint-path", str(truncated)) == 1
    assert f"{truncated}: truncated or not a PyTorch checkpoint" in capsys.readouterr().err

    vocoder = tmp_path / "waveglow.pt"
    torch.save(
        waveglow_checkpoint(WaveGlow(N_MEL, 2, 8, 4, 2, dict(n_layers=2, n_channels=8, kernel_size=3))),
        vocoder,
    )
    assert run(corpus, tmp_path / "b", "Tacotron2", "--checkpoint-path", str(vocoder)) == 1
    message = capsys.readouterr().err
    assert f"{vocoder}: this is a WaveGlow checkpoint, not a Tacotron 2 one; check -m/--model-name" in message
    assert run(corpus, tmp_path / "c", "WaveGlow", "--checkpoint-path", str(good)) == 1
    assert f"{good}: this is a Tacotron 2 checkpoint, not a WaveGlow one" in capsys.readouterr().err
    assert run(corpus, tmp_path / "d", "Tacotron2", "--checkpoint-path", str(good), "--prenet-dim", "8") == 1
    assert "prenet_dim: checkpoint 12, command line 8" in capsys.readouterr().err

    published = tmp_path / "published.pt"  # an NGC release: weights and config only
    torch.save({"state_dict": acoustic.state_dict(), "config": acoustic.config.to_dict()}, published)
    assert run(corpus, tmp_path / "e", "Tacotron2", "--checkpoint-path", str(published)) == 1
    message = capsys.readouterr().err
    assert f"{published}: cannot resume training from it: missing ['epoch', 'optimizer']" in message


DDP_SCRIPT = """
import os, sys, torch
from tacotron2_waveglow_ngc import train
model = train.train(train.parse_args(sys.argv[1:]))
output = sys.argv[sys.argv.index("-o") + 1]
torch.save(model.state_dict(), os.path.join(output, f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.slow  # two fresh interpreters import torch, librosa and the text front end
def test_two_process_gloo_run_keeps_ranks_identical(corpus, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    output = tmp_path / "out"
    argv = [
        "-m",
        "Tacotron2",
        "-o",
        str(output),
        "-d",
        str(corpus),
        "--device",
        "cpu",
        "--num-workers",
        "0",
        "--training-files",
        str(corpus / "four.txt"),
        "--validation-files",
        str(corpus / "last_four.txt"),
        "--seed",
        "1",
        "--epochs",
        "1",
        "--max-steps",
        "2",
        "-bs",
        "2",
        "-lr",
        "1e-3",
        *TINY_TACOTRON2,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
    ]
    result = subprocess.run([*command, *argv], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(output / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = state_dict_of(output / "checkpoint_Tacotron2_0.pt")
    args = train.parse_args(argv)
    initial = RECIPES["Tacotron2"].build_model(RECIPES["Tacotron2"].config(args), args).state_dict()
    for name, tensor in rank0.items():
        assert torch.equal(tensor, saved[name]), name
        # BatchNorm statistics are broadcast from rank 0 before each forward (DDP), so after the last
        # forward each rank holds its own; the weights must agree exactly.
        if "running_" not in name and "num_batches_tracked" not in name:
            assert torch.equal(tensor, rank1[name]), name
    assert any(not torch.equal(initial[name], saved[name]) for name in saved if name.endswith("weight"))
    assert len(torch.load(output / "checkpoint_Tacotron2_0.pt", weights_only=True)["rng_states_all"]) == 2
    shutil.rmtree(output)


def test_batchnorm_weights_uniform_as_dle_unless_disabled():
    recipe = RECIPES["Tacotron2"]
    dle_args = train.parse_args(COMMON + TINY_TACOTRON2)
    default_args = train.parse_args(COMMON + TINY_TACOTRON2 + ["--disable-uniform-initialize-bn-weight"])
    dle = recipe.build_model(recipe.config(dle_args), dle_args)
    pytorch_default = recipe.build_model(recipe.config(default_args), default_args)
    batchnorms = [m for m in dle.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    weights = torch.cat([m.weight.detach() for m in batchnorms])
    assert len(batchnorms) == 3 + 5 and weights.min() >= 0 and weights.max() < 1 and weights.std() > 0.1
    default_batchnorms = [m for m in pytorch_default.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert all(torch.all(m.weight == 1) for m in default_batchnorms)
    args = train.parse_args(COMMON + ["--disable-uniform-initialize-bn-weight"])
    assert args.disable_uniform_initialize_bn_weight


def test_converter_never_destroys_a_training_checkpoint(corpus, tmp_path, capsys):
    from tacotron2_waveglow_ngc import convert_checkpoint

    output = tmp_path / "out"
    assert run(corpus, output, "Tacotron2", "--max-steps", "1") == 0
    last, first = output / "checkpoint_Tacotron2_last.pt", output / "checkpoint_Tacotron2_0.pt"
    before = first.read_bytes()
    for target in (first, last):  # the input itself, and the link pointing at it
        assert convert_checkpoint.main([str(last), str(target), "-m", "Tacotron2"]) == 1
        message = capsys.readouterr().err
        assert "is the input" in message or "is a link" in message
    assert convert_checkpoint.main([str(first), str(last), "-m", "Tacotron2", "--force"]) == 1
    assert "is a link" in capsys.readouterr().err
    assert first.read_bytes() == before and last.resolve() == first
    plain = tmp_path / "plain.pt"
    assert convert_checkpoint.main([str(last), str(plain), "-m", "Tacotron2"]) == 0
    assert convert_checkpoint.main([str(last), str(plain), "-m", "Tacotron2"]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert set(torch.load(plain, weights_only=True)) == {"state_dict", "config"}
    assert run(corpus, output, "Tacotron2", "--max-steps", "2", "--resume") == 0  # training state intact
