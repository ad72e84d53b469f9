"""A CPU recipe on the repository's demo corpus: the original's stages at a tiny size, scored as they go.

    python -m filelists.demo_corpus --output-dir CORPUS --sentences short --size 600
    python recipe.py --corpus CORPUS --out outputs/naturalspeech_recipe [--steps 20000 --every 2000]

Stages: warm-up with monotonic alignment search (the demo corpus has no durations) for --warmup-steps
updates, attach_memory_bank.py (k-means of every training frame), then the main stage up to --steps.
Every --every updates the test sentences are synthesised (inference.py, noise scale 0.667, seed 1234)
and scored by the repository's evaluation tool (pocketsphinx word/character error, mel-cepstral
distortion against the recordings); the learning curve is written to <out>/learning_curve.md and .json.
Each stage runs as its own command (`python -m naturalspeech.<command>`), as a user would type it; a
recipe run again with the same --out continues where it stopped (train.py --resume).
--threads 1 is the right setting on a shared machine: with two threads per process and other work on
the cores, every parallel region waits for a descheduled thread and a step takes ten times longer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from .infra import HelpFormatter, UserError, atomic_write, check_output_dir, require_positive, run_main

HERE = Path(__file__).resolve().parent
SCORES = ("cer_corpus_lm", "wer_corpus_lm", "cer_generic_lm", "wer_generic_lm", "mcd_mean_db", "rtf")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python recipe.py", description=__doc__, formatter_class=HelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--corpus", required=True, help="demo corpus folder (train.txt, val.txt, test.txt)")
    parser.add_argument("--out", required=True, help="output folder (run, samples, scores)")
    parser.add_argument("--config", default=str(HERE / "configs" / "tiny.json"), help="JSON config")
    parser.add_argument("--steps", type=int, default=20000, help="updates in all")
    parser.add_argument("--warmup-steps", type=int, default=None, help="warm-up updates [half of --steps]")
    parser.add_argument("--every", type=int, default=2000, help="updates between scorings")
    parser.add_argument("--max-utterances", type=int, default=None, help="score only the first N test lines")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every command")
    return parser


def command(*arguments: str, threads: int) -> None:
    """One of the folder's commands (or the evaluation tool) in a child process, as a user would run it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(HERE.parent)}
    result = subprocess.run([sys.executable, "-m", *arguments], env=env, cwd=HERE.parent)
    if result.returncode != 0:
        raise UserError(f"`python -m {' '.join(arguments)}` failed (exit {result.returncode})")


def newest_checkpoint(folder: Path) -> Path:
    """The G file of the newest epoch that train.py wrote (attach_memory_bank.py's files excluded)."""
    found = [
        p for p in folder.glob("G_*.pth") if p.stem.split("_")[1].isdigit() and "_with_memory" not in p.name
    ]
    if not found:
        raise UserError(f"{folder}: no G_<epoch>.pth")
    return max(found, key=lambda path: int(path.stem.split("_")[1]))


def score(args: argparse.Namespace, run_folder: Path, step: int) -> dict:
    samples = Path(args.out) / f"step_{step}"
    corpus = Path(args.corpus)
    test_list = corpus / "test.txt"
    if args.max_utterances:
        lines = test_list.read_text(encoding="utf-8").splitlines(keepends=True)[: args.max_utterances]
        test_list = Path(args.out) / "test_sentences.txt"
        atomic_write(test_list, lambda stream: stream.write("".join(lines).encode()))
    wavs = samples / "wavs"
    synthesis = ["--checkpoint", str(newest_checkpoint(run_folder)), "-i", str(test_list), "-o", str(wavs)]
    command("naturalspeech.inference", *synthesis, "--cpu", "--seed", "1234", "--force", threads=args.threads)
    scoring = ["--wavs", str(wavs), "--filelist", str(test_list), "--dataset-path", str(corpus)]
    command(
        "evaluation",
        *scoring,
        "--out",
        str(samples),
        "--label",
        f"step {step}",
        "--no-progress",
        threads=args.threads,
    )
    return json.loads((samples / "scores.json").read_text())["aggregate"]


def markdown(curve: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"# NaturalSpeech learning curve ({Path(args.config).name}, corpus {args.corpus})",
        "",
        "Test sentences synthesised with noise scale 0.667 and scored by `python -m evaluation`.",
        "",
        "| updates | stage | hours | CER corpus LM | WER corpus LM | CER generic LM | WER generic LM "
        "| MCD (dB) | RTF |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in curve:
        cells = [f"{point['scores'].get(key, float('nan')):.3f}" for key in SCORES]
        lines.append(f"| {point['step']} | {point['stage']} | {point['hours']:.2f} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def recipe(args: argparse.Namespace) -> list[dict]:
    out = check_output_dir(args.out, "--out")
    corpus = Path(args.corpus)
    for name in ("train.txt", "val.txt", "test.txt"):
        if not (corpus / name).is_file():
            raise UserError(f"--corpus {corpus}: no {name} (python -m filelists.demo_corpus makes one)")
    run_folder = out / "train" / "recipe"
    lists = ["--training-files", str(corpus / "train.txt"), "--validation-files", str(corpus / "val.txt")]
    common = ["-c", args.config, "-m", "recipe", "-o", str(out / "train"), "--cpu", "--use-mas", *lists]
    warmup_steps = args.steps // 2 if args.warmup_steps is None else args.warmup_steps
    curve_path = out / "learning_curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
    done = {point["step"] for point in curve}
    hours_before, started = (curve[-1]["hours"] if curve else 0.0), time.perf_counter()
    targets = sorted({*range(args.every, args.steps + 1, args.every), warmup_steps, args.steps} - {0})
    for step in targets:
        if step in done:
            continue
        warmup = step <= warmup_steps
        if not warmup and not list(run_folder.glob("G_*_with_memory.pth")):
            attach = ["--weights_path", str(newest_checkpoint(run_folder)), "--training-files", lists[1]]
            command("naturalspeech.attach_memory_bank", *attach, "--cpu", "--force", threads=args.threads)
        stage = ["--warmup"] if warmup else []
        command(
            "naturalspeech.train", *common, *stage, "--resume", "--max-steps", str(step), threads=args.threads
        )
        hours = hours_before + (time.perf_counter() - started) / 3600
        scores = score(args, run_folder, step)
        curve.append(
            {
                "step": step,
                "stage": "warm-up" if warmup else "main",
                "hours": round(hours, 3),
                "scores": scores,
            }
        )
        atomic_write(curve_path, lambda stream: stream.write(json.dumps(curve, indent=1).encode()))
        table = markdown(curve, args)
        atomic_write(out / "learning_curve.md", lambda stream, text=table: stream.write(text.encode()))
        print(table, file=sys.stderr)
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_positive(parser, args, "steps", "every", "threads", "max_utterances")
    if args.warmup_steps is not None and not 0 < args.warmup_steps < args.steps:
        parser.error(f"--warmup-steps must be between 1 and --steps - 1, got {args.warmup_steps}")
    return run_main(lambda: recipe(args))


if __name__ == "__main__":
    sys.exit(main())
