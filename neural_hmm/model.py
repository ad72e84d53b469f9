"""Neural HMM TTS (Mehta et al. 2021): Tacotron 2's encoder, then an autoregressive neural HMM with one
or more states per phone, trained by the exact forward algorithm and sampled left to right.

    text ids -> embedding -> Encoder -> states e_1..e_N
    frame t:  a_t (go token, then x_{t-1}) -> Prenet -> LSTMCell -> h_t
              OutputNet([h_t ; e_n]) -> mean, std, transition logit of every state n
    training: forward algorithm over all states (hmm.py); synthesis: walk the states in order.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from .hmm import forward_algorithm, lengths_to_mask, state_posteriors
from .hparams import HParams
from .layers import Encoder, OutputNet, OutputParameters, Prenet, gaussian_log_likelihood

TRANSITION_RULES = ("quantile", "sample")


class HMMOutput(NamedTuple):
    log_probs: torch.Tensor  # (B,) log p(X | text), nats, summed over frames and channels
    log_c: torch.Tensor  # (B, T) per-frame log scaling factors, 0 beyond each length
    sum_final_log_c: torch.Tensor  # (B,) absorption term
    log_alpha_scaled: torch.Tensor  # (B, T, N); NaN where -inf in padded frames (original quirk)
    transition_logits: torch.Tensor  # (B, T, N); the logit of frame t governs the move t-1 -> t
    emission_log_probs: torch.Tensor  # (B, T, N); 0 at padded states
    means: torch.Tensor | None  # (B, T, N, n_mel) if requested
    stds: torch.Tensor | None  # (B, T, N, n_mel) if requested


class NeuralHMMOutput(NamedTuple):
    log_probs: torch.Tensor  # (B,)
    encoder_outputs: torch.Tensor  # (B, N, C) HMM states
    state_lengths: torch.Tensor  # (B,)
    hmm: HMMOutput


class SampleOutput(NamedTuple):
    """One synthesised utterance; T frames."""

    mel: torch.Tensor  # (T, n_mel) de-normalised log-mel (filled in by NeuralHMM.synthesise)
    mel_normalised: torch.Tensor  # (T, n_mel) the frames in the model's normalised domain
    states_travelled: torch.Tensor  # (T + 1,) long: 0, then the state after each step's decision
    state_index_per_step: torch.Tensor  # (T,) long: the state that emitted each frame
    means: torch.Tensor  # (T, n_mel) normalised emission means
    stds: torch.Tensor  # (T, n_mel)
    transition_probability: torch.Tensor  # (T,) P(leave) of the emitting state
    reached_final_state: bool  # False when stopped by max_sampling_time
    encoder_outputs: torch.Tensor | None = None  # (1, N, C)


class HMM(nn.Module):
    """The autoregressive HMM: go token, prenet, LSTMCell and the output net (`decoder`)."""

    def __init__(
        self,
        n_mel_channels: int = 80,
        n_frames_per_step: int = 1,
        state_dim: int = 512,
        prenet_n_layers: int = 2,
        prenet_dim: int = 256,
        prenet_dropout: float = 0.5,
        post_prenet_rnn_dim: int = 1024,
        parameternetwork: tuple[int, ...] = (1024,),
        go_token_init_value: list[float] | torch.Tensor | None = None,
        train_go: bool = True,
        init_transition_probability: float = 0.158,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        variance_floor: float = 0.01,
        data_dropout: float = 0.0,
    ):
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = n_frames_per_step
        self.post_prenet_rnn_dim = post_prenet_rnn_dim
        self.data_dropout = data_dropout
        self.prenet = Prenet(n_mel_channels * n_frames_per_step, prenet_n_layers, prenet_dim, prenet_dropout)
        self.post_prenet_rnn = nn.LSTMCell(prenet_dim, post_prenet_rnn_dim)
        self.decoder = OutputNet(
            post_prenet_rnn_dim,
            state_dim,
            n_mel_channels,
            list(parameternetwork),
            init_transition_probability,
            init_mean,
            init_std,
            variance_floor,
        )
        if train_go:
            go = (
                torch.zeros(n_mel_channels)
                if go_token_init_value is None
                else torch.as_tensor(go_token_init_value)
            )
            self.go_tokens = nn.Parameter(go.float().expand(n_frames_per_step, n_mel_channels).clone())
        else:
            self.register_buffer("go_tokens", torch.zeros(n_frames_per_step, n_mel_channels))

    def autoregressive_inputs(self, mels: torch.Tensor, dropout_active: bool) -> torch.Tensor:
        """Teacher-forced AR input of every frame: the previous k frames (go tokens before the start).

        mels: (B, T, n_mel) -> (B, T, k * n_mel).
        """
        batch_size, n_frames, n_mel = mels.shape
        k = self.n_frames_per_step
        history = torch.cat(
            [self.go_tokens.unsqueeze(0).expand(batch_size, k, n_mel).to(mels.dtype), mels], 1
        )
        windows = history.unfold(1, k, 1)[:, :n_frames]  # (B, T, n_mel, k)
        windows = windows.transpose(2, 3)  # (B, T, k, n_mel)
        if self.data_dropout > 0 and dropout_active:
            keep = F.dropout(windows.new_ones(batch_size, n_frames, k, 1), self.data_dropout, training=True)
            windows = windows * keep
        return windows.reshape(batch_size, n_frames, k * n_mel)

    def run_rnn(self, prenet_outputs: torch.Tensor) -> torch.Tensor:
        """The LSTMCell over all teacher-forced frames from a zero state. (B, T, P) -> h: (B, T, R).

        Runs as one fused sequence op on the cell's own weights: the same recurrence as stepping
        `post_prenet_rnn` frame by frame (as synthesis does), several times faster in the backward pass.
        """
        cell = self.post_prenet_rnn
        h0 = prenet_outputs.new_zeros(1, prenet_outputs.shape[0], self.post_prenet_rnn_dim)
        weights = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
        h, _, _ = torch.lstm(prenet_outputs, (h0, h0), weights, True, 1, 0.0, self.training, False, True)
        return h

    def _emission_chunk(
        self,
        h: torch.Tensor,
        mels: torch.Tensor,
        states: torch.Tensor,
        projected_states: torch.Tensor,
        state_mask: torch.Tensor,
        keep_parameters: bool,
    ):
        """Emission log-probs and transition logits of a chunk of frames for every state.

        h: (B, Tc, R), mels: (B, Tc, n_mel), states: (B, N, C) -> (B, Tc, N) each.
        """
        mean, std, transition_logit = self.decoder(h, states, projected_states)
        # Emission log-likelihoods are kept in float32 even when the output net runs in half precision.
        emission = gaussian_log_likelihood(mels.unsqueeze(2).float(), mean.float(), std.float())
        emission = emission.masked_fill(~state_mask.unsqueeze(1), 0.0)
        if keep_parameters:
            return emission, transition_logit, mean, std
        return emission, transition_logit

    def forward(
        self,
        states: torch.Tensor,
        state_lengths: torch.Tensor,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor,
        prenet_dropout_active: bool,
        data_dropout_active: bool = False,
        chunk_size: int = 32,
        gradient_checkpointing: bool = False,
        return_parameters: bool = False,
    ) -> HMMOutput:
        """Teacher-forced log-likelihood.

        states: (B, N, C) encoder outputs; state_lengths: (B,);
        mels: (B, n_mel, T') normalised, zero-padded (T' >= max(mel_lengths)); mel_lengths: (B,).
        chunk_size: frames per output-net call; gradient_checkpointing recomputes each chunk in the
        backward pass instead of storing its (B, chunk, N, hidden) activations.
        """
        n_frames = int(mel_lengths.max())
        mels = mels[:, :, :n_frames].transpose(1, 2)  # (B, T, n_mel)
        prenet_outputs = self.prenet(
            self.autoregressive_inputs(mels, data_dropout_active), prenet_dropout_active
        )
        h = self.run_rnn(prenet_outputs)  # (B, T, R)

        state_mask = lengths_to_mask(state_lengths, states.shape[1])
        projected_states = self.decoder.project_states(states)
        use_checkpoint = gradient_checkpointing and torch.is_grad_enabled()
        pieces = []
        for h_chunk, mel_chunk in zip(h.split(chunk_size, dim=1), mels.split(chunk_size, dim=1)):
            args = (h_chunk, mel_chunk, states, projected_states, state_mask, return_parameters)
            if use_checkpoint:
                pieces.append(checkpoint(self._emission_chunk, *args, use_reentrant=False))
            else:
                pieces.append(self._emission_chunk(*args))
        emission_log_probs, transition_logits, *parameters = (torch.cat(p, dim=1) for p in zip(*pieces))
        result = forward_algorithm(emission_log_probs, transition_logits, state_lengths, mel_lengths)
        means, stds = parameters if return_parameters else (None, None)
        return HMMOutput(*result, transition_logits, emission_log_probs, means, stds)

    def step(
        self,
        ar_input: torch.Tensor,
        rnn_state: tuple[torch.Tensor, torch.Tensor],
        states: torch.Tensor,
        projected_states: torch.Tensor | None,
        prenet_dropout_active: bool,
    ) -> tuple[OutputParameters, tuple[torch.Tensor, torch.Tensor]]:
        """One autoregressive frame: prenet -> LSTMCell -> output net for the given states.

        ar_input: (B, k * n_mel) the previous k frames; rnn_state: (h, c), each (B, R);
        states: (B, N', C) the states to evaluate (N' = 1 in synthesis). Returns their parameters
        (B, N', ...) and the new (h, c).
        """
        h, c = self.post_prenet_rnn(self.prenet(ar_input, prenet_dropout_active), rnn_state)
        return self.decoder(h, states, projected_states), (h, c)

    @torch.no_grad()
    def sample(
        self,
        states: torch.Tensor,
        max_sampling_time: int,
        sampling_temp: float,
        duration_quantile_threshold: float,
        predict_means: bool = True,
        transition_rule: str = "quantile",
        speaking_rate: float = 1.0,
        prenet_dropout_active: bool = True,
        data_dropout_active: bool = False,
        emit_final_state: bool = False,
    ) -> SampleOutput:
        """Synthesise one utterance by walking the states left to right (batch of 1).

        states: (1, N, C). Each step: prenet -> LSTMCell -> output net on the current state only; draw
        x ~ N(mean, std * sampling_temp) (skipped at temperature 0), or emit the mean when
        `predict_means`. Durations:
          * "quantile" (the original's deterministic_transition=True): keep the running product q of
            stay probabilities and move on when q < threshold ** (1 / speaking_rate): the threshold-
            quantile of the state's duration distribution; 0.5 gives median durations, a higher threshold
            (or speaking_rate > 1) faster speech.
          * "sample": move on with probability 1 - P(stay) ** speaking_rate (P(leave) at rate 1).
        Stops when the state index reaches N - 1, so the final state never emits (the original since Oct
        2022; `emit_final_state=True` gives the earlier rule, stop at N), or after max_sampling_time
        frames, with a warning.
        """
        if transition_rule not in TRANSITION_RULES:
            raise ValueError(f"transition_rule must be one of {TRANSITION_RULES}, got {transition_rule!r}")
        if speaking_rate <= 0:
            raise ValueError(f"speaking_rate must be positive, got {speaking_rate}")
        n_states = states.shape[1]
        stop_state = n_states if emit_final_state else n_states - 1
        threshold = duration_quantile_threshold ** (1.0 / speaking_rate)
        projected_states = self.decoder.project_states(states)

        ar_inputs = self.go_tokens.unsqueeze(0).to(states.dtype)  # (1, k, n_mel)
        h = states.new_zeros(1, self.post_prenet_rnn_dim)
        c = states.new_zeros(1, self.post_prenet_rnn_dim)
        state, quantile, t = 0, 1.0, 0
        travelled, emitted_by, frames, means, stds, leave_probs = [0], [], [], [], [], []
        reached_final = stop_state <= 0
        while not reached_final:
            if self.data_dropout > 0 and data_dropout_active:
                keep = F.dropout(
                    ar_inputs.new_ones(1, ar_inputs.shape[1], 1), self.data_dropout, training=True
                )
                ar_inputs = ar_inputs * keep
            (mean, std, logit), (h, c) = self.step(
                ar_inputs.flatten(1),
                (h, c),
                states[:, state : state + 1],
                projected_states[:, state : state + 1],
                prenet_dropout_active,
            )  # (1, 1, n_mel), (1, 1, n_mel), (1, 1)
            leave_prob, stay_prob = torch.sigmoid(logit.flatten()), torch.sigmoid(-logit.flatten())
            frame = torch.normal(mean, std * sampling_temp) if sampling_temp > 0 else mean
            if predict_means:
                frame = mean
            ar_inputs = torch.cat((ar_inputs, frame), dim=1)[:, 1:]
            emitted_by.append(state)
            frames.append(frame.flatten())
            means.append(mean.flatten())
            stds.append(std.flatten())
            leave_probs.append(leave_prob)

            quantile = quantile * stay_prob
            if transition_rule == "quantile":
                switch = bool(quantile < threshold)
            else:
                p_leave = leave_prob if speaking_rate == 1.0 else 1 - stay_prob**speaking_rate
                probabilities = torch.cat(
                    (stay_prob, leave_prob) if speaking_rate == 1.0 else (1 - p_leave, p_leave)
                )
                switch = bool(probabilities.multinomial(1).item() == 1)
            if switch:
                state, quantile = state + 1, 1.0
            travelled.append(state)
            reached_final = state == stop_state
            if not reached_final and max_sampling_time and t == max_sampling_time - 1:
                warnings.warn(
                    f"synthesis stopped at max_sampling_time = {max_sampling_time} frames in state "
                    f"{state} of {n_states}; the utterance is cut off (raise max_sampling_time)",
                    stacklevel=3,
                )
                break
            t += 1

        long = dict(dtype=torch.long, device=states.device)
        empty = states.new_zeros(0, self.n_mel_channels)
        frames = torch.stack(frames) if frames else empty
        return SampleOutput(
            mel=frames,
            mel_normalised=frames,
            states_travelled=torch.tensor(travelled, **long),
            state_index_per_step=torch.tensor(emitted_by, **long),
            means=torch.stack(means) if means else empty,
            stds=torch.stack(stds) if stds else empty,
            transition_probability=torch.cat(leave_probs) if leave_probs else states.new_zeros(0),
            reached_final_state=reached_final,
        )


class NeuralHMM(nn.Module):
    """The full model (`NeuralHMM` in the original); built from HParams, state-dict compatible."""

    def __init__(self, hparams: HParams):
        super().__init__()
        self.hparams = hparams
        self.embedding = nn.Embedding(hparams.n_symbols, hparams.symbols_embedding_dim)
        # The original's init since commit 3c6b2ac (fresh and warm-started runs alike).
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (hparams.n_symbols + hparams.symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(
            hparams.encoder_embedding_dim,
            hparams.encoder_n_convolutions,
            hparams.encoder_kernel_size,
            hparams.state_per_phone,
        )
        self.hmm = HMM(
            n_mel_channels=hparams.n_mel_channels,
            n_frames_per_step=hparams.n_frames_per_step,
            state_dim=hparams.encoder_embedding_dim,
            prenet_n_layers=hparams.prenet_n_layers,
            prenet_dim=hparams.prenet_dim,
            prenet_dropout=hparams.prenet_dropout,
            post_prenet_rnn_dim=hparams.post_prenet_rnn_dim,
            parameternetwork=tuple(hparams.parameternetwork),
            go_token_init_value=hparams.go_token_init_value,
            train_go=hparams.train_go,
            init_transition_probability=hparams.init_transition_probability,
            init_mean=hparams.init_mean,
            init_std=hparams.init_std,
            variance_floor=hparams.variance_floor,
            data_dropout=hparams.data_dropout,
        )

    def encode(self, text: torch.Tensor, text_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """text: (B, L) ids, text_lengths: (B,) -> states (B, L * S, C), state_lengths (B,)."""
        return self.encoder(self.embedding(text).transpose(1, 2), text_lengths)

    def forward(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor,
        chunk_size: int = 32,
        gradient_checkpointing: bool = False,
        return_parameters: bool = False,
    ) -> NeuralHMMOutput:
        """Exact log-likelihood of normalised mels given text.

        text: (B, L) ids padded with 0; text_lengths: (B,); mels: (B, n_mel, T) normalised, padded with 0;
        mel_lengths: (B,). The loss of the original is `losses.neural_hmm_loss(output.log_probs)`.
        """
        hp = self.hparams
        text_lengths, mel_lengths = text_lengths.to(text.device), mel_lengths.to(text.device)
        states, state_lengths = self.encode(text, text_lengths)
        hmm = self.hmm(
            states,
            state_lengths,
            mels,
            mel_lengths,
            prenet_dropout_active=hp.prenet_dropout_while_eval or self.training,
            data_dropout_active=hp.data_dropout_while_eval or self.training,
            chunk_size=chunk_size,
            gradient_checkpointing=gradient_checkpointing,
            return_parameters=return_parameters,
        )
        return NeuralHMMOutput(hmm.log_probs, states, state_lengths, hmm)

    @torch.no_grad()
    def symbol_posteriors(
        self, text: torch.Tensor, text_lengths: torch.Tensor, mels: torch.Tensor, mel_lengths: torch.Tensor
    ) -> torch.Tensor:
        """The soft alignment: P(symbol i sounds at frame t | mel, text) under the model as it is.

        Arguments as for `forward`. Returns (B, T, L) with T = max(mel_lengths): each valid frame sums
        to 1 over the symbols; padding is 0. Symbol i owns states i * S ... i * S + S - 1
        (S = state_per_phone, see `Encoder`). The model runs in its current mode; the prenet dropout
        follows hparams.prenet_dropout_while_eval in eval mode (on by default: a random alignment).
        """
        output = self(text, text_lengths, mels, mel_lengths)
        posteriors = state_posteriors(
            output.hmm.emission_log_probs,
            output.hmm.transition_logits,
            output.state_lengths,
            mel_lengths.to(text.device),
        )
        batch_size, n_frames, _ = posteriors.shape
        return posteriors.view(batch_size, n_frames, text.shape[1], self.hparams.state_per_phone).sum(3)

    def normalise(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.hparams.normaliser_mean) / self.hparams.normaliser_std

    def denormalise(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.hparams.normaliser_std + self.hparams.normaliser_mean

    @torch.no_grad()
    def synthesise(
        self,
        text: torch.Tensor,
        sampling_temp: float = 1.0,
        max_sampling_time: int | None = None,
        duration_quantile_threshold: float | None = None,
        predict_means: bool | None = None,
        deterministic_transition: bool | None = None,
        speaking_rate: float = 1.0,
        prenet_dropout: bool | None = None,
        emit_final_state: bool = False,
    ) -> SampleOutput:
        """Synthesise a log-mel for one utterance (`NeuralHMM.sample` / `inference` of the original).

        text: (L,) or (1, L) ids. Unset options come from hparams (`max_sampling_time`,
        `duration_quantile_threshold`, `predict_means`, `deterministic_transition`, and the prenet
        dropout from `prenet_dropout_while_eval`, which is on by default as in the original: pass
        `prenet_dropout=False` for deterministic output). The encoder runs as in the current mode
        (call `.eval()` first). See `HMM.sample` for the duration rules and `speaking_rate`.
        Returns a SampleOutput whose `mel` (T, n_mel) is de-normalised.
        """
        hp = self.hparams
        text = text.unsqueeze(0) if text.dim() == 1 else text
        if text.shape[0] != 1:
            raise ValueError(f"synthesise takes one utterance, got a batch of {text.shape[0]}")
        states, _ = self.encode(text, torch.tensor([text.shape[1]], device=text.device))
        deterministic = (
            hp.deterministic_transition if deterministic_transition is None else deterministic_transition
        )
        result = self.hmm.sample(
            states,
            # 0 or None fall back to hparams, as in the original.
            max_sampling_time=max_sampling_time or hp.max_sampling_time,
            sampling_temp=sampling_temp,
            duration_quantile_threshold=(
                hp.duration_quantile_threshold
                if duration_quantile_threshold is None
                else duration_quantile_threshold
            ),
            predict_means=hp.predict_means if predict_means is None else predict_means,
            transition_rule="quantile" if deterministic else "sample",
            speaking_rate=speaking_rate,
            prenet_dropout_active=(hp.prenet_dropout_while_eval or self.training)
            if prenet_dropout is None
            else prenet_dropout,
            data_dropout_active=hp.data_dropout_while_sampling,
            emit_final_state=emit_final_state,
        )
        return result._replace(mel=self.denormalise(result.mel_normalised), encoder_outputs=states)
