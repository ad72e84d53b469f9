"""Text to speech with a NaturalSpeech checkpoint (the original has no inference script; this follows its
author's snippet: encoder, predicted durations, prior sample, flow^-1, memory bank, decoder).

    python inference.py --checkpoint logs/RUN/G_1500.pth --text "Hello world." -o hello.wav
    python inference.py --checkpoint G_1500.pth -c configs/ljs.json -i sentences.txt -o wavs/ \\
        [--noise-scale 0.667] [--length-scale 1.1] [--seed 1234]

--config is needed only for the original's G files, which hold no configuration. Input: --text, or a file
of one sentence per line (written as audio_<i>.wav) or a wav|text filelist (named after the wav stems),
decided from the whole file (--input-form says it). Text goes through english_cleaners2 (eSpeak NG), or
is taken as phonemes with --cleaned-text; long lines are split at sentences, clauses and words
(--max-chars) and the pieces concatenated. Output per utterance: a 16-bit WAV and a PNG (log-mel and the
duration of every symbol); for a folder also timings.json (stem -> seconds, for `python -m evaluation`)
and synthesis.json (frames, seconds, pieces, durations). The model is end-to-end: no vocoder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "naturalspeech"

from filelists.audio import AudioError, write_wav
from filelists.parse import FilelistError
from filelists.text_input import FORMS, SynthesisItem, read_synthesis_input
from shared_text.front_ends import EmptyTextError
from shared_text.sequence import UnknownSymbolError
from shared_text.split import DEFAULT_MAX_CHARS, split_text

from .checkpoints import load_generator
from .config import Config
from .data_utils import text_to_ids
from .infra import (
    HelpFormatter,
    UserError,
    add_device_arguments,
    atomic_write,
    resolve_device,
    run_main,
    synthesis_outputs,
)
from .mel_processing import mel_spectrogram_torch


class SynthesisError(UserError):
    """Bad input for synthesis, or output that is not finite; the message names the line or sentence."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python inference.py", description=__doc__, formatter_class=HelpFormatter, allow_abbrev=False
    )
    parser.add_argument(
        "--checkpoint", required=True, help="G_<N>.pth (train.py's, the original's, converted)"
    )
    parser.add_argument("-c", "--config", default=None, help="JSON config, for files that hold none")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="one utterance to synthesise")
    what.add_argument("-i", "--input", help="text file (one utterance a line) or wav_path|text filelist")
    parser.add_argument(
        "--input-form", choices=FORMS, default="auto", help="what -i is (auto: from the file)"
    )
    parser.add_argument("--cleaned-text", action="store_true", help="the input is phonemes already")
    parser.add_argument(
        "-o", "--output", required=True, help="output folder, or a .wav file for one utterance"
    )
    parser.add_argument("--force", action="store_true", help="replace existing WAVs")
    parser.add_argument(
        "--noise-scale", type=float, default=0.667, help="std scale of the prior sample (>= 0)"
    )
    parser.add_argument("--length-scale", type=float, default=1.0, help="duration scale: > 1 slower")
    parser.add_argument("--max-len", type=int, default=None, help="decode at most this many frames per piece")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer sentences")
    parser.add_argument("--seed", type=int, default=None, help="seed of the prior samples")
    add_device_arguments(parser)
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    problems = []
    if not (math.isfinite(args.noise_scale) and args.noise_scale >= 0):
        problems.append(f"--noise-scale must be >= 0, got {args.noise_scale}")
    if not (math.isfinite(args.length_scale) and args.length_scale > 0):
        problems.append(f"--length-scale must be positive, got {args.length_scale}")
    if args.max_len is not None and args.max_len < 1:
        problems.append(f"--max-len must be at least 1 frame, got {args.max_len}")
    if args.max_chars < 1:
        problems.append(f"--max-chars must be at least 1, got {args.max_chars}")
    if problems:
        raise SynthesisError("; ".join(problems))


class Utterance(NamedTuple):
    item: SynthesisItem
    pieces: list[str]
    ids: list[list[int]]

    @property
    def where(self) -> str:
        return (
            f"{self.item.source}:{self.item.line_number}" if self.item.line_number else str(self.item.source)
        )


