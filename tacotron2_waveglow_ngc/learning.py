"""How well a training run speaks, checkpoint by checkpoint: the learning curve that `learning_curve.py`
(the speaking recipe's last stage) and `reproduce.py` write.

At each checkpoint the first test sentences are synthesised by `inference.py` (run as a command, in a
child process) with Griffin-Lim and scored by `evaluation.score` (pocketsphinx CER/WER with the corpus
language model and the generic one, MCD against the recordings). A point records the updates and the
wall time the run had taken (from its nvlog.json), so the curve can be read against either.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
VARIANT_FLAGS = {"fp32": [], "int8": ["--int8"], "bf16": ["--amp"]}  # inference.py's flags of each
SCORE_KEYS = ("cer_corpus_lm", "wer_corpus_lm", "cer_generic_lm", "wer_generic_lm", "mcd_mean_db", "rtf")


def run_command(script: str, argv: list[str]) -> None:
    """Run one of this folder's commands as a user would (`python <script> ...`) in a child process."""
    command = [sys.executable, str(FOLDER / script), *argv]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed (exit code {result.returncode}):\n{result.stderr[-3000:]}"
        )


def curve_point(
    step: int,
    checkpoint: Path,
    corpus: Path,
    filelist: Path,
    out: Path,
    max_utterances: int,
    max_decoder_steps: int,
    griffin_lim_iters: int,
    vocoder: str | None = None,
    variant: str = "fp32",
) -> dict:
    """Synthesise the first `max_utterances` lines of `filelist` with `checkpoint` (Griffin-Lim, or the
    synthesis command's `--vocoder`) and score them. variant: "fp32" (the faithful path), "int8"
    (inference.py --int8) or "bf16" (--amp), so a fast path is scored exactly like the default one."""
    if variant not in VARIANT_FLAGS:
        raise ValueError(f"variant {variant!r}: choose from {', '.join(VARIANT_FLAGS)}")
    from evaluation.score import score_folder

    lines = [line for line in filelist.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    subset = out / f"sentences_{len(lines[:max_utterances])}.txt"
    subset.write_text("\n".join(lines[:max_utterances]) + "\n", encoding="utf-8")
    wav_dir = out / (f"step_{step}" if variant == "fp32" else f"step_{step}_{variant}")
    run_command(
        "inference.py",
        [
            "--checkpoint",
            str(checkpoint),
            "-i",
            str(subset),
            "-o",
            str(wav_dir),
            "--device",
            "cpu",
            "--max-decoder-steps",
            str(max_decoder_steps),
            "--griffin-lim-iters",
            str(griffin_lim_iters),
            "--seed",
            "1234",
            "--force",
            *(["--vocoder", vocoder] if vocoder else []),
            *VARIANT_FLAGS[variant],
        ],
    )
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
    report = (
        json.loads((wav_dir / "synthesis.json").read_text()) if (wav_dir / "synthesis.json").is_file() else {}
    )
    return {
        "step": step,
        "vocoder": vocoder or "griffin-lim",
        "variant": variant,
        "checkpoint": str(checkpoint),
        "wav_dir": str(wav_dir),
        "n_utterances": scores["counts"]["scored"],
        "reached_end": sum(bool(entry.get("stop_gate_fired")) for entry in report.values()),
        **{key: scores["aggregate"].get(key) for key in SCORE_KEYS},
    }


def elapsed_seconds(log_path: Path) -> dict[int, float]:
    """iteration -> seconds since the run's log started (resumed runs continue the count)."""
    seconds, offset, last = {}, 0.0, 0.0
    if not log_path.is_file():
        return seconds
    for line in log_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line.removeprefix("DLLL "))
        if record.get("step") == "PROVENANCE":  # a resumed run restarts its clock
            offset = last
        elapsed = offset + float(record.get("elapsedtime", 0.0))
        last = elapsed
        step = record.get("step")
        if isinstance(step, list) and len(step) == 2:
            seconds[step[1]] = elapsed
    return seconds


def alignment_by_epoch(log_path: Path) -> dict[int, float]:
    """epoch -> the validation alignment score logged at its end (infra.alignment_health)."""
    scores = {}
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line.removeprefix("DLLL "))
            step = record.get("step")
            if isinstance(step, list) and len(step) == 1 and "alignment_score" in record.get("data", {}):
                scores[step[0]] = record["data"]["alignment_score"]
    return scores


def number(value) -> float:
    return math.nan if value is None else float(value)


def plot_curve(points: list[dict], path: Path) -> None:
    """CER/WER against updates, CER against hours, MCD against updates."""
    from matplotlib.figure import Figure

    steps = [point["step"] for point in points]
    figure = Figure(figsize=(14, 4))
    rates, hours, mcd = figure.subplots(1, 3)
    for key, label in (
        ("cer_corpus_lm", "CER (corpus LM)"),
        ("wer_corpus_lm", "WER (corpus LM)"),
        ("cer_generic_lm", "CER (generic LM)"),
    ):
        rates.plot(steps, [number(point.get(key)) for point in points], marker="o", label=label)
    rates.axhline(0.10, color="grey", linestyle=":", label="target CER 0.10")
    rates.set(xlabel="training updates", ylabel="error rate", title="ASR error of synthesised test sentences")
    rates.legend()
    timed = [point for point in points if point.get("hours") is not None]
    hours.plot([p["hours"] for p in timed], [number(p.get("cer_corpus_lm")) for p in timed], marker="o")
    hours.axhline(0.10, color="grey", linestyle=":")
    hours.set(xlabel="wall-clock hours of training", ylabel="CER (corpus LM)", title="against time")
    mcd.plot(steps, [number(point.get("mcd_mean_db")) for point in points], marker="o", color="tab:green")
    mcd.set(xlabel="training updates", ylabel="MCD (dB)", title="Mel cepstral distortion")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
