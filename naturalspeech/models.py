"""NaturalSpeech's networks (the original's models/models.py, on VITS), bottom-up; the full generator,
`SynthesizerTrn`, is last. Tensors are (B, C, T) unless a docstring says otherwise; masks are 1/True on
valid positions unless named `*_pad`.

Paper -> code:
  phoneme encoder theta_pho            TextEncoder (`enc_p`): VITS' encoder without its output projection
  posterior q(z|y)                     PosteriorEncoder (`enc_q`) on the linear spectrogram
  differentiable durator theta_dur     DurationPredictor (`dp`) + LearnableUpsampling -> frame-level prior
  bidirectional prior/posterior flow   ResidualCouplingBlock (`flow`): forward maps z into the prior's
                                       space (the paper's f^-1, for L_bwd), reverse maps a prior sample to
                                       z (the paper's f, for L_fwd, the e2e path and inference)
  memory bank                          VAEMemoryBank (`memory_bank`): attention over learned slots
  waveform decoder                     Generator (`dec`, HiFi-GAN V1 layout)
  discriminator                        MultiPeriodDiscriminator (one scale plus periods 2, 3, 5, 7, 11)

Differences from the original, all optional and off at the original's settings: the latent width may be
other than 192 (the original hard-codes 192 in the upsampler); a token-level prior projection for monotonic
alignment search (`use_mas`) when no external durations are given, as VITS does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from . import attentions, commons, modules
from .commons import Draws, get_padding
from .modules import WNConv1d, WNConv2d, WNConvTranspose1d


class TextEncoder(nn.Module):
    """Phoneme ids (B, K) -> hidden states H (B, hidden, K) and x_mask (B, 1, K).

    out_channels is accepted and unused, as in the original (the prior comes from the durator). With
    mas_projection, a 1x1 convolution `proj` also gives VITS-style token-level prior statistics, used
    only to align text and speech by monotonic alignment search when no durations are given."""

    def __init__(
        self,
        n_vocab,
        out_channels,
        hidden_channels,
        filter_channels,
        n_heads,
        n_layers,
        kernel_size,
        p_dropout,
        mas_projection: bool = False,
    ):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.emb = nn.Embedding(n_vocab, hidden_channels)
        nn.init.normal_(self.emb.weight, 0.0, hidden_channels**-0.5)
        self.encoder = attentions.Encoder(
            hidden_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout
        )
        self.proj = nn.Conv1d(hidden_channels, 2 * hidden_channels, 1) if mas_projection else None

    def forward(self, x: torch.Tensor, x_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.emb(x) * math.sqrt(self.hidden_channels)  # (B, K, hidden)
        h = h.transpose(1, -1)
        x_mask = commons.sequence_mask(x_lengths, h.size(2)).unsqueeze(1).to(h.dtype)
        return self.encoder(h * x_mask, x_mask), x_mask

    def token_prior(self, h: torch.Tensor, x_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m, logs) (B, hidden, K) per token, for alignment search (mas_projection only)."""
        m, logs = torch.split(self.proj(h) * x_mask, self.hidden_channels, dim=1)
        return m, logs


class DurationPredictor(nn.Module):
    """log durations (B, 1, K) from detached hidden states: two conv -> ReLU -> LayerNorm -> dropout blocks
    and a 1x1 projection (the paper has three convolutions; the original two)."""

    def __init__(self, in_channels, filter_channels, kernel_size, p_dropout, gin_channels=0):
        super().__init__()
        if gin_channels:
            raise ValueError("speaker conditioning (gin_channels > 0) is not part of NaturalSpeech")
        self.drop = nn.Dropout(p_dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = modules.LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = modules.LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = torch.detach(x)  # the encoder learns nothing through the duration predictor
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x * x_mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * x_mask))))
        return self.proj(x * x_mask) * x_mask


class UpsamplingOutput(NamedTuple):
    upsampled: torch.Tensor  # (B, T, 2 * d): [m_p | logs_p] per frame
    mel_pad: torch.Tensor  # (B, T) bool, True on padding frames
    mel_lengths: torch.Tensor  # (B,) long, round(sum of durations), at most max_seq_len
    W: torch.Tensor  # (B, dim_w, T, K) attention of each frame over the tokens


