"""Widgets and plots for notebook 05 (choosing a model): a search box over
sentence vectors, and held-out accuracy against the number of labels."""
from __future__ import annotations

import html
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np


def search_box(search: Callable[[str, int], list[tuple[float, str]]], query: str, k: int = 3, max_k: int = 10):
    """An ipywidgets panel: a query box and a slider for k; `search(query, k)` gives the k best
    (score, text) pairs, shown as a small table that follows every change."""
    import ipywidgets as widgets

    box = widgets.Text(value=query, description="query", continuous_update=False,
                       layout=widgets.Layout(width="60%"))
    neighbours = widgets.IntSlider(value=k, min=1, max=max_k, description="k", continuous_update=False)
    shown = widgets.HTML()

    def redraw(*_):
        rows = "".join(f"<tr><td style='text-align:right'>{score:.3f}</td><td style='text-align:left'>"
                       f"{html.escape(text)}</td></tr>" for score, text in search(box.value, neighbours.value))
        shown.value = (f"<table><tr><th>cosine</th><th style='text-align:left'>the {neighbours.value} nearest "
                       f"line(s) to {html.escape(repr(box.value))}</th></tr>{rows}</table>")

    box.observe(redraw, names="value")
    neighbours.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([box, neighbours]), shown])


def plot_accuracy_by_labels(results: dict, sizes, chance: float = 0.5, ax=None):
    """Held-out accuracy (%) against labelled sentences (log scale): one line per model, its
    mean over the draws of labelled sentences, with a bar from the lowest to the highest draw.
    `results[(model, size)]` is the list of accuracies (fractions) of the draws."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    models = list(dict.fromkeys(model for model, _ in results))
    for model in models:
        shown = [size for size in sizes if (model, size) in results]
        runs = [100 * np.array(results[model, size]) for size in shown]
        means = np.array([r.mean() for r in runs])
        spread = np.array([[m - r.min() for m, r in zip(means, runs)], [r.max() - m for m, r in zip(means, runs)]])
        ax.errorbar(shown, means, yerr=spread, marker="o", capsize=3, label=model)
    ax.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [f"{size:,}" for size in sizes])
    ax.set_xlabel("labelled sentences (log scale)")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("Sentiment: accuracy against the number of labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plt.tight_layout()
    return ax.figure
