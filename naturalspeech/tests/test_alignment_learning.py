"""Monotonic alignment search and the duration predictor learn the true durations of the known-alignment
tone corpus (filelists/synthetic.py): vowels held 10-16 frames, other symbols 2-5.

The test trains, for a few seconds, the parts of the model that decide durations, with the losses that
train them in train.py: phoneme encoder (with the alignment projection), posterior encoder, flow and
duration predictor, on the alignment KL (`kl_loss` of z_p against the MAS-expanded token prior) and the
duration loss (c_dur = 5), plus a reconstruction term that keeps the posterior informative. The HiFi-GAN
decoder and the discriminator are replaced by a 1x1 convolution from z to the log-mel (L1, x45): they
matter for the audio, not for the alignment, and would take minutes on a CPU.

Errors, in frames: MAS = mean |cumulative durations - true cumulative durations| (boundary error) on the
training utterances; predictor = mean |exp(logw) - true duration| per symbol on held-out utterances
(the best a per-symbol predictor can do here is about 1.1: vowel lengths are drawn at random).
"""

import numpy as np
import pytest
import torch

from filelists.synthetic import make_synthetic_corpus, write_synthetic_corpus
from naturalspeech.checkpoints import build_generator
from naturalspeech.commons import Draws
from naturalspeech.config import config_from_dict
from naturalspeech.data_utils import TextAudioDurationDataset, collate
from naturalspeech.losses import kl_loss
from naturalspeech.mel_processing import spec_to_mel_torch
from naturalspeech.tests.conftest import tiny_config

SYMBOL_FRAMES = {vowel: (10, 16) for vowel in "aeio"} | {c: (2, 4) for c in "dnst"} | {" ": (3, 5)}
N_TRAIN, N_HELD_OUT, STEPS, BATCH_SIZE, LEARNING_RATE = 48, 8, 600, 8, 1e-2

pytestmark = pytest.mark.usefixtures("one_thread")


class Means(Draws):
    """The posterior mean instead of a sample, for a deterministic evaluation."""

    def normal_like(self, x):
        return torch.zeros_like(x)


def corpus(root, seed):
    """Utterances without a symbol repeated in a row (one held chord) and at least 8 frames (one window);
    true durations per symbol, the last shortened by one frame (VITS' uncentred STFT)."""
    made = make_synthetic_corpus(
        n_utterances=200, seed=seed, n_words=(1, 2), word_length=(2, 4), symbol_frames=SYMBOL_FRAMES
    )
    kept = [u for u in made.utterances if all(a != b for a, b in zip(u.text, u.text[1:])) and u.n_frames >= 8]
    kept = kept[: N_TRAIN + N_HELD_OUT]
    assert len(kept) == N_TRAIN + N_HELD_OUT
    write_synthetic_corpus(root, type(made)(made.symbols, made.partials_hz, kept))
    lines = (root / "filelist.txt").read_text().splitlines(keepends=True)
    (root / "train.txt").write_text("".join(lines[:N_TRAIN]))
    (root / "held_out.txt").write_text("".join(lines[N_TRAIN:]))
    truth = {}
    for utterance in kept:
        durations = utterance.durations.astype(float)
        durations[-1] -= 1
        truth[utterance.utterance_id] = durations
    return truth


def errors(net, items, truth) -> tuple[float, float]:
    net.eval()
    boundary, predicted = [], []
    with torch.no_grad():
        for item, true in zip(items, truth):
            batch = collate([item])
            h, x_mask = net.enc_p(batch.x, batch.x_lengths)
            z, _, _, y_mask = net.enc_q(batch.spec, batch.spec_lengths, Means())
            durations, _, _ = net.align(h, x_mask, net.flow(z, y_mask), y_mask)
            boundary.append(np.abs(np.cumsum(durations[0].numpy()) - np.cumsum(true)).mean())
            predicted.append(np.abs(torch.exp(net.dp(h, x_mask))[0, 0].numpy() - true).mean())
    net.train()
    return float(np.mean(boundary)), float(np.mean(predicted))


def learn(tmp_path, seed: int) -> dict[str, float]:
    truth = corpus(tmp_path, seed)
    config = config_from_dict(tiny_config(use_mas=True))
    torch.manual_seed(seed)
    net = build_generator(config, bank=False)
    mel_decoder = torch.nn.Conv1d(config.latent_width, config.data.n_mel_channels, 1)
    sets = {
        name: TextAudioDurationDataset(tmp_path / f"{name}.txt", config.data, tmp_path)
        for name in ("train", "held_out")
    }
    items = {name: [data[i] for i in range(len(data))] for name, data in sets.items()}
    true = {name: [truth[u.audio_path.stem] for u in data.utterances] for name, data in sets.items()}
    result = {}
    result["mas_before"], _ = errors(net, items["train"], true["train"])
    _, result["predictor_before"] = errors(net, items["held_out"], true["held_out"])

    modules = (net.enc_p, net.enc_q, net.flow, net.dp, mel_decoder)
    optimizer = torch.optim.AdamW(
        [p for m in modules for p in m.parameters()], lr=LEARNING_RATE, betas=(0.8, 0.99), eps=1e-9
    )
    generator = torch.Generator().manual_seed(seed)
    for _ in range(STEPS):
        chosen = torch.randperm(len(items["train"]), generator=generator)[:BATCH_SIZE]
        batch = collate([items["train"][i] for i in chosen])
        h, x_mask = net.enc_p(batch.x, batch.x_lengths)
        z, _, logs_q, y_mask = net.enc_q(batch.spec, batch.spec_lengths, Draws())
        z_p = net.flow(z, y_mask)
        durations, m_mas, logs_mas = net.align(h, x_mask, z_p, y_mask)
        logw = net.dp(h, x_mask)
        duration_loss = (
            torch.sum((logw - torch.log(durations.unsqueeze(1) + 1e-6) * x_mask) ** 2) / x_mask.sum()
        )
        mel = spec_to_mel_torch(batch.spec, 1024, 80, 22050, 0.0, None)
        reconstruction = (torch.abs(mel_decoder(z) - mel) * y_mask).sum() / (y_mask.sum() * mel.size(1))
        loss = kl_loss(z_p, logs_q, m_mas, logs_mas, y_mask) + 45 * reconstruction + 5 * duration_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    result["mas_after"], _ = errors(net, items["train"], true["train"])
    _, result["predictor_after"] = errors(net, items["held_out"], true["held_out"])
    return result


def test_alignment_search_and_duration_predictor_learn_the_true_durations(tmp_path):
    """Measured (600 steps, 15-17 s each on a loaded 2-core machine), MAS boundary error before -> after and
    predictor error on held-out utterances before -> after, in frames:
      seed 0: 9.36 -> 0.94, 5.71 -> 1.50     seed 1: 9.16 -> 1.08, 7.69 -> 2.38
      seed 2: 10.76 -> 1.19, 7.08 -> 1.86    seed 4: 10.04 -> 1.10, 6.05 -> 1.36
      seed 3: 9.06 -> 7.68, 7.40 -> 5.55 (the alignment settles in a wrong local optimum; with 400 steps
      seed 2 does too). The test pins seed 0; the thresholds hold for the four seeds that learn."""
    result = learn(tmp_path, seed=0)
    assert result["mas_before"] > 6.0 and result["predictor_before"] > 4.0, result
    assert result["mas_after"] < 1.5, result
    assert result["predictor_after"] < 2.6, result
    assert (
        result["mas_after"] < result["mas_before"] / 4
        and result["predictor_after"] < result["predictor_before"] / 2
    )
