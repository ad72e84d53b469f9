"""Turn training logs into the tables of NGC's README "Training accuracy" and "Training performance".

    python -m tacotron2_waveglow_ngc.reproduce --tacotron2-log output/nvlog.json \\
        --waveglow-log output_wg/nvlog.json [--out reproduction.md]

Reads the JSON-lines logs that `train.py --log-file` writes (one record per line; DLLogger's
`DLLL ` prefix is accepted too, so logs of the original DeepLearningExamples code work as well) and
prints Markdown: the loss at epochs 1/250/500/750/1000 next to NGC's published numbers, and the
training throughput (mel frames/s for Tacotron 2, audio samples/s for WaveGlow) with the GPU count.
"""

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (`python reproduce.py`): resolve the relative imports below against this folder's
    # package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .infra import UserError, atomic_write, check_output_file, read_log, run_main

REPORTED_EPOCHS = (1, 250, 500, 750, 1000)

# NGC README, "Training accuracy" (loss at epochs 1/250/500/750/1000) and "Training performance"
# (items/s at 1/4/8 GPUs), as published in the NGC README of the DLE Tacotron 2 + WaveGlow model.
PUBLISHED_LOSS = {
    "Tacotron2": {
        "DGX A100, AMP": (3.82, 0.56, 0.42, 0.38, 0.35),
        "DGX A100, TF32": (3.50, 0.54, 0.41, 0.37, 0.35),
        "DGX-1 V100, AMP": (13.0732, 0.5736, 0.4408, 0.3923, 0.3735),
        "DGX-1 V100, FP32": (8.5776, 0.4807, 0.3875, 0.3421, 0.3308),
    },
    "WaveGlow": {
        "DGX A100, AMP": (-3.31, -5.72, -5.87, -5.94, -5.99),
        "DGX-1 V100, AMP": (-2.2054, -5.7602, -5.901, -5.9706, -6.0258),
        "DGX-1 V100, FP32": (-3.0327, -5.858, -6.0056, -6.0613, -6.1087),
    },
}
PUBLISHED_THROUGHPUT = {
    "Tacotron2": {
        "A100, AMP, bs128": (26484, 107482, 209186),
        "A100, TF32, bs128": (31499, 124591, 250556),
        "V100, AMP, bs104": (15891, 53417, 115032),
        "V100, FP32, bs48": (9174, 32035, 58703),
    },
    "WaveGlow": {
        "A100, AMP, bs10": (149479, 532363, 905043),
        "A100, TF32, bs4": (67581, 233846, 383043),
        "V100, AMP, bs10": (105873, 364471, 690909),
        "V100, FP32, bs4": (33761, 118254, 222794),
    },
}


def summarise(records: list[dict]) -> dict:
    """Per-epoch train loss and throughput, the world size and the model name of one training log."""
    epoch_loss, epoch_throughput, parameters = {}, {}, {}
    for record in records:
        step, data = record.get("step"), record.get("data", {})
        if step == "PARAMETER":
            parameters.update(data)
        elif isinstance(step, list) and len(step) == 1:
            epoch = int(step[0])
            if "train_loss" in data:
                epoch_loss[epoch] = float(data["train_loss"])
            throughput = data.get("train_epoch_items/sec", data.get("train_items_per_sec"))
            if throughput is not None:
                epoch_throughput[epoch] = float(throughput)
    model = str(parameters.get("model_name", parameters.get("model-name", "?"))).removesuffix("_PyT")
    return {
        "model": model,
        "world_size": int(parameters.get("world_size", 1) or 1),
        "amp": bool(parameters.get("amp", False)),
        "batch_size": parameters.get("batch_size"),
        "epoch_loss": epoch_loss,
        "epoch_throughput": epoch_throughput,
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def loss_table(model: str, summary: dict | None) -> str:
    header = "| run | " + " | ".join(f"epoch {epoch}" for epoch in REPORTED_EPOCHS) + " |"
    lines = [header, "|---|" + "---:|" * len(REPORTED_EPOCHS)]
    for run, losses in PUBLISHED_LOSS[model].items():
        lines.append(f"| NGC, {run} | " + " | ".join(str(value) for value in losses) + " |")
    if summary is not None:
        # NGC counts epochs from 1 in its README; train.py logs them from 0.
        ours = [summary["epoch_loss"].get(epoch - 1) for epoch in REPORTED_EPOCHS]
        precision = "AMP" if summary["amp"] else "FP32"
        lines.append(f"| ours, {precision} | " + " | ".join(_cell(value) for value in ours) + " |")
    return "\n".join(lines)


def throughput_table(model: str, summary: dict | None) -> str:
    unit = "mel frames/s" if model == "Tacotron2" else "audio samples/s"
    lines = [f"| run ({unit}) | 1 GPU | 4 GPUs | 8 GPUs |", "|---|---:|---:|---:|"]
    for run, values in PUBLISHED_THROUGHPUT[model].items():
        lines.append(f"| NGC, {run} | " + " | ".join(f"{value:,}" for value in values) + " |")
    if summary is not None and summary["epoch_throughput"]:
        median = statistics.median(summary["epoch_throughput"].values())
        cells = ["–", "–", "–"]
        column = {1: 0, 4: 1, 8: 2}.get(summary["world_size"])
        label = f"ours, {summary['world_size']} process(es), bs{summary['batch_size']}"
        if column is None:
            label += f" ({median:,.0f})"
        else:
            cells[column] = f"{median:,.0f}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(logs: dict[str, Path | None]) -> str:
    sections = []
    for model in ("Tacotron2", "WaveGlow"):
        summary = summarise(read_log(logs[model])) if logs.get(model) else None
        if summary is not None and summary["model"] not in ("?", model):
            raise UserError(f"{logs[model]} is a {summary['model']} log, given as {model}")
        sections += [
            f"### {model}: training loss",
            loss_table(model, summary),
            f"### {model}: training throughput (median over epochs)",
            throughput_table(model, summary),
        ]
    return "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tacotron2-log", type=Path, help="train.py --log-file of a Tacotron 2 run")
    parser.add_argument("--waveglow-log", type=Path, help="train.py --log-file of a WaveGlow run")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    for path in (args.tacotron2_log, args.waveglow_log):
        if path is not None and not path.is_file():
            parser.error(f"log file not found: {path}")

    def write_report() -> None:
        if args.out:
            check_output_file(args.out, args.force, "--out")
        markdown = report({"Tacotron2": args.tacotron2_log, "WaveGlow": args.waveglow_log})
        print(markdown)
        if args.out:
            atomic_write(args.out, lambda stream: stream.write(markdown.encode("utf-8")))

    return run_main(write_report)


if __name__ == "__main__":
    sys.exit(main())
