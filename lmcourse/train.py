"""The training loop shared by notebooks 02-04.

AdamW, a learning rate that warms up then follows a cosine down to a tenth
(as nanoGPT), mixed precision on CUDA, a progress bar, and a time budget.
The notebook supplies the model, how to draw a batch and how to score it:

    def get_batch():                  # -> a tensor, or a tuple/list/dict of tensors
        ...
    def loss_fn(model, batch):        # -> a scalar loss tensor
        inputs, targets = batch
        return clm_loss(model(inputs), targets)
    history = train(model, get_batch, loss_fn, steps=2000, lr=1e-3, time_budget_s=300)
    history.plot()
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .runtime import TimeBudget, autocast, mixed_precision_dtype, pick_device

Batch = Any  # a tensor, or a tuple, list or dict of tensors


@dataclass
class History:
    """What happened in `train`: one entry per optimizer step, one per evaluation."""

    steps: list[int] = field(default_factory=list)  # 1, 2, ...: updates done
    train_loss: list[float] = field(default_factory=list)
    tokens_seen: list[int] = field(default_factory=list)  # cumulative
    seconds: list[float] = field(default_factory=list)  # wall time since the start
    eval_steps: list[int] = field(default_factory=list)  # 0 is before the first update
    eval_metrics: dict[str, list[float]] = field(default_factory=dict)  # name -> one per eval step

    def at_steps(self, quantity: str, steps: list[int]) -> np.ndarray:
        """`quantity` ("steps", "tokens_seen" or "seconds") after each of `steps` updates."""
        return np.interp(steps, [0, *self.steps], [0, *getattr(self, quantity)])

    def plot(self, x: str = "step", ax=None, label: str | None = None):
        """Loss curves against "step", "tokens" or "seconds"; see `lmcourse.plots.plot_history`."""
        from .plots import plot_history  # matplotlib is imported only when plotting

        return plot_history(self, x=x, ax=ax, label=label)


def train(
    model: torch.nn.Module,
    get_batch: Callable[[], Batch],
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    *,
    steps: int,
    lr: float,
    time_budget_s: float | None = None,
    eval_fn: Callable[[torch.nn.Module], float | dict[str, float]] | None = None,
    eval_every: int = 100,
    device: str | torch.device | None = None,
    grad_clip: float | None = 1.0,
    warmup: int | None = None,
    weight_decay: float = 0.1,
) -> History:
    """Train `model` for `steps` updates or until `time_budget_s` seconds pass.

    The batch's first tensor counts as its tokens. `eval_fn(model)` returns a
    number (recorded as "val_loss") or a dict of named numbers; it runs under
    `torch.no_grad()` in eval mode before the first update, every `eval_every`
    updates and after the last. `warmup` defaults to 5% of `steps`. The cosine
    decay follows whichever runs out first, steps or time, so a run cut short
    by its budget still ends at the low learning rate.
    """
    device = pick_device(device)
    model.to(device).train()
    warmup = max(1, steps // 20) if warmup is None else warmup
    optimizer = _adamw(model, lr, weight_decay, device)
    # float16 (not bfloat16) gradients can underflow: scale the loss up, then the gradients down.
    scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision_dtype(device) == torch.float16)
    budget = TimeBudget(time_budget_s)
    history = History()
    tokens = 0
    shown = {}  # what the progress bar shows: the latest loss and evaluation

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad(), autocast(device):
            metrics = eval_fn(model)
        model.train()
        if not isinstance(metrics, dict):
            metrics = {"val_loss": metrics}
        history.eval_steps.append(step)
        for name, value in metrics.items():
            history.eval_metrics.setdefault(name, []).append(float(value))
            shown[name] = f"{float(value):.3f}"

    bar = tqdm(total=steps, desc="training", unit="step")
    step = 0
    # One clock reading per step: the time recorded for a step is the reading the
    # budget is checked against, so a run stopped by its budget has recorded, for
    # its last step, a time at or past the budget (and before it, only times under it).
    elapsed = budget.elapsed()
    while step < steps and not budget.expired(elapsed):
        if eval_fn is not None and step % eval_every == 0:
            evaluate(step)
        progress = max((step - warmup) / max(1, steps - warmup), budget.fraction_used())
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, progress, lr, warmup)

        batch = _to_device(get_batch(), device)
        with autocast(device):
            loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()

        step += 1
        tokens += _first_tensor(batch).numel()
        history.steps.append(step)
        history.train_loss.append(loss.item())
        history.tokens_seen.append(tokens)
        elapsed = budget.elapsed()
        history.seconds.append(elapsed)
        bar.update(1)
        shown["loss"] = f"{history.train_loss[-1]:.3f}"
        bar.set_postfix(shown, refresh=False)
    if eval_fn is not None and (not history.eval_steps or history.eval_steps[-1] != step):
        evaluate(step)
    bar.close()
    if step < steps:
        print(f"Time budget of {time_budget_s:g} s used up after {step} of {steps} steps.")
    return history


def _learning_rate(step: int, progress: float, lr: float, warmup: int) -> float:
    """Linear warmup to `lr`, then a cosine from `lr` down to lr/10 as progress goes 0 -> 1."""
    if step < warmup:
        return lr * (step + 1) / warmup
    min_lr = lr / 10
    return min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * (lr - min_lr)


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device):
    # As nanoGPT: decay matrices and embeddings, not biases and LayerNorm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # beta2 = 0.99 as nanoGPT's small Shakespeare model: few tokens per step.
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=device.type == "cuda")


def _to_device(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, dict):
        return {key: value.to(device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(value.to(device) for value in batch)
    return batch.to(device)


def _first_tensor(batch: Batch) -> torch.Tensor:
    if isinstance(batch, dict):
        return next(iter(batch.values()))
    if isinstance(batch, (tuple, list)):
        return batch[0]
    return batch