class LearnableUpsampling(nn.Module):
    """Parallel Tacotron 2's learnable upsampling, as NaturalSpeech's differentiable durator uses it:
    (possibly fractional) durations d (B, K) and hidden states V (B, K, d) -> frame-level prior.

    For frame t (1-based) and token k with start s_k and end e_k (cumulative durations): S = t - s_k,
    E = e_k - t (0 on padding); W = softmax over tokens of MLP([S, E, conv_w(V)]) with dim_w heads;
    C = MLP([S, E, conv_c(V)]); O = linear_w(W V) + linear_einsum(sum_k W C); LayerNorm; proj_o to
    [m_p | logs_p]. The latent width is d_predictor (the original hard-codes 192 in proj_o)."""

    def __init__(
        self,
        d_predictor=192,
        kernel_size=3,
        dropout=0.0,
        conv_output_size=8,
        dim_w=4,
        dim_c=2,
        max_seq_len=1000,
    ):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.conv_w = modules.ConvBlock(d_predictor, conv_output_size, kernel_size, dropout)
        self.swish_w = modules.SwishBlock(conv_output_size + 2, dim_w, dim_w)
        self.linear_w = modules.LinearNorm(dim_w * d_predictor, d_predictor, bias=True)
        self.conv_c = modules.ConvBlock(d_predictor, conv_output_size, kernel_size, dropout)
        self.swish_c = modules.SwishBlock(conv_output_size + 2, dim_c, dim_c)
        self.linear_einsum = modules.LinearNorm(dim_c * dim_w, d_predictor)
        self.layer_norm = nn.LayerNorm(d_predictor)
        self.proj_o = modules.LinearNorm(d_predictor, 2 * d_predictor)

    def forward(self, durations: torch.Tensor, V: torch.Tensor, src_pad: torch.Tensor) -> UpsamplingOutput:
        """durations (B, K) float; V (B, K, d); src_pad (B, K) bool, True on padding tokens."""
        batch, n_tokens = durations.shape
        mel_lengths = torch.round(durations.sum(-1)).long().clamp(max=self.max_seq_len)
        n_frames = int(mel_lengths.max())
        mel_pad = ~commons.sequence_mask(mel_lengths, n_frames)
        token_pad = src_pad.unsqueeze(1).expand(-1, n_frames, -1)  # (B, T, K)
        frame_pad = mel_pad.unsqueeze(-1).expand(-1, -1, n_tokens)
        grid_pad = token_pad | frame_pad

        ends = torch.cumsum(durations, dim=1)
        starts = ends - durations
        frames = torch.arange(1, n_frames + 1, device=V.device).view(1, -1, 1)
        S = (frames - starts.unsqueeze(1)).masked_fill(grid_pad, 0)
        E = (ends.unsqueeze(1) - frames).masked_fill(grid_pad, 0)

        W = self.swish_w(S, E, self.conv_w(V))  # (B, T, K, dim_w)
        W = torch.softmax(W.masked_fill(token_pad.unsqueeze(-1), -math.inf), dim=2)
        W = W.masked_fill(frame_pad.unsqueeze(-1), 0.0).permute(0, 3, 1, 2)  # (B, dim_w, T, K)
        C = self.swish_c(S, E, self.conv_c(V))  # (B, T, K, dim_c)

        weighted = torch.einsum("bqtk,bkh->bqth", W, V).permute(0, 2, 1, 3).flatten(2)
        context = torch.einsum("bqtk,btkp->bqtp", W, C).permute(0, 2, 1, 3).flatten(2)
        upsampled = self.layer_norm(self.linear_w(weighted) + self.linear_einsum(context))
        upsampled = self.proj_o(upsampled.masked_fill(mel_pad.unsqueeze(-1), 0))
        return UpsamplingOutput(upsampled, mel_pad, mel_lengths, W)


class ResidualCouplingBlock(nn.Module):
    """n_flows x [mean-only coupling + channel flip]. forward: z -> prior space; reverse: back."""

    def __init__(
        self, channels, hidden_channels, kernel_size, dilation_rate, n_layers, n_flows=4, gin_channels=0
    ):
        super().__init__()
        if gin_channels:
            raise ValueError("speaker conditioning (gin_channels > 0) is not part of NaturalSpeech")
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                modules.ResidualCouplingLayer(channels, hidden_channels, kernel_size, dilation_rate, n_layers)
            )
            self.flows.append(modules.Flip())

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        for flow in reversed(self.flows) if reverse else self.flows:
            x = flow(x, x_mask, reverse=reverse)
        return x


