"""Tacotron 2 with the auxiliary CTC recognizer of "Maximizing Mutual Information for Tacotron" (Liu et al.
2019), as bfs18/tacotron2 builds it on NVIDIA/tacotron2.

    text ids -> embedding -> Encoder (3 x conv+BatchNorm+ReLU, BiLSTM) = memory (B, T_in, E)
    Decoder, one frame per step: prenet(previous frame) -> attention LSTM -> location-sensitive attention
        -> decoder LSTM -> linear_projection([hidden; context]) = decoder output d_t (the 1024-d feature)
        -> mel_layer(d_t) = mel frame, gate_layer(d_t) = stop logit
    Postnet residual on the mel.
    MIEstimator ("mi", training only): CTC recognizer on d_t, predicting the text's letters/phones; its
        CTC loss is the mutual-information term I(text; acoustic features) the paper maximises.
    drop_frames (training only): each teacher-forcing input frame is replaced by the global mean log-mel
        with probability drop_frame_rate, so the decoder must lean on the text (the paper's "dropout of
        frames", the stand-in for a reduction window).

What bfs18 changed in NVIDIA's decoder, and is kept: `linear_projection` is Linear+ReLU+Dropout(0.5) to a
decoder_rnn_dim feature (NVIDIA: a Linear straight to the mel), followed by a two-layer `mel_layer` and a
`gate_layer` on that feature. Parameter names follow the original so its checkpoints load strictly.

Shapes: B batch, T_in text length, T mel frames, n_mel mel channels, E encoder width, D decoder_rnn_dim.
"""

from __future__ import annotations

import warnings
from math import sqrt
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .hparams import N_CTC_SYMBOLS, HParams
from .layers import ConvNorm, LinearNorm
from .lstm_sequence import SequenceTape, lstm_step


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """lengths: (B,) -> (B, max_len) bool, True at the valid (not padded) positions."""
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(1)


