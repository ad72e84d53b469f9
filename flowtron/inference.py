"""Text -> speech with Flowtron, with the original's flags: a WAV and attention PNGs per utterance.

    python inference.py -c config.json -f flowtron_ljs.pt -w waveglow.ts -i 0 \
        -t "It is well known that deep generative models have a rich latent space!"
    python inference.py -f model_last --text "Hello world." -o hello.wav           # Griffin-Lim
    python inference.py -f model_last --input sentences.txt -o out/ -s 0.7 -n 600 -g 0.5 -i 19

As the original: z ~ N(0, sigma^2) of `-n` frames (seed --seed) inverted through the flows, last flow
first, stopping where the gate fires (`-g`; > 1 never); `-i` is the raw speaker id of the training
filelist (mapped to the embedding row through the checkpoint's speaker table, or `--speakers LIST`, or
the config's training_files when it exists, or taken as the row): an unknown id is an error listing the
known ones, and no training filelist is needed. Text goes through the config's front end (p_arpabet
draws from the seed, as the original).

Input: `-t/--text` or `--input FILE` (a text file, one utterance per line, or a `wav|text[|speaker]`
filelist, whose speaker field then overrides `-i`); `-i` stays the original's speaker id. Long lines are
split at sentence, clause and word boundaries (`--max-chars`). Output `-o`: a folder (the original's
`results/`) or a .wav for one utterance: `<stem>.wav` (16-bit; `sid<ID>_sigma<S>` for `-t`, as the
original names it), `<stem>.png` (mel and the attention of every flow), `timings.json`, `synthesis.json`
(frames, seconds, whether the gate fired, whether the attention reached the last symbol). Existing WAVs
are replaced only with --force.

Vocoder: `-w/--vocoder`, a TorchScript file mel (B, n_mel, T) -> audio, e.g. what
`tacotron2_waveglow_ngc/export_vocoder.py` writes from NVIDIA's waveglow_256channels_universal_v5.pt (the
original loads that pickle; a pickle runs code, a TorchScript file too: load only files you trust).
Without one, Griffin-Lim.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a file (`python inference.py`, as the original): resolve the relative imports below against
    # this folder's package (PEP 366); the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from filelists.audio import AudioError, write_wav
from filelists.parse import FilelistError
from filelists.text_input import FORMS, SynthesisItem, read_synthesis_input
from shared_text.split import DEFAULT_MAX_CHARS, split_text

from .arguments import DEFAULT_CONFIG
from .config import load_config
from .infra import HelpFormatter, add_device_arguments, resolve_device, run_main, synthesis_outputs
from .plots import synthesis_figure
from .synthesizer import SynthesisError, Synthesizer, write_reports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python inference.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("-c", "--config", default=str(DEFAULT_CONFIG), help="JSON config file")
    parser.add_argument("-p", "--params", nargs="*", default=[], help="config overrides section.key=value")
    parser.add_argument(
        "-f",
        "--flowtron_path",
        "--checkpoint",
        dest="checkpoint",
        required=True,
        help="Flowtron checkpoint (published, original train.py, ours)",
    )
    parser.add_argument(
        "-w",
        "--waveglow_path",
        "--vocoder",
        dest="vocoder",
        default=None,
        help="TorchScript vocoder [Griffin-Lim]",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("-t", "--text", help="one utterance to synthesise")
    what.add_argument("--input", help="text file (one utterance a line) or wav_path|text[|speaker] filelist")
    parser.add_argument(
        "--input-form", choices=FORMS, default="auto", help="what --input is (auto: from the file)"
    )
    parser.add_argument(
        "-i", "--id", type=int, default=0, help="raw speaker id (as in the training filelist)"
    )
    parser.add_argument(
        "--speakers", default=None, help="filelist whose speaker ids map -i to rows [checkpoint's]"
    )
    parser.add_argument("-n", "--n_frames", type=int, default=400, help="frames of z (at most this many out)")
    parser.add_argument("-s", "--sigma", type=float, default=0.5, help="standard deviation of z")
    parser.add_argument("-g", "--gate", type=float, default=0.5, help="gate threshold (> 1: never stop)")
    parser.add_argument(
        "-o",
        "--output_dir",
        "--output",
        dest="output",
        default="results/",
        help="output folder, or a .wav file for one utterance",
    )
    parser.add_argument("--seed", type=int, default=1234, help="seed of z and of the ARPAbet draws")
    parser.add_argument("--force", action="store_true", help="replace existing WAVs")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="split longer sentences")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations")
    add_device_arguments(parser)
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Numbers that would crash or hang, refused before the model loads."""
    problems = []
    if args.n_frames < 1:
        problems.append(f"-n/--n_frames must be at least 1, got {args.n_frames}")
    if not (args.sigma >= 0 and args.sigma < float("inf")):
        problems.append(f"-s/--sigma must be >= 0, got {args.sigma}")
    if args.max_chars < 1:
        problems.append(f"--max-chars must be at least 1, got {args.max_chars}")
    if args.griffin_lim_iters < 0:
        problems.append(f"--griffin-lim-iters must be >= 0, got {args.griffin_lim_iters}")
    if problems:
        raise SynthesisError("; ".join(problems))


