"""filelists.parse: good lines, path resolution, and errors that name the file and line."""

from pathlib import Path

import pytest

from filelists.parse import FilelistError, parse_line, read_filelist


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_two_field_lines_resolve_against_the_filelist_folder(tmp_path):
    filelist = write(tmp_path / "list.txt", "wavs/a.wav|Hello there.\n\nwavs/b.wav| Second line \n", bom=True)
    first, second = read_filelist(filelist)
    assert first.audio_path == tmp_path / "wavs" / "a.wav"
    assert first.text == "Hello there." and first.speaker_id is None
    assert first.line_number == 1 and first.source == filelist and first.raw_audio_path == "wavs/a.wav"
    assert second.line_number == 3 and second.text == "Second line"  # blank line 2 skipped


def test_three_field_lines_and_dataset_path(tmp_path):
    filelist = write(tmp_path / "list.txt", "wavs/a.wav|One.|0\n/abs/b.wav|Two.|12\r\n")
    first, second = read_filelist(filelist, dataset_path="/data/LJSpeech-1.1")
    assert first.audio_path == Path("/data/LJSpeech-1.1/wavs/a.wav") and first.speaker_id == 0
    assert second.audio_path == Path("/abs/b.wav") and second.speaker_id == 12


@pytest.mark.parametrize(
    "line, expected",
    [
        ("wavs/a.wav", "list.txt:2: expected 2 or 3 '|'-separated fields"),
        ("wavs/a.wav|a|0|extra", "found 4"),
        ("wavs/a.wav|   ", "list.txt:2: empty text for wavs/a.wav"),
        ("|Some text", "list.txt:2: empty audio path"),
        ("wavs/a.wav|Some text|abc", "list.txt:2: speaker id must be an integer, found 'abc'"),
        ("wavs/a.wav|Some text|-1", "speaker id must be non-negative"),
    ],
)
def test_bad_line_raises_with_file_and_line(tmp_path, line, expected):
    filelist = write(tmp_path / "list.txt", f"wavs/ok.wav|Fine.\n{line}\n")
    with pytest.raises(FilelistError) as error:
        read_filelist(filelist)
    assert expected in str(error.value)
    assert str(filelist) in str(error.value)
    assert isinstance(error.value, ValueError)


def test_forced_field_count_and_mixed_layouts(tmp_path):
    with pytest.raises(FilelistError, match=r"x\.txt:7: expected 3 '\|'-separated fields"):
        parse_line("a.wav|text", "x.txt", 7, n_fields=3)
    mixed = write(tmp_path / "mixed.txt", "a.wav|one|0\nb.wav|two\n")
    with pytest.raises(FilelistError, match=r"mixed\.txt:2: found 2 fields but line 1 has 3"):
        read_filelist(mixed)


def test_missing_filelist_is_named(tmp_path):
    with pytest.raises(FilelistError, match="nope.txt: filelist not found"):
        read_filelist(tmp_path / "nope.txt")


def test_error_keeps_its_parts_for_reporting_tools():
    with pytest.raises(FilelistError) as error:
        parse_line("a.wav|", "dir: odd/list.txt", 4)
    assert (str(error.value.source), error.value.line_number) == ("dir: odd/list.txt", 4)
    assert error.value.problem == "empty text for a.wav"
    assert str(error.value) == "dir: odd/list.txt:4: empty text for a.wav"
