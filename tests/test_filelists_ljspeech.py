"""filelists.ljspeech: the 12,500/100/500 split on a fake 13,100-line metadata.csv (no audio needed)."""

from pathlib import Path

import pytest

from filelists.ljspeech import LJSpeechError, main, make_ljspeech_filelists, read_metadata

N_CLIPS = 13100


def fake_ljspeech(root: Path) -> list[str]:
    """metadata.csv shaped like LJSpeech-1.1's: 50 chapters, raw and normalized columns differ."""
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"LJ{1 + index // 262:03d}-{1 + index % 262:04d}" for index in range(N_CLIPS)]
    lines = [
        f"{utterance_id}|Raw text 1{index}.|Normalized text one {index}.\n"
        for index, utterance_id in enumerate(ids)
    ]
    (root / "metadata.csv").write_text("".join(reversed(lines)), encoding="utf-8")  # order must not matter
    return ids


def read_list(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_split_sizes_disjoint_and_deterministic(tmp_path, capsys):
    ids = fake_ljspeech(tmp_path / "LJSpeech-1.1")
    assert main(["--dataset-path", str(tmp_path / "LJSpeech-1.1"), "--output-dir", str(tmp_path / "a")]) == 0
    assert "train: 12500 utterances" in capsys.readouterr().out
    lists = {
        split: read_list(tmp_path / "a" / f"ljs_audio_text_{split}_filelist.txt")
        for split in ("train", "val", "test")
    }
    assert {split: len(lines) for split, lines in lists.items()} == {"train": 12500, "val": 100, "test": 500}
    members = {split: {line.split("|")[0] for line in lines} for split, lines in lists.items()}
    assert not members["train"] & members["val"] and not members["train"] & members["test"]
    assert not members["val"] & members["test"]
    assert set.union(*members.values()) == {f"wavs/{utterance_id}.wav" for utterance_id in ids}
    first = lists["train"][0]
    assert first.startswith("wavs/LJ001-0") and "|Normalized text one " in first and first.count("|") == 1

    make_ljspeech_filelists(tmp_path / "LJSpeech-1.1", tmp_path / "b")  # default seed again
    make_ljspeech_filelists(tmp_path / "LJSpeech-1.1", tmp_path / "c", seed=7)
    for split in ("train", "val", "test"):
        name = f"ljs_audio_text_{split}_filelist.txt"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert read_list(tmp_path / "c" / "ljs_audio_text_test_filelist.txt") != lists["test"]


def test_split_from_nvidia_lists_and_speaker_id(tmp_path):
    nvidia = tmp_path / "nvidia"
    nvidia.mkdir()
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        lines = [f"DUMMY/LJ0{split[:2]}-{index:04d}.wav|Text {split} {index}." for index in range(count)]
        (nvidia / f"ljs_audio_text_{split}_filelist.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(LJSpeechError, match="DUMMY/LJxxx-xxxx.wav"):  # ids need digits: LJ0tr-... is not one
        make_ljspeech_filelists(None, tmp_path / "out", split_from=nvidia)
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        digit = {"train": 1, "val": 2, "test": 3}[split]
        lines = [f"DUMMY/LJ00{digit}-{index:04d}.wav|Text {split} {index}." for index in range(count)]
        (nvidia / f"ljs_audio_text_{split}_filelist.txt").write_text("\n".join(lines) + "\n")
    written = make_ljspeech_filelists(None, tmp_path / "out", split_from=nvidia, speaker_id=0)
    assert read_list(written["val"]) == ["wavs/LJ002-0000.wav|Text val 0.|0"]
    assert read_list(written["train"])[2] == "wavs/LJ001-0002.wav|Text train 2.|0"


def test_errors_name_the_missing_file(tmp_path, capsys):
    with pytest.raises(LJSpeechError, match=f"{tmp_path / 'metadata.csv'} not found"):
        read_metadata(tmp_path)
    assert main(["--dataset-path", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 1
    assert "metadata.csv not found" in capsys.readouterr().err
    (tmp_path / "metadata.csv").write_text("LJ001-0001|only two\n", encoding="utf-8")
    with pytest.raises(LJSpeechError, match=r"metadata\.csv:1: expected 3 '\|'-separated fields"):
        read_metadata(tmp_path)
    with pytest.raises(LJSpeechError, match="ljs_audio_text_train_filelist.txt not found"):
        make_ljspeech_filelists(None, tmp_path / "out", split_from=tmp_path)
