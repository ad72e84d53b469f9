"""Write the LJSpeech train/val/test filelists (12,500 / 100 / 500 utterances, as in the papers).

    python -m filelists.ljspeech --dataset-path /data/LJSpeech-1.1 --output-dir filelists/ljs [--seed 1234]

LJSpeech's `metadata.csv` has lines `id|raw text|normalized text`; like NVIDIA's lists we keep the
normalized column (numbers and abbreviations already spelled out). The split is deterministic: the ids
are sorted, shuffled with `random.Random(seed)`, the first 500 become the test set, the next 100 the
validation set and everything else (12,500 of LJSpeech's 13,100 clips) the training set. Each list is
written sorted by id, with lines `wavs/LJ001-0001.wav|text`, so it can be read with
`--dataset-path /data/LJSpeech-1.1` (or from the dataset folder itself).

NVIDIA's published lists cannot be downloaded here; if you have them, `--split-from DIR` reuses their
membership and text exactly, rewriting their `DUMMY/LJ001-0001.wav` paths to `wavs/LJ001-0001.wav`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from filelists._cli import HelpFormatter

SPLITS = ("train", "val", "test")
N_VAL = 100
N_TEST = 500
DEFAULT_SEED = 1234
LIST_NAME = "ljs_audio_text_{split}_filelist.txt"
_NVIDIA_PATH = re.compile(r"^(?:.*/)?(LJ\d{3}-\d{4})\.wav$")


class LJSpeechError(ValueError):
    """A missing or malformed LJSpeech file; the message names it."""


def read_metadata(dataset_path: str | Path) -> dict[str, str]:
    """id -> normalized text, from `<dataset_path>/metadata.csv`."""
    metadata = Path(dataset_path) / "metadata.csv"
    if not metadata.is_file():
        raise LJSpeechError(
            f"{metadata} not found: --dataset-path must be the LJSpeech-1.1 folder holding metadata.csv"
        )
    texts: dict[str, str] = {}
    with open(metadata, encoding="utf-8-sig") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("|")
            if len(fields) != 3:
                raise LJSpeechError(
                    f"{metadata}:{line_number}: expected 3 '|'-separated fields (id|raw|normalized), "
                    f"found {len(fields)}"
                )
            utterance_id, raw, normalized = (field.strip() for field in fields)
            text = normalized or raw  # a handful of corpora in this format leave the third column empty
            if not utterance_id or not text:
                raise LJSpeechError(f"{metadata}:{line_number}: empty id or text")
            if utterance_id in texts:
                raise LJSpeechError(f"{metadata}:{line_number}: id {utterance_id} appears twice")
            texts[utterance_id] = text
    if not texts:
        raise LJSpeechError(f"{metadata} has no utterances")
    return texts


def split_ids(ids: Sequence[str], seed: int = DEFAULT_SEED, n_val: int = N_VAL, n_test: int = N_TEST):
    """{'train', 'val', 'test'} -> sorted ids: a seeded shuffle of the sorted ids, test first, then val."""
    if len(ids) <= n_val + n_test:
        raise LJSpeechError(f"only {len(ids)} utterances; need more than {n_val + n_test} for val + test")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def read_nvidia_split(split_dir: str | Path) -> dict[str, list[tuple[str, str]]]:
    """{'train', 'val', 'test'} -> [(id, text)] from NVIDIA's `ljs_audio_text_*_filelist.txt` files."""
    split_dir = Path(split_dir)
    splits = {}
    for split in SPLITS:
        path = split_dir / LIST_NAME.format(split=split)
        if not path.is_file():
            raise LJSpeechError(
                f"{path} not found: --split-from needs NVIDIA's {LIST_NAME.format(split=split)}"
            )
        entries = []
        for line_number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("|")
            match = _NVIDIA_PATH.match(fields[0].strip())
            if len(fields) < 2 or match is None:
                raise LJSpeechError(
                    f"{path}:{line_number}: expected DUMMY/LJxxx-xxxx.wav|text, found {line[:60]!r}"
                )
            entries.append((match.group(1), fields[1].strip()))
        splits[split] = entries
    return splits


def write_filelists(
    splits: dict[str, list[tuple[str, str]]], output_dir: str | Path, speaker_id: int | None = None
) -> dict[str, Path]:
    """Write one `wavs/<id>.wav|text[|speaker]` list per split; returns the paths written."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if speaker_id is None else f"|{speaker_id}"
    written = {}
    for split, entries in splits.items():
        path = output_dir / LIST_NAME.format(split=split)
        lines = [f"wavs/{utterance_id}.wav|{text}{suffix}\n" for utterance_id, text in entries]
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text("".join(lines), encoding="utf-8")
        temporary.replace(path)
        written[split] = path
    return written


def make_ljspeech_filelists(
    dataset_path: str | Path,
    output_dir: str | Path,
    seed: int = DEFAULT_SEED,
    split_from: str | Path | None = None,
    speaker_id: int | None = None,
) -> dict[str, Path]:
    """Read metadata.csv (or NVIDIA's lists) and write the three filelists."""
    if split_from is not None:
        splits = read_nvidia_split(split_from)
    else:
        texts = read_metadata(dataset_path)
        splits = {
            split: [(utterance_id, texts[utterance_id]) for utterance_id in ids]
            for split, ids in split_ids(list(texts), seed).items()
        }
    return write_filelists(splits, output_dir, speaker_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m filelists.ljspeech",
        description=(
            "Write ljs_audio_text_{train,val,test}_filelist.txt (12,500/100/500 utterances) from an "
            "LJSpeech-1.1 folder: seeded shuffle of the sorted ids; test = first 500, val = next 100, "
            "train = the rest. Lines are 'wavs/LJxxx-xxxx.wav|normalized text'."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset-path", "-d", default=None, help="LJSpeech-1.1 folder holding metadata.csv")
    parser.add_argument("--output-dir", "-o", required=True, help="folder for the three filelists")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the shuffle")
    parser.add_argument(
        "--split-from",
        default=None,
        metavar="DIR",
        help="folder with NVIDIA's published ljs_audio_text_*_filelist.txt: reuse their split and text",
    )
    parser.add_argument(
        "--speaker-id",
        type=int,
        default=None,
        help="append '|ID' to every line (the three-field layout Flowtron's lists use)",
    )
    args = parser.parse_args(argv)
    if args.dataset_path is None and args.split_from is None:
        parser.error("--dataset-path is required (the LJSpeech-1.1 folder), unless --split-from is given")
    try:
        written = make_ljspeech_filelists(
            args.dataset_path, args.output_dir, args.seed, args.split_from, args.speaker_id
        )
    except LJSpeechError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for split, path in written.items():
        n_lines = sum(1 for _ in open(path, encoding="utf-8"))
        print(f"{split}: {n_lines} utterances -> {path}")
    wavs = Path(args.dataset_path or ".") / "wavs"
    if args.dataset_path is not None and not wavs.is_dir():
        print(
            f"note: {wavs} does not exist; check the audio with python -m filelists.validate", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
