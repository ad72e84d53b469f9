"""The model learns: a tiny Tacotron 2 + MMI, trained by train.py's own step (drop frames, the GAF, the
guarded update), starts attending to the right symbols of the known-alignment tone corpus
(filelists/synthetic.py) within a few hundred updates.

Vowels are held for 8-12 frames and the other symbols for 2-4, so the true alignment is far from the
spread-out attention of an untrained model. A held-out frame counts as aligned when the symbol its
teacher-forced attention weighs most is the true one of that frame or of a neighbouring frame (the
1024-sample STFT window spans four hops, so the frames beside a chord change hold both chords).
"""

import argparse

import numpy as np
import pytest
import torch

from filelists.synthetic import SyntheticUtterance, make_synthetic_corpus
from tacotron2_mmi import train
from tacotron2_mmi.audio import TacotronSTFT
from tacotron2_mmi.data import collate_text_mel, text_to_ids
from tacotron2_mmi.global_mean import compute_global_mean
from tacotron2_mmi.hparams import HParams
from tacotron2_mmi.infra import Distributed, alignment_health

N_MEL = 20
SYMBOL_FRAMES = {vowel: (8, 12) for vowel in "aeio"} | {c: (2, 4) for c in "dnst"} | {" ": (3, 5)}
N_TRAIN, N_HELD_OUT = 48, 8
STEPS, BATCH_SIZE, LEARNING_RATE = 200, 12, 0.005

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_hparams(seed: int) -> HParams:
    """A small model with the original's MMI settings (use_mmi, drop_frame_rate 0.2, GAF capped at 0.5)."""
    return HParams(
        n_mel_channels=N_MEL, symbols_embedding_dim=32, encoder_embedding_dim=32, encoder_n_convolutions=1,
        attention_rnn_dim=64, attention_dim=16, attention_location_n_filters=8,
        attention_location_kernel_size=15, decoder_rnn_dim=64, prenet_dim=32, postnet_embedding_dim=16,
        postnet_n_convolutions=2, learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, seed=seed,
    )  # fmt: skip


def distinct_neighbours(utterance: SyntheticUtterance) -> bool:
    """A symbol repeated in a row is one held chord: its inner boundary is not in the audio."""
    return all(a != b for a, b in zip(utterance.text, utterance.text[1:]))


def corpus_items(seed: int) -> tuple[list, list[SyntheticUtterance]]:
    """(ids, CTC ids, log-mel (N_MEL, T)) items as TextMelDataset makes them, and their utterances."""
    corpus = make_synthetic_corpus(
        n_utterances=3 * (N_TRAIN + N_HELD_OUT), seed=seed, n_words=(1, 2), word_length=(2, 4),
        symbol_frames=SYMBOL_FRAMES,
    )  # fmt: skip
    utterances = [u for u in corpus.utterances if distinct_neighbours(u)][: N_TRAIN + N_HELD_OUT]
    assert len(utterances) == N_TRAIN + N_HELD_OUT
    stft = TacotronSTFT(n_mel_channels=N_MEL)
    items = []
    for utterance in utterances:
        ids, ctc_ids = text_to_ids(utterance.text)
        mel = stft.mel_spectrogram(torch.from_numpy(utterance.audio).unsqueeze(0))[0]
        # english_cleaners keep these texts as they are: input position i is text[i]
        assert len(ids) == len(utterance.text) and mel.shape[1] == utterance.n_frames
        items.append((torch.tensor(ids), torch.tensor(ctc_ids), mel))
    return items, utterances


@torch.no_grad()
def measure(model, items, utterances: list[SyntheticUtterance], seed: int) -> dict[str, float]:
    """Aligned fraction of the frames (see the module docstring) and `infra.alignment_health`'s score of
    the teacher-forced attention, in eval mode (the prenet's dropout stays on, as in the original: seeded)."""
    model.eval()
    torch.manual_seed(seed)
    batch = collate_text_mel(items)  # sorted by text length: reorder the utterances alike
    order = sorted(range(len(items)), key=lambda i: -len(items[i][0]))
    outputs = model(*batch[:3], batch.output_lengths)
    aligned = total = 0
    for row, index in enumerate(order):
        truth = utterances[index].frame_labels
        predicted = outputs.alignments[row, : len(truth)].argmax(dim=1).numpy()
        neighbours = np.stack([np.r_[truth[:1], truth[:-1]], truth, np.r_[truth[1:], truth[-1:]]])
        aligned += int((neighbours == predicted).any(axis=0).sum())
        total += len(truth)
    health = alignment_health(outputs.alignments, batch.input_lengths, batch.output_lengths)
    model.train()
    return {"aligned": aligned / total, "score": health["score"]}


def alignment_before_and_after_training(seed: int) -> dict[str, dict[str, float]]:
    items, utterances = corpus_items(seed)
    training, held_out = items[:N_TRAIN], (items[N_TRAIN:], utterances[N_TRAIN:])
    hparams = tiny_hparams(seed)
    mean = compute_global_mean(training)
    run = train.Run(hparams, None, None, None, mean, {"filelist": "tone corpus"})
    args = argparse.Namespace(amp=False, warm_start=False, max_nonfinite_steps=3, checkpoint_path=None)
    ddp = Distributed(0, 0, 1, torch.device("cpu"))
    trainer, _, _ = train.build_trainer(run, args, ddp, N_TRAIN // BATCH_SIZE)
    result = {"untrained": measure(trainer.model, *held_out, seed)}
    generator = torch.Generator().manual_seed(seed)
    gafs = set()
    for step in range(STEPS):
        chosen = torch.randperm(N_TRAIN, generator=generator)[:BATCH_SIZE].tolist()
        losses, step_result = train.train_step(
            trainer, collate_text_mel([training[i] for i in chosen]), step, ddp
        )
        assert step_result.applied, (step, losses)
        gafs.add(losses["gaf"])
    result["trained"] = measure(trainer.model, *held_out, seed)
    result["gaf"] = {"renewals": len(gafs), "min": min(gafs), "max": max(gafs)}
    return result


def test_training_learns_to_attend_to_the_right_symbols():
    """Measured over seeds 0-3 (200 updates): aligned fraction untrained 0.17-0.33, trained 0.68-0.78 for
    seeds 1-3 and 0.25 for seed 0 (its attention had not locked on yet at 200 updates); the alignment
    score (infra.alignment_health) untrained 0.17-0.37, trained 0.54-0.72 for seeds 1-3. Pinned: seed 1,
    0.20 -> 0.68 aligned, score 0.20 -> 0.54. The GAF stayed at its 0.5 cap throughout."""
    result = alignment_before_and_after_training(seed=1)
    untrained, trained = result["untrained"], result["trained"]
    assert untrained["aligned"] < 0.35, result  # attention spread over the whole text
    assert trained["aligned"] >= 0.55 and trained["aligned"] >= untrained["aligned"] + 0.3, result
    assert trained["score"] >= untrained["score"] + 0.2, result
    assert 0 < result["gaf"]["min"] and result["gaf"]["max"] <= 0.5, result
