"""Tacotron 2 checkpoint loading, the converter, and the inference CLI on tiny random-weight models."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from filelists.text_input import read_synthesis_input
from tacotron2_waveglow_ngc import convert_checkpoint, inference
from tacotron2_waveglow_ngc.config import Tacotron2Config
from tacotron2_waveglow_ngc.infra import CheckpointError
from tacotron2_waveglow_ngc.synthesizer import GriffinLim
from tacotron2_waveglow_ngc.tacotron2_checkpoints import (
    NVIDIA_TACOTRON2_DEFAULTS,
    load_tacotron2,
    read_tacotron2_checkpoint,
    tacotron2_checkpoint,
)
from tacotron2_waveglow_ngc.tacotron2_model import Tacotron2
from tacotron2_waveglow_ngc.waveglow_checkpoints import load_waveglow, waveglow_checkpoint
from tacotron2_waveglow_ngc.waveglow_model import WaveGlow

# n_symbols stays 148 (the text front end's table); everything else is small.
TINY_T2 = dict(
    n_mel_channels=16,
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    encoder_n_convolutions=2,
    attention_rnn_dim=24,
    attention_dim=8,
    attention_location_n_filters=4,
    attention_location_kernel_size=7,
    decoder_rnn_dim=24,
    prenet_dim=12,
    postnet_embedding_dim=16,
    postnet_n_convolutions=3,
    max_decoder_steps=12,
)
TINY_WG = dict(n_mel_channels=16, n_flows=4, n_group=8, n_early_every=2, n_early_size=2)
TINY_WN = dict(n_layers=2, n_channels=8, kernel_size=3)


def tiny_tacotron2(gate_bias: float | None = None, **overrides) -> Tacotron2:
    """gate_bias -20: the stop gate never fires (always max steps); +20: it fires on the first frame."""
    torch.manual_seed(0)
    model = Tacotron2(Tacotron2Config(**{**TINY_T2, **overrides}))
    if gate_bias is not None:
        with torch.no_grad():
            model.decoder.gate_layer.linear_layer.weight.zero_()
            model.decoder.gate_layer.linear_layer.bias.fill_(gate_bias)
    return model.eval()


def tiny_waveglow() -> WaveGlow:
    torch.manual_seed(1)
    model = WaveGlow(**TINY_WG, WN_config=TINY_WN)
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, 0.05)
            wn.end.bias.normal_(0.0, 0.05)
    return model.eval()


def assert_same_weights(model, reference):
    ours, theirs = model.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


# ---------------------------------------------------------------------------------------------------
# Loading


def test_ngc_checkpoint_with_module_prefix(tmp_path):
    model = tiny_tacotron2()
    checkpoint = tacotron2_checkpoint(model)
    checkpoint["state_dict"] = {f"module.{k}": v for k, v in checkpoint["state_dict"].items()}
    torch.save(checkpoint, tmp_path / "ngc.pt")
    loaded, config = load_tacotron2(tmp_path / "ngc.pt")
    assert config == model.config
    assert not loaded.training
    assert_same_weights(loaded, model)


def test_hub_module_1_prefix_and_dle_config_without_our_extra_keys(tmp_path):
    model = tiny_tacotron2()
    config = model.config.to_dict()
    config.pop("prenet_dropout"), config.pop("prenet_always_dropout")
    state_dict = {f"module.1.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state_dict, "config": config}, tmp_path / "hub.pt")
    loaded, loaded_config = load_tacotron2(tmp_path / "hub.pt")
    assert loaded_config == model.config
    assert_same_weights(loaded, model)


def test_training_checkpoint_ignores_optimizer_and_extra_config_keys(tmp_path):
    model = tiny_tacotron2()
    optimizer = torch.optim.Adam(model.parameters())
    config = {**model.config.to_dict(), "learning_rate": 1e-3, "epochs": 10}
    training = {
        "epoch": 3,
        "config": config,
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "random_rng_states_all": [torch.get_rng_state()],
    }
    torch.save(training, tmp_path / "checkpoint_Tacotron2_3.pt")
    loaded, loaded_config = load_tacotron2(tmp_path / "checkpoint_Tacotron2_3.pt")
    assert loaded_config == model.config
    assert_same_weights(loaded, model)


def test_nvidia_statedict_gets_nvidia_defaults_and_sizes_from_shapes(tmp_path):
    model = tiny_tacotron2()
    optimizer = torch.optim.Adam(model.parameters())
    nvidia = {
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "iteration": 7,
        "learning_rate": 1e-3,
    }
    torch.save(nvidia, tmp_path / "tacotron2_statedict.pt")
    found = read_tacotron2_checkpoint(tmp_path / "tacotron2_statedict.pt")
    assert found.source_format == "nvidia"
    loaded, config = load_tacotron2(tmp_path / "tacotron2_statedict.pt")
    for key, value in NVIDIA_TACOTRON2_DEFAULTS.items():
        assert getattr(config, key) == value
    for key in (
        "n_symbols",
        "encoder_n_convolutions",
        "postnet_n_convolutions",
        "decoder_rnn_dim",
        "n_mel_channels",
    ):
        assert getattr(config, key) == getattr(model.config, key)
    assert_same_weights(loaded, model)


def test_plain_state_dict_and_config_override(tmp_path):
    model = tiny_tacotron2()
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    loaded, config = load_tacotron2(tmp_path / "plain.pt", config_overrides={"max_decoder_steps": 5})
    assert config.max_decoder_steps == 5 and loaded.decoder.max_decoder_steps == 5
    assert not config.mask_padding  # DLE default for files without a config
    assert_same_weights(loaded, model)


def test_mismatch_names_missing_unexpected_and_misshaped_keys(tmp_path):
    model = tiny_tacotron2()
    state_dict = dict(model.state_dict())
    del state_dict["decoder.gate_layer.linear_layer.bias"]
    state_dict["decoder.extra.weight"] = torch.zeros(1)
    config = {**model.config.to_dict(), "attention_dim": 9}  # query/memory layers: 9 rows in the model
    torch.save({"state_dict": state_dict, "config": config}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as error:
        load_tacotron2(tmp_path / "bad.pt")
    message = str(error.value)
    assert "does not fit Tacotron2" in message
    assert "missing" in message and "decoder.gate_layer.linear_layer.bias" in message
    assert "unexpected" in message and "decoder.extra.weight" in message
    assert "mis-shaped" in message and "query_layer" in message


def test_waveglow_given_as_tacotron2_and_vice_versa(tmp_path):
    torch.save(waveglow_checkpoint(tiny_waveglow()), tmp_path / "wg.pt")
    torch.save(tacotron2_checkpoint(tiny_tacotron2()), tmp_path / "t2.pt")
    with pytest.raises(CheckpointError, match="WaveGlow checkpoint.*not a Tacotron 2"):
        load_tacotron2(tmp_path / "wg.pt")
    with pytest.raises(CheckpointError, match="Tacotron 2 checkpoint.*not a WaveGlow"):
        load_waveglow(tmp_path / "t2.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_tacotron2(tmp_path / "missing.pt")


def test_convert_checkpoint_tacotron2(tmp_path):
    model = tiny_tacotron2()
    checkpoint = {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "iteration": 1}
    torch.save(checkpoint, tmp_path / "in.pt")
    assert (
        convert_checkpoint.main([str(tmp_path / "in.pt"), str(tmp_path / "out.pt"), "--model", "Tacotron2"])
        == 0
    )
    written = torch.load(tmp_path / "out.pt", weights_only=True)
    assert set(written) == {"state_dict", "config"}
    assert written["config"]["mask_padding"] is True  # NVIDIA defaults for a config-less file
    loaded, _ = load_tacotron2(tmp_path / "out.pt")
    assert_same_weights(loaded, model)
    argv = [str(tmp_path / "in.pt"), str(tmp_path / "o2.pt"), "--model", "Tacotron2", "--layout", "nvidia"]
    assert convert_checkpoint.main(argv) == 2


# ---------------------------------------------------------------------------------------------------
# Input handling


def items(path: Path):
    return read_synthesis_input(path=path)


def test_utterances_are_split_and_encoded(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("First line. Second sentence.\n\nAnother line\n")
    utterances = inference.encode_utterances(items(plain), max_chars=250, suffix="_x")
    assert [u.stem for u in utterances] == ["audio_0_x", "audio_1_x"]
    assert [u.where for u in utterances] == [f"{plain}:1", f"{plain}:3"]
    assert utterances[0].sentences == ["First line.", "Second sentence."]
    assert len(utterances[0].sequences) == 2 and all(utterances[0].sequences)
    unpunctuated = tmp_path / "long.txt"
    unpunctuated.write_text(" ".join(["word"] * 100) + "\n")  # 499 characters, no punctuation
    (long,) = inference.encode_utterances(items(unpunctuated), max_chars=100)
    assert len(long.sentences) == 5 and all(len(piece) <= 100 for piece in long.sentences)
    filelist = tmp_path / "list.txt"
    filelist.write_text("wavs/LJ001-0001.wav|Printing, in the only sense.\nwavs/LJ001-0002.wav|In being.\n")
    assert [u.stem for u in inference.encode_utterances(items(filelist), 250)] == ["LJ001-0001", "LJ001-0002"]


def test_input_errors(tmp_path):
    (tmp_path / "bad.txt").write_text("fine line\nabout # that\n")
    with pytest.raises(inference.InferenceError, match=r"bad.txt:2: character '#'"):
        inference.encode_utterances(items(tmp_path / "bad.txt"), 250)
    with pytest.warns(UserWarning):
        dropped = inference.encode_utterances(items(tmp_path / "bad.txt"), 250, on_unknown="drop")
    assert len(dropped[1].sequences[0]) == len("about  that")
    (tmp_path / "emoji.txt").write_text("\U0001f600\n")
    with pytest.raises(inference.InferenceError, match=r"emoji.txt:1: .* nothing to speak after cleaning"):
        inference.encode_utterances(items(tmp_path / "emoji.txt"), 250)


# ---------------------------------------------------------------------------------------------------
# Synthesis and the command line


@pytest.fixture
def checkpoints(tmp_path):
    torch.save(tacotron2_checkpoint(tiny_tacotron2(gate_bias=-20.0)), tmp_path / "t2.pt")
    torch.save(waveglow_checkpoint(tiny_waveglow()), tmp_path / "wg.pt")
    text = tmp_path / "in.txt"
    text.write_text("Hello world. This is a test.\nA second, shorter line\n")
    return tmp_path


def run_cli(argv):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = inference.main([str(a) for a in argv])
    return code, [str(w.message) for w in caught]


def check_outputs(out, stems, n_frames_per_line):
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == stems
    for stem, n_frames in zip(stems, n_frames_per_line):
        rate, audio = wavfile.read(out / f"{stem}.wav")
        assert rate == 22050 and audio.dtype == np.int16  # the repository's one WAV format
        assert len(audio) == n_frames * 256
        assert np.abs(audio.astype(np.int32)).max() >= 32767  # peak-normalised
        assert timings[stem] > 0
        assert (out / f"{stem}.png").stat().st_size > 0  # the alignment
    return timings


def test_cli_waveglow_end_to_end(checkpoints, capsys):
    tmp = checkpoints
    argv = [
        "--tacotron2",
        tmp / "t2.pt",
        "--waveglow",
        tmp / "wg.pt",
        "-i",
        tmp / "in.txt",
        "-o",
        tmp / "out",
    ]
    code, _ = run_cli([*argv, "--cpu", "--seed", "1", "-bs", "2", "--suffix", "_s"])
    assert code == 0
    # Gate never fires: every sentence decodes max_decoder_steps=12 frames; line 0 has two sentences.
    check_outputs(tmp / "out", ["audio_0_s", "audio_1_s"], [24, 12])
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if "max_decoder_steps=12" in line]
    assert len(warned) == 3
    assert any(f"{tmp / 'in.txt'}:1 (audio_0_s): " in m and "'This is a test.'" in m for m in warned)
    report = json.loads((tmp / "out" / "synthesis.json").read_text())
    assert report["audio_0_s"] == {**report["audio_0_s"], "frames": 24, "pieces": 2, "stop_gate_fired": False}
    record = json.loads((tmp / "out" / "nvlog.json").read_text().splitlines()[-1])
    assert {"tacotron2_items_per_sec", "waveglow_items_per_sec", "latency", "rtf"} <= set(record["data"])
    assert "lower is faster" in captured.out


def test_cli_batched_equals_unbatched_order(checkpoints):
    """Input order is kept whatever the batch size; lengths are per sentence."""
    tmp = checkpoints
    base = ["--tacotron2", tmp / "t2.pt", "-i", tmp / "in.txt", "--cpu", "--griffin-lim-iters", "2"]
    assert run_cli([*base, "-o", tmp / "a", "-bs", "1", "--max-decoder-steps", "6"])[0] == 0
    assert run_cli([*base, "-o", tmp / "b", "-bs", "3", "--max-decoder-steps", "6"])[0] == 0
    for out in ("a", "b"):
        check_outputs(tmp / out, ["audio_0", "audio_1"], [12, 6])


def test_cli_griffin_lim_filelist_and_benchmark(checkpoints, capsys):
    tmp = checkpoints
    (tmp / "list.txt").write_text("wavs/LJ001-0001.wav|Hello.\nwavs/LJ001-0002.wav|Bye now.\n")
    argv = [
        "--tacotron2",
        tmp / "t2.pt",
        "-i",
        tmp / "list.txt",
        "-o",
        tmp / "gl",
        "--cpu",
        "--griffin-lim-iters",
        "3",
    ]
    code, _ = run_cli(
        [*argv, "--benchmark", "--warmup-steps", "1", "--repeats", "2", "--log-file", "bench.json"]
    )
    assert code == 0
    check_outputs(tmp / "gl", ["LJ001-0001", "LJ001-0002"], [12, 12])
    assert "median of 2 runs" in capsys.readouterr().out
    assert (tmp / "gl" / "bench.json").is_file()


def test_gate_firing_at_once_gives_one_frame(tmp_path):
    torch.save(tacotron2_checkpoint(tiny_tacotron2(gate_bias=20.0)), tmp_path / "t2.pt")
    (tmp_path / "in.txt").write_text("Hi.\n")
    argv = [
        "--tacotron2",
        tmp_path / "t2.pt",
        "-i",
        tmp_path / "in.txt",
        "-o",
        tmp_path / "o",
        "--griffin-lim-iters",
        "1",
    ]
    code, _ = run_cli([*argv, "--cpu"])
    assert code == 0
    check_outputs(tmp_path / "o", ["audio_0"], [1])
    assert json.loads((tmp_path / "o" / "synthesis.json").read_text())["audio_0"]["stop_gate_fired"] is True


def test_cli_errors(checkpoints, capsys):
    tmp = checkpoints
    (tmp / "empty.txt").write_text("")
    assert (
        inference.main(
            ["--tacotron2", str(tmp / "t2.pt"), "-i", str(tmp / "empty.txt"), "-o", str(tmp / "e")]
        )
        == 1
    )
    assert "empty" in capsys.readouterr().err
    argv = ["--tacotron2", str(tmp / "none.pt"), "-i", str(tmp / "in.txt"), "-o", str(tmp / "e")]
    assert inference.main(argv) == 1
    err = capsys.readouterr().err
    assert "none.pt: no such checkpoint file" in err
    argv = ["--tacotron2", str(tmp / "wg.pt"), "-i", str(tmp / "in.txt"), "-o", str(tmp / "e"), "--cpu"]
    assert inference.main(argv) == 1
    assert "WaveGlow checkpoint" in capsys.readouterr().err


def test_griffin_lim_recovers_a_tone():
    """mel of a sine -> Griffin-Lim -> a signal with the same dominant frequency."""
    from tacotron2_waveglow_ngc.audio import TacotronSTFT

    t = torch.arange(22050) / 22050
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    mel = TacotronSTFT().mel_spectrogram(tone.unsqueeze(0))
    audio = GriffinLim(n_iters=20)(mel, generator=torch.Generator().manual_seed(0))[0]
    spectrum = torch.fft.rfft(audio[2048:-2048]).abs()
    peak_hz = float(spectrum.argmax()) * 22050 / (len(audio) - 4096)
    assert abs(peak_hz - 440) < 30


def test_cli_int8_and_amp_on_cpu(checkpoints):
    tmp = checkpoints
    argv = ["--tacotron2", tmp / "t2.pt", "--waveglow", tmp / "wg.pt", "-i", tmp / "in.txt", "-o", tmp / "q"]
    code, _ = run_cli([*argv, "--cpu", "--int8", "--amp", "--max-decoder-steps", "5"])
    assert code == 0
    check_outputs(tmp / "q", ["audio_0", "audio_1"], [10, 5])


def test_text_to_one_wav_without_silent_overwrite_and_dle_flags(checkpoints, capsys):
    tmp = checkpoints
    argv = ["--checkpoint", tmp / "t2.pt", "--waveglow", tmp / "wg.pt", "--text", "Hello.",
            "-o", tmp / "hi.wav", "--cpu", "--wn-channels", "8", "--fp16"]  # fmt: skip
    assert run_cli(argv)[0] == 0
    rate, audio = wavfile.read(tmp / "hi.wav")
    assert rate == 22050 and len(audio) == 12 * 256 and (tmp / "hi.png").is_file()
    assert run_cli(argv)[0] == 1
    assert "hi.wav exists; pass --force" in capsys.readouterr().err
    assert run_cli([*argv[:-3], "--wn-channels", "256", "--force"])[0] == 1
    assert "n_channels: given 256, checkpoint 8" in capsys.readouterr().err


def test_outputs_are_checked_before_synthesis(checkpoints, capsys):
    tmp = checkpoints
    (tmp / "a_file").write_text("")
    argv = ["--tacotron2", tmp / "t2.pt", "-i", tmp / "in.txt", "-o", tmp / "a_file" / "out", "--cpu"]
    assert run_cli(argv)[0] == 1
    assert "a_file is a file, not a folder" in capsys.readouterr().err
    assert run_cli([*argv[:5], tmp / "o", "--cpu", "--max-decoder-steps", "0"])[0] == 1
    assert "--max-decoder-steps must be at least 1" in capsys.readouterr().err


def test_nan_models_are_refused_naming_the_tensor(checkpoints, capsys):
    tmp = checkpoints
    broken = torch.load(tmp / "t2.pt", weights_only=True)
    broken["state_dict"]["decoder.attention_rnn.weight_hh"][0, 0] = float("nan")
    torch.save(broken, tmp / "nan.pt")
    assert run_cli(["--tacotron2", tmp / "nan.pt", "--text", "Hi.", "-o", tmp / "x.wav", "--cpu"])[0] == 1
    assert "'decoder.attention_rnn.weight_hh' has 1 non-finite value" in capsys.readouterr().err
    assert not (tmp / "x.wav").exists()
