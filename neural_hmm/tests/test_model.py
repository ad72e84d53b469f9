"""Default-size structure (names, shapes, parameter counts of the original) and synthesis controls."""

import math

import pytest
import torch

from neural_hmm.hparams import HParams
from neural_hmm.layers import (
    _gaussian_log_prob_sum,
    gaussian_log_likelihood,
    inverse_sigmoid,
    inverse_softplus,
)
from neural_hmm.model import NeuralHMM

# The original's state dict at the default config (NH2), from the reference document.
DEFAULT_SHAPES = {
    "embedding.weight": (150, 512),
    **{
        key: shape
        for i in range(3)
        for key, shape in {
            f"encoder.convolutions.{i}.0.conv.weight": (512, 512, 5),
            f"encoder.convolutions.{i}.0.conv.bias": (512,),
            f"encoder.convolutions.{i}.1.weight": (512,),
            f"encoder.convolutions.{i}.1.bias": (512,),
            f"encoder.convolutions.{i}.1.running_mean": (512,),
            f"encoder.convolutions.{i}.1.running_var": (512,),
            f"encoder.convolutions.{i}.1.num_batches_tracked": (),
        }.items()
    },
    **{
        f"encoder.lstm.{name}{suffix}": shape
        for suffix in ("", "_reverse")
        for name, shape in {
            "weight_ih_l0": (2048, 512),
            "weight_hh_l0": (2048, 512),
            "bias_ih_l0": (2048,),
            "bias_hh_l0": (2048,),
        }.items()
    },
    "hmm.go_tokens": (1, 80),
    "hmm.prenet.layers.0.linear.0.weight": (256, 80),
    "hmm.prenet.layers.1.linear.0.weight": (256, 256),
    "hmm.post_prenet_rnn.weight_ih": (4096, 256),
    "hmm.post_prenet_rnn.weight_hh": (4096, 1024),
    "hmm.post_prenet_rnn.bias_ih": (4096,),
    "hmm.post_prenet_rnn.bias_hh": (4096,),
    "hmm.decoder.decoder_network.layers.0.linear.0.weight": (1024, 1536),
    "hmm.decoder.decoder_network.layers.0.linear.0.bias": (1024,),
    "hmm.decoder.decoder_network.layers.1.weight": (161, 1024),
    "hmm.decoder.decoder_network.layers.1.bias": (161,),
}


@pytest.fixture(scope="module")
def default_model():
    torch.manual_seed(0)
    return NeuralHMM(HParams())


def test_default_state_dict_names_shapes_and_count(default_model):
    state = default_model.state_dict()
    assert len(DEFAULT_SHAPES) == 41
    assert {k: tuple(v.shape) for k, v in state.items()} == DEFAULT_SHAPES
    assert all(v.dtype == torch.int64 for k, v in state.items() if k.endswith("num_batches_tracked"))
    assert sum(p.numel() for p in default_model.parameters()) == 15_292_145


def test_nh1_parameter_count():
    model = NeuralHMM(HParams(state_per_phone=1))
    assert sum(p.numel() for p in model.parameters()) == 12_666_609
    assert model.state_dict()["encoder.lstm.weight_hh_l0"].shape == (1024, 256)


def test_flat_start_and_data_initialisation(default_model):
    hp = default_model.hparams
    last = default_model.hmm.decoder.decoder_network.layers[-1]
    assert last.weight.abs().sum() == 0
    torch.testing.assert_close(last.bias[:80], torch.zeros(80))
    torch.testing.assert_close(last.bias[80:160], torch.full((80,), 0.5413), atol=1e-4, rtol=0)
    p = hp.init_transition_probability
    assert last.bias[160].item() == pytest.approx(math.log(p / (1 - p)), abs=1e-5)  # -1.6728 for LJ Speech
    assert inverse_sigmoid(hp.init_transition_probability).item() == pytest.approx(last.bias[160].item())
    assert inverse_softplus(1.0).item() == pytest.approx(0.5413, abs=1e-4)
    torch.testing.assert_close(default_model.hmm.go_tokens[0], torch.tensor(hp.go_token_init_value))
    bound = (3 * 2 / (150 + 512)) ** 0.5
    assert default_model.embedding.weight.abs().max() <= bound