def items_of(args: argparse.Namespace) -> list[SynthesisItem]:
    items = read_synthesis_input(text=args.text, path=args.input, form=args.input_form)
    if args.text is not None:  # the original's file name
        items = [items[0]._replace(stem=f"sid{args.id}_sigma{args.sigma}")]
    return items


def synthesise_all(args: argparse.Namespace) -> dict[str, float]:
    check_arguments(args)
    device = resolve_device(args.device)
    config = load_config(args.config, args.params)
    items = items_of(args)
    targets = synthesis_outputs(args.output, [item.stem for item in items], args.force)
    synth = Synthesizer.load(args.checkpoint, config, device, args.speakers, args.vocoder, args.seed)
    for item in items:  # every speaker and text checked before anything is synthesised
        synth.speaker_row(item.speaker_id if item.speaker_id is not None else args.id)
        where = f"{item.source}:{item.line_number}" if item.line_number else str(item.source)
        for piece in split_text(item.text, args.max_chars) or [item.text]:
            synth.encode(piece, where)
    generator = torch.Generator().manual_seed(args.seed)
    timings, report = {}, {}
    for item in tqdm(items, desc="synthesis", unit="utt", disable=len(items) < 2, dynamic_ncols=True):
        where = f"{item.source}:{item.line_number}" if item.line_number else str(item.source)
        speaker = item.speaker_id if item.speaker_id is not None else args.id
        results = [
            synth.synthesise(piece, speaker, args.sigma, args.n_frames, args.gate, generator, where)
            for piece in split_text(item.text, args.max_chars)
        ]
        mel = torch.cat([result.mel for result in results], dim=1)
        audio = synth.vocode(mel, args.griffin_lim_iters)
        target = targets[item.stem]
        try:
            write_wav(target, audio, config.data_config.sampling_rate)
        except AudioError as error:
            raise SynthesisError(f"{where}: {error}") from None
        for flow, attention in enumerate(results[0].attentions):
            title = (
                f"{item.stem}, attention of the flow run {flow + 1}st"
                if flow == 0
                else f"flow run {flow + 1}"
            )
            synthesis_figure(mel.cpu().numpy(), attention.cpu().numpy(), title).savefig(
                target.with_name(f"{target.stem}_attnlayer{flow}.png")
            )
        synthesis_figure(mel.cpu().numpy(), results[0].attentions[-1].cpu().numpy(), item.text[:80]).savefig(
            target.with_suffix(".png")
        )
        timings[item.stem] = round(sum(result.seconds for result in results), 6)
        report[item.stem] = {
            "frames": int(mel.shape[1]),
            "seconds": timings[item.stem],
            "speaker": speaker,
            "pieces": len(results),
            "gate_fired": all(r.gate_fired for r in results),
            "attention_reached_end": all(r.attention_reached_end for r in results),
        }
    if len(targets) > 1 or Path(args.output).suffix.lower() != ".wav":
        write_reports(args.output, timings, report)
    return timings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> None:
        timings = synthesise_all(args)
        print(f"wrote {len(timings)} WAV(s) to {args.output}", file=sys.stderr)

    return run_main(run, errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
