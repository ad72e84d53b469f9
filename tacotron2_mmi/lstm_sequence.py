"""An LSTMCell stepped through a teacher-forced sequence, with its weight gradients formed once.

Why: in training the decoder runs its two LSTMCells for every mel frame at a batch of ~8. Autograd then
forms each cell's weight gradients step by step, a (4H, in) product over only B rows per step, and adds
hundreds of them into `.grad` one by one: on a CPU, traffic over the full 71 MB of both cells' weights
at every step. Here a step keeps its input, previous hidden state and gate gradient, and the backward of
the sequence's first step (which runs last: every later step depends on its output) forms the weight
gradients of all steps in one product, grad W = sum_t G_t^T X_t = G^T X over the stacked steps. The same
sum, in another order. Measured with torch.profiler (default model, batch 8 x 100 frames, 1 thread,
loaded machine): 38 s -> 16 s of CPU time per training step; the rest is mostly the per-step products
x W^T and G W, which the recurrence needs.

The step itself is PyTorch's LSTMCell (gate order input, forget, cell, output):
    gates = base + x W_x^T + h W_h^T;  c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
with `base` either the cell's biases (4H,) or a per-step (B, 4H) share of the gates computed for all steps
at once beforehand (the decoder's prenet frames, known before the loop). One autograd node per step
instead of a dozen, and the backward written out.

Use: one `SequenceTape(n_steps)` per cell and sequence, `lstm_step(...)` for steps 0 .. n_steps - 1, each
step's output feeding the next. Any number of backward passes (retain_graph) is fine; each must reach
every step, as any loss on the sequence's outputs does.
"""

from __future__ import annotations

import torch


class SequenceTape:
    """What each step's backward leaves for the first step's: inputs x_t, hidden states h_t and gate
    gradients G_t, each (B, ·), indexed by step (a later backward pass overwrites them)."""

    def __init__(self, n_steps: int):
        self.n_steps = n_steps
        self.inputs: list[torch.Tensor | None] = [None] * n_steps
        self.hiddens: list[torch.Tensor | None] = [None] * n_steps
        self.gate_grads: list[torch.Tensor | None] = [None] * n_steps

    def record(self, step: int, x: torch.Tensor, h: torch.Tensor, gate_grad: torch.Tensor) -> None:
        self.inputs[step], self.hiddens[step], self.gate_grads[step] = x, h, gate_grad

    def weight_gradients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad W_x (4H, in), grad W_h (4H, H)) summed over all steps; clears the tape."""
        missing = [t for t, g in enumerate(self.gate_grads) if g is None]
        if missing:
            raise RuntimeError(
                f"lstm_sequence: the backward pass reached step 0 before steps {missing[:5]} of "
                f"{self.n_steps}; every step's output must feed the next"
            )
        gate_grads = torch.cat(self.gate_grads).t()  # (4H, n_steps * B)
        grad_w_x = gate_grads @ torch.cat(self.inputs)
        grad_w_h = gate_grads @ torch.cat(self.hiddens)
        self.inputs = [None] * self.n_steps
        self.hiddens = [None] * self.n_steps
        self.gate_grads = [None] * self.n_steps
        return grad_w_x, grad_w_h


class _LSTMStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, base, x, h, c, w_x, w_h, tape, step):
        gates = torch.addmm(base, x, w_x.t())
        gates.addmm_(h, w_h.t())
        in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, dim=1)
        in_gate, forget_gate = in_gate.sigmoid(), forget_gate.sigmoid()
        cell_gate, out_gate = cell_gate.tanh(), out_gate.sigmoid()
        c_next = torch.addcmul(forget_gate * c, in_gate, cell_gate)
        tanh_c = c_next.tanh()
        ctx.save_for_backward(x, h, c, w_x, w_h, in_gate, forget_gate, cell_gate, out_gate, tanh_c)
        ctx.tape, ctx.step, ctx.base_is_bias = tape, step, base.dim() == 1
        return out_gate * tanh_c, c_next

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        with torch.autocast(grad_h.device.type, enabled=False):  # float32 as the forward, wherever called
            return _LSTMStep.float32_backward(ctx, grad_h, grad_c)

    @staticmethod
    def float32_backward(ctx, grad_h, grad_c):
        x, h, c, w_x, w_h, in_gate, forget_gate, cell_gate, out_gate, tanh_c = ctx.saved_tensors
        # d loss / d c' through both of its uses: the next step's c and this step's h' = o tanh(c').
        grad_c = grad_c + grad_h * out_gate * (1 - tanh_c * tanh_c)
        gate_grad = torch.cat(
            (
                grad_c * cell_gate * in_gate * (1 - in_gate),
                grad_c * c * forget_gate * (1 - forget_gate),
                grad_c * in_gate * (1 - cell_gate * cell_gate),
                grad_h * tanh_c * out_gate * (1 - out_gate),
            ),
            dim=1,
        )  # (B, 4H): d loss / d gates before the nonlinearities
        needs = ctx.needs_input_grad
        grad_base = None
        if needs[0]:
            grad_base = gate_grad.sum(0) if ctx.base_is_bias else gate_grad
        grad_x = gate_grad @ w_x if needs[1] else None
        grad_h_prev = gate_grad @ w_h if needs[2] else None
        grad_c_prev = grad_c * forget_gate if needs[3] else None
        grad_w_x = grad_w_h = None
        if needs[4] or needs[5]:
            ctx.tape.record(ctx.step, x, h, gate_grad)
            if ctx.step == 0:
                grad_w_x, grad_w_h = ctx.tape.weight_gradients()
        return grad_base, grad_x, grad_h_prev, grad_c_prev, grad_w_x, grad_w_h, None, None


def lstm_step(
    base: torch.Tensor,
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    w_x: torch.Tensor,
    w_h: torch.Tensor,
    tape: SequenceTape,
    step: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTMCell step. base: (4H,) biases or (B, 4H) precomputed share of the gates (biases included);
    x: (B, in); state: (h, c), each (B, H); w_x: (4H, in), the input weight's columns for x; w_h: (4H, H).
    Returns (h', c'), float32: under autocast the cell still runs in float32 (its state is carried over
    hundreds of steps, where half-precision rounding accumulates), as the decoder's `run_cell`."""
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            return lstm_step(
                base.float(), x.float(), (state[0].float(), state[1].float()), w_x, w_h, tape, step
            )
    return _LSTMStep.apply(base, x, state[0], state[1], w_x, w_h, tape, step)