def test_untrained_go_token_is_a_zero_buffer():
    model = NeuralHMM(HParams(train_go=False, symbols_embedding_dim=16, encoder_embedding_dim=16))
    assert "hmm.go_tokens" in model.state_dict() and "hmm.go_tokens" not in dict(model.named_parameters())
    assert model.hmm.go_tokens.abs().sum() == 0


def tiny_model(seed=0, **changes):
    torch.manual_seed(seed)
    values = dict(
        symbols_embedding_dim=16,
        encoder_embedding_dim=16,
        prenet_dim=16,
        post_prenet_rnn_dim=32,
        parameternetwork=[24],
        prenet_dropout=0.0,
    )
    values.update(changes)
    model = NeuralHMM(HParams(**values)).eval()
    torch.nn.init.normal_(model.hmm.decoder.decoder_network.layers[-1].weight, std=0.1)
    return model


TEXT = torch.tensor([5, 20, 31, 13, 70, 9])


def test_synthesis_walks_every_state_but_the_last():
    model = tiny_model()
    out = model.synthesise(TEXT, sampling_temp=0.0, max_sampling_time=1000)
    n_states = 2 * len(TEXT)
    assert out.reached_final_state
    assert out.states_travelled[0] == 0 and out.states_travelled[-1] == n_states - 1
    assert torch.equal(out.state_index_per_step, out.states_travelled[:-1])
    assert set(out.state_index_per_step.tolist()) == set(range(n_states - 1))
    steps = out.states_travelled.diff()
    assert ((steps == 0) | (steps == 1)).all()
    torch.testing.assert_close(out.mel, out.mel_normalised * 2.065552234649658 - 5.520822525024414)
    assert out.mel.shape == (len(out.state_index_per_step), 80)


def test_emit_final_state_gives_the_release_stop_rule():
    model = tiny_model()
    out = model.synthesise(TEXT, sampling_temp=0.0, emit_final_state=True)
    assert out.states_travelled[-1] == 2 * len(TEXT)
    assert out.state_index_per_step[-1] == 2 * len(TEXT) - 1


def test_threshold_and_speaking_rate_control_duration():
    model = tiny_model()
    lengths = {}
    for threshold, rate in [(0.3, 1.0), (0.5, 1.0), (0.7, 1.0), (0.5, 0.5), (0.5, 2.0)]:
        lengths[threshold, rate] = len(model.synthesise(TEXT, 0.0, 2000, threshold, speaking_rate=rate).mel)
    assert lengths[0.3, 1.0] >= lengths[0.5, 1.0] >= lengths[0.7, 1.0]
    assert lengths[0.5, 0.5] > lengths[0.5, 1.0] > lengths[0.5, 2.0]
    # Rate r is the threshold thr ** (1 / r): identical state sequences.
    slow = model.synthesise(TEXT, 0.0, 2000, 0.5, speaking_rate=0.5)
    assert torch.equal(slow.states_travelled, model.synthesise(TEXT, 0.0, 2000, 0.25).states_travelled)


def test_max_length_warns_and_cuts():
    model = tiny_model()
    with pytest.warns(UserWarning, match="max_sampling_time = 7"):
        out = model.synthesise(TEXT, sampling_temp=0.0, max_sampling_time=7)
    assert len(out.mel) == 7 and len(out.states_travelled) == 8 and not out.reached_final_state


def test_sampling_is_reproducible_under_a_seed_and_uses_temperature():
    model = tiny_model()
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(
            model.synthesise(TEXT, sampling_temp=0.667, predict_means=False, deterministic_transition=False)
        )
    assert torch.equal(runs[0].mel, runs[1].mel)
    assert torch.equal(runs[0].states_travelled, runs[1].states_travelled)
    means = model.synthesise(TEXT, sampling_temp=0.0)
    assert not torch.allclose(runs[0].mel[: len(means.mel)][:5], means.mel[:5])


