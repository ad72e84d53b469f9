"""Speed of Tacotron 2 + WaveGlow under the project's benchmark protocol; prints and writes JSON.

    python -m tacotron2_waveglow_ngc.bench [--threads 1] [--device cpu] [--tacotron2 CKPT] [--waveglow CKPT]
        [--variants fp32,bf16,int8] [--original-path DLE/PyTorch/SpeechSynthesis/Tacotron2] [--no-train]
        [--tiny] [-o bench.json]

Measured (one warm-up each, then the median of `--repeats` (`--train-repeats` for training steps) rounds
in which every candidate (our variants and the original) runs once in turn, so a load change on
this shared machine hits them alike):
* Tacotron 2 inference: one 80-token utterance forced to exactly 400 frames (early stopping off) at
  batch 1 (and `--infer-batch-size` if > 1) -> seconds, input tokens/s, frames/s, RTF of the mel alone.
* WaveGlow inference: mel (1, 80, `--waveglow-frames` = 100) -> 25,600 samples, weight norm removed,
  sigma 0.6 -> samples/s; the denoiser (strength 0.01) is timed separately.
* End to end: RTF = Tacotron 2 RTF + 22050 / (WaveGlow samples/s) [+ same for the denoiser]; lower is faster.
* Training steps (fp32): zero_grad, forward, loss, backward, clip_grad_norm_, Adam step (each side's
  train.py optimizer: DLE's `torch.optim.Adam`, ours `infra.make_adam`, the same Adam fused). Tacotron 2:
  8 utterances × 80 tokens × 400 frames, lr 1e-3, weight decay 1e-6, clip 1.0 (DLE recipe); WaveGlow:
  4 segments × `--segment-length` samples, lr 1e-4, no weight decay, clip at float max (DLE
  `train_waveglow.sh`, which uses 8000-sample segments; the default here is 2000 because a 4 × 8000 step
  keeps ~10 GB of activations per model on a CPU, and ours and the original are both resident).

Random weights unless checkpoints are given; WaveGlow's zero-initialised `end` convs get small random
values so the couplings are not the identity (this does not change the work). Inference variants of ours
(`--variants`): `fp32` (the default, faithful path), `bf16` (Tacotron 2 under CPU bf16 / CUDA fp16
autocast; WaveGlow with half-precision packed couplings, `fast_inference.PackedWN`), `int8` (the
Tacotron 2 decoder LSTMCells with int8 weights, `fast_inference.Int8LSTMCell`; WaveGlow stays fp32),
see `fast_inference.py`;
each variant's quality is reported against fp32 on the same input (Tacotron 2: prenet dropout off, mel
max/RMS error; WaveGlow: same noise, SNR in dB).
`--original-path` times NVIDIA DeepLearningExamples' own classes (a checkout the user provides) in
the same harness with the same weights.
"""

import argparse
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    # Run as a file (`python bench.py`, as in DLE): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .config import Tacotron2Config, WaveGlowConfig
from .denoiser import Denoiser
from .fast_inference import VARIANTS, prepare_tacotron2, prepare_waveglow, variant_context
from .infra import make_adam
from .losses import Tacotron2Loss, WaveGlowLoss
from .tacotron2_checkpoints import load_tacotron2
from .tacotron2_model import Tacotron2
from .waveglow_checkpoints import load_waveglow
from .waveglow_model import WaveGlow

SAMPLING_RATE = 22050
HOP_LENGTH = 256
TINY_TACOTRON2 = dict(
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
TINY_WAVEGLOW = dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2)
TINY_WN = dict(n_layers=2, n_channels=16, kernel_size=3)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict, device: torch.device, warmup: int, repeats: int) -> dict:
    """Time several callables fairly on a shared machine: `warmup` calls of each, then `repeats` rounds
    calling each once in turn. -> {name: {seconds (median), all_seconds, result (of the last call)}}."""
    results = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            results[name] = fn()
    _sync(device)
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            _sync(device)
            seconds[name].append(time.perf_counter() - start)
    return {
        name: {
            "seconds": statistics.median(seconds[name]),
            "all_seconds": [round(s, 4) for s in seconds[name]],
            "result": results[name],
        }
        for name in fns
    }


# ---------------------------------------------------------------------------------------------------
# Models and inputs


