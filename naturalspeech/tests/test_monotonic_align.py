"""Monotonic alignment search: the compiled search and its PyTorch twin equal VITS' maximum_path."""

from pathlib import Path

import pytest
import torch

from naturalspeech import monotonic_align
from naturalspeech.monotonic_align import ExtensionMissingError, maximum_path

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ["cython", "torch"]


@pytest.fixture(scope="module")
def mas():
    return torch.load(FIXTURES / "mas.pt", weights_only=True)


def neg_cent_from_prior(z_p, m_p, logs_p):
    """VITS' log-likelihood of each frame of z_p (B, C, T_frames) under each token's prior (B, C, T_tokens)
    -> (B, T_frames, T_tokens), in its four terms."""
    s_p_sq_r = torch.exp(-2 * logs_p)
    term1 = torch.sum(-0.5 * torch.log(torch.tensor(2 * torch.pi)) - logs_p, [1], keepdim=True)
    term2 = torch.matmul(-0.5 * (z_p**2).transpose(1, 2), s_p_sq_r)
    term3 = torch.matmul(z_p.transpose(1, 2), m_p * s_p_sq_r)
    term4 = torch.sum(-0.5 * (m_p**2) * s_p_sq_r, [1], keepdim=True)
    return term1 + term2 + term3 + term4


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixture_paths_durations_and_ties(mas, backend):
    inputs, outputs = mas["inputs"], mas["outputs"]
    path = maximum_path(outputs["neg_cent"], outputs["attn_mask"], backend=backend)
    assert torch.equal(path, outputs["path"])
    assert torch.equal(path.sum(1), outputs["durations"])
    assert torch.equal(path.sum(1).sum(1), inputs["y_lengths"].float())
    tie_path = maximum_path(inputs["tie_values"], inputs["tie_mask"], backend=backend)
    assert torch.equal(tie_path, outputs["tie_path"])  # on equal scores the path stays on its token
    square = inputs["square_values"]
    assert torch.equal(maximum_path(square, torch.ones_like(square), backend=backend), outputs["square_path"])


def test_fixture_likelihood_matrix(mas):
    inputs, outputs = mas["inputs"], mas["outputs"]
    neg_cent = neg_cent_from_prior(inputs["z_p"], inputs["m_p"], inputs["logs_p"])
    torch.testing.assert_close(neg_cent, outputs["neg_cent"], atol=1e-4, rtol=1e-5)


def random_case(generator, batch=3, integer_scores=False):
    n_frames = int(torch.randint(1, 40, (1,), generator=generator))
    n_tokens = int(torch.randint(1, n_frames + 1, (1,), generator=generator))
    if integer_scores:  # many ties
        scores = torch.randint(-2, 3, (batch, n_frames, n_tokens), generator=generator).float()
    else:
        scores = torch.randn(batch, n_frames, n_tokens, generator=generator)
    frames = torch.randint(n_tokens, n_frames + 1, (batch,), generator=generator)
    tokens = torch.stack([torch.randint(1, n_tokens + 1, (1,), generator=generator)[0] for _ in range(batch)])
    tokens = torch.minimum(tokens, frames)
    mask = (torch.arange(n_frames)[None, :, None] < frames[:, None, None]) & (
        torch.arange(n_tokens)[None, None, :] < tokens[:, None, None]
    )
    return scores, mask.float(), frames, tokens


def test_twin_equals_compiled_search_on_random_inputs():
    generator = torch.Generator().manual_seed(0)
    for trial in range(150):
        scores, mask, frames, tokens = random_case(generator, integer_scores=trial % 2 == 0)
        compiled = maximum_path(scores, mask)
        assert torch.equal(compiled, maximum_path(scores, mask, backend="torch")), trial
        # A monotonic path: one token per valid frame, each valid token visited, starting at token 0.
        assert torch.equal(compiled.sum(2).sum(1), frames.float())
        assert torch.equal((compiled.sum(1) > 0).sum(1), tokens)


def test_more_tokens_than_frames_gives_an_empty_path():
    scores = torch.randn(1, 3, 5)
    for backend in BACKENDS:
        assert maximum_path(scores, torch.ones_like(scores), backend=backend).sum() == 0


def test_missing_extension_says_to_run_install_sh(monkeypatch):
    monkeypatch.setattr(monotonic_align, "maximum_path_c", None)
    scores = torch.randn(1, 4, 2)
    with pytest.raises(ExtensionMissingError, match="bash install.sh"):
        maximum_path(scores, torch.ones_like(scores))
    # the twin stays available, but only when asked for
    assert maximum_path(scores, torch.ones_like(scores), backend="torch").sum() == 4
