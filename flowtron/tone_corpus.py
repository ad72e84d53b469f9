"""The known-alignment tone corpus (filelists/synthetic.py) as Flowtron training items, a tiny model that
learns its alignment in seconds, that training, and how the alignment is scored against the truth. Used
by tests/test_alignment_learning.py and reproduce.py.

    utterances = tone_utterances(216, seed=0)
    items = tone_items(utterances, n_train=200)
    training = tone_training(tiny_tone_model(), items[:200], seed=0)
    training.run(200)
    alignment_scores(training.model, items[200:], utterances[200:], with_prior=True)["aligned"]

Vowels are held for 6-9 frames, the other symbols for 1-3, so the near-proportional alignment that the
beta-binomial prior imposes on an untrained model is clearly wrong; a trained attention must follow the
chords. A frame counts as aligned when its most attended text position is the true symbol of the frame
or of a neighbouring frame: the attention of frame t is computed from the frames before t, so at a chord
change it can only follow one frame late.

The corpus and the model are cut to what a tiny model learns in seconds, and each cut was measured:
  * a 256-sample STFT window (one hop): the 1024-sample window spans four frames, so a frame already
    holds the next chord and the previous frame predicts a chord change without the text (in a slower
    exploratory setting, 0.78 aligned with it against 0.89 with the short window);
  * log-mels standardised with one mean and standard deviation of the training set: on the raw log-mels
    (a floor of log 1e-5 = -11.5 and jumps of 11 nats at a chord change) the tiny model, whose gradients
    are clipped at 1, gets worse than the prior alone (seeds 0-1: 0.71 -> 0.57, 0.61 -> 0.50);
  * no encoder convolutions: their instance norm over the 2-8 symbols of an utterance and their 0.5
    dropout on 16 channels leave too little of a symbol's identity (seeds 0-1: 0.73 -> 0.52,
    0.69 -> 0.57);
  * one flow (the paper's recipe trains one flow first) and batches of 48 (the LSTMs' cost is per frame,
    so a larger batch is almost free).
The training step is train.py's: RAdam with decoupled weight decay, NLL + gate + CTC (weight 0.01 from
the start, blank log-probability -8), the prior in the forward pass when the items carry one, gradients
clipped at 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from filelists.synthetic import SyntheticUtterance, make_synthetic_corpus

from .audio import TacotronSTFT
from .config import DataConfig, FlowtronConfig, TrainConfig
from .data import Item, attention_prior, collate, text_to_ids
from .flowtron import Encoder, Flowtron
from .training_step import ItemTraining, attention_health

N_MEL, TEXT_DIM = 20, 16
SYMBOL_FRAMES = {vowel: (6, 9) for vowel in "aeio"} | {c: (1, 2) for c in "dnst"} | {" ": (2, 3)}
BATCH_SIZE, LEARNING_RATE = 48, 0.01
STFT = dict(filter_length=256, hop_length=256, win_length=256, n_mel_channels=N_MEL)


def distinct_neighbours(utterance: SyntheticUtterance) -> bool:
    """A symbol repeated in a row is one held chord: its inner boundary is not in the audio."""
    return all(a != b for a, b in zip(utterance.text, utterance.text[1:]))


def tone_utterances(n_utterances: int, seed: int) -> list[SyntheticUtterance]:
    """n_utterances of one or two short words with characteristic durations and no symbol repeated in a
    row (same n and seed, same list)."""
    corpus = make_synthetic_corpus(
        n_utterances=3 * n_utterances, seed=seed, n_words=(1, 2), word_length=(2, 4),
        symbol_frames=SYMBOL_FRAMES,
    )  # fmt: skip
    utterances = [u for u in corpus.utterances if distinct_neighbours(u)][:n_utterances]
    if len(utterances) < n_utterances:
        raise ValueError(f"seed {seed}: only {len(utterances)} usable utterances, {n_utterances} asked for")
    return utterances


class Standardisation(NamedTuple):
    """The one mean and standard deviation of the training log-mels; raw = standardised * std + mean."""

    mean: float
    std: float


def tone_items(utterances: list[SyntheticUtterance], n_train: int) -> tuple[list[Item], Standardisation]:
    """Items as data.Data makes them (text ids, log-mel (N_MEL, T), prior (T, T_text)), the log-mels
    standardised with the first n_train utterances' mean and standard deviation. With p_arpabet 0 each
    character is one symbol id, so text position i is utterance.text[i]."""
    stft = TacotronSTFT(**STFT)
    config = DataConfig(p_arpabet=0.0)
    pairs = []
    for utterance in utterances:
        ids = text_to_ids(utterance.text, config)
        mel = stft.mel_spectrogram(torch.from_numpy(utterance.audio)[None])[0]
        assert len(ids) == len(utterance.text) and mel.shape[1] == utterance.n_frames
        pairs.append((ids, mel))
    training = torch.cat([mel for _, mel in pairs[:n_train]], dim=1)
    scale = Standardisation(float(training.mean()), float(training.std()))
    items = [
        Item((mel - scale.mean) / scale.std, torch.tensor([0]), ids, attention_prior(len(ids), mel.shape[1]))
        for ids, mel in pairs
    ]
    return items, scale


def without_prior(items: list[Item]) -> list[Item]:
    """The same items as data.Data makes them with data_config.use_attn_prior off."""
    return [item._replace(attn_prior=None) for item in items]


def tiny_tone_model(n_hidden: int = 64) -> Flowtron:
    """One flow, no encoder convolutions (see the module docstring); 54k parameters at n_hidden 64."""
    model = Flowtron(
        n_speakers=1, n_speaker_dim=4, n_text_dim=TEXT_DIM, n_flows=1, n_mel_channels=N_MEL,
        n_hidden=n_hidden, n_attn_channels=16, n_lstm_layers=1,
    )  # fmt: skip
    model.encoder = Encoder(encoder_n_convolutions=0, encoder_embedding_dim=TEXT_DIM)
    return model


def tone_training(model: Flowtron, items: list[Item], seed: int) -> ItemTraining:
    """train.py's step with the tone settings: learning rate 0.01, batches of 48, CTC (weight 0.01,
    blank log-probability -8) from the first step, the rest config.json's."""
    train = TrainConfig(learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, ctc_loss_start_iter=0)
    return ItemTraining(model, items, FlowtronConfig(train_config=train), seed)


