"""Tacotron 2 + vocoder synthesis as a library: `Synthesizer` (batched, in input order, timed), the
Griffin-Lim fallback vocoder, and DLE's inference performance record. `inference.py` is its command.

As DLE: each sentence's audio is trimmed to mel_length·hop samples, denoised, and an utterance's audio is
peak-normalised to max |x| = 1. Without a WaveGlow, mels are inverted with Griffin-Lim: linear magnitude =
pinv(mel basis) · exp(mel) (clamped at 1e-10), then iterations of this folder's STFT from random phase.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from .audio import TacotronSTFT, dynamic_range_decompression
from .fast_inference import Int8LSTMCell, is_packed
from .stft import STFT


@dataclass
class Utterance:
    """One input utterance: output stem, where it came from, its text, its pieces and their symbol ids."""

    stem: str
    where: str  # "file:line" or "--text", for messages
    text: str
    sentences: list[str] = field(default_factory=list)
    sequences: list[list[int]] = field(default_factory=list)


class GriffinLim(torch.nn.Module):
    """Log-mel (B, n_mel, T) -> audio (B, T·hop) by mel-basis pseudo-inverse and Griffin-Lim."""

    def __init__(
        self,
        n_iters: int = 60,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        sampling_rate: int = 22050,
        mel_fmin: float = 0.0,
        mel_fmax: float = 8000.0,
    ):
        super().__init__()
        self.n_iters = n_iters
        mel_basis = TacotronSTFT(
            filter_length, hop_length, win_length, n_mel_channels, sampling_rate, mel_fmin, mel_fmax
        ).mel_basis
        self.register_buffer("inverse_mel_basis", torch.linalg.pinv(mel_basis.double()).float())
        self.stft = STFT(filter_length, hop_length, win_length)

    def forward(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """mel (B, n_mel, T) natural-log mel -> audio (B, max(T, 3)·hop) float32.

        One silent frame (log 1e-5) is appended, as the inverse STFT returns (frames − 1)·hop samples,
        and at least 4 frames are used (the STFT's reflect padding needs more than filter_length / 2).
        """
        n_frames = max(mel.size(2) + 1, 4)
        mel = torch.nn.functional.pad(mel, (0, n_frames - mel.size(2)), value=math.log(1e-5))
        magnitude = torch.clamp(self.inverse_mel_basis @ dynamic_range_decompression(mel.float()), min=1e-10)
        phase = 2 * math.pi * torch.rand(magnitude.shape, generator=generator, device="cpu").to(mel.device)
        audio = self.stft.inverse(magnitude, phase).squeeze(1)
        for _ in range(self.n_iters):
            _, phase = self.stft.transform(audio)
            audio = self.stft.inverse(magnitude, phase).squeeze(1)
        return audio


# ---------------------------------------------------------------------------------------------------
# Synthesis


@dataclass
class SentenceResult:
    mel: torch.Tensor  # (n_mel, T) postnet mel, trimmed to mel_length (at least one frame)
    alignment: torch.Tensor  # (T, T_in)
    audio: torch.Tensor  # (samples,) float32, CPU, trimmed to mel_length · hop
    seconds: float  # this sentence's share of its batch's synthesis time
    finished: bool  # False when max_decoder_steps was reached before the stop gate fired


@dataclass
class Timing:
    tacotron2: float = 0.0
    vocoder: float = 0.0
    denoiser: float = 0.0
    tokens: int = 0
    frames: int = 0
    samples: int = 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_context(device: torch.device, amp: bool):
    """fp16 autocast on CUDA, bf16 on CPU; a no-op without --amp."""
    if not amp:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


class Synthesizer:
    """Tacotron 2 + (WaveGlow and denoiser | Griffin-Lim); `synthesize(utterances)`: results per sentence."""

    def __init__(
        self,
        tacotron2,
        waveglow=None,
        denoiser=None,
        griffin_lim: GriffinLim | None = None,
        vocoder=None,
        sigma: float = 0.6,
        denoising_strength: float = 0.01,
        hop_length: int = 256,
        batch_size: int = 1,
        max_decoder_steps: int | None = None,
        amp: bool = False,
        generator: torch.Generator | None = None,
    ):
        if sum(v is not None for v in (waveglow, griffin_lim, vocoder)) != 1:
            raise ValueError("Synthesizer: give one of a WaveGlow, a GriffinLim or a (TorchScript) vocoder")
        self.tacotron2 = tacotron2
        self.waveglow = waveglow
        self.denoiser = denoiser
        self.griffin_lim = griffin_lim
        self.vocoder = vocoder
        self.sigma = sigma
        self.denoising_strength = denoising_strength
        self.hop_length = hop_length
        self.batch_size = max(1, batch_size)
        self.max_decoder_steps = max_decoder_steps
        self.amp = amp
        self.int8 = any(isinstance(m, Int8LSTMCell) for m in tacotron2.modules())
        self.generator = generator
        self.device = next(tacotron2.parameters()).device

    def describe(self) -> str:
        if self.waveglow is not None:
            return "Tacotron 2 + WaveGlow" + (" + denoiser" if self.denoiser is not None else "")
        if self.vocoder is not None:
            return "Tacotron 2 + TorchScript vocoder"
        return f"Tacotron 2 + Griffin-Lim ({self.griffin_lim.n_iters} iterations)"

    def _vocode(self, mel: torch.Tensor, timing: Timing) -> torch.Tensor:
        """mel (B, n_mel, T) -> audio (B, samples) float32."""
        start = time.perf_counter()
        if self.waveglow is not None:
            with autocast_context(self.device, self.amp and not is_packed(self.waveglow)):
                audio = self.waveglow.infer(mel, sigma=self.sigma).float()
            _sync(self.device)
            after_vocoder = time.perf_counter()
            if self.denoiser is not None and self.denoising_strength > 0:
                audio = self.denoiser(audio, strength=self.denoising_strength).squeeze(1)
            _sync(self.device)
            timing.vocoder += after_vocoder - start
            timing.denoiser += time.perf_counter() - after_vocoder
        else:
            if self.vocoder is not None:
                audio = self.vocoder(mel).float().reshape(mel.shape[0], -1)
            else:
                audio = self.griffin_lim(mel, generator=self.generator)
            _sync(self.device)
            timing.vocoder += time.perf_counter() - start
        return audio

    @torch.inference_mode()
    def synthesize_batch(self, sequences: list[list[int]], timing: Timing) -> list[SentenceResult]:
        """Symbol-id sequences (input order) -> one SentenceResult each, in the same order."""
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        text = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
        for i, ids in enumerate(sequences):
            text[i, : len(ids)] = torch.tensor(ids)
        text = text.to(self.device)
        # At batch 1 nothing is padded: no mask and no packing, the same numbers.
        input_lengths = lengths.to(self.device) if len(sequences) > 1 else None
        _sync(self.device)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tacotron2: reached max_decoder_steps")
            # An int8-quantised Tacotron 2 runs its own kernels; autocast then covers the vocoder only.
            with autocast_context(self.device, self.amp and not self.int8):
                out = self.tacotron2.infer(text, input_lengths, max_decoder_steps=self.max_decoder_steps)
        mel = out.mel_outputs_postnet.float()
        _sync(self.device)
        tacotron2_seconds = time.perf_counter() - start
        timing.tacotron2 += tacotron2_seconds
        gate_threshold = self.tacotron2.decoder.gate_threshold
        finished = (torch.sigmoid(out.gate_outputs.float()) > gate_threshold).any(dim=1).cpu()
        vocoder_start = timing.vocoder + timing.denoiser
        audio = self._vocode(mel, timing).float().cpu()
        batch_seconds = tacotron2_seconds + timing.vocoder + timing.denoiser - vocoder_start
        mel_lengths = out.mel_lengths.cpu().clamp(min=1)
        results = []
        for i, ids in enumerate(sequences):
            n_frames = int(mel_lengths[i])
            timing.tokens += len(ids)
            timing.frames += n_frames
            timing.samples += n_frames * self.hop_length
            results.append(
                SentenceResult(
                    mel=mel[i, :, :n_frames].cpu(),
                    alignment=out.alignments[i, :n_frames, : len(ids)].float().cpu(),
                    audio=audio[i, : n_frames * self.hop_length],
                    seconds=batch_seconds / len(sequences),
                    finished=bool(finished[i]),
                )
            )
        return results

    def synthesize(
        self, utterances: list[Utterance], timing: Timing | None = None, progress: bool = False
    ) -> list[list[SentenceResult]]:
        """All sentences of all utterances, `batch_size` at a time in input order; results per utterance
        (each says whether the stop gate fired before max_decoder_steps). progress: a bar over batches."""
        timing = Timing() if timing is None else timing
        flat = [(u, j) for u in utterances for j in range(len(u.sequences))]
        results: list[SentenceResult] = []
        starts = range(0, len(flat), self.batch_size)
        for start in tqdm(starts, desc="synthesis", unit="batch", disable=not progress or len(starts) < 2):
            batch = flat[start : start + self.batch_size]
            results.extend(self.synthesize_batch([u.sequences[j] for u, j in batch], timing))
        per_utterance: dict[str, list[SentenceResult]] = {u.stem: [] for u in utterances}
        for (utterance, _), result in zip(flat, results):
            per_utterance[utterance.stem].append(result)
        return [per_utterance[u.stem] for u in utterances]


def peak_normalise(audio: torch.Tensor) -> torch.Tensor:
    """audio / max|audio| (DLE); silence stays silence."""
    peak = audio.abs().max() if audio.numel() else torch.tensor(0.0)
    return audio / peak if peak > 0 else audio


def performance_record(timing: Timing, sampling_rate: int) -> dict[str, float]:
    """DLE's inference log keys (+ tokens/s and RTF) from one synthesis pass."""
    latency = timing.tacotron2 + timing.vocoder + timing.denoiser
    audio_seconds = timing.samples / sampling_rate
    return {
        "tacotron2_items_per_sec": timing.tokens / timing.tacotron2,
        "tacotron2_frames_per_sec": timing.frames / timing.tacotron2,
        "tacotron2_latency": timing.tacotron2,
        "waveglow_items_per_sec": timing.samples / timing.vocoder if timing.vocoder else float("nan"),
        "waveglow_latency": timing.vocoder,
        "denoiser_latency": timing.denoiser,
        "latency": latency,
        "audio_seconds": audio_seconds,
        "rtf": latency / audio_seconds if audio_seconds else float("nan"),
    }