def build_models(args, device: torch.device) -> tuple[Tacotron2, WaveGlow]:
    torch.manual_seed(args.seed)
    if args.tacotron2:
        tacotron2, _ = load_tacotron2(args.tacotron2, map_location=device)
    else:
        tacotron2 = Tacotron2(Tacotron2Config(**(TINY_TACOTRON2 if args.tiny else {}))).to(device)
    if args.waveglow:
        waveglow = load_waveglow(args.waveglow, map_location=device)
    else:
        kwargs = dict(**TINY_WAVEGLOW, WN_config=TINY_WN) if args.tiny else WaveGlowConfig().to_dict()
        waveglow = WaveGlow(**kwargs).to(device)
        with torch.no_grad():
            for wn in waveglow.WN:
                wn.end.weight.normal_(0.0, 0.01)
                wn.end.bias.normal_(0.0, 0.01)
    return tacotron2.eval(), waveglow.eval()


def synthetic_text(n_symbols: int, batch_size: int, n_tokens: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(1, n_symbols, (batch_size, n_tokens), generator=generator).to(device)


def synthetic_mel(n_mel: int, n_frames: int, device: torch.device) -> torch.Tensor:
    return torch.randn(1, n_mel, n_frames, generator=torch.Generator().manual_seed(2)).to(device)


def waveglow_kwargs_of(waveglow: WaveGlow) -> dict:
    return dict(
        n_mel_channels=waveglow.n_mel_channels,
        n_flows=waveglow.n_flows,
        n_group=waveglow.n_group,
        n_early_every=waveglow.n_early_every,
        n_early_size=waveglow.n_early_size,
        WN_config=dict(
            n_layers=waveglow.WN[0].n_layers,
            n_channels=waveglow.WN[0].n_channels,
            kernel_size=waveglow.WN[0].in_layers[0].kernel_size[0],
        ),
    )


# ---------------------------------------------------------------------------------------------------
# Runners: each returns a zero-argument callable for `interleaved`


def tacotron2_runner(model, args, device, batch_size: int, variant: str):
    text = synthetic_text(model.config.n_symbols, batch_size, args.tokens, device)
    lengths = (
        torch.full((batch_size,), args.tokens, dtype=torch.long, device=device) if batch_size > 1 else None
    )
    prepared = prepare_tacotron2(model, variant)

    def run():
        with torch.inference_mode(), variant_context(variant, device):
            return prepared.infer(text, lengths, max_decoder_steps=args.frames, early_stopping=False)[0]

    return run


def original_tacotron2_runner(model, args, device):
    """DLE `Tacotron2.infer(inputs, input_lengths)` forced to `args.frames` steps."""
    model.decoder.max_decoder_steps = args.frames
    model.decoder.early_stopping = False
    text = synthetic_text(model.embedding.num_embeddings, 1, args.tokens, device)
    lengths = torch.full((1,), args.tokens, dtype=torch.long, device=device)

    def run():
        with torch.inference_mode():
            return model.infer(text, lengths)[0]

    return run


def waveglow_runner(waveglow, args, device, variant: str = "fp32", original: bool = False):
    mel = synthetic_mel(waveglow.upsample.in_channels, args.waveglow_frames, device)
    prepared = waveglow if original else prepare_waveglow(waveglow, variant)

    def run():
        # The bf16 WaveGlow holds its own precision (`PackedWN`): no autocast.
        with torch.inference_mode():
            return prepared.infer(mel, sigma=0.6)

    return run


def tacotron2_training_runner(model, args, device, original: bool = False):
    """DLE step at batch 8 × 80 tokens × 400 frames (fp32): Adam lr 1e-3, weight decay 1e-6, clip 1.0."""
    model = model.to(device).train()
    batch, n_tokens, n_frames = args.train_batch_size, args.tokens, args.frames
    text = synthetic_text(model.embedding.num_embeddings, batch, n_tokens, device)
    input_lengths = torch.full((batch,), n_tokens, dtype=torch.long, device=device)
    mel = torch.randn(
        batch, model.decoder.n_mel_channels, n_frames, generator=torch.Generator().manual_seed(4)
    )
    mel = mel.to(device)
    gate = torch.zeros(batch, n_frames, device=device)
    gate[:, -1] = 1
    output_lengths = torch.full((batch,), n_frames, dtype=torch.long, device=device)
    # Each side's own train.py optimizer: DLE's torch.optim.Adam, ours the same Adam fused.
    adam = torch.optim.Adam if original else make_adam
    optimizer = adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    if original:
        loss_fn = importlib.import_module("tacotron2.loss_function").Tacotron2Loss()

        def forward_loss():
            return loss_fn(model((text, input_lengths, mel, n_frames, output_lengths)), (mel, gate))
    else:
        loss_fn = Tacotron2Loss()

        def forward_loss():
            return loss_fn(model(text, input_lengths, mel, output_lengths), mel, gate).total

    def step():
        optimizer.zero_grad()
        loss = forward_loss()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(loss.detach())

    return step


def waveglow_training_runner(model, args, device, original: bool = False):
    """DLE `train_waveglow.sh` step: 4 segments (fp32), Adam lr 1e-4, clip at float max."""
    model = model.to(device).train()
    batch, segment = 4, args.segment_length
    generator = torch.Generator().manual_seed(5)
    audio = (torch.rand(batch, segment, generator=generator) * 2 - 1).to(device)
    mel = torch.randn(batch, model.upsample.in_channels, segment // HOP_LENGTH + 1, generator=generator).to(
        device
    )
    # Each side's own train.py optimizer: DLE's torch.optim.Adam, ours the same Adam fused.
    adam = torch.optim.Adam if original else make_adam
    optimizer = adam(model.parameters(), lr=1e-4, weight_decay=0.0)
    if original:
        loss_fn = importlib.import_module("waveglow.loss_function").WaveGlowLoss(1.0)

        def forward_loss():
            return loss_fn(model((mel, audio)), audio)
    else:
        loss_fn = WaveGlowLoss(1.0)

        def forward_loss():
            return loss_fn(model(mel, audio))

    def step():
        optimizer.zero_grad()
        loss = forward_loss()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), torch.finfo(torch.float32).max)
        optimizer.step()
        return float(loss.detach())

    return step


