"""A tone corpus whose per-symbol durations are known exactly, for fast alignment tests.

    python -m filelists.synthetic --output-dir DIR [--n-utterances 32] [--seed 0]

Every symbol of a small alphabet (a few lowercase letters and the space, all in the tacotron2 symbol
set) is rendered as its own fixed chord of three sinusoids, held for a whole number of mel frames drawn
per token (3-8 frames of hop 256 at 22,050 Hz, or a range per symbol: `symbol_frames`). So each
utterance comes with its true durations, and `frame_labels_from_mel` recovers the symbol sounding in
each frame of a log-mel by template matching, which lets a model test check in seconds that attention or
a duration model learned the alignment.

Frame arithmetic (librosa/Tacotron STFT with center=True): frame t is centred on sample t * 256 and
an utterance of S samples has 1 + floor(S / 256) frames. Symbol i, starting at frame c_i, owns samples
[c_i * 256 - 128, (c_i + d_i) * 256 - 128), i.e. the frame centres c_i ... c_i + d_i - 1; an utterance
of T = sum(d) frames therefore has S = T * 256 - 128 samples, and 1 + floor(S / 256) = T exactly.

Output: wavs/<id>.wav (22,050 Hz mono 16-bit), filelist.txt (wavs/<id>.wav|text), durations/<id>.npy
(int64 frames per character of the text) and alignment.json (symbols, chord frequencies, frame
settings, and every utterance's text, durations and sizes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from filelists._cli import HelpFormatter

SAMPLING_RATE = 22050
HOP_LENGTH = 256
DEFAULT_SYMBOLS = " adeinost"  # index 0 is the space between words
PARTIALS_PER_SYMBOL = 3
LOWEST_HZ, HIGHEST_HZ = 250.0, 6500.0
AMPLITUDE = 0.1  # per partial; a chord peaks at 0.3


@dataclass(frozen=True)
class SyntheticUtterance:
    utterance_id: str
    text: str
    durations: np.ndarray  # (len(text),) int64 frames per character
    audio: np.ndarray  # (n_samples,) float32 in [-1, 1]

    @property
    def n_frames(self) -> int:
        return int(self.durations.sum())

    @property
    def frame_labels(self) -> np.ndarray:
        """(n_frames,) index into the text of the character sounding in each frame."""
        return durations_to_frame_labels(self.durations)


@dataclass(frozen=True)
class SyntheticCorpus:
    symbols: str
    partials_hz: np.ndarray  # (len(symbols), PARTIALS_PER_SYMBOL)
    utterances: list[SyntheticUtterance]
    sampling_rate: int = SAMPLING_RATE
    hop_length: int = HOP_LENGTH

    def symbol_ids(self, text: str) -> np.ndarray:
        """(len(text),) index of each character in `symbols`."""
        return np.array([self.symbols.index(char) for char in text], dtype=np.int64)


def chord_frequencies(n_symbols: int) -> np.ndarray:
    """(n_symbols, 3) Hz: a geometric grid from 250 Hz to 6.5 kHz dealt out in turn, so every symbol
    has one low, one middle and one high partial and no two symbols share a mel band."""
    grid = np.geomspace(LOWEST_HZ, HIGHEST_HZ, n_symbols * PARTIALS_PER_SYMBOL)
    return grid.reshape(PARTIALS_PER_SYMBOL, n_symbols).T.copy()


def n_samples_for(n_frames: int, hop_length: int = HOP_LENGTH) -> int:
    """Samples of an utterance with exactly `n_frames` centred STFT frames (see the module docstring)."""
    return n_frames * hop_length - hop_length // 2


def durations_to_frame_labels(durations: np.ndarray) -> np.ndarray:
    """(sum(durations),) token index per frame, e.g. [2, 1] -> [0, 0, 1]."""
    durations = np.asarray(durations, dtype=np.int64)
    return np.repeat(np.arange(len(durations)), durations)


def render(
    symbol_ids: Sequence[int],
    durations: Sequence[int],
    partials_hz: np.ndarray,
    sampling_rate: int = SAMPLING_RATE,
    hop_length: int = HOP_LENGTH,
) -> np.ndarray:
    """(n_samples,) float32 audio: symbol k's chord over the samples its frames own."""
    durations = np.asarray(durations, dtype=np.int64)
    n_samples = n_samples_for(int(durations.sum()), hop_length)
    time = np.arange(n_samples) / sampling_rate
    audio = np.zeros(n_samples, dtype=np.float64)
    boundaries = np.concatenate([[0], np.cumsum(durations)]) * hop_length - hop_length // 2
    boundaries = np.clip(boundaries, 0, n_samples)
    for symbol, start, end in zip(symbol_ids, boundaries[:-1], boundaries[1:]):
        # Phase follows absolute time, so a symbol repeated across a boundary continues smoothly.
        for frequency in partials_hz[symbol]:
            audio[start:end] += AMPLITUDE * np.sin(2 * np.pi * frequency * time[start:end])
    return audio.astype(np.float32)