def drop_frames(
    mels: torch.Tensor,
    mel_lengths: torch.Tensor,
    global_mean: torch.Tensor,
    drop_frame_rate: float,
    drop_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace whole frames of the teacher-forcing input by the global mean log-mel.

    mels: (B, n_mel, T); mel_lengths: (B,); global_mean: (n_mel,). Each valid frame (t < mel_lengths[b]) is
    dropped with probability drop_frame_rate, independently (padding never is). drop_mask: (B, T), 1 where
    a frame is dropped, to use instead of drawing one (the draw is `torch.empty(B, T).uniform_() < rate`,
    the original's, so a seeded run drops the same frames). Returns (dropped mels, drop_mask as float).
    """
    batch_size, _, max_len = mels.shape
    if drop_mask is None:
        draws = torch.empty(batch_size, max_len, device=mels.device).uniform_(0.0, 1.0)
        drop_mask = (draws < drop_frame_rate) & valid_mask(mel_lengths, max_len)
    drop_mask = drop_mask.to(mels.dtype)
    keep = (1.0 - drop_mask).unsqueeze(1)
    return mels * keep + global_mean.to(mels.dtype)[None, :, None] * drop_mask.unsqueeze(1), drop_mask


def run_cell(
    cell: nn.LSTMCell,
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """`cell(x, state)` for batched input, through the cell's kernel directly (nn.LSTMCell.forward's input
    checks cost as much as the kernel at small sizes). weights: (W_ih, W_hh) to use instead of the cell's
    (the same values in another memory layout, `Decoder.step_matrices`). Under autocast the cell runs in
    float32: it carries its state over hundreds of steps, where half-precision rounding accumulates
    (NVIDIA's NGC recipe keeps the decoder cells in fp32 for the same reason)."""
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return run_cell(cell, x.float(), (state[0].float(), state[1].float()), weights)
    weight_ih, weight_hh = (cell.weight_ih, cell.weight_hh) if weights is None else weights
    return torch.lstm_cell(x, state, weight_ih, weight_hh, cell.bias_ih, cell.bias_hh)


def linear_relu_dropout(
    block: nn.Sequential, x: torch.Tensor, training: bool, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """bfs18's `Sequential(LinearNorm, ReLU, Dropout)` blocks, without the module calls that are no-ops
    in eval mode (they cost more than the layer at batch 1). weight: the block's, in another layout."""
    linear = block[0].linear_layer
    x = F.relu(F.linear(x, linear.weight if weight is None else weight, linear.bias))
    return block[2](x) if training else x


class Encoder(nn.Module):
    """Convolutions (each + BatchNorm, ReLU, dropout 0.5 in training) then a bidirectional LSTM."""

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int):
        super().__init__()
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    encoder_embedding_dim, encoder_embedding_dim, encoder_kernel_size, w_init_gain="relu"
                ),
                nn.BatchNorm1d(encoder_embedding_dim),
            )
            for _ in range(encoder_n_convolutions)
        )
        self.dropout = nn.Dropout(0.5)
        self.lstm = nn.LSTM(
            encoder_embedding_dim, encoder_embedding_dim // 2, 1, batch_first=True, bidirectional=True
        )

    def forward(self, x: torch.Tensor, input_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, E, T_in) embedded text; input_lengths: (B,) (any order) or None (nothing padded).
        Returns memory (B, T_in, E), zero past each length."""
        for conv in self.convolutions:
            x = self.dropout(F.relu(conv(x)))
        x = x.transpose(1, 2)
        if input_lengths is None:
            return self.lstm(x)[0]
        packed = nn.utils.rnn.pack_padded_sequence(
            x, input_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        return nn.utils.rnn.pad_packed_sequence(
            self.lstm(packed)[0], batch_first=True, total_length=x.size(1)
        )[0]


class Prenet(nn.Module):
    """Bias-free Linear + ReLU + dropout per size; the dropout is on in eval mode too (Tacotron 2, §2.3:
    it is the only source of variation at inference). x: (..., in_dim) -> (..., sizes[-1])."""

    def __init__(self, in_dim: int, sizes: list[int], dropout: float = 0.5):
        super().__init__()
        self.layers = nn.ModuleList(
            LinearNorm(n_in, n_out, bias=False) for n_in, n_out in zip([in_dim, *sizes[:-1]], sizes)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.layers:
            x = F.relu(linear(x))
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, training=True)
        return x


class LocationLayer(nn.Module):
    """[previous; cumulative] attention weights (B, 2, T_in) -> location features (B, T_in, attention_dim)."""

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int):
        super().__init__()
        self.location_conv = ConvNorm(2, n_filters, kernel_size, bias=False)
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, attention_weights_cat: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(attention_weights_cat).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive attention (Chorowski et al. 2015): e_j = v . tanh(W q + V h_j + U f_j),
    alpha = softmax over the unpadded j, context = sum_j alpha_j h_j."""

    def __init__(
        self, attention_rnn_dim: int, embedding_dim: int, attention_dim: int, n_filters: int, kernel_size: int
    ):
        super().__init__()
        self.query_layer = LinearNorm(attention_rnn_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(embedding_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(n_filters, kernel_size, attention_dim)

    def forward(self, query, memory, processed_memory, attention_weights_cat, mask):
        """query: (B, attention_rnn_dim); memory: (B, T_in, E); processed_memory: (B, T_in, A);
        attention_weights_cat: (B, 2, T_in); mask: (B, T_in), True at padding, or None.
        Returns context (B, E), attention weights (B, T_in)."""
        energies = self.v(
            torch.tanh(
                self.query_layer(query).unsqueeze(1)
                + self.location_layer(attention_weights_cat)
                + processed_memory
            )
        ).squeeze(-1)
        if mask is not None:
            energies = energies.masked_fill(mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        return torch.bmm(weights.unsqueeze(1).to(memory.dtype), memory).squeeze(1), weights


class Postnet(nn.Module):
    """Convolutions with BatchNorm, tanh after all but the last, dropout 0.5 in training after each.
    x: (B, n_mel, T) -> residual (B, n_mel, T)."""

    def __init__(
        self,
        n_mel_channels: int,
        postnet_embedding_dim: int,
        postnet_kernel_size: int,
        postnet_n_convolutions: int,
    ):
        super().__init__()
        widths = [n_mel_channels, *[postnet_embedding_dim] * (postnet_n_convolutions - 1), n_mel_channels]
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(n_in, n_out, postnet_kernel_size, w_init_gain="linear" if last else "tanh"),
                nn.BatchNorm1d(n_out),
            )
            for n_in, n_out, last in zip(widths, widths[1:], [False] * (len(widths) - 2) + [True])
        )
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convolutions):
            x = conv(x)
            x = self.dropout(x if i == len(self.convolutions) - 1 else torch.tanh(x))
        return x


