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
    for stem in ("utt_0", "utt_1"):
        audio, _ = soundfile.read(tmp_path / "out" / f"{stem}.wav")
        assert len(audio) % HOP == 0 and 0 < len(audio) <= 17 * HOP
        assert (tmp_path / "out" / f"{stem}.png").is_file()
    assert set(json.loads((tmp_path / "out" / "timings.json").read_text())) == {"utt_0", "utt_1"}


def test_max_length_warning_names_the_sentence(checkpoint, tmp_path):
    (tmp_path / "text.txt").write_text("Dot a net and sit on it.\n")
    vocoder = tmp_path / "vocoder.ts"
    torch.jit.script(RepeatVocoder()).save(str(vocoder))
    with pytest.warns(
        UserWarning, match=r"utt_0 \(line 1, 'Dot a net and sit on it.'\): reached max_sampling"
    ):
        run(checkpoint, tmp_path / "text.txt", tmp_path / "out", "--vocoder", str(vocoder),
            "--max-sampling-time", "3")  # fmt: skip


def test_errors_are_clear(checkpoint, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n  \n")
    assert run(checkpoint, tmp_path / "empty.txt", tmp_path / "out") == 1
    assert "empty.txt: the input file is empty" in capsys.readouterr().err

    (tmp_path / "unknown.txt").write_text("Fine.\nNot ^ fine.\n")
    assert run(checkpoint, tmp_path / "unknown.txt", tmp_path / "out") == 1
    assert "unknown.txt:2: character '^'" in capsys.readouterr().err

    (tmp_path / "text.txt").write_text("Fine.\n")
    assert run(tmp_path / "nope.ckpt", tmp_path / "text.txt", tmp_path / "out") == 1
    assert "nope.ckpt: no such checkpoint file" in capsys.readouterr().err

    assert run(checkpoint, tmp_path / "text.txt", tmp_path / "out", "--vocoder", str(tmp_path / "v.ts")) == 1
    assert "v.ts: no such vocoder file" in capsys.readouterr().err
