"""The original's control procedures as commands: posterior sampling / style transfer (its
`inference_style_transfer.ipynb`), interpolation (its project page) and sigma control.

    python control.py posterior -f model_last --reference surprised.txt -t "A new sentence." -o out/
    python control.py interpolate -f model_last -t "Some text." --seeds 1 2 --steps 5 -o out/
    python control.py interpolate -f model_last -t "Some text." --speakers 3 11 --steps 5 -o out/
    python control.py sigma -f model_last -t "Some text." --sigmas 0 0.5 0.8 1.0 -o out/

posterior: each reference utterance (`wav|text[|speaker]` filelist) is mapped to its z by the forward
pass (no prior; speaker `-i`, as the notebook forces 0); "batch" mode tiles each z along time to
`-n` frames and averages over the clips, "time_and_batch" averages over time too; the mean is shrunk
as mu = (k/lambda) z_mean / (k/lambda + 1) for k clips, and z_post ~ N(mu, sigma^2) is inverted for the
new text, beside a baseline z ~ N(0, sigma^2) (`baseline.wav`). interpolate: z = (1-a) z_1 + a z_2 for a
in [0, 1] between two seeds for one speaker, or one z for speakers embedded as (1-a) e_1 + a e_2.
sigma: the same text at each sigma from one standard-normal draw (z = sigma * n).
Each output: `<name>.wav`, `<name>.png`, and `synthesis.json` (frames, whether the gate fired).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "flowtron"

from filelists.audio import write_wav
from filelists.parse import FilelistError, read_filelist

from .arguments import DEFAULT_CONFIG
from .audio import TacotronSTFT, load_audio
from .config import load_config
from .infra import HelpFormatter, add_device_arguments, check_output_dir, resolve_device, run_main
from .plots import synthesis_figure
from .synthesizer import SynthesisError, Synthesizer, write_reports


def reference_z(
    synth: Synthesizer, filelist: str, speaker: int, dataset_path: str | None
) -> list[torch.Tensor]:
    """z (1, n_mel, T) of every utterance of `filelist` through the forward pass, without the prior."""
    data, model = synth.config.data_config, synth.model
    stft = TacotronSTFT(
        data.filter_length,
        data.hop_length,
        data.win_length,
        model.n_mel_channels,
        data.sampling_rate,
        data.mel_fmin,
        data.mel_fmax,
    )
    row = torch.tensor([synth.speaker_row(speaker)], device=synth.device)
    latents = []
    for utterance in read_filelist(filelist, dataset_path):
        mel = stft.mel_spectrogram(
            load_audio(utterance.audio_path, data.sampling_rate, data.max_wav_value)[None]
        )
        ids = synth.encode(utterance.text, f"{utterance.source}:{utterance.line_number}")[None].to(
            synth.device
        )
        with torch.no_grad():
            z = model(
                mel.to(synth.device), row, ids, torch.tensor([ids.shape[1]]), torch.tensor([mel.shape[2]])
            ).z
        latents.append(z.permute(1, 2, 0))
    if not latents:
        raise SynthesisError(f"--reference {filelist}: no utterances")
    return latents


def posterior_mean(latents: list[torch.Tensor], n_frames: int, mode: str, lambda_: float) -> torch.Tensor:
    """The notebook's shrunk mean of the reference z's: (1, n_mel, n_frames) ("batch") or (1, n_mel, 1)."""
    k = len(latents)
    if mode == "batch":
        tiled = [z.repeat(1, 1, -(-n_frames // z.shape[2]))[:, :, :n_frames] for z in latents]
        mean = torch.stack(tiled).mean(0)
    else:
        mean = torch.cat(latents, dim=2).mean(dim=2, keepdim=True)
    return (k / lambda_) * mean / (k / lambda_ + 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python control.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("posterior", "posterior sampling / style transfer from reference utterances"),
        ("interpolate", "interpolation between two z samples or two speakers"),
        ("sigma", "the same text at several sigmas"),
    ):
        sub = commands.add_parser(name, help=summary, formatter_class=HelpFormatter)
        sub.add_argument("-c", "--config", default=str(DEFAULT_CONFIG), help="JSON config file")
        sub.add_argument("-p", "--params", nargs="*", default=[], help="config overrides section.key=value")
        sub.add_argument(
            "-f", "--flowtron_path", "--checkpoint", dest="checkpoint", required=True, help="checkpoint"
        )
        sub.add_argument("-w", "--vocoder", default=None, help="TorchScript vocoder [Griffin-Lim]")
        sub.add_argument("-t", "--text", required=True, help="what to say")
        sub.add_argument("-i", "--id", type=int, default=0, help="raw speaker id")
        sub.add_argument("-n", "--n_frames", type=int, default=300, help="frames of z")
        sub.add_argument("-s", "--sigma", type=float, default=1.0, help="standard deviation of z")
        sub.add_argument("-g", "--gate", type=float, default=0.5, help="gate threshold")
        sub.add_argument("-o", "--output", required=True, help="output folder")
        sub.add_argument("--seed", type=int, default=1234, help="seed")
        sub.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations")
        add_device_arguments(sub)
        if name == "posterior":
            sub.add_argument("--reference", required=True, help="wav_path|text filelist of style examples")
            sub.add_argument("--dataset-path", default=None, help="root of its relative wav paths")
            sub.add_argument(
                "--mode", choices=("batch", "time_and_batch"), default="batch", help="how z is averaged"
            )
            sub.add_argument("--lambda", dest="lambda_", type=float, default=1e-4, help="prior strength")
        if name == "interpolate":
            sub.add_argument("--seeds", type=int, nargs=2, default=None, help="two z draws for one speaker")
            sub.add_argument("--speakers", type=int, nargs=2, default=None, help="two raw speaker ids, one z")
            sub.add_argument("--steps", type=int, default=5, help="points from one end to the other")
        if name == "sigma":
            sub.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.5, 0.8, 1.0], help="sigmas")
    return parser


def run(args: argparse.Namespace) -> dict:
    if args.n_frames < 1:
        raise SynthesisError(f"-n/--n_frames must be at least 1, got {args.n_frames}")
    device = resolve_device(args.device)
    folder = check_output_dir(args.output, "-o")
    synth = Synthesizer.load(
        args.checkpoint, load_config(args.config, args.params), device, None, args.vocoder, args.seed
    )
    ids = synth.encode(args.text)
    n_mel = synth.config.model_config.n_mel_channels
    draw = torch.Generator().manual_seed(args.seed)
    jobs = []  # (name, residual, speaker embedding row or an embedding vector)
    row = synth.speaker_row(args.id)
    if args.command == "posterior":
        mean = posterior_mean(
            reference_z(synth, args.reference, args.id, args.dataset_path),
            args.n_frames,
            args.mode,
            args.lambda_,
        )
        noise = torch.randn(1, n_mel, args.n_frames, generator=draw).to(device) * args.sigma
        jobs += [("posterior", mean + noise, row), ("baseline", noise, row)]
    elif args.command == "sigma":
        noise = torch.randn(1, n_mel, args.n_frames, generator=draw).to(device)
        jobs += [(f"sigma{sigma:g}", noise * sigma, row) for sigma in args.sigmas]
    else:
        if (args.seeds is None) == (args.speakers is None):
            raise SynthesisError("interpolate: give either --seeds A B or --speakers A B")
        weights = [i / max(args.steps - 1, 1) for i in range(args.steps)]
        if args.seeds is not None:
            ends = [
                torch.randn(1, n_mel, args.n_frames, generator=torch.Generator().manual_seed(s)) * args.sigma
                for s in args.seeds
            ]
            jobs += [
                (f"interp{i}", ((1 - a) * ends[0] + a * ends[1]).to(device), row)
                for i, a in enumerate(weights)
            ]
        else:
            table = synth.model.speaker_embedding.weight.detach()
            first, second = (table[synth.speaker_row(s)] for s in args.speakers)
            noise = torch.randn(1, n_mel, args.n_frames, generator=draw).to(device) * args.sigma
            jobs += [(f"interp{i}", noise, (1 - a) * first + a * second) for i, a in enumerate(weights)]
    report = {}
    for name, residual, speaker in jobs:
        result = infer(synth, ids, residual, speaker, args.gate)
        mel = result.mel[0].float()
        write_wav(
            folder / f"{name}.wav",
            synth.vocode(mel, args.griffin_lim_iters),
            synth.config.data_config.sampling_rate,
        )
        synthesis_figure(mel.cpu().numpy(), result.attentions[-1].cpu().numpy(), name).savefig(
            folder / f"{name}.png"
        )
        report[name] = {"frames": int(mel.shape[1]), "gate_fired": result.gate_fired}
    write_reports(folder, {}, report)
    return report


def infer(synth: Synthesizer, ids: torch.Tensor, residual: torch.Tensor, speaker, gate: float):
    """model.infer with a speaker row, or with an embedding vector put in place of row 0 for this call."""
    model = synth.model
    if isinstance(speaker, int):
        return model.infer(
            residual,
            torch.tensor([speaker], device=synth.device),
            ids[None].to(synth.device),
            gate_threshold=gate,
        )
    saved = model.speaker_embedding.weight.data[0].clone()
    try:
        model.speaker_embedding.weight.data[0] = speaker
        return model.infer(
            residual, torch.tensor([0], device=synth.device), ids[None].to(synth.device), gate_threshold=gate
        )
    finally:
        model.speaker_embedding.weight.data[0] = saved


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def go() -> None:
        report = run(args)
        print(f"wrote {len(report)} WAV(s) to {args.output}", file=sys.stderr)

    return run_main(go, errors=(FilelistError,))


if __name__ == "__main__":
    sys.exit(main())
