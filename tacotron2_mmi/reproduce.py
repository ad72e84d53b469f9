"""The paper's claim, checked on a CPU: with MMI and drop frames the attention aligns much earlier.

    python reproduce.py --output-dir reproduction/ [--corpus tone | DIR] [--seeds 0 1] [--steps 3000]
        [--every 100] [--parallel 2] [--report-only]

The claim, as the original repository's figures show it (alignment_fig/nv.gif, df_mi.gif: validation
alignments every 1k steps on LJ Speech): plain Tacotron 2 shows no diagonal until ~18k steps and a clean
one by ~23k; with MMI and drop frames a clean diagonal appears from ~3k steps. LJ Speech at the full size
is out of reach of a CPU, so both models are trained here with the same small configuration (SMALL),
data and seeds, differing only in `use_mmi` and `drop_frame_rate` (plain: False, 0.0; MMI: the original's
defaults True, 0.2, with the GAF):
  * `--corpus tone` (default): the known-alignment tone corpus of `filelists.synthetic` (every symbol a
    chord held for 3-8 frames; short utterances of 1-3 words), written into the output folder;
  * `--corpus DIR`: an LJ Speech-format corpus with train.txt and val.txt (the demo corpus), keeping the
    utterances of at most `--max-chars` characters.
Each run is train.py itself (resumable: rerun the command to continue), validating every `--every` steps;
the alignment health of the validation utterances (`alignment_health.py`: focus, monotonic, coverage, as
`infra.alignment_health` defines them for every model of the repository) is read from each run's log.
Written: `reproduction.json` (every measurement), `reproduction.md` (the first step at which each run's
alignment is diagonal, per seed) and `alignment_over_training.png`.
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
    # Run as a file (`python reproduce.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_mmi"

from .alignment_health import COVERAGE_MIN, FOCUS_MIN, MONOTONIC_MIN, first_diagonal_step, is_diagonal
from .infra import HelpFormatter, UserError, atomic_write, figure_to_image, read_log, run_main

REPO_ROOT = Path(__file__).resolve().parent.parent
# The same small model for both variants: an eighth of the default widths (0.61M parameters with the MI
# head, 0.57M without), batch 16; everything else is hparams.py's.
SMALL = (
    "symbols_embedding_dim=64,encoder_embedding_dim=64,attention_rnn_dim=128,decoder_rnn_dim=128,prenet_dim=64,"
    "attention_dim=32,attention_location_n_filters=8,attention_location_kernel_size=15,postnet_embedding_dim=64,"
    "batch_size=16,num_workers=0"
)
VARIANTS = {"plain": "use_mmi=false,drop_frame_rate=0.0", "mmi": "use_mmi=true,drop_frame_rate=0.2"}
CLAIM = "original figures (LJ Speech): plain diagonal by ~18-23k steps; MMI + drop frames clean from ~3k"


def tone_corpus(folder: Path, n_utterances: int, n_validation: int) -> tuple[Path, Path]:
    """The synthetic tone corpus, split into train.txt and val.txt (written once)."""
    from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus

    train, val = folder / "train.txt", folder / "val.txt"
    if not (train.is_file() and val.is_file()):
        write_synthetic_corpus(folder, make_synthetic_corpus(n_utterances=n_utterances, seed=0))
        lines = (folder / "filelist.txt").read_text(encoding="utf-8").splitlines(keepends=True)
        train.write_text("".join(lines[:-n_validation]), encoding="utf-8")
        val.write_text("".join(lines[-n_validation:]), encoding="utf-8")
    return train, val


def short_utterances(source: Path, target: Path, max_chars: int, dataset: Path) -> Path:
    """The lines of `source` whose text has at most max_chars characters, audio paths made absolute."""
    kept = []
    for line in source.read_text(encoding="utf-8").splitlines():
        path, text = line.split("|", 1)
        if len(text) <= max_chars:
            kept.append(f"{(dataset / path).resolve() if not Path(path).is_absolute() else path}|{text}\n")
    if not kept:
        raise UserError(f"{source}: no utterance has at most {max_chars} characters")
    target.write_text("".join(kept), encoding="utf-8")
    return target


def run_command(args, variant: str, seed: int, train: Path, val: Path) -> list[str]:
    hparams = ",".join([SMALL, VARIANTS[variant], f"iters_per_checkpoint={args.every}", args.hparams])
    return [
        sys.executable,
        "-m",
        "tacotron2_mmi.train",
        "-o",
        str(run_folder(args, variant, seed)),
        "--training-files",
        str(train),
        "--validation-files",
        str(val),
        "--device",
        "cpu",
        "--resume",
        "--max-steps",
        str(args.steps),
        "--seed",
        str(seed),
        "--hparams",
        hparams.strip(","),
    ]


def run_folder(args, variant: str, seed: int) -> Path:
    return Path(args.output_dir) / "runs" / f"{variant}_seed{seed}"


def train_all(args, train: Path, val: Path) -> None:
    """Every (variant, seed) run, `--parallel` at a time, one thread each; a finished run is skipped."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    pending = [(variant, seed) for seed in args.seeds for variant in VARIANTS]
    running: list[tuple[subprocess.Popen, str]] = []
    while pending or running:
        while pending and len(running) < args.parallel:
            variant, seed = pending.pop(0)
            folder = run_folder(args, variant, seed)
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "stderr.txt", "ab") as stderr:
                process = subprocess.Popen(
                    run_command(args, variant, seed, train, val),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            running.append((process, f"{variant} seed {seed}"))
            print(f"started {variant} seed {seed} ({folder})", file=sys.stderr)
        time.sleep(2)
        for process, name in list(running):
            if process.poll() is not None:
                running.remove((process, name))
                if process.returncode != 0:
                    raise UserError(f"{name} failed (exit {process.returncode}); see its stderr.txt")
                print(f"finished {name}", file=sys.stderr)


def health_history(folder: Path) -> list[tuple[int, dict]]:
    """(step, alignment health) of every validation in a run's log; step = updates done (iteration + 1)."""
    history = {}
    for record in read_log(folder / "log.jsonl"):
        data = record.get("data", {})
        if isinstance(record.get("step"), int) and "alignment/focus" in data:
            history[record["step"] + 1] = {
                k.removeprefix("alignment/"): v for k, v in data.items() if k.startswith("alignment/")
            }
    return sorted(history.items())


def report(args) -> dict:
    results = {
        "claim": CLAIM,
        "config": SMALL,
        "variants": VARIANTS,
        "corpus": args.corpus,
        "thresholds": {"focus": FOCUS_MIN, "monotonic": MONOTONIC_MIN, "coverage": COVERAGE_MIN},
        "runs": {},
    }
    for seed in args.seeds:
        for variant in VARIANTS:
            folder = run_folder(args, variant, seed)
            if not (folder / "log.jsonl").is_file():
                continue
            history = health_history(folder)
            steps_done = history[-1][0] if history else 0
            results["runs"][f"{variant}_seed{seed}"] = {
                "variant": variant,
                "seed": seed,
                "steps_validated": steps_done,
                "first_diagonal_step": first_diagonal_step(history),
                "diagonal_at_end": bool(history) and is_diagonal(history[-1][1]),
                "history": [{"step": step, **health} for step, health in history],
            }
    out = Path(args.output_dir)
    text = json.dumps(results, indent=1) + "\n"
    atomic_write(out / "reproduction.json", lambda stream: stream.write(text.encode()))
    lines = [
        f"# Alignment over training: plain Tacotron 2 vs MMI + drop frames ({args.corpus})",
        "",
        f"Claim: {CLAIM}.",
        f"Same config for both: `{SMALL}`; validation every {args.every} steps.",
        f"Diagonal = focus >= {FOCUS_MIN}, monotonic >= {MONOTONIC_MIN}, coverage >= {COVERAGE_MIN}.",
        "",
        "| run | first diagonal at step | steps run | final focus | final monotonic | final coverage |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in results["runs"].items():
        last = run["history"][-1] if run["history"] else {}
        first = run["first_diagonal_step"] if run["first_diagonal_step"] is not None else "not reached"
        lines.append(
            f"| {name} | {first} | {run['steps_validated']} | {last.get('focus', float('nan')):.3f} | "
            f"{last.get('monotonic', float('nan')):.3f} | {last.get('coverage', float('nan')):.3f} |"
        )
    markdown = "\n".join(lines) + "\n"
    atomic_write(out / "reproduction.md", lambda stream: stream.write(markdown.encode()))
    plot(results, out / "alignment_over_training.png")
    print(markdown)
    return results


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(12, 4))
    axes = figure.subplots(1, 3)
    colours = {"plain": "tab:blue", "mmi": "tab:red"}
    # One colour per variant, one line style per seed, so the two variants of a seed can be paired.
    seeds = sorted({run["seed"] for run in results["runs"].values()})
    styles = dict(zip(seeds, ["-", "--", ":", "-."] * (len(seeds) // 4 + 1)))
    for run in results["runs"].values():
        steps = [h["step"] for h in run["history"]]
        for axis, name in zip(axes, ("focus", "monotonic", "coverage")):
            axis.plot(
                steps,
                [h[name] for h in run["history"]],
                color=colours[run["variant"]],
                linestyle=styles[run["seed"]],
                label=f"{run['variant']} seed {run['seed']}",
                alpha=0.8,
            )
    for axis, name, threshold in zip(
        axes, ("focus", "monotonic", "coverage"), (FOCUS_MIN, MONOTONIC_MIN, COVERAGE_MIN)
    ):
        axis.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xlabel("training step")
        axis.set_title(f"validation alignment {name}")
        axis.set_ylim(0, 1.02)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    Image.fromarray(figure_to_image(figure)).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python reproduce.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--output-dir", "-o", required=True, help="folder of the corpus, runs and report")
    parser.add_argument("--corpus", default="tone", help="'tone', or a folder with train.txt and val.txt")
    parser.add_argument("--max-chars", type=int, default=60, help="--corpus DIR: longest text kept")
    parser.add_argument("--utterances", type=int, default=400, help="--corpus tone: utterances (16 validate)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds; each trains both variants")
    parser.add_argument("--steps", type=int, default=3000, help="updates per run")
    parser.add_argument("--every", type=int, default=100, help="validate (and measure) every N updates")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (one thread each)")
    parser.add_argument("--hparams", default="", help="extra hparams for both variants, name=value,...")
    parser.add_argument("--report-only", action="store_true", help="only summarise the runs there are")
    args = parser.parse_args(argv)

    def run() -> None:
        out = Path(args.output_dir)
        if not args.report_only:
            if args.corpus == "tone":
                train, val = tone_corpus(out / "corpus", args.utterances, 16)
            else:
                dataset = Path(args.corpus)
                (out / "corpus").mkdir(parents=True, exist_ok=True)
                train = short_utterances(
                    dataset / "train.txt", out / "corpus" / "train.txt", args.max_chars, dataset
                )
                val = short_utterances(
                    dataset / "val.txt", out / "corpus" / "val.txt", args.max_chars, dataset
                )
            train_all(args, train, val)
        report(args)

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
