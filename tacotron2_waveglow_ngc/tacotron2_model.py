"""Tacotron 2 (Shen et al., 2018, arXiv 1712.05884) as in NVIDIA DeepLearningExamples.

Text ids -> embedding -> Encoder (3 convs + BiLSTM) -> Decoder (prenet, attention LSTM,
location-sensitive attention, decoder LSTM, mel projection and stop gate, one frame per step)
-> Postnet residual. Parameter names follow the original so DLE and NVIDIA/tacotron2 state dicts
load strictly.

Shapes: B batch, T_in text length, T_out mel frames, n_mel mel channels.
"""

import warnings
from math import sqrt
from typing import Literal, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .config import Tacotron2Config
from .layers import ConvNorm, LinearNorm


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """lengths: (B,) -> (B, max_len) bool mask, True at padded positions."""
    return torch.arange(max_len, device=lengths.device) >= lengths.unsqueeze(1)


def run_lstm_cell_in_fp32(
    cell: nn.LSTMCell, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """`cell(x, state)`, but in float32 when autocast is on (a no-op otherwise).

    NGC's mixed-precision training keeps the decoder's two LSTMCells in FP32: their state is carried
    across hundreds of steps and fp16 rounding accumulates. x: (B, input_size); state: (h, c).
    """
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        return cell(x, state)
    with torch.autocast(device_type, enabled=False):
        return cell(x.float(), (state[0].float(), state[1].float()))


class SequenceWeight:
    """One weight matrix used at every step of a sequence, with its gradient formed once.

    Autograd would compute a (out, in) weight gradient from each step's (B, in) input and (B, out) output
    gradient, a product over only B rows, and add the hundreds of results one by one. Here every step
    keeps its pair, and the backward of the sequence's first step (the last to run: every later step
    depends on it) multiplies them all in one product, grad_W = G^T X over all steps. The same sum, one
    large matrix product instead of hundreds of thin ones and their additions.
    Use `matmul(x, first=...)` with first=True on exactly the sequence's first step; single backward only.
    """

    def __init__(self, weight: torch.Tensor):
        self.weight = weight
        self.inputs: list[torch.Tensor] = []
        self.output_grads: list[torch.Tensor] = []

    def matmul(self, x: torch.Tensor, first: bool) -> torch.Tensor:
        """x (B, in) -> x W^T (B, out)."""
        return _SequenceMatmul.apply(x, self.weight, self, first)


class _SequenceMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, sequence_weight, first):
        ctx.save_for_backward(x)
        ctx.sequence_weight, ctx.first = sequence_weight, first
        return x @ weight.t()

    @staticmethod
    def backward(ctx, output_grad):
        (x,) = ctx.saved_tensors
        sequence_weight = ctx.sequence_weight
        grad_x = output_grad @ sequence_weight.weight if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            sequence_weight.inputs.append(x)
            sequence_weight.output_grads.append(output_grad)
            if ctx.first:
                grads, inputs = torch.cat(sequence_weight.output_grads), torch.cat(sequence_weight.inputs)
                grad_weight = grads.t() @ inputs
                sequence_weight.inputs.clear()
                sequence_weight.output_grads.clear()
        return grad_x, grad_weight, None, None


def attention_input_gates(cell: nn.LSTMCell, prenet_frames: torch.Tensor) -> torch.Tensor:
    """The prenet frames' share of `cell`'s gates, W_ih[:, :prenet_dim] x + b_ih + b_hh, for all frames
    at once: (T, B, prenet_dim) -> (T, B, 4 * hidden). In float32 under autocast, as the cells."""
    prenet_dim = prenet_frames.size(-1)
    with torch.autocast(prenet_frames.device.type, enabled=False):
        weight = cell.weight_ih[:, :prenet_dim]
        return F.linear(prenet_frames.float(), weight, cell.bias_ih + cell.bias_hh)


