"""lstm_sequence.py: the LSTMCell step with weight gradients formed once per sequence, against nn.LSTMCell,
and inside the decoder against the per-step `run_cell` path."""

import pytest
import torch

from tacotron2_mmi.gradient_adaptive_factor import batchnorm_conv_biases
from tacotron2_mmi.lstm_sequence import SequenceTape, lstm_step

from .test_model import run, tiny_batch, tiny_model, without_dropout

pytestmark = pytest.mark.usefixtures("one_thread")


def cell_and_inputs(dtype=torch.float32, steps=5, batch=3, extra=4, inputs=6, hidden=7):
    """An LSTMCell over [extra; inputs] features and a sequence for it: the `extra` columns play the
    prenet frames (their share of the gates precomputed per step), the others the context."""
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(extra + inputs, hidden).to(dtype)
    extras = torch.randn(steps, batch, extra, dtype=dtype, requires_grad=True)
    xs = torch.randn(steps, batch, inputs, dtype=dtype, requires_grad=True)
    state = tuple(torch.randn(batch, hidden, dtype=dtype, requires_grad=True) for _ in range(2))
    return cell, extras, xs, state


def reference_loop(cell, extras, xs, state):
    outputs = []
    for extra, x in zip(extras, xs):
        state = cell(torch.cat((extra, x), -1), state)
        outputs.append(state[0])
    return torch.stack(outputs), state[1]


def sequence_loop(cell, extras, xs, state, precomputed: bool):
    """precomputed: the extra columns' share of the gates per step (the attention LSTM's prenet frames);
    else the biases as base and [extra; x] as input (the decoder LSTM)."""
    n_extra, tape = extras.size(-1), SequenceTape(len(xs))
    if precomputed:
        gates = torch.nn.functional.linear(extras, cell.weight_ih[:, :n_extra], cell.bias_ih + cell.bias_hh)
        bases, inputs, weight = gates.unbind(0), xs.unbind(0), cell.weight_ih[:, n_extra:]
    else:
        bases, inputs, weight = (
            [cell.bias_ih + cell.bias_hh] * len(xs),
            torch.cat((extras, xs), -1),
            cell.weight_ih,
        )
    outputs = []
    for step, (base, x) in enumerate(zip(bases, inputs)):
        state = lstm_step(base, x, state, weight, cell.weight_hh, tape, step)
        outputs.append(state[0])
    return torch.stack(outputs), state[1]


def gradients(loop, cell, extras, xs, state, **kwargs):
    leaves = [extras, xs, *state, *cell.parameters()]
    hiddens, last_cell = loop(cell, extras, xs, state, **kwargs)
    weights = torch.linspace(-1, 1, hiddens.numel()).view_as(hiddens)
    loss = (hiddens * weights).sum() + last_cell.square().sum()
    first = torch.autograd.grad(loss, leaves, retain_graph=True)
    second = torch.autograd.grad(loss, leaves)  # the tape is reused by a second pass over the same graph
    return (hiddens, last_cell), first, second


@pytest.mark.parametrize("precomputed", [True, False])
def test_steps_and_gradients_equal_lstmcell(precomputed):
    cell, extras, xs, state = cell_and_inputs()
    expected_outputs, expected_gradients, _ = gradients(reference_loop, cell, extras, xs, state)
    outputs, first, second = gradients(sequence_loop, cell, extras, xs, state, precomputed=precomputed)
    for actual, expected in zip(outputs, expected_outputs):
        torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)
    names = ["extras", "xs", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, actual, again, expected in zip(names, first, second, expected_gradients):
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=name)
        assert torch.equal(actual, again), name


def test_gradcheck_in_float64():
    cell, extras, xs, state = cell_and_inputs(torch.float64, steps=4, batch=2, extra=2, inputs=3, hidden=3)
    weight_ih, weight_hh = cell.weight_ih.detach().requires_grad_(), cell.weight_hh.detach().requires_grad_()
    bias = (cell.bias_ih + cell.bias_hh).detach().requires_grad_()

    def function(extras, xs, h0, c0, weight_ih, weight_hh, bias):
        tape, hidden_state, outputs = SequenceTape(len(xs)), (h0, c0), []
        gates = torch.nn.functional.linear(extras, weight_ih[:, :2], bias)
        for step in range(len(xs)):
            hidden_state = lstm_step(
                gates[step], xs[step], hidden_state, weight_ih[:, 2:], weight_hh, tape, step
            )
            outputs.append(hidden_state[0])
        return torch.stack(outputs), hidden_state[1]

    assert torch.autograd.gradcheck(function, (extras, xs, *state, weight_ih, weight_hh, bias))


def test_a_backward_pass_that_skips_steps_is_an_error():
    """A loss on step 0's output alone would reach step 0 without the later steps' gate gradients."""
    cell, extras, xs, state = cell_and_inputs()
    tape = SequenceTape(2)
    first = lstm_step(cell.bias_ih, xs[0], state, cell.weight_ih[:, 4:], cell.weight_hh, tape, 0)
    lstm_step(cell.bias_ih, xs[1], first, cell.weight_ih[:, 4:], cell.weight_hh, tape, 1)
    with pytest.raises(RuntimeError, match="reached step 0 before steps \\[1\\]"):
        first[0].sum().backward()


def test_decoder_teacher_forcing_equals_the_per_step_cells():
    """The training forward (cells with precomputed prenet gates and deferred weight gradients) against
    the same steps through `run_cell`, which inference uses: outputs and every parameter's gradient."""
    batch = tiny_batch()
    results = []
    for per_step in (False, True):
        model = without_dropout(tiny_model(drop_frame_rate=0.0)).train()
        if per_step:  # the free-running code path with no step free-running: `run_cell` at every step
            model.decoder.free_running_steps = lambda n_steps: [False] * n_steps
        outputs = run(model, batch)
        weights = torch.linspace(-1, 1, outputs.ctc_log_probs.numel()).view_as(outputs.ctc_log_probs)
        loss = outputs.mel_outputs_postnet.square().mean() + outputs.gate_outputs.mean()
        (loss + (outputs.ctc_log_probs * weights).mean()).backward()
        noise = batchnorm_conv_biases(model)  # true gradient 0, computed rounding noise
        results.append((outputs, {n: p.grad for n, p in model.named_parameters() if n not in noise}))
    (fast, fast_gradients), (per_step, per_step_gradients) = results
    for name in ("decoder_outputs", "mel_outputs", "gate_outputs", "alignments", "ctc_log_probs"):
        torch.testing.assert_close(getattr(fast, name), getattr(per_step, name), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast.mel_outputs_postnet, per_step.mel_outputs_postnet, atol=1e-4, rtol=1e-5)
    for name, gradient in per_step_gradients.items():
        scale = float(gradient.abs().max())
        torch.testing.assert_close(fast_gradients[name], gradient, atol=1e-4 * scale, rtol=0, msg=name)


def test_decoder_cells_stay_float32_under_autocast():
    model = tiny_model(drop_frame_rate=0.0).train()
    batch = tiny_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = run(model, batch)
    loss = outputs.mel_outputs.float().square().mean()
    loss.backward()
    assert model.decoder.decoder_rnn.weight_hh.grad.dtype == torch.float32
    assert bool(torch.isfinite(model.decoder.attention_rnn.weight_ih.grad).all())
