"""Text -> speech with Tacotron 2 and WaveGlow (DLE `inference.py`): a WAV and an alignment PNG per utterance.

    python inference.py --checkpoint T2.pt --text "Hello world." -o hello.wav        # Griffin-Lim
    python inference.py --tacotron2 T2.pt --waveglow WG.pt -i phrases.txt -o out/ [-s 0.6] [-d 0.01]
        [-bs N] [--amp] [--int8] [--device cpu|cuda] [--max-decoder-steps N] [--benchmark]

Input: `--text`, or a file of one utterance per line (written as `audio_<i><suffix>.wav`, i counted from 0
over the non-blank lines, in input order; DLE writes them in length-sorted order) or a `wav_path|text`
filelist (written under each wav's stem, so `python -m evaluation` can match them); which of the two a
file is, is decided from the whole file (`--input-form`). Long lines are split at sentence, clause and
word boundaries (`--max-chars`) so each piece stays within max_decoder_steps; pieces are synthesised
`-bs` at a time and concatenated. Beside the WAVs (16-bit PCM; DLE writes float32): `<stem>.png` (the
alignment of every piece), `timings.json` (stem -> synthesis seconds, for `python -m evaluation`),
`synthesis.json` (per utterance: frames, seconds, whether the stop gate fired for every piece) and the
`--log-file` record. Existing WAVs are replaced only with --force; every output path is checked before
any synthesis.

Vocoder: `--waveglow` (a checkpoint in any format `waveglow_checkpoints.py` reads) with the denoiser, or
`--vocoder` (a TorchScript file mel (B, n_mel, T) -> audio (B, T·hop), e.g. from export_vocoder.py; it runs
the code it contains: load only files you trust), or Griffin-Lim.
Speed (opt-in; they change the numbers slightly): `--amp` (Tacotron 2 autocast, WaveGlow couplings in
half precision: fp16 on CUDA, bf16 on CPU, ~3x on CPUs with bf16 units), `--int8` (the decoder LSTMCells
int8 on CPU, ~5x). `--benchmark` repeats the synthesis and logs DLE's medians: `tacotron2_items_per_sec`
(here input tokens/s; DLE's mel frames/s is `tacotron2_frames_per_sec`), `waveglow_items_per_sec`
(samples/s), the latencies and the RTF (synthesis seconds / audio seconds, lower is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python inference.py`, as in DLE): resolve the relative imports below against this
    # folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_waveglow_ngc"

from filelists.audio import AudioError, write_wav
from filelists.parse import FilelistError
from filelists.text_input import FORMS, read_synthesis_input
from shared_text.sequence import UnknownSymbolError, text_to_sequence
from shared_text.split import DEFAULT_MAX_CHARS, split_text

from .denoiser import Denoiser
from .fast_inference import prepare_tacotron2, prepare_waveglow
from .infra import (
    HelpFormatter,
    RunLog,
    UserError,
    add_device_arguments,
    atomic_write,
    resolve_device,
    run_main,
    synthesis_outputs,
)
from .plots import save_alignment
from .synthesizer import GriffinLim, Synthesizer, Timing, Utterance, peak_normalise, performance_record
from .tacotron2_checkpoints import load_tacotron2
from .waveglow_checkpoints import load_waveglow


class InferenceError(UserError):
    """A problem with the user's input, or output that is not finite; names the file, line or sentence."""