def lstm_cell_from_input_gates(
    input_gates: torch.Tensor,
    rest: torch.Tensor,
    rest_weight: SequenceWeight,
    hidden_weight: SequenceWeight,
    state: tuple[torch.Tensor, torch.Tensor],
    first: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An LSTMCell step (PyTorch's update, gate order input, forget, cell, output) given the input's
    precomputed share of the gates (`input_gates`: bias included), its remaining input `rest` with
    `rest_weight`, and the hidden state with `hidden_weight` (W_hh). In float32 under autocast, as
    `run_lstm_cell_in_fp32`. first: the sequence's first step (see `SequenceWeight`)."""
    hidden, cell_state = state
    with torch.autocast(rest.device.type, enabled=False):
        gates = (
            input_gates
            + rest_weight.matmul(rest.float(), first)
            + hidden_weight.matmul(hidden.float(), first)
        )
        in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, dim=1)
        cell_state = torch.sigmoid(forget_gate) * cell_state.float() + torch.sigmoid(in_gate) * torch.tanh(
            cell_gate
        )
        return torch.sigmoid(out_gate) * torch.tanh(cell_state), cell_state


class Encoder(nn.Module):
    """Convolution stack followed by a bidirectional LSTM.

    The LSTM runs on a packed sequence of the true lengths, so padded output rows are zero; the
    convolutions still see the pad-symbol embeddings past each end (as in the original, which
    makes encoder outputs depend on the padding of the batch).
    """

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int):
        super().__init__()
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    encoder_embedding_dim,
                    encoder_embedding_dim,
                    kernel_size=encoder_kernel_size,
                    padding=(encoder_kernel_size - 1) // 2,
                    w_init_gain="relu",
                ),
                nn.BatchNorm1d(encoder_embedding_dim),
            )
            for _ in range(encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(
            encoder_embedding_dim, encoder_embedding_dim // 2, 1, batch_first=True, bidirectional=True
        )

    def forward(self, x: torch.Tensor, input_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T_in) embedded text; input_lengths: (B,) or None (all full length).

        Returns (B, max(input_lengths), C); rows past each length are zero. Lengths need not be
        sorted.
        """
        for conv in self.convolutions:
            x = F.dropout(F.relu(conv(x)), 0.5, self.training)
        x = x.transpose(1, 2)
        if input_lengths is None:
            return self.lstm(x)[0]
        packed = nn.utils.rnn.pack_padded_sequence(
            x, input_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        return outputs


class Prenet(nn.Module):
    """Bias-free Linear -> ReLU -> dropout, repeated once per entry of `sizes`.

    x: (..., in_dim) -> (..., sizes[-1]). With `always_dropout` the dropout stays on in eval mode,
    as in the original (Tacotron 2 paper, §2.3: it provides output variation at inference).
    """

    def __init__(self, in_dim: int, sizes: list[int], dropout: float = 0.5, always_dropout: bool = True):
        super().__init__()
        in_sizes = [in_dim] + sizes[:-1]
        self.layers = nn.ModuleList(
            LinearNorm(in_size, out_size, bias=False) for in_size, out_size in zip(in_sizes, sizes)
        )
        self.dropout = dropout
        self.always_dropout = always_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        apply_dropout = self.dropout > 0 and (self.always_dropout or self.training)
        for linear in self.layers:
            x = F.relu(linear(x))
            if apply_dropout:
                x = F.dropout(x, self.dropout, training=True)
        return x


class LocationLayer(nn.Module):
    """Location features of the attention: conv over [previous; cumulative] weights, then a
    projection to attention_dim.

    attention_weights_cat: (B, 2, T_in) -> (B, T_in, attention_dim).
    """

    def __init__(self, attention_n_filters: int, attention_kernel_size: int, attention_dim: int):
        super().__init__()
        self.location_conv = ConvNorm(
            2,
            attention_n_filters,
            kernel_size=attention_kernel_size,
            padding=(attention_kernel_size - 1) // 2,
            bias=False,
        )
        self.location_dense = LinearNorm(attention_n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, attention_weights_cat: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(attention_weights_cat).transpose(1, 2))

    def window_weight(self) -> torch.Tensor:
        """The convolution and the projection folded into one (2 * kernel, attention_dim) matrix: both are
        linear, so location features = (windows of the weights) @ this. A decoder computes it once per
        utterance batch and reuses it every step (`windowed`), instead of a convolution and a projection
        per step: the same function, a third of the per-step work."""
        conv = self.location_conv.conv.weight  # (filters, 2, kernel)
        dense = self.location_dense.linear_layer.weight  # (attention_dim, filters)
        return torch.einsum("af,fck->cka", dense, conv).reshape(-1, dense.size(0))

    def windowed(self, attention_weights_cat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """`forward` with a precomputed `window_weight()`: (B, 2, T_in) -> (B, T_in, attention_dim)."""
        kernel = self.location_conv.conv.kernel_size[0]
        padded = F.pad(attention_weights_cat, ((kernel - 1) // 2, kernel // 2))
        windows = padded.unfold(2, kernel, 1)  # (B, 2, T_in, kernel)
        return windows.permute(0, 2, 1, 3).reshape(windows.size(0), windows.size(2), -1) @ weight


class Attention(nn.Module):
    """Location-sensitive attention (Chorowski et al., 2015):
    e_j = v^T tanh(W q + V h_j + U f_j), alpha = softmax(e) over unmasked j, context = alpha . h.
    """

    def __init__(
        self,
        attention_rnn_dim: int,
        embedding_dim: int,
        attention_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
    ):
        super().__init__()
        self.query_layer = LinearNorm(attention_rnn_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(embedding_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(
            attention_location_n_filters, attention_location_kernel_size, attention_dim
        )

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        processed_memory: torch.Tensor,
        attention_weights_cat: torch.Tensor,
        mask: torch.Tensor | None,
        location_weight: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query: (B, attention_rnn_dim); memory: (B, T_in, E); processed_memory: (B, T_in, A)
        (= memory_layer(memory)); attention_weights_cat: (B, 2, T_in); mask: (B, T_in), True at
        padding, or None; location_weight: `location_layer.window_weight()`, when precomputed.

        Returns context (B, E) and attention weights (B, T_in).
        """
        processed_query = self.query_layer(query).unsqueeze(1)
        if location_weight is None:
            processed_location = self.location_layer(attention_weights_cat)
        else:
            processed_location = self.location_layer.windowed(attention_weights_cat, location_weight)
        energies = self.v(torch.tanh(processed_query + processed_location + processed_memory)).squeeze(-1)
        if mask is not None:
            energies = energies.masked_fill(mask, float("-inf"))
        attention_weights = F.softmax(energies, dim=1)
        context = torch.bmm(attention_weights.unsqueeze(1), memory).squeeze(1)
        return context, attention_weights


class Postnet(nn.Module):
    """Five 1-D convolutions with BatchNorm; tanh after all but the last.

    x: (B, n_mel, T_out) -> residual (B, n_mel, T_out).
    """

    def __init__(
        self,
        n_mel_channels: int,
        postnet_embedding_dim: int,
        postnet_kernel_size: int,
        postnet_n_convolutions: int,
    ):
        super().__init__()
        widths = [n_mel_channels] + [postnet_embedding_dim] * (postnet_n_convolutions - 1) + [n_mel_channels]
        n_layers = len(widths) - 1
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    widths[i],
                    widths[i + 1],
                    kernel_size=postnet_kernel_size,
                    padding=(postnet_kernel_size - 1) // 2,
                    w_init_gain="linear" if i == n_layers - 1 else "tanh",
                ),
                nn.BatchNorm1d(widths[i + 1]),
            )
            for i in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.convolutions) - 1
        for i, conv in enumerate(self.convolutions):
            x = conv(x)
            if i < last:
                x = torch.tanh(x)
            x = F.dropout(x, 0.5, self.training)
        return x


