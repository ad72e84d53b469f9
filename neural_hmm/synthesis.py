"""Synthesise speech from text with a Neural-HMM checkpoint: the original's `synthesis.ipynb` as a command.

    python -m neural_hmm.synthesis --checkpoint checkpoints/TestRun/checkpoint_last.ckpt \\
        -i sentences.txt -o wavs/ [--vocoder hifigan.ts] [--sampling-temp 0.667] [--predict-means] \\
        [--duration-quantile-threshold 0.42] [--speaking-rate 1.0] [--max-sampling-time 1800] [--seed 1234]

Input: one sentence per line (outputs `utt_<i>.wav`, i counted from 0 over the non-empty lines), or a
`wav_path|text` filelist (outputs named after each wav's stem). Output, per line: `<stem>.wav`,
`<stem>.png` (the log-mel and the state that emitted each frame), and `timings.json` (stem -> seconds of
acoustic model + vocoder). Checkpoints: train.py's, ours (`convert_checkpoint.py`) and the published
Lightning `.ckpt` files (read without running code from them, see checkpoints.py).

Synthesis settings not given on the command line come from the checkpoint's hparams, as the original's
`load_from_checkpoint` does (`duration_quantile_threshold` 0.5, `max_sampling_time` 1000, `predict_means`
True; the notebook sets 0.42 and 1800). The prenet dropout stays on while synthesising, as in the
original (`prenet_dropout_while_eval`); `--no-prenet-dropout` makes the output deterministic.

Vocoder: a TorchScript file (`torch.jit.load`) mapping a de-normalised log-mel (B, n_mel, T) to audio
(B, T * hop_length), e.g. exported by `python -m tacotron2_waveglow_ngc.export_vocoder`; without one,
Griffin-Lim (a quick, buzzy preview; the paper uses HiFi-GAN). WAVs are written at the model's
sampling rate (the notebook's 22500 Hz is a typo for 22050).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import librosa
import numpy as np
import soundfile
import torch

if __package__ in (None, ""):
    # Run as a file (`python synthesis.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from shared_text.sequence import UnknownSymbolError  # noqa: E402

from .checkpoints import CheckpointError, load_neural_hmm  # noqa: E402
from .data import text_to_ids  # noqa: E402
from .hparams import HParams  # noqa: E402
from .logger import plot_mel_and_states  # noqa: E402


class SynthesisError(ValueError):
    """Bad input for synthesis; the message names the file and line."""


class Sentence(NamedTuple):
    stem: str
    line_number: int
    text: str
    ids: torch.Tensor  # (L,) long


def read_sentences(path: str | Path, hparams: HParams) -> list[Sentence]:
    """Plain text (one sentence per line) or a `wav|text` filelist; every line encoded with the model's
    front end. SynthesisError for a missing or empty file, an empty text, a character outside the symbol
    table (naming the line and the character) or output names that repeat."""
    path = Path(path)
    if not path.is_file():
        raise SynthesisError(f"{path}: no such input file")
    numbered = [(i + 1, line) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())]
    numbered = [(number, line) for number, line in numbered if line.strip()]
    if not numbered:
        raise SynthesisError(f"{path}: the input file is empty (expected one sentence per line)")
    is_filelist = all("|" in line for _, line in numbered)
    sentences = []
    for index, (number, line) in enumerate(numbered):
        if is_filelist:
            fields = line.split("|")
            stem, text = Path(fields[0].strip()).stem, fields[-1].strip()
        else:
            stem, text = f"utt_{index}", line.strip()
        if not text:
            raise SynthesisError(f"{path}:{number}: no text to synthesise in {line!r}")
        try:
            ids = text_to_ids(text, hparams.text_cleaners, hparams.phonetise)
        except UnknownSymbolError as error:
            raise SynthesisError(
                f"{path}:{number}: character {error.symbol!r} is not in the Neural-HMM symbol table "
                f"(line {text!r}); remove it or spell it out"
            ) from None
        if len(ids) == 0:
            raise SynthesisError(f"{path}:{number}: {text!r} has no symbols after cleaning")
        sentences.append(Sentence(stem, number, text, ids))
    stems = [s.stem for s in sentences]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise SynthesisError(f"{path}: output names {repeated[:5]} occur more than once")
    return sentences


def griffin_lim(log_mel: np.ndarray, hparams: HParams, n_iter: int = 60, seed: int = 0) -> np.ndarray:
    """De-normalised log-mel (n_mel, T) -> audio (about T * hop_length samples) in [-1, 1]: the mel
    magnitude (`TacotronSTFT` uses magnitude, not power, and Slaney mel filters) back to a linear
    magnitude by non-negative least squares, then Griffin-Lim phase reconstruction."""
    magnitude = librosa.feature.inverse.mel_to_stft(
        np.exp(log_mel.astype(np.float64)),
        sr=hparams.sampling_rate,
        n_fft=hparams.filter_length,
        power=1.0,
        fmin=hparams.mel_fmin,
        fmax=hparams.mel_fmax,
    )
    audio = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        hop_length=hparams.hop_length,
        win_length=hparams.win_length,
        n_fft=hparams.filter_length,
        window="hann",
        center=True,
        random_state=seed,
    )
    return audio.astype(np.float32)


def load_vocoder(path: str | Path, device: torch.device):
    path = Path(path)
    if not path.is_file():
        raise SynthesisError(f"{path}: no such vocoder file (expected a TorchScript module)")
    try:
        vocoder = torch.jit.load(str(path), map_location=device)
    except RuntimeError as error:
        raise SynthesisError(f"{path}: not a TorchScript vocoder ({str(error).splitlines()[0]})") from error
    return vocoder.eval()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neural_hmm.synthesis",
        description="Neural-HMM text-to-speech: WAV, PNG (mel + states) per line and timings.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--checkpoint", required=True, help="train.py / converted / Lightning checkpoint")
    parser.add_argument("-i", "--input", required=True, help="text file (one sentence a line) or filelist")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--sampling-temp", type=float, default=0.667, help="std scale of the sampled frames")
    parser.add_argument(
        "--predict-means",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="emit the means instead of samples (default: the checkpoint's hparams, True in the original)",
    )
    parser.add_argument(
        "--duration-quantile-threshold",
        type=float,
        default=None,
        help="leave a state when P(still there) drops below it; higher = faster (default: hparams, 0.5)",
    )
    parser.add_argument("--speaking-rate", type=float, default=1.0, help=">1 faster, <1 slower")
    parser.add_argument(
        "--max-sampling-time", type=int, default=None, help="frames per sentence at most (default: hparams)"
    )
    parser.add_argument(
        "--no-prenet-dropout", action="store_true", help="switch the prenet dropout off: deterministic output"
    )
    parser.add_argument("--vocoder", default=None, help="TorchScript vocoder; Griffin-Lim when not given")
    parser.add_argument("--griffin-lim-iters", type=int, default=60)
    parser.add_argument("--seed", type=int, default=None, help="seed for dropout and sampling")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def synthesise_file(args: argparse.Namespace) -> dict[str, float]:
    """Synthesise every line of args.input into args.output; returns the timings (stem -> seconds)."""
    device = torch.device(args.device)
    if args.speaking_rate <= 0:
        raise SynthesisError(f"--speaking-rate must be positive, got {args.speaking_rate}")
    model = load_neural_hmm(args.checkpoint, map_location=device)
    hparams = model.hparams
    sentences = read_sentences(args.input, hparams)
    vocoder = load_vocoder(args.vocoder, device) if args.vocoder else None
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    max_frames = args.max_sampling_time or hparams.max_sampling_time
    timings = {}
    for sentence in sentences:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
            sample = model.synthesise(
                sentence.ids.to(device),
                sampling_temp=args.sampling_temp,
                max_sampling_time=max_frames,
                duration_quantile_threshold=args.duration_quantile_threshold,
                predict_means=args.predict_means,
                speaking_rate=args.speaking_rate,
                prenet_dropout=False if args.no_prenet_dropout else None,
            )
        if not sample.reached_final_state:
            warnings.warn(
                f"{sentence.stem} (line {sentence.line_number}, {sentence.text!r}): reached "
                f"max_sampling_time = {max_frames} frames before the last state; the audio is cut off",
                stacklevel=2,
            )
        mel = sample.mel.float().T  # (n_mel, T)
        if mel.shape[1] == 0:
            audio = np.zeros(0, dtype=np.float32)
        elif vocoder is not None:
            with torch.no_grad():
                audio = vocoder(mel.unsqueeze(0)).float().reshape(-1).cpu().numpy()
        else:
            audio = griffin_lim(mel.cpu().numpy(), hparams, args.griffin_lim_iters, args.seed or 0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings[sentence.stem] = round(time.perf_counter() - started, 6)
        soundfile.write(
            str(output / f"{sentence.stem}.wav"),
            np.clip(audio, -1.0, 1.0),
            hparams.sampling_rate,
            subtype="PCM_16",
        )
        n_states = int(sample.encoder_outputs.shape[1])
        figure = plot_mel_and_states(
            mel.cpu().numpy(), sample.state_index_per_step.cpu().numpy(), n_states, sentence.text[:80]
        )
        figure.savefig(output / f"{sentence.stem}.png")
    (output / "timings.json").write_text(json.dumps(timings, indent=1) + "\n", encoding="utf-8")
    return timings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        timings = synthesise_file(args)
    except (SynthesisError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(timings)} WAV(s) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