@pytest.mark.filterwarnings("ignore:synthesis stopped")
def test_prenet_dropout_is_on_at_synthesis_by_default():
    model = tiny_model(prenet_dropout=0.5)
    torch.manual_seed(0)
    first = model.synthesise(TEXT, sampling_temp=0.0, max_sampling_time=5, duration_quantile_threshold=1e-9)
    torch.manual_seed(1)
    second = model.synthesise(TEXT, sampling_temp=0.0, max_sampling_time=5, duration_quantile_threshold=1e-9)
    assert not torch.equal(first.mel, second.mel)
    a = model.synthesise(TEXT, 0.0, 5, 1e-9, prenet_dropout=False)
    b = model.synthesise(TEXT, 0.0, 5, 1e-9, prenet_dropout=False)
    assert torch.equal(a.mel, b.mel)


def test_synthesis_runs_on_device(device):
    model = tiny_model().to(device)
    out = model.synthesise(TEXT.to(device), sampling_temp=0.0)
    assert out.mel.device.type == device.type and out.reached_final_state


def test_split_first_layer_equals_the_concatenated_mlp():
    model = tiny_model(parameternetwork=[24, 20])
    decoder = model.hmm.decoder
    h, states = torch.randn(3, 7, 32), torch.randn(3, 5, 16)
    out = decoder(h, states)  # (3, 7, 5, ...)
    concatenated = torch.cat(
        [h.unsqueeze(2).expand(3, 7, 5, 32), states.unsqueeze(1).expand(3, 7, 5, 16)], -1
    )
    direct = decoder.decoder_network(concatenated)
    torch.testing.assert_close(out.mean, direct[..., :80], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.std, torch.nn.functional.softplus(direct[..., 80:160]).clamp(min=0.01))
    torch.testing.assert_close(out.transition_logit, direct[..., 160], rtol=1e-5, atol=1e-6)


def test_gaussian_log_likelihood_gradient_is_autograds_of_the_formula():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 1, 6, generator=generator, dtype=torch.float64).requires_grad_(True)
    mean = torch.randn(2, 5, 3, 6, generator=generator, dtype=torch.float64).requires_grad_(True)
    std = (torch.rand(2, 5, 3, 6, generator=generator, dtype=torch.float64) + 0.05).requires_grad_(True)
    weights = torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)
    fused = gaussian_log_likelihood(x, mean, std)
    reference = _gaussian_log_prob_sum(x, mean, std)
    assert torch.equal(fused, reference)  # the value is the formula's, bit for bit
    grads = torch.autograd.grad((fused * weights).sum(), (x, mean, std))
    expected = torch.autograd.grad((reference * weights).sum(), (x, mean, std))
    for got, want in zip(grads, expected):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # Only what is asked for is computed; without gradients the plain formula runs.
    (only_mean,) = torch.autograd.grad(gaussian_log_likelihood(x.detach(), mean, std.detach()).sum(), mean)
    torch.testing.assert_close(
        only_mean,
        torch.autograd.grad(_gaussian_log_prob_sum(x, mean, std).sum(), mean)[0],
        rtol=1e-12,
        atol=1e-12,
    )
    with torch.no_grad():
        assert torch.equal(gaussian_log_likelihood(x, mean, std), reference)
    # A std shared across the batch (broadcast) gets its gradient summed, as autograd does.
    shared_std = std[0, 0].detach().clone().requires_grad_(True)
    got = torch.autograd.grad(gaussian_log_likelihood(x, mean, shared_std).sum(), (mean, shared_std))
    want = torch.autograd.grad(_gaussian_log_prob_sum(x, mean, shared_std).sum(), (mean, shared_std))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
