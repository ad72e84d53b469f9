"""Network structure: the default configuration's state dict is the original's (names, shapes, order),
shapes of every output at a tiny size, flow invertibility, and the MAS alignment path."""

import json
from pathlib import Path

import pytest
import torch

from naturalspeech import models
from naturalspeech.config import load_config

HERE = Path(__file__).parent
CONFIGS = HERE.parent / "configs"

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_entries(section):
    return [
        (name, shape, dtype)
        for name, shape, dtype in json.loads((HERE / "fixtures" / "reference_state_dicts.json").read_text())[
            section
        ]
    ]


def entries(state_dict):
    return [(name, list(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in state_dict.items()]


def test_default_state_dicts_equal_the_original():
    config = load_config(CONFIGS / "ljs.json")
    with torch.device("meta"):  # names and shapes only: no memory for 25 M + 47 M weights
        net = models.SynthesizerTrn(178, config.spec_channels, config.segment_frames, config.models)
        assert entries(net.state_dict()) == reference_entries("generator")
        net.attach_memory_bank()
        bank = [
            (f"memory_bank.{name}", shape, dtype)
            for name, shape, dtype in entries(net.memory_bank.state_dict())
        ]
        assert bank == reference_entries("memory_bank")
        discriminator = models.MultiPeriodDiscriminator()
        assert entries(discriminator.state_dict()) == reference_entries("discriminator")
    assert sum(t.numel() for t in net.parameters()) == 25_272_711  # the facts' count with the bank


def tiny_models(width=16):
    encoder = dict(out_channels=width, hidden_channels=width, filter_channels=32, n_heads=2, n_layers=1)
    decoder = dict(initial_channel=width, resblock="1", resblock_kernel_sizes=[3])
    decoder.update(resblock_dilation_sizes=[[1, 3]], upsample_initial_channel=16)
    decoder.update(upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8])
    wavenet = dict(hidden_channels=8, kernel_size=5, dilation_rate=1, n_layers=2)
    upsampling = dict(d_predictor=width, kernel_size=3, dropout=0.0, conv_output_size=4, dim_w=2, dim_c=2)
    return {
        "phoneme_encoder": dict(encoder, kernel_size=3, p_dropout=0.1),
        "decoder": decoder,
        "posterior_encoder": dict(wavenet, out_channels=width),
        "flow": dict(wavenet, channels=width),
        "duration_predictor": dict(in_channels=width, filter_channels=8, kernel_size=3, p_dropout=0.5),
        "learnable_upsampling": dict(upsampling, max_seq_len=1000),
        "memory_bank": dict(bank_size=8, n_hidden_dims=width, n_attn_heads=2),
    }


def batch(n_tokens=(5, 3), n_frames=(12, 9), spec_channels=33):
    torch.manual_seed(0)
    x = torch.zeros(2, max(n_tokens), dtype=torch.long)
    for row, k in enumerate(n_tokens):
        x[row, :k] = torch.randint(1, 50, (k,))
    spec = torch.rand(2, spec_channels, max(n_frames))
    durations = torch.zeros(2, max(n_tokens))
    for row, (k, t) in enumerate(zip(n_tokens, n_frames)):
        durations[row, :k] = torch.tensor([t // k] * (k - 1) + [t - (t // k) * (k - 1)], dtype=torch.float)
        spec[row, :, t:] = 0
    return x, torch.tensor(n_tokens), spec, torch.tensor(n_frames), durations


@pytest.mark.parametrize("use_gt_duration", [True, False])
def test_output_shapes_batch_of_two(use_gt_duration):
    net = models.SynthesizerTrn(60, 33, 4, tiny_models())
    net.attach_memory_bank()
    x, x_lengths, spec, spec_lengths, durations = batch()
    out = net(x, x_lengths, spec, spec_lengths, d=durations, use_gt_duration=use_gt_duration)
    assert out.y_hat.shape == out.y_hat_e2e.shape == (2, 1, 4 * 256)
    assert out.z.shape == out.z_p.shape == out.m_q.shape == (2, 16, 12)
    frames = out.m_p.size(2)
    assert out.logs_p.shape == out.z_q.shape == (2, 16, frames) and out.p_mask.shape == (2, frames)
    assert out.W.shape == (2, 2, frames, 5) and out.d.shape == (2, 5) and out.l_length.shape == (2,)
    if use_gt_duration:
        assert frames == 12 and torch.equal(out.p_mask.sum(1), spec_lengths)
    result = net.infer(x[:1], x_lengths[:1], noise_scale=0.5, length_scale=1.5)
    assert result.audio.shape[-1] == 256 * result.y_mask.size(-1)
    assert result.z.shape[:2] == (1, 16) and result.durations.shape == (1, 5)


def test_backward_reaches_every_parameter():
    net = models.SynthesizerTrn(60, 33, 4, tiny_models())
    net.attach_memory_bank()
    discriminator = models.MultiPeriodDiscriminator()
    x, x_lengths, spec, spec_lengths, durations = batch()
    out = net(x, x_lengths, spec, spec_lengths, d=durations)
    scores = discriminator(out.y_hat, out.y_hat_e2e)
    loss = sum(s.mean() for s in scores[0] + scores[1]) + out.l_length.sum() + out.z_p.mean() + out.z_q.mean()
    loss = loss + out.m_p.mean() + out.logs_p.mean() + out.logs_q.mean()
    loss.backward()
    missing = [
        name for name, p in [*net.named_parameters(), *discriminator.named_parameters()] if p.grad is None
    ]
    assert not missing, missing


def test_flow_inverts_on_random_weights():
    torch.manual_seed(3)
    flow = models.ResidualCouplingBlock(8, 16, 5, 1, 2)
    for coupling in flow.flows[::2]:  # `post` starts at zero (identity); give it weights
        torch.nn.init.normal_(coupling.post.weight, std=0.3)
    x, mask = torch.randn(2, 8, 10), torch.ones(2, 1, 10)
    mask[1, :, 7:] = 0
    z = flow(x, mask)
    assert not torch.allclose(z * mask, x * mask)
    torch.testing.assert_close(flow(z, mask, reverse=True) * mask, x * mask, atol=1e-5, rtol=0)
    torch.testing.assert_close(flow(flow(x, mask, reverse=True), mask) * mask, x * mask, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", ["cython", "torch"])
def test_alignment_search_gives_durations_summing_to_the_frames(backend):
    net = models.SynthesizerTrn(60, 33, 4, tiny_models(), use_mas=True, mas_backend=backend)
    assert "enc_p.proj.weight" in net.state_dict()
    x, x_lengths, spec, spec_lengths, _ = batch()
    out = net(x, x_lengths, spec, spec_lengths, d=None)
    assert torch.equal(out.mas_durations.sum(1), spec_lengths.float())
    assert torch.equal(out.d, out.mas_durations) and out.m_mas.shape == out.z_p.shape
    assert out.m_p.size(2) == 12
    with pytest.raises(ValueError, match="use_mas"):
        models.SynthesizerTrn(60, 33, 4, tiny_models())(x, x_lengths, spec, spec_lengths, d=None)


def test_latent_width_other_than_192():
    net = models.SynthesizerTrn(60, 33, 4, tiny_models(width=24))
    x, x_lengths, spec, spec_lengths, durations = batch()
    assert net(x, x_lengths, spec, spec_lengths, d=durations).m_p.size(1) == 24
