"""inference.py and convert_checkpoint.py on tiny random-weight checkpoints (CPU, seconds)."""

import json
import math

import pytest
import soundfile
import torch

from tacotron2_mmi import convert_checkpoint, inference
from tacotron2_mmi.checkpoints import plain_checkpoint
from tacotron2_mmi.hparams import HParams
from tacotron2_mmi.model import Tacotron2

TINY = dict(
    n_mel_channels=80, symbols_embedding_dim=16, encoder_embedding_dim=16, encoder_n_convolutions=1,
    attention_rnn_dim=16, attention_dim=8, attention_location_n_filters=4, attention_location_kernel_size=7,
    decoder_rnn_dim=16, prenet_dim=8, postnet_embedding_dim=8, postnet_n_convolutions=2, max_decoder_steps=30,
)  # fmt: skip

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning"),
]


def tiny_checkpoint(path, gate_bias: float | None = None, seed: int = 0):
    """gate_bias -20: the stop gate never fires; +20: it fires on the first frame; None: random weights."""
    torch.manual_seed(seed)
    model = Tacotron2(HParams(**TINY))
    if gate_bias is not None:
        with torch.no_grad():
            model.decoder.gate_layer.linear_layer.weight.zero_()
            model.decoder.gate_layer.linear_layer.bias.fill_(gate_bias)
    model.set_global_mean(torch.full((80,), -5.0), {"filelist": "train.txt"})
    torch.save(plain_checkpoint(model), path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {"random": tiny_checkpoint(root / "random.pt"), "never": tiny_checkpoint(root / "never.pt", -20.0),
            "at_once": tiny_checkpoint(root / "at_once.pt", 20.0)}  # fmt: skip


def synthesize(checkpoint, *extra) -> int:
    return inference.main(
        ["--checkpoint", str(checkpoint), "--griffin-lim-iters", "2", "--device", "cpu", *extra]
    )


def test_text_to_one_wav_and_no_silent_overwrite(checkpoints, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    assert synthesize(checkpoints["at_once"], "--text", "Hello world.", "-o", str(out)) == 0
    audio, rate = soundfile.read(out, dtype="int16")
    assert rate == 22050 and len(audio) == 256  # the gate fired on the first frame, which is kept
    assert out.with_suffix(".png").is_file()
    assert synthesize(checkpoints["at_once"], "--text", "Hello again.", "-o", str(out)) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert synthesize(checkpoints["at_once"], "--text", "Hello again.", "-o", str(out), "--force") == 0


def test_filelist_batches_equal_one_by_one_and_reports(checkpoints, tmp_path):
    (tmp_path / "list.txt").write_text("wavs/a.wav|A cat sat.\nwavs/b.wav|Dogs run far away, very far.\n")
    common = ["-i", str(tmp_path / "list.txt"), "--no-prenet-dropout", "--max-decoder-steps", "12"]
    assert synthesize(checkpoints["random"], *common, "-o", str(tmp_path / "one")) == 0
    assert synthesize(checkpoints["random"], *common, "-o", str(tmp_path / "two"), "-bs", "2") == 0
    for stem in ("a", "b"):
        one, _ = soundfile.read(tmp_path / "one" / f"{stem}.wav")
        two, _ = soundfile.read(tmp_path / "two" / f"{stem}.wav")
        assert one.shape == two.shape
    report = json.loads((tmp_path / "one" / "synthesis.json").read_text())
    assert set(report) == {"a", "b"} and all(entry["pieces"] == 1 for entry in report.values())
    timings = json.loads((tmp_path / "one" / "timings.json").read_text())
    assert set(timings) == {"a", "b"} and all(t > 0 for t in timings.values())


def test_torchscript_vocoder_and_the_max_steps_warning(checkpoints, tmp_path, capsys):
    class Repeat(torch.nn.Module):
        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return torch.tanh(mel.mean(dim=1)).repeat_interleave(256, dim=1)

    torch.jit.script(Repeat()).save(str(tmp_path / "vocoder.ts"))
    out = tmp_path / "out"
    code = synthesize(checkpoints["never"], "--text", "A long night.", "-o", str(out), "--vocoder",
                      str(tmp_path / "vocoder.ts"), "--max-decoder-steps", "7")  # fmt: skip
    assert code == 0
    assert "came before the stop gate fired" in capsys.readouterr().err
    audio, _ = soundfile.read(out / "audio_0.wav")
    assert len(audio) == 7 * 256
    assert json.loads((out / "synthesis.json").read_text())["audio_0"]["stop_gate_fired"] is False


def test_long_text_is_split_into_pieces(checkpoints, tmp_path):
    text = "First sentence here. Second sentence there. Third one too."
    assert synthesize(checkpoints["at_once"], "--text", text, "-o", str(tmp_path), "--max-chars", "25") == 0
    assert json.loads((tmp_path / "synthesis.json").read_text())["audio_0"]["pieces"] == 3


@pytest.mark.parametrize(
    "flags, message",
    [(["--max-decoder-steps", "0"], "--max-decoder-steps must be at least 1"),
     (["--gate-threshold", "1.5"], "--gate-threshold must lie in (0, 1)"),
     (["--griffin-lim-iters", "-1"], "--griffin-lim-iters must be >= 0")],
)  # fmt: skip
def test_numbers_that_would_hang_are_refused_before_loading(tmp_path, capsys, flags, message):
    assert synthesize(tmp_path / "missing.pt", "--text", "a", "-o", str(tmp_path), *flags) == 1
    assert message in capsys.readouterr().err


def test_errors_are_clear(checkpoints, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert synthesize(tmp_path / "missing.pt", "--text", "Hi.", "-o", out) == 1
    assert "missing.pt: no such checkpoint file" in capsys.readouterr().err
    assert synthesize(checkpoints["random"], "--text", "Hi ^ there.", "-o", out) == 1
    assert "character '^' is not in the Tacotron 2 symbol set" in capsys.readouterr().err
    assert synthesize(checkpoints["random"], "--text", "...", "-o", out) == 1
    assert "nothing to speak" in capsys.readouterr().err
    (tmp_path / "bad.ts").write_text("not torchscript")
    assert (
        synthesize(checkpoints["random"], "--text", "Hi.", "-o", out, "--vocoder", str(tmp_path / "bad.ts"))
        == 1
    )
    assert "not a TorchScript module" in capsys.readouterr().err
    state = torch.load(checkpoints["random"], weights_only=True)
    state["state_dict"]["decoder.gate_layer.linear_layer.bias"] = torch.tensor([math.nan])
    torch.save(state, tmp_path / "nan.pt")
    assert synthesize(tmp_path / "nan.pt", "--text", "Hi.", "-o", out) == 1
    assert "decoder.gate_layer.linear_layer.bias" in capsys.readouterr().err


def test_converter_never_writes_over_its_input(checkpoints, tmp_path, capsys):
    source = tmp_path / "checkpoint_3"
    source.write_bytes(checkpoints["random"].read_bytes())
    (tmp_path / "checkpoint_last").symlink_to("checkpoint_3")
    for target in (source, tmp_path / "checkpoint_last"):
        assert convert_checkpoint.main([str(tmp_path / "checkpoint_last"), str(target), "--force"]) == 1
        message = capsys.readouterr().err
        assert "is the input" in message or "is a link" in message
    assert convert_checkpoint.main([str(source), str(tmp_path / "plain.pt")]) == 0
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)
    assert set(plain) == {"state_dict", "hparams", "global_mean", "global_mean_source"}
    assert convert_checkpoint.main([str(source), str(tmp_path / "plain.pt")]) == 1  # exists, no --force
    assert "exists; pass --force" in capsys.readouterr().err


def test_an_unwritable_output_is_named_before_any_work(checkpoints, tmp_path, capsys):
    """Every writing command of the folder, told to write below a regular file."""
    from tacotron2_mmi import train

    blocked = tmp_path / "a_file"
    blocked.write_text("a file where a folder is expected\n")
    commands = [
        (
            inference.main,
            ["--checkpoint", str(checkpoints["random"]), "--text", "a", "-o", str(blocked / "o")],
        ),
        (convert_checkpoint.main, [str(checkpoints["random"]), str(blocked / "o.pt")]),
        (
            train.main,
            ["-o", str(blocked / "run"), "--training-files", "x.txt", "--validation-files", "y.txt"],
        ),
    ]
    for main, argv in commands:
        assert main(argv) == 1
        message = capsys.readouterr().err
        assert str(blocked) in message and "is a file, not a folder" in message and "Traceback" not in message
