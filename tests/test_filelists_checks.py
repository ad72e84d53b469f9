"""filelists.checks: the checks training runs before its first step, every bad line at once."""

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from filelists.checks import (
    DataCheckError,
    check_audio_file,
    check_model_data,
    check_training_data,
    require_clean,
)
from filelists.validate import main

RATE = 22050


def speech_like(n_samples: int = RATE, peak: float = 0.3) -> np.ndarray:
    return peak * np.sin(np.arange(n_samples) * 0.07) * np.hanning(n_samples)


def raw_wav(path: Path, payload: bytes, bits: int, format_tag: int = 1, declared: int | None = None) -> None:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, 1, RATE, RATE * block, block, bits)
    size = len(payload) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """One list of lines that are each fine, or each have one known problem."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    audio = speech_like()
    for name, subtype in (("pcm16", "PCM_16"), ("float", "FLOAT"), ("pcm24", "PCM_24"), ("u8", "PCM_U8")):
        soundfile.write(wavs / f"{name}.wav", audio, RATE, subtype=subtype)
    pcm = (audio * 32767).astype("<i2").tobytes()
    raw_wav(wavs / "truncated.wav", pcm[: len(pcm) // 2], 16, declared=len(pcm))
    raw_wav(wavs / "header_only.wav", b"", 16)
    soundfile.write(wavs / "zeros.wav", np.zeros(RATE), RATE, subtype="PCM_16")
    soundfile.write(wavs / "whisper.wav", speech_like(peak=3e-4), RATE, subtype="PCM_16")
    nan = speech_like().astype(np.float32)
    nan[100] = np.nan
    soundfile.write(wavs / "nan.wav", nan, RATE, subtype="FLOAT")
    soundfile.write(wavs / "short.wav", speech_like(500), RATE, subtype="PCM_16")
    soundfile.write(wavs / "stereo.wav", np.stack([audio, audio], axis=1), RATE, subtype="PCM_16")
    soundfile.write(wavs / "16k.wav", speech_like(3200), 16000, subtype="PCM_16")
    soundfile.write(wavs / "loud.wav", 4 * audio, RATE, subtype="FLOAT")
    soundfile.write(wavs / "brief.wav", speech_like(1100), RATE, subtype="PCM_16")  # 5 mel frames
    for name in ("emoji", "money", "chinese"):
        soundfile.write(wavs / f"{name}.wav", audio, RATE, subtype="PCM_16")
    (tmp_path / "list.txt").write_text(
        "wavs/pcm16.wav|A fine line.\n"  # 1
        "wavs/float.wav|Float samples are read as they are.\n"  # 2
        "wavs/pcm24.wav|So are twenty four bit ones.\n"  # 3
        "wavs/u8.wav|And eight bit ones.\n"  # 4
        "wavs/truncated.wav|Cut off.\n"  # 5
        "wavs/header_only.wav|Nothing there.\n"  # 6
        "wavs/zeros.wav|Silence.\n"  # 7
        "wavs/whisper.wav|Almost silence.\n"  # 8
        "wavs/nan.wav|Not a number.\n"  # 9
        "wavs/short.wav|Too short.\n"  # 10
        "wavs/stereo.wav|Two channels.\n"  # 11
        "wavs/16k.wav|Sixteen kilohertz.\n"  # 12
        "wavs/loud.wav|Too loud.\n"  # 13
        "wavs/brief.wav|A rather long text for a clip of five mel frames.\n"  # 14
        "wavs/emoji.wav|😀 🎉\n"  # 15
        "wavs/money.wav|It costs $3.50.\n"  # 16
        "wavs/chinese.wav|你好 means hello.\n",  # 17
        encoding="utf-8",
    )
    return tmp_path


EXPECTED = {  # line: what its problem says (neural_hmm settings)
    5: "truncated: the WAV header promises",
    6: "no samples",
    7: "every sample is zero",
    8: "near silence: the peak amplitude 0.00031 (-70 dBFS) is below 0.001 (-60 dBFS)",
    9: "1 of 22050 samples are NaN or infinite (the first at sample 100)",
    10: "500 samples (23 ms), shorter than one STFT window (1024 samples)",
    11: "2 channels, expected mono",
    12: "sampling rate 16000 Hz, expected 22050 Hz",
    13: "float samples reach",  # the exact peak is added below
    14: "5 mel frames (0.05 s) are too few for the text: its 46 symbols need at least 92",
    15: "nothing to speak after the neural_hmm front end: '😀 🎉' becomes ' '",
    16: "characters not in symbol set 'neural_hmm' after cleaning: '$'",
}


def test_every_problem_of_every_line_for_neural_hmm(corpus):
    report = check_model_data([corpus / "list.txt"], "neural_hmm")
    by_line: dict[int, list[str]] = {}
    for problem in report.errors:
        by_line.setdefault(problem.line_number, []).append(problem.message)
    assert sorted(by_line) == sorted(EXPECTED)  # lines 1-4 (16-, float, 24-, 8-bit) and 17 are fine
    peak = float(np.abs(4 * speech_like()).max())
    expected = {**EXPECTED, 13: f"float samples reach {peak:.4g}, outside [-1, 1]"}
    for line, text in expected.items():
        assert len(by_line[line]) == 1 and text in by_line[line][0], (line, by_line[line])
    audio_lines = set(range(5, 15))
    for line in audio_lines:  # audio problems name the file
        assert by_line[line][0].startswith(str(corpus / "wavs")), by_line[line]
    assert [(w.line_number, w.message) for w in report.warnings] == [
        (17, "non-ASCII characters are read as their transliteration: '你' -> 'Ni', '好' -> 'Hao'")
    ]
    assert report.summary().startswith("FAILED: 1 filelist(s), 17 lines, 17 parsed")
    assert report.summary().endswith("12 problem(s) on 12 line(s), 1 warning(s)")


def test_tacotron2_settings_accept_money_and_have_no_frame_rule(corpus):
    report = check_model_data([corpus / "list.txt"], "tacotron2")
    lines = {problem.line_number for problem in report.errors}
    assert 16 not in lines and 14 not in lines  # "$3.50" is spelt out; no HMM states to fill
    assert {5, 6, 7, 8, 9, 10, 11, 12, 13, 15} <= lines


def test_ctc_target_needs_its_frames(tmp_path):
    soundfile.write(tmp_path / "a.wav", speech_like(1100), RATE, subtype="PCM_16")  # 5 frames
    (tmp_path / "l.txt").write_text("a.wav|Aah, ok.\n")  # CTC target a a h o k: 5 + 1 repeat = 6 frames
    problems = check_model_data([tmp_path / "l.txt"], "tacotron2_mmi").errors
    assert [p.message.split(": ", 1)[1] for p in problems] == [
        "5 mel frames (0.05 s) are too few for the text: its 8 symbols need at least 6"
    ]
    assert check_model_data([tmp_path / "l.txt"], "tacotron2").errors == []


def test_headers_only_misses_what_only_samples_show(corpus):
    full = check_model_data([corpus / "list.txt"], "neural_hmm")
    headers = check_model_data([corpus / "list.txt"], "neural_hmm", read_samples=False)
    missed = {p.line_number for p in full.errors} - {p.line_number for p in headers.errors}
    assert missed == {7, 8, 9, 13}  # zeros, near silence, NaN, beyond full scale


def test_threads_do_not_change_the_report(corpus):
    one = check_model_data([corpus / "list.txt"], "neural_hmm", workers=1)
    three = check_model_data([corpus / "list.txt"], "neural_hmm", workers=3, progress=True)
    assert one == three


def test_require_clean_lists_every_bad_line_capped(tmp_path, capsys):
    soundfile.write(tmp_path / "ok.wav", speech_like(), RATE, subtype="PCM_16")
    lines = [f"missing{index}.wav|Missing." for index in range(60)] + ["ok.wav|你好"]
    (tmp_path / "l.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = check_training_data([tmp_path / "l.txt"])
    stream = io.StringIO()
    with pytest.raises(DataCheckError) as error:
        require_clean(report, max_listed=50, stream=stream)
    message = str(error.value).splitlines()
    assert message[0] == "the training data has 60 problem(s); fix them before training:"
    assert message[1] == f"  {tmp_path / 'l.txt'}:1: {tmp_path / 'missing0.wav'}: audio file not found"
    assert len(message) == 1 + 50 + 2 and message[-2] == "  ... and 10 more"
    assert isinstance(error.value, ValueError) and error.value.report is report
    assert "warning: non-ASCII characters" in stream.getvalue()
    clean = check_training_data([tmp_path / "l.txt"], front_end="tacotron2", check_audio=False)
    require_clean(clean)  # warnings alone do not stop training; they go to stderr
    assert "1 warning(s) about the training data:" in capsys.readouterr().err
    require_clean(clean, quiet=True)
    assert capsys.readouterr().err == ""


def test_check_audio_file_alone_and_bad_settings(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.zeros(100), 16000, subtype="PCM_16")
    result = check_audio_file(tmp_path / "a.wav", RATE, min_samples=1024)
    assert [message.split(": ", 1)[1].split(" (")[0] for message in result.problems] == [
        "sampling rate 16000 Hz, expected 22050 Hz",
        "100 samples",
        "every sample is zero",
    ]
    assert result.info.n_samples == 100
    with pytest.raises(ValueError, match="sampling_rate must be positive"):
        check_training_data([tmp_path / "l.txt"], sampling_rate=0)
    with pytest.raises(ValueError, match="unknown model"):
        check_model_data([tmp_path / "l.txt"], "tacotron3")


def test_validate_command_runs_the_training_checks(corpus, capsys):
    assert main([str(corpus / "list.txt"), "--model", "neural_hmm"]) == 1
    printed = capsys.readouterr().out.splitlines()
    report = check_model_data([corpus / "list.txt"], "neural_hmm")
    assert printed[:-1] == [str(problem) for problem in report.problems]
    assert printed[-1] == report.summary()
    # The legacy symbol-set check does not phonetise, so it misses "$" (what the trainers then rejected).
    main([str(corpus / "list.txt"), "--symbol-set", "neural_hmm", "--no-audio"])
    assert ":16:" not in capsys.readouterr().out
    # Warnings alone exit 0.
    (corpus / "warn.txt").write_text("wavs/chinese.wav|你好 means hello.\n", encoding="utf-8")
    assert main([str(corpus / "warn.txt"), "--model", "tacotron2"]) == 0
    assert "warning: non-ASCII" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(corpus / "warn.txt"), "--model", "tacotron2", "--symbol-set", "neural_hmm"])
    assert "is not the tacotron2 model's" in capsys.readouterr().err


def test_the_same_list_given_twice_is_checked_once(tmp_path):
    from filelists.checks import check_training_data

    soundfile.write(tmp_path / "a.wav", 0.5 * np.sin(np.arange(4096) / 5.0), 22050, subtype="PCM_16")
    (tmp_path / "list.txt").write_text("a.wav|a dot.\n")
    report = check_training_data([tmp_path / "list.txt", tmp_path / "list.txt"], front_end="tacotron2")
    assert report.problems == []
