"""The gradient adaptive factor (GAF): the weight of the MI (CTC) loss, set so that its largest gradients
are on the scale of Tacotron 2's own (bfs18/tacotron2 `gradient_adaptive_factor.py`; its README calls it
the replacement of the paper's increasing CTC weight).

Every `update_gaf_every_n_step`-th batch of an epoch (10; the original counts batches within the epoch):

    gaf = min(max_gaf, min over shared parameter tensors k of max|d taco / d w_k| / max|d mi / d w_k|)

"Shared" = the tensors both losses reach (embedding, encoder, prenet, attention, both LSTMs,
linear_projection): the original keeps the k where neither maximum is exactly 0. The factor is a constant
(no gradient flows through it) and is reused by the batches in between.

Left out here (hparams.gaf_exclude_batchnorm_conv_bias, default True; False = the original): the bias of a
convolution followed by BatchNorm (the encoder's three, the postnet's five). In training BatchNorm
subtracts the batch mean, so such a bias cannot change the output and its true gradient is 0; computed,
it is ~1e-8 rounding noise, not 0, so the original keeps it, and then the minimum can be a ratio of two
noise values: measured on the parity fixture, the raw GAF moved from 18.02 to 20.15 by removing them,
and a 2-thread run gave another value than a 1-thread run. The 0.5 cap hid it there; a small noisy ratio
would instead shrink the MI weight for the next 10 batches at random.

Cost, and how it is kept down: the original runs two extra full backward passes on a GAF batch (one per
loss) and then the usual backward of taco + gaf * mi. Since that last gradient is exactly
grad(taco) + gaf * grad(mi), it is assembled here from the two passes instead of computed a third time
(`combined_gradients`), so a GAF batch costs two backward passes, not three. Under mixed precision the
two passes run on the GradScaler-scaled losses (the ratio does not depend on the scale, and an overflow
makes the scaler skip the step as any other); under DDP both gradients are averaged over the ranks first,
so the factor is the one of the whole batch and the same on every rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from .infra import Distributed, all_reduce_sum


def batchnorm_conv_biases(model: nn.Module) -> set[str]:
    """Names of the conv biases that a BatchNorm directly follows (in an nn.Sequential): their gradient is
    analytically zero in training."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Sequential) and len(module) >= 2 and isinstance(module[1], nn.BatchNorm1d):
            for name, _ in module[0].named_parameters():
                if name.endswith("bias"):
                    names.add(f"{prefix}.0.{name}" if prefix else f"0.{name}")
    return names


