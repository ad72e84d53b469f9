"""prepare_mels.py: the producer of `train.py --load-mel-from-disk` inputs, on a tiny tone corpus."""

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from tacotron2_waveglow_ngc import prepare_mels, train
from tacotron2_waveglow_ngc.audio import TacotronSTFT
from tacotron2_waveglow_ngc.data import TextMelDataset

REPO_ROOT = Path(__file__).resolve().parents[2]
N_MEL = 20
TINY_TACOTRON2 = (
    f"--n-mel-channels {N_MEL} --symbols-embedding-dim 16 --encoder-embedding-dim 16 --attention-rnn-dim 24 "
    "--attention-dim 8 --attention-location-n-filters 4 --attention-location-kernel-size 7 "
    "--decoder-rnn-dim 24 --prenet-dim 12 --postnet-embedding-dim 16"
).split()

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def corpus(tmp_path) -> Path:
    """LJSpeech's layout in miniature: <root>/dataset/wavs/*.wav and <root>/filelists/ with DLE-named
    train (4 lines) and val (2 lines) lists of `wavs/<id>.wav|text`."""
    dataset = tmp_path / "dataset"
    synthetic = make_synthetic_corpus(
        n_utterances=6, seed=3, min_frames=1, max_frames=3, n_words=(1, 2), word_length=(2, 3)
    )
    write_synthetic_corpus(dataset, synthetic)
    lines = (dataset / "filelist.txt").read_text().splitlines(keepends=True)
    lists = tmp_path / "filelists"
    lists.mkdir()
    (lists / "ljs_audio_text_train_filelist.txt").write_text("".join(lines[:4]))
    (lists / "ljs_audio_text_val_filelist.txt").write_text("".join(lines[4:]))
    return tmp_path


def run(corpus: Path, *extra: str) -> int:
    lists = sorted(str(path) for path in (corpus / "filelists").glob("ljs_audio_text_*"))
    return prepare_mels.main(
        ["-d", str(corpus / "dataset"), "--filelists", *lists, "--n-mel-channels", str(N_MEL), *extra]
    )


