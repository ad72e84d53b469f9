"""k-means for the memory bank's initial slots, in PyTorch (CPU or GPU), fast enough for LJ Speech.

The original runs scikit-learn's KMeans (k-means++ init, Lloyd iterations, n_init 'auto' = 1) on every
posterior frame of the training set, about 7 M x 192 values: users report ~10 hours on a CPU. Here the
same algorithm runs on a uniform random sample of at most `max_points` frames (default 262,144: the
centres of 1,000 clusters move little with more), with greedy k-means++ seeding on a smaller sample, and
distances as matrix products in chunks: minutes on a CPU, seconds on a GPU.
"""

from __future__ import annotations

import math

import torch


def _squared_distances(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(N, K) squared Euclidean distances, ||x||^2 - 2 x.c + ||c||^2, clamped at 0."""
    cross = points @ centres.T
    return (points.pow(2).sum(1, keepdim=True) - 2 * cross + centres.pow(2).sum(1)[None]).clamp_min_(0)


def _nearest(points: torch.Tensor, centres: torch.Tensor, chunk: int = 65536):
    """(index (N,), squared distance (N,)) of each point's nearest centre."""
    indices, distances = [], []
    for start in range(0, len(points), chunk):
        best = _squared_distances(points[start : start + chunk], centres).min(dim=1)
        indices.append(best.indices)
        distances.append(best.values)
    return torch.cat(indices), torch.cat(distances)


def kmeans_plus_plus(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding (as scikit-learn does it): each next centre is the best, by the resulting
    sum of squared distances, of 2 + log(k) candidates drawn with probability proportional to the squared
    distance to the nearest centre chosen so far. -> (k, d)."""
    n = len(points)
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (1,), generator=generator))
    chosen = [first]
    nearest = _squared_distances(points, points[first : first + 1])[:, 0]
    for _ in range(1, k):
        total = float(nearest.sum())
        if total <= 0:  # fewer distinct points than clusters: repeat one
            candidates = torch.randint(n, (1,), generator=generator)
        else:
            candidates = torch.multinomial(
                (nearest / total).cpu(), trials, replacement=True, generator=generator
            )
        candidates = candidates.to(points.device)
        updated = torch.minimum(nearest[:, None], _squared_distances(points, points[candidates]))
        best = int(updated.sum(0).argmin())
        chosen.append(int(candidates[best]))
        nearest = updated[:, best]
    return points[torch.tensor(chosen, device=points.device)]


def kmeans(
    points: torch.Tensor,
    k: int,
    iterations: int = 50,
    max_points: int = 262_144,
    seed_points: int = 32_768,
    seed: int = 0,
    tolerance: float = 1e-4,
) -> torch.Tensor:
    """Cluster centres (k, d) of points (N, d): k-means++ on up to seed_points, then Lloyd iterations on up
    to max_points, until the centres move less than `tolerance` (relative) or after `iterations`.
    An empty cluster takes the point farthest from its centre."""
    if points.dim() != 2 or len(points) == 0:
        raise ValueError(f"k-means needs points (N, d), got shape {tuple(points.shape)}")
    generator = torch.Generator().manual_seed(seed)
    points = points.float()
    if len(points) > max_points:
        points = points[torch.randperm(len(points), generator=generator)[:max_points].to(points.device)]
    seeding = points
    if len(points) > seed_points:
        seeding = points[torch.randperm(len(points), generator=generator)[:seed_points].to(points.device)]
    centres = kmeans_plus_plus(seeding, k, generator)
    for _ in range(iterations):
        assignment, distances = _nearest(points, centres)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=k).to(points.dtype)
        updated = sums / counts.clamp_min(1)[:, None]
        for empty in torch.nonzero(counts == 0).flatten().tolist():
            farthest = int(distances.argmax())
            updated[empty] = points[farthest]
            distances[farthest] = 0
        shift = (updated - centres).norm() / centres.norm().clamp_min(1e-12)
        centres = updated
        if float(shift) < tolerance:
            break
    return centres


def inertia(points: torch.Tensor, centres: torch.Tensor) -> float:
    """Sum of squared distances of the points to their nearest centre."""
    return float(_nearest(points.float(), centres)[1].sum())