def max_abs(gradients: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """(K,) float64 max |g| of each tensor (the original's "max" norm); 0 for a tensor without gradient."""
    values = [g.detach().abs().max().double() if g is not None and g.numel() else None for g in gradients]
    device = next((v.device for v in values if v is not None), torch.device("cpu"))
    return torch.stack(
        [v if v is not None else torch.zeros((), dtype=torch.float64, device=device) for v in values]
    )


class RawFactor(NamedTuple):
    value: float  # min of the ratios (nan when no tensor qualifies or a gradient is not finite)
    argmin: str | None  # the parameter that gave it
    n_used: int  # tensors that entered the minimum


def raw_factor(
    taco_gradients: Sequence[torch.Tensor | None],
    mi_gradients: Sequence[torch.Tensor | None],
    names: Sequence[str],
    excluded: set[str] = frozenset(),
) -> RawFactor:
    """min_k max|taco grad_k| / max|mi grad_k| over the tensors with both maxima non-zero, not `excluded`."""
    taco_max, mi_max = max_abs(taco_gradients), max_abs(mi_gradients)
    keep = (taco_max != 0) & (mi_max != 0)
    keep &= torch.tensor([name not in excluded for name in names], device=keep.device)
    if not bool(keep.any()):
        return RawFactor(math.nan, None, 0)
    ratios = torch.where(keep, taco_max / torch.where(keep, mi_max, 1.0), math.inf)
    index = int(ratios.argmin())
    value = float(ratios[index])
    return RawFactor(value if math.isfinite(value) else math.nan, names[index], int(keep.sum()))


def loss_gradients(
    loss: torch.Tensor, parameters: Sequence[torch.Tensor], retain_graph: bool
) -> list[torch.Tensor | None]:
    """d loss / d parameters, without touching `.grad` (None for a parameter the loss does not reach)."""
    return list(torch.autograd.grad(loss, parameters, retain_graph=retain_graph, allow_unused=True))


def average_over_ranks(
    gradients: list[torch.Tensor | None], parameters, ddp: Distributed
) -> list[torch.Tensor]:
    """The gradients averaged over the ranks (one all-reduce); None becomes zeros, so that every rank sends
    the same layout."""
    filled = [torch.zeros_like(p) if g is None else g for g, p in zip(gradients, parameters)]
    if ddp.world_size == 1:
        return filled
    flat = all_reduce_sum(torch.cat([g.reshape(-1) for g in filled]), ddp) / ddp.world_size
    return [part.view_as(g) for part, g in zip(flat.split([g.numel() for g in filled]), filled)]


def combined_gradients(
    taco_gradients: Sequence[torch.Tensor | None],
    mi_gradients: Sequence[torch.Tensor | None],
    gaf: float,
    parameters: Sequence[torch.Tensor],
) -> list[torch.Tensor]:
    """grad(taco + gaf * mi) = grad(taco) + gaf * grad(mi), tensor by tensor (zeros where neither reaches)."""
    combined = []
    for taco, mi, parameter in zip(taco_gradients, mi_gradients, parameters):
        if taco is None and mi is None:
            combined.append(torch.zeros_like(parameter))
        elif mi is None:
            combined.append(taco)
        elif taco is None:
            combined.append(mi * gaf)
        else:
            combined.append(torch.add(taco, mi, alpha=gaf))
    return combined


def gradient_loss(parameters: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> torch.Tensor:
    """A scalar whose gradient with respect to each parameter is the given (detached) tensor:
    sum_k <w_k, g_k>. Its backward puts precomputed gradients where a training step expects them (through
    the GradScaler and DDP's gradient hooks) at the cost of one multiply per weight."""
    return sum((p * g.detach().to(p.dtype)).sum() for p, g in zip(parameters, gradients))


class GradientAdaptiveFactor:
    """The current factor and when to renew it. `value` None: renew at the next batch whatever its index
    (a new run, or a checkpoint of the original that does not store it)."""

    def __init__(self, max_gaf: float, every: int, excluded: set[str], value: float | None = None):
        self.max_gaf, self.every, self.excluded, self.value = max_gaf, every, excluded, value
        self.last_raw: RawFactor | None = None

    def due(self, batch_in_epoch: int) -> bool:
        return self.value is None or batch_in_epoch % self.every == 0

    def update(self, raw: RawFactor) -> float:
        """Take a newly measured raw factor (capped at max_gaf); a non-finite one (an overflow under fp16,
        whose step the scaler skips) keeps the previous value."""
        self.last_raw = raw
        if math.isfinite(raw.value):
            self.value = min(raw.value, self.max_gaf)
        return self.current

    @property
    def current(self) -> float:
        return self.max_gaf if self.value is None else self.value


def adaptive_loss(
    gaf: GradientAdaptiveFactor, model: nn.Module, taco_loss: torch.Tensor, mi_loss: torch.Tensor, scaler,
    ddp: Distributed,
) -> torch.Tensor:  # fmt: skip
    """Renew `gaf` from the gradients of both losses (of the GradScaler-scaled losses, averaged over the
    ranks) and return a loss whose backward gives grad(taco) + gaf * grad(mi) from them: a GAF batch
    costs two backward passes, not the original's three."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    names, parameters = [name for name, _ in named], [p for _, p in named]
    taco_gradients = loss_gradients(scaler.scale(taco_loss), parameters, retain_graph=True)
    mi_gradients = loss_gradients(scaler.scale(mi_loss), parameters, retain_graph=False)
    taco_gradients = average_over_ranks(taco_gradients, parameters, ddp)
    mi_gradients = average_over_ranks(mi_gradients, parameters, ddp)
    factor = gaf.update(raw_factor(taco_gradients, mi_gradients, names, gaf.excluded))
    scale = scaler.get_scale() if scaler.is_enabled() else 1.0
    combined = combined_gradients(taco_gradients, mi_gradients, factor, parameters)
    return gradient_loss(parameters, [g / scale for g in combined])
