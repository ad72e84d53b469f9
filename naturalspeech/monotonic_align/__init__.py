"""Monotonic alignment search: the most likely monotonic, non-skipping path of frames through tokens.

    path = maximum_path(neg_cent, mask)            # the compiled search (install.sh builds it)
    path = maximum_path(neg_cent, mask, backend="torch")   # the pure-PyTorch twin, on any device

neg_cent: (B, T_frames, T_tokens) log-likelihood of each frame under each token's prior; mask: the same
shape, 1 on valid (frame, token) pairs (valid lengths are read from it, as VITS does). Returns the 0/1
path, (B, T_frames, T_tokens), in neg_cent's dtype and device; path.sum(1) are the token durations.

Both give VITS' `monotonic_align.maximum_path` bit for bit (tests/test_monotonic_align.py, fixture
`mas.pt`, ties included: on equal scores the path stays on its token). An utterance with more tokens
than frames has no monotonic path; it gets an all-zero path (VITS reads outside the matrix there).

Memory: one float32 copy of neg_cent and a float32 path of the same shape, on the CPU (the compiled
search copies GPU inputs to the host, as VITS does); the twin works on the input's device with one
float32 copy and a boolean "moved to the previous token" matrix of the same shape.
"""

from __future__ import annotations

import torch

BACKENDS = ("cython", "torch")
UNREACHABLE = -1e9  # VITS' max_neg_val, in float32

try:
    from .core import maximum_path_c
except ImportError as error:  # the extension is built by install.sh; say so instead of a bare ImportError
    maximum_path_c = None
    _IMPORT_ERROR = error
else:
    _IMPORT_ERROR = None


class ExtensionMissingError(ImportError):
    """A compiled extension of this folder was not built."""


def require_extension():
    if maximum_path_c is None:
        raise ExtensionMissingError(
            "naturalspeech's monotonic alignment search is a Cython extension that is not built "
            f"({_IMPORT_ERROR}). Run `bash install.sh` in the repository root (it needs a C compiler and "
            "the Python headers), or choose the pure-PyTorch twin explicitly (backend='torch'; in train.py "
            '--set train.mas_backend=torch, or "mas_backend": "torch" in the config)'
        )
    return maximum_path_c


def lengths_from_mask(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames (B,), tokens (B,)) valid lengths of a (B, T_frames, T_tokens) mask, read as VITS does (the
    frames of token 0 and the tokens of frame 0), summing one column and one row only."""
    return mask[:, :, 0].sum(1).long(), mask[:, 0, :].sum(1).long()


def maximum_path(neg_cent: torch.Tensor, mask: torch.Tensor, backend: str = "cython") -> torch.Tensor:
    """The 0/1 monotonic path (B, T_frames, T_tokens) maximising the summed neg_cent (see module doc)."""
    if backend == "torch":
        return maximum_path_torch(neg_cent, mask)
    if backend != "cython":
        raise ValueError(f"MAS backend {backend!r}: choose from {', '.join(BACKENDS)}")
    search = require_extension()
    scores = neg_cent.detach().to("cpu", torch.float32)
    if scores is neg_cent or scores.data_ptr() == neg_cent.data_ptr():
        scores = scores.clone()  # the search accumulates in place
    paths = torch.zeros(scores.shape, dtype=torch.float32)
    frames, tokens = lengths_from_mask(mask.detach())
    search(
        paths.numpy(),
        scores.contiguous().numpy(),
        frames.to("cpu", torch.int32).numpy(),
        tokens.to("cpu", torch.int32).numpy(),
    )
    return paths.to(device=neg_cent.device, dtype=neg_cent.dtype)


@torch.no_grad()
def maximum_path_torch(neg_cent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The same search in PyTorch on neg_cent's device: one step per frame, each vectorised over the batch
    and the tokens, in float32 with the compiled version's operation order (so ties fall alike)."""
    batch, n_frames_max, n_tokens_max = neg_cent.shape
    device = neg_cent.device
    frames, tokens = lengths_from_mask(mask)
    frames, tokens = frames.to(device), tokens.to(device)
    score = neg_cent.detach().to(torch.float32).clone()
    unreachable = torch.tensor(UNREACHABLE, dtype=torch.float32, device=device)
    k = torch.arange(n_tokens_max, device=device)
    searchable = (tokens <= frames) & (tokens > 0)
    for t in range(n_frames_max):
        first = (tokens - frames + t).clamp_min(0)[:, None]
        stop = torch.minimum(tokens, torch.full_like(tokens, t + 1))[:, None]
        admissible = (k >= first) & (k < stop) & searchable[:, None] & (t < frames)[:, None]
        if t == 0:
            stay = unreachable.expand(batch, n_tokens_max)
            advance = torch.where(k == 0, torch.zeros((), device=device), unreachable).expand(batch, -1)
        else:
            previous = score[:, t - 1]
            stay = torch.where(k == t, unreachable, previous)
            advance = torch.cat([unreachable.expand(batch, 1), previous[:, :-1]], dim=1)
        best = torch.where(advance > stay, advance, stay)
        score[:, t] = torch.where(admissible, score[:, t] + best, score[:, t])

    path = torch.zeros(batch, n_frames_max, n_tokens_max, dtype=neg_cent.dtype, device=device)
    index = (tokens - 1).clamp_min(0)
    rows = torch.arange(batch, device=device)
    for t in range(n_frames_max - 1, -1, -1):
        active = searchable & (t < frames)
        path[rows[active], t, index[active]] = 1
        if t == 0:
            break
        here = score[rows, t - 1, index]
        before = score[rows, t - 1, (index - 1).clamp_min(0)]
        move = active & (index != 0) & ((index == t) | (here < before))
        index = index - move.long()
    return path
