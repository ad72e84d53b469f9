"""What the Flowtron paper and its repository show that a CPU can show, measured on small models trained here.

    python reproduce.py --output-dir reproduction/            # the default sizes (README: minutes taken)
    python reproduce.py --output-dir reproduction/ --speech-corpus DIR   # an LJ Speech-format corpus
    python reproduce.py --output-dir /tmp/check --quick --speech-corpus DIR   # seconds: the plumbing

1. Alignment with and without the attention prior over training. The prior came to the original
   repository after the paper, with a recipe (train with it until the alignments look good, then resume
   without it) and the maintainers' advice to use it when the attention does not form. The tiny model of
   the learning test (tone_corpus.py: the known-alignment tone corpus of filelists.synthetic, one flow,
   train.py's step) is trained twice from the same initial weights on the same batches, once with the
   beta-binomial prior and once without (data_config.use_attn_prior off). Every --every steps the
   held-out utterances' teacher-forced attention is measured two ways: as validation logs it
   (infra.alignment_health: focus, monotonic, coverage, score; with the prior for the run that trains
   with it) and the model's own attention without the prior, which is what inference uses; both also
   against the true alignment (the share of frames attending to their own symbol or a neighbouring
   frame's). A measurement is *diagonal* when focus >= 0.5, monotonic >= 0.9 and coverage >= 0.8; the
   first step at which each run is diagonal is reported. Then the run with the prior is continued
   without it for --tone-phase2-steps steps (the recipe's second phase: same optimizer, same batches).
2. Variation with sigma, the standard deviation of z (inference.py's -s; the paper's figures show speech
   variation growing with it, against Tacotron 2's prenet dropout). The same sentences are synthesised
   --samples times at each sigma (z = sigma * n, the same draws n at every sigma, as control.py's sigma
   command), and the spread over samples is measured against sigma 0, the fixed baseline (z = 0: every
   sample the same):
     * speech: a small Flowtron trained here on a speech corpus (by default the demo corpus's short
       sentences, built into the output folder) for --speech-steps steps: F0 by librosa.pyin of the
       Griffin-Lim audio (60-500 Hz); per sentence the standard deviation over samples of each sample's
       mean F0 and of its F0 standard deviation, and of the frame counts (where the gate stopped; a
       sample whose gate never fires has --speech-frames);
     * tones: the tone model after both phases: frame counts (all samples, and only those whose gate
       fired) against the data's own duration spread for the same texts (each symbol's duration is
       uniform over its range), which a model sampling durations as the data has them would show at
       sigma 1 (train_config.sigma).
Written into --output-dir: reproduction.json (every measurement), reproduction.md, reproduction.png, and
the trained models (tone_prior.pt after phase 1, tone_phase2.pt, speech.pt: state dicts).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    # Run as a file (`python reproduce.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from filelists.checks import DataCheckError, require_clean

from .config import DataConfig, FlowtronConfig, ModelConfig, TrainConfig
from .data import Data, DataError, check_data, text_to_ids
from .flowtron import Flowtron
from .infra import HelpFormatter, OutputError, UserError, atomic_write, figure_to_image, run_main, save_atomic
from .synthesizer import Synthesizer
from .tone_corpus import (
    SYMBOL_FRAMES,
    alignment_scores,
    tiny_tone_model,
    tone_items,
    tone_training,
    tone_utterances,
    without_prior,
)
from .training_step import ItemTraining

FOCUS_MIN, MONOTONIC_MIN, COVERAGE_MIN = 0.5, 0.9, 0.8
HEALTH = ("aligned", "focus", "monotonic", "coverage", "score")


@dataclass(frozen=True)
class Sizes:
    """Everything that sets the cost of a run; --quick swaps in QUICK."""

    tone_train: int = 200
    tone_held_out: int = 16
    tone_steps: int = 1500
    tone_hidden: int = 64
    every: int = 50
    tone_phase2_steps: int = 300  # the prior run continued without the prior: the tone synthesis model
    speech_steps: int = 800
    speech_batch: int = 8
    speech_hidden: int = 128
    speech_width: int = 64  # text embedding and attention channels
    sentences: int = 5
    samples: int = 4
    speech_frames: int = 300
    tone_texts: int = 16
    tone_samples: int = 8


QUICK = Sizes(
    tone_train=24, tone_held_out=4, tone_steps=4, tone_hidden=8, every=2, tone_phase2_steps=2, speech_steps=2,
    speech_batch=2,
    speech_hidden=8, speech_width=8, sentences=1, samples=2, speech_frames=24, tone_texts=2, tone_samples=2,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# 1. Alignment with and without the prior


def is_diagonal(health: dict) -> bool:
    return (
        health["focus"] >= FOCUS_MIN
        and health["monotonic"] >= MONOTONIC_MIN
        and health["coverage"] >= COVERAGE_MIN
    )


def first_diagonal_step(history: list[dict], key: str) -> int | None:
    return next((point["step"] for point in history if is_diagonal(point[key])), None)


def alignment_over_training(sizes: Sizes, seed: int) -> tuple[dict, ItemTraining, tuple[list, list]]:
    """Both runs; returns (results, the training with the prior, held-out items and utterances)."""
    utterances = tone_utterances(sizes.tone_train + sizes.tone_held_out, seed)
    items, _ = tone_items(utterances, sizes.tone_train)
    train_items = items[: sizes.tone_train]
    held_out = items[sizes.tone_train :], utterances[sizes.tone_train :]
    torch.manual_seed(seed)
    initial = tiny_tone_model(sizes.tone_hidden).state_dict()
    runs, trainings = {}, {}
    for variant, with_prior in (("prior", True), ("no_prior", False)):
        model = tiny_tone_model(sizes.tone_hidden)
        model.load_state_dict(initial)  # the same starting point for both runs
        training = tone_training(model, train_items if with_prior else without_prior(train_items), seed)
        history, started = [], time.perf_counter()
        while True:
            history.append(
                {
                    "step": training.steps_done,
                    "as_validated": alignment_scores(model, *held_out, with_prior=with_prior),
                    "own": alignment_scores(model, *held_out, with_prior=False),
                }
            )
            if training.steps_done >= sizes.tone_steps:
                break
            training.run(min(sizes.every, sizes.tone_steps - training.steps_done))
        runs[variant] = {
            "prior_in_training": with_prior,
            "first_diagonal_step_as_validated": first_diagonal_step(history, "as_validated"),
            "first_diagonal_step_own": first_diagonal_step(history, "own"),
            "seconds": round(time.perf_counter() - started, 1),
            "history": history,
        }
        trainings[variant] = training
        print(f"alignment: {variant} done ({runs[variant]['seconds']} s)", file=sys.stderr)
    results = {
        "corpus": f"tone corpus, seed {seed}: {sizes.tone_train} training and {sizes.tone_held_out} held-out "
        "utterances of 1-2 words; vowels held 6-9 frames, d n s t 1-2, the space 2-3",
        "symbol_frames": SYMBOL_FRAMES,
        "thresholds": {"focus": FOCUS_MIN, "monotonic": MONOTONIC_MIN, "coverage": COVERAGE_MIN},
        "runs": runs,
    }
    return results, trainings["prior"], held_out


def phase_two(training: ItemTraining, steps: int, held_out) -> dict:
    """The paper's second phase: the run trained with the prior continued without it (train.py's
    --resume with data_config.use_attn_prior=false: same optimizer, same batch stream). Its own attention
    before and after."""
    before = alignment_scores(training.model, *held_out, with_prior=False)
    training.items = without_prior(training.items)
    training.run(steps)
    after = alignment_scores(training.model, *held_out, with_prior=False)
    return {"steps": steps, "own_before": before, "own_after": after}


# ---------------------------------------------------------------------------------------------------
# 2. Variation with sigma


def spread(values_per_text: list[list[float]]) -> float | None:
    """Mean over texts of the standard deviation over samples (population); None when nothing is finite."""
    spreads = [float(np.std(v)) for v in (np.asarray(x, dtype=float) for x in values_per_text) if len(v)]
    spreads = [s for s in spreads if math.isfinite(s)]
    return float(np.mean(spreads)) if spreads else None


def f0_of(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """(frames,) F0 in Hz by pYIN, NaN where unvoiced."""
    import librosa

    f0, _, _ = librosa.pyin(
        audio, fmin=60.0, fmax=500.0, sr=sampling_rate, frame_length=1024, hop_length=256, center=True
    )
    return f0


def speech_model(corpus: Path, sizes: Sizes, seed: int) -> tuple[Synthesizer, dict, list[str]]:
    """A small Flowtron trained on `corpus`/train.txt with train.py's step; returns (synthesizer, facts,
    the first sizes.sentences texts of test.txt)."""
    lists = [corpus / name for name in ("train.txt", "test.txt")]
    missing = [str(path) for path in lists if not path.is_file()]
    if missing:
        raise UserError(f"--speech-corpus {corpus}: no {', '.join(missing)}")
    model_config = ModelConfig(
        n_speaker_dim=8, n_text_dim=sizes.speech_width, n_attn_channels=sizes.speech_width,
        n_hidden=sizes.speech_hidden, n_lstm_layers=1, n_flows=1,
    )  # fmt: skip
    data_config = DataConfig(training_files=str(lists[0]), validation_files=str(lists[0]), p_arpabet=0.0)
    train_config = TrainConfig(batch_size=sizes.speech_batch, ctc_loss_start_iter=0, seed=seed)
    config = FlowtronConfig(train_config, data_config, model_config=model_config)
    require_clean(check_data([lists[0]], data_config, corpus, progress=False), quiet=True)
    data = Data(lists[0], data_config, model_config.n_mel_channels, corpus, seed=seed)
    items = [data[index] for index in range(len(data))]
    torch.manual_seed(seed)
    model = Flowtron(**model_config.to_dict())
    training = ItemTraining(model, items, config, seed)
    started = time.perf_counter()
    loss = training.run(sizes.speech_steps)
    model.eval()
    texts = [line.split("|")[1] for line in lists[1].read_text(encoding="utf-8").splitlines() if "|" in line]
    facts = {
        "corpus": str(corpus),
        "utterances": len(items),
        "frames": int(sum(item.mel.shape[1] for item in items)),
        "model_config": model_config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": sizes.speech_steps,
        "batch_size": sizes.speech_batch,
        "last_loss": loss,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Synthesizer(model, config, {0: 0}, torch.device("cpu"), seed=seed), facts, texts[: sizes.sentences]


def speech_variation(
    synth: Synthesizer, texts: list[str], sigmas, sizes: Sizes, seed: int, gate: float
) -> dict:
    """Per sigma: F0 and frame-count spreads over samples, and the raw per-sample measurements."""
    rate = synth.config.data_config.sampling_rate
    results = {}
    for sigma in sigmas:
        generator = torch.Generator().manual_seed(seed)  # the same draws at every sigma
        samples = []
        for text in texts:
            per_text = []
            for _ in range(sizes.samples):
                result = synth.synthesise(text, 0, sigma, sizes.speech_frames, gate, generator)
                # a gate firing within the first STFT window leaves too little audio to measure
                too_short = result.mel.shape[1] * synth.config.data_config.hop_length < 2048
                f0 = np.array([]) if too_short else f0_of(synth.vocode(result.mel, 16), rate)
                voiced = f0[np.isfinite(f0)]
                per_text.append(
                    {
                        "frames": int(result.mel.shape[1]),
                        "gate_fired": result.gate_fired,
                        "voiced": float(np.isfinite(f0).mean()) if len(f0) else 0.0,
                        "f0_mean": float(voiced.mean()) if len(voiced) else None,
                        "f0_std": float(voiced.std()) if len(voiced) else None,
                        "f0": [None if not math.isfinite(v) else round(float(v), 1) for v in f0],
                    }
                )
            samples.append(per_text)

        def values(name: str, samples=samples) -> list[list[float]]:
            return [[s[name] for s in per_text if s[name] is not None] for per_text in samples]

        contour_std = [s["f0_std"] for per_text in samples for s in per_text if s["f0_std"] is not None]
        results[f"{sigma:g}"] = {
            "f0_mean_spread_hz": spread(values("f0_mean")),
            "f0_std_spread_hz": spread(values("f0_std")),
            "f0_within_utterance_std_hz": float(np.mean(contour_std)) if contour_std else None,
            "frames_spread": spread(values("frames")),
            "frames_spread_gate_fired": spread(
                [[s["frames"] for s in per_text if s["gate_fired"]] for per_text in samples]
            ),
            "mean_frames": float(np.mean([s["frames"] for t in samples for s in t])),
            "gate_fired": float(np.mean([s["gate_fired"] for t in samples for s in t])),
            "voiced": float(np.mean([s["voiced"] for t in samples for s in t])),
            "samples": samples,
        }
        print(f"sigma {sigma:g}: speech measured", file=sys.stderr)
    return results


def tone_variation(model: Flowtron, held_out, sigmas, sizes: Sizes, seed: int, gate: float) -> dict:
    """Per sigma: frame counts of each held-out text's samples (gate stop), against the data's spread."""
    items, utterances = held_out
    texts = [u.text for u in utterances[: sizes.tone_texts]]
    variance = {s: ((b - a + 1) ** 2 - 1) / 12 for s, (a, b) in SYMBOL_FRAMES.items()}  # uniform integers
    data_spread = float(np.mean([math.sqrt(sum(variance[c] for c in text)) for text in texts]))
    means = {s: (a + b) / 2 for s, (a, b) in SYMBOL_FRAMES.items()}
    data_mean = float(np.mean([sum(means[c] for c in text) for text in texts]))
    n_frames = 3 * max(u.n_frames for u in utterances)
    model.eval()
    results = {"texts": texts, "data_frames_spread": data_spread, "data_mean_frames": data_mean}
    results["by_sigma"] = {}
    for sigma in sigmas:
        generator = torch.Generator().manual_seed(seed)
        frames, fired = [], []
        for text in texts:
            ids = text_to_ids(text, DataConfig(p_arpabet=0.0))[None]
            frames.append([])
            fired.append([])
            for _ in range(sizes.tone_samples):
                z = torch.randn(1, model.n_mel_channels, n_frames, generator=generator) * sigma
                output = model.infer(z, torch.tensor([0]), ids, gate_threshold=gate)
                frames[-1].append(int(output.mel.shape[2]))
                fired[-1].append(output.gate_fired)
        stopped = [[n for n, f in zip(*pair) if f] for pair in zip(frames, fired)]
        results["by_sigma"][f"{sigma:g}"] = {
            "frames_spread": spread(frames),
            "frames_spread_gate_fired": spread(stopped),
            "mean_frames": float(np.mean(frames)),
            "mean_frames_gate_fired": float(np.mean(sum(stopped, []))) if any(stopped) else None,
            "gate_fired": float(np.mean(fired)),
            "frames": frames,
            "fired": fired,
        }
    return results


# ---------------------------------------------------------------------------------------------------
# Report


def markdown(report: dict) -> str:
    alignment, sigma = report["alignment"], report["sigma"]
    lines = [
        "# Flowtron on a CPU: alignment with and without the prior; variation with sigma",
        "",
        f"Run: {report['conditions']}.",
        "",
        f"## Alignment over training ({alignment['corpus']})",
        "",
        "Diagonal = focus >= 0.5, monotonic >= 0.9, coverage >= 0.8 (infra.alignment_health, held-out "
        "utterances, teacher forced). *As validated*: the attention validation logs (with the prior for "
        "the run trained with it); *own*: without the prior, as inference uses it. *Aligned*: frames "
        "attending to their true symbol (or a neighbouring frame's).",
        "",
        "| run | first diagonal, as validated | first diagonal, own | final aligned (as validated / own) "
        "| final score (as validated / own) |",
        "|---|---|---|---|---|",
    ]
    for name, run in alignment["runs"].items():
        last = run["history"][-1]

        def step(value):
            return "not reached" if value is None else str(value)

        lines.append(
            f"| {name} (step {last['step']}) | {step(run['first_diagonal_step_as_validated'])} | "
            f"{step(run['first_diagonal_step_own'])} | {last['as_validated']['aligned']:.3f} / "
            f"{last['own']['aligned']:.3f} | {last['as_validated']['score']:.3f} / "
            f"{last['own']['score']:.3f} |"
        )
    phase = alignment["phase_two"]
    lines += [
        "",
        f"The run with the prior continued without it for {phase['steps']} steps (the recipe's second "
        f"phase): own attention aligned {phase['own_before']['aligned']:.3f} -> "
        f"{phase['own_after']['aligned']:.3f}, score {phase['own_before']['score']:.3f} -> "
        f"{phase['own_after']['score']:.3f}.",
    ]
    speech = sigma["speech"]
    lines += [
        "",
        f"## Variation with sigma: speech ({speech['model']['steps']} steps on "
        f"{speech['model']['utterances']} utterances, {speech['model']['parameters']:,} parameters)",
        "",
        f"{len(speech['texts'])} test sentences x {report['sizes']['samples']} samples per sigma; spreads "
        "are standard deviations over the samples of one sentence, averaged over sentences.",
        "",
        "| sigma | mean-F0 spread (Hz) | F0-std spread (Hz) | F0 std within an utterance (Hz) "
        "| frames spread (all / gate fired) | mean frames | gate fired | voiced |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def number(value, digits=2):
        return "n/a" if value is None else f"{value:.{digits}f}"

    for key, row in speech["by_sigma"].items():
        lines.append(
            f"| {key} | {number(row['f0_mean_spread_hz'])} | {number(row['f0_std_spread_hz'])} | "
            f"{number(row['f0_within_utterance_std_hz'])} | {number(row['frames_spread'])} / "
            f"{number(row['frames_spread_gate_fired'])} | {row['mean_frames']:.1f} | "
            f"{row['gate_fired']:.2f} | {row['voiced']:.2f} |"
        )
    tone = sigma["tone"]
    lines += [
        "",
        f"## Variation with sigma: tones (the tone model after both phases; {len(tone['texts'])} held-out "
        f"texts x {report['sizes']['tone_samples']} samples)",
        "",
        f"The data's own duration spread for these texts: {tone['data_frames_spread']:.2f} frames (mean "
        f"{tone['data_mean_frames']:.1f} frames). A sample whose gate never fires runs to the frame limit.",
        "",
        "| sigma | frames spread (all / gate fired) | mean frames (all / gate fired) | gate fired |",
        "|---|---|---|---|",
    ]
    for key, row in tone["by_sigma"].items():
        lines.append(
            f"| {key} | {number(row['frames_spread'])} / {number(row['frames_spread_gate_fired'])} | "
            f"{row['mean_frames']:.1f} / {number(row['mean_frames_gate_fired'], 1)} | "
            f"{row['gate_fired']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(13, 8))
    axes = figure.subplots(2, 2)
    colours = {"prior": "tab:red", "no_prior": "tab:blue"}
    for name, run in report["alignment"]["runs"].items():
        steps = [point["step"] for point in run["history"]]
        for axis, measure in zip(axes[0], ("aligned", "score")):
            for key, style in (("as_validated", "--"), ("own", "-")):
                axis.plot(
                    steps, [point[key][measure] for point in run["history"]], style, color=colours[name],
                    label=f"{name}, {key.replace('_', ' ')}",
                )  # fmt: skip
    for axis, measure in zip(axes[0], ("aligned to the true symbols", "alignment score")):
        axis.set_xlabel("training step")
        axis.set_title(f"tone corpus, held out: {measure}")
        axis.set_ylim(0, 1.02)
        axis.legend(fontsize=7)
    speech = report["sigma"]["speech"]["by_sigma"]
    for (key, row), colour in zip(speech.items(), ("black", "tab:orange", "tab:purple", "tab:green")):
        for index, sample in enumerate(row["samples"][0]):
            f0 = [np.nan if v is None else v for v in sample["f0"]]
            axes[1][0].plot(f0, color=colour, alpha=0.7, label=f"sigma {key}" if index == 0 else None)
    axes[1][0].set_title(f"speech: F0 of '{report['sigma']['speech']['texts'][0][:40]}', every sample")
    axes[1][0].set_xlabel("frame")
    axes[1][0].set_ylabel("Hz")
    axes[1][0].legend(fontsize=7)
    tone = report["sigma"]["tone"]
    sigmas = [key for key in speech]
    width = 0.35
    positions = np.arange(len(sigmas))
    for shift, rows, label in ((-width / 2, speech, "speech"), (width / 2, tone["by_sigma"], "tones")):
        heights = [rows[k]["frames_spread_gate_fired"] or 0 for k in sigmas]
        axes[1][1].bar(positions + shift, heights, width, label=label)
    axes[1][1].axhline(tone["data_frames_spread"], color="grey", linestyle="--", label="tone data")
    axes[1][1].set_xticks(positions, [f"sigma {k}" for k in sigmas])
    axes[1][1].set_title("duration spread: std of frame counts over samples whose gate fired")
    axes[1][1].legend(fontsize=7)
    figure.tight_layout()
    Image.fromarray(figure_to_image(figure)).save(path)


def build_speech_corpus(folder: Path) -> Path:
    from filelists.demo_corpus import DemoCorpusError, build_demo_corpus

    try:
        return build_demo_corpus(folder, sentence_set="short", progress=False)
    except DemoCorpusError as error:
        raise UserError(
            f"cannot build the speech corpus in {folder}: {error}; pass --speech-corpus"
        ) from None


def reproduce(args: argparse.Namespace) -> dict:
    out = Path(args.output_dir)
    if (out / "reproduction.json").exists() and not args.force:
        raise OutputError(f"{out / 'reproduction.json'} exists; pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if args.quick else Sizes()
    chosen = {k: v for k, v in vars(args).items() if k in asdict(sizes) and v is not None}
    not_positive = [f"--{k.replace('_', '-')} {v}" for k, v in chosen.items() if v < 1]
    if not_positive:
        raise UserError(f"{', '.join(not_positive)}: must be at least 1")
    sizes = Sizes(**{**asdict(sizes), **chosen})
    started, load = time.perf_counter(), os.getloadavg()[0]
    corpus = Path(args.speech_corpus) if args.speech_corpus else build_speech_corpus(out / "speech_corpus")

    alignment, tone, held_out = alignment_over_training(sizes, args.seed)
    made_by = f"tone_corpus.tiny_tone_model({sizes.tone_hidden})"
    save_atomic({"state_dict": tone.model.state_dict(), "made_by": made_by}, out / "tone_prior.pt")
    alignment["phase_two"] = phase_two(tone, sizes.tone_phase2_steps, held_out)
    save_atomic({"state_dict": tone.model.state_dict(), "made_by": made_by}, out / "tone_phase2.pt")
    synth, facts, texts = speech_model(corpus, sizes, args.seed)
    speech_state = {"state_dict": synth.model.state_dict(), "model_config": facts["model_config"]}
    save_atomic(speech_state, out / "speech.pt")
    print(f"speech model trained ({facts['seconds']} s)", file=sys.stderr)
    report = {
        "sizes": asdict(sizes),
        "seed": args.seed,
        "alignment": alignment,
        "sigma": {
            "sigmas": args.sigmas,
            "speech": {
                "model": facts,
                "texts": texts,
                "by_sigma": speech_variation(synth, texts, args.sigmas, sizes, args.seed, args.gate),
            },
            "tone": tone_variation(tone.model, held_out, args.sigmas, sizes, args.seed, args.gate),
        },
    }
    minutes = (time.perf_counter() - started) / 60
    report["conditions"] = (
        f"{minutes:.1f} min, torch threads {torch.get_num_threads()}, load average {load:.1f} at the start "
        f"and {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores"
    )
    text = json.dumps(report, indent=1) + "\n"
    atomic_write(out / "reproduction.json", lambda stream: stream.write(text.encode()))
    summary = markdown(report)
    atomic_write(out / "reproduction.md", lambda stream: stream.write(summary.encode()))
    plot(report, out / "reproduction.png")
    print(summary)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python reproduce.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--output-dir", "-o", required=True, help="folder of the report and the models")
    parser.add_argument(
        "--speech-corpus", default=None, help="LJ Speech-format corpus (train.txt, test.txt) [demo short]"
    )
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="sigmas to compare")
    parser.add_argument("--seed", type=int, default=0, help="seed of corpus, weights and draws [0]")
    parser.add_argument("--gate", type=float, default=0.5, help="synthesis gate threshold (> 1: never stop)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the plumbing in seconds")
    for name, default in asdict(Sizes()).items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"{default}; --quick: {getattr(QUICK, name)} (see Sizes)",
        )
    parser.add_argument("--force", action="store_true", help="replace an existing report")
    args = parser.parse_args(argv)
    return run_main(lambda: reproduce(args), errors=(DataCheckError, DataError))


if __name__ == "__main__":
    sys.exit(main())