@torch.no_grad()
def alignment_scores(
    model: Flowtron, items: list[Item], utterances: list[SyntheticUtterance], with_prior: bool
) -> dict[str, float]:
    """Teacher-forced attention of `items` in eval mode, scored two ways:
      aligned  fraction of frames whose most attended text position is the true symbol of the frame or
               of a neighbouring frame (the truth: each utterance's frame_labels);
      focus, monotonic, coverage, score, duration_spread: infra.alignment_health as train.py's
               validation logs it (without "alignment/").
    with_prior: the attention the model trains with (its own times the prior, renormalised), which is
    what validation logs for a run with the prior; without: its own, which is what inference uses."""
    was_training = model.training
    model.eval()
    batch = collate(items if with_prior else without_prior(items))
    output = model(
        batch.mel, batch.speaker_ids, batch.text, batch.in_lens, batch.out_lens,
        batch.attn_prior if with_prior else None,
    )  # fmt: skip
    # collate sorts by text length; the same sort call recovers which utterance each row holds
    order = torch.sort(torch.tensor([len(item.text) for item in items]), descending=True)[1]
    aligned = total = 0
    for row, index in enumerate(order.tolist()):
        truth = utterances[index].frame_labels  # (T,)
        attention = output.attns[0][row, : len(truth), : len(utterances[index].text)]
        predicted = attention.argmax(dim=1).numpy()
        neighbours = np.stack([np.r_[truth[:1], truth[:-1]], truth, np.r_[truth[1:], truth[-1:]]])
        aligned += int((neighbours == predicted).any(axis=0).sum())
        total += len(truth)
    model.train(was_training)
    health = attention_health(output, batch)
    return {"aligned": aligned / total} | {name.removeprefix("alignment/"): v for name, v in health.items()}
