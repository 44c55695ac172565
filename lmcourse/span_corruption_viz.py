"""Pictures and widgets for notebook 04 (span corruption, encoder-decoder).

Everything here draws; the noise masks, the corruption and the model are the
student's, passed in as arguments, so the pictures show what their code does.
"""
from __future__ import annotations

import html
import inspect
import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

NOISE_COLOUR = "#f4b183"      # tokens hidden from the encoder
SENTINEL_COLOURS = ["#9dc3e6", "#a9d18e", "#ffd966", "#c9a0dc", "#f8cbad", "#b4c7e7", "#c5e0b4"]
EOS_COLOUR = "#d9d9d9"


def _token_html(text: str, colour: str | None = None, title: str = "") -> str:
    shown = html.escape(text).replace(" ", "␣").replace("\n", "↵")
    background = f"background:{colour};" if colour else ""
    return (f"<span title='{html.escape(title)}' style='{background}font-family:monospace;padding:1px 2px;"
            f"margin:1px;border:1px solid #ccc;display:inline-block'>{shown}</span>")


def span_corruption_html(ids, noise_mask, inputs, targets, decode: Callable[[list[int]], str],
                         sentinel_ids: Sequence[int], eos_id: int) -> str:
    """Three rows of tokens: the original with the noise spans shaded, the
    encoder's input and the decoder's target, each sentinel in its own
    colour so that a sentinel in the input finds its span in the target."""
    colour_of = {s: SENTINEL_COLOURS[k % len(SENTINEL_COLOURS)] for k, s in enumerate(sentinel_ids)}

    def row(token_ids, shade=None):
        out = []
        for position, token in enumerate(token_ids):
            colour = colour_of.get(token, EOS_COLOUR if token == eos_id else None)
            if shade is not None and shade[position]:
                colour = NOISE_COLOUR
            out.append(_token_html(decode([token]), colour))
        return "".join(out)

    ids, noise_mask = list(map(int, ids)), list(map(bool, noise_mask))
    inputs, targets = list(map(int, inputs)), list(map(int, targets))
    rows = [("original (noise shaded)", row(ids, noise_mask)),
            (f"encoder input: {len(inputs)} tokens", row(inputs)),
            (f"decoder target: {len(targets)} tokens", row(targets))]
    return "<table>" + "".join(
        f"<tr><td style='white-space:nowrap;vertical-align:top;padding-right:8px'>{name}</td>"
        f"<td style='line-height:2'>{tokens}</td></tr>" for name, tokens in rows) + "</table>"


def sentinel_viewer(ids, decode, random_spans_noise_mask, span_corrupt, sentinel_ids, eos_id, seed=0):
    """An ipywidgets panel: the student's noise mask and span corruption of
    `ids`, with sliders for the noise density and the mean span length and a
    button that draws a new mask."""
    import ipywidgets as widgets

    ids = torch.as_tensor(ids)
    # Up to 45%: at 50% with spans of one token, a passage can have more noise spans than kept
    # tokens to put between them, a case T5's algorithm does not define.
    density = widgets.FloatSlider(value=0.15, min=0.05, max=0.45, step=0.05, description="noise density",
                                  continuous_update=False, style={"description_width": "initial"})
    span = widgets.FloatSlider(value=3.0, min=1.0, max=10.0, step=0.5, description="mean span length",
                               continuous_update=False, style={"description_width": "initial"})
    resample = widgets.Button(description="resample", icon="refresh")
    shown = widgets.HTML()
    draws = {"count": 0}

    def redraw(*_):
        generator = torch.Generator().manual_seed(seed + draws["count"])
        mask = random_spans_noise_mask(len(ids), density.value, span.value, generator=generator)
        inputs, targets = span_corrupt(ids, mask, sentinel_ids, eos_id)
        spans = int((mask[1:] & ~mask[:-1]).sum() + mask[0])
        shown.value = (span_corruption_html(ids, mask, inputs, targets, decode, sentinel_ids, eos_id)
                       + f"<p>{int(mask.sum())} of {len(ids)} tokens hidden in {spans} spans; the decoder "
                       f"writes {len(targets)} tokens where rebuilding the text would take {len(ids) + 1}.</p>")

    def on_resample(_):
        draws["count"] += 1
        redraw()

    density.observe(redraw, names="value")
    span.observe(redraw, names="value")
    resample.on_click(on_resample)
    redraw()
    return widgets.VBox([widgets.HBox([density, span, resample]), shown])