class DecoderState(NamedTuple):
    """Recurrent state carried between decoder steps (all zeros at the start)."""

    attention_hidden: torch.Tensor  # (B, attention_rnn_dim), after dropout
    attention_cell: torch.Tensor  # (B, attention_rnn_dim)
    decoder_hidden: torch.Tensor  # (B, decoder_rnn_dim), after dropout
    decoder_cell: torch.Tensor  # (B, decoder_rnn_dim)
    attention_weights: torch.Tensor  # (B, T_in), previous step's alignment
    attention_weights_cum: torch.Tensor  # (B, T_in), sum of all alignments so far
    attention_context: torch.Tensor  # (B, E)


class DecoderMemory(NamedTuple):
    """Encoder side of the attention, computed once per utterance batch."""

    memory: torch.Tensor  # (B, T_in, E) encoder outputs
    processed_memory: torch.Tensor  # (B, T_in, A) memory_layer(memory)
    mask: torch.Tensor | None  # (B, T_in), True at padding; None when nothing is padded
    location_weight: torch.Tensor  # (2 * kernel, A) attention_layer.location_layer.window_weight()


class TeacherForcingWeights(NamedTuple):
    """The two LSTMCells' weights as `SequenceWeight`s, for a teacher-forced sequence."""

    attention_context: SequenceWeight  # the attention LSTM's W_ih columns of the context
    attention_hidden: SequenceWeight  # its W_hh
    decoder_input: SequenceWeight  # the decoder LSTM's W_ih
    decoder_hidden: SequenceWeight  # its W_hh
    decoder_bias: torch.Tensor  # (4 * decoder_rnn_dim,) b_ih + b_hh of the decoder LSTM


