"""Check the paper's claims that this CPU can check: size, synthesis speed, and speech that becomes
intelligible after few updates (the last only as a pipeline check; see the caveat in the report).

    python -m neural_hmm.reproduce --out reproduction/ [--corpus DIR] [--steps 0,25,50,100] \\
        [--max-utterances 10] [--quick]

Writes `reproduction.md`, `reproduction.json` and `asr_over_training.png` into --out:
  1. parameter counts of NH2 (2 states per phone) and NH1 (1 state per phone) at the default size, built
     on the meta device, next to Tacotron 2's and the numbers stated for the paper;
  2. synthesis time of one 80-token sentence forced to 400 frames (random weights, 1 thread, one warm-up,
     median of 3) next to NVIDIA/tacotron2's own code timed on the same machine type (--quick: a tiny
     model instead of the default size);
  3. a small model trained on the demo corpus (built when --corpus is not given) with checkpoints at
     --steps; at each, the test sentences synthesised with Griffin-Lim and scored with
     `evaluation.score.score_folder` (WER/CER with the corpus language model, MCD).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python reproduce.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .checkpoints import neural_hmm_checkpoint, read_training_checkpoint, training_checkpoint_path
from .hparams import HParams
from .infra import save_atomic, seed_everything
from .learning import curve_point, plot_curve, run_command
from .model import NeuralHMM
from .timing import time_synthesis

# Tacotron 2, stated with their sources (paper folders never import each other).
TACOTRON2_PARAMETERS = 28_193_153  # NVIDIA/tacotron2 with its default hparams (its state dict, counted)
# NVIDIA/tacotron2's own code timed on this machine type: 400 frames on 1 thread, and a training step at
# batch 8 x 80 tokens x 400 frames.
TACOTRON2_SYNTHESIS_S = 2.85
TACOTRON2_RTF = 0.615
TACOTRON2_TRAIN_STEP_S = 31.0
# The paper says "smaller and simpler" than Tacotron 2 without a count; coqui-tts's pull request that
# added Neural-HMM states 15.3M for NH2.
STATED_NH2_PARAMETERS = "15.3M (coqui-tts PR; the paper gives no count, only 'smaller and simpler')"
STATED_NH1_PARAMETERS = "not stated"
PAPER_INTELLIGIBLE_AFTER = "1k updates (NH2, LJ Speech; 'a 15-fold improvement' over Tacotron 2)"

# Benchmark input: 80 tokens forced to 400 frames = 4.64 s of audio at hop 256, 22,050 Hz.
BENCH_TOKENS, BENCH_FRAMES = 80, 400

# The small model trained on the CPU: demo.sh's sizes (one state per phone, narrow layers, batch 2).
SMALL_HPARAMS = (
    "batch_size=2,num_workers=0,precision=32,symbols_embedding_dim=64,encoder_embedding_dim=64,"
    "state_per_phone=1,prenet_dim=64,post_prenet_rnn_dim=128,parameternetwork=[64]"
)
# --quick timing model: a tiny size, so the speed table is about the harness, not the paper's model.
TINY_HPARAMS = dict(
    symbols_embedding_dim=16,
    encoder_embedding_dim=16,
    encoder_n_convolutions=1,
    prenet_dim=16,
    post_prenet_rnn_dim=24,
    parameternetwork=[24],
)


# ---------------------------------------------------------------------------------------------------
# 1. Size


def count_parameters(hparams: HParams) -> int:
    """Trainable parameters, counted on the meta device (no memory, no initialisation cost)."""
    with torch.device("meta"):
        model = NeuralHMM(hparams)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_counts() -> dict:
    return {
        "nh2": count_parameters(HParams(state_per_phone=2)),
        "nh1": count_parameters(HParams(state_per_phone=1)),
        "tacotron2": TACOTRON2_PARAMETERS,
    }


# ---------------------------------------------------------------------------------------------------
# 2. Synthesis speed


def synthesis_speed(quick: bool, runs: int = 3) -> dict:
    """Median seconds to synthesise BENCH_FRAMES frames of a random BENCH_TOKENS-token text (one warm-up),
    on one thread, with random weights; the thread count is restored afterwards."""
    hparams = HParams(**TINY_HPARAMS) if quick else HParams()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(1234)
        model = NeuralHMM(hparams).eval()
        times = time_synthesis(model, BENCH_TOKENS, BENCH_FRAMES, runs)
    finally:
        torch.set_num_threads(threads)
    audio_seconds = BENCH_FRAMES * hparams.hop_length / hparams.sampling_rate
    seconds = statistics.median(times)
    return {
        "size": "tiny (--quick)" if quick else "default",
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": 1,
        "tokens": BENCH_TOKENS,
        "frames": BENCH_FRAMES,
        "audio_s": audio_seconds,
        "synthesis_s": seconds,
        "synthesis_s_runs": times,
        "rtf": seconds / audio_seconds,
    }


# ---------------------------------------------------------------------------------------------------
# 3. Intelligibility over training


def parse_steps(text: str) -> list[int]:
    try:
        steps = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--steps: expected integers like 0,25,50, got {text!r}") from None
    if not steps or steps[0] < 0:
        raise argparse.ArgumentTypeError(f"--steps: expected non-negative integers, got {text!r}")
    return steps


def scoring_filelist(corpus: Path) -> Path:
    for name in ("test.txt", "val.txt"):
        if (corpus / name).is_file():
            return corpus / name
    raise FileNotFoundError(f"{corpus}: neither test.txt nor val.txt found (expected a demo corpus folder)")


def train_checkpoints(corpus: Path, work: Path, steps: list[int], extra_hparams: str = "") -> dict[int, Path]:
    """Train the small model on `corpus` (train.py) with a checkpoint at every listed step; step 0 is the
    untrained model as train.py builds it (same seed and data statistics). Returns step -> path."""
    positive = [step for step in steps if step > 0]
    interval = math.gcd(*positive) if positive else 1
    hparams = f"{SMALL_HPARAMS},val_check_interval={10**9},save_model_checkpoint={interval}"
    hparams += f",{extra_hparams}" if extra_hparams else ""
    run_dir = work / "reproduce"
    argv = [
        "-r", "reproduce", "-o", str(work), "--device", "cpu", "--dataset-path", str(corpus),
        "--training-files", str(corpus / "train.txt"), "--validation-files", str(corpus / "val.txt"),
        "--hparams", hparams, "--max-steps", str(max(positive, default=1)), "--force",
    ]  # fmt: skip
    run_command("train.py", argv)
    paths = {step: training_checkpoint_path(run_dir, step) for step in positive}
    if 0 in steps:
        # train.py seeds with hparams.seed, then builds the model from the hparams it stores (with the data
        # statistics): the same two steps rebuild its untrained model.
        stored = read_training_checkpoint(training_checkpoint_path(run_dir, "last"))["hparams"]
        hparams = HParams.from_dict(stored)
        seed_everything(hparams.seed)
        paths[0] = save_atomic(
            neural_hmm_checkpoint(NeuralHMM(hparams)), training_checkpoint_path(run_dir, 0)
        )
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"training did not write the checkpoints {missing}")
    return dict(sorted(paths.items()))


# ---------------------------------------------------------------------------------------------------
# Report


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    size, speed, curve = results["parameters"], results["speed"], results["training_curve"]
    lines = [
        "# Neural-HMM reproduction report",
        "",
        f"Created {results['created_utc']} with torch {results['torch']} on the CPU.",
        "",
        "## 1. Model size (default hparams, counted on the meta device)",
        "",
        "| model | parameters (this code) | stated |",
        "|---|---|---|",
        f"| Neural-HMM NH2 (2 states/phone) | {size['nh2']:,} | {STATED_NH2_PARAMETERS} |",
        f"| Neural-HMM NH1 (1 state/phone) | {size['nh1']:,} | {STATED_NH1_PARAMETERS} |",
        f"| Tacotron 2 (NVIDIA defaults) | {size['tacotron2']:,} (stated) | "
        "NVIDIA/tacotron2's default state dict, counted |",
        "",
        f"NH2 has {size['nh2'] / size['tacotron2']:.0%} of Tacotron 2's parameters: the paper's "
        "'smaller and simpler' holds.",
        "",
        "## 2. Synthesis speed (random weights, 1 thread, 80 tokens forced to 400 frames, mel only)",
        "",
        "| model | size | synthesis (s, median of 3) | audio (s) | RTF | source |",
        "|---|---|---|---|---|---|",
        f"| Neural-HMM NH2 | {speed['size']}, {speed['parameters']:,} parameters | "
        f"{_fmt(speed['synthesis_s'])} | {_fmt(speed['audio_s'], 2)} | {_fmt(speed['rtf'])} | this run |",
        f"| Tacotron 2 (r=1) | default, 28.2M parameters | {TACOTRON2_SYNTHESIS_S} | 4.64 | "
        f"{TACOTRON2_RTF} | "
        "NVIDIA/tacotron2's own code timed on the same machine type (2 cores, 1 thread); not this run |",
        "",
        "RTF = synthesis seconds / audio seconds (lower is faster). The paper reports no synthesis speed; "
        f"for reference, Tacotron 2's training step (batch 8, 1 thread) is {TACOTRON2_TRAIN_STEP_S} s in the "
        "same table.",
    ]
    if speed["size"] != "default":
        lines += ["", "**--quick**: the timed model is a tiny configuration, not the paper's; the row does "
                  "not compare with Tacotron 2."]  # fmt: skip
    lines += [
        "",
        "## 3. Intelligibility over training",
        "",
        f"Paper: {PAPER_INTELLIGIBLE_AFTER}.",
        "",
        f"This run: the small config (`{curve['hparams']}`) trained on `{curve['corpus']}`; at each "
        f"checkpoint the first {curve['max_utterances']} sentences of `{curve['filelist']}` synthesised "
        f"with Griffin-Lim ({curve['griffin_lim_iters']} iterations, at most {curve['max_sampling_time']} "
        "frames) and scored with pocketsphinx (`evaluation.score`). Step 0 is the untrained model.",
        "",
        "| updates | WER (corpus LM) | CER (corpus LM) | WER (generic LM) | MCD (dB) | RTF |",
        "|---|---|---|---|---|---|",
    ]
    for point in curve["points"]:
        lines.append(
            f"| {point['step']} | {_fmt(point['wer_corpus_lm'])} | {_fmt(point['cer_corpus_lm'])} | "
            f"{_fmt(point['wer_generic_lm'])} | {_fmt(point['mcd_mean_db'], 2)} | {_fmt(point['rtf'])} |"
        )
    lines += [
        "",
        "![ASR error over training](asr_over_training.png)",
        "",
        "**Caveat.** A CPU run of a small model for a few updates on a synthetic-voice corpus is a pipeline "
        "check (training, checkpoints, synthesis and scoring work end to end), not the paper's result. "
        "Reproducing 'intelligible after 1k updates' needs the full-size NH2 on LJ Speech, a GPU, the "
        "paper's vocoder (HiFi-GAN, not Griffin-Lim) and a stronger ASR than pocketsphinx.",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neural_hmm.reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--out", required=True, help="output folder for the report and the work files")
    parser.add_argument("--corpus", default=None, help="demo corpus folder (default: build one in --out)")
    parser.add_argument("--steps", type=parse_steps, default=parse_steps("0,25,50,100"))
    parser.add_argument("--max-utterances", type=int, default=10, help="test sentences scored per step")
    parser.add_argument("--max-sampling-time", type=int, default=600, help="frames per sentence at most")
    parser.add_argument("--griffin-lim-iters", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for training and synthesis (timing: always 1)"
    )
    parser.add_argument("--quick", action="store_true", help="time a tiny model instead of the default size")
    parser.add_argument(
        "--train-hparams", default="", help="extra HParams overrides for the trained model (name=value,...)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        write_report(args, out)
    finally:
        torch.set_num_threads(threads)
    print(f"wrote {out / 'reproduction.md'}", file=sys.stderr)
    return 0


def write_report(args: argparse.Namespace, out: Path) -> None:
    results = {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "quick": args.quick,
    }
    print("1/3 parameter counts", file=sys.stderr)
    results["parameters"] = parameter_counts()
    print("2/3 synthesis speed", file=sys.stderr)
    results["speed"] = {
        **synthesis_speed(args.quick),
        "tacotron2": {
            "synthesis_s": TACOTRON2_SYNTHESIS_S,
            "rtf": TACOTRON2_RTF,
            "source": "NVIDIA/tacotron2 timed",
        },
    }

    print("3/3 intelligibility over training", file=sys.stderr)
    if args.corpus:
        corpus = Path(args.corpus)
    else:
        from filelists.demo_corpus import build_demo_corpus

        corpus = Path(
            build_demo_corpus(out / "corpus", size="default", voice="auto", install=False, progress=False)
        )
    filelist = scoring_filelist(corpus)
    checkpoints = train_checkpoints(corpus, out / "train", args.steps, args.train_hparams)
    points = [
        curve_point(
            step, path, corpus, filelist, out / "synthesis", args.max_utterances, args.max_sampling_time,
            args.griffin_lim_iters,
        )
        for step, path in checkpoints.items()
    ]  # fmt: skip
    results["training_curve"] = {
        "corpus": str(corpus),
        "filelist": str(filelist),
        "hparams": SMALL_HPARAMS + (f",{args.train_hparams}" if args.train_hparams else ""),
        "steps": args.steps,
        "max_utterances": args.max_utterances,
        "max_sampling_time": args.max_sampling_time,
        "griffin_lim_iters": args.griffin_lim_iters,
        "points": points,
    }
    plot_curve(points, out / "asr_over_training.png")
    (out / "reproduction.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "reproduction.md").write_text(markdown(results), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
