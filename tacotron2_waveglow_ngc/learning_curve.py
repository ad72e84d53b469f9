"""The learning curve of a training run: every checkpoint synthesises the first test sentences and is
scored (CER/WER with the corpus and the generic language model, MCD), against updates and wall time.

    python learning_curve.py --run output/ --corpus CORPUS --out curve/ [--max-utterances 20]
    python learning_curve.py ... --variant int8 --out curve_int8/      # the int8 fast path, scored alike

Writes `curve.json`, `curve.md` and `curve.png` into --out. Checkpoints already scored in --out are not
scored again, so it can run while training goes on. The speaking recipe (recipes/speak.sh) ends with it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python learning_curve.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .checkpoints import read_training_checkpoint
from .infra import HelpFormatter, UserError, atomic_write, check_output_dir, run_main
from .learning import SCORE_KEYS, VARIANT_FLAGS, alignment_by_epoch, curve_point, elapsed_seconds, plot_curve


def checkpoints_of(run: Path, every: int) -> dict[int, tuple[int, Path]]:
    """iteration -> (epoch, path) of the Tacotron 2 checkpoints whose epoch divides by `every`."""
    found = {}
    for path in run.glob("checkpoint_Tacotron2_*.pt"):
        match = re.fullmatch(r"checkpoint_Tacotron2_(\d+)\.pt", path.name)
        if match and int(match.group(1)) % every == 0:
            found[read_training_checkpoint(path, "Tacotron2")["iteration"]] = (int(match.group(1)), path)
    if not found:
        raise UserError(f"{run}: no checkpoint_Tacotron2_<epoch>.pt (every {every} epochs) to score")
    return dict(sorted(found.items()))


def markdown(points: list[dict], run: Path, corpus: Path, vocoder: str) -> str:
    lines = [
        f"# Learning curve of {run}",
        "",
        f"Corpus {corpus}; the first {points[0]['n_utterances']} test sentences, {vocoder}, pocketsphinx.",
        "",
        "| updates | hours | CER corpus LM | WER corpus LM | CER generic LM | WER generic LM | MCD (dB) "
        "| reached the end | alignment score |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        cells = [f"{p[key]:.3f}" if isinstance(p.get(key), float) else "n/a" for key in SCORE_KEYS[:5]]
        hours = f"{p['hours']:.2f}" if p.get("hours") is not None else "n/a"
        alignment = f"{p['alignment']:.3f}" if p.get("alignment") is not None else "n/a"
        lines.append(
            f"| {p['step']} | {hours} | {' | '.join(cells)} | {p['reached_end']}/{p['n_utterances']} "
            f"| {alignment} |"
        )
    return "\n".join(lines) + "\n\n![learning curve](curve.png)\n"


def build_curve(args: argparse.Namespace) -> list[dict]:
    run, corpus, out = Path(args.run), Path(args.corpus), check_output_dir(args.out, "--out")
    filelist = Path(args.filelist) if args.filelist else corpus / "test.txt"
    if not filelist.is_file():
        raise UserError(f"{filelist}: no such test filelist")
    cache_path = out / "curve.json"
    cache = {p["step"]: p for p in json.loads(cache_path.read_text())} if cache_path.is_file() else {}
    other = {p.get("variant", "fp32") for p in cache.values()} - {args.variant}
    if other:
        raise UserError(
            f"{cache_path} holds {', '.join(sorted(other))} scores; "
            f"give --variant {args.variant} its own --out"
        )
    log = run / args.log_file
    seconds, alignment = elapsed_seconds(log), alignment_by_epoch(log)
    selected = checkpoints_of(run, args.every)
    # points scored earlier but not selected this time (another --every) stay in the curve
    points = [point for step, point in cache.items() if step not in selected]
    for step, (epoch, checkpoint) in selected.items():
        cached = cache.get(step)
        same_vocoder = cached is not None and cached.get("vocoder") == (args.vocoder or "griffin-lim")
        point = (cached if same_vocoder else None) or curve_point(
            step,
            checkpoint,
            corpus,
            filelist,
            out,
            args.max_utterances,
            args.max_decoder_steps,
            args.griffin_lim_iters,
            args.vocoder,
            args.variant,
        )
        point["hours"] = seconds[step] / 3600 if step in seconds else None
        point["alignment"] = alignment.get(epoch)
        points.append(point)
        points.sort(key=lambda p: p["step"])
        print(f"step {step}: CER {point['cer_corpus_lm']}, WER {point['wer_corpus_lm']}", file=sys.stderr)
        atomic_write(cache_path, lambda stream: stream.write(json.dumps(points, indent=1).encode()))
    plot_curve(points, out / "curve.png")
    flags = " ".join(VARIANT_FLAGS[args.variant])
    synthesis = (args.vocoder or "Griffin-Lim") + (
        f", inference.py {flags} ({args.variant})" if flags else ""
    )
    text = markdown(points, run, corpus, synthesis)
    atomic_write(out / "curve.md", lambda stream: stream.write(text.encode()))
    print(text)
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python learning_curve.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--run", required=True, help="train.py's output folder (-o)")
    parser.add_argument("--log-file", default="nvlog.json", help="the run's log, in --run")
    parser.add_argument("--corpus", required=True, help="corpus folder (its test.txt is scored)")
    parser.add_argument("--filelist", default=None, help="test filelist [<corpus>/test.txt]")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--every", type=int, default=1, help="score only checkpoints whose epoch divides by this"
    )
    parser.add_argument("--max-utterances", type=int, default=20, help="test sentences per checkpoint")
    parser.add_argument("--max-decoder-steps", type=int, default=600, help="frames per sentence at most")
    parser.add_argument("--griffin-lim-iters", type=int, default=32, help="Griffin-Lim iterations")
    parser.add_argument("--vocoder", default=None, help="passed to inference.py as --vocoder [Griffin-Lim]")
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANT_FLAGS),
        default="fp32",
        help="inference path to score: fp32 (faithful), int8 (--int8) or bf16 (--amp); one --out per variant",
    )
    args = parser.parse_args(argv)
    return run_main(lambda: build_curve(args))


if __name__ == "__main__":
    sys.exit(main())
