"""The original's optimizers and schedule: AdamW for the generator and the discriminator (weight decay 0.01,
PyTorch's default), and an ExponentialLR stepped once per epoch."""

from __future__ import annotations

import torch

from .config import Config


def make_adamw(parameters, config: Config) -> torch.optim.AdamW:
    """AdamW with the config's lr, betas and eps, fused where the device has the kernel."""
    options = dict(lr=config.train.learning_rate, betas=config.train.betas, eps=config.train.eps)
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, fused=True, **options)
    except RuntimeError:
        return torch.optim.AdamW(parameters, **options)


def make_scheduler(optimizer, gamma: float, epoch: int) -> torch.optim.lr_scheduler.ExponentialLR:
    """ExponentialLR at `epoch` (lr = initial_lr * gamma ** epoch), also for files without its state."""
    if epoch == 0:
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * gamma ** (epoch - 1)  # the constructor steps once
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma, last_epoch=epoch - 1)