def tacotron2_quality(model, args, device, variant: str) -> dict:
    """Mel of `variant` vs fp32, same text, prenet dropout off, 400 frames forced."""
    text = synthetic_text(model.config.n_symbols, 1, args.tokens, device)
    dropout = model.decoder.prenet.dropout
    model.decoder.prenet.dropout = 0.0
    try:
        with torch.inference_mode():
            reference = model.infer(
                text, max_decoder_steps=args.frames, early_stopping=False
            ).mel_outputs_postnet
            prepared = prepare_tacotron2(model, variant)
            prepared.decoder.prenet.dropout = 0.0
            with variant_context(variant, device):
                mel = prepared.infer(
                    text, max_decoder_steps=args.frames, early_stopping=False
                ).mel_outputs_postnet
    finally:
        model.decoder.prenet.dropout = dropout
    error = mel.float() - reference
    first_100 = error[:, :, :100]
    return {
        "mel_max_abs_error": float(error.abs().max()),
        "mel_rms_error": float(error.pow(2).mean().sqrt()),
        "mel_rms_error_first_100_frames": float(first_100.pow(2).mean().sqrt()),
        "mel_reference_std": float(reference.std()),
    }


def waveglow_quality(waveglow, args, device, variant: str) -> dict:
    """SNR (dB) of `variant` audio vs fp32 audio for the same mel and the same noise (sigma 0.6)."""
    mel = torch.randn(
        1, waveglow.n_mel_channels, args.waveglow_frames, generator=torch.Generator().manual_seed(2)
    ).to(device)
    with torch.inference_mode():
        torch.manual_seed(3)
        reference = waveglow.infer(mel, sigma=0.6)
        prepared = prepare_waveglow(waveglow, variant)
        torch.manual_seed(3)
        audio = prepared.infer(mel, sigma=0.6).float()
    noise = (audio - reference).pow(2).sum()
    snr = 10 * math.log10(float(reference.pow(2).sum()) / max(float(noise), 1e-30))
    return {"snr_db": snr, "max_abs_error": float((audio - reference).abs().max())}


# ---------------------------------------------------------------------------------------------------
# The original (DLE) with the same weights


def import_original(path: str):
    """(Tacotron2 class, WaveGlow class) from a DLE `PyTorch/SpeechSynthesis/Tacotron2` checkout."""
    root = Path(path).resolve()
    if not (root / "tacotron2" / "model.py").is_file():
        raise SystemExit(f"--original-path {root}: expected DLE's PyTorch/SpeechSynthesis/Tacotron2 folder")
    sys.path.insert(0, str(root))
    return (
        importlib.import_module("tacotron2.model").Tacotron2,
        importlib.import_module("waveglow.model").WaveGlow,
    )


def original_models(args, tacotron2: Tacotron2, waveglow: WaveGlow):
    """DLE models built by their constructors, loaded with our weights; WaveGlow's weight norm removed."""
    tacotron2_cls, waveglow_cls = import_original(args.original_path)
    config = tacotron2.config.to_dict()
    for key in ("prenet_dropout", "prenet_always_dropout"):
        config.pop(key)

    def make_tacotron2():
        return tacotron2_cls(**config)

    def make_waveglow():
        return waveglow_cls(**waveglow_kwargs_of(waveglow))

    original_t2 = make_tacotron2()
    original_t2.load_state_dict(tacotron2.state_dict())
    original_wg = make_waveglow()
    original_wg.load_state_dict(waveglow.state_dict())
    original_wg = original_wg.remove_weightnorm(original_wg)
    return original_t2.eval(), original_wg.eval(), make_tacotron2, make_waveglow


# ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (protocol: 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tacotron2", help="Tacotron 2 checkpoint (default: random weights)")
    parser.add_argument("--waveglow", help="WaveGlow checkpoint (default: random weights)")
    parser.add_argument(
        "--variants", default="fp32", help=f"comma-separated inference variants of {VARIANTS}"
    )
    parser.add_argument("--infer-batch-size", type=int, default=1, help="also time Tacotron 2 at this batch")
    parser.add_argument(
        "--original-path", help="DLE PyTorch/SpeechSynthesis/Tacotron2 checkout to time as well"
    )
    parser.add_argument("--no-train", dest="train", action="store_false", help="skip the training steps")
    parser.add_argument("--no-infer", dest="infer", action="store_false", help="skip inference")
    parser.add_argument("--no-tacotron2-infer", dest="tacotron2_infer", action="store_false")
    parser.add_argument("--no-waveglow-infer", dest="waveglow_infer", action="store_false")
    parser.add_argument(
        "--waveglow-frames",
        type=int,
        default=100,
        help="mel frames for WaveGlow inference (100 = 1.16 s of audio; samples/s hardly depends on it; a "
        "400-frame pass takes minutes on one CPU thread)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="tiny random models (a smoke test, not a benchmark)"
    )
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--train-batch-size", type=int, default=8)
    parser.add_argument(
        "--segment-length", type=int, default=2000, help="WaveGlow training samples per segment (DLE: 8000)"
    )
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="JSON file to write (default: print only)")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {VARIANTS}")
    return args


