"""Text file -> one WAV and one alignment plot per line, with Tacotron 2 and WaveGlow (DLE `inference.py`).

    python -m tacotron2_waveglow_ngc.inference --tacotron2 T2.pt [--waveglow WG.pt] -i phrases.txt -o out/
        [--suffix S] [-bs N] [--amp] [--cpu] [--int8] [-s 0.6] [-d 0.01] [-sr 22050] [--max-decoder-steps N]
        [--griffin-lim-iters 60] [--on-unknown error|drop] [--seed N] [--threads N] [--log-file nvlog.json]
        [--benchmark --warmup-steps 1 --repeats 3]

Speed options (opt-in; they change the numbers slightly — the default path is float32 as the original):
`--amp` runs Tacotron 2 under autocast (float16 on CUDA, bfloat16 on CPU) and WaveGlow with its
couplings' weights in that precision (`fast_inference.PackedWN`, ~3x faster on CPUs with bf16 units);
`--int8` quantises the Tacotron 2 decoder LSTMCells to int8 on CPU (see `fast_inference.py`, measured by
`bench.py`). More utterances per batch (`-bs`) raise throughput on CPU too: the decoder reads its
weights once per step for the whole batch.

Input: one phrase per line (blank lines skipped), or a filelist `path|text[|...]` (every line has a
`|`), whose WAVs are named after the audio file's stem so `python -m evaluation` can match them.
Otherwise line i (0-based, counting non-blank lines) becomes `audio_<i><suffix>.wav` and
`alignment_<i><suffix>.png`, as in DLE — but in input order (DLE writes them in length-sorted order).

As DLE: each output is trimmed to mel_length·hop samples, denoised (strength 0.01), peak-normalised to
max |x| = 1 and written as float32 WAV. Differences: lines are split into sentences (and sentences
longer than `--max-chars` at commas) that are synthesised separately and concatenated, so long
paragraphs stay within max_decoder_steps; sentences are batched `-bs` at a time in input order
(DLE: the whole file is one batch). Without `--waveglow`, mels are inverted with Griffin-Lim: linear
magnitude = pinv(mel basis) · exp(mel) (clamped at 1e-10), then `--griffin-lim-iters` iterations of
this folder's STFT from random phase (NVIDIA's `griffin_lim`).

`timings.json` beside the WAVs maps each stem to its synthesis seconds (Tacotron 2 + vocoder +
denoiser, device-synchronised; a batch's time is shared equally by its sentences), which
`evaluation.rtf` reads. RTF = synthesis seconds / audio seconds (lower is faster).
`--benchmark` repeats the whole synthesis and logs medians like DLE: `tacotron2_items_per_sec`
(here: input tokens per second; DLE counts mel frames, logged as `tacotron2_frames_per_sec`),
`waveglow_items_per_sec` (samples/s), `tacotron2_latency`, `waveglow_latency`, `denoiser_latency`,
`latency` and `rtf`.
"""

import argparse
import json
import math
import re
import statistics
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from shared_text.sequence import UnknownSymbolError, text_to_sequence

if __package__ in (None, ""):
    # Run as a file (`python inference.py`, as in DLE): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from .audio import TacotronSTFT, dynamic_range_decompression
from .denoiser import Denoiser
from .fast_inference import is_packed, prepare_tacotron2, prepare_waveglow
from .infra import CheckpointError
from .stft import STFT
from .tacotron2_checkpoints import load_tacotron2
from .waveglow_checkpoints import load_waveglow

DEFAULT_MAX_CHARS = 250


class InferenceError(ValueError):
    """A problem with the user's input (file, text, checkpoint); printed without a traceback."""


# ---------------------------------------------------------------------------------------------------
# Input


@dataclass
class Utterance:
    """One input line: output stem, its text, its sentences and their symbol ids."""

    stem: str
    line_number: int  # 1-based line of the input file
    text: str
    sentences: list[str] = field(default_factory=list)
    sequences: list[list[int]] = field(default_factory=list)


