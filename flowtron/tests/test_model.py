"""Behaviour of the model beyond the fixtures: published names and shapes, flow invertibility, the
log-determinant, padding invariance, gradients reaching every weight."""

import json
from pathlib import Path

import pytest
import torch

from flowtron.flowtron import Flowtron
from flowtron.losses import FlowtronLoss

pytestmark = pytest.mark.usefixtures("one_thread")
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_state_dict.json").read_text())
TINY = dict(n_speakers=3, n_speaker_dim=4, n_text_dim=8, n_attn_channels=6, n_hidden=8, n_mel_channels=5)


def shapes(model) -> list:
    return [[name, list(tensor.shape)] for name, tensor in model.state_dict().items()]


def test_default_state_dict_has_the_published_names_and_shapes():
    with torch.device("meta"):
        model = Flowtron()
        assert shapes(model) == [entry[:2] for entry in REFERENCE["default"]]
        assert sum(p.numel() for p in model.parameters()) == 60_977_473


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ("variant_use_cumm_attention", dict(use_cumm_attention=True)),
        ("variant_n_components_2", dict(n_components=2)),
        ("variant_n_flows_3", dict(n_flows=3)),
    ],
)
def test_variants_add_the_published_keys(variant, options):
    with torch.device("meta"):
        default = {name for name, _ in shapes(Flowtron())}
        model = Flowtron(**options)
    added = [entry for entry in shapes(model) if entry[0] not in default]
    assert sorted(added) == sorted(entry[:2] for entry in REFERENCE[variant])
    if "n_flows" in options:  # the gate moves to the last flow
        assert "flows.1.ar_step.gate_layer.linear_layer.weight" not in dict(shapes(model))


def randomised(model, scale=0.3, seed=0):
    """Non-zero coupling convs (the original zero-initialises them, which makes every flow the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for flow in model.flows:
            step = getattr(flow, "ar_step", flow)
            step.conv.weight.copy_(torch.randn(step.conv.weight.shape, generator=generator) * scale)
            step.conv.bias.copy_(torch.randn(step.conv.bias.shape, generator=generator) * scale)
    return model.eval()


@pytest.mark.parametrize("n_flows", [1, 2, 3])
@pytest.mark.parametrize("cumulative", [False, True])
def test_inference_inverts_the_forward_pass(n_flows, cumulative):
    torch.manual_seed(n_flows)
    model = randomised(Flowtron(n_flows=n_flows, use_cumm_attention=cumulative, **TINY))
    text = torch.randint(1, 185, (1, 7))
    residual = torch.randn(1, 5, 12)
    mel = model.infer(residual, torch.tensor([2]), text, gate_threshold=2.0).mel
    z = model(mel, torch.tensor([2]), text, torch.tensor([7]), torch.tensor([12])).z
    torch.testing.assert_close(z.permute(1, 2, 0), residual, atol=1e-5, rtol=1e-5)


def test_forward_then_inverse_returns_the_mel():
    torch.manual_seed(0)
    model = randomised(Flowtron(**TINY))
    text, mel = torch.randint(1, 185, (1, 6)), torch.randn(1, 5, 9)
    z = model(mel, torch.tensor([0]), text, torch.tensor([6]), torch.tensor([9])).z
    back = model.infer(z.permute(1, 2, 0), torch.tensor([0]), text, gate_threshold=2.0).mel
    torch.testing.assert_close(back, mel, atol=1e-5, rtol=1e-5)


def test_log_determinant_matches_autograd():
    """sum log_s is log|det dz/dx| of the whole flow (the Jacobian is triangular in time order)."""
    torch.manual_seed(1)
    model = randomised(Flowtron(n_flows=2, **TINY), scale=0.2).double()
    text = torch.randint(1, 185, (1, 4))
    mel = torch.randn(1, 5, 3, dtype=torch.float64)

    def flow(x):
        return model(
            x.reshape(1, 5, 3), torch.tensor([1]), text, torch.tensor([4]), torch.tensor([3])
        ).z.reshape(-1)

    jacobian = torch.autograd.functional.jacobian(flow, mel.reshape(-1))
    output = model(mel, torch.tensor([1]), text, torch.tensor([4]), torch.tensor([3]))
    log_det = sum(log_s.sum() for log_s in output.log_s_list)
    torch.testing.assert_close(torch.linalg.slogdet(jacobian)[1], log_det, atol=1e-9, rtol=1e-9)


def test_padding_does_not_change_valid_outputs():
    torch.manual_seed(2)
    model = randomised(Flowtron(**TINY))
    text = torch.randint(1, 185, (2, 6))
    mel = torch.randn(2, 5, 10)
    in_lens, out_lens = torch.tensor([6, 4]), torch.tensor([7, 10])
    batch = model(mel, torch.tensor([0, 1]), text, in_lens, out_lens)
    for b in range(2):
        single = model(
            mel[b : b + 1, :, : out_lens[b]],
            torch.tensor([b]),
            text[b : b + 1, : in_lens[b]],
            in_lens[b : b + 1],
            out_lens[b : b + 1],
        )
        torch.testing.assert_close(batch.z[: out_lens[b], b], single.z[:, 0], atol=1e-5, rtol=1e-5)


def test_backward_reaches_every_parameter():
    torch.manual_seed(3)
    model = randomised(Flowtron(**TINY)).train()
    text, mel = torch.randint(1, 185, (2, 6)), torch.randn(2, 5, 8)
    in_lens, out_lens = torch.tensor([6, 5]), torch.tensor([8, 6])
    gate = (torch.arange(8)[None] >= out_lens[:, None] - 1).float()
    output = model(mel, torch.tensor([0, 2]), text, in_lens, out_lens, torch.rand(2, 8, 6))
    FlowtronLoss(use_ctc_loss=True)(output, gate, in_lens, out_lens).total(0.01, True).backward()
    missing = [
        name for name, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]
    assert missing == ["speaker_embedding.weight"] or missing == []


def test_gate_stops_inference_and_keeps_the_firing_frame():
    torch.manual_seed(4)
    model = randomised(Flowtron(**TINY))
    with torch.no_grad():
        model.flows[1].ar_step.gate_layer.linear_layer.bias.fill_(-50)
    text = torch.randint(1, 185, (1, 5))
    result = model.infer(torch.zeros(1, 5, 30), torch.tensor([0]), text, gate_threshold=0.5)
    assert result.mel.shape[2] == 30 and not result.gate_fired
    with torch.no_grad():
        model.flows[1].ar_step.gate_layer.linear_layer.bias.fill_(50)
    result = model.infer(torch.zeros(1, 5, 30), torch.tensor([0]), text, gate_threshold=0.5)
    assert result.mel.shape[2] == 1 and result.gate_fired and len(result.gate_logits) == 1


def test_dummy_speaker_embedding_uses_row_zero():
    torch.manual_seed(5)
    model = randomised(Flowtron(dummy_speaker_embedding=True, **TINY))
    text, mel = torch.randint(1, 185, (1, 5)), torch.randn(1, 5, 6)
    outputs = [model(mel, torch.tensor([s]), text, torch.tensor([5]), torch.tensor([6])).z for s in (0, 2)]
    torch.testing.assert_close(outputs[0], outputs[1], atol=0, rtol=0)


def test_one_component_gmm_is_refused():
    with pytest.raises(ValueError, match="n_components=1"):
        Flowtron(n_components=1, **TINY)
