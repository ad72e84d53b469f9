"""Flowtron (Valle et al. 2020, arXiv 2005.05957): an autoregressive flow from mel frames to Gaussian noise.

Each flow step k is an affine autoregressive coupling conditioned on the text through attention:

    z_t = exp(log_s_t) * x_t + b_t,   (log_s_t, b_t) = NN_k(x_<t, text, speaker)      (paper eq. 4-6)
    log p(x) = log N(z; 0, sigma^2 I) + sum_k sum_t sum_c log_s_t,c                   (paper eq. 2-3)

Even flows run forward in time (`AR_Step`), odd flows backward (`AR_Back_Step`, the same network on the
time-reversed sequence). Inference inverts the flows last to first, frame by frame:
x_t = (z_t - b_t) / exp(log_s_t).

Layout, as the original: the flow works time-major, x (T, B, n_mel); the memory is (T_text, B, n_text_dim
+ n_speaker_dim). `forward` takes mel (B, n_mel, T) and returns `FlowtronOutput`, a NamedTuple with the
original's 8 fields in the original's order (so `z, log_s_list, gate, ... = model(...)` still works).
A backward flow returns z in forward time order, but its log_s, gate logits, attention weights and
attention log-probabilities stay in its own (reversed) processing order, exactly as the original: frame j
of utterance b is frame L_b - 1 - j for j < L_b, padding at the end. `reverse_order` maps between them.

Module and parameter names are the original's (`flows.1.ar_step.attention_layer.query.linear_layer.weight`
...), so its state dicts load unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention, AttentionConditioningLayer, AttentionOutput
from .layers import ConvNorm, DenseLayer, LinearNorm, MaskedInstanceNorm1d, lengths_to_mask, run_lstm


def reverse_order(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(T, B) long index: frame t of utterance b comes from frame L_b - 1 - t (t < L_b), and from
    T - 1 - t + L_b in the padding. It is what the original's flip then roll by L_b does, and it is its
    own inverse."""
    t = torch.arange(max_length, device=lengths.device)[:, None]
    lengths = lengths[None, :]
    return torch.where(t < lengths, lengths - 1 - t, max_length - 1 - t + lengths)


def rows_in_forward_time(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) per frame in a backward flow's processing order (its attention, log-probabilities)
    -> the same rows in forward time; padding stays at the end. reverse_order is its own inverse."""
    order = reverse_order(lengths, x.size(1)).T  # (B, T)
    return x.gather(1, order.reshape(*order.shape, *[1] * (x.dim() - 2)).expand_as(x))


def _take_frames(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x (T, B, C) reordered along time per utterance by order (T, B)."""
    return x.gather(0, order[..., None].expand(-1, -1, x.size(2)))


