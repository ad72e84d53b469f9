"""Synthesise speech with a Tacotron 2 + MMI checkpoint (the original's `inference.ipynb` as a command).

    python inference.py --checkpoint outdir/checkpoint_last --text "Hello world." -o hello.wav
    python inference.py --checkpoint CKPT -i sentences.txt -o wavs/ --vocoder waveglow.ts [--seed 1234]

Input: `--text`, or a file of one sentence per line (written as `audio_<i>.wav`) or a `wav_path|text`
filelist (written under each wav's stem); which of the two a file is, is decided from the whole file
(`--input-form` says it outright). Long lines are split at sentence, clause and word boundaries
(`--max-chars`). Output: a 16-bit WAV and an alignment PNG per utterance, `timings.json` (stem ->
synthesis seconds, what `python -m evaluation` reads) and `synthesis.json` (per utterance: frames,
seconds, pieces, whether the stop gate fired for every piece). Existing WAVs are replaced only with --force.

The checkpoint: a train.py checkpoint (ours or the original's), a converted one or a bare state dict, read
without running code from the file. The MI head and the drop frames are not used at inference. The prenet
dropout stays on, as in the original (so two runs differ unless --seed is given); --no-prenet-dropout
makes it deterministic. Vocoder: `--vocoder` a TorchScript module mapping a log-mel (B, n_mel, T) to audio
(B, T * hop_length), e.g. the WaveGlow that `tacotron2_waveglow_ngc/export_vocoder.py` writes (a
TorchScript file runs the code it contains: load only files you trust); without it, Griffin-Lim.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python inference.py`): resolve the relative imports against this folder's package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "tacotron2_mmi"

from filelists.audio import AudioError, write_wav
from filelists.parse import FilelistError
from filelists.text_input import FORMS, read_synthesis_input
from shared_text.split import DEFAULT_MAX_CHARS

from .checkpoints import load_tacotron2
from .infra import (
    HelpFormatter,
    add_device_arguments,
    atomic_write,
    resolve_device,
    run_main,
    synthesis_outputs,
)
from .plots import save_alignment
from .synthesizer import SynthesisError, Synthesizer, encode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python inference.py",
        description="Tacotron 2 + MMI text-to-speech: a WAV and an alignment PNG per utterance.",
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--checkpoint", "-c", required=True, help="train.py, converted or original checkpoint"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="one utterance to synthesise")
    what.add_argument("-i", "--input", help="text file (one utterance a line) or wav_path|text filelist")
    parser.add_argument(
        "--input-form", choices=FORMS, default="auto", help="what -i is (auto: from the file)"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="output folder, or a .wav file for one utterance"
    )
    parser.add_argument("--force", action="store_true", help="replace existing WAVs")
    parser.add_argument("--vocoder", help="TorchScript vocoder: log-mel (B, n_mel, T) -> audio [Griffin-Lim]")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations")
    parser.add_argument("--max-decoder-steps", type=int, help="frames per piece at most [the checkpoint's]")
    parser.add_argument(
        "--gate-threshold", type=float, help="stop when sigmoid(gate) exceeds it [checkpoint]"
    )
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer sentences")
    parser.add_argument("-bs", "--batch-size", type=int, default=1, help="pieces decoded together")
    parser.add_argument("--no-prenet-dropout", action="store_true", help="prenet dropout off: deterministic")
    parser.add_argument("--seed", type=int, help="seed of the prenet dropout and the Griffin-Lim phase")
    add_device_arguments(parser)
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Numbers that would make synthesis hang or crash, refused before the model loads."""
    problems = [f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
                for name in ("max_decoder_steps", "max_chars", "batch_size")
                if getattr(args, name) is not None and getattr(args, name) < 1]  # fmt: skip
    if args.griffin_lim_iters < 0:
        problems.append(f"--griffin-lim-iters must be >= 0, got {args.griffin_lim_iters}")
    if args.gate_threshold is not None and not 0 < args.gate_threshold < 1:
        problems.append(f"--gate-threshold must lie in (0, 1), got {args.gate_threshold}")
    if problems:
        raise SynthesisError("; ".join(problems))


def load_torchscript_vocoder(path: str, device: torch.device):
    """A TorchScript vocoder; it runs the code it contains (a trust boundary, like any executable)."""
    if not Path(path).is_file():
        raise SynthesisError(f"--vocoder {path}: no such file (expected a TorchScript module)")
    try:
        return torch.jit.load(path, map_location=device).eval()
    except (RuntimeError, ValueError) as error:
        raise SynthesisError(
            f"--vocoder {path}: not a TorchScript module ({str(error).splitlines()[0]})"
        ) from None


def synthesize_all(args: argparse.Namespace) -> dict:
    """Synthesise every utterance of --text / --input into --output; returns the per-utterance report."""
    check_arguments(args)
    device = resolve_device(args.device)
    items = read_synthesis_input(text=args.text, path=args.input, form=args.input_form)
    targets = synthesis_outputs(args.output, [item.stem for item in items], args.force)
    overrides = {"prenet_dropout": 0.0} if args.no_prenet_dropout else {}
    model = load_tacotron2(args.checkpoint, map_location=device, **overrides)
    utterances = encode(items, model.hparams.text_cleaners, args.max_chars)
    vocoder = load_torchscript_vocoder(args.vocoder, device) if args.vocoder else None
    if args.seed is not None:
        torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed or 0)
    synthesizer = Synthesizer(model, vocoder, args.griffin_lim_iters, args.batch_size, args.max_decoder_steps,
                              args.gate_threshold, generator)  # fmt: skip
    print(f"{len(utterances)} utterance(s), {synthesizer.describe()} on {device}", file=sys.stderr)
    results = synthesizer.synthesize(utterances)
    report = {}
    for utterance, pieces in tqdm(
        list(zip(utterances, results)), desc="writing", disable=len(utterances) < 2
    ):
        audio = torch.cat([piece.audio for piece in pieces])
        if not bool(torch.isfinite(audio).all()):
            raise SynthesisError(
                f"{utterance.where}: the vocoder produced non-finite audio for {utterance.text!r}"
            )
        target = targets[utterance.stem]
        try:
            write_wav(target, audio.numpy(), model.hparams.sampling_rate)
        except AudioError as error:
            raise SynthesisError(f"{utterance.where}: {error}") from None
        save_alignment(target.with_suffix(".png"), [piece.alignment for piece in pieces], utterance.stem)
        report[utterance.stem] = {
            "frames": sum(int(piece.mel.shape[1]) for piece in pieces),
            "seconds": round(sum(piece.seconds for piece in pieces), 6),
            "pieces": len(pieces),
            "stop_gate_fired": all(piece.finished for piece in pieces),
        }
        if not report[utterance.stem]["stop_gate_fired"]:
            steps = args.max_decoder_steps or model.decoder.max_decoder_steps
            print(f"warning: {utterance.where} ({utterance.stem}): max_decoder_steps={steps} came before the "
                  "stop gate fired; the audio is cut off", file=sys.stderr)  # fmt: skip
    if Path(args.output).suffix.lower() != ".wav":
        timings = {stem: entry["seconds"] for stem, entry in report.items()}
        for name, content in (("timings.json", timings), ("synthesis.json", report)):
            text = json.dumps(content, indent=1) + "\n"
            atomic_write(Path(args.output) / name, lambda stream, text=text: stream.write(text.encode()))
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> None:
        report = synthesize_all(args)
        print(f"wrote {len(report)} WAV(s) to {args.output}", file=sys.stderr)

    return run_main(run, errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