def test_saved_mels_are_the_stft_of_the_wavs_and_the_mel_lists_load(corpus):
    lists = sorted(str(path) for path in (corpus / "filelists").glob("ljs_audio_text_*"))
    # As scripts/prepare_dataset.sh --mels runs it: the file, from another folder.
    script = REPO_ROOT / "tacotron2_waveglow_ngc" / "prepare_mels.py"
    command = [sys.executable, str(script), "--dataset-path", "dataset", "--filelists", *lists,
               "--n-mel-channels", str(N_MEL)]  # fmt: skip
    result = subprocess.run(command, cwd=corpus, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]

    dataset = corpus / "dataset"
    stft = TacotronSTFT(n_mel_channels=N_MEL)
    for wav in sorted((dataset / "wavs").glob("*.wav")):
        samples, rate = soundfile.read(str(wav), dtype="int16")
        expected = stft.mel_spectrogram(torch.from_numpy(samples / 32768.0).float()[None])[0]
        saved = torch.load(dataset / "mels" / f"{wav.stem}.pt", weights_only=True)
        assert (
            rate == 22050 and saved.dtype == torch.float32 and saved.shape == (N_MEL, 1 + len(samples) // 256)
        )
        torch.testing.assert_close(saved, expected, rtol=0, atol=0)

    for split, n_lines in (("train", 4), ("val", 2)):
        audio_list = corpus / "filelists" / f"ljs_audio_text_{split}_filelist.txt"
        mel_list = corpus / "filelists" / f"ljs_mel_text_{split}_filelist.txt"  # DLE's name
        entries = mel_list.read_text().splitlines()
        assert len(entries) == n_lines and all(entry.startswith("mels/") for entry in entries)
        on_the_fly = TextMelDataset(audio_list, dataset, ["english_cleaners"], n_mel_channels=N_MEL)
        from_disk = TextMelDataset(
            mel_list, dataset, ["english_cleaners"], n_mel_channels=N_MEL, load_mel_from_disk=True
        )
        assert len(from_disk) == n_lines
        for index in range(n_lines):
            text, mel = from_disk[index]
            assert torch.equal(text, on_the_fly[index][0])
            assert torch.equal(mel, on_the_fly[index][1])
    assert not list((dataset / "mels").glob(".*.tmp")), "a temporary file was left behind"


def test_train_runs_on_the_mel_lists(corpus, tmp_path):
    assert run(corpus) == 0
    lists = corpus / "filelists"
    argv = ["-m", "Tacotron2", "-o", str(tmp_path / "run"), "-d", str(corpus / "dataset"), "--device", "cpu",
            "--num-workers", "0", "--load-mel-from-disk",
            "--training-files", str(lists / "ljs_mel_text_train_filelist.txt"),
            "--validation-files", str(lists / "ljs_mel_text_val_filelist.txt"),
            "--seed", "1", "--epochs", "1", "-bs", "2", "-lr", "1e-3", *TINY_TACOTRON2]  # fmt: skip
    assert train.main(argv) == 0
    assert list((tmp_path / "run").glob("checkpoint_Tacotron2_*.pt"))


def test_existing_mels_are_kept_unless_forced(corpus, capsys):
    assert run(corpus) == 0
    mel_path = next((corpus / "dataset" / "mels").glob("*.pt"))
    torch.save(torch.zeros(N_MEL, 3), mel_path)
    capsys.readouterr()
    assert run(corpus) == 0
    assert "0 mels written, 6 already there" in capsys.readouterr().out
    assert torch.equal(torch.load(mel_path, weights_only=True), torch.zeros(N_MEL, 3))
    assert run(corpus, "--force") == 0
    assert torch.load(mel_path, weights_only=True).shape[1] > 3


def test_mels_made_with_other_settings_are_refused(corpus, capsys):
    assert run(corpus) == 0
    capsys.readouterr()
    lists = sorted(str(path) for path in (corpus / "filelists").glob("ljs_audio_text_*"))
    argv = ["-d", str(corpus / "dataset"), "--filelists", *lists, "--n-mel-channels", "40"]
    assert prepare_mels.main(argv) == 1
    error = capsys.readouterr().err
    assert "mel_settings.json" in error and "n_mel_channels 20 (now 40)" in error and "--force" in error
    assert prepare_mels.main([*argv, "--force"]) == 0
    assert torch.load(next((corpus / "dataset" / "mels").glob("*.pt")), weights_only=True).shape[0] == 40


def test_two_wavs_with_one_stem_are_an_error_naming_both_lines(corpus, capsys):
    dataset = corpus / "dataset"
    (dataset / "other").mkdir()
    first = (dataset / "filelist.txt").read_text().splitlines()[0]
    wav, text = first.split("|")
    (dataset / "other" / Path(wav).name).write_bytes((dataset / wav).read_bytes())
    clash = corpus / "filelists" / "clash.txt"
    clash.write_text(f"{first}\nother/{Path(wav).name}|{text}\n")
    assert prepare_mels.main(["-d", str(dataset), "--filelists", str(clash)]) == 1
    error = capsys.readouterr().err
    assert f"{clash}:2:" in error and f"({clash}:1)" in error and "would both be saved as" in error
    assert not (dataset / "mels").exists() or not list((dataset / "mels").glob("*.pt"))


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "mel.pt"

    def write_then_fail(stream):
        stream.write(b"half a mel")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        prepare_mels.atomic_write(target, write_then_fail)  # infra's, which prepare_mels writes with
    assert list(tmp_path.iterdir()) == []


def test_mel_list_names_follow_dle():
    assert (
        prepare_mels.mel_list_name(Path("ljs_audio_text_val_filelist.txt")) == "ljs_mel_text_val_filelist.txt"
    )
    assert prepare_mels.mel_list_name(Path("lists/train.txt")) == "train_mel.txt"
