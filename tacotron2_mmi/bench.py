"""Speed of Tacotron 2 + MMI under the project's benchmark protocol, side by side with the original.

    python bench.py [--original-path /path/to/bfs18/tacotron2] [--threads 1] [--tiny] [-o bench.json]

Measured, with the same random weights on both sides, one warm-up each, then the median of `--repeats`
rounds in which every candidate runs once in turn (a load change on a shared machine hits all alike).
Speed-ups are given twice: the ratio of the two medians, and the median over rounds of the ratio within
a round (the two sides ran back to back, so a load change between rounds cancels out of it).
* training steps at the default model size (31.9M parameters), batch `--train-batch-size` (8) x `--tokens`
  (80) symbols x `--frames` (400) frames, lr 1e-3, weight decay 1e-6, clip 1.0, fp32:
    plain     use_mmi=False, drop_frame_rate=0 (NVIDIA's Tacotron 2 with bfs18's output layers);
    mmi       MMI and drop frames, a batch on which the GAF is reused (9 batches in 10);
    mmi_gaf   a batch on which the GAF is renewed (1 in 10): the original runs two extra backward passes
              and then the usual one, ours two in all (gradient_adaptive_factor.py);
  and the mean MMI step, (9 mmi + mmi_gaf) / 10, against plain: the price of the method. Each variant
  runs in its own rounds against the original; `--overhead` instead runs each side's three variants in
  the same rounds, so that the overhead is a ratio within rounds too.
* batch-1 inference: one `--tokens`-symbol utterance forced to `--frames` frames (the gate never fires),
  prenet dropout on, as the original's `inference`.
The original is imported from `--original-path` (a checkout of bfs18/tacotron2; never part of this
repository) with two CPU patches applied from outside: its CUDA-only `get_mask_from_lengths`, and an
hparams object in place of TensorFlow's. Without it, only our side runs (`--tiny`: a smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import platform
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python bench.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_mmi"

from .gradient_adaptive_factor import GradientAdaptiveFactor, adaptive_loss, batchnorm_conv_biases
from .hparams import HParams
from .infra import Distributed, GuardedStep, Precision, atomic_write, make_adam
from .losses import Tacotron2MMILoss
from .model import Tacotron2

TINY = dict(
    symbols_embedding_dim=32,
    encoder_embedding_dim=32,
    attention_rnn_dim=32,
    attention_dim=16,
    attention_location_n_filters=4,
    attention_location_kernel_size=7,
    decoder_rnn_dim=32,
    prenet_dim=16,
    postnet_embedding_dim=32,
)
VARIANTS = {"plain": dict(use_mmi=False, drop_frame_rate=0.0), "mmi": {}, "mmi_gaf": {}}


def interleaved(fns: dict, warmup: int, repeats: int) -> dict:
    """`warmup` calls of each, then `repeats` rounds calling each once in turn -> {name: median seconds,
    all seconds}."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - started)
    return {
        name: {"seconds": statistics.median(s), "all_seconds": [round(x, 4) for x in s]}
        for name, s in seconds.items()
    }


def training_runner(side: str, variant: str, hparams: HParams, state_dict, mean, batch: dict, modules):
    """One training step of `side` ("ours" or "original") in `variant` (a key of VARIANTS), as a callable."""
    variant_hparams = hparams.replace(**VARIANTS[variant])
    torch.manual_seed(2)
    if side == "ours":
        model = build_ours(variant_hparams, state_dict, mean)
        return our_training_step(model, batch, variant == "mmi_gaf")
    model = build_original(modules, variant_hparams, state_dict, mean)
    return original_training_step(modules, model, batch, variant == "mmi_gaf")


def paired_speedup(original: dict, ours: dict) -> float:
    """Median over rounds of original seconds / our seconds within the same round."""
    return statistics.median(o / u for o, u in zip(original["all_seconds"], ours["all_seconds"]))


def mean_of_10(mmi: dict, mmi_gaf: dict) -> dict:
    """The mean step of an MMI run, 9 batches reusing the GAF and 1 renewing it, per round and median."""
    rounds = [(9 * m + g) / 10 for m, g in zip(mmi["all_seconds"], mmi_gaf["all_seconds"])]
    return {"seconds": (9 * mmi["seconds"] + mmi_gaf["seconds"]) / 10, "all_seconds": rounds}


def synthetic_batch(hparams: HParams, args) -> dict:
    """Text (B, tokens), mel (B, n_mel, frames), stop targets, CTC targets (the letters of the text)."""
    generator = torch.Generator().manual_seed(1)
    size = args.train_batch_size
    text = torch.randint(38, 64, (size, args.tokens), generator=generator)  # a-z, all in the CTC alphabet
    mel = torch.randn(size, hparams.n_mel_channels, args.frames, generator=generator) - 5
    gate = torch.zeros(size, args.frames)
    gate[:, -1] = 1
    ctc = text - 11  # the same letters in the CTC alphabet (no '-' and punctuation before them there)
    lengths = torch.full((size,), args.tokens, dtype=torch.long)
    return dict(
        text=text,
        input_lengths=lengths,
        mel=mel,
        gate=gate,
        output_lengths=torch.full((size,), args.frames, dtype=torch.long),
        ctc=ctc,
        ctc_lengths=lengths,
    )


