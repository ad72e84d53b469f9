"""Speed of NaturalSpeech, ours alone or side by side with the original on the same inputs and weights.

    python bench.py --original-path ORIG --original-site SITE --vits-path VITS --out bench.json
    python bench.py --tiny                  # ours only, a tiny model and tiny shapes: a smoke test

ORIG is a checkout of heatz123/naturalspeech, SITE a folder holding numba for it (its soft-DTW imports
numba: `pip install --target SITE numba`; SITE is on the import path only while the original is
imported), VITS a checkout of jaywalnut310/vits with its monotonic_align extension built (`cd
monotonic_align && mkdir monotonic_align && python setup.py build_ext --inplace`), the search the
original's durations come from. Nothing of them is copied here; both stay outside the repository.

Protocol: `--threads` torch threads (and numba threads), the same inputs and random weights on both
sides, `--warmup` untimed calls of each (the first one's outputs are compared: the "check" column),
then `--repeats` interleaved rounds (ours, original, original, ours, ...: a load change on a shared
machine hits both alike), median of wall time (and of process CPU time, reported beside it). Sections
(`--sections`):

  soft_dtw    forward + backward of the soft-DTW in one training step with use_sdtw (ljs_reproduce.json:
              gamma 0.01, warp 134.4): both KL directions, each on the original's padded cost matrix
              (B, T_p + 1, T_q + 1) of 192-channel latents; ours on the same matrices, full size;
  mas         maximum_path on the (B, frames, tokens) log-likelihood of the same batch (VITS' Cython);
  inference   one utterance of `--infer-frames` frames (given durations, noise 0.667, a memory bank
              of random slots) at the `--config` size; RTF = wall seconds / audio seconds;
  train_step  discriminator then generator update (AdamW, the main stage: memory bank attached) on
              `--train-batch-size` utterances of `--train-frames` frames, fp32.

Shapes: a batch of `--batch` (16, the original's batch_size) utterances of one length bucket of the
original's sampler (`--frames` 501-600; LJ Speech's median utterance has 582 frames), 2.67 frames per
token (the mean of the original's durations/ for LJ Speech, blanks included), prior lengths from
durations 0.8-1.2 x the true ones (predicted durations, as with use_sdtw). Latents are synthetic: the
posterior is token means repeated over their frames plus noise, the prior the same means moving a little
within each token (`--prior-ramp`; 0: piecewise constant), so the cost matrices have a clear best path.
The soft-DTW kernels' speed depends on the values (near-ties cost an exp and a log): with a piecewise
constant prior ours gains less (see README.md's Speed section).

Run from outside the original, two patches are applied from here, in this process only: the
original's spectrogram calls `torch.stft` without `return_complex` (torch 2 refuses; it gets
return_complex=False, the same numbers) and `librosa.filters.mel` positionally (librosa 0.10 refuses;
it gets keywords). Side by side needs 192 latent channels: the original's upsampler hard-codes them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import torch
from torch.nn import functional as F

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from .checkpoints import N_VOCAB
from .config import Config, load_config
from .data_utils import Batch
from .infra import (
    Distributed,
    GuardedStep,
    HelpFormatter,
    Precision,
    UserError,
    atomic_write,
    check_output_file,
    run_main,
)
from .losses import SDTW_GAMMA, SDTW_INF, SDTW_WARP, sdtw_kl_matrix
from .mel_processing import spectrogram_torch
from .models import MultiPeriodDiscriminator, SynthesizerTrn, mas_log_likelihood
from .monotonic_align import maximum_path
from .optimizers import make_adamw
from .soft_dtw import soft_dtw
from .training_step import Nets, Pair, train_step

HERE = Path(__file__).resolve().parent
SECTIONS = ("soft_dtw", "mas", "inference", "train_step")
FRAMES_PER_TOKEN = 2.67
NOISE_SCALE = 0.667
# What the issue asks of each section: original seconds / ours at least this.
TARGETS = {"soft_dtw": 10.0, "mas": 1.0, "inference": 1.0, "train_step": 1.0}
# --tiny: configs/tiny.json at the latent width of 192 (the original's upsampler hard-codes it), the rest
# smaller still, with a discriminator 16 times narrower than the original's.
TINY_OVERRIDES = [
    "train.segment_size=512",
    "models.phoneme_encoder.out_channels=192",
    "models.phoneme_encoder.hidden_channels=192",
    "models.phoneme_encoder.n_layers=1",
    "models.decoder.initial_channel=192",
    "models.decoder.upsample_initial_channel=32",
    "models.decoder.resblock_kernel_sizes=[3]",
    "models.decoder.resblock_dilation_sizes=[[1, 3, 5]]",
    "models.posterior_encoder.out_channels=192",
    "models.posterior_encoder.hidden_channels=32",
    "models.posterior_encoder.n_layers=2",
    "models.flow.channels=192",
    "models.flow.hidden_channels=32",
    "models.flow.n_layers=1",
    "models.duration_predictor.in_channels=192",
    "models.duration_predictor.filter_channels=32",
    "models.learnable_upsampling.d_predictor=192",
    "models.memory_bank.n_hidden_dims=192",
    "models.memory_bank.bank_size=16",
    "models.discriminator.width_divisor=16",
]
TINY_SHAPES = dict(batch=2, frames=(14, 20), infer_frames=24, train_batch_size=2, train_frames=8)
ORIGINAL_FILES = ("models/models.py", "models/losses.py", "models/soft_dtw.py", "utils/commons.py")
ORIGINAL_FILES += ("utils/mel_processing.py", "utils/utils.py")
ORIGINAL_PACKAGES = ("models", "utils", "text")  # its top-level names, kept out of sys.modules afterwards


# ---------------------------------------------------------------------------------------------------
# Timing


def interleaved(fns: dict, warmup: int, repeats: int) -> dict:
    """{name: {seconds, cpu_seconds (medians of wall and process CPU time), all_seconds, all_cpu_seconds,
    first (the first call's result)}}: `warmup` untimed calls of each (at least one), then `repeats` rounds
    calling each once in turn (in reverse order every other round). CPU time is reported beside wall
    time because on a shared machine the process waits for a core for part of the wall time."""
    first = {}
    for name, fn in fns.items():
        first[name] = fn()
        for _ in range(warmup - 1):
            fn()
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    names = list(fns)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:  # alternate who goes first
            fn = fns[name]
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)
    return {
        name: {
            "seconds": statistics.median(wall[name]),
            "cpu_seconds": statistics.median(cpu[name]),
            "all_seconds": [round(x, 4) for x in wall[name]],
            "all_cpu_seconds": [round(x, 4) for x in cpu[name]],
            "first": first[name],
        }
        for name in fns
    }


def seeded(fn, seed: int):
    """fn with torch's generator reset first: both sides draw the same noise and dropout in every call."""

    def call():
        torch.manual_seed(seed)
        return fn()

    return call


# ---------------------------------------------------------------------------------------------------
# The originals, imported from their checkouts


def _import_from(root: Path, names: tuple[str, ...], packages: tuple[str, ...], extra_path: str | None):
    """The modules `names` of the checkout at root, with its top-level packages removed from sys.modules
    afterwards (ours, or another checkout's, of the same names are put back)."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in packages}
    sys.path.insert(0, str(root))
    if extra_path:
        sys.path.append(extra_path)
    try:
        return types.SimpleNamespace(
            **{name.replace(".", "_"): importlib.import_module(name) for name in names}
        )
    finally:
        sys.path.remove(str(root))
        if extra_path:
            sys.path.remove(extra_path)
        for name in [name for name in sys.modules if name.split(".")[0] in packages]:
            del sys.modules[name]
        sys.modules.update(saved)


class _TorchWithRealStft:
    """torch as the original's spectrogram module sees it: stft without return_complex gets False."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def stft(*args, **kwargs):
        kwargs.setdefault("return_complex", False)
        return torch.stft(*args, **kwargs)


def import_original(path: str, site: str | None, threads: int):
    """The original's modules (see the module docstring for the two patches applied to them)."""
    root = Path(path).resolve()
    missing = [name for name in ORIGINAL_FILES if not (root / name).is_file()]
    if missing:
        raise UserError(f"--original-path {path}: no {missing[0]} there (a heatz123/naturalspeech checkout?)")
    if site and not Path(site).is_dir():
        raise UserError(f"--original-site {site}: no such folder")
    names = ("models.models", "models.losses", "models.soft_dtw", "utils.commons", "utils.mel_processing")
    try:
        original = _import_from(root, (*names, "utils.utils"), ORIGINAL_PACKAGES, site)
    except ImportError as error:
        raise UserError(
            f"--original-path {path}: importing it failed ({error}); its soft-DTW needs numba: "
            "`pip install --target SITE numba` and pass --original-site SITE"
        ) from None
    if "numba" in sys.modules:
        # Limit the threads numba uses, never NUMBA_NUM_THREADS in the environment: numba re-reads it at
        # every compilation and refuses a value other than the one its thread pool started with, which
        # broke later librosa.pyin calls in the same process (the test run).
        numba = sys.modules["numba"]
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    import librosa

    mel = original.utils_mel_processing
    mel.torch = _TorchWithRealStft()
    mel.librosa_mel_fn = lambda sr, n_fft, n_mels, fmin, fmax: librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    return original


def import_vits_search(path: str):
    """VITS' `monotonic_align.maximum_path` (its Cython extension, built in the checkout)."""
    root = Path(path).resolve()
    if not (root / "monotonic_align" / "__init__.py").is_file():
        raise UserError(
            f"--vits-path {path}: no monotonic_align/__init__.py there (a jaywalnut310/vits checkout?)"
        )
    try:
        return _import_from(
            root, ("monotonic_align",), ("monotonic_align",), None
        ).monotonic_align.maximum_path
    except ImportError as error:
        raise UserError(
            f"--vits-path {path}: its monotonic_align is not built ({error}); run `mkdir monotonic_align && "
            "python setup.py build_ext --inplace` in its monotonic_align folder"
        ) from None


# ---------------------------------------------------------------------------------------------------
# Synthetic inputs


def bucket_lengths(batch: int, shortest: int, longest: int) -> torch.Tensor:
    """(batch,) frame counts spread evenly over [shortest, longest], longest first (collate's order)."""
    return torch.linspace(longest, shortest, batch).round().long()


def random_durations(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, K) integer durations (0-padded) of round(frames / FRAMES_PER_TOKEN) tokens summing to frames."""
    tokens = (frames.float() / FRAMES_PER_TOKEN).round().long().clamp_min(1)
    durations = torch.zeros(len(frames), int(tokens.max()))
    for b, (n_frames, n_tokens) in enumerate(zip(frames.tolist(), tokens.tolist())):
        extra = torch.multinomial(torch.ones(n_tokens), n_frames - n_tokens, True, generator=generator)
        durations[b, :n_tokens] = 1 + torch.bincount(extra, minlength=n_tokens)
    return durations


def expand(tokens: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """(B, C, K) token values repeated over their durations (B, K) -> (B, C, max frames), 0-padded."""
    frames = [torch.repeat_interleave(t, d.long(), dim=-1) for t, d in zip(tokens, durations)]
    longest = max(f.size(-1) for f in frames)
    return torch.stack([F.pad(f, (0, longest - f.size(-1))) for f in frames])


def mask_of(lengths: torch.Tensor, size: int | None = None) -> torch.Tensor:
    return torch.arange(size or int(lengths.max()))[None] < lengths[:, None]


def position_in_token(durations: torch.Tensor) -> torch.Tensor:
    """(B, T) where each frame lies in its token, from -0.5 (first) to 0.5 (last), 0-padded."""
    rows = [torch.cat([(torch.arange(int(d)) + 0.5) / d - 0.5 for d in item if d > 0]) for item in durations]
    longest = max(len(row) for row in rows)
    return torch.stack([F.pad(row, (0, longest - len(row))) for row in rows])


def alignment_batch(batch: int, frames: tuple[int, int], channels: int, seed: int, ramp: float = 0.2) -> dict:
    """A batch of synthetic latents: token means and log-scales (B, C, K), the posterior (B, C, T) near the
    token means repeated by the true durations, and a prior (B, C, T_p) spread by predicted ones. The prior
    moves within a token (a per-token direction of norm ~ramp per channel, times the frame's position in
    it), as the learnable upsampler's output does (its attention depends on the frame's distance to the
    token's ends); ramp 0 makes it piecewise constant, as a prior expanded by hard durations (VITS) is."""
    generator = torch.Generator().manual_seed(seed)
    n_frames = bucket_lengths(batch, *frames)
    durations = random_durations(n_frames, generator)
    n_tokens = (durations > 0).sum(1)
    k = durations.size(1)
    m_tok = torch.randn(batch, channels, k, generator=generator)
    logs_tok = -0.5 + 0.2 * torch.randn(batch, channels, k, generator=generator)
    token_mask = mask_of(n_tokens, k)[:, None]
    m_tok, logs_tok = m_tok * token_mask, logs_tok * token_mask
    jitter = 0.8 + 0.4 * torch.rand(durations.shape, generator=generator)
    predicted = (durations * jitter).round().clamp_min(1) * (durations > 0)

    def noisy(x, scale):
        return x + scale * torch.randn(x.shape, generator=generator)

    slope = ramp * torch.randn(batch, channels, k, generator=generator)
    m_q = expand(m_tok, durations)
    m_p = expand(m_tok, predicted) + expand(slope, predicted) * position_in_token(predicted)[:, None]
    q_mask, p_mask = mask_of(n_frames), mask_of(predicted.sum(1).long())
    logs_q = noisy(expand(logs_tok, durations), 0.1) * q_mask[:, None]
    logs_p = expand(logs_tok, predicted)
    z_p = noisy(m_q, 0.3) * q_mask[:, None]  # the posterior mapped into the prior's space
    z_q = noisy(m_p, 0.3) * p_mask[:, None]  # a prior sample mapped into the posterior's space
    return dict(
        n_frames=n_frames, n_tokens=n_tokens, durations=durations, m_tok=m_tok, logs_tok=logs_tok,
        z_p=z_p, logs_q=logs_q, m_q=m_q, q_mask=q_mask, z_q=z_q, m_p=m_p, logs_p=logs_p, p_mask=p_mask,
    )  # fmt: skip


def padded_costs(kl: torch.Tensor, p_mask: torch.Tensor, q_mask: torch.Tensor) -> torch.Tensor:
    """The cost matrix the original's kl_loss_dtw hands to soft-DTW: one zero row and column of padding,
    SDTW_INF where exactly one side is padding, 0 where both are. kl (B, T_p, T_q) -> (B, T_p+1, T_q+1)."""
    p_valid, q_valid = F.pad(p_mask, (0, 1)), F.pad(q_mask, (0, 1))
    kl = F.pad(kl, (0, 1, 0, 1))
    kl = kl.masked_fill(p_valid[:, :, None] ^ q_valid[:, None, :], SDTW_INF)
    return kl.masked_fill(~p_valid[:, :, None] & ~q_valid[:, None, :], 0.0)


def training_batch(config: Config, batch: int, frames: int, seed: int) -> Batch:
    """Utterances of frames, frames - 4, ... (noise-and-tone audio in [-0.5, 0.5], its spectrogram, random
    symbols, integer durations summing to each utterance's frames)."""
    generator = torch.Generator().manual_seed(seed)
    data, hop = config.data, config.data.hop_length
    n_frames = torch.tensor([frames - 4 * b for b in range(batch)])
    time_axis = torch.arange(frames * hop) / data.sampling_rate
    y = torch.zeros(batch, 1, frames * hop)
    for b, n in enumerate(n_frames.tolist()):
        tone = 0.3 * torch.sin(2 * math.pi * (150 + 50 * b) * time_axis[: n * hop])
        y[b, 0, : n * hop] = tone + 0.05 * torch.randn(n * hop, generator=generator)
    spec = spectrogram_torch(y.squeeze(1), data.filter_length, hop, data.win_length)
    spec = spec * mask_of(n_frames, spec.size(-1))[:, None]
    durations = random_durations(n_frames, generator)
    n_tokens = (durations > 0).sum(1)
    x = torch.randint(1, N_VOCAB, durations.shape, generator=generator) * mask_of(n_tokens, durations.size(1))
    return Batch(x, n_tokens, spec, n_frames, y, n_frames * hop, durations)


# ---------------------------------------------------------------------------------------------------
# Sections: each returns {name: runner} and a function of the first results -> check entries


def soft_dtw_section(inputs: dict, original):
    """Both directions of the KL (prior frames against posterior frames, and the reverse)."""
    costs = [
        padded_costs(sdtw_kl_matrix(inputs["z_p"], inputs["logs_q"], inputs["m_p"], inputs["logs_p"]),
                     inputs["p_mask"], inputs["q_mask"]),
        padded_costs(sdtw_kl_matrix(inputs["z_q"], inputs["logs_p"], inputs["m_q"], inputs["logs_q"]),
                     inputs["q_mask"], inputs["p_mask"]),
    ]  # fmt: skip

    def run(function):
        values, grads = [], []
        for cost in costs:
            cost = cost.detach().clone().requires_grad_(True)
            value = function(cost)
            value.sum().backward()
            values.append(value.detach())
            grads.append(cost.grad)
        return values, grads

    runners = {"ours": lambda: run(lambda c: soft_dtw(c, gamma=SDTW_GAMMA, warp=SDTW_WARP))}
    if original is not None:
        original_sdtw = original.models_soft_dtw.SoftDTW(use_cuda=False, gamma=SDTW_GAMMA, warp=SDTW_WARP)
        runners["original"] = lambda: run(original_sdtw)

    def check(first):
        (ours_values, ours_grads), (values, grads) = first["ours"], first["original"]
        return {
            "max_abs_value_difference": max(float((a - b).abs().max()) for a, b in zip(ours_values, values)),
            "max_abs_grad_difference": max(float((a - b).abs().max()) for a, b in zip(ours_grads, grads)),
        }

    shape = " and ".join("x".join(map(str, c.shape)) for c in costs)
    return runners, check, {"shape": shape}


def mas_section(inputs: dict, vits_search):
    neg_cent = mas_log_likelihood(inputs["z_p"], inputs["m_tok"], inputs["logs_tok"])  # (B, T, K)
    mask = (mask_of(inputs["n_frames"])[:, :, None] & mask_of(inputs["n_tokens"])[:, None, :]).float()
    runners = {"ours": lambda: maximum_path(neg_cent, mask)}
    if vits_search is not None:
        runners["original"] = lambda: vits_search(neg_cent, mask)

    def check(first):
        return {"differing_path_cells": int((first["ours"] != first["original"]).sum())}

    return runners, check, {"shape": "x".join(map(str, neg_cent.shape))}


def build_generators(config: Config, original, seed: int):
    """Ours with random weights (the flows' zero-initialised output layers perturbed, so that every layer
    acts) and the original, to be given ours' state dict once the memory banks are attached."""
    torch.manual_seed(seed)
    ours = SynthesizerTrn(N_VOCAB, config.spec_channels, config.segment_frames, config.models)
    with torch.no_grad():
        for name, parameter in ours.flow.named_parameters():
            if ".post." in name:
                parameter.normal_(0, 0.01)
    generators = {"ours": ours}
    if original is not None:
        hps = original.utils_utils.HParams(**config.models)
        generators["original"] = original.models_models.SynthesizerTrn(
            N_VOCAB, config.spec_channels, config.segment_frames, hps
        )
    return generators


def attach_banks(generators: dict, config: Config, original) -> None:
    for name, net in generators.items():
        if name == "ours":
            net.attach_memory_bank()
        else:
            net.attach_memory_bank(original.utils_utils.HParams(**config.models))


def inference_section(config: Config, frames: int, original, seed: int):
    generators = build_generators(config, original, seed)
    attach_banks(generators, config, original)
    for net in generators.values():
        net.load_state_dict(generators["ours"].state_dict())
        net.eval()
    generator = torch.Generator().manual_seed(seed)
    durations = random_durations(torch.tensor([frames]), generator)
    x = torch.randint(1, N_VOCAB, durations.shape, generator=generator)
    x_lengths = torch.tensor([x.size(1)])
    audio_seconds = frames * config.data.hop_length / config.data.sampling_rate

    def synthesize(net, name):
        with torch.no_grad():
            out = net.infer(x, x_lengths, noise_scale=NOISE_SCALE, d=durations)
        return out.audio if name == "ours" else out[0]

    runners = {name: seeded(lambda n=net, m=name: synthesize(n, m), seed) for name, net in generators.items()}

    def check(first):
        return {"max_abs_audio_difference": float((first["ours"] - first["original"]).abs().max())}

    extra = {"shape": f"1 utterance, {x.size(1)} tokens, {frames} frames", "audio_seconds": audio_seconds}
    return runners, check, extra


def original_training_step(original, net_g, net_d, optim_g, optim_d, batch: Batch, config: Config):
    """One batch of the original's train.py loop, written from its order of operations (float32, CPU: its
    autocast and GradScaler do nothing there)."""
    c, data, hop = config.train, config.data, config.data.hop_length
    commons, losses, mel = original.utils_commons, original.models_losses, original.utils_mel_processing
    out = net_g(batch.x, batch.x_lengths, batch.spec, batch.spec_lengths, d=batch.durations,
                use_gt_duration=c.use_gt_duration)  # fmt: skip
    y_hat, l_length, ids_slice, x_mask, z_mask, latents, _, y_hat_e2e, z_q, _, ids_slice_q = out
    z, z_p, m_p, logs_p, m_q, logs_q, p_mask = latents
    y1 = commons.slice_segments(batch.y, ids_slice * hop, c.segment_size)
    y2 = commons.slice_segments(batch.y, ids_slice_q * hop, c.segment_size)
    real, fake, _, _ = net_d(y1, y_hat.detach())
    real_e2e, fake_e2e, _, _ = net_d(y2, y_hat_e2e.detach())
    loss_d = (
        losses.discriminator_loss(real, fake)[0] + losses.discriminator_loss(real_e2e, fake_e2e)[0] * c.c_e2e
    )
    optim_d.zero_grad()
    loss_d.backward()
    commons.clip_grad_value_(net_d.parameters(), None)
    optim_d.step()

    _, fake, maps_real, maps_fake = net_d(y1, y_hat)
    spec_mel = mel.spec_to_mel_torch(
        batch.spec, data.filter_length, data.n_mel_channels, data.sampling_rate, data.mel_fmin, data.mel_fmax
    )
    y_mel = commons.slice_segments(spec_mel, ids_slice, c.segment_size // hop)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints when the audio leaves [-1, 1]
        y_hat_mel = mel.mel_spectrogram_torch(
            y_hat.squeeze(1), data.filter_length, data.n_mel_channels, data.sampling_rate, hop,
            data.win_length, data.mel_fmin, data.mel_fmax,
        )  # fmt: skip
    _, fake_e2e, _, _ = net_d(y2, y_hat_e2e)
    loss_g = (
        losses.generator_loss(fake)[0]
        + losses.generator_loss(fake_e2e)[0] * c.c_e2e
        + losses.feature_loss(maps_real, maps_fake)
        + F.l1_loss(y_mel, y_hat_mel) * c.c_mel
        + torch.sum(l_length.float()) * c.c_dur
        + losses.kl_loss(z_p, logs_q, m_p, logs_p, z_mask) * c.c_kl
        + losses.kl_loss(z_q, logs_p, m_q, logs_q, p_mask.unsqueeze(1)) * c.c_kl_fwd
    )
    optim_g.zero_grad()
    loss_g.backward()
    commons.clip_grad_value_(net_g.parameters(), None)
    optim_g.step()
    return {"loss_g": float(loss_g.detach()), "loss_d": float(loss_d.detach())}


def shapes(module: torch.nn.Module) -> dict:
    return {name: tuple(t.shape) for name, t in module.state_dict().items()}


def train_step_section(config: Config, batch: Batch, original, seed: int, discriminator_options: dict):
    generators = build_generators(config, original, seed)
    discriminators = {"ours": MultiPeriodDiscriminator(**discriminator_options)}
    if original is not None:
        discriminators["original"] = original.models_models.MultiPeriodDiscriminator()
        if shapes(discriminators["original"]) != shapes(discriminators["ours"]):
            discriminators["ours"] = MultiPeriodDiscriminator()  # the original's has no width option
    optimizers = {}
    for name in generators:
        if name == "ours":  # train.py's optimizers (fused AdamW where available)
            optimizers[name] = Pair(make_adamw(generators[name].parameters(), config),
                                    make_adamw(discriminators[name].parameters(), config))  # fmt: skip
        else:  # the original's
            options = dict(lr=config.train.learning_rate, betas=config.train.betas, eps=config.train.eps)
            optimizers[name] = Pair(
                torch.optim.AdamW(generators[name].parameters(), **options),
                torch.optim.AdamW(discriminators[name].parameters(), **options),
            )
    attach_banks(generators, config, original)
    for name in generators:
        optimizers[name].g.add_param_group({"params": list(generators[name].memory_bank.parameters())})
        generators[name].load_state_dict(generators["ours"].state_dict())
        discriminators[name].load_state_dict(discriminators["ours"].state_dict())
        generators[name].train(), discriminators[name].train()

    cpu = torch.device("cpu")
    ddp, precision = Distributed(0, 0, 1, cpu), Precision(cpu, False)
    net_g, net_d = generators["ours"], discriminators["ours"]
    nets = Nets(net_g, net_d, net_g, net_d)
    guards = Pair(
        *(GuardedStep(net, opt, precision, math.inf) for net, opt in zip(nets[:2], optimizers["ours"]))
    )

    def ours():
        losses = train_step(nets, batch, guards, Pair(precision, precision), config, ddp).losses
        return {"loss_g": losses["loss_g"], "loss_d": losses["loss_d"]}

    runners = {"ours": seeded(ours, seed)}
    if original is not None:
        parts = (original, generators["original"], discriminators["original"], *optimizers["original"])
        runners["original"] = seeded(lambda: original_training_step(*parts, batch, config), seed)

    def check(first):
        return {
            f"{key}_difference": abs(first["ours"][key] - first["original"][key]) for key in first["ours"]
        }

    shape = f"{len(batch.x)} x {int(batch.spec_lengths.max())} frames, segment {config.train.segment_size}"
    return runners, check, {"shape": shape}


# ---------------------------------------------------------------------------------------------------
# Report


def table(report: dict) -> str:
    """Markdown: per section, ours and the original's median wall (and CPU) seconds, original / ours for
    both, the target (on wall time), the output check."""
    lines = [
        "| section | shape | ours | original | original / ours: wall | CPU | target | check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, section in report["sections"].items():

        def cell(side, section=section):
            if side not in section:
                return "-"
            entry = section[side]
            text = f"{entry['seconds']:.3g} s (CPU {entry['cpu_seconds']:.3g} s)"
            return text + (f", RTF {entry['rtf']:.3g}" if "rtf" in entry else "")

        ratios = [f"{section[key]:.2f}x" if key in section else "-" for key in ("speedup", "cpu_speedup")]
        check = ", ".join(f"{k} {v:.3g}" for k, v in section.get("check", {}).items()) or "-"
        target = f">= {TARGETS[name]:g}x" + (
            f" ({'met' if section['met'] else 'missed'})" if "met" in section else ""
        )
        row = [name, section["shape"], cell("ours"), cell("original"), *ratios, target, check]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python bench.py", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--original-path", help="checkout of heatz123/naturalspeech to time beside ours")
    parser.add_argument("--original-site", help="folder with the original's extra packages (numba)")
    parser.add_argument("--vits-path", help="checkout of jaywalnut310/vits, monotonic_align built (mas)")
    parser.add_argument("--config", help="model size [default: configs/ljs.json; --tiny: configs/tiny.json]")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and tiny shapes (a smoke test)")
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to time"
    )
    parser.add_argument("--batch", type=int, default=16, help="utterances in the soft_dtw and mas batch")
    parser.add_argument("--frames", type=int, nargs=2, default=(501, 600), help="their shortest, longest")
    parser.add_argument(
        "--prior-ramp",
        type=float,
        default=0.2,
        help="prior's movement within a token (0: piecewise constant)",
    )
    parser.add_argument("--infer-frames", type=int, default=580, help="frames of the inference utterance")
    parser.add_argument("--train-batch-size", type=int, default=2, help="utterances per training step")
    parser.add_argument("--train-frames", type=int, default=200, help="frames of the longest of them")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls of each first (at least 1)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch (and numba) threads")
    parser.add_argument("--seed", type=int, default=0, help="weights, inputs and noise")
    parser.add_argument("--out", help="JSON report to write")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    args.config = args.config or str(HERE / "configs" / ("tiny.json" if args.tiny else "ljs.json"))
    if args.tiny:
        for key, value in TINY_SHAPES.items():
            if parser.get_default(key) == getattr(args, key):
                setattr(args, key, value)
    if args.warmup < 1 or args.repeats < 1:
        parser.error("--warmup and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> None:
        with warnings.catch_warnings():  # the original's deprecated calls (weight_norm, real stft)
            warnings.filterwarnings("ignore", message=r"`torch.nn.utils.weight_norm` is deprecated")
            warnings.filterwarnings("ignore", message="stft with return_complex=False is deprecated")
            measure()

    def measure() -> None:
        if args.out:
            check_output_file(args.out, force=args.force, flag="--out")
        torch.set_num_threads(args.threads)
        config = load_config(args.config, TINY_OVERRIDES if args.tiny else ())
        discriminator_options = config.models.get("discriminator", {})
        original = vits_search = None
        if args.original_path:
            if config.latent_width != 192:
                raise UserError(
                    f"--config {args.config}: side by side needs 192 latent channels (the original's)"
                )
            original = import_original(args.original_path, args.original_site, args.threads)
        if args.vits_path:
            vits_search = import_vits_search(args.vits_path)
        report = {
            "protocol": f"same inputs and weights, {args.warmup} warm-up, median of {args.repeats} "
            "interleaved rounds",
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "config": args.config + (" (--tiny)" if args.tiny else ""),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "sections": {},
        }
        alignment = alignment_batch(
            args.batch, tuple(sorted(args.frames)), config.latent_width, args.seed, args.prior_ramp
        )
        builders = {
            "soft_dtw": lambda: soft_dtw_section(alignment, original),
            "mas": lambda: mas_section(alignment, vits_search),
            "inference": lambda: inference_section(config, args.infer_frames, original, args.seed),
            "train_step": lambda: train_step_section(
                config, training_batch(config, args.train_batch_size, args.train_frames, args.seed),
                original, args.seed, discriminator_options,
            ),
        }  # fmt: skip
        for name in args.sections:
            runners, check, extra = builders[name]()
            timing = interleaved(runners, args.warmup, args.repeats)
            section = dict(extra)
            for side, entry in timing.items():
                section[side] = {key: value for key, value in entry.items() if key != "first"}
                if "audio_seconds" in extra:
                    section[side]["rtf"] = entry["seconds"] / extra["audio_seconds"]
            if name == "train_step":
                section["first_losses"] = {side: entry["first"] for side, entry in timing.items()}
            if "original" in timing:
                section["speedup"] = timing["original"]["seconds"] / timing["ours"]["seconds"]
                section["cpu_speedup"] = timing["original"]["cpu_seconds"] / timing["ours"]["cpu_seconds"]
                section["met"] = section["speedup"] >= TARGETS[name]
                section["check"] = check({side: entry["first"] for side, entry in timing.items()})
            report["sections"][name] = section
            print(json.dumps({name: section}), file=sys.stderr, flush=True)
            del runners, timing
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        print(table(report))
        loads = f"{report['load_average_start']} -> {report['load_average_end']}"
        print(f"threads {args.threads}; load average {loads}")
        if args.out:
            atomic_write(
                args.out, lambda stream: stream.write((json.dumps(report, indent=1) + "\n").encode())
            )

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