_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split at sentence ends (`.`, `!`, `?`, followed by white space); a sentence longer than
    `max_chars` is further split at `,;:` into pieces of at most `max_chars` where possible.

    "Dr. Smith" style abbreviations are split too, which only costs a pause. Empty pieces are dropped.
    """
    pieces = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        current = ""
        for clause in _CLAUSE_END.split(sentence):
            if current and len(current) + 1 + len(clause) > max_chars:
                pieces.append(current)
                current = clause
            else:
                current = f"{current} {clause}" if current else clause
        if current:
            pieces.append(current)
    return pieces


def read_input(
    path: str | Path, suffix: str = "", max_chars: int = DEFAULT_MAX_CHARS, on_unknown: str = "error"
) -> list[Utterance]:
    """Parse the input file and encode every sentence (english_cleaners, 148-symbol table).

    on_unknown="drop" drops characters outside the symbol set with a warning (what DLE does silently).

    Raises InferenceError for a missing or empty file, an empty text in a filelist line, duplicate
    filelist stems and text with characters outside the symbol set (naming the line and the character).
    """
    path = Path(path)
    if not path.is_file():
        raise InferenceError(f"{path}: no such input file")
    lines = [
        (i + 1, line.rstrip("\n")) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())
    ]
    lines = [(number, line) for number, line in lines if line.strip()]
    if not lines:
        raise InferenceError(f"{path}: the input file is empty (expected one phrase per line)")
    is_filelist = all("|" in line for _, line in lines)
    utterances = []
    for index, (number, line) in enumerate(lines):
        if is_filelist:
            audio_path, text = line.split("|")[:2]
            stem = Path(audio_path.strip()).stem
        else:
            stem, text = f"audio_{index}", line
        text = text.strip()
        sentences = split_sentences(text, max_chars)
        if not sentences:
            raise InferenceError(f"{path}:{number}: no text to synthesise in {line!r}")
        utterance = Utterance(f"{stem}{suffix}", number, text, sentences)
        for sentence in sentences:
            try:
                ids = text_to_sequence(
                    sentence, ["english_cleaners"], symbol_set="tacotron2", on_unknown=on_unknown
                )
            except UnknownSymbolError as error:
                raise InferenceError(
                    f"{path}:{number}: character {error.symbol!r} is not in the Tacotron 2 symbol set "
                    f"(line {text!r}); remove or spell it out, or pass --on-unknown drop"
                ) from None
            if not ids:
                raise InferenceError(f"{path}:{number}: {sentence!r} has no symbols after cleaning")
            utterance.sequences.append(ids)
        utterances.append(utterance)
    stems = [u.stem for u in utterances]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise InferenceError(f"{path}: output stems {duplicates[:5]} occur more than once")
    return utterances


# ---------------------------------------------------------------------------------------------------
# Griffin-Lim


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
        sigma: float = 0.6,
        denoising_strength: float = 0.01,
        hop_length: int = 256,
        batch_size: int = 1,
        max_decoder_steps: int | None = None,
        amp: bool = False,
        generator: torch.Generator | None = None,
    ):
        if waveglow is None and griffin_lim is None:
            raise ValueError("Synthesizer: give a WaveGlow or a GriffinLim vocoder")
        self.tacotron2 = tacotron2
        self.waveglow = waveglow
        self.denoiser = denoiser
        self.griffin_lim = griffin_lim
        self.sigma = sigma
        self.denoising_strength = denoising_strength
        self.hop_length = hop_length
        self.batch_size = max(1, batch_size)
        self.max_decoder_steps = max_decoder_steps
        self.amp = amp
        self.int8 = any("quantized" in type(m).__module__ for m in tacotron2.modules())
        self.generator = generator
        self.device = next(tacotron2.parameters()).device

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
        self, utterances: list[Utterance], timing: Timing | None = None
    ) -> list[list[SentenceResult]]:
        """All sentences of all utterances, `batch_size` at a time in input order; results per utterance.

        Warns (naming the line and sentence) for every sentence that reached max_decoder_steps.
        """
        timing = Timing() if timing is None else timing
        flat = [(u, j) for u in utterances for j in range(len(u.sequences))]
        results: list[SentenceResult] = []
        for start in range(0, len(flat), self.batch_size):
            batch = flat[start : start + self.batch_size]
            results.extend(self.synthesize_batch([u.sequences[j] for u, j in batch], timing))
        per_utterance: dict[str, list[SentenceResult]] = {u.stem: [] for u in utterances}
        steps = self.max_decoder_steps or self.tacotron2.decoder.max_decoder_steps
        for (utterance, j), result in zip(flat, results):
            per_utterance[utterance.stem].append(result)
            if not result.finished:
                warnings.warn(
                    f"Tacotron 2 reached max_decoder_steps={steps} before the stop gate fired for line "
                    f"{utterance.line_number} ({utterance.stem}), sentence {j + 1}: "
                    f"{utterance.sentences[j]!r}; its audio is cut off",
                    stacklevel=2,
                )
        return [per_utterance[u.stem] for u in utterances]


def peak_normalise(audio: torch.Tensor) -> torch.Tensor:
    """audio / max|audio| (DLE); silence stays silence."""
    peak = audio.abs().max() if audio.numel() else torch.tensor(0.0)
    return audio / peak if peak > 0 else audio


def save_alignment(path: Path, alignments: list[torch.Tensor], title: str) -> None:
    """One panel per sentence: encoder step (y) against decoder step (x), as DLE's plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(alignments), 1, figsize=(8, 3 * len(alignments)), squeeze=False)
    for k, (axis, alignment) in enumerate(zip(axes[:, 0], alignments)):
        image = axis.imshow(alignment.numpy().T, aspect="auto", origin="lower", interpolation="none")
        fig.colorbar(image, ax=axis)
        axis.set_xlabel("decoder step")
        axis.set_ylabel("encoder step")
        axis.set_title(f"{title} sentence {k + 1}" if len(alignments) > 1 else title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(
    output_dir: Path,
    utterances: list[Utterance],
    results: list[list[SentenceResult]],
    sampling_rate: int,
    suffix: str = "",
) -> dict[str, float]:
    """WAV + alignment PNG per utterance and timings.json; returns the timings (stem -> seconds)."""
    from scipy.io.wavfile import write

    output_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    for index, (utterance, sentences) in enumerate(zip(utterances, results)):
        audio = peak_normalise(torch.cat([s.audio for s in sentences]))
        write(output_dir / f"{utterance.stem}.wav", sampling_rate, audio.numpy().astype(np.float32))
        plot_stem = (
            f"alignment_{index}{suffix}"
            if utterance.stem == f"audio_{index}{suffix}"
            else f"{utterance.stem}_alignment"
        )
        save_alignment(output_dir / f"{plot_stem}.png", [s.alignment for s in sentences], utterance.stem)
        timings[utterance.stem] = round(sum(s.seconds for s in sentences), 6)
    (output_dir / "timings.json").write_text(json.dumps(timings, indent=1) + "\n", encoding="utf-8")
    return timings


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


def log_record(path: Path | None, data: dict, step=0) -> None:
    """Append one DLLogger-style `DLLL {...}` JSON line."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"timestamp": time.time(), "type": "LOG", "step": step, "data": data}
    with open(path, "a", encoding="utf-8") as log:
        log.write("DLLL " + json.dumps(record) + "\n")


# ---------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-i", "--input", required=True, help="text file: one phrase per line, or path|text")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--suffix", default="", help="output file name suffix")
    parser.add_argument(
        "--tacotron2", required=True, help="Tacotron 2 checkpoint (any format load_tacotron2 reads)"
    )
    parser.add_argument("--waveglow", help="WaveGlow checkpoint; without it, Griffin-Lim is used")
    parser.add_argument("-s", "--sigma-infer", type=float, default=0.6, help="WaveGlow noise scale")
    parser.add_argument(
        "-d", "--denoising-strength", type=float, default=0.01, help="0 disables the denoiser"
    )
    parser.add_argument("-sr", "--sampling-rate", type=int, default=22050)
    parser.add_argument("--stft-hop-length", type=int, default=256, help="samples per mel frame")
    parser.add_argument("-bs", "--batch-size", type=int, default=1, help="sentences per Tacotron 2 batch")
    parser.add_argument("--max-decoder-steps", type=int, help="override the checkpoint's max_decoder_steps")
    parser.add_argument(
        "--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer sentences at , ; :"
    )
    parser.add_argument("--griffin-lim-iters", type=int, default=60)
    parser.add_argument(
        "--on-unknown",
        choices=["error", "drop"],
        default="error",
        help="characters outside the symbol set (e.g. quotes): stop with an error, or drop them",
    )
    parser.add_argument(
        "--seed", type=int, help="seed the prenet dropout, WaveGlow noise and Griffin-Lim phase"
    )
    parser.add_argument(
        "--amp", action="store_true", help="half precision: fp16 on CUDA, bf16 on CPU (see above)"
    )
    parser.add_argument("--cpu", action="store_true", help="run on CPU even when CUDA is available")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="CPU: dynamic int8 quantisation of the Tacotron 2 decoder LSTMCells (faster decoding "
        "at batch 1; changes the numbers slightly, see bench.py)",
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads on CPU")
    parser.add_argument("--log-file", default="nvlog.json", help="DLLogger-style JSON lines, inside --output")
    parser.add_argument("--benchmark", action="store_true", help="repeat the synthesis and log median speed")
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    return args


def build_synthesizer(args: argparse.Namespace, device: torch.device) -> Synthesizer:
    for flag in ("tacotron2", "waveglow"):
        path = getattr(args, flag)
        if path is not None and not Path(path).is_file():
            raise InferenceError(f"--{flag} {path}: no such checkpoint file")
    overrides = {} if args.max_decoder_steps is None else {"max_decoder_steps": args.max_decoder_steps}
    tacotron2, _ = load_tacotron2(args.tacotron2, map_location=device, config_overrides=overrides)
    if args.int8:
        if device.type != "cpu":
            raise InferenceError("--int8 (dynamic quantisation) runs on CPU only; add --cpu")
        tacotron2 = prepare_tacotron2(tacotron2, "int8")
    generator = None if args.seed is None else torch.Generator().manual_seed(args.seed)
    waveglow = denoiser = griffin_lim = None
    if args.waveglow is not None:
        waveglow = load_waveglow(args.waveglow, map_location=device, remove_weightnorm=True)
        if waveglow.n_mel_channels != tacotron2.n_mel_channels:
            raise InferenceError(
                f"--waveglow expects {waveglow.n_mel_channels} mel channels, --tacotron2 makes "
                f"{tacotron2.n_mel_channels}"
            )
        denoiser = Denoiser(waveglow).to(device) if args.denoising_strength > 0 else None
        if args.amp:
            waveglow = prepare_waveglow(waveglow, "bf16")  # after the denoiser took its fp32 bias
    else:
        griffin_lim = GriffinLim(
            args.griffin_lim_iters,
            hop_length=args.stft_hop_length,
            n_mel_channels=tacotron2.n_mel_channels,
            sampling_rate=args.sampling_rate,
        ).to(device)
    return Synthesizer(
        tacotron2,
        waveglow,
        denoiser,
        griffin_lim,
        sigma=args.sigma_infer,
        denoising_strength=args.denoising_strength,
        hop_length=args.stft_hop_length,
        batch_size=args.batch_size,
        amp=args.amp,
        generator=generator,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    output_dir = Path(args.output)
    log_path = output_dir / args.log_file if args.log_file else None
    try:
        utterances = read_input(args.input, args.suffix, args.max_chars, args.on_unknown)
        synthesizer = build_synthesizer(args, device)
    except (InferenceError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    vocoder = (
        "WaveGlow" if synthesizer.waveglow is not None else f"Griffin-Lim ({args.griffin_lim_iters} iters)"
    )
    print(f"{len(utterances)} utterance(s), Tacotron 2 + {vocoder} on {device}", file=sys.stderr)

    records = []
    n_runs = (args.warmup_steps + args.repeats) if args.benchmark else 1
    for run in range(n_runs):
        timing = Timing()
        results = synthesizer.synthesize(utterances, timing)
        if not args.benchmark or run >= args.warmup_steps:
            records.append(performance_record(timing, args.sampling_rate))
    timings = write_outputs(output_dir, utterances, results, args.sampling_rate, args.suffix)
    summary = {key: statistics.median(r[key] for r in records) for key in records[0]}
    log_record(log_path, summary)
    print(f"wrote {len(timings)} WAV(s) to {output_dir}", file=sys.stderr)
    label = f"median of {len(records)} runs" if args.benchmark else "one run"
    print(
        f"{label}: latency {summary['latency']:.3f} s for {summary['audio_seconds']:.2f} s of audio; "
        f"RTF (synthesis seconds / audio seconds, lower is faster) {summary['rtf']:.3f}; "
        f"Tacotron 2 {summary['tacotron2_items_per_sec']:.1f} input tokens/s "
        f"({summary['tacotron2_frames_per_sec']:.1f} frames/s); "
        f"vocoder {summary['waveglow_items_per_sec']:.0f} samples/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