def random_text(
    rng: np.random.Generator, letters: str, n_words: tuple[int, int], word_length: tuple[int, int]
):
    words = [
        "".join(rng.choice(list(letters), size=int(rng.integers(word_length[0], word_length[1] + 1))))
        for _ in range(int(rng.integers(n_words[0], n_words[1] + 1)))
    ]
    return " ".join(words)


def make_synthetic_corpus(
    n_utterances: int = 32,
    seed: int = 0,
    symbols: str = DEFAULT_SYMBOLS,
    min_frames: int = 3,
    max_frames: int = 8,
    n_words: tuple[int, int] = (1, 3),
    word_length: tuple[int, int] = (2, 5),
    symbol_frames: Mapping[str, tuple[int, int]] | None = None,
) -> SyntheticCorpus:
    """Generate the corpus in memory. Same arguments, same corpus (numpy's PCG64 generator).

    symbols: the alphabet; a space in it separates words, the other characters make them up.
    min_frames, max_frames: inclusive range of frames per character.
    symbol_frames: inclusive (fewest, most) frames of the symbols it names, overriding min_frames and
        max_frames for them, e.g. {"a": (12, 16), "t": (2, 3)}. Such characteristic durations make an
        alignment proportional to the character count clearly wrong, which a model must then unlearn.
    """
    if not 1 <= min_frames <= max_frames:
        raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    frame_ranges = {symbol: (min_frames, max_frames) for symbol in symbols}
    for symbol, (fewest, most) in (symbol_frames or {}).items():
        if symbol not in frame_ranges:
            raise ValueError(f"symbol_frames names {symbol!r}, which is not in symbols {symbols!r}")
        if not 1 <= fewest <= most:
            raise ValueError(f"symbol_frames[{symbol!r}] must be (fewest, most) with 1 <= fewest <= most")
        frame_ranges[symbol] = (fewest, most)
    letters = symbols.replace(" ", "")
    if not letters or len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols {symbols!r} must be distinct and include at least one letter")
    if " " not in symbols:
        n_words = (1, 1)
    partials_hz = chord_frequencies(len(symbols))
    rng = np.random.default_rng(seed)
    utterances = []
    for index in range(1, n_utterances + 1):
        text = random_text(rng, letters, n_words, word_length)
        fewest, most = np.array([frame_ranges[char] for char in text]).T
        # Same draws as integers(min_frames, max_frames + 1, size=len(text)) when all ranges are equal.
        durations = rng.integers(fewest, most + 1).astype(np.int64)
        ids = [symbols.index(char) for char in text]
        utterances.append(
            SyntheticUtterance(f"syn-{index:04d}", text, durations, render(ids, durations, partials_hz))
        )
    return SyntheticCorpus(symbols, partials_hz, utterances)