class DecoderStepOutput(NamedTuple):
    mel_frame: torch.Tensor  # (B, n_mel)
    gate_logit: torch.Tensor  # (B,) stop-token logit
    attention_weights: torch.Tensor  # (B, T_in)


class DecoderOutput(NamedTuple):
    mel_outputs: torch.Tensor  # (B, n_mel, T_out)
    gate_outputs: torch.Tensor  # (B, T_out) logits
    alignments: torch.Tensor  # (B, T_out, T_in)


class DecoderInferenceOutput(NamedTuple):
    mel_outputs: torch.Tensor  # (B, n_mel, T_out)
    gate_outputs: torch.Tensor  # (B, T_out) logits
    alignments: torch.Tensor  # (B, T_out, T_in)
    mel_lengths: torch.Tensor  # (B,) int32, frames decoded before the stop gate fired
    finished: torch.Tensor  # (B,) bool, whether the stop gate fired


class Decoder(nn.Module):
    """Autoregressive decoder, one mel frame per step."""

    def __init__(
        self,
        n_mel_channels: int,
        n_frames_per_step: int,
        encoder_embedding_dim: int,
        attention_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
        attention_rnn_dim: int,
        decoder_rnn_dim: int,
        prenet_dim: int,
        max_decoder_steps: int,
        gate_threshold: float,
        p_attention_dropout: float,
        p_decoder_dropout: float,
        early_stopping: bool,
        prenet_dropout: float = 0.5,
        prenet_always_dropout: bool = True,
    ):
        super().__init__()
        if n_frames_per_step != 1:
            raise ValueError(
                f"n_frames_per_step={n_frames_per_step}: only 1 is supported (as in the original)"
            )
        self.n_mel_channels = n_mel_channels
        self.encoder_embedding_dim = encoder_embedding_dim
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.max_decoder_steps = max_decoder_steps
        self.gate_threshold = gate_threshold
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        self.early_stopping = early_stopping

        self.prenet = Prenet(n_mel_channels, [prenet_dim, prenet_dim], prenet_dropout, prenet_always_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_embedding_dim, attention_rnn_dim)
        self.attention_layer = Attention(
            attention_rnn_dim,
            encoder_embedding_dim,
            attention_dim,
            attention_location_n_filters,
            attention_location_kernel_size,
        )
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_embedding_dim, decoder_rnn_dim)
        self.linear_projection = LinearNorm(decoder_rnn_dim + encoder_embedding_dim, n_mel_channels)
        self.gate_layer = LinearNorm(decoder_rnn_dim + encoder_embedding_dim, 1, w_init_gain="sigmoid")

    def prepare_memory(self, memory: torch.Tensor, memory_lengths: torch.Tensor | None) -> DecoderMemory:
        """memory: (B, T_in, E); memory_lengths: (B,) or None (no masking)."""
        mask = None if memory_lengths is None else padding_mask(memory_lengths, memory.size(1))
        location_weight = self.attention_layer.location_layer.window_weight()
        return DecoderMemory(memory, self.attention_layer.memory_layer(memory), mask, location_weight)

    def initial_state(self, memory: torch.Tensor) -> DecoderState:
        """Zero state for memory (B, T_in, E)."""
        batch_size, max_time, _ = memory.shape

        def zeros(width: int) -> torch.Tensor:
            return memory.new_zeros(batch_size, width)

        return DecoderState(
            attention_hidden=zeros(self.attention_rnn_dim),
            attention_cell=zeros(self.attention_rnn_dim),
            decoder_hidden=zeros(self.decoder_rnn_dim),
            decoder_cell=zeros(self.decoder_rnn_dim),
            attention_weights=zeros(max_time),
            attention_weights_cum=zeros(max_time),
            attention_context=zeros(self.encoder_embedding_dim),
        )

    def recurrence(
        self,
        state: DecoderState,
        prenet_frame: torch.Tensor | None,
        memory: DecoderMemory,
        teacher: tuple[torch.Tensor, TeacherForcingWeights, bool] | None = None,
    ) -> tuple[DecoderState, torch.Tensor]:
        """The sequential part of one decoder step: both LSTMCells and the attention.

        prenet_frame: (B, prenet_dim), the prenet of the previous mel frame; or, in teacher forcing, None
        with teacher = (that frame's share of the attention LSTM's gates (B, 4 * attention_rnn_dim),
        computed for all frames at once, the cells' weights, whether this is the first step). Returns
        the new state and [decoder_hidden, context] (B, decoder_rnn_dim + E), which the mel projection
        and the gate read.
        """
        if teacher is None:
            attention_hidden, attention_cell = run_lstm_cell_in_fp32(
                self.attention_rnn,
                torch.cat((prenet_frame, state.attention_context), -1),
                (state.attention_hidden, state.attention_cell),
            )
        else:
            input_gates, weights, first = teacher
            attention_hidden, attention_cell = lstm_cell_from_input_gates(
                input_gates,
                state.attention_context,
                weights.attention_context,
                weights.attention_hidden,
                (state.attention_hidden, state.attention_cell),
                first,
            )
        # The dropped-out hidden state is also what the next step receives, as in the original.
        attention_hidden = F.dropout(attention_hidden, self.p_attention_dropout, self.training)

        attention_weights_cat = torch.stack((state.attention_weights, state.attention_weights_cum), dim=1)
        context, attention_weights = self.attention_layer(
            attention_hidden,
            memory.memory,
            memory.processed_memory,
            attention_weights_cat,
            memory.mask,
            memory.location_weight,
        )

        decoder_input = torch.cat((attention_hidden, context), -1)
        if teacher is None:
            decoder_hidden, decoder_cell = run_lstm_cell_in_fp32(
                self.decoder_rnn, decoder_input, (state.decoder_hidden, state.decoder_cell)
            )
        else:
            decoder_hidden, decoder_cell = lstm_cell_from_input_gates(
                weights.decoder_bias,
                decoder_input,
                weights.decoder_input,
                weights.decoder_hidden,
                (state.decoder_hidden, state.decoder_cell),
                first,
            )
        decoder_hidden = F.dropout(decoder_hidden, self.p_decoder_dropout, self.training)

        new_state = DecoderState(
            attention_hidden,
            attention_cell,
            decoder_hidden,
            decoder_cell,
            attention_weights,
            state.attention_weights_cum + attention_weights,
            context,
        )
        return new_state, torch.cat((decoder_hidden, context), -1)

    def decode_step(
        self, state: DecoderState, prenet_frame: torch.Tensor, memory: DecoderMemory
    ) -> tuple[DecoderState, DecoderStepOutput]:
        """One decoder step. prenet_frame: (B, prenet_dim), the prenet of the previous mel frame."""
        state, hidden_and_context = self.recurrence(state, prenet_frame, memory)
        mel_frame = self.linear_projection(hidden_and_context)
        gate_logit = self.gate_layer(hidden_and_context).squeeze(1)
        return state, DecoderStepOutput(mel_frame, gate_logit, state.attention_weights)

    def forward(
        self, memory: torch.Tensor, decoder_inputs: torch.Tensor, memory_lengths: torch.Tensor | None
    ) -> DecoderOutput:
        """Teacher forcing. memory: (B, T_in, E); decoder_inputs: (B, n_mel, T_out) target mels;
        memory_lengths: (B,) or None.

        The same function as `decode_step` in a loop, rearranged: what does not depend on the previous
        step runs once for all frames (the prenet frames' share of the attention LSTM's gates before
        the loop, the mel projection and the gate after it), so the loop keeps only the recurrence.
        """
        go_frame = memory.new_zeros(1, memory.size(0), self.n_mel_channels)
        frames = torch.cat((go_frame, decoder_inputs.permute(2, 0, 1)), dim=0)
        n_frames = decoder_inputs.size(2)
        prenet_frames = self.prenet(frames)[:n_frames]  # (T_out, B, prenet_dim); the last row is unused
        input_gates = attention_input_gates(self.attention_rnn, prenet_frames)  # (T_out, B, 4 * rnn_dim)

        decoder_memory = self.prepare_memory(memory, memory_lengths)
        prenet_dim = prenet_frames.size(-1)
        weights = TeacherForcingWeights(
            SequenceWeight(self.attention_rnn.weight_ih[:, prenet_dim:].contiguous()),
            SequenceWeight(self.attention_rnn.weight_hh),
            SequenceWeight(self.decoder_rnn.weight_ih),
            SequenceWeight(self.decoder_rnn.weight_hh),
            self.decoder_rnn.bias_ih + self.decoder_rnn.bias_hh,
        )
        state = self.initial_state(memory)
        hidden_and_contexts, alignments = [], []
        # unbind, not input_gates[t]: indexing would give each step's gradient a zero-filled copy of the
        # whole (T_out, B, 4 * rnn_dim) tensor in backward.
        for t, frame_gates in enumerate(input_gates.unbind(0)):
            state, hidden_and_context = self.recurrence(
                state, None, decoder_memory, (frame_gates, weights, t == 0)
            )
            hidden_and_contexts.append(hidden_and_context)
            alignments.append(state.attention_weights)
        hidden_and_contexts = torch.stack(hidden_and_contexts, dim=1)  # (B, T_out, decoder_rnn_dim + E)
        mel_outputs = self.linear_projection(hidden_and_contexts).transpose(1, 2)
        gate_outputs = self.gate_layer(hidden_and_contexts).squeeze(2)
        return DecoderOutput(mel_outputs, gate_outputs, torch.stack(alignments, dim=1))

    def infer(
        self,
        memory: torch.Tensor,
        memory_lengths: torch.Tensor | None = None,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        early_stopping: bool | None = None,
    ) -> DecoderInferenceOutput:
        """Batched greedy decoding, feeding back the pre-postnet frame.

        memory: (B, T_in, E); memory_lengths: (B,) or None (no masking). An utterance is finished
        from the first step whose sigmoid(gate) exceeds gate_threshold; `mel_lengths` counts the
        steps before that (the firing frame is not counted). Decoding stops after the step on
        which all utterances are finished (unless early_stopping is False) or after
        max_decoder_steps, warning about the utterances that never finished.
        """
        max_decoder_steps = self.max_decoder_steps if max_decoder_steps is None else max_decoder_steps
        gate_threshold = self.gate_threshold if gate_threshold is None else gate_threshold
        early_stopping = self.early_stopping if early_stopping is None else early_stopping
        if max_decoder_steps < 1:
            raise ValueError(f"max_decoder_steps must be >= 1, got {max_decoder_steps}")

        decoder_memory = self.prepare_memory(memory, memory_lengths)
        state = self.initial_state(memory)
        batch_size = memory.size(0)
        frame = memory.new_zeros(batch_size, self.n_mel_channels)
        not_finished = torch.ones(batch_size, dtype=torch.bool, device=memory.device)
        mel_lengths = torch.zeros(batch_size, dtype=torch.int32, device=memory.device)
        mel_frames, gate_logits, alignments = [], [], []
        for _ in range(max_decoder_steps):
            state, step = self.decode_step(state, self.prenet(frame), decoder_memory)
            mel_frames.append(step.mel_frame)
            gate_logits.append(step.gate_logit)
            alignments.append(step.attention_weights)
            not_finished &= torch.sigmoid(step.gate_logit) <= gate_threshold
            mel_lengths += not_finished
            # The one host sync per step: the stop decision.
            if early_stopping and not bool(not_finished.any()):
                break
            frame = step.mel_frame
        else:
            unfinished = not_finished.nonzero().flatten().tolist()
            if unfinished:
                warnings.warn(
                    f"Tacotron2: reached max_decoder_steps={max_decoder_steps} before the stop gate fired "
                    f"for utterance(s) {unfinished} of the batch",
                    stacklevel=3,
                )
        return DecoderInferenceOutput(
            torch.stack(mel_frames, dim=2),
            torch.stack(gate_logits, dim=1),
            torch.stack(alignments, dim=1),
            mel_lengths,
            ~not_finished,
        )