def encode(items: list[SynthesisItem], config: Config, cleaned: bool, max_chars: int) -> list[Utterance]:
    """Every utterance split and encoded before anything is synthesised (errors name the line)."""
    data = config.data
    data = type(data)(**{**data.__dict__, "cleaned_text": cleaned})
    utterances = []
    for item in items:
        pieces = split_text(item.text, max_chars) if not cleaned else [item.text]
        utterance = Utterance(item, pieces, [])
        if not pieces:
            raise SynthesisError(f"{utterance.where}: nothing to synthesise")
        for piece in pieces:
            try:
                utterance.ids.append(text_to_ids(piece, data))
            except UnknownSymbolError as error:
                raise SynthesisError(
                    f"{utterance.where}: symbol {error.symbol!r} is not in the VITS table ({item.text!r})"
                ) from None
            except EmptyTextError:
                raise SynthesisError(
                    f"{utterance.where}: {piece!r} has nothing to speak after cleaning"
                ) from None
        utterances.append(utterance)
    return utterances


@torch.no_grad()
def synthesise(net_g, utterance: Utterance, args, config: Config, device) -> tuple[np.ndarray, list, float]:
    """(audio, per-piece durations, seconds) of one utterance, its pieces concatenated."""
    hop = config.data.hop_length
    audio, durations = [], []
    started = time.perf_counter()
    for piece, ids in zip(utterance.pieces, utterance.ids):
        x = torch.tensor([ids], dtype=torch.long, device=device)
        result = net_g.infer(
            x,
            torch.tensor([len(ids)], device=device),
            noise_scale=args.noise_scale,
            length_scale=args.length_scale,
            max_len=args.max_len,
        )
        frames = int(result.y_mask.sum())
        if args.max_len is not None:
            frames = min(frames, args.max_len)
        samples = result.audio[0, 0, : frames * hop].float()
        if frames == 0:
            raise SynthesisError(f"{utterance.where}: the model predicted no frames for {piece!r}")
        if not bool(torch.isfinite(samples).all()):
            raise SynthesisError(f"{utterance.where}: the model produced non-finite audio for {piece!r}")
        audio.append(samples.cpu().numpy())
        durations.append([round(float(d), 3) for d in result.durations[0]])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return np.concatenate(audio), durations, time.perf_counter() - started


def save_png(path: Path, audio: np.ndarray, durations: list, config: Config, title: str) -> None:
    from matplotlib.figure import Figure

    data = config.data
    mel = mel_spectrogram_torch(
        torch.from_numpy(audio)[None],
        data.filter_length,
        data.n_mel_channels,
        data.sampling_rate,
        data.hop_length,
        data.win_length,
        data.mel_fmin,
        data.mel_fmax,
    )[0].numpy()
    figure = Figure(figsize=(10, 5))
    top, bottom = figure.subplots(2, 1)
    top.imshow(mel, aspect="auto", origin="lower", interpolation="none")
    top.set_title(title[:80])
    top.set_ylabel("mel channel")
    bottom.bar(range(len(durations[0])), durations[0])
    bottom.set_xlabel("symbol (first piece, blanks included)")
    bottom.set_ylabel("frames")
    figure.tight_layout()
    figure.savefig(path)


def synthesise_all(args: argparse.Namespace) -> dict[str, float]:
    check_arguments(args)
    device = resolve_device(args.device)
    items = read_synthesis_input(text=args.text, path=args.input, form=args.input_form)
    targets = synthesis_outputs(args.output, [item.stem for item in items], args.force)
    net_g, config = load_generator(args.checkpoint, args.config, device)
    utterances = encode(items, config, args.cleaned_text, args.max_chars)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    timings, report = {}, {}
    for utterance in utterances:
        stem, target = utterance.item.stem, targets[utterance.item.stem]
        audio, durations, seconds = synthesise(net_g, utterance, args, config, device)
        try:
            write_wav(target, audio, config.data.sampling_rate)
        except AudioError as error:
            raise SynthesisError(f"{utterance.where}: {error}") from None
        save_png(target.with_suffix(".png"), audio, durations, config, utterance.item.text)
        timings[stem] = round(seconds, 6)
        report[stem] = {
            "frames": len(audio) // config.data.hop_length,
            "seconds": timings[stem],
            "pieces": len(utterance.pieces),
            "durations": durations,
        }
    if len(targets) > 1 or Path(args.output).suffix.lower() != ".wav":
        for name, content in (("timings.json", timings), ("synthesis.json", report)):
            atomic_write(
                Path(args.output) / name,
                lambda stream, c=content: stream.write((json.dumps(c, indent=1) + "\n").encode()),
            )
    return timings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> None:
        timings = synthesise_all(args)
        print(f"wrote {len(timings)} WAV(s) to {args.output}", file=sys.stderr)

    return run_main(run, errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
