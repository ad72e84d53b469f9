"""filelists.demo_corpus: the tiny corpus builds offline with each voice, validates clean, is repeatable."""

import hashlib
import json
import os

import pytest
import soundfile

from filelists import demo_corpus, voices
from filelists.validate import validate_filelists


def build(folder, voice, **options):
    return demo_corpus.build_demo_corpus(folder, "tiny", voice, install=False, progress=False, **options)


def wav_digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted((folder / "wavs").iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def espeak_corpus(tmp_path_factory):
    return build(tmp_path_factory.mktemp("espeak") / "corpus", "espeak")


def check_corpus(folder, engine):
    record = json.loads((folder / "corpus.json").read_text())
    assert record["voice"]["engine"] == engine and record["voice"]["version"]
    assert record["text_source"]["license"] == "public domain"
    assert "public domain" in (folder / "README.md").read_text()
    metadata = (folder / "metadata.csv").read_text().splitlines()
    expected = demo_corpus.choose_sentences(demo_corpus.read_sentences(), "tiny")
    assert len(metadata) == len(expected) == 12
    assert [line.split("|") for line in metadata] == [
        [f"demo-{index:04d}", text, text] for index, text in enumerate(expected, start=1)
    ]
    for line in metadata:
        info = soundfile.info(str(folder / "wavs" / f"{line.split('|')[0]}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert 0.8 < info.duration < 5.0, line  # the 12 shortest sentences: 40-odd characters each
    lists = [folder / f"{split}.txt" for split in ("train", "val", "test")]
    assert [len(path.read_text().splitlines()) for path in lists] == [10, 1, 1]
    report = validate_filelists(lists, dataset_path=folder, symbol_set="tacotron2")
    assert report.problems == [] and report.n_utterances == 12
    assert record["sizes"] == {"test": 1, "val": 1, "train": 10}
    assert abs(record["total_seconds"] - report.total_seconds) < 0.01


def test_sentence_file_is_deterministic_and_clean():
    sentences = demo_corpus.read_sentences()
    assert len(sentences) == 420 and len(set(sentences)) == 420
    assert all(40 <= len(sentence) <= 160 for sentence in sentences)
    assert demo_corpus.choose_sentences(sentences, "default") == demo_corpus.choose_sentences(sentences, 300)
    assert len(demo_corpus.choose_sentences(sentences, "default")) == 300
    with pytest.raises(demo_corpus.DemoCorpusError, match="between 3 and 420"):
        demo_corpus.choose_sentences(sentences, 1000)


def test_tiny_espeak_corpus(espeak_corpus):
    check_corpus(espeak_corpus, "espeak-ng")


def test_rebuild_is_skipped_then_forced_rebuild_is_identical(espeak_corpus, capsys):
    stamp = os.stat(espeak_corpus / "corpus.json").st_mtime_ns
    digest = wav_digest(espeak_corpus)
    build(espeak_corpus, "espeak")
    assert "up to date" in capsys.readouterr().err
    assert os.stat(espeak_corpus / "corpus.json").st_mtime_ns == stamp
    build(espeak_corpus, "espeak", force=True)  # a fresh synthesis, written atomically over the old corpus
    assert os.stat(espeak_corpus / "corpus.json").st_mtime_ns != stamp
    assert wav_digest(espeak_corpus) == digest
    leftovers = [path.name for path in espeak_corpus.parent.iterdir() if path.name != "corpus"]
    assert leftovers == []


@pytest.mark.skipif(voices.flite_binary() is None, reason="flite is not installed (apt-get install flite)")
def test_tiny_flite_corpus(tmp_path):
    folder = build(tmp_path / "corpus", "auto")  # auto prefers flite when present
    check_corpus(folder, "flite")


def test_flite_requested_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(voices.shutil, "which", lambda name: None)
    with pytest.raises(demo_corpus.DemoCorpusError, match="apt-get install flite"):
        demo_corpus.pick_voice("flite", install=False)
    assert demo_corpus.pick_voice("auto", install=False)[0].engine == "espeak-ng"


def test_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path):
    (tmp_path / "precious.txt").write_text("user data")
    with pytest.raises(demo_corpus.DemoCorpusError, match="is not a demo corpus"):
        build(tmp_path, "espeak")
    assert (tmp_path / "precious.txt").read_text() == "user data"


def test_extraction_script_reproduces_the_committed_sentences(tmp_path):
    pytest.importorskip("rdata")
    from filelists import extract_sentences

    if not (extract_sentences.DEFAULT_RDATA_DIR / "Rdata.rdb").is_file():
        pytest.skip("Debian r-cran-janeaustenr is not installed")
    output = tmp_path / "sentences.txt"
    assert extract_sentences.main(["--output", str(output)]) == 0
    assert output.read_text() == demo_corpus.SENTENCES_PATH.read_text()


def test_short_sentence_set_is_committed_and_short():
    short = demo_corpus.read_sentences(demo_corpus.SENTENCE_SETS["short"])
    assert len(short) == 3000 and all(15 <= len(sentence) <= 50 for sentence in short)
    demo = demo_corpus.read_sentences()
    assert sum(map(len, short)) / len(short) < 0.5 * sum(map(len, demo)) / len(demo)
    with pytest.raises(demo_corpus.DemoCorpusError, match="choose from demo, short"):
        demo_corpus.build_demo_corpus("unused", sentence_set="long", install=False)
