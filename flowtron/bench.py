"""Speed of Flowtron, side by side with the original on the same random weights.

    python bench.py --original-path /path/to/NVIDIA/flowtron --out bench.json     # default size
    python bench.py --tiny --out bench.json                                        # ours only, seconds

Protocol: one thread, a fixed synthetic input, `--warmup` calls of each, then `--repeats` interleaved
rounds (ours, original, ours, ...; fair on a shared machine), median. Inference: `--tokens` text ids to
`--frames` frames (gate off, so both run every frame), z ~ N(0, 0.5^2). Training step: forward, loss
(NLL + gate + CTC), backward and RAdam step on a batch of `--train-batch-size` utterances.

The original is imported from `--original-path` (a checkout of NVIDIA/flowtron; nothing of it is copied
here). Its code allocates CUDA tensors in three helpers; in this process only, `torch.cuda.FloatTensor`
and `torch.cuda.LongTensor` are pointed at CPU constructors so that it runs on a CPU, as the parity
fixtures' README describes. The weights are ours, loaded into the original with load_state_dict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from .config import ModelConfig
from .flowtron import Flowtron
from .infra import HelpFormatter, check_output_file, run_main
from .losses import FlowtronLoss

TINY = dict(n_speaker_dim=8, n_text_dim=16, n_attn_channels=16, n_hidden=16)


def interleaved(fns: dict, warmup: int, repeats: int) -> dict:
    """{name: {seconds (median), all_seconds, result}} of `repeats` rounds calling each fn in turn."""
    results = {name: None for name in fns}
    for name, fn in fns.items():
        for _ in range(warmup):
            results[name] = fn()
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            seconds[name].append(time.perf_counter() - start)
    return {
        name: {
            "seconds": statistics.median(s),
            "all_seconds": [round(x, 4) for x in s],
            "result": results[name],
        }
        for name, s in seconds.items()
    }


def import_original(path: str):
    """The original's `flowtron` module from a checkout, made to run on a CPU (see the docstring)."""
    if not (Path(path) / "flowtron.py").is_file():
        raise SystemExit(f"--original-path {path}: no flowtron.py there")
    torch.cuda.FloatTensor = lambda *size: torch.FloatTensor(*size)  # noqa: E731 - the original's CUDA allocations
    torch.cuda.LongTensor = lambda *size: torch.LongTensor(*size)
    saved = sys.modules.pop("flowtron", None)
    sys.path.insert(0, str(Path(path).resolve()))
    try:
        import flowtron as original  # the checkout's flowtron.py, not this package
    finally:
        sys.path.pop(0)
        sys.modules["original_flowtron"] = sys.modules.pop("flowtron")
        if saved is not None:
            sys.modules["flowtron"] = saved
    return original


def inputs(config: ModelConfig, tokens: int, frames: int, batch: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, config.n_text, (batch, tokens), generator=generator)
    mel = torch.randn(batch, config.n_mel_channels, frames, generator=generator) - 5
    lengths = torch.tensor([frames - 2 * b for b in range(batch)])
    mel = mel * (torch.arange(frames)[None, None] < lengths[:, None, None])
    gate = (torch.arange(frames)[None] >= lengths[:, None] - 1).float()
    in_lens = torch.full((batch,), tokens)
    prior = torch.rand(batch, frames, tokens, generator=generator)
    residual = torch.randn(1, config.n_mel_channels, frames, generator=generator) * 0.5
    return text, mel, lengths, gate, in_lens, prior, residual


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench.py", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--original-path", default=None, help="checkout of NVIDIA/flowtron to time beside ours"
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny model (for tests)")
    parser.add_argument("--tokens", type=int, default=80, help="text length")
    parser.add_argument("--frames", type=int, default=400, help="frames to infer; training-step frames: half")
    parser.add_argument("--train-batch-size", type=int, default=2, help="utterances per training step")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls of each first")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=None, help="JSON report")
    args = parser.parse_args(argv)

    def run() -> None:
        if args.out:
            check_output_file(args.out, force=True, flag="--out")
        torch.set_num_threads(args.threads)
        config = ModelConfig(**TINY) if args.tiny else ModelConfig()
        torch.manual_seed(0)
        ours = Flowtron(**asdict(config)).eval()
        with torch.no_grad():  # non-zero couplings, so that the flows are not the identity
            for flow in ours.flows:
                step = getattr(flow, "ar_step", flow)
                step.conv.weight.normal_(0, 0.01)
                step.conv.bias.normal_(0, 0.01)
        text, mel, lengths, gate, in_lens, prior, residual = inputs(
            config, args.tokens, args.frames // 2, args.train_batch_size, 0
        )
        _, _, _, _, _, _, residual = inputs(config, args.tokens, args.frames, 1, 1)
        models = {"ours": ours}
        if args.original_path:
            original = import_original(args.original_path).Flowtron(**asdict(config))
            original.load_state_dict(ours.state_dict())
            models["original"] = original.eval()
        speaker = torch.tensor([[0]])

        def infer(model):
            with torch.no_grad():
                out = model.infer(residual, speaker, text[:1], gate_threshold=2.0)
            return out[0]

        timing = interleaved(
            {name: (lambda m=m: infer(m)) for name, m in models.items()}, args.warmup, args.repeats
        )
        report = {
            "threads": args.threads,
            "model_config": asdict(config),
            "tokens": args.tokens,
            "frames": args.frames,
            "inference": {},
            "training_step": {},
        }
        for name, entry in timing.items():
            report["inference"][name] = {
                "seconds": entry["seconds"],
                "all_seconds": entry["all_seconds"],
                "frames_per_second": args.frames / entry["seconds"],
            }
        if "original" in timing:
            report["inference"]["speedup"] = timing["original"]["seconds"] / timing["ours"]["seconds"]
            report["inference"]["max_abs_mel_difference"] = float(
                (timing["ours"]["result"] - timing["original"]["result"]).abs().max()
            )

        criterion = FlowtronLoss(use_ctc_loss=True, ctc_loss_weight=0.01, blank_logprob=-8)
        original_loss = None
        if "original" in models:
            original_loss = sys.modules["original_flowtron"].FlowtronLoss(1.0, False, True, True, 0.01, -8)
        optimizers = {
            name: torch.optim.RAdam(m.parameters(), lr=1e-9, decoupled_weight_decay=True)
            for name, m in models.items()
        }
        speakers = torch.zeros(args.train_batch_size, dtype=torch.long)

        def step(name):
            model = models[name].train()
            optimizers[name].zero_grad()
            output = model(mel.clone(), speakers, text, in_lens, lengths, prior)
            if name == "ours":
                loss = criterion(output, gate, in_lens, lengths).total(0.01, True)
            else:
                nll, gate_loss, ctc = original_loss(tuple(output), gate, in_lens, lengths)
                loss = nll + gate_loss + 0.01 * ctc
            loss.backward()
            optimizers[name].step()
            return float(loss.detach())

        # The original's encoder zeroes padding in place, which makes backward fail with dropout at
        # p < 1 in eval; in train mode (dropout on) it works, and both run in train mode here.
        timing = interleaved({name: (lambda n=name: step(n)) for name in models}, args.warmup, args.repeats)
        for name, entry in timing.items():
            report["training_step"][name] = {"seconds": entry["seconds"], "all_seconds": entry["all_seconds"]}
        if "original" in timing:
            report["training_step"]["speedup"] = timing["original"]["seconds"] / timing["ours"]["seconds"]
        print(json.dumps(report, indent=1))
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