def encode_utterances(items, max_chars: int, on_unknown: str = "error", suffix: str = "") -> list[Utterance]:
    """Every input split into pieces and encoded (english_cleaners, the 148-symbol table) before anything
    is synthesised; on_unknown="drop" drops characters outside the table with a warning (DLE drops them
    silently)."""
    utterances = []
    for item in items:
        where = f"{item.source}:{item.line_number}" if item.line_number else str(item.source)
        utterance = Utterance(f"{item.stem}{suffix}", where, item.text, split_text(item.text, max_chars))
        for piece in utterance.sentences:
            try:
                ids = text_to_sequence(
                    piece, ["english_cleaners"], symbol_set="tacotron2", on_unknown=on_unknown
                )
            except UnknownSymbolError as error:
                raise InferenceError(
                    f"{where}: character {error.symbol!r} is not in the Tacotron 2 symbol set "
                    f"({item.text!r}); remove or spell it out, or pass --on-unknown drop"
                ) from None
            if not ids:
                raise InferenceError(f"{where}: {piece!r} has nothing to speak after cleaning")
            utterance.sequences.append(ids)
        if not utterance.sentences:
            raise InferenceError(f"{where}: nothing to synthesise")
        utterances.append(utterance)
    return utterances


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python inference.py",
        description="Tacotron 2 + WaveGlow text-to-speech (DLE inference.py): a WAV and a PNG per utterance.",
        formatter_class=HelpFormatter,
        allow_abbrev=False,
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
    parser.add_argument("--suffix", default="", help="output file name suffix")
    parser.add_argument(
        "--tacotron2",
        "--checkpoint",
        dest="tacotron2",
        required=True,
        help="Tacotron 2 checkpoint (any format)",
    )
    vocoder = parser.add_mutually_exclusive_group()
    vocoder.add_argument("--waveglow", help="WaveGlow checkpoint [Griffin-Lim]")
    vocoder.add_argument("--vocoder", help="TorchScript vocoder, e.g. from export_vocoder.py [Griffin-Lim]")
    parser.add_argument("-s", "--sigma-infer", type=float, default=0.6, help="WaveGlow noise scale (>= 0)")
    parser.add_argument(
        "-d", "--denoising-strength", type=float, default=0.01, help="0 disables the denoiser"
    )
    parser.add_argument("-sr", "--sampling-rate", type=int, default=22050, help="WAV sampling rate")
    parser.add_argument("--stft-hop-length", type=int, default=256, help="samples per mel frame")
    parser.add_argument("-bs", "--batch-size", type=int, default=1, help="pieces per Tacotron 2 batch")
    parser.add_argument("--max-decoder-steps", type=int, help="override the checkpoint's max_decoder_steps")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer pieces")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations")
    parser.add_argument(
        "--on-unknown",
        choices=["error", "drop"],
        default="error",
        help="characters outside the symbol set (e.g. quotes): stop with an error, or drop them",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the prenet dropout, WaveGlow noise and Griffin-Lim phase"
    )
    add_device_arguments(parser)
    parser.add_argument("--amp", "--fp16", dest="amp", action="store_true", help="half precision (see above)")
    parser.add_argument("--int8", action="store_true", help="CPU: int8 decoder LSTMCells (see above)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads on CPU")
    parser.add_argument("--log-file", default="nvlog.json", help="JSON-lines log, inside the output folder")
    parser.add_argument("--benchmark", action="store_true", help="repeat the synthesis and log median speed")
    parser.add_argument("--warmup-steps", type=int, default=1, help="--benchmark: untimed runs")
    parser.add_argument("--repeats", type=int, default=3, help="--benchmark: timed runs")
    dle = parser.add_argument_group(
        "DLE compatibility: the model sizes come from the checkpoints; a value given here must match"
    )
    for flag, what in (
        ("--wn-channels", "n_channels"),
        ("--wn-layers", "n_layers"),
        ("--wn-kernel-size", "kernel_size"),
    ):
        dle.add_argument(flag, type=int, default=None, help=f"WaveGlow WN {what}")
    dle.add_argument(
        "--include-warmup", action="store_true", help="accepted; warm-up runs are never timed here"
    )
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Numbers that would fail after the models load, refused before."""
    positive = ("batch_size", "max_decoder_steps", "max_chars", "repeats", "sampling_rate", "stft_hop_length")
    problems = [
        f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
        for name in positive
        if getattr(args, name) is not None and getattr(args, name) < 1
    ]
    for name in ("sigma_infer", "denoising_strength", "griffin_lim_iters", "warmup_steps"):
        if not getattr(args, name) >= 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if problems:
        raise InferenceError("; ".join(problems))


def build_synthesizer(args: argparse.Namespace, device: torch.device) -> Synthesizer:
    overrides = {} if args.max_decoder_steps is None else {"max_decoder_steps": args.max_decoder_steps}
    tacotron2, _ = load_tacotron2(args.tacotron2, map_location=device, config_overrides=overrides)
    if args.int8:
        if device.type != "cpu":
            raise InferenceError("--int8 (the compiled int8 kernel) runs on CPU only; add --device cpu")
        tacotron2 = prepare_tacotron2(tacotron2, "int8")
    generator = None if args.seed is None else torch.Generator().manual_seed(args.seed)
    waveglow = denoiser = vocoder = None
    if args.waveglow is not None:
        waveglow = load_waveglow(args.waveglow, map_location=device, remove_weightnorm=True)
        given = {
            "n_channels": args.wn_channels,
            "n_layers": args.wn_layers,
            "kernel_size": args.wn_kernel_size,
        }
        actual = {
            "n_channels": waveglow.WN[0].n_channels,
            "n_layers": waveglow.WN[0].n_layers,
            "kernel_size": waveglow.WN[0].in_layers[0].kernel_size[0],
        }
        wrong = [
            f"{k}: given {v}, checkpoint {actual[k]}"
            for k, v in given.items()
            if v is not None and v != actual[k]
        ]
        if wrong:
            raise InferenceError(
                f"--waveglow {args.waveglow}: the WN flags differ from the checkpoint ({wrong})"
            )
        if waveglow.n_mel_channels != tacotron2.n_mel_channels:
            raise InferenceError(
                f"--waveglow expects {waveglow.n_mel_channels} mel channels, --tacotron2 makes "
                f"{tacotron2.n_mel_channels}"
            )
        denoiser = Denoiser(waveglow).to(device) if args.denoising_strength > 0 else None
        if args.amp:
            waveglow = prepare_waveglow(waveglow, "bf16")  # after the denoiser took its fp32 bias
    elif args.vocoder is not None:
        vocoder = load_torchscript_vocoder(args.vocoder, device)
    griffin_lim = None
    if waveglow is None and vocoder is None:
        griffin_lim = GriffinLim(
            args.griffin_lim_iters,
            hop_length=args.stft_hop_length,
            n_mel_channels=tacotron2.n_mel_channels,
            sampling_rate=args.sampling_rate,
        )
        griffin_lim = griffin_lim.to(device)
    return Synthesizer(
        tacotron2,
        waveglow,
        denoiser,
        griffin_lim,
        vocoder,
        sigma=args.sigma_infer,
        denoising_strength=args.denoising_strength,
        hop_length=args.stft_hop_length,
        batch_size=args.batch_size,
        amp=args.amp,
        generator=generator,
    )


def load_torchscript_vocoder(path: str, device: torch.device):
    """A TorchScript vocoder. It runs the code it contains: a trust boundary, as any executable."""
    if not Path(path).is_file():
        raise InferenceError(f"--vocoder {path}: no such file (expected a TorchScript module)")
    try:
        return torch.jit.load(path, map_location=device).eval()
    except RuntimeError as error:
        raise InferenceError(
            f"--vocoder {path}: not a TorchScript module ({str(error).splitlines()[0]})"
        ) from None


def write_outputs(targets: dict[str, Path], utterances: list[Utterance], results, sampling_rate: int) -> dict:
    """WAV + alignment PNG per utterance; returns the per-utterance report."""
    report = {}
    for utterance, sentences in zip(utterances, results):
        audio = torch.cat([s.audio for s in sentences])
        if not bool(torch.isfinite(audio).all()):
            raise InferenceError(
                f"{utterance.where}: the models produced non-finite audio for {utterance.text!r}"
            )
        target = targets[utterance.stem]
        try:
            write_wav(target, peak_normalise(audio).numpy(), sampling_rate)
        except AudioError as error:
            raise InferenceError(f"{utterance.where}: {error}") from None
        save_alignment(target.with_suffix(".png"), [s.alignment for s in sentences], utterance.stem)
        report[utterance.stem] = {
            "frames": sum(int(s.mel.shape[1]) for s in sentences),
            "seconds": round(sum(s.seconds for s in sentences), 6),
            "pieces": len(sentences),
            "stop_gate_fired": all(s.finished for s in sentences),
        }
    return report


def synthesize_all(args: argparse.Namespace) -> None:
    check_arguments(args)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    items = read_synthesis_input(text=args.text, path=args.input, form=args.input_form)
    utterances = encode_utterances(items, args.max_chars, args.on_unknown, args.suffix)
    targets = synthesis_outputs(args.output, [u.stem for u in utterances], args.force)
    folder = None if Path(args.output).suffix.lower() == ".wav" else Path(args.output)
    synthesizer = build_synthesizer(args, device)
    print(f"{len(utterances)} utterance(s), {synthesizer.describe()} on {device}", file=sys.stderr)

    records = []
    runs = (args.warmup_steps + args.repeats) if args.benchmark else 1
    for run in tqdm(range(runs), desc="benchmark runs", disable=runs < 2):
        timing = Timing()
        results = synthesizer.synthesize(utterances, timing, progress=runs == 1)
        if not args.benchmark or run >= args.warmup_steps:
            records.append(performance_record(timing, args.sampling_rate))
    report = write_outputs(targets, utterances, results, args.sampling_rate)
    steps = synthesizer.max_decoder_steps or synthesizer.tacotron2.decoder.max_decoder_steps
    for utterance, sentences in zip(utterances, results):
        for piece, result in zip(utterance.sentences, sentences):
            if not result.finished:
                print(
                    f"warning: {utterance.where} ({utterance.stem}): Tacotron 2 reached max_decoder_steps="
                    f"{steps} before the stop gate fired for {piece!r}; its audio is cut off",
                    file=sys.stderr,
                )
    summary = {key: statistics.median(r[key] for r in records) for key in records[0]}
    if folder is not None:
        timings = {stem: entry["seconds"] for stem, entry in report.items()}
        for name, content in (("timings.json", timings), ("synthesis.json", report)):
            text = json.dumps(content, indent=1) + "\n"
            atomic_write(folder / name, lambda stream, text=text: stream.write(text.encode()))
        log = RunLog(folder / args.log_file)
        log.record(0, summary)
        log.close()
    print(f"wrote {len(report)} WAV(s) to {args.output}", file=sys.stderr)
    label = f"median of {len(records)} runs" if args.benchmark else "one run"
    print(
        f"{label}: latency {summary['latency']:.3f} s for {summary['audio_seconds']:.2f} s of audio; "
        f"RTF (synthesis seconds / audio seconds, lower is faster) {summary['rtf']:.3f}; "
        f"Tacotron 2 {summary['tacotron2_items_per_sec']:.1f} input tokens/s "
        f"({summary['tacotron2_frames_per_sec']:.1f} frames/s); "
        f"vocoder {summary['waveglow_items_per_sec']:.0f} samples/s"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: synthesize_all(args), errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
