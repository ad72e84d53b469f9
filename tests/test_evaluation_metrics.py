"""Text normalisation, the ARPA writer, MCD, RTF and the Markdown tables of `evaluation`."""

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from evaluation import mcd, rtf
from evaluation.audio import AudioReadError, read_audio
from evaluation.lm import SENTENCE_START, UNKNOWN, write_arpa
from evaluation.report import merge_tables
from evaluation.text import normalize_text

SAMPLE_RATE = 22050
FORMANTS = {
    "a": (730, 1090, 2440),
    "i": (270, 2290, 3010),
    "u": (300, 870, 2240),
    "e": (530, 1840, 2480),
    "o": (570, 840, 2410),
}


def vowels(sequence: str, seconds_each: float, f0: float = 120.0) -> np.ndarray:
    """A pulse train through three formant resonators per vowel: speech-like spectra, no randomness."""
    segments = []
    for vowel in sequence:
        signal = np.zeros(int(seconds_each * SAMPLE_RATE))
        signal[:: int(SAMPLE_RATE / f0)] = 1.0
        for frequency, bandwidth in zip(FORMANTS[vowel], (80, 100, 120)):
            radius = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
            pole_pair = [1.0, -2.0 * radius * np.cos(2.0 * np.pi * frequency / SAMPLE_RATE), radius * radius]
            signal = lfilter([1.0 - radius], pole_pair, signal)
        segments.append(signal)
    signal = np.concatenate(segments)
    return (0.5 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Mr. Smith's 2nd car-park, 10%!", "mr smith's second car park ten percent"),
        (
            'He said "Don\'t"; 1,865 & 3.25 more.',
            "he said don't eighteen sixty five and three point twenty five more",
        ),
        ("<s> the [NOISE] cat <sil> </s>", "the cat"),
        ("Émile -- 'quoted' ...", "emile quoted"),
        ("", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def read_arpa(path):
    """(header counts, {n: {ngram tuple: (log10 prob, log10 back-off)}}) of an ARPA file."""
    header, sections, order = {}, {}, None
    with open(path, encoding="utf-8") as arpa:
        lines = [line.rstrip("\n") for line in arpa]
    assert lines[0] == "\\data\\" and lines[-1] == "\\end\\"
    for line in lines[1:-1]:
        if line.startswith("ngram "):
            n, count = line[len("ngram ") :].split("=")
            header[int(n)] = int(count)
        elif line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
            sections[order] = {}
        elif line:
            fields = line.split("\t")
            assert len(fields) in (2, 3), line
            ngram = tuple(fields[1].split())
            assert len(ngram) == order and ngram not in sections[order], line
            sections[order][ngram] = (float(fields[0]), float(fields[2]) if len(fields) == 3 else 0.0)
    return header, sections


def backoff_probability(sections, history, word):
    ngram = (*history, word)
    if ngram in sections[len(ngram)]:
        return 10.0 ** sections[len(ngram)][ngram][0]
    backoff = sections[len(history)].get(history, (0.0, 0.0))[1] if history else 0.0
    return 10.0**backoff * backoff_probability(sections, history[1:], word)


def test_arpa_is_well_formed_and_normalised(tmp_path):
    sentences = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "the cat sat on a zzqxw"]
    info = write_arpa(sentences, tmp_path / "lm.arpa", order=3, in_vocabulary=lambda word: word != "zzqxw")
    header, sections = read_arpa(tmp_path / "lm.arpa")

    assert header == {n: len(sections[n]) for n in (1, 2, 3)} == info.ngram_counts
    assert info.oov_words == ["zzqxw"] and (UNKNOWN,) in sections[1] and ("zzqxw",) not in sections[1]
    assert sections[1][(SENTENCE_START,)][0] == -99.0
    for n in (2, 3):  # every listed n-gram's history and suffix are listed one order down
        for ngram in sections[n]:
            assert ngram[:-1] in sections[n - 1] and ngram[1:] in sections[n - 1]

    vocabulary = [ngram[0] for ngram in sections[1] if ngram != (SENTENCE_START,)]
    for history in [
        (),
        (SENTENCE_START,),
        ("the",),
        ("sat",),
        ("the", "cat"),
        (SENTENCE_START, "a"),
        ("dog", "sat"),
    ]:
        total = sum(backoff_probability(sections, history, word) for word in vocabulary)
        assert total == pytest.approx(1.0, abs=1e-4), history
    # Witten-Bell: "sat" follows "the cat" in 2 of 2 cases, so it takes most of the mass
    assert backoff_probability(sections, ("the", "cat"), "sat") > 0.5


def test_arpa_rejects_empty_text(tmp_path):
    with pytest.raises(ValueError, match="no words"):
        write_arpa(["", "   "], tmp_path / "lm.arpa")


def test_mcd_identical_audio_is_exactly_zero():
    signal = vowels("aiueo", 0.15)
    assert mcd.mel_cepstral_distortion(signal, SAMPLE_RATE, signal.copy(), SAMPLE_RATE) == 0.0
    # a gain change moves only c0, which MCD excludes
    assert mcd.mel_cepstral_distortion(0.3 * signal, SAMPLE_RATE, signal, SAMPLE_RATE) < 1e-3


def test_mcd_orders_stretched_below_different():
    reference = vowels("aiueo", 0.15)
    stretched = vowels("aiueo", 0.21)  # same vowels, 40 % slower: DTW should absorb the timing
    reordered = vowels("oeuia", 0.15)
    noise = np.random.default_rng(0).standard_normal(len(reference)).astype(np.float32) * 0.1
    mcd_stretched = mcd.mel_cepstral_distortion(stretched, SAMPLE_RATE, reference, SAMPLE_RATE)
    mcd_reordered = mcd.mel_cepstral_distortion(reordered, SAMPLE_RATE, reference, SAMPLE_RATE)
    mcd_noise = mcd.mel_cepstral_distortion(noise, SAMPLE_RATE, reference, SAMPLE_RATE)
    assert 0.0 < mcd_stretched < 1.5
    assert mcd_reordered > 3.0 * mcd_stretched and mcd_reordered > 4.0
    assert mcd_noise > 10.0


def test_mcd_sample_rate_does_not_matter():
    import librosa

    signal = vowels("aeiou", 0.15)
    at_24k = librosa.resample(signal, orig_sr=SAMPLE_RATE, target_sr=24000)
    assert mcd.mel_cepstral_distortion(at_24k, 24000, signal, SAMPLE_RATE) < 0.3


def test_mel_cepstrum_of_white_noise_is_nearly_flat():
    noise = mcd.mel_cepstrum(np.random.default_rng(1).standard_normal(16000) * 0.1, 16000)
    speech_like = mcd.mel_cepstrum(vowels("a", 0.5), SAMPLE_RATE)
    assert noise.shape == (16000 // mcd.HOP_LENGTH + 1, mcd.ORDER + 1)
    # a flat envelope has c(1..) near zero; a vowel's formants do not
    assert np.abs(noise[10:-10, 1:]).mean() < 0.3 * np.abs(speech_like[10:-10, 1:]).mean()


def test_rtf_timings(tmp_path):
    assert rtf.load_timings(tmp_path) is None
    (tmp_path / rtf.TIMINGS_FILENAME).write_text(json.dumps({"a": 1.5, "b": 2}))
    assert rtf.load_timings(tmp_path) == {"a": 1.5, "b": 2.0}
    assert rtf.real_time_factor(1.5, 3.0) == 0.5 and rtf.real_time_factor(1.0, 0.0) is None
    (tmp_path / rtf.TIMINGS_FILENAME).write_text(json.dumps({"a": "fast"}))
    with pytest.raises(rtf.TimingsError, match="'a' must map to non-negative seconds"):
        rtf.load_timings(tmp_path)
    (tmp_path / rtf.TIMINGS_FILENAME).write_text("[1, 2]")
    with pytest.raises(rtf.TimingsError, match="expected an object"):
        rtf.load_timings(tmp_path)


def _scores(label, wer, mcd_mean, rtf_value, filelist="test.txt"):
    return {
        "label": label,
        "filelist": filelist,
        "counts": {"scored": 3},
        "aggregate": {
            "wer_generic_lm": wer,
            "cer_generic_lm": wer,
            "wer_corpus_lm": None,
            "cer_corpus_lm": None,
            "mcd_mean_db": mcd_mean,
            "mcd_std_db": None if mcd_mean is None else 0.5,
            "rtf": rtf_value,
        },
    }


def test_merge_tables(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "scores.json").write_text(
        json.dumps(_scores("System B", None, 7.25, None, "other.txt"))
    )
    table = merge_tables([_scores("System A", 0.125, None, 0.04), tmp_path / "b"])
    lines = table.splitlines()
    assert lines[0].startswith("| System | Utterances | WER generic LM")
    assert lines[2] == "| System A | 3 | 0.125 | 0.125 | n/a | n/a | n/a | 0.040 |"
    assert lines[3] == "| System B | 3 | n/a | n/a | n/a | n/a | 7.25 ± 0.50 | n/a |"
    assert "different filelists" in table
    with pytest.raises(FileNotFoundError, match="no scores.json"):
        merge_tables([tmp_path / "missing"])


def test_possessives_get_pronunciations():
    from evaluation.asr import possessive_pronunciations

    entries = {
        "willoughby": ["willoughby W IH L AH B IY"],
        "mrs": ["mrs M IH S IH Z"],
        "pratt": ["pratt P R AE T"],
        "pratt's": ["pratt's P R AE T S"],
    }
    assert possessive_pronunciations("willoughby's", entries) == ["willoughby's W IH L AH B IY Z"]
    assert possessive_pronunciations("mrs's", entries) == ["mrs's M IH S IH Z IH Z"]
    assert possessive_pronunciations("pratt's", entries) == []  # already in the dictionary
    assert possessive_pronunciations("zzq's", entries) == possessive_pronunciations("mrs", entries) == []


def test_pocketsphinx_loads_the_corpus_lm(tmp_path):
    from evaluation.asr import Transcriber, build_corpus_lm

    info = build_corpus_lm(["Willoughby's horse ran, adieus!", "The horse ran home."], tmp_path)
    assert info.oov_words == ["adieus"]
    dictionary = (tmp_path / "corpus_lm.dict").read_text().splitlines()
    assert "willoughby's W IH L AH B IY Z" in dictionary and not any(
        line.startswith("adieus") for line in dictionary
    )
    # pocketsphinx reads both files (it raises on a missing word list and may crash on a corrupt model,
    # which is why test_arpa_is_well_formed_and_normalised checks the format itself)
    decoder = Transcriber(info.path, tmp_path / "corpus_lm.dict").decoder
    assert decoder.lookup_word("willoughby's") == "W IH L AH B IY Z" and decoder.lookup_word("adieus") is None


def test_read_audio_names_nan_truncated_and_unreadable_files(tmp_path):
    sf.write(tmp_path / "stereo.wav", np.full((100, 2), 0.5), 16000, subtype="PCM_16")
    samples, rate = read_audio(tmp_path / "stereo.wav")
    assert rate == 16000 and samples.shape == (100,) and np.all(samples == 0.5)  # channels averaged
    sf.write(tmp_path / "loud.wav", np.full(100, 1.5), 16000, subtype="FLOAT")
    assert read_audio(tmp_path / "loud.wav")[0].max() == 1.5  # scored as it is
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.inf, np.nan]), 16000, subtype="FLOAT")
    whole = (tmp_path / "stereo.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:-50])
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    for name, problem in [("nan", "2 of 3 samples are NaN or infinite"), ("cut", "truncated"),
                          ("junk", "unreadable audio"), ("absent", "audio file not found")]:  # fmt: skip
        with pytest.raises(AudioReadError) as error:
            read_audio(tmp_path / f"{name}.wav")
        assert str(error.value).startswith(f"cannot read audio file {tmp_path / name}.wav: ")
        assert problem in str(error.value)
