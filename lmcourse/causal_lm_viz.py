"""Pictures and the sampling playground for notebook 03 (causal LM).

Everything here draws; the model, the mask and the sampling code are the
student's, passed in as arguments, so the pictures show what their code does.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .plots import smooth


def token_label(text: str) -> str:
    """A token as an axis label: spaces and line breaks made visible."""
    return text.replace(" ", "␣").replace("\n", "↵")


def plot_causal_mask(mask: torch.Tensor, tokens: Sequence[str], ax=None):
    """The boolean mask as a grid: row i (the query, predicting the token after
    token i) may look at the columns j coloured in (the keys)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(mask.cpu().numpy(), cmap="Blues", vmin=0, vmax=1.4)
    labels = [token_label(t) for t in tokens]
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontfamily="monospace")
    ax.set_yticks(range(len(labels)), labels, fontfamily="monospace")
    ax.set_xlabel("key: the token looked at (position j)")
    ax.set_ylabel("query: the token looking (position i)")
    ax.set_title("Causal mask: position i sees positions 0..i")
    return ax


def plot_logit_change(change: torch.Tensor, changed_from: int, ax=None):
    """Bars of how much the logits at each position moved after the tokens from
    `changed_from` on were replaced: exactly zero before it if no information
    flows backwards."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    change = change.detach().cpu()
    positions = range(len(change))
    ax.bar(positions, change.numpy(), color=["tab:green" if p < changed_from else "tab:red" for p in positions])
    unchanged = [p for p in positions if p < changed_from and change[p] == 0]
    ax.plot(unchanged, [0] * len(unchanged), "o", color="tab:green", label="exactly 0")
    ax.legend(loc="upper left")
    ax.axvline(changed_from - 0.5, color="black", linestyle="--", linewidth=1)
    ax.text(changed_from - 0.4, ax.get_ylim()[1] * 0.9, f" tokens {changed_from}.. replaced", fontsize=9)
    ax.set_xlabel("position")
    ax.set_ylabel("largest change of a logit")
    ax.set_title("Logits before the replaced tokens do not move")
    return ax


def plot_bits_per_byte(history, train_bytes_per_token: float, baseline_bpb: float, baseline_label: str, ax=None):
    """Training (smoothed) and validation loss in bits per byte against wall time,
    with the baseline's final validation bits per byte as a line. The training loss
    is nats per token: divided by ln 2 and by the training text's mean bytes per
    token (the validation curve is already in bits per byte)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    train_bpb = smooth(history.train_loss) / math.log(2) / train_bytes_per_token
    ax.plot(history.seconds, train_bpb, label="train (smoothed)")
    eval_seconds = history.at_steps("seconds", history.eval_steps)
    ax.plot(eval_seconds, history.eval_metrics["val_bpb"], "o-", label="validation")
    ax.axhline(baseline_bpb, color="grey", linestyle="--", label=baseline_label)
    ax.set_ylim(top=max(4.5, baseline_bpb + 0.5))
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("bits per byte")
    ax.set_title("Causal LM training: loss in bits per byte")
    ax.legend()
    return ax


def sampling_playground(
    next_logits: torch.Tensor,
    tokens: Sequence[str],
    filter_logits: Callable,
    sample_text: Callable[[float, int | None, float | None, int], str],
    prompt: str,
    shown: int = 20,
) -> widgets.VBox:
    """Sliders for temperature, top-k and top-p over one prompt's next-token logits
    (`next_logits`, shape (V,); `tokens[i]` is id i as text). The bars are the
    probabilities after temperature alone (pale) and after the student's
    `filter_logits` (solid), for the `shown` likeliest tokens. "Sample" calls
    `sample_text(temperature, top_k, top_p, seed)` for a continuation of the prompt.
    top_k = 0 and top_p = 1 mean "no filter"."""
    labels = {"style": {"description_width": "8em"}}  # wide enough for every label, so the sliders line up
    temperature = widgets.FloatSlider(value=1.0, min=0.1, max=2.5, step=0.05, description="temperature", **labels)
    top_k = widgets.IntSlider(value=0, min=0, max=100, description="top-k (0: off)", **labels)
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.01, description="top-p (1: off)", **labels)
    sample_button = widgets.Button(description="Sample", tooltip="continue the prompt with these settings")
    chart, sample = widgets.Output(), widgets.Output()
    next_logits = next_logits.detach().float().cpu()
    order = torch.argsort(next_logits, descending=True)[:shown]
    draws = {"seed": 0}

    def settings():
        return temperature.value, (top_k.value or None), (top_p.value if top_p.value < 1 else None)

    def redraw(_=None):
        t, k, p = settings()
        scaled = next_logits[None] / t
        before = scaled.softmax(dim=-1)[0]
        after = filter_logits(scaled, top_k=k, top_p=p).softmax(dim=-1)[0]
        kept = int((after > 0).sum())
        entropy = -(after[after > 0] * after[after > 0].log2()).sum().item()
        with chart:
            chart.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(9, 3.2))
            labels = [token_label(tokens[i]) for i in order.tolist()]
            ax.bar(range(shown), before[order].numpy(), color="tab:blue", alpha=0.25, label="temperature only")
            ax.bar(range(shown), after[order].numpy(), color="tab:blue", label="after top-k / top-p")
            ax.set_xticks(range(shown), labels, rotation=60, fontfamily="monospace")
            ax.set_ylabel("probability")
            ax.set_title(f"Next token after {prompt[-40:]!r}: {kept} tokens kept, entropy {entropy:.2f} bits")
            ax.legend()
            plt.show()

    def draw_sample(_=None):
        t, k, p = settings()
        draws["seed"] += 1
        with sample:
            sample.clear_output(wait=True)
            print(prompt + sample_text(t, k, p, draws["seed"]))

    for slider in (temperature, top_k, top_p):
        slider.observe(redraw, names="value")
    sample_button.on_click(draw_sample)
    redraw()
    return widgets.VBox([widgets.HBox([temperature, top_k, top_p]), chart, sample_button, sample])
