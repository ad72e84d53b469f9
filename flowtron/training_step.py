"""The pieces of a training step and of its measurement, shared by train.py, reproduce.py and the tests:
the optimizer, the loss terms of one batch, the attention health that validation logs, and train.py's
step on random batches of items held in memory (for in-process recipes on small corpora).

    optimizer = make_optimizer(model, config)
    terms, output = losses(model, batch, criterion, apply_ctc=True, ctc_weight=0.01)
    attention_health(output, batch)   # {"alignment/focus": ..., "alignment/score": ..., ...}
    training = ItemTraining(model, items, config, seed=0)
    training.run(100)                 # 100 steps
"""

from __future__ import annotations

import torch

from .config import FlowtronConfig
from .data import Batch, collate
from .flowtron import Flowtron, rows_in_forward_time
from .infra import alignment_health
from .losses import FlowtronLoss

LOSS_NAMES = ("loss", "loss_nll", "loss_gate", "loss_ctc")


def make_optimizer(model: Flowtron, config: FlowtronConfig) -> torch.optim.Optimizer:
    """RAdam with decoupled weight decay (what the original's radam.py computes) or torch Adam (L2)."""
    train = config.train_config
    if train.optim_algo == "Adam":
        return torch.optim.Adam(model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay)
    return torch.optim.RAdam(
        model.parameters(),
        lr=train.learning_rate,
        weight_decay=train.weight_decay,
        decoupled_weight_decay=True,
    )


def losses(model, batch: Batch, criterion: FlowtronLoss, apply_ctc: bool, ctc_weight: float):
    """One batch -> (dict of the four loss tensors named LOSS_NAMES, model output). The batch's prior
    (None when data_config.use_attn_prior is off) goes into the forward pass."""
    output = model(batch.mel, batch.speaker_ids, batch.text, batch.in_lens, batch.out_lens, batch.attn_prior)
    terms = criterion(output, batch.gate_target, batch.in_lens, batch.out_lens)
    total = terms.total(ctc_weight, apply_ctc)
    return dict(zip(LOSS_NAMES, (total, terms.nll, terms.gate, terms.ctc))), output


def attention_health(output, batch: Batch) -> dict[str, float]:
    """infra.alignment_health of each flow's teacher-forced attention (a backward flow's rows put back in
    forward time): `alignment/<name>` averaged over the flows, `alignment/flow<k>/<name>` per flow when
    there are several. output: anything with `attns`, a list of (B, T, T_text) per flow."""
    per_flow = []
    for index, attention in enumerate(output.attns):
        if index % 2 == 1:
            attention = rows_in_forward_time(attention, batch.out_lens)
        per_flow.append(alignment_health(attention, batch.in_lens, batch.out_lens))
    values = {f"alignment/{name}": sum(h[name] for h in per_flow) / len(per_flow) for name in per_flow[0]}
    if len(per_flow) > 1:
        values |= {f"alignment/flow{k}/{name}": v for k, h in enumerate(per_flow) for name, v in h.items()}
    return values


class ItemTraining:
    """train.py's step (forward with the items' prior when they carry one, NLL + gate + CTC from
    ctc_loss_start_iter on, backward, clipping at grad_clip_val, optimizer step) in fp32 on batches of
    train_config.batch_size drawn at random from `items`. The draws come from a generator seeded with
    `seed`: two trainings with the same seed and items see the same batches."""

    def __init__(self, model: Flowtron, items: list, config: FlowtronConfig, seed: int):
        train = config.train_config
        self.model, self.items, self.train = model, items, train
        self.optimizer = make_optimizer(model, config)
        self.criterion = FlowtronLoss(
            train.sigma,
            hasattr(model, "gaussian_mixture"),  # the mixture's NLL when n_components > 1
            train.gate_loss,
            train.use_ctc_loss,
            train.ctc_loss_weight,
            train.blank_logprob,
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.steps_done = 0

    def run(self, n_steps: int) -> float:
        """n_steps more steps; returns the last step's total loss."""
        self.model.train()
        loss = float("nan")
        for _ in range(n_steps):
            chosen = torch.randperm(len(self.items), generator=self.generator)[: self.train.batch_size]
            apply_ctc = self.train.use_ctc_loss and self.steps_done >= self.train.ctc_loss_start_iter
            terms, _ = losses(
                self.model,
                collate([self.items[i] for i in chosen.tolist()]),
                self.criterion,
                apply_ctc,
                self.train.ctc_loss_weight,
            )
            self.optimizer.zero_grad()
            terms["loss"].backward()
            if self.train.grad_clip_val > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train.grad_clip_val)
            self.optimizer.step()
            self.steps_done += 1
            loss = float(terms["loss"].detach())
        return loss
