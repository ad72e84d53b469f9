"""Check the paper's claims that this CPU can check: size, synthesis speed, and speech that becomes
intelligible after few updates (the last only as a pipeline check; see the caveat in the report).

    python -m neural_hmm.reproduce --out reproduction/ [--corpus DIR] [--steps 0,25,50,100] \\
        [--max-utterances 10] [--quick]

Writes `reproduction.md`, `reproduction.json` and `asr_over_training.png` into --out:
  1. parameter counts of NH2 (2 states per phone) and NH1 (1 state per phone) at the default size, built
     on the meta device, next to Tacotron 2's and the numbers stated for the paper;
  2. synthesis time of one 80-token sentence forced to 400 frames (random weights, 1 thread, one warm-up,
     median of 3; shared BENCHMARKS.md protocol) next to Tacotron 2's peer measurement (--quick: a tiny
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
import warnings
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python reproduce.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from . import synthesis, train  # noqa: E402
from .checkpoints import neural_hmm_checkpoint, save_training_checkpoint, training_checkpoint_path  # noqa: E402
from .hparams import HParams  # noqa: E402
from .model import NeuralHMM  # noqa: E402

# Tacotron 2, stated with their sources (paper folders never import each other).
TACOTRON2_PARAMETERS = 28_193_153  # default hparams; /work/shared/reference/tacotron2_waveglow.md
TACOTRON2_SYNTHESIS_S = 2.85  # 400 frames, 1 thread; /work/shared/BENCHMARKS.md, NVIDIA/tacotron2 original
TACOTRON2_RTF = 0.615  # same row
TACOTRON2_TRAIN_STEP_S = 31.0  # batch 8 x 80 tokens x 400 frames, 1 thread; same row
# What is stated about Neural-HMM (/work/shared/reference/neural_hmm.md, "Paper results"): the paper says
# "smaller and simpler" than Tacotron 2 without a count; coqui-tts's pull request states 15.3M (NH2).
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
        text = torch.randint(1, hparams.n_symbols, (BENCH_TOKENS,))
        times = []
        for run in range(runs + 1):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
                # A near-zero quantile threshold never leaves the first state: exactly BENCH_FRAMES steps.
                sample = model.synthesise(
                    text,
                    sampling_temp=0.0,
                    max_sampling_time=BENCH_FRAMES,
                    duration_quantile_threshold=1e-30,
                )
            if run > 0:  # run 0 is the warm-up
                times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    frames = int(sample.mel.shape[0])
    audio_seconds = frames * hparams.hop_length / hparams.sampling_rate
    seconds = statistics.median(times)
    return {
        "size": "tiny (--quick)" if quick else "default",
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": 1,
        "tokens": BENCH_TOKENS,
        "frames": frames,
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
    """Train the small model on `corpus` (train.py, in this process) with a checkpoint at every listed step;
    step 0 is the untrained model, rebuilt with the run's seed and data statistics. Returns step -> path."""
    positive = [step for step in steps if step > 0]
    interval = math.gcd(*positive) if positive else 1
    hparams = f"{SMALL_HPARAMS},val_check_interval={10**9},save_model_checkpoint={interval}"
    hparams += f",{extra_hparams}" if extra_hparams else ""
    argv = [
        "-r", "reproduce", "-o", str(work), "--tensorboard-log-dir", str(work / "tb_logs"),
        "--device", "cpu", "--dataset-path", str(corpus),
        "--training-files", str(corpus / "train.txt"), "--validation-files", str(corpus / "val.txt"),
        "--data-parameters", str(work / "data_parameters.pt"), "--hparams", hparams,
    ]  # fmt: skip
    run_dir = work / "reproduce"
    if positive:
        args = train.parse_args(argv + ["--max-steps", str(positive[-1])])
        train.train(args)
    paths = {step: training_checkpoint_path(run_dir, step) for step in positive}
    if 0 in steps:
        # The same hparams (with data statistics) and seed as train.py's fresh model.
        args = train.parse_args(argv)
        single = train.Distributed(0, 0, 1, torch.device("cpu"))
        run_hparams, _ = train.prepare_hparams(args, single)
        train.seed_everything(run_hparams.seed)
        paths[0] = save_training_checkpoint(
            neural_hmm_checkpoint(NeuralHMM(run_hparams)), training_checkpoint_path(run_dir, 0)
        )
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"training did not write the checkpoints {missing}")
    return dict(sorted(paths.items()))


def curve_point(
    step: int,
    checkpoint: Path,
    corpus: Path,
    filelist: Path,
    out: Path,
    max_utterances: int,
    max_sampling_time: int,
    griffin_lim_iters: int,
) -> dict:
    """Synthesise the first `max_utterances` lines of `filelist` with `checkpoint` and score them."""
    from evaluation.score import score_folder

    lines = [line for line in filelist.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    subset = out / f"sentences_{len(lines[:max_utterances])}.txt"
    subset.write_text("\n".join(lines[:max_utterances]) + "\n", encoding="utf-8")
    wav_dir = out / f"step_{step}"
    code = synthesis.main(
        [
            "--checkpoint", str(checkpoint), "-i", str(subset), "-o", str(wav_dir), "--device", "cpu",
            "--max-sampling-time", str(max_sampling_time), "--griffin-lim-iters", str(griffin_lim_iters),
            "--seed", "1234",
        ]
    )  # fmt: skip
    if code != 0:
        raise RuntimeError(f"synthesis with {checkpoint} failed (exit code {code})")
    # The whole list, so the corpus language model knows every test sentence, not only the scored ones.
    scores = score_folder(
        wav_dir,
        filelist,
        dataset_path=corpus,
        out_dir=wav_dir,
        max_utterances=max_utterances,
        label=f"step {step}",
        progress=False,
    )
    aggregate = scores["aggregate"]
    return {
        "step": step,
        "checkpoint": str(checkpoint),
        "wav_dir": str(wav_dir),
        "n_utterances": scores["counts"]["scored"],
        **{
            key: aggregate.get(key)
            for key in ("wer_corpus_lm", "cer_corpus_lm", "wer_generic_lm", "mcd_mean_db", "rtf")
        },
    }


def plot_curve(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [point["step"] for point in points]
    figure, (rates, mcd) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("wer_corpus_lm", "WER (corpus LM)"), ("cer_corpus_lm", "CER (corpus LM)")):
        rates.plot(steps, [_number(point[key]) for point in points], marker="o", label=label)
    rates.set_xlabel("training updates")
    rates.set_ylabel("error rate")
    rates.set_title("ASR error of synthesised test sentences")
    rates.legend()
    mcd.plot(steps, [_number(point["mcd_mean_db"]) for point in points], marker="o", color="tab:green")
    mcd.set_xlabel("training updates")
    mcd.set_ylabel("MCD (dB)")
    mcd.set_title("Mel cepstral distortion")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _number(value) -> float:
    return math.nan if value is None else float(value)


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
        "shared/reference/tacotron2_waveglow.md |",
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
        "peer measurement (NVIDIA/tacotron2 original) on the same machine type, shared/BENCHMARKS.md; "
        "not this run |",
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
        "tacotron2": {"synthesis_s": TACOTRON2_SYNTHESIS_S, "rtf": TACOTRON2_RTF, "source": "BENCHMARKS.md"},
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
