"""Trained with the attention prior, Flowtron's attention learns the true alignment of the known-alignment
tone corpus (filelists/synthetic.py).

Vowels are held for 6-9 frames, the other symbols for 1-3, so the near-proportional alignment that the
beta-binomial prior imposes on an untrained model is clearly wrong; after 200 steps the attention must
follow the chords. A frame counts as aligned when its most attended text position is the true symbol of
the frame or of a neighbouring frame: the attention of frame t is computed from the frames before t, so
at a chord change it can only follow one frame late.

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
"""

import numpy as np
import pytest
import torch

from filelists.synthetic import SyntheticUtterance, make_synthetic_corpus
from flowtron.audio import TacotronSTFT
from flowtron.config import DataConfig, FlowtronConfig, TrainConfig
from flowtron.data import Item, attention_prior, collate, text_to_ids
from flowtron.flowtron import Encoder, Flowtron
from flowtron.losses import FlowtronLoss
from flowtron.train import losses, make_optimizer

N_MEL, TEXT_DIM = 20, 16
SYMBOL_FRAMES = {vowel: (6, 9) for vowel in "aeio"} | {c: (1, 2) for c in "dnst"} | {" ": (2, 3)}
N_TRAIN, N_HELD_OUT = 200, 16
STEPS, BATCH_SIZE, LEARNING_RATE = 200, 48, 0.01

pytestmark = pytest.mark.usefixtures("one_thread")


def distinct_neighbours(utterance: SyntheticUtterance) -> bool:
    """A symbol repeated in a row is one held chord: its inner boundary is not in the audio."""
    return all(a != b for a, b in zip(utterance.text, utterance.text[1:]))


def corpus_utterances(seed: int) -> list[SyntheticUtterance]:
    """N_TRAIN + N_HELD_OUT utterances of one or two short words with characteristic durations."""
    corpus = make_synthetic_corpus(
        n_utterances=3 * (N_TRAIN + N_HELD_OUT), seed=seed, n_words=(1, 2), word_length=(2, 4),
        symbol_frames=SYMBOL_FRAMES,
    )  # fmt: skip
    utterances = [u for u in corpus.utterances if distinct_neighbours(u)][: N_TRAIN + N_HELD_OUT]
    assert len(utterances) == N_TRAIN + N_HELD_OUT
    return utterances


def items_of(utterances: list[SyntheticUtterance]) -> list[Item]:
    """Items as data.Data makes them (text ids, log-mel, prior), the log-mels standardised with the
    training set's mean and standard deviation. With p_arpabet 0 each character is one symbol id."""
    stft = TacotronSTFT(filter_length=256, hop_length=256, win_length=256, n_mel_channels=N_MEL)
    config = DataConfig(p_arpabet=0.0)
    pairs = []
    for utterance in utterances:
        ids = text_to_ids(utterance.text, config)
        mel = stft.mel_spectrogram(torch.from_numpy(utterance.audio)[None])[0]
        assert len(ids) == len(utterance.text) and mel.shape[1] == utterance.n_frames
        pairs.append((ids, mel))
    training = torch.cat([mel for _, mel in pairs[:N_TRAIN]], dim=1)
    mean, std = training.mean(), training.std()
    return [
        Item((mel - mean) / std, torch.tensor([0]), ids, attention_prior(len(ids), mel.shape[1]))
        for ids, mel in pairs
    ]


def tiny_model() -> Flowtron:
    model = Flowtron(
        n_speakers=1, n_speaker_dim=4, n_text_dim=TEXT_DIM, n_flows=1, n_mel_channels=N_MEL, n_hidden=64,
        n_attn_channels=16, n_lstm_layers=1,
    )  # fmt: skip
    model.encoder = Encoder(encoder_n_convolutions=0, encoder_embedding_dim=TEXT_DIM)
    return model


@torch.no_grad()
def aligned_fraction(model: Flowtron, items: list[Item], utterances, with_prior: bool) -> float:
    """Fraction of frames whose most attended text position (teacher-forced, eval mode) is the true
    symbol of the frame or of a neighbouring frame. with_prior: the attention the model trains with (its
    own times the prior, renormalised); without: its own, which is what inference uses."""
    model.eval()
    batch = collate(items)
    output = model(
        batch.mel, batch.speaker_ids, batch.text, batch.in_lens, batch.out_lens,
        batch.attn_prior if with_prior else None,
    )  # fmt: skip
    # collate sorts by text length; the same sort recovers which utterance each row holds
    order = torch.sort(torch.tensor([len(item.text) for item in items]), descending=True)[1].tolist()
    aligned = total = 0
    for row, index in enumerate(order):
        truth = utterances[index].frame_labels  # (T,)
        attention = output.attns[0][row, : len(truth), : len(utterances[index].text)]
        predicted = attention.argmax(dim=1).numpy()
        neighbours = np.stack([np.r_[truth[:1], truth[:-1]], truth, np.r_[truth[1:], truth[-1:]]])
        aligned += int((neighbours == predicted).any(axis=0).sum())
        total += len(truth)
    model.train()
    return aligned / total


def train(model: Flowtron, items: list[Item], seed: int) -> None:
    """STEPS steps as train.py takes them: RAdam with decoupled weight decay, NLL + gate + CTC (weight
    0.01 from the start), the prior in the forward pass, clipping at 1."""
    config = FlowtronConfig(train_config=TrainConfig(learning_rate=LEARNING_RATE))
    optimizer = make_optimizer(model, config)
    criterion = FlowtronLoss(use_ctc_loss=True, ctc_loss_weight=0.01, blank_logprob=-8.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(STEPS):
        chosen = torch.randperm(len(items), generator=generator)[:BATCH_SIZE].tolist()
        terms, _ = losses(model, collate([items[i] for i in chosen]), criterion, True, 0.01)
        optimizer.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


def alignment_before_and_after_training(seed: int) -> dict[str, float]:
    utterances = corpus_utterances(seed)
    items = items_of(utterances)
    training = items[:N_TRAIN], utterances[:N_TRAIN]
    held_out = items[N_TRAIN:], utterances[N_TRAIN:]
    torch.manual_seed(seed)
    model = tiny_model()
    result = {
        "untrained": aligned_fraction(model, *training, with_prior=True),
        "untrained_own": aligned_fraction(model, *training, with_prior=False),
    }
    train(model, training[0], seed)
    result["trained"] = aligned_fraction(model, *training, with_prior=True)
    result["held_out"] = aligned_fraction(model, *held_out, with_prior=True)
    result["trained_own"] = aligned_fraction(model, *training, with_prior=False)
    return result


def test_training_with_the_prior_learns_the_true_alignment():
    """Measured over seeds 0-5, with the prior: untrained 0.57-0.74, trained 0.88-0.93 (gain 0.17-0.34),
    held out 0.87-0.94; the model's own attention (no prior, as at inference) 0.24-0.38 untrained,
    0.56-0.67 trained (gain 0.22-0.40). Seed 0: 0.643 -> 0.887, held out 0.897, own 0.238 -> 0.599.
    The thresholds hold for every one of these seeds, not only the pinned one."""
    accuracy = alignment_before_and_after_training(seed=0)
    assert accuracy["untrained"] < 0.78, accuracy  # the prior alone aligns about proportionally
    assert accuracy["trained"] >= 0.87 and accuracy["held_out"] >= 0.85, accuracy
    assert accuracy["trained"] >= accuracy["untrained"] + 0.15, accuracy
    assert accuracy["trained_own"] >= accuracy["untrained_own"] + 0.2, accuracy
