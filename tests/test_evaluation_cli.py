"""Pocketsphinx on real (eSpeak NG) speech and the `python -m evaluation` command end to end."""

import json

import numpy as np
import pytest
import soundfile as sf

from evaluation.__main__ import main
from evaluation.asr import Transcriber, corpus_transcriber, error_rates, pooled_rates
from filelists.voices import SAMPLING_RATE, synthesize_espeak

SENTENCES = {
    "H01-01": "The birch canoe slid on the smooth planks.",
    "H01-02": "Glue the sheet to the dark blue background.",
    "H01-03": "It's easy to tell the depth of a well.",
    "H01-04": "These days a chicken leg is a rare dish.",
}
OTHER_SENTENCES = ["Rice is often served in round bowls.", "The juice of lemons makes fine punch."]


class _ESpeak:
    """Float speech from the demo corpus's eSpeak NG voice (filelists.voices), many texts per call."""

    sample_rate = SAMPLING_RATE

    def speak_all(self, texts: list[str], words_per_minute: int | None = None) -> list[np.ndarray]:
        audio = synthesize_espeak(texts, workers=1, words_per_minute=words_per_minute)
        return [samples.astype(np.float32) / 32768.0 for samples in audio]


@pytest.fixture(scope="module")
def espeak():
    pytest.importorskip("espeakng_loader")
    return _ESpeak()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, espeak):
    """A reference corpus (`wavs/<id>.wav`, test.txt) and a "system" folder: the same sentences spoken
    slower (so MCD needs DTW), with a timings.json and one extra WAV that no filelist entry names."""
    root = tmp_path_factory.mktemp("evaluation")
    (root / "corpus" / "wavs").mkdir(parents=True)
    (root / "system").mkdir()
    texts = list(SENTENCES.values())
    references, slower = espeak.speak_all(texts), espeak.speak_all(texts, words_per_minute=150)
    lines = []
    for utterance_id, text, reference, slow in zip(SENTENCES, texts, references, slower):
        sf.write(root / "corpus" / "wavs" / f"{utterance_id}.wav", reference, espeak.sample_rate)
        sf.write(root / "system" / f"{utterance_id}.wav", slow, espeak.sample_rate)
        lines.append(f"wavs/{utterance_id}.wav|{text}")
    lines += [f"wavs/X{index}.wav|{text}" for index, text in enumerate(OTHER_SENTENCES)]
    (root / "corpus" / "test.txt").write_text("\n".join(lines) + "\n")
    sf.write(root / "system" / "stray.wav", espeak.speak_all(["A stray file."])[0], espeak.sample_rate)
    (root / "system" / "timings.json").write_text(json.dumps({"H01-01": 0.5, "H01-02": 0.25}))
    return root


def test_asr_corpus_lm_understands_speech_and_not_noise(espeak, tmp_path):
    transcriber, info = corpus_transcriber([*SENTENCES.values(), *OTHER_SENTENCES], tmp_path)
    assert info.oov_words == [] and info.sentences == 6
    speech_rates, noise_rates = [], []
    texts = list(SENTENCES.values())[:3]
    for text, speech in zip(texts, espeak.speak_all(texts)):
        speech_rates.append(error_rates(text, transcriber.transcribe(speech, espeak.sample_rate)))
        noise = np.random.default_rng(0).standard_normal(len(speech)).astype(np.float32) * 0.1
        noise_rates.append(error_rates(text, transcriber.transcribe(noise, espeak.sample_rate)))
    wer, cer = pooled_rates(speech_rates)
    noise_wer, noise_cer = pooled_rates(noise_rates)
    assert cer < 0.3 and wer < 0.4, (wer, cer)
    assert noise_cer > 0.8 and noise_wer > 0.8, (noise_wer, noise_cer)


def test_asr_generic_lm_gives_words(espeak):
    text = SENTENCES["H01-01"]
    hypothesis = Transcriber().transcribe(espeak.speak_all([text])[0], espeak.sample_rate)
    # eSpeak is hard for the generic LM (CER ~0.5 in CORPUS.md); it must still hear some speech
    assert len(hypothesis.split()) >= 2 and error_rates(text, hypothesis).cer < 0.9


