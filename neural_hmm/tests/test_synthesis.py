"""synthesis.py end to end with a tiny untrained model: Griffin-Lim, a scripted vocoder, errors."""

import json
from pathlib import Path

import pytest
import soundfile
import torch
from torch import nn

from neural_hmm import synthesis
from neural_hmm.checkpoints import neural_hmm_checkpoint
from neural_hmm.hparams import HParams
from neural_hmm.model import NeuralHMM

N_MEL = 20
HOP = 256
# An untrained model rarely reaches its last state within the short limits used here; TorchScript is
# deprecated but is the vocoder format of this repository.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:.*reached max_sampling_time:UserWarning", "ignore:`torch.jit:DeprecationWarning"
    ),
    pytest.mark.usefixtures("one_thread"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    hparams = HParams(
        n_mel_channels=N_MEL,
        go_token_init_value=[0.0] * N_MEL,
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        encoder_n_convolutions=1,
        prenet_dim=16,
        post_prenet_rnn_dim=24,
        parameternetwork=[24],
    )
    path = tmp_path_factory.mktemp("model") / "tiny.ckpt"
    torch.save(neural_hmm_checkpoint(NeuralHMM(hparams)), path)
    return path


class RepeatVocoder(nn.Module):
    """Mel (B, n_mel, T) -> audio (B, T * 256): each frame's mean, held for one hop."""

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.tanh(mel.mean(1)).repeat_interleave(256, dim=1) * 0.1


def run(checkpoint: Path, text_file: Path, output: Path, *extra: str) -> int:
    argv = ["--checkpoint", str(checkpoint), "-i", str(text_file), "-o", str(output), "--device", "cpu"]
    return synthesis.main([*argv, "--max-sampling-time", "40", "--seed", "1", *extra])


def test_griffin_lim_from_a_filelist(checkpoint, tmp_path):
    (tmp_path / "list.txt").write_text("wavs/LJ001-0001.wav|Dot a net.\nwavs/LJ001-0002.wav|Sit on it!\n")
    assert run(checkpoint, tmp_path / "list.txt", tmp_path / "out", "--griffin-lim-iters", "4") == 0
    for stem in ("LJ001-0001", "LJ001-0002"):
        audio, rate = soundfile.read(tmp_path / "out" / f"{stem}.wav")
        assert rate == 22050 and len(audio) > 0
        assert (tmp_path / "out" / f"{stem}.png").stat().st_size > 1000
    timings = json.loads((tmp_path / "out" / "timings.json").read_text())
    assert set(timings) == {"LJ001-0001", "LJ001-0002"} and all(t > 0 for t in timings.values())


def test_torchscript_vocoder_and_plain_text(checkpoint, tmp_path):
    vocoder = tmp_path / "vocoder.ts"
    torch.jit.script(RepeatVocoder()).save(str(vocoder))
    (tmp_path / "text.txt").write_text("Dot a net.\n\nSit on it.\n")
    code = run(checkpoint, tmp_path / "text.txt", tmp_path / "out", "--vocoder", str(vocoder),
               "--no-prenet-dropout", "--predict-means", "--max-sampling-time", "17")  # fmt: skip
    assert code == 0
    for stem in ("audio_0", "audio_1"):
        audio, _ = soundfile.read(tmp_path / "out" / f"{stem}.wav")
        assert len(audio) % HOP == 0 and 0 < len(audio) <= 17 * HOP
        assert (tmp_path / "out" / f"{stem}.png").is_file()
    assert set(json.loads((tmp_path / "out" / "timings.json").read_text())) == {"audio_0", "audio_1"}


def test_max_length_warning_names_the_sentence(checkpoint, tmp_path, capsys):
    (tmp_path / "text.txt").write_text("Dot a net and sit on it.\n")
    vocoder = tmp_path / "vocoder.ts"
    torch.jit.script(RepeatVocoder()).save(str(vocoder))
    assert run(checkpoint, tmp_path / "text.txt", tmp_path / "out", "--vocoder", str(vocoder),
               "--max-sampling-time", "3") == 0  # fmt: skip
    assert "text.txt:1 (audio_0): a piece reached max_sampling_time" in capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "synthesis.json").read_text())
    assert report["audio_0"]["reached_final_state"] is False and report["audio_0"]["frames"] == 3