def build_ours(hparams: HParams, state_dict: dict, mean: torch.Tensor) -> Tacotron2:
    model = Tacotron2(hparams)
    model.load_state_dict({k: v for k, v in state_dict.items() if k in model.state_dict()}, strict=True)
    model.set_global_mean(mean)
    return model.train()


def our_training_step(model: Tacotron2, batch: dict, gaf_due: bool):
    """train.py's step: forward (drop frames), both losses, the GAF when due, guarded backward, clip, Adam."""
    optimizer = make_adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    precision = Precision(torch.device("cpu"), False)
    guard = GuardedStep(model, optimizer, precision, 1.0)
    gaf = GradientAdaptiveFactor(0.5, 10, batchnorm_conv_biases(model), value=0.5)
    criterion, ddp = Tacotron2MMILoss(), Distributed(0, 0, 1, torch.device("cpu"))
    fields = types.SimpleNamespace(
        mel_padded=batch["mel"],
        gate_padded=batch["gate"],
        ctc_text_padded=batch["ctc"],
        ctc_text_lengths=batch["ctc_lengths"],
        output_lengths=batch["output_lengths"],
    )

    def step():
        guard.snapshot()
        outputs = model(batch["text"], batch["input_lengths"], batch["mel"], batch["output_lengths"])
        taco, mi = criterion(outputs, fields)
        total = taco.taco_loss if mi is None else taco.taco_loss + gaf.current * mi.mi_loss
        loss = total
        if mi is not None and gaf_due:
            loss = adaptive_loss(gaf, model, taco.taco_loss, mi.mi_loss, precision.scaler, ddp)
        return guard.step(loss, float(total.detach()))

    return step


def import_original(path: str):
    """The original's modules, with its CUDA-only mask function replaced (it allocates torch.cuda tensors)."""
    root = Path(path).resolve()
    if not (root / "gradient_adaptive_factor.py").is_file():
        raise SystemExit(f"--original-path {root}: expected a checkout of bfs18/tacotron2")
    sys.path.insert(0, str(root))
    modules = {
        name: importlib.import_module(name)
        for name in ("utils", "model", "loss_function", "gradient_adaptive_factor")
    }

    def get_mask_from_lengths(lengths):
        return torch.arange(int(lengths.max()), device=lengths.device) < lengths.unsqueeze(1)

    modules["utils"].get_mask_from_lengths = modules["model"].get_mask_from_lengths = get_mask_from_lengths
    return modules


def original_hparams(hparams: HParams, mean: torch.Tensor) -> types.SimpleNamespace:
    return types.SimpleNamespace(**hparams.to_dict(), global_mean=mean)


def build_original(modules, hparams: HParams, state_dict: dict, mean: torch.Tensor):
    model = modules["model"].Tacotron2(original_hparams(hparams, mean))
    model.load_state_dict({k: v for k, v in state_dict.items() if k in model.state_dict()}, strict=True)
    return model.train()


