"""Soft-DTW: the compiled CPU kernel and the PyTorch twin give the original's values and gradients."""

import shutil
from pathlib import Path

import pytest
import torch

from naturalspeech import soft_dtw as soft_dtw_module
from naturalspeech.soft_dtw import ExtensionMissingError, SoftDTW, soft_dtw

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ["cython", "torch"]


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "soft_dtw.pt", weights_only=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("setting", ["repo", "smooth"])
def test_values_and_gradients_equal_the_original(fixture, backend, setting):
    """`repo` is the original's loss setting (gamma 0.01, warp 134.4); `smooth` (gamma 1, warp 0.07)
    exercises the soft minimum. Both equal the original's numba path to the last bit."""
    config = fixture["config"][setting]
    costs = fixture["inputs"]["D"].clone().requires_grad_(True)
    values = soft_dtw(costs, gamma=config["gamma"], warp=config["warp"], backend=backend)
    values.sum().backward()
    torch.testing.assert_close(values, fixture["outputs"][f"sdtw_{setting}_value"], rtol=1e-6, atol=0)
    torch.testing.assert_close(costs.grad, fixture["outputs"][f"sdtw_{setting}_grad"], rtol=0, atol=1e-6)


def random_batch(generator, batch=3):
    n_rows, n_cols = (int(x) for x in torch.randint(1, 40, (2,), generator=generator))
    costs = torch.rand(batch, n_rows, n_cols, generator=generator) * 3
    lengths_n = torch.randint(1, n_rows + 1, (batch,), generator=generator)
    lengths_m = torch.randint(1, n_cols + 1, (batch,), generator=generator)
    return costs, lengths_n, lengths_m


@pytest.mark.parametrize("gamma, warp", [(0.01, 134.4), (1.0, 0.07), (0.1, 1.0)])
def test_twin_equals_compiled_kernel_and_items_ignore_their_padding(gamma, warp):
    generator = torch.Generator().manual_seed(1)
    for _ in range(25):
        costs, lengths_n, lengths_m = random_batch(generator)
        results = {}
        for backend in BACKENDS:
            leaf = costs.clone().requires_grad_(True)
            values = soft_dtw(leaf, lengths_n, lengths_m, gamma, warp, backend=backend)
            values.sum().backward()
            results[backend] = values, leaf.grad
        torch.testing.assert_close(results["torch"][0], results["cython"][0], rtol=1e-6, atol=0)
        torch.testing.assert_close(results["torch"][1], results["cython"][1], rtol=0, atol=1e-6)
        values, grad = results["cython"]
        for item in range(len(costs)):
            n, m = int(lengths_n[item]), int(lengths_m[item])
            alone = soft_dtw(costs[item : item + 1, :n, :m].contiguous(), gamma=gamma, warp=warp)
            assert torch.equal(alone[0], values[item])  # per-item lengths: padding changes nothing
            assert not grad[item, n:].any() and not grad[item, :, m:].any()


def test_gradient_matches_finite_differences():
    torch.manual_seed(0)
    costs = torch.rand(2, 5, 4) * 2
    leaf = costs.clone().requires_grad_(True)
    soft_dtw(leaf, gamma=1.0, warp=0.5).sum().backward()
    step = 1e-2
    numeric = torch.zeros_like(costs)
    for index in range(costs.numel()):
        shift = torch.zeros(costs.numel())
        shift[index] = step
        shift = shift.view_as(costs)
        up = soft_dtw(costs + shift, gamma=1.0, warp=0.5).sum()
        down = soft_dtw(costs - shift, gamma=1.0, warp=0.5).sum()
        numeric.view(-1)[index] = (up - down) / (2 * step)
    torch.testing.assert_close(leaf.grad, numeric, atol=2e-3, rtol=1e-2)


def test_module_and_argument_checks():
    module = SoftDTW(gamma=0.01, warp=134.4)
    assert "warp=134.4" in repr(module)
    assert module(torch.rand(2, 3, 3)).shape == (2,)
    with pytest.raises(ValueError, match="backend"):
        soft_dtw(torch.rand(1, 2, 2), backend="numba")
    with pytest.raises(ValueError, match=r"lengths \[5\]"):
        soft_dtw(torch.rand(1, 2, 2), torch.tensor([5]))
    with pytest.raises(ValueError, match="gamma"):
        soft_dtw(torch.rand(1, 2, 2), gamma=0.0)


def test_missing_extension_says_to_run_install_sh(monkeypatch):
    monkeypatch.setattr(soft_dtw_module, "_cython_forward", None)
    with pytest.raises(ExtensionMissingError, match="bash install.sh"):
        soft_dtw(torch.rand(1, 3, 3))
    assert soft_dtw(torch.rand(1, 3, 3), backend="torch").shape == (1,)  # chosen explicitly


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc: the CUDA kernel cannot be built here")
def test_cuda_kernel_compiles_and_loads(tmp_path):
    """Compiled only: no GPU here, so the kernel never runs in this test suite."""
    from naturalspeech.soft_dtw import cuda

    library = cuda.load(cuda.build(tmp_path / "soft_dtw_cuda.so"))
    assert library.ns_soft_dtw_cuda_error(0) == b"no error"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="needs CUDA tensors"):
            cuda.forward(torch.rand(1, 2, 2), torch.tensor([2]), torch.tensor([2]), 1.0, 0.0)