def log_mel(
    audio: np.ndarray,
    sampling_rate: int = SAMPLING_RATE,
    n_fft: int = 1024,
    hop_length: int = HOP_LENGTH,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float = 8000.0,
):
    """(n_mels, 1 + len(audio) // hop_length) natural-log magnitude mel, floored at 1e-5 (Tacotron2's)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=sampling_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        power=1.0,
        center=True,
        pad_mode="reflect",
    )
    return np.log(np.maximum(mel, 1e-5))


def symbol_templates(
    corpus: SyntheticCorpus, mel_fn: Callable[[np.ndarray], np.ndarray] = log_mel, n_frames: int = 24
) -> np.ndarray:
    """(len(symbols), n_mels): each symbol's chord held for `n_frames`, through `mel_fn`, averaged over
    the middle frames (away from the edges). Use the same `mel_fn` as for the mels to be labelled."""
    templates = []
    for symbol in range(len(corpus.symbols)):
        audio = render([symbol], [n_frames], corpus.partials_hz, corpus.sampling_rate, corpus.hop_length)
        mel = mel_fn(audio)
        templates.append(mel[:, 4:-4].mean(axis=1))
    return np.stack(templates)


def frame_labels_from_mel(
    mel: np.ndarray, templates: np.ndarray, bins_per_symbol: int = 2 * PARTIALS_PER_SYMBOL
) -> np.ndarray:
    """(T,) symbol index per frame: the symbol whose chord is loudest in each log-mel frame.

    mel: (n_mels, T) log-mel (natural log or dB: any scale a * log(x) + b with a > 0, as long as the
    templates were made the same way). templates: (n_symbols, n_mels) from `symbol_templates`.
    Each symbol is scored by the frame's mean level over the `bins_per_symbol` mel bins where its
    template is highest (its partials). Whole-spectrum correlation of log-mels is weaker here: the log
    makes a neighbour's leaked partials at a boundary look almost as strong as the frame's own.
    """
    mel = np.asarray(mel, dtype=np.float64)
    templates = np.asarray(templates, dtype=np.float64)
    if mel.ndim != 2 or mel.shape[0] != templates.shape[1]:
        raise ValueError(f"mel must be (n_mels={templates.shape[1]}, T), got {mel.shape}")
    chord_bins = np.argsort(-templates, axis=1, kind="stable")[:, :bins_per_symbol]  # (n_symbols, k)
    scores = mel[chord_bins].mean(axis=1)  # (n_symbols, T)
    return scores.argmax(axis=0)


def write_synthetic_corpus(output_dir: str | Path, corpus: SyntheticCorpus) -> Path:
    """Write wavs/, filelist.txt, durations/ and alignment.json under `output_dir`."""
    import soundfile

    output_dir = Path(output_dir)
    (output_dir / "wavs").mkdir(parents=True, exist_ok=True)
    (output_dir / "durations").mkdir(exist_ok=True)
    lines, records = [], []
    for utterance in corpus.utterances:
        soundfile.write(
            str(output_dir / "wavs" / f"{utterance.utterance_id}.wav"),
            utterance.audio,
            corpus.sampling_rate,
            subtype="PCM_16",
        )
        np.save(output_dir / "durations" / f"{utterance.utterance_id}.npy", utterance.durations)
        lines.append(f"wavs/{utterance.utterance_id}.wav|{utterance.text}\n")
        records.append(
            {
                "id": utterance.utterance_id,
                "text": utterance.text,
                "durations": utterance.durations.tolist(),
                "n_frames": utterance.n_frames,
                "n_samples": len(utterance.audio),
            }
        )
    (output_dir / "filelist.txt").write_text("".join(lines), encoding="utf-8")
    alignment = {
        "symbols": corpus.symbols,
        "partials_hz": np.round(corpus.partials_hz, 3).tolist(),
        "sampling_rate": corpus.sampling_rate,
        "hop_length": corpus.hop_length,
        "frames": "centred STFT frames: n_frames = 1 + n_samples // hop_length = sum(durations)",
        "utterances": records,
    }
    (output_dir / "alignment.json").write_text(json.dumps(alignment, indent=1) + "\n", encoding="utf-8")
    return output_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.synthetic",
        description="Write a known-alignment tone corpus: wavs/, filelist.txt, durations/<id>.npy "
        "(frames per character) and alignment.json.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--output-dir", "-o", required=True, help="folder to write (created if needed)")
    parser.add_argument("--n-utterances", type=int, default=32, help="number of utterances")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of numpy's generator: same seed, same corpus"
    )
    parser.add_argument(
        "--symbols",
        default=DEFAULT_SYMBOLS,
        help=f"alphabet, one chord per character; a space separates words (default: {DEFAULT_SYMBOLS!r})",
    )
    parser.add_argument("--min-frames", type=int, default=3, help="fewest frames per character")
    parser.add_argument("--max-frames", type=int, default=8, help="most frames per character")
    args = parser.parse_args(argv)
    corpus = make_synthetic_corpus(
        args.n_utterances, args.seed, args.symbols, args.min_frames, args.max_frames
    )
    folder = write_synthetic_corpus(args.output_dir, corpus)
    seconds = sum(len(utterance.audio) for utterance in corpus.utterances) / corpus.sampling_rate
    print(f"{folder}: {len(corpus.utterances)} utterances, {seconds:.1f} s, symbols {corpus.symbols!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