class VAEMemoryBank(nn.Module):
    """Attention of each latent frame over bank_size learned slots; the result replaces the frame.
    z (B, d, T) -> (B, d, T). No mask: padding frames attend too (they are cut off later)."""

    def __init__(self, bank_size=1000, n_hidden_dims=192, n_attn_heads=2, init_values=None):
        super().__init__()
        self.encoder = attentions.MultiHeadAttention(n_hidden_dims, n_hidden_dims, n_attn_heads)
        self.memory_bank = nn.Parameter(torch.randn(n_hidden_dims, bank_size))
        if init_values is not None:  # k-means centres, (d, bank_size)
            with torch.no_grad():
                self.memory_bank.copy_(init_values)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        bank = self.memory_bank.unsqueeze(0).expand(z.size(0), -1, -1)
        return self.encoder(z, bank, attn_mask=None)


class PosteriorEncoder(nn.Module):
    """Linear spectrogram (B, n_fft/2+1, T) -> (z sample, m_q, logs_q, y_mask)."""

    def __init__(
        self, in_channels, out_channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=0
    ):
        super().__init__()
        if gin_channels:
            raise ValueError("speaker conditioning (gin_channels > 0) is not part of NaturalSpeech")
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = modules.WN(hidden_channels, kernel_size, dilation_rate, n_layers)
        self.proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(self, y: torch.Tensor, y_lengths: torch.Tensor, draws: Draws):
        y_mask = commons.sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)
        h = self.enc(self.pre(y) * y_mask, y_mask)
        m, logs = torch.split(self.proj(h) * y_mask, self.out_channels, dim=1)
        z = (m + draws.normal_like(m) * torch.exp(logs)) * y_mask
        return z, m, logs, y_mask


class Generator(nn.Module):
    """HiFi-GAN generator: latent (B, d, T) -> audio (B, 1, T * prod(upsample_rates)) in [-1, 1]."""

    def __init__(
        self,
        initial_channel,
        resblock,
        resblock_kernel_sizes,
        resblock_dilation_sizes,
        upsample_rates,
        upsample_initial_channel,
        upsample_kernel_sizes,
        gin_channels=0,
    ):
        super().__init__()
        if gin_channels:
            raise ValueError("speaker conditioning (gin_channels > 0) is not part of NaturalSpeech")
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = modules.ResBlock1 if str(resblock) == "1" else modules.ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            channels = upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(
                WNConvTranspose1d(
                    upsample_initial_channel // 2**i, channels, kernel, rate, padding=(kernel - rate) // 2
                )
            )
            for kernel_size, dilation in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(channels, kernel_size, dilation))
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=False)
        # The original then redraws the transposed convolutions' weights from N(0, 0.01); with legacy
        # weight norm that lands on a derived tensor the next forward recomputes, so it has no effect and
        # the layers keep PyTorch's default initialisation, as here.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, modules.LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.num_kernels
        # leaky_relu's default slope 0.01 here, not 0.1: kept from VITS for weight compatibility.
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def remove_weight_norm(self) -> None:
        for up in self.ups:
            modules.remove_weight_norm(up)
        for block in self.resblocks:
            block.remove_weight_norm()


