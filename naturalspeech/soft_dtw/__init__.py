"""Soft-DTW with a warp penalty (NaturalSpeech's alignment-free KL), differentiable, three backends.

    values = soft_dtw(D, gamma=0.01, warp=134.4)                    # (B,) from costs D (B, N, M)
    values = soft_dtw(D, lengths_n, lengths_m, backend="torch")     # per-item lengths, pure PyTorch

Backends (the same numbers; tests/test_soft_dtw.py holds them equal and to the original's fixture):
  * "cython": the compiled CPU kernel (`core.pyx`, built by install.sh). Inputs on a GPU are copied to
    the host, as the original's numba path does during GPU training. The default.
  * "torch": a pure-PyTorch twin on the input's device, one step per anti-diagonal of the table.
  * "cuda": a CUDA kernel (`csrc/soft_dtw_cuda.cu`), compiled with nvcc into this folder on first use
    (`python -m naturalspeech.soft_dtw.cuda` builds it ahead). It has compiled here but has never
    run: no GPU was available. Opt in explicitly.
A missing compiled extension is an error that says to run install.sh; nothing falls back silently.

Recursion, float64 dynamic programme, float32 table for the backward pass: see `core.pyx`.
lengths_n, lengths_m: (B,) valid rows and columns of each item (default: the whole matrix, which is
the original's behaviour on a padded batch).

Memory (B items, table N x M): "cython" keeps R float32 (B, N+2, M+2) from forward to backward plus
O(M) float64 scratch; "torch" keeps the same R and needs three float64 (B, N+2, M+2) tensors (table,
padded costs, E) at once in each pass; "cuda" keeps R float32 and a float64 (B, N+2, M+2) scratch table
in each pass. For B = 16 and 800 x 800 frames: R 41 MB; float64 tables 82 MB each.
"""

from __future__ import annotations

import math

import torch

BACKENDS = ("cython", "torch", "cuda")

try:
    from .core import soft_dtw_backward as _cython_backward
    from .core import soft_dtw_forward as _cython_forward
except ImportError as error:
    _cython_forward = _cython_backward = None
    _IMPORT_ERROR = error
else:
    _IMPORT_ERROR = None


class ExtensionMissingError(ImportError):
    """A compiled extension of this folder was not built."""


def require_extension() -> None:
    if _cython_forward is None:
        raise ExtensionMissingError(
            f"naturalspeech's soft-DTW is a Cython extension that is not built ({_IMPORT_ERROR}). Run "
            "`bash install.sh` in the repository root (it needs a C compiler and the Python headers), or "
            "choose the pure-PyTorch twin explicitly (backend='torch'; in train.py --set "
            'train.soft_dtw_backend=torch, or "soft_dtw_backend": "torch" in the config)'
        )


def _lengths(lengths: torch.Tensor | None, size: int, batch: int) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), size, dtype=torch.int64)
    lengths = lengths.detach().to("cpu", torch.int64).reshape(-1)
    if lengths.numel() != batch or bool((lengths < 1).any()) or bool((lengths > size).any()):
        raise ValueError(f"soft-DTW lengths {lengths.tolist()} must be {batch} values in [1, {size}]")
    return lengths


# ---------------------------------------------------------------------------------------------------
# Compiled CPU kernel


def _forward_cython(D, lengths_n, lengths_m, gamma, warp):
    require_extension()
    costs = D.detach().to("cpu", torch.float32).contiguous()
    batch, n_rows, n_cols = costs.shape
    table = torch.empty(batch, n_rows + 2, n_cols + 2, dtype=torch.float32)
    values = torch.empty(batch, dtype=torch.float32)
    _cython_forward(
        costs.numpy(), lengths_n.numpy(), lengths_m.numpy(), gamma, warp, table.numpy(), values.numpy()
    )
    return values, table


def _backward_cython(D, table, lengths_n, lengths_m, gamma, warp):
    require_extension()
    costs = D.detach().to("cpu", torch.float32).contiguous()
    grad = torch.empty(costs.shape, dtype=torch.float32)  # every cell is written
    _cython_backward(
        costs.numpy(), table.numpy(), lengths_n.numpy(), lengths_m.numpy(), gamma, warp, grad.numpy()
    )
    return grad


# ---------------------------------------------------------------------------------------------------
# Pure-PyTorch twin: the cells of one anti-diagonal (i + j = p) depend only on the two before it.


