"""Training-step and synthesis timing of Neural-HMM at the default size, by the project's protocol:
fixed synthetic batch (8 utterances x 80 tokens x 400 frames), fixed thread count, one warm-up, median.

    python -m neural_hmm.bench --threads 1 --steps 5 [--gradient-checkpointing] [--out bench.json]
        [--original NEURAL_HMM_CHECKOUT [--side-by-side]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python bench.py`): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from .hparams import HParams
from .infra import make_adam
from .losses import neural_hmm_loss
from .model import NeuralHMM
from .timing import time_synthesis


def synthetic_batch(hparams: HParams, batch_size: int, n_tokens: int, n_frames: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, hparams.n_symbols, (batch_size, n_tokens), generator=generator)
    text_lengths = torch.full((batch_size,), n_tokens, dtype=torch.long)
    mels = torch.randn(batch_size, hparams.n_mel_channels, n_frames, generator=generator)
    mel_lengths = torch.full((batch_size,), n_frames, dtype=torch.long)
    return text, text_lengths, mels, mel_lengths


def original_model(source: str, hparams: HParams):
    """The original `src.model.NeuralHMM.NeuralHMM` from a checkout of shivammehta25/Neural-HMM at `source`,
    wrapped to take our call signature (for timing only; nothing is copied from it)."""
    import sys
    from argparse import Namespace

    sys.path.insert(0, source)
    from src.model.NeuralHMM import NeuralHMM as OriginalNeuralHMM

    values = hparams.to_dict()
    values.update(
        go_token_init_value=torch.tensor(values["go_token_init_value"]),
        init_transition_probability=torch.tensor([values["init_transition_probability"]]),
        normaliser=None,
        logger=None,
    )
    model = OriginalNeuralHMM(Namespace(**values))

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, text, text_lengths, mels, mel_lengths, **_):
            log_probs = self.model((text, text_lengths, mels, int(text_lengths.max()), mel_lengths))
            return type("Output", (), {"log_probs": log_probs})

    return Wrapped()


def training_step_runner(model, args, original: bool = False):
    """A zero-argument callable doing one protocol training step of `model`; returns the loss. Each side
    uses its own train.py's optimiser: the original's torch.optim.Adam, ours the same Adam fused."""
    hparams = HParams()
    model = model.train()
    adam = torch.optim.Adam if original else make_adam
    optimiser = adam(model.parameters(), lr=hparams.learning_rate, weight_decay=hparams.weight_decay)
    batch = synthetic_batch(hparams, args.batch_size, args.tokens, args.frames)

    def step() -> float:
        optimiser.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            output = model(
                *batch, chunk_size=args.chunk_size, gradient_checkpointing=args.gradient_checkpointing
            )
            loss = neural_hmm_loss(output.log_probs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hparams.grad_clip_thresh)
        optimiser.step()
        return loss.item()

    return step


def time_training_steps(args) -> dict[str, list[float]]:
    """Seconds per step after one warm-up, per implementation. With --original and --side-by-side both
    run, alternating step by step so a change of load on a shared machine hits them alike."""
    hparams = HParams()
    if args.original and args.side_by_side:
        models = {"ours": NeuralHMM(hparams), "original": original_model(args.original, hparams)}
    elif args.original:
        models = {"original": original_model(args.original, hparams)}
    else:
        models = {"ours": NeuralHMM(hparams)}
    runners = {name: training_step_runner(model, args, name == "original") for name, model in models.items()}
    times = {name: [] for name in runners}
    for step in range(args.steps + 1):
        for name, run in runners.items():
            start = time.perf_counter()
            loss = run()
            elapsed = time.perf_counter() - start
            print(f"{name} step {step}: {elapsed:.2f} s, loss {loss:.1f}", flush=True)
            if step > 0:
                times[name].append(elapsed)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--chunk-size", type=int, default=32)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--bf16", action="store_true", help="CPU autocast to bfloat16 (the original trains with fp16 AMP)"
    )
    parser.add_argument("--synthesis-runs", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--original", help="time the original code instead: path of a Neural-HMM checkout")
    parser.add_argument(
        "--side-by-side", action="store_true", help="with --original: time ours and the original, alternating"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.side_by_side and not args.original:
        parser.error("--side-by-side needs --original NEURAL_HMM_CHECKOUT to compare with")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    results = {"threads": args.threads, "torch": torch.__version__, "config": vars(args)}
    if not args.skip_training:
        times = time_training_steps(args)
        for name, values in times.items():
            prefix = "" if len(times) == 1 else f"{name}_"
            results[f"{prefix}train_step_s_median"] = statistics.median(values)
            results[f"{prefix}train_step_s"] = values
        if len(times) == 2:
            results["speedup"] = statistics.median(times["original"]) / statistics.median(times["ours"])
    if args.synthesis_runs and not args.original:
        times = time_synthesis(NeuralHMM(HParams()).eval(), args.tokens, args.frames, args.synthesis_runs)
        results["synthesis_s_median"] = statistics.median(times)
        results["rtf"] = statistics.median(times) / (args.frames * 256 / 22050)
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