def _summary(timing: dict, **extra) -> dict:
    return {"seconds": timing["seconds"], "all_seconds": timing["all_seconds"], **extra}


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    tacotron2, waveglow = build_models(args, device)
    # Inference runs with weight norm removed (as DLE's inference.py); keep `waveglow` unfolded for the
    # original and for training.
    inference_waveglow = load_waveglow({"state_dict": waveglow.state_dict()}, map_location=device)
    inference_waveglow.remove_weightnorm()
    report = {
        "protocol": "batch 1, 80 tokens forced to 400 frames, warm-up, medians; "
        "candidates interleaved round by round so load changes hit all alike",
        "rtf_definition": "synthesis seconds / audio seconds (lower is faster)",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "tiny": args.tiny,
        "load_average_start": list(os.getloadavg()),
        "tacotron2_params": sum(p.numel() for p in tacotron2.parameters()),
        "waveglow_params": sum(p.numel() for p in waveglow.parameters()),
    }
    original = original_models(args, tacotron2, waveglow) if args.original_path else None
    if original is not None:
        original[0].to(device), original[1].to(device)

    if args.infer and args.tacotron2_infer:
        runners = {f"ours_{v}": tacotron2_runner(tacotron2, args, device, 1, v) for v in args.variants}
        if args.infer_batch_size > 1:
            for v in args.variants:
                runners[f"ours_{v}_batch{args.infer_batch_size}"] = tacotron2_runner(
                    tacotron2, args, device, args.infer_batch_size, v
                )
        if original is not None:
            runners["original"] = original_tacotron2_runner(original[0], args, device)
        timings = interleaved(runners, device, args.warmup, args.repeats)
        section = {}
        for name, timing in timings.items():
            batch = timing["result"].size(0)
            n_frames = timing["result"].size(2)
            section[name] = _summary(
                timing,
                batch_size=batch,
                frames=n_frames,
                tokens_per_sec=batch * args.tokens / timing["seconds"],
                frames_per_sec=batch * n_frames / timing["seconds"],
                rtf_mel_only=timing["seconds"] / (batch * n_frames * HOP_LENGTH / SAMPLING_RATE),
            )
        report["tacotron2_inference"] = section
        report["tacotron2_quality_vs_fp32"] = {
            v: tacotron2_quality(tacotron2, args, device, v) for v in args.variants if v != "fp32"
        }
        print(
            json.dumps({k: report[k] for k in ("tacotron2_inference", "tacotron2_quality_vs_fp32")}, indent=1)
        )

    wg_variants = [v for v in args.variants if v != "int8"]  # int8 leaves WaveGlow in fp32
    if args.infer and args.waveglow_infer and wg_variants:
        runners = {f"ours_{v}": waveglow_runner(inference_waveglow, args, device, v) for v in wg_variants}
        if original is not None:
            runners["original"] = waveglow_runner(original[1], args, device, original=True)
        timings = interleaved(runners, device, args.warmup, args.repeats)
        section = {}
        for name, timing in timings.items():
            n_samples = timing["result"].size(1)
            section[name] = _summary(
                timing,
                samples=n_samples,
                samples_per_sec=n_samples / timing["seconds"],
                rtf=timing["seconds"] / (n_samples / SAMPLING_RATE),
            )
        report["waveglow_inference"] = section
        with torch.inference_mode():
            denoiser = Denoiser(inference_waveglow).to(device)
        audio = timings[f"ours_{wg_variants[0]}"]["result"].float()

        def run_denoiser():
            with torch.inference_mode():
                return denoiser(audio, strength=0.01)

        timing = interleaved({"d": run_denoiser}, device, args.warmup, args.repeats)["d"]
        report["denoiser"] = _summary(timing, samples_per_sec=audio.size(1) / timing["seconds"])
        report["waveglow_quality_vs_fp32"] = {
            v: waveglow_quality(inference_waveglow, args, device, v) for v in wg_variants if v != "fp32"
        }
        print(
            json.dumps(
                {k: report[k] for k in ("waveglow_inference", "denoiser", "waveglow_quality_vs_fp32")},
                indent=1,
            )
        )

    if "tacotron2_inference" in report and "waveglow_inference" in report:
        # RTF from rates: WaveGlow may run on a shorter mel (`--waveglow-frames`) than Tacotron 2 makes.
        end_to_end = {}
        for name, t2 in report["tacotron2_inference"].items():
            if t2["batch_size"] != 1:
                continue
            wg_name = "original" if name == "original" else name.replace("int8", "fp32")
            if wg_name not in report["waveglow_inference"]:
                continue
            vocoder_rtf = SAMPLING_RATE / report["waveglow_inference"][wg_name]["samples_per_sec"]
            end_to_end[name] = {"rtf_without_denoiser": t2["rtf_mel_only"] + vocoder_rtf}
            if name != "original":
                denoiser_rtf = SAMPLING_RATE / report["denoiser"]["samples_per_sec"]
                end_to_end[name]["rtf_with_denoiser"] = t2["rtf_mel_only"] + vocoder_rtf + denoiser_rtf
        report["end_to_end"] = end_to_end
        print(json.dumps({"end_to_end": end_to_end}, indent=1), flush=True)

    if args.train:
        torch.manual_seed(args.seed)
        runners = {"ours": tacotron2_training_runner(Tacotron2(tacotron2.config), args, device)}
        if original is not None:
            runners["original"] = tacotron2_training_runner(original[2](), args, device, original=True)
        report["tacotron2_training_step"] = {
            name: _summary(t) for name, t in interleaved(runners, device, 1, args.train_repeats).items()
        }
        print(
            json.dumps({"tacotron2_training_step": report["tacotron2_training_step"]}, indent=1), flush=True
        )
        del runners
        runners = {"ours": waveglow_training_runner(WaveGlow(**waveglow_kwargs_of(waveglow)), args, device)}
        if original is not None:
            runners["original"] = waveglow_training_runner(original[3](), args, device, original=True)
        report["waveglow_training_step"] = {
            name: _summary(t) for name, t in interleaved(runners, device, 1, args.train_repeats).items()
        }
        print(
            json.dumps(
                {k: report[k] for k in ("tacotron2_training_step", "waveglow_training_step")}, indent=1
            )
        )

    if original is not None:
        report["speedup_vs_original"] = speedups(report)
        print(json.dumps({"speedup_vs_original": report["speedup_vs_original"]}, indent=1))
    report["load_average_end"] = list(os.getloadavg())
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def speedups(report: dict) -> dict:
    """Ours vs original, > 1 = ours faster: throughput ratios (inference), time ratios (training)."""
    out = {}
    for section, key in (
        ("tacotron2_inference", "tokens_per_sec"),
        ("waveglow_inference", "samples_per_sec"),
    ):
        entries = report.get(section, {})
        if "original" in entries:
            for name, entry in entries.items():
                if name != "original":
                    out[f"{section}_{name}"] = entry[key] / entries["original"][key]
    for section in ("tacotron2_training_step", "waveglow_training_step"):
        entries = report.get(section, {})
        if "original" in entries:
            out[section] = entries["original"]["seconds"] / entries["ours"]["seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