def original_training_step(modules, model, batch: dict, gaf_due: bool, max_gaf: float = 0.5):
    """The body of the original train.py's loop for one batch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    criterion = modules["loss_function"].Tacotron2Loss()
    gaf_module = modules["gradient_adaptive_factor"]
    raw = (
        batch["text"],
        batch["input_lengths"],
        batch["mel"],
        batch["gate"],
        batch["output_lengths"],
        batch["ctc"],
        batch["ctc_lengths"],
    )

    def step():
        model.zero_grad()
        x, y = model.parse_batch(raw)
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if model.mi is not None:
            mi_loss = model.mi(y_pred[0].transpose(2, 1), x[-2], x[4], x[-1])
            gaf = max_gaf
            if gaf_due:
                safe_loss = 0.0 * sum(p.sum() for p in model.parameters())
                gaf = gaf_module.calc_grad_adapt_factor(
                    loss + safe_loss, mi_loss + safe_loss, model.parameters(), optimizer
                )
                gaf = min(gaf, max_gaf)
            loss = loss + gaf * mi_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def inference_runner(model, text: torch.Tensor, frames: int, original: bool):
    model = model.eval()

    def run():
        with torch.inference_mode():
            if original:
                model.decoder.max_decoder_steps, model.decoder.gate_threshold = frames, 1.0
                with contextlib.redirect_stdout(io.StringIO()):  # its "Reached max decoder steps" print
                    return model.inference(text)[1]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Tacotron2: reached max_decoder_steps")
                return model.infer(text, max_decoder_steps=frames, gate_threshold=1.0).mel_outputs_postnet

    return run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--original-path", help="checkout of bfs18/tacotron2 to time as well")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (protocol: 1)")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny random model (a smoke test, not a benchmark)"
    )
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--train-batch-size", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-train", dest="train", action="store_false", help="skip the training steps")
    parser.add_argument("--no-infer", dest="infer", action="store_false", help="skip inference")
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="time each side's plain, mmi and mmi_gaf steps in the same rounds (the MMI overhead)",
    )
    parser.add_argument("-o", "--output", help="JSON file to write (default: print only)")
    parser.add_argument("--force", action="store_true", help="replace an existing --output file")
    args = parser.parse_args(argv)
    if args.output and Path(args.output).exists() and not args.force:
        parser.error(f"--output {args.output}: exists (use --force to replace it)")
    return args


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    hparams = HParams(**(TINY if args.tiny else {}))
    torch.manual_seed(0)
    state_dict = Tacotron2(hparams).state_dict()
    mean = torch.linspace(-7.0, -3.0, hparams.n_mel_channels)
    modules = import_original(args.original_path) if args.original_path else None
    report = {
        "protocol": "same weights, 1 warm-up, median of interleaved rounds",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "tiny": args.tiny,
        "load_average_start": list(os.getloadavg()),
        "parameters": sum(v.numel() for v in state_dict.values()),
        "train_batch": [args.train_batch_size, args.tokens, args.frames],
    }
    if args.train:
        batch = synthetic_batch(hparams, args)
        section = {}
        sides = ["ours"] if modules is None else ["ours", "original"]
        # Sessions of interleaved rounds: one per variant (ours against the original), or with --overhead
        # one per side (its three variants against each other).
        sessions = [[(side, variant) for side in sides] for variant in VARIANTS]
        if args.overhead:
            sessions = [[(side, variant) for variant in VARIANTS] for side in sides]
        for session in sessions:
            runners = {
                f"{side}_{variant}": training_runner(side, variant, hparams, state_dict, mean, batch, modules)
                for side, variant in session
            }
            timings = interleaved(runners, args.warmup, args.repeats)
            section.update(timings)
            print(json.dumps(timings), flush=True)
            del runners  # free the models before the next session
        for side in sides:
            mean_mmi = mean_of_10(section[f"{side}_mmi"], section[f"{side}_mmi_gaf"])
            section[f"{side}_mmi_mean_of_10"] = mean_mmi
            plain = section[f"{side}_plain"]
            section[f"{side}_mmi_overhead_vs_plain"] = mean_mmi["seconds"] / plain["seconds"] - 1
            if args.overhead:  # the three variants ran in the same rounds: the overhead round by round
                section[f"{side}_mmi_overhead_vs_plain_paired"] = (
                    statistics.median(m / p for m, p in zip(mean_mmi["all_seconds"], plain["all_seconds"]))
                    - 1
                )
        report["training_step"] = section
    if args.infer:
        torch.manual_seed(3)
        text = torch.randint(
            1, hparams.n_symbols, (1, args.tokens), generator=torch.Generator().manual_seed(4)
        )
        runners = {"ours": inference_runner(build_ours(hparams, state_dict, mean), text, args.frames, False)}
        if modules is not None:
            runners["original"] = inference_runner(
                build_original(modules, hparams, state_dict, mean), text, args.frames, True
            )
        timings = interleaved(runners, args.warmup, args.repeats)
        for timing in timings.values():
            timing["frames_per_sec"] = args.frames / timing["seconds"]
        report["inference_batch1"] = timings
        print(json.dumps({"inference_batch1": timings}), flush=True)
    if modules is not None:
        pairs = {}
        steps = report.get("training_step", {})
        for key, entry in steps.items():
            other = steps.get(key.replace("ours_", "original_"))
            if key.startswith("ours_") and isinstance(entry, dict) and other is not None:
                pairs[f"training_{key[5:]}"] = (other, entry)
        if "inference_batch1" in report:
            pairs["inference_batch1"] = (
                report["inference_batch1"]["original"],
                report["inference_batch1"]["ours"],
            )
        report["speedup_vs_original"] = {name: o["seconds"] / u["seconds"] for name, (o, u) in pairs.items()}
        # Rounds pair up only within a session: with --overhead, ours and the original ran in separate ones.
        report["speedup_vs_original_paired"] = {
            name: paired_speedup(o, u)
            for name, (o, u) in pairs.items()
            if not (args.overhead and name.startswith("training_"))
        }
        for key in ("speedup_vs_original", "speedup_vs_original_paired"):
            print(json.dumps({f"{key} (original seconds / ours)": report[key]}, indent=1))
    report["load_average_end"] = list(os.getloadavg())
    if args.output:
        text = json.dumps(report, indent=1) + "\n"
        atomic_write(args.output, lambda stream: stream.write(text.encode()))
    return report


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
