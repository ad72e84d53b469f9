"""filelists.text_input: --text, plain text files and filelists, decided for the file as a whole."""

from pathlib import Path

import pytest

from filelists.text_input import SynthesisInputError, SynthesisItem, read_synthesis_input


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_one_text_is_one_item():
    assert read_synthesis_input(text="  One sentence.  ") == [
        SynthesisItem("audio_0", "One sentence.", 0, Path("--text"), None)
    ]
    with pytest.raises(SynthesisInputError, match="--text: the text to synthesise is empty"):
        read_synthesis_input(text=" \n ")


def test_plain_text_with_a_bar_is_spoken_as_written(tmp_path):
    path = write(tmp_path / "in.txt", "Hello | world\n\nSecond line.\r\n")
    items = read_synthesis_input(path=path)
    assert [(item.stem, item.text, item.line_number) for item in items] == [
        ("audio_0", "Hello | world", 1),
        ("audio_1", "Second line.", 3),  # stems count non-blank lines, line numbers count every line
    ]


def test_filelist_uses_the_audio_stem_and_never_speaks_the_speaker(tmp_path):
    path = write(
        tmp_path / "list.txt", "wavs/LJ001-0001.wav|Printing, in the only sense.|3\n\nb.flac|Two.|0\n"
    )
    items = read_synthesis_input(path=path)
    assert items == [
        SynthesisItem("LJ001-0001", "Printing, in the only sense.", 1, path, 3),
        SynthesisItem("b", "Two.", 3, path, 0),
    ]
    assert (
        read_synthesis_input(path=path, form="text")[0].text
        == "wavs/LJ001-0001.wav|Printing, in the only sense.|3"
    )


def test_form_is_decided_for_the_whole_file_never_per_line(tmp_path):
    mixed = write(tmp_path / "mixed.txt", "a.wav|First.\nJust a sentence.\nb.wav|Third.\n")
    with pytest.raises(SynthesisInputError) as error:
        read_synthesis_input(path=mixed)
    assert str(error.value).startswith(f"{mixed}:2: this line is plain text but line 1 is a wav_path|text")
    assert [item.text for item in read_synthesis_input(path=mixed, form="text")][1] == "Just a sentence."
    with pytest.raises(SynthesisInputError, match=r"mixed.txt:2: expected 2 or 3 '\|'-separated fields"):
        read_synthesis_input(path=mixed, form="filelist")
    # Bars without audio paths are text, whatever the field count.
    bars = write(tmp_path / "bars.txt", "Hello | world\nA | B | 3\n")
    assert [item.stem for item in read_synthesis_input(path=bars)] == ["audio_0", "audio_1"]


def test_line_numbers_are_an_editors(tmp_path):
    # A form feed and U+2028 are not line ends for an editor (str.splitlines() would break there).
    path = write(tmp_path / "in.txt", "One\x0cstill one.\nTwo\u2028still two.\n\n\nFive.\n")
    assert [item.line_number for item in read_synthesis_input(path=path)] == [1, 2, 5]


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(SynthesisInputError, match="absent.txt: no such input file"):
        read_synthesis_input(path=tmp_path / "absent.txt")
    with pytest.raises(SynthesisInputError, match="is a folder"):
        read_synthesis_input(path=tmp_path)
    empty = write(tmp_path / "empty.txt", "\n  \n\t\n")
    with pytest.raises(SynthesisInputError, match="empty.txt: the input file is empty"):
        read_synthesis_input(path=empty)
    latin1 = write(tmp_path / "latin1.txt", "fine\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(SynthesisInputError) as error:
        read_synthesis_input(path=latin1)
    assert (
        str(error.value)
        == f"{latin1}:2: not UTF-8 text: byte 0xe9 at byte 4 of the line; save the file as UTF-8"
    )
    assert "\n" not in str(error.value)
    duplicate = write(tmp_path / "dup.txt", "a/x.wav|One.\nb/x.wav|Two.\n")
    with pytest.raises(SynthesisInputError, match="dup.txt:2: output name 'x' is already used by line 1"):
        read_synthesis_input(path=duplicate)
    layouts = write(tmp_path / "layouts.txt", "x.wav|One.|1\ny.wav|Two.\n")
    with pytest.raises(SynthesisInputError, match="layouts.txt:2: the field count differs from line 1"):
        read_synthesis_input(path=layouts, form="filelist")


def test_a_bom_is_dropped_and_wrong_calls_are_value_errors(tmp_path):
    path = write(tmp_path / "bom.txt", "\ufeffHello.\n")
    assert read_synthesis_input(path=path)[0].text == "Hello."
    with pytest.raises(ValueError, match="exactly one of"):
        read_synthesis_input(text="a", path=path)
    with pytest.raises(ValueError, match="exactly one of"):
        read_synthesis_input()
    with pytest.raises(ValueError, match="form must be one of"):
        read_synthesis_input(path=path, form="csv")