class DiscriminatorP(nn.Module):
    """Period discriminator: audio folded into (T / period, period), 2-D convolutions over time.
    width_divisor > 1 (ours, for tests and tiny CPU runs) divides every channel count."""

    def __init__(self, period, kernel_size=5, stride=3, width_divisor=1):
        super().__init__()
        self.period = period
        channels = [1] + [max(1, c // width_divisor) for c in (32, 128, 512, 1024)]
        padding = (get_padding(kernel_size, 1), 0)
        self.convs = nn.ModuleList(
            WNConv2d(c_in, c_out, (kernel_size, 1), (stride, 1), padding=padding)
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.convs.append(WNConv2d(channels[-1], channels[-1], (kernel_size, 1), 1, padding=padding))
        self.conv_post = WNConv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor):
        batch, channels, length = x.shape
        if length % self.period:
            pad = self.period - length % self.period
            x = F.pad(x, (0, pad), "reflect")
            length += pad
        x = x.view(batch, channels, length // self.period, self.period)
        feature_maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), modules.LRELU_SLOPE)
            feature_maps.append(x)
        x = self.conv_post(x)
        feature_maps.append(x)
        return torch.flatten(x, 1, -1), feature_maps


class DiscriminatorS(nn.Module):
    """Scale discriminator on the raw waveform (grouped strided 1-D convolutions)."""

    def __init__(self, width_divisor=1):
        super().__init__()
        # (in, out, kernel, stride, groups, padding) at full width
        layers = [
            (1, 16, 15, 1, 1, 7),
            (16, 64, 41, 4, 4, 20),
            (64, 256, 41, 4, 16, 20),
            (256, 1024, 41, 4, 64, 20),
            (1024, 1024, 41, 4, 256, 20),
            (1024, 1024, 5, 1, 1, 2),
        ]

        def narrow(channels: int) -> int:
            return channels if channels == 1 else max(1, channels // width_divisor)

        self.convs = nn.ModuleList(
            WNConv1d(
                narrow(c_in),
                narrow(c_out),
                kernel,
                stride,
                groups=max(1, groups // width_divisor),
                padding=padding,
            )
            for c_in, c_out, kernel, stride, groups, padding in layers
        )
        self.conv_post = WNConv1d(narrow(1024), 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor):
        feature_maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), modules.LRELU_SLOPE)
            feature_maps.append(x)
        x = self.conv_post(x)
        feature_maps.append(x)
        return torch.flatten(x, 1, -1), feature_maps


class MultiPeriodDiscriminator(nn.Module):
    """One scale discriminator and period discriminators for 2, 3, 5, 7, 11 (the original has no pooled
    scales). width_divisor (ours; 1 = the original) narrows every layer.
    forward(y, y_hat) -> (real scores, fake scores, real feature maps, fake feature maps)."""

    def __init__(self, periods=(2, 3, 5, 7, 11), width_divisor=1):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [
                DiscriminatorS(width_divisor),
                *(DiscriminatorP(p, width_divisor=width_divisor) for p in periods),
            ]
        )

    def score(self, y: torch.Tensor):
        """(scores, feature maps) of one set of waveforms (B, 1, S) by every sub-discriminator."""
        results = [discriminator(y) for discriminator in self.discriminators]
        return [score for score, _ in results], [maps for _, maps in results]

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        scores_real, scores_fake, maps_real, maps_fake = [], [], [], []
        for discriminator in self.discriminators:
            score, maps = discriminator(y)
            scores_real.append(score)
            maps_real.append(maps)
            score, maps = discriminator(y_hat)
            scores_fake.append(score)
            maps_fake.append(maps)
        return scores_real, scores_fake, maps_real, maps_fake


class GeneratorOutput(NamedTuple):
    """What one training forward pass returns (the original's 11-tuple, named)."""

    y_hat: torch.Tensor  # (B, 1, segment samples): decoded from a slice of the posterior z
    l_length: torch.Tensor  # (B,) log-duration loss, each item divided by the batch's valid tokens
    ids_slice: torch.Tensor  # (B,) start frame of that slice
    x_mask: torch.Tensor  # (B, 1, K)
    z_mask: torch.Tensor  # (B, 1, T) posterior frames
    z: torch.Tensor  # (B, d, T) posterior sample
    z_p: torch.Tensor  # (B, d, T) flow(z): the posterior in the prior's space
    m_p: torch.Tensor  # (B, d, T') frame-level prior mean (T' = T with given durations)
    logs_p: torch.Tensor  # (B, d, T')
    m_q: torch.Tensor  # (B, d, T)
    logs_q: torch.Tensor  # (B, d, T)
    p_mask: torch.Tensor  # (B, T') bool, True on valid prior frames
    W: torch.Tensor  # (B, dim_w, T', K) upsampling attention
    y_hat_e2e: torch.Tensor  # (B, 1, segment samples): decoded from a slice of z_q
    z_q: torch.Tensor  # (B, d, T') flow^-1 of a prior sample
    d: torch.Tensor  # (B, K) the durations the upsampler used
    ids_slice_q: torch.Tensor  # (B,)
    m_mas: torch.Tensor | None = None  # (B, d, T) token prior expanded by the MAS path (use_mas only)
    logs_mas: torch.Tensor | None = None
    mas_durations: torch.Tensor | None = None  # (B, K) frames per token found by MAS