def test_one_text_to_one_wav_and_no_silent_overwrite(checkpoint, tmp_path, capsys):
    argv = ["--checkpoint", str(checkpoint), "--text", "Dot a net.", "-o", str(tmp_path / "hello.wav"),
            "--device", "cpu", "--max-sampling-time", "20", "--griffin-lim-iters", "2"]  # fmt: skip
    assert synthesis.main(argv) == 0
    first = (tmp_path / "hello.wav").read_bytes()
    assert (tmp_path / "hello.png").is_file() and not (tmp_path / "timings.json").exists()
    assert synthesis.main(argv) == 1
    assert "hello.wav exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "hello.wav").read_bytes() == first
    assert synthesis.main([*argv, "--force", "--seed", "3"]) == 0


def test_text_with_a_bar_is_text_and_the_speaker_is_never_spoken(checkpoint, tmp_path, capsys):
    # Taken as text (not as a filelist line writing Hello.wav that says "world"): the bar is refused.
    (tmp_path / "text.txt").write_text("Hello | world\n")
    assert run(checkpoint, tmp_path / "text.txt", tmp_path / "plain", "--griffin-lim-iters", "1") == 1
    assert "text.txt:1: character '|'" in capsys.readouterr().err
    assert not list((tmp_path / "plain").glob("*.wav"))
    (tmp_path / "list.txt").write_text("wavs/a.wav|Dot.|7\n")
    items = synthesis.read_synthesis_input(path=tmp_path / "list.txt")
    assert items[0].text == "Dot." and items[0].speaker_id == 7


def test_long_text_is_split_into_pieces(checkpoint, tmp_path):
    words = " ".join(["dot a net"] * 30)  # 269 characters, no punctuation
    (tmp_path / "long.txt").write_text(words + "\n")
    assert run(checkpoint, tmp_path / "long.txt", tmp_path / "out", "--griffin-lim-iters", "1",
               "--max-chars", "100", "--max-sampling-time", "5") == 0  # fmt: skip
    assert json.loads((tmp_path / "out" / "synthesis.json").read_text())["audio_0"]["pieces"] == 3


def test_errors_are_clear(checkpoint, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n  \n")
    assert run(checkpoint, tmp_path / "empty.txt", tmp_path / "out") == 1
    assert "empty.txt: the input file is empty" in capsys.readouterr().err

    (tmp_path / "unknown.txt").write_text("Fine.\nNot ^ fine.\n")
    assert run(checkpoint, tmp_path / "unknown.txt", tmp_path / "out") == 1
    assert "unknown.txt:2: character '^'" in capsys.readouterr().err

    (tmp_path / "emoji.txt").write_text("Fine.\n\U0001f600\n")
    assert run(checkpoint, tmp_path / "emoji.txt", tmp_path / "out") == 1
    assert "emoji.txt:2: " in capsys.readouterr().err

    (tmp_path / "latin1.txt").write_bytes("Caf\xe9.\n".encode("latin-1"))
    assert run(checkpoint, tmp_path / "latin1.txt", tmp_path / "out") == 1
    assert "latin1.txt" in capsys.readouterr().err

    (tmp_path / "text.txt").write_text("Fine.\n")
    assert run(tmp_path / "nope.ckpt", tmp_path / "text.txt", tmp_path / "out") == 1
    assert "nope.ckpt: no such checkpoint file" in capsys.readouterr().err

    assert run(checkpoint, tmp_path / "text.txt", tmp_path / "out", "--vocoder", str(tmp_path / "v.ts")) == 1
    assert "v.ts: no such file" in capsys.readouterr().err

    (tmp_path / "a_file").write_text("")
    assert run(checkpoint, tmp_path / "text.txt", tmp_path / "a_file" / "out") == 1
    assert "a_file is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-sampling-time", "-5", "--duration-quantile-threshold", "0"], "--max-sampling-time must be"),
        (["--duration-quantile-threshold", "1.5"], "must lie in (0, 1)"),
        (["--speaking-rate", "0"], "--speaking-rate must be positive"),
    ],
)
def test_numbers_that_would_hang_are_refused_before_loading(tmp_path, capsys, flags, message):
    (tmp_path / "text.txt").write_text("Fine.\n")
    assert run(tmp_path / "not_even_loaded.ckpt", tmp_path / "text.txt", tmp_path / "out", *flags) == 1
    assert message in capsys.readouterr().err


def test_nan_model_is_refused_naming_the_tensor(checkpoint, tmp_path, capsys):
    broken = torch.load(checkpoint, weights_only=True)
    broken["state_dict"]["hmm.post_prenet_rnn.weight_hh"][0, 0] = float("nan")
    torch.save(broken, tmp_path / "nan.ckpt")
    (tmp_path / "text.txt").write_text("Fine.\n")
    assert run(tmp_path / "nan.ckpt", tmp_path / "text.txt", tmp_path / "out") == 1
    assert "'hmm.post_prenet_rnn.weight_hh' has 1 non-finite value" in capsys.readouterr().err
