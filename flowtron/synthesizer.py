"""Synthesis as a library, shared by inference.py and control.py: the model and its speakers, text to ids,
residuals z ~ N(0, sigma^2), mel to audio (a TorchScript vocoder or Griffin-Lim), and the outputs.

    synth = Synthesizer.load("model_last", config)               # weights, speakers, front end
    result = synth.synthesise("Hello world.", speaker=0, sigma=0.5, n_frames=400)
    audio = synth.vocode(result.mel)
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import librosa
import numpy as np
import torch

from filelists.parse import read_filelist
from shared_text.front_ends import EmptyTextError, front_end
from shared_text.sequence import UnknownSymbolError

from .checkpoints import load_flowtron
from .config import FlowtronConfig
from .data import speaker_table, text_to_ids, use_cmudict
from .flowtron import Flowtron, InferenceOutput
from .infra import UserError, atomic_write


class SynthesisError(UserError):
    """Bad input for synthesis, or output that is not finite; the message names the file, line or text."""


def load_vocoder(path: str | Path, device: torch.device):
    """A TorchScript vocoder mel (B, n_mel, T) -> audio (B, T * hop), e.g. tacotron2_waveglow_ngc's
    export_vocoder.py output for NVIDIA's waveglow_256channels_universal_v5.pt. It runs the code it
    contains: a trust boundary, as any executable."""
    path = Path(path)
    if not path.is_file():
        raise SynthesisError(f"vocoder {path}: no such file (expected a TorchScript module)")
    try:
        return torch.jit.load(str(path), map_location=device).eval()
    except RuntimeError as error:
        raise SynthesisError(
            f"vocoder {path}: not a TorchScript module ({str(error).splitlines()[0]}); convert a pickled "
            "WaveGlow with tacotron2_waveglow_ngc/export_vocoder.py"
        ) from None


def griffin_lim(log_mel: np.ndarray, config: FlowtronConfig, n_iter: int = 60, seed: int = 0) -> np.ndarray:
    """Log-mel (n_mel, T) -> audio: the mel magnitude (Slaney filters, magnitude not power) back to a linear
    magnitude by non-negative least squares, then Griffin-Lim phase. A quick, buzzy preview."""
    data = config.data_config
    magnitude = librosa.feature.inverse.mel_to_stft(
        np.exp(log_mel.astype(np.float64)),
        sr=data.sampling_rate,
        n_fft=data.filter_length,
        power=1.0,
        fmin=data.mel_fmin,
        fmax=data.mel_fmax,
    )
    audio = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        hop_length=data.hop_length,
        win_length=data.win_length,
        n_fft=data.filter_length,
        window="hann",
        center=True,
        random_state=seed,
    )
    return audio.astype(np.float32)


def speakers_of(checkpoint: dict, config: FlowtronConfig, n_speakers: int, speaker_list: str | None) -> dict:
    """Raw speaker id -> embedding row: a filelist's table (--speakers, the original's training_files way),
    else the one our checkpoints store, else the training list of the config if it exists, else the
    identity 0..n_speakers-1."""
    if speaker_list:
        return speaker_table(read_filelist(speaker_list))
    stored = checkpoint.get("speaker_ids")
    if isinstance(stored, dict) and stored:
        return {int(k): int(v) for k, v in stored.items()}
    if config.data_config.training_files and Path(config.data_config.training_files).is_file():
        return speaker_table(read_filelist(config.data_config.training_files))
    return {row: row for row in range(n_speakers)}


class Synthesis(NamedTuple):
    mel: torch.Tensor  # (n_mel, T)
    attentions: list  # per flow in inference order: (steps, T_text)
    gate_fired: bool
    seconds: float

    @property
    def attention_reached_end(self) -> bool:
        """The forward flow (run last) attends to the last symbol at its last frame: the text was read
        to the end, whether or not the gate stopped it there."""
        attention = self.attentions[-1]
        return bool(int(attention[-1].argmax()) == attention.shape[1] - 1)


@dataclass
class Synthesizer:
    model: Flowtron
    config: FlowtronConfig
    speaker_ids: dict  # raw id -> row
    device: torch.device
    vocoder: object = None
    seed: int = 1234

    @classmethod
    def load(
        cls,
        checkpoint: str,
        config: FlowtronConfig,
        device: torch.device,
        speaker_list: str | None = None,
        vocoder: str | None = None,
        seed: int = 1234,
    ) -> Synthesizer:
        model, loaded = load_flowtron(checkpoint, config.model_config, device)
        config = replace(config, model_config=loaded.model_config)
        use_cmudict(config.data_config.cmudict_path)
        speakers = speakers_of(loaded.checkpoint, config, model.n_speakers, speaker_list)
        bad_rows = sorted(row for row in speakers.values() if row >= model.n_speakers)
        if bad_rows:
            raise SynthesisError(
                f"the speaker table maps to rows {bad_rows}, but the model has {model.n_speakers}"
            )
        return cls(model, config, speakers, device, load_vocoder(vocoder, device) if vocoder else None, seed)

    def speaker_row(self, speaker: int) -> int:
        if speaker not in self.speaker_ids:
            known = sorted(self.speaker_ids)
            shown = ", ".join(map(str, known[:20])) + (
                f" ... ({len(known)} in all)" if len(known) > 20 else ""
            )
            raise SynthesisError(f"unknown speaker id {speaker}; this model knows {shown}")
        return self.speaker_ids[speaker]

    def encode(self, text: str, where: str = "--text") -> torch.Tensor:
        """(T_text,) ids with the config's front end (p_arpabet draws from Random(seed), as the original's
        seeded `random`); characters outside the symbol set are an error, not silently dropped."""
        try:
            front_end("flowtron", list(self.config.data_config.text_cleaners))(text)
        except UnknownSymbolError as error:
            raise SynthesisError(
                f"{where}: character {error.symbol!r} is not in Flowtron's symbol set ({text!r})"
            ) from None
        except EmptyTextError:
            raise SynthesisError(f"{where}: {text!r} has nothing to speak after cleaning") from None
        return text_to_ids(text, self.config.data_config, random.Random(self.seed))

    def residual(self, n_frames: int, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, sigma^2 I), (1, n_mel, n_frames)."""
        n_mel = self.config.model_config.n_mel_channels
        return torch.randn(1, n_mel, n_frames, generator=generator).to(self.device) * sigma

    def infer(
        self,
        ids: torch.Tensor,
        speaker: int,
        residual: torch.Tensor,
        gate_threshold: float = 0.5,
        temperature: float = 1.0,
    ) -> InferenceOutput:
        row = torch.tensor([self.speaker_row(speaker)], device=self.device)
        return self.model.infer(
            residual.to(self.device), row, ids[None].to(self.device), temperature, gate_threshold
        )

    def synthesise(
        self,
        text: str,
        speaker: int,
        sigma: float,
        n_frames: int,
        gate_threshold: float = 0.5,
        generator: torch.Generator | None = None,
        where: str = "--text",
    ) -> Synthesis:
        ids = self.encode(text, where)
        started = time.perf_counter()
        result = self.infer(ids, speaker, self.residual(n_frames, sigma, generator), gate_threshold)
        mel = result.mel[0].float()
        if not bool(torch.isfinite(mel).all()):
            raise SynthesisError(f"{where}: the model produced non-finite values for {text!r}")
        return Synthesis(mel, result.attentions, result.gate_fired, time.perf_counter() - started)

    def vocode(self, mel: torch.Tensor, griffin_lim_iters: int = 60) -> np.ndarray:
        """mel (n_mel, T) -> audio (N,), peak-normalised to 0.95 (the original normalises to 1)."""
        if self.vocoder is not None:
            with torch.no_grad():
                audio = self.vocoder(mel[None].to(self.device)).float().reshape(-1).cpu().numpy()
        else:
            audio = griffin_lim(mel.cpu().numpy(), self.config, griffin_lim_iters, self.seed)
        if not np.isfinite(audio).all():
            raise SynthesisError("the vocoder produced non-finite audio")
        if audio.size == 0:
            raise SynthesisError(
                f"{mel.shape[1]} mel frame(s) are too few to vocode: the gate stopped at once (raise -g, "
                "or train longer)"
            )
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        return audio * (0.95 / peak) if peak > 0 else audio


def write_reports(folder: str | Path, timings: dict, report: dict) -> None:
    """timings.json (stem -> seconds, what `python -m evaluation` reads) and synthesis.json."""
    for name, content in (("timings.json", timings), ("synthesis.json", report)):
        atomic_write(
            Path(folder) / name, lambda s, c=content: s.write((json.dumps(c, indent=1) + "\n").encode())
        )