def _diagonal(p: int, n_rows: int, n_cols: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Table indices (i, j), 1-based, of the cells with i + j = p."""
    i = torch.arange(max(1, p - n_cols), min(n_rows, p - 1) + 1, device=device)
    return i, p - i


def _forward_torch(D, lengths_n, lengths_m, gamma, warp):
    batch, n_rows, n_cols = D.shape
    device = D.device
    table = torch.full((batch, n_rows + 2, n_cols + 2), math.inf, dtype=torch.float64, device=device)
    table[:, 0, 0] = 0.0
    costs = D.detach().to(torch.float64)
    for p in range(2, n_rows + n_cols + 1):
        i, j = _diagonal(p, n_rows, n_cols, device)
        r0 = -table[:, i - 1, j - 1] / gamma
        r1 = -(table[:, i - 1, j] + warp) / gamma
        r2 = -(table[:, i, j - 1] + warp) / gamma
        rmax = torch.maximum(torch.maximum(r0, r1), r2)
        rsum = torch.exp(r0 - rmax) + torch.exp(r1 - rmax) + torch.exp(r2 - rmax)
        table[:, i, j] = costs[:, i - 1, j - 1] + (-gamma * (torch.log(rsum) + rmax))
    rows = torch.arange(batch, device=device)
    values = table[rows, lengths_n.to(device), lengths_m.to(device)].to(torch.float32)
    return values, table.to(torch.float32)


def _backward_torch(D, table32, lengths_n, lengths_m, gamma, warp):
    batch, n_rows, n_cols = D.shape
    device = D.device
    rows = torch.arange(batch, device=device)
    n, m = lengths_n.to(device), lengths_m.to(device)
    i_all = torch.arange(n_rows + 2, device=device)[None, :, None]
    j_all = torch.arange(n_cols + 2, device=device)[None, None, :]
    inside = (i_all >= 1) & (j_all >= 1) & (i_all <= n[:, None, None]) & (j_all <= m[:, None, None])
    # float32, as the original's table: the difference of two entries is taken in float32.
    table = table32.to(device=device, dtype=torch.float32)
    table = torch.where(inside, torch.where(torch.isinf(table), -math.inf, table), -math.inf)
    table[rows, n + 1, m + 1] = table32[rows, n, m].to(device)  # the original's border corner
    costs = torch.zeros(batch, n_rows + 2, n_cols + 2, dtype=torch.float64, device=device)
    costs[:, 1 : n_rows + 1, 1 : n_cols + 1] = D.detach().to(torch.float64)
    costs = torch.where(inside, costs, 0.0)
    e = torch.zeros_like(costs)
    e[rows, n + 1, m + 1] = 1.0
    for p in range(n_rows + n_cols, 1, -1):
        i, j = _diagonal(p, n_rows, n_cols, device)
        here = table[:, i, j]
        a = torch.exp(((table[:, i + 1, j] - here).double() - costs[:, i + 1, j] - warp) / gamma)
        b = torch.exp(((table[:, i, j + 1] - here).double() - costs[:, i, j + 1] - warp) / gamma)
        c = torch.exp(((table[:, i + 1, j + 1] - here).double() - costs[:, i + 1, j + 1]) / gamma)
        new = e[:, i + 1, j] * a + e[:, i, j + 1] * b + e[:, i + 1, j + 1] * c
        e[:, i, j] = torch.where(inside[:, i, j], new, e[:, i, j])
    e = torch.where(inside, e, 0.0)  # the corner (n + 1, m + 1) lies inside D when an item is padded
    return e[:, 1 : n_rows + 1, 1 : n_cols + 1].to(torch.float32)


# ---------------------------------------------------------------------------------------------------
# CUDA kernel (compiled on first use; never run here)


def _forward_cuda(D, lengths_n, lengths_m, gamma, warp):
    from .cuda import forward

    return forward(D, lengths_n, lengths_m, gamma, warp)


def _backward_cuda(D, table, lengths_n, lengths_m, gamma, warp):
    from .cuda import backward

    return backward(D, table, lengths_n, lengths_m, gamma, warp)


_FORWARD = {"cython": _forward_cython, "torch": _forward_torch, "cuda": _forward_cuda}
_BACKWARD = {"cython": _backward_cython, "torch": _backward_torch, "cuda": _backward_cuda}


class _SoftDTWFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, D, lengths_n, lengths_m, gamma, warp, backend):
        values, table = _FORWARD[backend](D, lengths_n, lengths_m, gamma, warp)
        ctx.save_for_backward(D, table, lengths_n, lengths_m)
        ctx.settings = (gamma, warp, backend)
        return values.to(device=D.device, dtype=D.dtype)

    @staticmethod
    def backward(ctx, grad_values):
        D, table, lengths_n, lengths_m = ctx.saved_tensors
        gamma, warp, backend = ctx.settings
        e = _BACKWARD[backend](D, table, lengths_n, lengths_m, gamma, warp)
        e = e.to(device=D.device, dtype=D.dtype)
        return e.mul_(grad_values.reshape(-1, 1, 1)), None, None, None, None, None


def soft_dtw(
    D: torch.Tensor,
    lengths_n: torch.Tensor | None = None,
    lengths_m: torch.Tensor | None = None,
    gamma: float = 1.0,
    warp: float = 0.07,
    backend: str = "cython",
) -> torch.Tensor:
    """(B,) soft-DTW values of the cost matrices D (B, N, M); differentiable with respect to D."""
    if backend not in BACKENDS:
        raise ValueError(f"soft-DTW backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if D.dim() != 3:
        raise ValueError(f"soft-DTW needs costs (B, N, M), got shape {tuple(D.shape)}")
    if not gamma > 0:
        raise ValueError(f"soft-DTW gamma must be positive, got {gamma}")
    batch, n_rows, n_cols = D.shape
    n = _lengths(lengths_n, n_rows, batch)
    m = _lengths(lengths_m, n_cols, batch)
    # The original hands gamma and warp to its kernels through float32 tensors (0.01 -> 0.0099999998).
    gamma, warp = (float(torch.tensor(value, dtype=torch.float32)) for value in (gamma, warp))
    return _SoftDTWFunction.apply(D, n, m, gamma, warp, backend)


class SoftDTW(torch.nn.Module):
    """soft_dtw as a module with its settings, as the original's `SoftDTW(gamma=..., warp=...)`."""

    def __init__(self, gamma: float = 1.0, warp: float = 0.07, backend: str = "cython"):
        super().__init__()
        self.gamma, self.warp, self.backend = gamma, warp, backend

    def forward(self, D, lengths_n=None, lengths_m=None):
        return soft_dtw(D, lengths_n, lengths_m, self.gamma, self.warp, self.backend)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, warp={self.warp}, backend={self.backend!r}"
