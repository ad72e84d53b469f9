"""The forward algorithm against a brute-force sum over state paths, and the training pass's invariances."""

import itertools
import math

import pytest
import torch

from neural_hmm.hmm import forward_algorithm, log_add_exp, state_posteriors
from neural_hmm.hparams import HParams
from neural_hmm.losses import neural_hmm_loss
from neural_hmm.model import NeuralHMM


def log_clamped(p: float) -> float:
    return math.log(max(p, 1e-4))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def brute_force_log_prob(emission, logits, n_states: int, n_frames: int) -> float:
    """log sum over every left-to-right, no-skip path s_0 = 0, ..., s_{T-1} = N-1, then leave N-1.

    The logit of frame t governs the move from frame t-1 into frame t (the original's convention).
    """
    total = []
    for moves in itertools.product([0, 1], repeat=n_frames - 1):
        path = [0]
        for move in moves:
            path.append(path[-1] + move)
        if path[-1] != n_states - 1:
            continue
        log_p = emission[0][0]
        for t in range(1, n_frames):
            tau = logits[t][path[t - 1]]
            moved = path[t] != path[t - 1]
            log_p += log_clamped(sigmoid(tau) if moved else sigmoid(-tau)) + emission[t][path[t]]
        log_p += log_clamped(sigmoid(logits[n_frames - 1][n_states - 1]))
        total.append(log_p)
    return torch.logsumexp(torch.tensor(total, dtype=torch.float64), 0).item() if total else -math.inf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_algorithm_equals_brute_force(seed):
    generator = torch.Generator().manual_seed(seed)
    state_lengths, frame_lengths = torch.tensor([4, 3]), torch.tensor([6, 5])
    emission = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64) * 3 - 2
    logits = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64) * 2
    logits[0, 2, 1] = 12.0  # pushes P(stay) below the 1e-4 clamp
    # Garbage in padded frames and states must not leak into the result.
    emission[1, 5:], emission[1, :, 3:] = 1e3, 1e3
    out = forward_algorithm(emission, logits, state_lengths, frame_lengths)
    for b in range(2):
        n, t = int(state_lengths[b]), int(frame_lengths[b])
        expected = brute_force_log_prob(emission[b].tolist(), logits[b].tolist(), n, t)
        assert out.log_probs[b].item() == pytest.approx(expected, rel=1e-10, abs=1e-9)


def test_forward_algorithm_float32_close_to_float64_brute_force():
    generator = torch.Generator().manual_seed(3)
    emission = torch.randn(2, 5, 3, generator=generator) * 10 - 50
    logits = torch.randn(2, 5, 3, generator=generator)
    out = forward_algorithm(emission, logits, torch.tensor([3, 2]), torch.tensor([5, 4]))
    for b, (n, t) in enumerate([(3, 5), (2, 4)]):
        expected = brute_force_log_prob(emission[b].double().tolist(), logits[b].double().tolist(), n, t)
        assert out.log_probs[b].item() == pytest.approx(expected, rel=1e-6)


def test_fewer_frames_than_states_is_impossible():
    out = forward_algorithm(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), torch.tensor([4]), torch.tensor([3]))
    assert out.log_probs.item() == -math.inf


def test_log_add_exp_has_zero_gradients_at_double_minus_infinity():
    a = torch.tensor([float("-inf"), 0.0, -1.0], requires_grad=True)
    b = torch.tensor([float("-inf"), float("-inf"), -2.0], requires_grad=True)
    out = log_add_exp(a, b)
    out[1:].sum().backward()
    assert out[0].item() == -math.inf
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert a.grad[0] == 0 and b.grad[0] == 0
    torch.testing.assert_close(out[2], torch.logaddexp(torch.tensor(-1.0), torch.tensor(-2.0)))


def test_long_utterance_is_numerically_stable():
    """Per-frame scaling keeps 3000 frames (log p ~ -1e6) finite, and exact against float64."""
    generator = torch.Generator().manual_seed(0)
    emission = torch.randn(1, 3000, 50, generator=generator) * 5 - 300
    logits = torch.randn(1, 3000, 50, generator=generator) - 3
    out = forward_algorithm(emission, logits, torch.tensor([50]), torch.tensor([3000]))
    reference = forward_algorithm(
        emission.double(), logits.double(), torch.tensor([50]), torch.tensor([3000])
    )
    assert torch.isfinite(out.log_probs).all()
    assert out.log_probs.item() == pytest.approx(reference.log_probs.item(), rel=1e-6)


def tiny_hparams(**changes) -> HParams:
    values = dict(
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        prenet_dim=16,
        post_prenet_rnn_dim=32,
        parameternetwork=[24],
        prenet_dropout=0.0,
    )
    values.update(changes)
    return HParams(**values)