class DecoderState(NamedTuple):
    """The recurrence carried from step to step (zeros at the start)."""

    attention_hidden: torch.Tensor  # (B, attention_rnn_dim), after dropout: the next step gets it so
    attention_cell: torch.Tensor  # (B, attention_rnn_dim)
    decoder_hidden: torch.Tensor  # (B, D), after dropout
    decoder_cell: torch.Tensor  # (B, D)
    attention_weights: torch.Tensor  # (B, T_in), this step's alignment
    attention_weights_cum: torch.Tensor  # (B, T_in), sum of the alignments so far
    attention_context: torch.Tensor  # (B, E)


class TeacherForcedCells(NamedTuple):
    """The two LSTMCells set up for one teacher-forced sequence (`lstm_sequence.py`: each cell's weight
    gradients are formed once per sequence, not once per step)."""

    attention_gates: tuple[torch.Tensor, ...]  # per step (B, 4 * attention_rnn_dim): prenet share + biases
    attention_context_weight: torch.Tensor  # (4 * attention_rnn_dim, E) the columns of W_ih for the context
    attention_hidden_weight: torch.Tensor  # (4 * attention_rnn_dim, attention_rnn_dim) W_hh
    attention_tape: SequenceTape
    decoder_bias: torch.Tensor  # (4 * D,) b_ih + b_hh
    decoder_input_weight: torch.Tensor  # (4 * D, attention_rnn_dim + E) W_ih
    decoder_hidden_weight: torch.Tensor  # (4 * D, D) W_hh
    decoder_tape: SequenceTape


class StepMatrices(NamedTuple):
    """The decoder's large per-step matrices (the parameters' shapes), as `Decoder.step_matrices` lays
    them out for greedy decoding."""

    attention_ih: torch.Tensor  # (4 * attention_rnn_dim, prenet_dim + E)
    attention_hh: torch.Tensor  # (4 * attention_rnn_dim, attention_rnn_dim)
    decoder_ih: torch.Tensor  # (4 * D, attention_rnn_dim + E)
    decoder_hh: torch.Tensor  # (4 * D, D)
    projection: torch.Tensor  # (D, D + E) linear_projection
    mel_hidden: torch.Tensor  # (D, D) mel_layer[0]


class DecoderMemory(NamedTuple):
    """The encoder side of the attention, computed once per batch."""

    memory: torch.Tensor  # (B, T_in, E)
    processed_memory: torch.Tensor  # (B, T_in, attention_dim)
    mask: torch.Tensor | None  # (B, T_in), True at padding; None: nothing padded


class Projection(NamedTuple):
    """What the decoder makes of [decoder hidden; context], for any leading shape (...)."""

    decoder_output: torch.Tensor  # (..., D) the feature the CTC recognizer reads
    mel: torch.Tensor  # (..., n_mel)
    gate: torch.Tensor  # (...) stop logit


class DecoderOutput(NamedTuple):
    decoder_outputs: torch.Tensor  # (B, D, T)
    mel_outputs: torch.Tensor  # (B, n_mel, T)
    gate_outputs: torch.Tensor  # (B, T) logits
    alignments: torch.Tensor  # (B, T, T_in)


class DecoderInferenceOutput(NamedTuple):
    mel_outputs: torch.Tensor  # (B, n_mel, T)
    gate_outputs: torch.Tensor  # (B, T) logits
    alignments: torch.Tensor  # (B, T, T_in)
    mel_lengths: torch.Tensor  # (B,) int32 frames up to and including the one whose gate fired
    finished: torch.Tensor  # (B,) bool: the gate fired before max_decoder_steps


