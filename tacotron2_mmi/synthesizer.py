"""Text -> speech as a library (inference.py is its command): encode every utterance (split into pieces
that fit max_decoder_steps), greedy Tacotron 2 decoding `batch_size` pieces at a time, then a vocoder.

Vocoders: a TorchScript module mapping a log-mel (B, n_mel, T) to audio (B, T * hop_length) (e.g. the
WaveGlow that tacotron2_waveglow_ngc/export_vocoder.py exports), or Griffin-Lim. The original has no
inference script; its notebook decodes one sentence with WaveGlow and the prenet dropout on.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import torch

from shared_text import EmptyTextError, UnknownSymbolError
from shared_text.split import split_text

from .audio import GriffinLim
from .data import mel_stft, text_front_end
from .infra import UserError
from .model import Tacotron2


class SynthesisError(UserError):
    """Bad synthesis input, or output that is not finite; the message names the file, line or sentence."""


@dataclass
class Utterance:
    stem: str  # output file name without extension
    where: str  # "file:line" or "--text", for messages
    text: str
    pieces: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)


@dataclass
class PieceResult:
    mel: torch.Tensor  # (n_mel, T) postnet mel, up to and including the frame whose gate fired
    alignment: torch.Tensor  # (T, T_in)
    audio: torch.Tensor  # (samples,) float32 on the CPU
    seconds: float  # this piece's share of its batch's synthesis time
    finished: bool  # False: max_decoder_steps came before the stop gate


def encode(items, text_cleaners, max_chars: int) -> list[Utterance]:
    """`filelists.text_input` items -> Utterances, split at sentences, clauses and words to at most
    max_chars, every piece encoded before anything is synthesised (errors name the line)."""
    speak = text_front_end(tuple(text_cleaners))
    utterances = []
    for item in items:
        where = f"{item.source}:{item.line_number}" if item.line_number else str(item.source)
        utterance = Utterance(item.stem, where, item.text, split_text(item.text, max_chars))
        if not utterance.pieces:
            raise SynthesisError(f"{where}: nothing to synthesise")
        for piece in utterance.pieces:
            try:
                utterance.ids.append(speak(piece))
            except UnknownSymbolError as error:
                raise SynthesisError(f"{where}: character {error.symbol!r} is not in the Tacotron 2 symbol "
                                     f"set ({item.text!r}); remove it or spell it out") from None  # fmt: skip
            except EmptyTextError:
                raise SynthesisError(f"{where}: {piece!r} has nothing to speak after cleaning") from None
        utterances.append(utterance)
    return utterances


class Synthesizer:
    """Tacotron 2 + a TorchScript vocoder, or Griffin-Lim when `vocoder` is None."""

    def __init__(self, model: Tacotron2, vocoder=None, griffin_lim_iters: int = 60, batch_size: int = 1,
                 max_decoder_steps: int | None = None, gate_threshold: float | None = None,
                 generator: torch.Generator | None = None):  # fmt: skip
        self.model, self.vocoder, self.batch_size = model, vocoder, max(1, batch_size)
        self.max_decoder_steps, self.gate_threshold, self.generator = (
            max_decoder_steps,
            gate_threshold,
            generator,
        )
        self.device = next(model.parameters()).device
        self.hop_length = model.hparams.hop_length
        self.griffin_lim = None
        if vocoder is None:
            self.griffin_lim = GriffinLim(mel_stft(model.hparams), griffin_lim_iters).to(self.device)

    def describe(self) -> str:
        if self.vocoder is not None:
            return "Tacotron 2 + MMI with a TorchScript vocoder"
        return f"Tacotron 2 + MMI with Griffin-Lim ({self.griffin_lim.n_iters} iterations)"

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mel, T) -> (B, samples) float32 on the CPU."""
        if self.vocoder is not None:
            return self.vocoder(mel).float().reshape(mel.size(0), -1).cpu()
        return self.griffin_lim(mel, generator=self.generator).cpu()

    @torch.inference_mode()
    def synthesize_batch(self, sequences: list[list[int]]) -> list[PieceResult]:
        """Symbol-id sequences -> one PieceResult each, in the same order."""
        lengths = torch.tensor([len(ids) for ids in sequences])
        text = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
        for row, ids in enumerate(sequences):
            text[row, : len(ids)] = torch.tensor(ids)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tacotron2: reached max_decoder_steps")
            # One utterance is decoded unpadded and unmasked, as the original's batch-1 inference.
            input_lengths = lengths.to(self.device) if len(sequences) > 1 else None
            out = self.model.infer(
                text.to(self.device), input_lengths, self.max_decoder_steps, self.gate_threshold
            )
        mel_lengths = out.mel_lengths.clamp(min=1).cpu()
        mels = out.mel_outputs_postnet.float()
        if not bool(torch.isfinite(mels).all()):
            raise SynthesisError("the model produced non-finite mels (NaN or inf)")
        audio = self.vocode(mels)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        share = (time.perf_counter() - started) / len(sequences)
        return [
            PieceResult(mels[i, :, : int(n)].cpu(), out.alignments[i, : int(n), : len(ids)].float().cpu(),
                        audio[i, : int(n) * self.hop_length], share, bool(out.finished[i]))
            for i, (ids, n) in enumerate(zip(sequences, mel_lengths))
        ]  # fmt: skip

    def synthesize(self, utterances: list[Utterance]) -> list[list[PieceResult]]:
        """Every piece of every utterance, `batch_size` at a time in input order -> results per utterance."""
        flat = [(k, ids) for k, utterance in enumerate(utterances) for ids in utterance.ids]
        results: list[list[PieceResult]] = [[] for _ in utterances]
        for start in range(0, len(flat), self.batch_size):
            chunk = flat[start : start + self.batch_size]
            for (k, _), result in zip(chunk, self.synthesize_batch([ids for _, ids in chunk])):
                results[k].append(result)
        return results