class InferenceOutput(NamedTuple):
    audio: torch.Tensor  # (B, 1, T * hop)
    y_mask: torch.Tensor  # (B, 1, T) bool, True on valid frames
    z: torch.Tensor  # (B, d, T) the decoder's input (after the memory bank, as the original returns it)
    z_p: torch.Tensor
    m_p: torch.Tensor
    logs_p: torch.Tensor
    durations: torch.Tensor  # (B, K) the durations used (after length_scale)


def mas_log_likelihood(z_p, m_p, logs_p) -> torch.Tensor:
    """log N(z_p[:, :, t]; m_p[:, :, k], exp(logs_p[:, :, k])) summed over channels -> (B, T, K), as VITS
    computes it for monotonic alignment search."""
    s_p_sq_r = torch.exp(-2 * logs_p)
    term1 = torch.sum(-0.5 * math.log(2 * math.pi) - logs_p, [1], keepdim=True)
    term2 = torch.matmul(-0.5 * (z_p**2).transpose(1, 2), s_p_sq_r)
    term3 = torch.matmul(z_p.transpose(1, 2), m_p * s_p_sq_r)
    term4 = torch.sum(-0.5 * (m_p**2) * s_p_sq_r, [1], keepdim=True)
    return term1 + term2 + term3 + term4