class Decoder(nn.Module):
    """Autoregressive decoder, one mel frame per step."""

    def __init__(
        self,
        n_mel_channels: int,
        encoder_embedding_dim: int,
        attention_rnn_dim: int,
        attention_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
        decoder_rnn_dim: int,
        prenet_dim: int,
        prenet_dropout: float = 0.5,
        p_attention_dropout: float = 0.1,
        p_decoder_dropout: float = 0.1,
        max_decoder_steps: int = 1000,
        gate_threshold: float = 0.5,
        p_teacher_forcing: float = 1.0,
    ):
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.encoder_embedding_dim = encoder_embedding_dim
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        self.max_decoder_steps = max_decoder_steps
        self.gate_threshold = gate_threshold
        self.p_teacher_forcing = p_teacher_forcing

        self.prenet = Prenet(n_mel_channels, [prenet_dim, prenet_dim], prenet_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_embedding_dim, attention_rnn_dim)
        self.attention_layer = Attention(
            attention_rnn_dim,
            encoder_embedding_dim,
            attention_dim,
            attention_location_n_filters,
            attention_location_kernel_size,
        )
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_embedding_dim, decoder_rnn_dim)
        # bfs18's output layers (NVIDIA: one Linear [hidden; context] -> mel, and the gate on the same input).
        self.linear_projection = nn.Sequential(
            LinearNorm(decoder_rnn_dim + encoder_embedding_dim, decoder_rnn_dim, w_init_gain="relu"),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.mel_layer = nn.Sequential(
            LinearNorm(decoder_rnn_dim, decoder_rnn_dim, w_init_gain="relu"),
            nn.ReLU(),
            nn.Dropout(0.5),
            LinearNorm(decoder_rnn_dim, n_mel_channels),
        )
        self.gate_layer = LinearNorm(decoder_rnn_dim, 1, w_init_gain="sigmoid")

    def prepare_memory(self, memory: torch.Tensor, memory_lengths: torch.Tensor | None) -> DecoderMemory:
        mask = None if memory_lengths is None else ~valid_mask(memory_lengths, memory.size(1))
        return DecoderMemory(memory, self.attention_layer.memory_layer(memory), mask)

    def initial_state(self, memory: torch.Tensor) -> DecoderState:
        batch_size, max_time, _ = memory.shape

        def zeros(width: int) -> torch.Tensor:  # float32 under autocast too, as the cells run
            return memory.new_zeros(batch_size, width, dtype=torch.float32)

        return DecoderState(
            zeros(self.attention_rnn_dim),
            zeros(self.attention_rnn_dim),
            zeros(self.decoder_rnn_dim),
            zeros(self.decoder_rnn_dim),
            zeros(max_time),
            zeros(max_time),
            zeros(self.encoder_embedding_dim),
        )

    def teacher_forced_cells(self, prenet_frames: torch.Tensor) -> TeacherForcedCells:
        """prenet_frames: (T, B, prenet_dim), the prenet of the frames steps 0 .. T - 1 receive. Their share
        of the attention LSTM's gates does not depend on the recurrence: one product for all steps here
        (in float32, as the cells run)."""
        n_steps, _, prenet_dim = prenet_frames.shape
        attention, decoder = self.attention_rnn, self.decoder_rnn
        with torch.autocast(prenet_frames.device.type, enabled=False):
            gates = F.linear(
                prenet_frames.float(),
                attention.weight_ih[:, :prenet_dim],
                attention.bias_ih + attention.bias_hh,
            )
        return TeacherForcedCells(
            gates.unbind(0),  # not gates[t]: each step's backward would zero-fill a copy of all of `gates`
            attention.weight_ih[:, prenet_dim:],
            attention.weight_hh,
            SequenceTape(n_steps),
            decoder.bias_ih + decoder.bias_hh,
            decoder.weight_ih,
            decoder.weight_hh,
            SequenceTape(n_steps),
        )

    def decode_step(
        self,
        state: DecoderState,
        prenet_frame: torch.Tensor | None,
        memory: DecoderMemory,
        cells: TeacherForcedCells | None = None,
        step: int = 0,
        matrices: StepMatrices | None = None,
    ) -> DecoderState:
        """The recurrent part of one step. prenet_frame: (B, prenet_dim), the prenet of the previous frame;
        or, in teacher forcing, None with `cells`, which hold step `step`'s share of the attention LSTM's
        gates. matrices: the cells' weights laid out for greedy decoding (`step_matrices`). The same
        function in every case (to float rounding)."""
        if cells is None:
            attention_hidden, attention_cell = run_cell(
                self.attention_rnn,
                torch.cat((prenet_frame, state.attention_context.to(prenet_frame.dtype)), -1),
                (state.attention_hidden, state.attention_cell),
                None if matrices is None else (matrices.attention_ih, matrices.attention_hh),
            )
        else:
            attention_hidden, attention_cell = lstm_step(
                cells.attention_gates[step],
                state.attention_context,
                (state.attention_hidden, state.attention_cell),
                cells.attention_context_weight,
                cells.attention_hidden_weight,
                cells.attention_tape,
                step,
            )
        attention_hidden = F.dropout(attention_hidden, self.p_attention_dropout, self.training)
        weights_cat = torch.stack((state.attention_weights, state.attention_weights_cum), dim=1)
        context, weights = self.attention_layer(
            attention_hidden,
            memory.memory,
            memory.processed_memory,
            weights_cat.to(memory.memory.dtype),
            memory.mask,
        )
        weights = weights.to(state.attention_weights.dtype)
        decoder_input = torch.cat((attention_hidden, context.to(attention_hidden.dtype)), -1)
        if cells is None:
            decoder_hidden, decoder_cell = run_cell(
                self.decoder_rnn,
                decoder_input,
                (state.decoder_hidden, state.decoder_cell),
                None if matrices is None else (matrices.decoder_ih, matrices.decoder_hh),
            )
        else:
            decoder_hidden, decoder_cell = lstm_step(
                cells.decoder_bias,
                decoder_input,
                (state.decoder_hidden, state.decoder_cell),
                cells.decoder_input_weight,
                cells.decoder_hidden_weight,
                cells.decoder_tape,
                step,
            )
        decoder_hidden = F.dropout(decoder_hidden, self.p_decoder_dropout, self.training)
        return DecoderState(
            attention_hidden,
            attention_cell,
            decoder_hidden,
            decoder_cell,
            weights,
            state.attention_weights_cum + weights,
            context.to(state.attention_context.dtype),
        )

    def project(
        self,
        decoder_hidden: torch.Tensor,
        attention_context: torch.Tensor,
        matrices: StepMatrices | None = None,
    ) -> Projection:
        """[hidden (..., D); context (..., E)] -> decoder output, mel frame and stop logit, for any number
        of steps at once: in teacher forcing no step needs another's output, so all are done in one go."""
        decoder_output = linear_relu_dropout(
            self.linear_projection,
            torch.cat((decoder_hidden, attention_context), -1),
            self.training,
            None if matrices is None else matrices.projection,
        )
        hidden = linear_relu_dropout(
            self.mel_layer, decoder_output, self.training, None if matrices is None else matrices.mel_hidden
        )
        return Projection(
            decoder_output, self.mel_layer[3](hidden), self.gate_layer(decoder_output).squeeze(-1)
        )

    def step_matrices(self) -> StepMatrices:
        """Copies of the large per-step matrices, same values and shapes, stored column by column, for
        decoding one utterance. A step multiplies one row vector by each, x W^T; with W^T contiguous in
        memory PyTorch's CPU BLAS ran that ~10% faster per decoded frame than on the row-major parameter
        (measured: AMD EPYC, torch 2.13, 1 thread; at batch 8 the two layouts ran alike). The copy costs
        about one step. Outputs move by float rounding only (~1e-6)."""

        def column_major(weight: torch.Tensor) -> torch.Tensor:
            return weight.detach().t().contiguous().t()

        return StepMatrices(
            column_major(self.attention_rnn.weight_ih),
            column_major(self.attention_rnn.weight_hh),
            column_major(self.decoder_rnn.weight_ih),
            column_major(self.decoder_rnn.weight_hh),
            column_major(self.linear_projection[0].linear_layer.weight),
            column_major(self.mel_layer[0].linear_layer.weight),
        )

    def free_running_steps(self, n_steps: int) -> list[bool] | None:
        """CookiePPP's p_teacher_forcing: which steps feed back the previous prediction instead of the
        ground truth (in training only; step 0 always takes the go frame). None when all are teacher-forced.
        One draw per step for the whole batch, from the global torch generator."""
        if not self.training or self.p_teacher_forcing >= 1.0:
            return None
        draws = torch.rand(n_steps).tolist()
        return [step > 0 and draw > self.p_teacher_forcing for step, draw in enumerate(draws)]

    def forward(
        self, memory: torch.Tensor, decoder_inputs: torch.Tensor, memory_lengths: torch.Tensor | None
    ) -> DecoderOutput:
        """Teacher forcing. memory: (B, T_in, E); decoder_inputs: (B, n_mel, T), the frames fed in (the
        targets, or their drop-frame version): step t receives frame t - 1, step 0 a zero go frame."""
        batch_size, _, n_steps = decoder_inputs.shape
        frames = torch.cat(
            (decoder_inputs.new_zeros(1, batch_size, self.n_mel_channels), decoder_inputs.permute(2, 0, 1))
        )
        prenet_frames = self.prenet(frames)  # (T + 1, B, prenet_dim); the last row is not used
        free_running = self.free_running_steps(n_steps)
        # Only the recurrence stays in the loop when every step is teacher-forced.
        cells = self.teacher_forced_cells(prenet_frames[:n_steps]) if free_running is None else None
        prenet_rows = prenet_frames.unbind(0)
        decoder_memory = self.prepare_memory(memory, memory_lengths)
        state = self.initial_state(memory)
        hiddens, contexts, alignments, step_projections = [], [], [], []
        for t in range(n_steps):
            if cells is not None:
                state = self.decode_step(state, None, decoder_memory, cells, t)
            else:
                prenet_frame = self.prenet(step_projections[-1].mel) if free_running[t] else prenet_rows[t]
                state = self.decode_step(state, prenet_frame, decoder_memory)
            hiddens.append(state.decoder_hidden)
            contexts.append(state.attention_context)
            alignments.append(state.attention_weights)
            if free_running is not None:  # a later step may need this one's prediction
                step_projections.append(self.project(state.decoder_hidden, state.attention_context))
        if free_running is None:
            projection = self.project(torch.stack(hiddens, dim=1), torch.stack(contexts, dim=1))
        else:
            projection = Projection(*(torch.stack(parts, dim=1) for parts in zip(*step_projections)))
        return DecoderOutput(
            projection.decoder_output.transpose(1, 2),
            projection.mel.transpose(1, 2),
            projection.gate,
            torch.stack(alignments, dim=1),
        )

    def infer(
        self,
        memory: torch.Tensor,
        memory_lengths: torch.Tensor | None = None,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
    ) -> DecoderInferenceOutput:
        """Greedy decoding, feeding back the pre-postnet frame. memory: (B, T_in, E); memory_lengths: (B,)
        or None (nothing padded, as the original's batch-1 inference). An utterance is finished on the
        first step whose sigmoid(gate) exceeds gate_threshold (that frame is kept, as in the original);
        decoding stops when all are, or after max_decoder_steps with a warning."""
        max_decoder_steps = self.max_decoder_steps if max_decoder_steps is None else max_decoder_steps
        gate_threshold = self.gate_threshold if gate_threshold is None else gate_threshold
        if max_decoder_steps < 1:
            raise ValueError(f"max_decoder_steps must be at least 1, got {max_decoder_steps}")
        decoder_memory = self.prepare_memory(memory, memory_lengths)
        state = self.initial_state(memory)
        batch_size = memory.size(0)
        frame = memory.new_zeros(batch_size, self.n_mel_channels)
        running = torch.ones(batch_size, dtype=torch.bool, device=memory.device)
        mel_lengths = torch.zeros(batch_size, dtype=torch.int32, device=memory.device)
        # One utterance on the CPU, no gradient: the layout that suits matrix-vector products there (on
        # CUDA it was never measured).
        single = batch_size == 1 and memory.device.type == "cpu" and not torch.is_grad_enabled()
        matrices = self.step_matrices() if single else None
        mels, gates, alignments = [], [], []
        for _ in range(max_decoder_steps):
            state = self.decode_step(state, self.prenet(frame), decoder_memory, matrices=matrices)
            projection = self.project(state.decoder_hidden, state.attention_context, matrices)
            mels.append(projection.mel)
            gates.append(projection.gate)
            alignments.append(state.attention_weights)
            mel_lengths += running
            running &= torch.sigmoid(projection.gate.float()) <= gate_threshold
            if not bool(running.any()):  # the one host sync per step: the stop decision
                break
            frame = projection.mel
        else:
            warnings.warn(
                f"Tacotron2: reached max_decoder_steps={max_decoder_steps} before the stop gate fired for "
                f"utterance(s) {running.nonzero().flatten().tolist()} of the batch",
                stacklevel=3,
            )
        return DecoderInferenceOutput(
            torch.stack(mels, dim=2),
            torch.stack(gates, dim=1),
            torch.stack(alignments, dim=1),
            mel_lengths,
            ~running,
        )


class MIEstimator(nn.Module):
    """The CTC recognizer on the decoder output: Linear + ReLU + Dropout, then Linear to the CTC alphabet
    plus a blank, which is the last class. bfs18 calls it `MIEsitmator`; its hidden size (decoder_rnn_dim)
    and dropout (0.5) are hard-wired there and here.

    decoder_outputs (B, T, D) -> log-probs (B, T, C), float32."""

    def __init__(self, n_ctc_symbols: int, decoder_dim: int, hidden_dim: int, dropout: float = 0.5):
        super().__init__()
        self.blank = n_ctc_symbols
        self.proj = nn.Sequential(
            LinearNorm(decoder_dim, hidden_dim, w_init_gain="relu"), nn.ReLU(), nn.Dropout(dropout)
        )
        self.ctc_proj = LinearNorm(hidden_dim, n_ctc_symbols + 1)

    def forward(self, decoder_outputs: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.ctc_proj(self.proj(decoder_outputs)).float(), dim=-1)


class Tacotron2Output(NamedTuple):
    """Teacher-forced outputs; with mask_padding, padded frames hold 0 (mels), 1000 (gate logits) and
    the decoder outputs are multiplied by the valid-frame mask (so gradients still flow, as the original)."""

    decoder_outputs: torch.Tensor  # (B, D, T)
    mel_outputs: torch.Tensor  # (B, n_mel, T) before the postnet
    mel_outputs_postnet: torch.Tensor  # (B, n_mel, T)
    gate_outputs: torch.Tensor  # (B, T) logits
    alignments: torch.Tensor  # (B, T, T_in)
    ctc_log_probs: torch.Tensor | None  # (B, T, n_ctc + 1) of the MI head; None without use_mmi
    drop_mask: torch.Tensor | None  # (B, T) 1 at the frames replaced by the global mean; None: none dropped


class Tacotron2InferenceOutput(NamedTuple):
    mel_outputs: torch.Tensor  # (B, n_mel, T) before the postnet
    mel_outputs_postnet: torch.Tensor  # (B, n_mel, T)
    gate_outputs: torch.Tensor  # (B, T) logits
    alignments: torch.Tensor  # (B, T, T_in)
    mel_lengths: torch.Tensor  # (B,) int32, up to and including the frame whose gate fired
    finished: torch.Tensor  # (B,) bool: the gate fired before max_decoder_steps


class Tacotron2(nn.Module):
    """Tacotron 2 + MMI, built from `HParams`. The drop-frame global mean is set with `set_global_mean`
    (a buffer outside the state dict, so the state dict keeps the original's keys; checkpoints store it
    beside it, with what it was computed from)."""

    def __init__(self, hparams: HParams):
        super().__init__()
        self.hparams = hparams
        self.mask_padding = hparams.mask_padding
        self.n_mel_channels = hparams.n_mel_channels
        self.drop_frame_rate = hparams.drop_frame_rate
        self.embedding = nn.Embedding(hparams.n_symbols, hparams.symbols_embedding_dim)
        bound = sqrt(3.0) * sqrt(2.0 / (hparams.n_symbols + hparams.symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(
            hparams.encoder_n_convolutions, hparams.encoder_embedding_dim, hparams.encoder_kernel_size
        )
        self.decoder = Decoder(
            hparams.n_mel_channels,
            hparams.encoder_embedding_dim,
            hparams.attention_rnn_dim,
            hparams.attention_dim,
            hparams.attention_location_n_filters,
            hparams.attention_location_kernel_size,
            hparams.decoder_rnn_dim,
            hparams.prenet_dim,
            hparams.prenet_dropout,
            hparams.p_attention_dropout,
            hparams.p_decoder_dropout,
            hparams.max_decoder_steps,
            hparams.gate_threshold,
            hparams.p_teacher_forcing,
        )
        self.postnet = Postnet(
            hparams.n_mel_channels,
            hparams.postnet_embedding_dim,
            hparams.postnet_kernel_size,
            hparams.postnet_n_convolutions,
        )
        self.mi = (
            MIEstimator(N_CTC_SYMBOLS, hparams.decoder_rnn_dim, hparams.decoder_rnn_dim)
            if hparams.use_mmi
            else None
        )
        self.register_buffer("global_mean", None, persistent=False)
        self.global_mean_source: dict | None = None

    def set_global_mean(self, global_mean: torch.Tensor, source: dict | None = None) -> None:
        """global_mean: (n_mel,) per-channel mean log-mel of the training set; source: what it was computed
        from (`global_mean.py`), stored with it in checkpoints."""
        global_mean = torch.as_tensor(global_mean, dtype=torch.float32).reshape(-1)
        if global_mean.numel() != self.n_mel_channels:
            raise ValueError(
                f"global mean has {global_mean.numel()} channels, the model {self.n_mel_channels}"
            )
        device = self.embedding.weight.device
        self.global_mean = global_mean.to(device)
        self.global_mean_source = source

    def encode(self, text: torch.Tensor, input_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """text: (B, T_in) ids -> memory (B, T_in, E)."""
        return self.encoder(self.embedding(text).transpose(1, 2), input_lengths)

    def forward(
        self,
        text_padded: torch.Tensor,
        input_lengths: torch.Tensor,
        mel_padded: torch.Tensor,
        output_lengths: torch.Tensor,
        drop_mask: torch.Tensor | None = None,
    ) -> Tacotron2Output:
        """Teacher forcing. text_padded: (B, T_in); input_lengths, output_lengths: (B,) any order;
        mel_padded: (B, n_mel, T) targets. Frames are dropped in training when drop_frame_rate > 0, or
        wherever `drop_mask` (B, T) says."""
        decoder_inputs = mel_padded
        if drop_mask is not None or (self.training and self.drop_frame_rate > 0):
            if self.global_mean is None:
                raise RuntimeError(
                    "drop_frame_rate > 0 needs the training set's global mean: call set_global_mean first"
                )
            decoder_inputs, drop_mask = drop_frames(
                mel_padded, output_lengths, self.global_mean, self.drop_frame_rate, drop_mask
            )
        memory = self.encode(text_padded, input_lengths)
        decoded = self.decoder(memory, decoder_inputs, input_lengths)
        mel_outputs = decoded.mel_outputs
        mel_outputs_postnet = mel_outputs + self.postnet(mel_outputs)
        decoder_outputs, gate_outputs = decoded.decoder_outputs, decoded.gate_outputs
        if self.mask_padding:
            valid = valid_mask(output_lengths, mel_outputs.size(2))
            decoder_outputs = decoder_outputs * valid.unsqueeze(1).to(decoder_outputs.dtype)
            mel_outputs = mel_outputs.masked_fill(~valid.unsqueeze(1), 0.0)
            mel_outputs_postnet = mel_outputs_postnet.masked_fill(~valid.unsqueeze(1), 0.0)
            gate_outputs = gate_outputs.masked_fill(~valid, 1e3)
        ctc_log_probs = None if self.mi is None else self.mi(decoder_outputs.transpose(1, 2))
        return Tacotron2Output(
            decoder_outputs,
            mel_outputs,
            mel_outputs_postnet,
            gate_outputs,
            decoded.alignments,
            ctc_log_probs,
            drop_mask,
        )

    def infer(
        self,
        text: torch.Tensor,
        input_lengths: torch.Tensor | None = None,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
    ) -> Tacotron2InferenceOutput:
        """Greedy decoding (the original's `inference`, also batched). text: (B, T_in); input_lengths: (B,)
        or None (one unpadded utterance, or a batch of equal lengths). Call under torch.inference_mode()."""
        memory = self.encode(text, input_lengths)
        decoded = self.decoder.infer(memory, input_lengths, max_decoder_steps, gate_threshold)
        mel_outputs_postnet = decoded.mel_outputs + self.postnet(decoded.mel_outputs)
        return Tacotron2InferenceOutput(
            decoded.mel_outputs,
            mel_outputs_postnet,
            decoded.gate_outputs,
            decoded.alignments,
            decoded.mel_lengths,
            decoded.finished,
        )
