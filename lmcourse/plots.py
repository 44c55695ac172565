"""Plots of training runs (`History.plot`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

X_AXES = {  # x= choice -> (History field, axis label)
    "step": ("steps", "optimizer step"),
    "tokens": ("tokens_seen", "tokens seen"),
    "seconds": ("seconds", "wall time (s)"),
}


def smooth(values: list[float], weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, bias-corrected so it starts at the first value
    (as TensorBoard's smoothing): smooth([4, 2], 0.5) -> [4, 2.667]."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**i))
    return np.array(out)


def plot_history(history, x: str = "step", ax=None, label: str | None = None):
    """Training loss (raw, faint, and smoothed) and evaluation metrics against `x`.

    Metrics named "...loss" share the loss axis; others (accuracy, ...) get a
    right-hand axis. Pass the same `ax` and different `label`s to compare runs.
    Returns the loss axis.
    """
    if x not in X_AXES:
        raise ValueError(f"x must be one of {list(X_AXES)}, not {x!r}")
    field, xlabel = X_AXES[x]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    prefix = f"{label}: " if label else ""

    xs = getattr(history, field)
    (line,) = ax.plot(xs, smooth(history.train_loss), label=f"{prefix}train loss (smoothed)")
    ax.plot(xs, history.train_loss, color=line.get_color(), alpha=0.2, linewidth=0.8)

    eval_xs = history.at_steps(field, history.eval_steps)
    other_metrics = {}
    for name, values in history.eval_metrics.items():
        if name.endswith("loss"):
            ax.plot(eval_xs, values, "o-", label=f"{prefix}{name}")
        else:
            other_metrics[name] = values
    if other_metrics:
        right = ax.twinx()
        for name, values in other_metrics.items():
            right.plot(eval_xs, values, "s--", label=f"{prefix}{name}")
        right.set_ylabel(", ".join(other_metrics))
        right.legend(loc="upper right")

    ax.set_title("Training curve")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (nats per predicted token)")
    ax.legend(loc="upper left" if other_metrics else "best")
    return ax
