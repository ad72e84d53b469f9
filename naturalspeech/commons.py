"""Small tensor helpers shared by the networks (VITS' commons.py): masks, padding, segment slicing, and the
source of the model's random draws (replayable, so a test can inject the original's recorded noise)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel with the given dilation."""
    return (kernel_size * dilation - dilation) // 2


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """lengths (B,) -> (B, max_length) bool, True on valid positions."""
    if max_length is None:
        max_length = int(lengths.max())
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def intersperse(ids: list[int], blank: int = 0) -> list[int]:
    """[a, b] -> [blank, a, blank, b, blank] (VITS' add_blank): 2 n + 1 ids."""
    result = [blank] * (2 * len(ids) + 1)
    result[1::2] = ids
    return result


def slice_segments(x: torch.Tensor, starts: torch.Tensor, segment_size: int) -> torch.Tensor:
    """x (B, C, T), starts (B,) -> (B, C, segment_size): x[b, :, starts[b] : starts[b] + segment_size],
    zero beyond the end of x (an utterance shorter than a segment)."""
    if x.size(2) < segment_size + int(starts.max()):
        x = F.pad(x, (0, segment_size + int(starts.max()) - x.size(2)))
    index = starts.to(x.device)[:, None] + torch.arange(segment_size, device=x.device)[None, :]
    return torch.gather(x, 2, index[:, None, :].expand(-1, x.size(1), -1))


def rand_slice_segments(
    x: torch.Tensor, lengths: torch.Tensor, segment_size: int, draws: Draws
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random segment of each utterance: start = floor(u * (length - segment_size + 1)), u ~ U[0, 1)
    drawn on the CPU as the original does (so its RNG stream is the CPU one). -> (segments, starts)."""
    highest = (lengths - segment_size + 1).clamp_min(1)
    u = draws.uniform(x.size(0)).to(x.device)
    starts = (u * highest).to(torch.long)
    return slice_segments(x, starts, segment_size), starts


class Draws:
    """Where the model's random numbers come from: torch's generators, in the original's call order
    (`normal_like` is torch.randn_like, `uniform(n)` is torch.rand([n]) on the CPU)."""

    def normal_like(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand([n])


class ReplayDraws(Draws):
    """Recorded draws handed out in order (parity tests replay the original's noise); a draw of another
    shape, or one more than recorded, is an error."""

    def __init__(self, recorded: list[torch.Tensor]):
        self.recorded = list(recorded)
        self.used = 0

    def _next(self, shape: tuple[int, ...]) -> torch.Tensor:
        if self.used >= len(self.recorded):
            raise RuntimeError(
                f"ReplayDraws: draw {self.used + 1} asked for, only {len(self.recorded)} recorded"
            )
        draw = self.recorded[self.used]
        if tuple(draw.shape) != tuple(shape):
            raise RuntimeError(
                f"ReplayDraws: draw {self.used + 1} has shape {tuple(draw.shape)}, not {shape}"
            )
        self.used += 1
        return draw

    def normal_like(self, x: torch.Tensor) -> torch.Tensor:
        return self._next(tuple(x.shape)).to(device=x.device, dtype=x.dtype)

    def uniform(self, n: int) -> torch.Tensor:
        return self._next((n,))


def gated_activation(x: torch.Tensor, n_channels: int) -> torch.Tensor:
    """WaveNet's gate: tanh of the first n_channels channels times the sigmoid of the rest."""
    return torch.tanh(x[:, :n_channels]) * torch.sigmoid(x[:, n_channels:])
