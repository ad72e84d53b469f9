"""The Neural HMM learns the true alignment of the known-alignment tone corpus (filelists/synthetic.py).

Vowels are held for 10-16 frames and the other symbols for 2-5, so the near-proportional alignment
an untrained left-to-right HMM is forced into is clearly wrong; after a few seconds of training the
symbol posteriors must follow the chords. A frame counts as aligned when its most likely symbol is
the true one of that frame or of a neighbouring frame: the 1024-sample STFT window spans four hops,
so the frames next to a chord change hold both chords.
"""

import numpy as np
import pytest
import torch

from filelists.synthetic import SyntheticUtterance, make_synthetic_corpus
from neural_hmm.audio import TacotronSTFT
from neural_hmm.data import collate_text_mel, text_to_ids
from neural_hmm.data_properties import apply_data_parameters, compute_data_parameters
from neural_hmm.hparams import HParams
from neural_hmm.losses import neural_hmm_loss
from neural_hmm.model import NeuralHMM

N_MEL = 20
SYMBOL_FRAMES = {vowel: (10, 16) for vowel in "aeio"} | {c: (2, 4) for c in "dnst"} | {" ": (3, 5)}
N_TRAIN, N_HELD_OUT = 48, 8
STEPS, BATCH_SIZE, LEARNING_RATE = 100, 12, 0.01


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_hparams() -> HParams:
    # No encoder convolution: its dropout on 16 channels blurs the state identities a tiny model has.
    # The original's data dropout (half the previous frames zeroed in training) stops the autoregressive
    # input from carrying the chord from frame to frame, which otherwise lets some seeds settle with a
    # state emitting its neighbour's chord (0.72-0.82 aligned after 60 steps without it).
    # Prenet and data dropout off in eval mode, so the alignment of the evaluation is deterministic.
    return HParams(
        n_mel_channels=N_MEL, symbols_embedding_dim=16, encoder_embedding_dim=16, encoder_n_convolutions=0,
        prenet_dim=16, post_prenet_rnn_dim=24, parameternetwork=[24], phonetise=False,
        prenet_dropout_while_eval=False, data_dropout=0.5, data_dropout_while_eval=False,
        go_token_init_value=[0.0] * N_MEL,
    )  # fmt: skip


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


def text_mel_pairs(utterances: list[SyntheticUtterance]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(ids (L,), raw log-mel (N_MEL, T)) per utterance, as TextMelDataset computes them. Without
    phonetisation every character is one symbol id (no blanks in between), so id i is text[i]."""
    stft = TacotronSTFT(n_mel_channels=N_MEL)
    pairs = []
    for utterance in utterances:
        ids = text_to_ids(utterance.text, phonetise=False)
        mel = stft.mel_spectrogram(torch.from_numpy(utterance.audio).unsqueeze(0))[0]
        assert len(ids) == len(utterance.text) and mel.shape[1] == utterance.n_frames
        pairs.append((ids, mel))
    return pairs


def aligned_fraction(model: NeuralHMM, pairs, utterances: list[SyntheticUtterance]) -> float:
    """Fraction of frames whose most likely symbol (argmax of `symbol_posteriors`) is the true symbol of
    the frame or of a neighbouring frame."""
    model.eval()
    aligned = total = 0
    for (ids, mel), utterance in zip(pairs, utterances):
        lengths = torch.tensor([len(ids)]), torch.tensor([mel.shape[1]])
        predicted = model.symbol_posteriors(ids[None], lengths[0], mel[None], lengths[1])[0].argmax(1)
        truth = utterance.frame_labels  # (T,)
        neighbours = np.stack([np.r_[truth[:1], truth[:-1]], truth, np.r_[truth[1:], truth[-1:]]])
        aligned += int((neighbours == predicted.numpy()).any(axis=0).sum())
        total += len(truth)
    model.train()
    return aligned / total


def train(model: NeuralHMM, pairs, seed: int) -> None:
    """STEPS Adam steps on random batches, as train.py takes them (loss, clipping, weight decay)."""
    hp = model.hparams
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=hp.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(STEPS):
        batch = collate_text_mel(
            [pairs[i] for i in torch.randperm(len(pairs), generator=generator)[:BATCH_SIZE]]
        )
        optimizer.zero_grad()
        neural_hmm_loss(model(*batch).log_probs).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip_thresh)
        optimizer.step()


def alignment_before_and_after_training(seed: int) -> dict[str, float]:
    utterances = corpus_utterances(seed)
    raw = text_mel_pairs(utterances)
    hparams = apply_data_parameters(tiny_hparams(), compute_data_parameters(raw[:N_TRAIN]))
    pairs = [(ids, (mel - hparams.normaliser_mean) / hparams.normaliser_std) for ids, mel in raw]
    training, held_out = (pairs[:N_TRAIN], utterances[:N_TRAIN]), (pairs[N_TRAIN:], utterances[N_TRAIN:])
    torch.manual_seed(seed)
    model = NeuralHMM(hparams)
    result = {"untrained": aligned_fraction(model, *training)}
    train(model, training[0], seed)
    result["trained"] = aligned_fraction(model, *training)
    result["held_out"] = aligned_fraction(model, *held_out)
    return result


def test_training_learns_the_true_alignment():
    """Measured over seeds 0-5: untrained 0.64-0.69, trained 0.89-0.97, held out 0.88-0.97 (seed 0:
    0.67 / 0.97 / 0.97), so the thresholds hold for any of them, not only the pinned one."""
    accuracy = alignment_before_and_after_training(seed=0)
    assert accuracy["untrained"] < 0.75, accuracy  # the flat start aligns about proportionally
    assert accuracy["trained"] >= 0.85 and accuracy["held_out"] >= 0.85, accuracy
    assert accuracy["trained"] >= accuracy["untrained"] + 0.15, accuracy