class Encoder(nn.Module):
    """Text encoder: n_convolutions x [Conv1d(k=5) -> masked instance norm -> ReLU -> dropout 0.5], then a
    bidirectional LSTM. (B, C, T_text) -> (B, T_text, C). Padding is zeroed before each convolution and
    left out of the norm's statistics when the batch has more than one utterance."""

    def __init__(
        self, encoder_n_convolutions: int = 3, encoder_embedding_dim: int = 512, kernel_size: int = 5
    ):
        super().__init__()
        dim = encoder_embedding_dim
        self.convolutions = nn.ModuleList(
            nn.Sequential(ConvNorm(dim, dim, kernel_size, w_init_gain="relu"), MaskedInstanceNorm1d(dim))
            for _ in range(encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(dim, dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, in_lens: torch.Tensor) -> torch.Tensor:
        # The original masks only batches of several utterances; a single one is normalised whole.
        mask = lengths_to_mask(in_lens, x.size(2))[:, None] if x.size(0) > 1 else None
        for conv, norm in self.convolutions:
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
            x = F.dropout(F.relu(norm(conv(x), mask)), 0.5, self.training)
        x = x.transpose(1, 2)
        packed = nn.utils.rnn.pack_padded_sequence(x, in_lens.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))[0]

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """One utterance without padding: no mask, no packing (as the original's `Encoder.infer`)."""
        for conv, norm in self.convolutions:
            x = F.dropout(F.relu(norm(conv(x))), 0.5, self.training)
        return self.lstm(x.transpose(1, 2))[0]


class MelEncoder(nn.Module):
    """The GMM variant's utterance encoder: 2 x [Conv1d(k=3) -> masked instance norm -> ReLU -> dropout],
    a BiLSTM, and the mean over time (padding included, as the original). (B, 80, T) -> (B, n_hidden)."""

    def __init__(
        self,
        encoder_embedding_dim: int = 512,
        kernel_size: int = 3,
        n_convolutions: int = 2,
        n_mel_channels: int = 80,
    ):
        super().__init__()
        dim = encoder_embedding_dim
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(n_mel_channels if i == 0 else dim, dim, kernel_size, w_init_gain="relu"),
                MaskedInstanceNorm1d(dim),
            )
            for i in range(n_convolutions)
        )
        self.lstm = nn.LSTM(dim, dim // 2, 1, bidirectional=True)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lens, x.size(2))[:, None] if x.size(0) > 1 else None
        for conv, norm in self.convolutions:
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
            x = F.dropout(F.relu(norm(conv(x), mask)), 0.5, self.training)
        hidden = run_lstm(self.lstm, x.permute(2, 0, 1), lens)
        # The original averages over the longest utterance's frames, padding (zeros) included.
        return hidden[: int(lens.max())].mean(dim=0)


class GaussianMixture(nn.Module):
    """Mixture weights (and, unless fixed, means and log-variances) of the GMM prior on z.

    Fixed components: one-hot means on `n_components` mel channels drawn with numpy's global RNG (as the
    original) times `mean_scale`, log-variance 0, stored as buffers."""

    def __init__(
        self, n_hidden: int, n_components: int, n_mel_channels: int, fixed_gaussian: bool, mean_scale: float
    ):
        super().__init__()
        self.n_mel_channels, self.n_components = n_mel_channels, n_components
        self.fixed_gaussian, self.mean_scale = fixed_gaussian, mean_scale
        self.prob_layer = LinearNorm(n_hidden, n_components)
        if not fixed_gaussian:
            self.mean_layer = LinearNorm(n_hidden, n_mel_channels * n_components)
            self.log_var_layer = LinearNorm(n_hidden, n_mel_channels * n_components)
        else:
            channels = np.random.choice(range(n_mel_channels), n_components, replace=False)
            mean = torch.eye(n_mel_channels)[channels] * mean_scale  # (K, n_mel)
            self.register_buffer("mean", mean.transpose(0, 1)[None].float())  # (1, n_mel, K)
            self.register_buffer("log_var", torch.zeros(1, n_mel_channels, n_components))

    def forward(self, outputs: torch.Tensor, batch_size: int):
        """outputs (B, n_hidden) -> mean, log_var ((1 or B), n_mel, K), prob (B, K)."""
        prob = torch.softmax(self.prob_layer(outputs), dim=1)
        if self.fixed_gaussian:
            return self.mean, self.log_var, prob
        shape = (batch_size, self.n_mel_channels, self.n_components)
        return self.mean_layer(outputs).view(shape), self.log_var_layer(outputs).view(shape), prob


class StepOutput(NamedTuple):
    z: torch.Tensor  # (T, B, n_mel)
    log_s: torch.Tensor  # (T, B, n_mel)
    gate: torch.Tensor | None  # (T, B, 1) logits; None without a gate layer
    attn: torch.Tensor  # (B, T, T_text)
    attn_logprob: torch.Tensor | None  # (B, T, T_text)


class FlowInference(NamedTuple):
    x: torch.Tensor  # (T', 1, n_mel): the flow's inverse, frames in this flow's processing order
    attention: torch.Tensor  # (T', T_text): per-step attention, in this flow's processing order
    gate_logits: torch.Tensor | None  # (T',) for the flow with the gate layer
    gate_fired: bool  # the gate stopped this flow before the residual's end


class AR_Step(nn.Module):  # noqa: N801 - the original's class name (pickled checkpoints reference it)
    """One affine autoregressive coupling, forward in time.

    x_prev = [0, x_0 ... x_{T-2}] -> attention LSTM -> attention over the memory -> [h ; context] ->
    2-layer LSTM -> 2 x tanh(Linear) -> Conv1d(k=1) = (log_s, b), zero-initialised so that a fresh flow
    is the identity. The gate (last flow only) reads [h ; context]."""

    def __init__(
        self,
        n_mel_channels: int,
        n_speaker_dim: int,
        n_text_channels: int,
        n_hidden: int,
        n_attn_channels: int,
        n_lstm_layers: int,
        add_gate: bool,
        use_cumm_attention: bool,
    ):
        super().__init__()
        self.use_cumm_attention = use_cumm_attention
        self.conv = nn.Conv1d(n_hidden, 2 * n_mel_channels, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.lstm = nn.LSTM(n_hidden + n_attn_channels, n_hidden, n_lstm_layers)
        self.attention_lstm = nn.LSTM(n_mel_channels, n_hidden)
        self.attention_layer = Attention(n_hidden, n_speaker_dim, n_text_channels, n_attn_channels)
        if use_cumm_attention:
            self.attn_cond_layer = AttentionConditioningLayer(attention_dim=n_text_channels + n_speaker_dim)
        self.dense_layer = DenseLayer(in_dim=n_hidden, sizes=(n_hidden, n_hidden))
        if add_gate:
            self.gate_layer = LinearNorm(n_hidden + n_attn_channels, 1, bias=True, w_init_gain="sigmoid")

    @property
    def has_gate(self) -> bool:
        return hasattr(self, "gate_layer")

    def coupling(self, lstm_hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., n_hidden) -> log_s, b (..., n_mel). The k=1 Conv1d applied as the linear map it is."""
        output = F.linear(self.dense_layer(lstm_hidden), self.conv.weight[..., 0], self.conv.bias)
        return output.chunk(2, dim=-1)

    def forward(
        self,
        mel: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None,
        out_lens: torch.Tensor | None,
        attn_prior: torch.Tensor | None = None,
    ) -> StepOutput:
        """mel (T, B, n_mel) -> StepOutput; memory (T_text, B, D); mask (B, T_text) True at padded text;
        out_lens (B,) or None (every frame valid); attn_prior (B, T, T_text) or None."""
        previous = torch.cat([mel.new_zeros(1, mel.size(1), mel.size(2)), mel[:-1]], 0)
        attention_hidden = run_lstm(self.attention_lstm, previous, out_lens)
        if self.use_cumm_attention:
            # The original ignores the prior on this path.
            attended = self.cumulative_attention(attention_hidden, memory, mask)
        else:
            attended = self.attention_layer(attention_hidden, memory, memory, mask, attn_prior)
        decoder_input = torch.cat((attention_hidden, attended.context), -1)
        gate = self.gate_layer(decoder_input) if self.has_gate else None
        lstm_hidden = run_lstm(self.lstm, decoder_input, out_lens)
        log_s, b = self.coupling(lstm_hidden)
        return StepOutput(torch.exp(log_s) * mel + b, log_s, gate, attended.weights, attended.log_probs)

    def cumulative_attention(self, attention_hidden: torch.Tensor, memory: torch.Tensor, mask):
        """The `use_cumm_attention` path: frame by frame, the key input is gated by convolutions over the
        cumulative and the previous attention. -> AttentionOutput over all frames."""
        batch, n_text = memory.size(1), memory.size(0)
        cumulative = memory.new_zeros(batch, 1, n_text)
        previous = cumulative
        contexts, weights, log_probs = [], [], []
        for t in range(attention_hidden.size(0)):
            gate = self.attn_cond_layer(torch.cat((cumulative, previous), 1)).permute(2, 0, 1)
            step = self.attention_layer(attention_hidden[t : t + 1], memory * gate, memory, mask)
            contexts.append(step.context)
            weights.append(step.weights)
            log_probs.append(step.log_probs)
            previous = step.weights
            cumulative = cumulative + previous
        return AttentionOutput(torch.cat(contexts, 0), torch.cat(weights, 1), torch.cat(log_probs, 1))

    @torch.no_grad()
    def infer(
        self,
        residual: torch.Tensor,
        memory: torch.Tensor,
        temperature: float = 1.0,
        gate_threshold: float = 0.5,
        attn_prior: torch.Tensor | None = None,
        attns: torch.Tensor | None = None,
    ) -> FlowInference:
        """Invert this flow frame by frame. residual (T, 1, n_mel); memory (T_text, 1, D); attn_prior
        (1, T, T_text) or None; attns (T, T_text): forced attention weights, or None.

        Stops after the frame whose gate probability exceeds gate_threshold (that frame is kept). The
        memory's key and value projections are computed once, not at every frame; the arithmetic is
        otherwise the original's."""
        attention = self.attention_layer
        values = attention.value(memory)[:, 0]  # (T_text, A)
        keys = None if self.use_cumm_attention else attention.key(memory).transpose(0, 1)  # (1, T_text, A)
        weights_ih, weights_hh, biases_ih, biases_hh = _lstm_weights(self.lstm)
        att_weights = _lstm_weights(self.attention_lstm)
        n_layers = self.lstm.num_layers
        n_frames, n_text = residual.size(0), memory.size(0)
        hidden = residual.new_zeros(1, self.attention_lstm.hidden_size)
        att_state = (hidden, hidden)
        states = [(hidden, hidden)] * n_layers
        frame = residual.new_zeros(1, residual.size(2))
        cumulative = previous = memory.new_zeros(1, 1, n_text)
        outputs, weights_per_step, gate_logits, fired = [], [], [], False
        for t in range(n_frames):
            att_state = torch.lstm_cell(
                frame, att_state, att_weights[0][0], att_weights[1][0], att_weights[2][0], att_weights[3][0]
            )
            query = attention.query(att_state[0])[:, None]  # (1, 1, A)
            if self.use_cumm_attention:
                gate = self.attn_cond_layer(torch.cat((cumulative, previous), 1)).permute(2, 0, 1)
                keys = attention.key(memory * gate).transpose(0, 1)
            if attns is None:
                prior = None if attn_prior is None else attn_prior[:, t : t + 1]
                weights, _ = attention.weights(query, keys, None, prior, temperature)  # (1, 1, T_text)
            else:
                weights = attns[t][None, None].to(values.dtype)
            previous = weights
            cumulative = cumulative + weights
            weights_per_step.append(weights[0, 0])
            context = weights[0] @ values  # (1, A)
            decoder_input = torch.cat((att_state[0], context), -1)
            layer_input, new_states = decoder_input, []
            for layer in range(n_layers):
                state = torch.lstm_cell(
                    layer_input,
                    states[layer],
                    weights_ih[layer],
                    weights_hh[layer],
                    biases_ih[layer],
                    biases_hh[layer],
                )
                new_states.append(state)
                layer_input = state[0]
            states = new_states
            log_s, b = self.coupling(layer_input)
            frame = (residual[t] - b) / torch.exp(log_s)
            outputs.append(frame)
            if self.has_gate:
                logit = self.gate_layer(decoder_input)[0, 0]
                gate_logits.append(logit)
                if bool(torch.sigmoid(logit) > gate_threshold):
                    fired = True
                    break
        return FlowInference(
            torch.stack(outputs, 0),
            torch.stack(weights_per_step, 0),
            torch.stack(gate_logits) if gate_logits else None,
            fired,
        )


def _lstm_weights(lstm: nn.LSTM) -> tuple[list, list, list, list]:
    """Per layer: weight_ih, weight_hh, bias_ih, bias_hh of a unidirectional nn.LSTM."""
    layers = range(lstm.num_layers)
    return (
        [getattr(lstm, f"weight_ih_l{i}") for i in layers],
        [getattr(lstm, f"weight_hh_l{i}") for i in layers],
        [getattr(lstm, f"bias_ih_l{i}") for i in layers],
        [getattr(lstm, f"bias_hh_l{i}") for i in layers],
    )


class AR_Back_Step(nn.Module):  # noqa: N801 - the original's class name
    """An AR_Step run backward in time: each utterance's valid frames are reversed (padding stays at
    the end), as is the prior along its mel axis; only z is put back in forward order."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.ar_step = AR_Step(*args, **kwargs)

    @property
    def has_gate(self) -> bool:
        return self.ar_step.has_gate

    def forward(
        self,
        mel: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None,
        out_lens: torch.Tensor | None,
        attn_prior: torch.Tensor | None = None,
    ) -> StepOutput:
        lengths = (
            out_lens if out_lens is not None else mel.new_full((mel.size(1),), mel.size(0), dtype=torch.long)
        )
        order = reverse_order(lengths, mel.size(0))
        if attn_prior is not None:
            attn_prior = attn_prior.gather(1, order.T[..., None].expand(-1, -1, attn_prior.size(2)))
        step = self.ar_step(_take_frames(mel, order), memory, mask, out_lens, attn_prior)
        return step._replace(z=_take_frames(step.z, order))

    def infer(
        self,
        residual: torch.Tensor,
        memory: torch.Tensor,
        temperature: float = 1.0,
        gate_threshold: float = 0.5,
        attn_prior: torch.Tensor | None = None,
        attns: torch.Tensor | None = None,
    ) -> FlowInference:
        """As AR_Step.infer on the time-reversed residual (and prior); x comes back in forward order, so
        when the gate stops this flow early, the frames kept are the last ones."""
        if attn_prior is not None:
            attn_prior = torch.flip(attn_prior, (1,))
        result = self.ar_step.infer(
            torch.flip(residual, (0,)), memory, temperature, gate_threshold, attn_prior, attns
        )
        return result._replace(x=torch.flip(result.x, (0,)))


class FlowtronOutput(NamedTuple):
    """The original's 8 outputs, in its order. Time-major: T = frames, B = batch."""

    z: torch.Tensor  # (T, B, n_mel), forward time order
    log_s_list: list  # per flow (T, B, n_mel); backward flows in reversed order
    gate: torch.Tensor | None  # (T, B, 1) logits of the last flow (its processing order)
    attns: list  # per flow (B, T, T_text)
    attn_logprobs: list  # per flow (B, T, T_text)
    mean: torch.Tensor | None  # GMM variant only
    log_var: torch.Tensor | None
    prob: torch.Tensor | None


class InferenceOutput(NamedTuple):
    mel: torch.Tensor  # (1, n_mel, T')
    attentions: list  # per flow, in inference order (last flow first): (steps, T_text)
    gate_logits: torch.Tensor | None  # (steps,) of the flow with the gate (the first one run)
    gate_fired: bool


class Flowtron(nn.Module):
    """The whole model; keyword arguments are the original's `model_config` names (all required there;
    here the defaults are config.json's)."""

    def __init__(
        self,
        n_speakers: int = 1,
        n_speaker_dim: int = 128,
        n_text: int = 185,
        n_text_dim: int = 512,
        n_flows: int = 2,
        n_mel_channels: int = 80,
        n_hidden: int = 1024,
        n_attn_channels: int = 640,
        n_lstm_layers: int = 2,
        use_gate_layer: bool = True,
        mel_encoder_n_hidden: int = 512,
        n_components: int = 0,
        fixed_gaussian: bool = True,
        mean_scale: float = 0.0,
        dummy_speaker_embedding: bool = False,
        use_cumm_attention: bool = False,
    ):
        super().__init__()
        if n_components == 1:
            # The original builds no mixture but turns its loss on, and crashes in the first step.
            raise ValueError("n_components=1 is not a mixture: use 0 (a standard Gaussian) or >= 2")
        self.n_speakers, self.n_mel_channels = n_speakers, n_mel_channels
        self.speaker_embedding = nn.Embedding(n_speakers, n_speaker_dim)
        self.embedding = nn.Embedding(n_text, n_text_dim)
        self.flows = nn.ModuleList()
        self.encoder = Encoder(encoder_embedding_dim=n_text_dim)
        self.dummy_speaker_embedding = dummy_speaker_embedding
        if n_components > 1:
            self.mel_encoder = MelEncoder(mel_encoder_n_hidden, n_mel_channels=n_mel_channels)
            self.gaussian_mixture = GaussianMixture(
                mel_encoder_n_hidden, n_components, n_mel_channels, fixed_gaussian, mean_scale
            )
        for i in range(n_flows):
            step = AR_Step if i % 2 == 0 else AR_Back_Step
            add_gate = use_gate_layer and i == n_flows - 1
            self.flows.append(
                step(
                    n_mel_channels,
                    n_speaker_dim,
                    n_text_dim,
                    n_hidden,
                    n_attn_channels,
                    n_lstm_layers,
                    add_gate,
                    use_cumm_attention,
                )
            )

    def memory(
        self, speaker_ids: torch.Tensor, text: torch.Tensor, in_lens: torch.Tensor | None
    ) -> torch.Tensor:
        """Speaker ids (B,), text (B, T_text) -> memory (T_text, B, n_text_dim + n_speaker_dim).
        in_lens=None: one unpadded utterance through `Encoder.infer`."""
        if self.dummy_speaker_embedding:
            speaker_ids = speaker_ids * 0
        speakers = self.speaker_embedding(speaker_ids.reshape(-1))
        embedded = self.embedding(text).transpose(1, 2)
        encoded = self.encoder.infer(embedded) if in_lens is None else self.encoder(embedded, in_lens)
        encoded = encoded.transpose(0, 1)
        return torch.cat([encoded, speakers.expand(encoded.size(0), -1, -1).to(encoded.dtype)], 2)

    def forward(
        self,
        mel: torch.Tensor,
        speaker_ids: torch.Tensor,
        text: torch.Tensor,
        in_lens: torch.Tensor,
        out_lens: torch.Tensor | None,
        attn_prior: torch.Tensor | None = None,
    ) -> FlowtronOutput:
        """mel (B, n_mel, T), speaker_ids (B,), text (B, T_text), in_lens (B,), out_lens (B,) (None: every
        frame valid), attn_prior (B, T, T_text) or None -> FlowtronOutput (z is the flows' image of mel)."""
        memory = self.memory(speaker_ids, text, in_lens)
        mean = log_var = prob = None
        if hasattr(self, "gaussian_mixture"):
            lens = (
                out_lens
                if out_lens is not None
                else mel.new_full((mel.size(0),), mel.size(2), dtype=torch.long)
            )
            embedding = self.mel_encoder(mel, lens)
            mean, log_var, prob = self.gaussian_mixture(embedding, embedding.size(0))
        mask = ~lengths_to_mask(in_lens, text.size(1))
        x = mel.permute(2, 0, 1)
        log_s_list, attns, attn_logprobs, gate = [], [], [], None
        for flow in self.flows:
            step = flow(x, memory, mask, out_lens, attn_prior)
            x, gate = step.z, step.gate
            log_s_list.append(step.log_s)
            attns.append(step.attn)
            attn_logprobs.append(step.attn_logprob)
        return FlowtronOutput(x, log_s_list, gate, attns, attn_logprobs, mean, log_var, prob)

    @torch.no_grad()
    def infer(
        self,
        residual: torch.Tensor,
        speaker_ids: torch.Tensor,
        text: torch.Tensor,
        temperature: float = 1.0,
        gate_threshold: float = 0.5,
        attns: list | None = None,
        attn_prior: torch.Tensor | None = None,
    ) -> InferenceOutput:
        """Invert the flows, last to first, frame by frame.

        residual (1, n_mel, N): z, e.g. sigma * N(0, I); speaker_ids (1,) or (1, 1); text (1, T_text);
        temperature divides the attention energies; gate_threshold: stop after the frame whose gate
        probability exceeds it (> 1: never); attns: forced attention per flow in inference order, each
        (N, T_text) (the original's argument, which fails there); attn_prior (1, N, T_text) or None."""
        memory = self.memory(speaker_ids, text, None)
        x = residual.permute(2, 0, 1)
        attentions, gate_logits, fired = [], None, False
        for index, flow in enumerate(reversed(self.flows)):
            forced = None if attns is None else attns[index]
            result = flow.infer(x, memory, temperature, gate_threshold, attn_prior, forced)
            x = result.x
            attentions.append(result.attention)
            if result.gate_logits is not None:
                gate_logits, fired = result.gate_logits, result.gate_fired
        return InferenceOutput(x.permute(1, 2, 0), attentions, gate_logits, fired)