class Tacotron2Output(NamedTuple):
    """Teacher-forced outputs (original order)."""

    mel_outputs: torch.Tensor  # (B, n_mel, T_out) decoder output before the postnet
    mel_outputs_postnet: torch.Tensor  # (B, n_mel, T_out)
    gate_outputs: torch.Tensor  # (B, T_out) stop logits
    alignments: torch.Tensor  # (B, T_out, T_in)


class Tacotron2InferenceOutput(NamedTuple):
    """Greedy-decoding outputs; the first three are what DLE `Tacotron2.infer` returns."""

    mel_outputs_postnet: torch.Tensor  # (B, n_mel, T_out)
    mel_lengths: torch.Tensor  # (B,) int32, valid frames per utterance (see `stop_convention`)
    alignments: torch.Tensor  # (B, T_out, T_in)
    mel_outputs: torch.Tensor  # (B, n_mel, T_out) before the postnet
    gate_outputs: torch.Tensor  # (B, T_out) stop logits


class Tacotron2(nn.Module):
    """Tacotron 2 built from a `Tacotron2Config`."""

    def __init__(self, config: Tacotron2Config):
        super().__init__()
        self.config = config
        self.mask_padding = config.mask_padding
        self.n_mel_channels = config.n_mel_channels
        self.embedding = nn.Embedding(config.n_symbols, config.symbols_embedding_dim)
        bound = sqrt(3.0) * sqrt(2.0 / (config.n_symbols + config.symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(
            config.encoder_n_convolutions, config.encoder_embedding_dim, config.encoder_kernel_size
        )
        self.decoder = Decoder(
            config.n_mel_channels,
            config.n_frames_per_step,
            config.encoder_embedding_dim,
            config.attention_dim,
            config.attention_location_n_filters,
            config.attention_location_kernel_size,
            config.attention_rnn_dim,
            config.decoder_rnn_dim,
            config.prenet_dim,
            config.max_decoder_steps,
            config.gate_threshold,
            config.p_attention_dropout,
            config.p_decoder_dropout,
            early_stopping=not config.decoder_no_early_stopping,
            prenet_dropout=config.prenet_dropout,
            prenet_always_dropout=config.prenet_always_dropout,
        )
        self.postnet = Postnet(
            config.n_mel_channels,
            config.postnet_embedding_dim,
            config.postnet_kernel_size,
            config.postnet_n_convolutions,
        )

    def encode(self, text: torch.Tensor, input_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """text: (B, T_in) symbol ids; input_lengths: (B,) or None -> memory (B, T_in', E)."""
        return self.encoder(self.embedding(text).transpose(1, 2), input_lengths)

    def forward(
        self,
        text_padded: torch.Tensor,
        input_lengths: torch.Tensor,
        mel_padded: torch.Tensor,
        output_lengths: torch.Tensor | None = None,
    ) -> Tacotron2Output:
        """Teacher forcing. text_padded: (B, T_in) ids; input_lengths: (B,); mel_padded:
        (B, n_mel, T_out) targets; output_lengths: (B,) frames, used only when mask_padding is set
        (mel outputs zeroed and gate logits set to 1000 at padded frames)."""
        memory = self.encode(text_padded, input_lengths)
        mel_outputs, gate_outputs, alignments = self.decoder(memory, mel_padded, input_lengths)
        mel_outputs_postnet = mel_outputs + self.postnet(mel_outputs)
        if self.mask_padding and output_lengths is not None:
            frame_mask = padding_mask(output_lengths, mel_outputs.size(2))
            mel_outputs = mel_outputs.masked_fill(frame_mask.unsqueeze(1), 0.0)
            mel_outputs_postnet = mel_outputs_postnet.masked_fill(frame_mask.unsqueeze(1), 0.0)
            gate_outputs = gate_outputs.masked_fill(frame_mask, 1e3)
        return Tacotron2Output(mel_outputs, mel_outputs_postnet, gate_outputs, alignments)

    def infer(
        self,
        text: torch.Tensor,
        input_lengths: torch.Tensor | None = None,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        early_stopping: bool | None = None,
        stop_convention: Literal["ngc", "nvidia"] = "ngc",
    ) -> Tacotron2InferenceOutput:
        """Greedy decoding. text: (B, T_in) ids; input_lengths: (B,) or None (unpadded, no mask).

        Settings left as None come from the config. `stop_convention`:
        * "ngc" (DLE `infer`): `mel_lengths` counts the frames before the stop gate fired.
        * "nvidia" (NVIDIA/tacotron2 `inference`): the firing frame is kept and counted. At batch 1
          with input_lengths None this reproduces NVIDIA's single-utterance, unmasked decoding.
        The returned tensors hold every decoded step (up to the last utterance's stop), in input
        order; frames past `mel_lengths` are not zeroed. Call under `torch.inference_mode()` so
        no autograd graph is kept across steps.
        """
        if stop_convention not in ("ngc", "nvidia"):
            raise ValueError(f"stop_convention must be 'ngc' or 'nvidia', got {stop_convention!r}")
        memory = self.encode(text, input_lengths)
        decoded = self.decoder.infer(memory, input_lengths, max_decoder_steps, gate_threshold, early_stopping)
        mel_lengths = decoded.mel_lengths
        if stop_convention == "nvidia":
            mel_lengths = mel_lengths + decoded.finished.to(torch.int32)
        mel_outputs_postnet = decoded.mel_outputs + self.postnet(decoded.mel_outputs)
        return Tacotron2InferenceOutput(
            mel_outputs_postnet, mel_lengths, decoded.alignments, decoded.mel_outputs, decoded.gate_outputs
        )
