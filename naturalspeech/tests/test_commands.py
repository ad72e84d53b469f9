"""inference.py, convert_checkpoint.py and preprocess.py on a briefly trained tiny model."""

import json
import os
from pathlib import Path

import pytest
import soundfile
import torch

from naturalspeech import convert_checkpoint, inference, preprocess, train
from naturalspeech.checkpoints import load_generator

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("trained")
    code = train.main(
        [
            "-c",
            str(corpus / "tiny.json"),
            "-m",
            "run",
            "-o",
            str(output),
            "--cpu",
            "--max-steps",
            "2",
            "--training-files",
            str(corpus / "train.txt"),
            "--validation-files",
            str(corpus / "val.txt"),
            "--durations",
            str(corpus / "durations"),
        ]
    )
    assert code == 0
    return max((output / "run").glob("G_*.pth"))


def test_text_to_wav_and_a_filelist_to_a_folder(corpus, checkpoint, tmp_path):
    wav = tmp_path / "hello.wav"
    assert (
        inference.main(
            [
                "--checkpoint",
                str(checkpoint),
                "--text",
                "Dot net, said Ted.",
                "-o",
                str(wav),
                "--cpu",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    audio, rate = soundfile.read(wav, dtype="int16")
    assert rate == 22050 and len(audio) > 0 and wav.with_suffix(".png").is_file()
    folder = tmp_path / "wavs"
    assert (
        inference.main(
            [
                "--checkpoint",
                str(checkpoint),
                "-i",
                str(corpus / "val.txt"),
                "-o",
                str(folder),
                "--cleaned-text",
                "--cpu",
                "--noise-scale",
                "0",
                "--length-scale",
                "2",
            ]
        )
        == 0
    )
    report = json.loads((folder / "synthesis.json").read_text())
    assert set(report) == {"syn-0009", "syn-0010"} == set(json.loads((folder / "timings.json").read_text()))
    # length scale 2 doubles the predicted durations (frames = round of their sum)
    assert all(entry["frames"] == round(sum(entry["durations"][0])) for entry in report.values())
    # existing outputs are kept without --force; the noise scale 0 output is deterministic
    first = (folder / "syn-0009.wav").read_bytes()
    assert (
        inference.main(
            [
                "--checkpoint",
                str(checkpoint),
                "-i",
                str(corpus / "val.txt"),
                "-o",
                str(folder),
                "--cleaned-text",
                "--cpu",
                "--noise-scale",
                "0",
                "--length-scale",
                "2",
            ]
        )
        == 1
    )
    assert (
        inference.main(
            [
                "--checkpoint",
                str(checkpoint),
                "-i",
                str(corpus / "val.txt"),
                "-o",
                str(folder),
                "--cleaned-text",
                "--cpu",
                "--noise-scale",
                "0",
                "--length-scale",
                "2",
                "--force",
            ]
        )
        == 0
    )
    assert (folder / "syn-0009.wav").read_bytes() == first


def test_bad_arguments_and_text_are_refused_before_synthesis(checkpoint, tmp_path, capsys):
    base = ["--checkpoint", str(checkpoint), "-o", str(tmp_path / "x.wav"), "--cpu"]
    assert inference.main([*base, "--text", "dot", "--length-scale", "0"]) == 1
    assert "--length-scale must be positive" in capsys.readouterr().err
    assert inference.main([*base, "--text", "\U0001f600"]) == 1
    assert "nothing to speak" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoints_that_would_run_code_or_do_not_fit_are_refused(corpus, checkpoint, tmp_path, capsys):
    evil = tmp_path / "G_0.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "x": RunsCode()}, evil)
    assert (
        inference.main(["--checkpoint", str(evil), "--text", "dot", "-o", str(tmp_path / "a.wav"), "--cpu"])
        == 1
    )
    assert "refused to load" in capsys.readouterr().err
    nan = tmp_path / "nan.pth"
    state = torch.load(checkpoint, weights_only=True)
    state["model"]["dp.proj.bias"] = torch.full_like(state["model"]["dp.proj.bias"], float("nan"))
    torch.save(state, nan)
    assert (
        inference.main(["--checkpoint", str(nan), "--text", "dot", "-o", str(tmp_path / "b.wav"), "--cpu"])
        == 1
    )
    assert "'dp.proj.bias' has 1 non-finite value" in capsys.readouterr().err
    bare = tmp_path / "original_format.pth"  # the original's four keys: no configuration
    state["model"]["dp.proj.bias"] = torch.zeros_like(state["model"]["dp.proj.bias"])
    torch.save({key: state[key] for key in ("model", "iteration", "optimizer", "learning_rate")}, bare)
    out = ["--text", "dot", "-o", str(tmp_path / "c.wav"), "--cpu", "--force"]
    assert inference.main(["--checkpoint", str(bare), *out]) == 1
    assert "holds no configuration" in capsys.readouterr().err
    assert inference.main(["--checkpoint", str(bare), "-c", str(corpus / "tiny.json"), *out]) == 0
    ljs = Path(inference.__file__).parent / "configs" / "ljs.json"
    assert inference.main(["--checkpoint", str(bare), "-c", str(ljs), *out]) == 1
    assert "does not fit the model" in capsys.readouterr().err


def test_converter_writes_a_plain_file_and_never_its_input(checkpoint, tmp_path, capsys):
    before = checkpoint.read_bytes()
    assert convert_checkpoint.main([str(checkpoint), str(checkpoint), "--force"]) == 1
    assert "is the input" in capsys.readouterr().err and checkpoint.read_bytes() == before
    plain = tmp_path / "plain.pth"
    assert convert_checkpoint.main([str(checkpoint), str(plain)]) == 0
    assert set(torch.load(plain, weights_only=True)) == {"model", "config", "iteration"}
    net, _ = load_generator(plain)
    assert not net.training


def test_preprocess_phonemises_a_filelist(tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("wavs/a.wav|Hello, Dr. Smith.\nwavs/b.wav|It was 5 o'clock.\n")
    assert preprocess.main(["--filelists", str(listing)]) == 0
    lines = (tmp_path / "list.txt.cleaned").read_text().splitlines()
    assert lines[0].startswith("wavs/a.wav|h") and "ˈ" in lines[0] and "dˈɑːktɚ" in lines[0]
    assert preprocess.main(["--filelists", str(listing)]) == 1  # exists: --force to replace
    assert "exists" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("wavs/c.wav\n")
    assert preprocess.main(["--filelists", str(tmp_path / "bad.txt")]) == 1
    assert "bad.txt:1: no field 1" in capsys.readouterr().err
