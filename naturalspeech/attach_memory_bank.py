"""Attach the memory bank to a warm-up checkpoint, its slots initialised by k-means of posterior latents
(the original's attach_memory_bank.py, without its ~10 hours of scikit-learn on a CPU).

    python attach_memory_bank.py -c configs/ljs.json --weights_path logs/RUN/G_200.pth [--num_samples 500]

Reads the training list, samples the posterior z of every frame (eval mode, as the original), clusters
them into bank_size centres (`kmeans.py`: greedy k-means++ and Lloyd iterations on up to --max-frames
frames), and writes, beside the input, `G_<N>_with_memory.pth` (the model with `memory_bank.*`, the
optimizer with the bank's own parameter group, as the original) and `bank_init.pth` (the bank's state
dict). `train.py -c CONFIG -m RUN --resume` then continues from it. Only the posterior encoder runs, so
no durations are needed; utterances go through in batches (padding does not change the valid frames).
Differences: --num_samples S uses S utterances (the original S + 1); bank_size comes from the config (the
original hard-codes 1000 clusters); existing outputs are replaced only with --force.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from filelists.audio import AudioError
from filelists.parse import FilelistError

from . import checkpoints as ckpt
from .commons import Draws
from .config import config_with_overrides
from .data_utils import DataError, TextAudioDurationDataset, collate
from .infra import (
    CheckpointError,
    HelpFormatter,
    add_device_arguments,
    check_output_file,
    refuse_to_replace,
    resolve_device,
    run_main,
    save_atomic,
)
from .kmeans import inertia, kmeans
from .optimizers import make_adamw


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python attach_memory_bank.py",
        description=__doc__,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help="JSON config [the checkpoint's own; required for the original's files]",
    )
    parser.add_argument("--weights_path", "--weights-path", required=True, help="warm-up G_<N>.pth")
    parser.add_argument(
        "--num_samples",
        "--num-samples",
        type=int,
        default=0,
        help="utterances to collect latents from; 0 = the whole training list",
    )
    parser.add_argument("--training-files", default=None, help="filelist [the config's data.training_files]")
    parser.add_argument("--dataset-path", default=None, help="root of relative wav paths [the list's folder]")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=262_144,
        help="frames k-means is fitted on (a uniform sample of all collected)",
    )
    parser.add_argument("--iterations", type=int, default=50, help="Lloyd iterations at most")
    parser.add_argument("--batch-size", type=int, default=16, help="utterances per forward pass")
    parser.add_argument("-o", "--output", default=None, help="[<input>_with_memory.pth beside the input]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent samples and of k-means")
    parser.add_argument("--force", action="store_true", help="replace existing outputs (never the input)")
    add_device_arguments(parser)
    return parser


@torch.no_grad()
def collect_latents(net_g, dataset, num_samples: int, batch_size: int, device) -> torch.Tensor:
    """Posterior samples z of every valid frame, (N_frames, d), as the original collects them."""
    count = len(dataset) if num_samples <= 0 else min(num_samples, len(dataset))
    frames = []
    net_g.eval()
    for start in range(0, count, batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, count))]).to(device)
        z, _, _, mask = net_g.enc_q(batch.spec, batch.spec_lengths, draws=Draws())
        for row, length in enumerate(batch.spec_lengths.tolist()):
            frames.append(z[row, :, :length].T.float().cpu())
    return torch.cat(frames)


def attach(args: argparse.Namespace) -> Path:
    source = Path(args.weights_path)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}_with_memory.pth")
    bank_output = output.parent / "bank_init.pth"
    refuse_to_replace(output, source)
    check_output_file(output, args.force, "-o")
    check_output_file(bank_output, True, "bank_init.pth")  # a by-product, rewritten as the original does
    device = resolve_device(args.device)
    checkpoint = ckpt.read_checkpoint(source)
    if ckpt.has_memory_bank(checkpoint["model"]):
        raise CheckpointError(f"{source} already has a memory bank")
    config = ckpt.config_of(checkpoint, source, args.config)
    if args.training_files:
        config = config_with_overrides(config, [f'data.training_files="{args.training_files}"'])
    net_g = ckpt.build_generator(config, bank=False, device=device)
    ckpt.load_state_dict_checked(net_g, checkpoint["model"], str(source))
    optimizer = make_adamw(net_g.parameters(), config)
    if "optimizer" in checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])

    torch.manual_seed(args.seed)
    dataset = TextAudioDurationDataset(config.data.training_files, config.data, args.dataset_path)
    started = time.perf_counter()
    latents = collect_latents(net_g, dataset, args.num_samples, args.batch_size, device)
    collected = time.perf_counter()
    bank_size = config.models["memory_bank"]["bank_size"]
    if len(latents) < bank_size:
        raise DataError(
            f"{len(latents)} latent frames collected, fewer than bank_size {bank_size}: use more "
            "utterances (--num_samples)"
        )
    centres = kmeans(latents.to(device), bank_size, args.iterations, args.max_frames, seed=args.seed).cpu()
    fitted = latents[: args.max_frames]
    utterances = min(len(dataset), args.num_samples or len(dataset))
    print(
        f"{len(latents):,} frames from {utterances} utterances in {collected - started:.1f} s; k-means "
        f"({bank_size} clusters) in {time.perf_counter() - collected:.1f} s, inertia per frame "
        f"{inertia(fitted, centres) / len(fitted):.3f}",
        file=sys.stderr,
    )

    net_g.attach_memory_bank(init_values=centres.T.to(device))
    group = {"params": list(net_g.memory_bank.parameters())}
    if "initial_lr" in optimizer.param_groups[0]:
        group["initial_lr"] = optimizer.param_groups[0]["initial_lr"]
    optimizer.add_param_group(group)
    result = {
        "model": net_g.state_dict(),
        "iteration": checkpoint.get("iteration", 0),
        "optimizer": optimizer.state_dict(),
        "learning_rate": checkpoint.get("learning_rate", config.train.learning_rate),
        "config": config.to_dict(),
        "stage": "main",
    }
    for key in ("position", "scaler"):
        if key in checkpoint:
            result[key] = checkpoint[key]
    save_atomic(net_g.memory_bank.state_dict(), bank_output)
    save_atomic(result, output)
    print(f"wrote {output} and {bank_output}", file=sys.stderr)
    return output


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: attach(args), errors=(FilelistError, DataError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