def test_cli_end_to_end(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "--wavs",
        str(corpus / "system"),
        "--filelist",
        str(corpus / "corpus" / "test.txt"),
        "--out",
        str(out),
        "--max-utterances",
        "3",
        "--label",
        "eSpeak slow",
        "--no-progress",
    ]
    assert main(argv) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert {"label", "aggregate", "counts", "definitions", "utterances", "corpus_lm"} <= set(scores)
    aggregate, counts = scores["aggregate"], scores["counts"]
    assert set(aggregate) >= {
        "wer_generic_lm",
        "cer_generic_lm",
        "wer_corpus_lm",
        "cer_corpus_lm",
        "mcd_mean_db",
        "mcd_std_db",
        "rtf",
    }
    assert counts["wavs_in_folder"] == 5 and counts["matched"] == 4 and counts["scored"] == 3
    assert counts["unmatched_wav_examples"] == ["stray"] and counts["timed"] == 2
    assert [u["id"] for u in scores["utterances"]] == ["H01-01", "H01-02", "H01-03"]
    assert aggregate["cer_corpus_lm"] < 0.3
    assert 0.0 < aggregate["mcd_mean_db"] < 5.0  # same voice, other speaking rate
    timed = scores["utterances"][:2]
    expected_rtf = 0.75 / sum(u["duration_s"] for u in timed)
    assert aggregate["rtf"] == pytest.approx(expected_rtf)
    assert {"wer", "cer", "mcd", "rtf", "corpus_lm"} <= set(scores["definitions"])
    markdown = (out / "scores.md").read_text()
    assert "| System | Utterances |" in markdown and "| eSpeak slow | 3 |" in markdown
    assert (out / "corpus_lm" / "corpus_lm.arpa").is_file()
    assert "| eSpeak slow | 3 |" in capsys.readouterr().out

    # a second system (the references themselves, no ASR) and the merged table
    reference_out = tmp_path / "reference"
    argv = [
        "--wavs",
        str(corpus / "corpus" / "wavs"),
        "--filelist",
        str(corpus / "corpus" / "test.txt"),
        "--out",
        str(reference_out),
        "--no-asr",
        "--label",
        "reference",
        "--no-progress",
    ]
    assert main(argv) == 0
    reference = json.loads((reference_out / "scores.json").read_text())
    assert reference["aggregate"]["mcd_mean_db"] == 0.0 and reference["aggregate"]["wer_corpus_lm"] is None
    assert reference["aggregate"]["rtf"] is None and reference["counts"]["timings_file"] is False
    assert main(["--compare", str(out), str(reference_out), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "comparison.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| eSpeak slow |") and table[3].startswith("| reference |")


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--no-progress"])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_cli_errors(corpus, tmp_path, capsys):
    filelist = str(corpus / "corpus" / "test.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"no .wav files in {empty}" in _error(["--wavs", str(empty), "--filelist", filelist], capsys)

    strangers = tmp_path / "strangers"
    strangers.mkdir()
    sf.write(strangers / "LJ001-0001.wav", np.zeros(1000, dtype=np.float32), 22050)
    message = _error(["--wavs", str(strangers), "--filelist", filelist], capsys)
    assert "matches an entry" in message and "LJ001-0001" in message and "H01-01" in message

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "H01-02.wav").write_bytes(b"RIFF this is not a wav file")
    message = _error(["--wavs", str(broken), "--filelist", filelist, "--no-asr"], capsys)
    assert "none of the 1 matched WAVs can be scored" in message
    assert "cannot read audio file" in message and str(broken / "H01-02.wav") in message

    missing_reference = _error(
        [
            "--wavs",
            str(corpus / "system"),
            "--filelist",
            filelist,
            "--no-asr",
            "--dataset-path",
            str(tmp_path),
        ],
        capsys,
    )
    assert "reference audio for H01-01" in missing_reference and "--dataset-path" in missing_reference

    assert "no scores.json" in _error(["--compare", str(empty)], capsys)
    assert "--wavs and --filelist are required" in _error(["--wavs", str(empty)], capsys)


def test_unreadable_and_nan_wavs_are_reported_not_scored(corpus, tmp_path, capsys):
    system = tmp_path / "system"
    system.mkdir()
    for name in ("H01-01", "H01-03"):
        (system / f"{name}.wav").write_bytes((corpus / "system" / f"{name}.wav").read_bytes())
    nan = np.zeros(8000, dtype=np.float32)
    nan[10:] = np.nan  # what a diverged vocoder writes
    sf.write(system / "H01-02.wav", nan, SAMPLING_RATE, subtype="FLOAT")
    whole = (corpus / "system" / "H01-04.wav").read_bytes()
    (system / "H01-04.wav").write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    argv = [
        "--wavs",
        str(system),
        "--filelist",
        str(corpus / "corpus" / "test.txt"),
        "--no-asr",
        "--no-progress",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    scores = json.loads((system / "scores.json").read_text())
    counts = scores["counts"]
    assert counts["scored"] == 2 and counts["unreadable"] == 2 and counts["mcd_scored"] == 2
    rows = {row["id"]: row for row in scores["utterances"]}
    assert list(rows) == ["H01-01", "H01-02", "H01-03", "H01-04"]  # filelist order, failures included
    assert "7990 of 8000 samples are NaN or infinite" in rows["H01-02"]["error"]
    assert "truncated" in rows["H01-04"]["error"] and "mcd_db" not in rows["H01-04"]
    assert str(system / "H01-02.wav") in rows["H01-02"]["error"]
    assert "warning: 2 WAV(s) could not be scored" in captured.err
    assert "| system | 2 (+2 unreadable) |" in captured.out
    assert "**2 WAV(s) could not be scored**" in (system / "scores.md").read_text()


def test_embedded_demo_corpus_scores_far_better_than_noise(tmp_path):
    """The Quick start's sanity check: the demo corpus's own recordings against noise of equal length."""
    from evaluation.score import score_folder
    from filelists.demo_corpus import build_demo_corpus

    corpus = build_demo_corpus(
        tmp_path / "corpus", size="tiny", voice="espeak", install=False, progress=False
    )
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    rng = np.random.default_rng(0)
    for wav in sorted((corpus / "wavs").glob("*.wav")):
        info = sf.info(wav)
        noise = 0.1 * rng.standard_normal(info.frames).astype(np.float32)
        sf.write(noise_dir / wav.name, noise, info.samplerate)

    def score(folder):
        return score_folder(folder, corpus / "train.txt", max_utterances=4, progress=False)["aggregate"]

    recordings, noise = score(corpus / "wavs"), score(noise_dir)
    assert recordings["mcd_mean_db"] == 0.0 and noise["mcd_mean_db"] > 10.0
    assert recordings["wer_corpus_lm"] < 0.5 and noise["wer_corpus_lm"] > 0.8, (recordings, noise)
    assert recordings["cer_corpus_lm"] < noise["cer_corpus_lm"] / 2