class SynthesizerTrn(nn.Module):
    """The NaturalSpeech generator (everything but the discriminator).

    `models` is the config's "models" section (phoneme_encoder, decoder, posterior_encoder, flow,
    duration_predictor, learnable_upsampling, memory_bank), as dicts. The memory bank is attached after
    warm-up (`attach_memory_bank`); until then `memory_bank` does not exist, as in the original.
    use_mas: add the token-level prior projection for alignment search (no external durations).
    mas_backend: "cython" (compiled, the default) or "torch" for monotonic_align.maximum_path."""

    def __init__(
        self,
        n_vocab: int,
        spec_channels: int,
        segment_size: int,
        models: dict,
        use_mas: bool = False,
        mas_backend: str = "cython",
    ):
        super().__init__()
        self.segment_size = segment_size
        self.models = models
        self.use_mas, self.mas_backend = use_mas, mas_backend
        self.hidden = models["phoneme_encoder"]["hidden_channels"]
        self.enc_p = TextEncoder(n_vocab=n_vocab, mas_projection=use_mas, **models["phoneme_encoder"])
        self.dec = Generator(**models["decoder"])
        self.enc_q = PosteriorEncoder(in_channels=spec_channels, **models["posterior_encoder"])
        self.flow = ResidualCouplingBlock(**models["flow"])
        self.dp = DurationPredictor(**models["duration_predictor"])
        self.learnable_upsampling = LearnableUpsampling(**models["learnable_upsampling"])
        self.use_memory_bank = False

    def attach_memory_bank(self, init_values: torch.Tensor | None = None) -> None:
        """Add the memory bank (random slots, or k-means centres (d, bank_size))."""
        device = next(self.parameters()).device
        self.memory_bank = VAEMemoryBank(**self.models["memory_bank"], init_values=init_values).to(device)
        self.use_memory_bank = True

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(self.memory_bank(z) if self.use_memory_bank else z)

    def prior(self, h, x_mask, durations):
        """Frame-level prior from token states h (B, d, K) and durations (B, K) -> m_p, logs_p (B, d, T'),
        p_mask (B, T') True on valid frames, W."""
        upsampled = self.learnable_upsampling(durations, h.transpose(1, 2), ~(x_mask.squeeze(1).bool()))
        m_p, logs_p = torch.split(upsampled.upsampled.transpose(1, 2), self.hidden, dim=1)
        return m_p, logs_p, ~upsampled.mel_pad, upsampled.W

    def align(self, h, x_mask, z_p, z_mask):
        """Monotonic alignment search between the posterior in prior space and the token-level prior (VITS):
        -> (durations (B, K) float, m, logs expanded to frames (B, d, T))."""
        from .monotonic_align import maximum_path

        m_tok, logs_tok = self.enc_p.token_prior(h, x_mask)
        with torch.no_grad():
            attn_mask = x_mask.unsqueeze(2) * z_mask.unsqueeze(-1)  # (B, 1, T, K)
            log_likelihood = mas_log_likelihood(z_p.float(), m_tok.float(), logs_tok.float())
            path = maximum_path(log_likelihood, attn_mask.squeeze(1), backend=self.mas_backend)
        path = path.to(m_tok.dtype)
        m_frames = torch.matmul(path, m_tok.transpose(1, 2)).transpose(1, 2)
        logs_frames = torch.matmul(path, logs_tok.transpose(1, 2)).transpose(1, 2)
        return path.sum(1), m_frames, logs_frames

    def forward(self, x, x_lengths, y, y_lengths, d=None, use_gt_duration=True, draws: Draws | None = None):
        """x (B, K) ids; y (B, n_fft/2+1, T) linear spectrogram; d (B, K) frames per token (None with
        use_mas: found by alignment search). Random draws in the original's order: posterior noise, the
        slice of z, prior noise, the slice of z_q."""
        draws = draws or Draws()
        h, x_mask = self.enc_p(x, x_lengths)
        z, m_q, logs_q, y_mask = self.enc_q(y, y_lengths, draws)
        z_p = self.flow(z, y_mask)

        m_mas = logs_mas = mas_durations = None
        if d is None:
            if not self.use_mas:
                raise ValueError("no durations given and the model was built without use_mas")
            mas_durations, m_mas, logs_mas = self.align(h, x_mask, z_p, y_mask)
            d = mas_durations

        logw = self.dp(h, x_mask)
        w = torch.exp(logw) * x_mask
        logw_target = torch.log(d.unsqueeze(1) + 1e-6) * x_mask
        l_length = torch.sum((logw - logw_target) ** 2, [1, 2]) / torch.sum(x_mask)
        if not use_gt_duration:
            d = w.squeeze(1)  # the upsampler (and so the KL and e2e losses) train the duration predictor

        m_p, logs_p, p_mask, W = self.prior(h, x_mask, d)

        z_slice, ids_slice = commons.rand_slice_segments(z, y_lengths, self.segment_size, draws)
        y_hat = self._decode(z_slice)

        z_q = self.flow(
            m_p + draws.normal_like(m_p) * torch.exp(logs_p), p_mask.unsqueeze(1).to(m_p.dtype), reverse=True
        )
        z_q_lengths = p_mask.sum(dim=-1).long()
        z_slice_q, ids_slice_q = commons.rand_slice_segments(
            z_q, torch.minimum(z_q_lengths, y_lengths), self.segment_size, draws
        )
        y_hat_e2e = self._decode(z_slice_q)
        return GeneratorOutput(
            y_hat,
            l_length,
            ids_slice,
            x_mask,
            y_mask,
            z,
            z_p,
            m_p,
            logs_p,
            m_q,
            logs_q,
            p_mask,
            W,
            y_hat_e2e,
            z_q,
            d,
            ids_slice_q,
            m_mas,
            logs_mas,
            mas_durations,
        )

    @torch.no_grad()
    def infer(
        self,
        x,
        x_lengths,
        noise_scale=1.0,
        length_scale=1.0,
        max_len=None,
        d=None,
        draws: Draws | None = None,
    ) -> InferenceOutput:
        """Text to audio: predicted durations (or d) times length_scale, prior sample with noise_scale,
        flow^-1, memory bank, decoder. Batches work; each item's audio is valid for y_mask's frames."""
        draws = draws or Draws()
        h, x_mask = self.enc_p(x, x_lengths)
        w = torch.exp(self.dp(h, x_mask)) * x_mask * length_scale
        if d is not None:
            w = d.unsqueeze(1) * x_mask * length_scale
        m_p, logs_p, p_mask, _ = self.prior(h, x_mask, w.squeeze(1))
        y_mask = p_mask.unsqueeze(1)
        z_p = m_p + draws.normal_like(m_p) * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask.to(z_p.dtype), reverse=True)
        if self.use_memory_bank:
            z = self.memory_bank(z)
        audio = self.dec((z * y_mask)[:, :, :max_len])
        return InferenceOutput(audio, y_mask, z, z_p, m_p, logs_p, w.squeeze(1))
