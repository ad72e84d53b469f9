"""filelists.synthetic: durations match the mel frame count exactly and the labels are recoverable."""

import json

import librosa
import numpy as np
import pytest
import soundfile

from filelists.synthetic import (
    durations_to_frame_labels,
    frame_labels_from_mel,
    main,
    make_synthetic_corpus,
    n_samples_for,
    symbol_templates,
)
from filelists.validate import validate_filelists


def librosa_log_mel(audio: np.ndarray) -> np.ndarray:
    """The mel of the papers' front ends, computed independently of filelists.synthetic.log_mel."""
    mel = librosa.feature.melspectrogram(
        y=audio, sr=22050, n_fft=1024, hop_length=256, n_mels=80, fmax=8000, center=True, power=1.0
    )
    return np.log(np.clip(mel, 1e-5, None))


@pytest.fixture(scope="module")
def corpus():
    return make_synthetic_corpus(n_utterances=16, seed=3)


def test_durations_sum_to_mel_frames(corpus):
    for utterance in corpus.utterances:
        assert len(utterance.durations) == len(utterance.text)
        assert utterance.durations.min() >= 3 and utterance.durations.max() <= 8
        n_frames = 1 + len(utterance.audio) // 256
        assert utterance.n_frames == int(utterance.durations.sum()) == n_frames
        assert librosa_log_mel(utterance.audio).shape == (80, n_frames)
        assert set(utterance.text) <= set(corpus.symbols) and utterance.text == utterance.text.strip()
    assert [n_samples_for(frames) for frames in (1, 2, 10)] == [128, 384, 2432]
    assert durations_to_frame_labels(np.array([2, 1, 3])).tolist() == [0, 0, 1, 2, 2, 2]


def test_template_matcher_recovers_frame_labels(corpus):
    templates = symbol_templates(corpus, librosa_log_mel)
    correct = total = 0
    for utterance in corpus.utterances:
        predicted = frame_labels_from_mel(librosa_log_mel(utterance.audio), templates)
        truth = corpus.symbol_ids(utterance.text)[utterance.frame_labels]
        correct += int((predicted == truth).sum())
        total += len(truth)
    assert correct / total > 0.95
    # The matcher must really depend on the audio: a shuffled utterance order scores near chance.
    shuffled = frame_labels_from_mel(librosa_log_mel(corpus.utterances[1].audio), templates)
    truth0 = corpus.symbol_ids(corpus.utterances[0].text)[corpus.utterances[0].frame_labels]
    overlap = min(len(shuffled), len(truth0))
    assert (shuffled[:overlap] == truth0[:overlap]).mean() < 0.6


def test_same_seed_same_corpus_other_seed_differs():
    first, second = make_synthetic_corpus(4, seed=11), make_synthetic_corpus(4, seed=11)
    other = make_synthetic_corpus(4, seed=12)
    for a, b in zip(first.utterances, second.utterances):
        assert (
            a.text == b.text and np.array_equal(a.durations, b.durations) and np.array_equal(a.audio, b.audio)
        )
    assert [u.text for u in first.utterances] != [u.text for u in other.utterances]


def test_command_line_writes_a_consistent_corpus(tmp_path, capsys):
    assert main(["--output-dir", str(tmp_path), "--n-utterances", "5", "--seed", "2"]) == 0
    alignment = json.loads((tmp_path / "alignment.json").read_text())
    lines = (tmp_path / "filelist.txt").read_text().splitlines()
    assert len(lines) == len(alignment["utterances"]) == 5
    for line, record in zip(lines, alignment["utterances"]):
        path, text = line.split("|")
        assert path == f"wavs/{record['id']}.wav" and text == record["text"]
        durations = np.load(tmp_path / "durations" / f"{record['id']}.npy")
        assert durations.tolist() == record["durations"] and durations.sum() == record["n_frames"]
        audio, rate = soundfile.read(tmp_path / path, dtype="int16")
        assert rate == 22050 and audio.ndim == 1 and 1 + len(audio) // 256 == record["n_frames"]
    report = validate_filelists([tmp_path / "filelist.txt"], symbol_set="tacotron2")
    assert report.problems == []


def test_symbol_frames_sets_per_symbol_durations_and_defaults_are_unchanged():
    corpus = make_synthetic_corpus(8, seed=4, symbol_frames={"a": (12, 14), "t": (2, 2)})
    for utterance in corpus.utterances:
        for char, frames in zip(utterance.text, utterance.durations):
            low, high = {"a": (12, 14), "t": (2, 2)}.get(char, (3, 8))
            assert low <= frames <= high
    plain, empty = make_synthetic_corpus(4, seed=4), make_synthetic_corpus(4, seed=4, symbol_frames={})
    assert all(np.array_equal(a.durations, b.durations) for a, b in zip(plain.utterances, empty.utterances))
    with pytest.raises(ValueError, match="not in symbols"):
        make_synthetic_corpus(2, symbol_frames={"z": (2, 3)})
    with pytest.raises(ValueError, match="fewest <= most"):
        make_synthetic_corpus(2, symbol_frames={"a": (5, 3)})