def tiny_batch(hparams: HParams, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    text = torch.randint(1, hparams.n_symbols, (3, 9), generator=generator)
    text_lengths = torch.tensor([9, 7, 4])
    text[1, 7:], text[2, 4:] = 0, 0
    mel_lengths = torch.tensor([30, 41, 12])
    mels = torch.randn(3, hparams.n_mel_channels, 41, generator=generator)
    for b, length in enumerate(mel_lengths):
        mels[b, :, length:] = 0
    return text, text_lengths, mels, mel_lengths


def test_padding_invariance(device):
    torch.manual_seed(0)
    model = NeuralHMM(tiny_hparams()).to(device).eval()
    text, text_lengths, mels, mel_lengths = (x.to(device) for x in tiny_batch(model.hparams))
    batched = model(text, text_lengths, mels, mel_lengths).log_probs
    for b in range(3):
        t_len, m_len = int(text_lengths[b]), int(mel_lengths[b])
        alone = model(
            text[b : b + 1, :t_len],
            text_lengths[b : b + 1],
            mels[b : b + 1, :, :m_len],
            mel_lengths[b : b + 1],
        )
        torch.testing.assert_close(alone.log_probs[0], batched[b], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("state_per_phone", [1, 2])
def test_gradients_reach_every_parameter(device, state_per_phone):
    torch.manual_seed(0)
    model = NeuralHMM(tiny_hparams(state_per_phone=state_per_phone, prenet_dropout=0.5)).to(device).train()
    # The flat start zeroes the last layer's weight, which blocks every gradient upstream at step 0.
    torch.nn.init.normal_(model.hmm.decoder.decoder_network.layers[-1].weight, std=0.1)
    batch = [x.to(device) for x in tiny_batch(model.hparams)]
    out = model(*batch)
    assert torch.isfinite(out.log_probs).all()
    neural_hmm_loss(out.log_probs).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_chunking_and_checkpointing_do_not_change_the_result(device):
    torch.manual_seed(0)
    model = NeuralHMM(tiny_hparams()).to(device).eval()
    # A non-flat last layer so every path through the output net matters.
    torch.nn.init.normal_(model.hmm.decoder.decoder_network.layers[-1].weight, std=0.1)
    batch = [x.to(device) for x in tiny_batch(model.hparams)]
    results = []
    for chunk_size, checkpointing in [(1000, False), (7, False), (5, True)]:
        model.zero_grad()
        out = model(*batch, chunk_size=chunk_size, gradient_checkpointing=checkpointing)
        neural_hmm_loss(out.log_probs).backward()
        results.append((out.log_probs.detach(), [p.grad.clone() for p in model.parameters()]))
    for log_probs, grads in results[1:]:
        torch.testing.assert_close(log_probs, results[0][0], rtol=1e-6, atol=1e-4)
        for grad, reference in zip(grads, results[0][1]):
            torch.testing.assert_close(grad, reference, rtol=1e-4, atol=1e-5)


def test_one_batch_overfits(device):
    torch.manual_seed(0)
    model = NeuralHMM(tiny_hparams()).to(device).train()
    model.encoder.dropout = 0.0
    batch = [x.to(device) for x in tiny_batch(model.hparams)]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimiser.zero_grad()
        loss = neural_hmm_loss(model(*batch).log_probs)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.03 * abs(losses[0]), losses


@pytest.mark.parametrize("n_frames_per_step", [1, 2])
def test_teacher_forcing_equals_stepping_the_synthesis_cell(n_frames_per_step):
    """The fused training pass gives every frame the parameters that `HMM.step` (synthesis) computes
    when fed the same previous frames (AR order k: the last k frames, oldest first)."""
    torch.manual_seed(0)
    model = NeuralHMM(tiny_hparams(n_frames_per_step=n_frames_per_step)).eval()
    torch.nn.init.normal_(model.hmm.decoder.decoder_network.layers[-1].weight, std=0.1)
    text, text_lengths, mels, mel_lengths = (x[:1] for x in tiny_batch(model.hparams))
    with torch.no_grad():
        out = model(text, text_lengths, mels, mel_lengths, return_parameters=True)
        states = out.encoder_outputs
        ar_inputs = model.hmm.go_tokens.unsqueeze(0)
        rnn_state = (torch.zeros(1, 32), torch.zeros(1, 32))
        for t in range(int(mel_lengths[0])):
            params, rnn_state = model.hmm.step(ar_inputs.flatten(1), rnn_state, states, None, False)
            torch.testing.assert_close(params.mean[0], out.hmm.means[0, t], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(
                params.transition_logit[0], out.hmm.transition_logits[0, t], rtol=1e-5, atol=1e-5
            )
            ar_inputs = torch.cat((ar_inputs, mels[:, :, t].unsqueeze(1)), dim=1)[:, 1:]


def test_state_posteriors_equal_brute_force_path_marginals():
    generator = torch.Generator().manual_seed(4)
    emission = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64) * 2
    logits = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64)
    state_lengths, frame_lengths = torch.tensor([3, 2]), torch.tensor([6, 4])
    posteriors = state_posteriors(emission, logits, state_lengths, frame_lengths)
    for b in range(2):
        n, t = int(state_lengths[b]), int(frame_lengths[b])
        log_p = brute_force_log_prob(emission[b].tolist(), logits[b].tolist(), n, t)
        for frame, state in itertools.product(range(t), range(n)):
            # Paths through (frame, state): raise that emission by log 2 and see the total grow.
            bumped = emission[b].clone()
            bumped[frame, state] += math.log(2.0)
            with_bump = brute_force_log_prob(bumped.tolist(), logits[b].tolist(), n, t)
            expected = math.expm1(with_bump - log_p)  # (p + mass) / p - 1
            assert posteriors[b, frame, state].item() == pytest.approx(expected, abs=1e-9)
    assert posteriors[1, 4:].abs().sum() == 0 and posteriors[1, :, 2:].abs().sum() == 0
    torch.testing.assert_close(posteriors[0].sum(1), torch.ones(6, dtype=torch.float64))