def plot_noise_masks(masks: Sequence[torch.Tensor], ax=None):
    """Masks as rows of cells: noise shaded, the other tokens white."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.3 * len(masks) + 1.0))
    grid = torch.stack([m.to(torch.float32) for m in masks]).numpy()
    ax.imshow(grid, cmap="Oranges", vmin=0, vmax=1.3, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(masks)), [f"draw {i + 1}" for i in range(len(masks))])
    ax.set_xlabel("token position")
    ax.set_title("Noise masks: shaded tokens are hidden, each run becomes one sentinel")
    return ax


def plot_lengths(compute_lengths: Callable, inputs_length: int = 512, mean_span: float = 3.0, ax=None):
    """For a fixed encoder input length: the raw tokens it holds, the target
    length, and the decoder's share of the work, as the noise density varies."""
    densities = np.round(np.arange(0.05, 0.51, 0.025), 3)
    lengths = [compute_lengths(inputs_length, float(d), mean_span) for d in densities]
    tokens = np.array([t for t, _ in lengths])
    targets = np.array([t for _, t in lengths])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(densities, tokens, "o-", label="raw text tokens per example")
    ax.axhline(inputs_length, color="tab:gray", linestyle="--", label=f"encoder input ({inputs_length} tokens)")
    ax.plot(densities, targets, "s-", label="decoder target (span corruption)")
    ax.plot(densities, tokens + 1, ":", color="tab:red", label="decoder target if it rebuilt the whole text")
    ax.set_xlabel("noise density (share of tokens hidden)")
    ax.set_ylabel("tokens")
    ax.set_title(f"Lengths for {inputs_length}-token inputs, mean span {mean_span:g}")
    ax.legend(fontsize=8)
    return ax


def plot_finetuning(histories: dict, metric: str = "val_loss", ax=None):
    """Validation loss while fine-tuning, one curve per model (same steps, same batches)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for name, history in histories.items():
        ax.plot(history.eval_steps, history.eval_metrics[metric], "o-", label=name)
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("cross-entropy per target token (nats)")
    ax.set_title("Folio -> modern spelling, validation play: pretrained vs from scratch")
    ax.legend()
    return ax


@torch.no_grad()
def cross_attention_weights_by_layer(model, input_ids: torch.Tensor,
                                     decoder_input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Every decoder block's cross-attention weights, per head: one
    (batch, heads, decoder positions, encoder positions) tensor per block, on
    the CPU. Recomputed from each block's own query and key layers on the
    inputs it receives, so it works whatever the model's forward does inside;
    encoder padding gets no weight."""
    blocks = [block.cross_attn for block in model.decoder_blocks]
    seen = []  # (x, context) of each block, in the order the forward calls them

    def keep_inputs(module, args, kwargs, output):
        # The first two arguments, however the block passed them: attn(h, memory, mask) or
        # attn(h, context=memory, mask=mask). Returns None: the output passes through unchanged.
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        seen.append(tuple(bound.arguments.values())[:2])

    hooks = [block.register_forward_hook(keep_inputs, with_kwargs=True) for block in blocks]
    try:
        model(input_ids, decoder_input_ids)
    finally:
        for hook in hooks:
            hook.remove()
    heads = model.config.n_head
    padding = (input_ids == model.config.pad_id)[:, None, None, :]
    weights = []
    for block, (x, context) in zip(blocks, seen):
        q = block.query(x).unflatten(-1, (heads, -1)).transpose(1, 2)        # (B, nh, T, hs)
        k = block.key(context).unflatten(-1, (heads, -1)).transpose(1, 2)    # (B, nh, S, hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        weights.append(scores.masked_fill(padding, float("-inf")).softmax(-1).float().cpu())
    return weights


def cross_attention_weights(model, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
    """The last decoder block's cross-attention weights, averaged over heads:
    (decoder positions, encoder positions), for one example."""
    return cross_attention_weights_by_layer(model, input_ids, decoder_input_ids)[-1].mean(1)[0]


def plot_cross_attention(weights: torch.Tensor, source_tokens: Sequence[str], target_tokens: Sequence[str],
                         model_name: str | None = None, ax=None):
    """Which Folio tokens (columns) each modern token (rows) was written from; `model_name`
    heads the title."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.35 * len(source_tokens) + 2, 0.3 * len(target_tokens) + 1.5))
    ax.imshow(weights.numpy(), cmap="Blues", vmin=0)
    label = lambda t: t.replace(" ", "␣").replace("\n", "↵")  # noqa: E731
    ax.set_xticks(range(len(source_tokens)), [label(t) for t in source_tokens], rotation=90, fontfamily="monospace")
    ax.set_yticks(range(len(target_tokens)), [label(t) for t in target_tokens], fontfamily="monospace")
    ax.set_xlabel("encoder: Folio tokens")
    ax.set_ylabel("decoder: token being written (after the one on the left)")
    title = "cross-attention of the last decoder block (mean over heads)"
    ax.set_title(f"{model_name}: {title}" if model_name else title.capitalize())
    return ax
