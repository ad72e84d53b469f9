"""The loss functions equal the original's (fixtures gan_losses.pt and soft_dtw.pt), and our soft-DTW KL
default no longer depends on how much an item is padded in its batch."""

from pathlib import Path

import pytest
import torch

from naturalspeech import losses

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("z_p", "logs_q", "m_p", "logs_p")


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "soft_dtw.pt", weights_only=True)


def test_gan_losses():
    fixture = torch.load(FIXTURES / "gan_losses.pt", weights_only=True)
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    loss, real_terms, fake_terms = losses.discriminator_loss(inputs["disc_real"], inputs["disc_fake"])
    torch.testing.assert_close(loss, outputs["discriminator_loss"], atol=1e-6, rtol=0)
    assert [float(t) for t in real_terms] == pytest.approx(outputs["disc_r_losses"], abs=1e-6)
    assert [float(t) for t in fake_terms] == pytest.approx(outputs["disc_g_losses"], abs=1e-6)
    loss, terms = losses.generator_loss(inputs["disc_fake"])
    torch.testing.assert_close(loss, outputs["generator_loss"], atol=1e-6, rtol=0)
    torch.testing.assert_close(
        torch.stack(terms), torch.stack(outputs["generator_losses"]), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        losses.feature_loss(inputs["fmap_r"], inputs["fmap_g"]), outputs["feature_loss"], atol=1e-6, rtol=0
    )


def leaves(inputs, prefix=""):
    return {name: inputs[prefix + name].clone().requires_grad_(True) for name in NAMES}


def test_frame_aligned_kl_and_gradients(fixture):
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    tensors = leaves(inputs, "kl_")
    loss = losses.kl_loss(*tensors.values(), inputs["kl_z_mask"])
    loss.backward()
    torch.testing.assert_close(loss, outputs["kl_loss"], atol=1e-5, rtol=1e-6)
    for name, tensor in tensors.items():
        torch.testing.assert_close(tensor.grad, outputs[f"kl_loss_grad_{name}"], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("exact", [True, False])
def test_soft_dtw_kl_as_the_original_computes_it(fixture, exact):
    """padding_independent=False is the original's computation: with its channel loop (exact) the value
    and gradients are the original's bit for bit; the fast matrix products agree to float32 rounding."""
    inputs, outputs = fixture["inputs"], fixture["outputs"]
    matrix = losses.sdtw_kl_matrix(*(inputs[name] for name in NAMES), exact=exact)
    torch.testing.assert_close(
        matrix, outputs["kl_matrix"], atol=0 if exact else 1e-5, rtol=0 if exact else 1e-6
    )
    tensors = leaves(inputs)
    loss = losses.kl_loss_dtw(
        *tensors.values(), inputs["p_mask"], inputs["q_mask"], padding_independent=False, exact_matrix=exact
    )
    loss.backward()
    torch.testing.assert_close(loss, outputs["kl_loss_dtw"], atol=0, rtol=1e-6)
    for name, tensor in tensors.items():
        tolerance = dict(atol=0, rtol=0) if exact else dict(atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(tensor.grad, outputs[f"kl_loss_dtw_grad_{name}"], **tolerance)


def item_alone(inputs, item, padding_independent):
    n, m = int(inputs["p_mask"][item].sum()), int(inputs["q_mask"][item].sum())
    z_p, logs_q, m_p, logs_p = (inputs[name][item : item + 1] for name in NAMES)
    loss = losses.kl_loss_dtw(
        z_p[..., :m],
        logs_q[..., :m],
        m_p[..., :n],
        logs_p[..., :n],
        inputs["p_mask"][item : item + 1, :n],
        inputs["q_mask"][item : item + 1, :m],
        padding_independent=padding_independent,
    )
    return float(loss) * n  # the summed soft-DTW value of the item


def test_padding_changes_the_original_loss_but_not_ours(fixture):
    inputs = fixture["inputs"]
    n_valid = float(inputs["p_mask"].sum())
    alone = [item_alone(inputs, item, padding_independent=False) for item in (0, 1)]
    assert alone[1] == pytest.approx(141.13, abs=0.01)  # the facts measured on the original
    legacy = (
        float(
            losses.kl_loss_dtw(
                *(inputs[name] for name in NAMES),
                inputs["p_mask"],
                inputs["q_mask"],
                padding_independent=False,
            )
        )
        * n_valid
    )
    # The original: item 1, one prior and three posterior frames shorter than item 0, pays the warp
    # twice more inside the batch (409.91 - 141.13 = 2 x 134.4).
    assert legacy - alone[0] == pytest.approx(alone[1] + 2 * losses.SDTW_WARP, abs=0.05)
    fixed = float(losses.kl_loss_dtw(*(inputs[name] for name in NAMES), inputs["p_mask"], inputs["q_mask"]))
    assert fixed * n_valid == pytest.approx(sum(alone), rel=1e-6)
    assert [item_alone(inputs, item, True) for item in (0, 1)] == pytest.approx(alone, rel=1e-6)
