"""filelists.validate: every planted problem is reported in one run, a clean list passes."""

from pathlib import Path

import numpy as np
import soundfile

from filelists.validate import main, validate_filelists


def tone(path: Path, rate: int = 22050, channels: int = 1, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = 0.1 * np.sin(np.arange(int(rate * seconds)) * 0.05)
    soundfile.write(str(path), np.stack([samples] * channels, axis=1), rate, subtype="PCM_16")


def make_dataset(root: Path) -> tuple[Path, Path]:
    for name in ("good", "good2", "other", "dup", "empty", "unknown", "speaker"):
        tone(root / "wavs" / f"{name}.wav")
    tone(root / "wavs" / "slow.wav", rate=16000)
    tone(root / "wavs" / "stereo.wav", channels=2)
    (root / "wavs" / "corrupt.wav").write_bytes(b"RIFF not really a wave file")
    first = root / "first.txt"
    first.write_text(
        "wavs/good.wav|A clean line.\n"  # 1
        "wavs/missing.wav|No audio for this one.\n"  # 2
        "wavs/slow.wav|Recorded at sixteen kilohertz.\n"  # 3
        "wavs/empty.wav|  \n"  # 4
        "wavs/unknown.wav|Price < 5 # really\n"  # 5
        "wavs/good.wav|Listed twice in the same list.\n"  # 6
        "wavs/stereo.wav|Two channels.\n"  # 7
        "wavs/corrupt.wav|Not audio.\n"  # 8
        "wavs/speaker.wav|Too|many|fields\n"  # 9
        "\n"  # 10: blank, skipped
        "wavs/other.wav|Fine again.\n",  # 11
        encoding="utf-8",
    )
    second = root / "second.txt"
    second.write_text("wavs/good2.wav|Fine.\nwavs/other.wav|Also in the first list.\n", encoding="utf-8")
    return first, second


def test_every_problem_reported_in_one_run(tmp_path, capsys):
    first, second = make_dataset(tmp_path)
    code = main(
        [
            str(first),
            str(second),
            "--dataset-path",
            str(tmp_path),
            "--sampling-rate",
            "22050",
            "--symbol-set",
            "tacotron2",
            "--cleaners",
            "english_cleaners",
        ]
    )
    output = capsys.readouterr().out
    assert code == 1
    wavs = tmp_path / "wavs"
    expected = [
        f"{first}:2: {wavs / 'missing.wav'}: audio file not found",
        f"{first}:3: {wavs / 'slow.wav'}: sampling rate 16000 Hz, expected 22050 Hz",
        f"{first}:4: empty text for wavs/empty.wav",
        f"{first}:5: characters not in symbol set 'tacotron2' after cleaning: '#' '<'",
        f"{first}:6: warning: duplicate audio path wavs/good.wav (first listed at {first}:1); it is used",
        f"{first}:7: {wavs / 'stereo.wav'}: 2 channels, expected mono",
        f"{first}:8: {wavs / 'corrupt.wav'}: unreadable audio",
        f"{first}:9: expected 2 or 3 '|'-separated fields",
        f"{second}:2: duplicate audio path wavs/other.wav (first listed at {first}:11); the lists overlap",
    ]
    for line in expected:
        assert line in output, f"missing {line!r} in:\n{output}"
    problem_lines = [line for line in output.splitlines() if line.startswith(str(tmp_path))]
    assert len(problem_lines) == len(expected)  # nothing reported for the clean lines 1, 11 and second:1
    assert output.splitlines()[-1].startswith("FAILED: 2 filelist(s), 12 lines, 10 parsed")
    assert "8 problem(s) on 8 line(s), 1 warning(s)" in output


def test_clean_lists_pass(tmp_path, capsys):
    tone(tmp_path / "wavs" / "a.wav")
    tone(tmp_path / "wavs" / "b.wav", seconds=0.5)
    listed = tmp_path / "clean.txt"
    listed.write_text("wavs/a.wav|Mr. Smith paid $5.|0\nwavs/b.wav|Hello, world!|1\n", encoding="utf-8")
    assert main([str(listed)]) == 0  # default dataset path: the filelist's folder
    output = capsys.readouterr().out.strip()
    assert output == "OK: 1 filelist(s), 2 lines, 2 parsed, 0.7 s of audio (0.00 h), no problems"


def test_api_without_audio_or_symbol_check(tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text("wavs/none.wav|Any text <>\nwavs/none.wav|Again\n", encoding="utf-8")
    report = validate_filelists([listed], symbol_set=None, check_audio=False)
    assert [(problem.line_number, problem.message.split(" (")[0]) for problem in report.problems] == [
        (2, "duplicate audio path wavs/none.wav")
    ]
    assert report.errors == [] and str(report.problems[0]).startswith(f"{listed}:2: warning: duplicate")


def test_missing_filelist_and_bad_cleaner(tmp_path, capsys):
    assert main([str(tmp_path / "absent.txt"), "--symbol-set", "none"]) == 1
    assert f"{tmp_path / 'absent.txt'}: filelist not found" in capsys.readouterr().out
    try:
        main([str(tmp_path / "absent.txt"), "--cleaners", "no_such_cleaners"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "unknown cleaner 'no_such_cleaners'" in capsys.readouterr().err
