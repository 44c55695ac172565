"""Pictures and widgets of notebook 02 (masked language modelling).

Nothing here is graded: the notebook passes in the student's own functions
(`mask_tokens`) and model (`TinyBert`), so what is drawn is what they built.
"""
from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np
import torch

from .plots import smooth

# How a position fared under masking -> (background colour, legend text).
MASKING_STYLES = {
    "special": ("#dddddd", "special token: never chosen"),
    "unchosen": ("#ffffff", "not chosen: no loss here"),
    "masked": ("#f4a3a3", "chosen, replaced by [MASK]"),
    "random": ("#f7d08a", "chosen, replaced by a random token"),
    "kept": ("#a8dba8", "chosen, left unchanged"),
}

# Penn Treebank tag -> a coarse part of speech for colouring plots; other tags are "other".
COARSE_POS = {
    **dict.fromkeys(("NN", "NNS", "NNP", "NNPS"), "noun"),
    **dict.fromkeys(("VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"), "verb"),
    **dict.fromkeys(("JJ", "JJR", "JJS"), "adjective"),
    **dict.fromkeys(("RB", "RBR", "RBS"), "adverb"),
    **dict.fromkeys(("DT", "PDT", "WDT"), "determiner"),
    **dict.fromkeys(("IN", "TO"), "preposition"),
    **dict.fromkeys(("PRP", "PRP$", "WP", "WP$"), "pronoun"),
    **dict.fromkeys((",", ".", ":", "(", ")", '"', "``"), "punctuation"),
}
POS_COLOURS = {"noun": "tab:blue", "verb": "tab:red", "adjective": "tab:green", "adverb": "tab:olive",
               "determiner": "tab:purple", "preposition": "tab:orange", "pronoun": "tab:brown",
               "punctuation": "tab:gray"}


# ------------------------------------------------------------------- masking
def masking_outcomes(input_ids, special, inputs, labels, mask_id) -> list[str]:
    """The fate of every position of a 1-D sequence: a key of MASKING_STYLES."""
    outcomes = []
    for original, is_special, new, label in zip(input_ids.tolist(), special.tolist(),
                                                inputs.tolist(), labels.tolist()):
        if is_special:
            outcomes.append("special")
        elif label == -100:
            outcomes.append("unchosen")
        elif new == mask_id:
            outcomes.append("masked")
        elif new == original:
            outcomes.append("kept")
        else:
            outcomes.append("random")
    return outcomes


def masking_rates(input_ids, special, inputs, labels, mask_id) -> dict[str, float]:
    """Shares seen in one masked batch: of non-special positions, how many were
    chosen; of the chosen, how many became [MASK], a random id, or stayed."""
    chosen = labels != -100
    n_chosen = max(1, int(chosen.sum()))
    masked = chosen & (inputs == mask_id)
    kept = chosen & (inputs == input_ids)
    return {
        "chosen / non-special": int(chosen.sum()) / max(1, int((~special).sum())),
        "[MASK] / chosen": int(masked.sum()) / n_chosen,
        "random / chosen": int((chosen & ~masked & ~kept).sum()) / n_chosen,
        "unchanged / chosen": int(kept.sum()) / n_chosen,
    }


def _masking_html(tokenizer, input_ids, inputs, outcomes) -> str:
    def show(token_id):
        return html.escape(tokenizer.decode([token_id], skip_special_tokens=False)).replace(" ", "&nbsp;")

    spans = []
    for original, new, outcome in zip(input_ids.tolist(), inputs.tolist(), outcomes):
        colour, _ = MASKING_STYLES[outcome]
        text = show(original) if outcome in ("special", "unchosen", "kept") else \
            f"{show(new)}<sub style='color:#555'>{show(original)}</sub>"
        spans.append(f"<span style='background:{colour};font-family:monospace;padding:1px 2px;"
                     f"margin:1px;border:1px solid #ccc;display:inline-block'>{text}</span>")
    legend = " ".join(f"<span style='background:{colour};padding:1px 6px;border:1px solid #ccc'>"
                      f"{html.escape(text)}</span>" for colour, text in MASKING_STYLES.values())
    return f"<div style='line-height:2'>{''.join(spans)}</div><div style='font-size:90%'>{legend}</div>"


def masking_explorer(mask_tokens, tokenizer, text, *, special_ids, mask_id, vocab_size, seed=0):
    """An ipywidgets panel: `text` encoded as "[CLS] text [SEP]", masked by the
    student's `mask_tokens` with the probability on the slider; "resample"
    draws again. Chosen tokens show what the model sees, the original below."""
    import ipywidgets as widgets

    ids = torch.tensor([special_ids["[CLS]"], *tokenizer.encode(text).ids, special_ids["[SEP]"]])
    special = torch.isin(ids, torch.tensor(list(special_ids.values())))
    probability = widgets.FloatSlider(value=0.15, min=0.0, max=1.0, step=0.05,
                                      description="mlm_probability", continuous_update=False,
                                      style={"description_width": "initial"})
    resample = widgets.Button(description="resample", icon="refresh")
    shown = widgets.HTML()
    draws = {"count": 0}

    def redraw(*_):
        generator = torch.Generator().manual_seed(seed + draws["count"])
        inputs, labels = mask_tokens(ids[None], special[None], mask_id, vocab_size,
                                     probability.value, generator=generator)
        outcomes = masking_outcomes(ids, special, inputs[0], labels[0], mask_id)
        counts = {key: outcomes.count(key) for key in ("masked", "random", "kept")}
        shown.value = (_masking_html(tokenizer, ids, inputs[0], outcomes)
                       + f"<p>chosen: {sum(counts.values())} of {int((~special).sum())} non-special tokens "
                       f"({counts['masked']} [MASK], {counts['random']} random, {counts['kept']} unchanged)</p>")

    def on_resample(_):
        draws["count"] += 1
        redraw()

    probability.observe(redraw, names="value")
    resample.on_click(on_resample)
    redraw()
    return widgets.VBox([widgets.HBox([probability, resample]), shown])


# ----------------------------------------------------------------- the model
def context_sensitivity(model, ids, position, new_id, causal=False) -> np.ndarray:
    """How far each position's encoder output moves (L2 norm) when the token
    at `position` is replaced by `new_id`. With causal=True the same layers run
    under a causal mask (each position sees only itself and the past), as the
    decoder of notebook 03 does."""
    device = next(model.parameters()).device
    changed = ids.clone()
    changed[position] = new_id
    pair = torch.stack([ids, changed]).to(device)
    with torch.no_grad():
        if causal:
            t = len(ids)
            x = model.ln_emb(model.tok_emb(pair) + model.pos_emb(torch.arange(t, device=device)))
            mask = torch.tril(torch.ones(t, t, dtype=torch.bool, device=device))
            for layer in model.layers:
                x = layer(x, mask)
        else:
            x = model.encode(pair)
    return (x[0] - x[1]).norm(dim=-1).float().cpu().numpy()


def plot_context_sensitivity(model, tokenizer, ids, position, new_id):
    """Two bar charts, on a log scale: how far each position's output moves
    when one token changes, with full (bidirectional) attention and with a
    causal mask. A bar that is missing is a change of exactly zero."""
    was_training = model.training
    model.eval()
    labels = [tokenizer.decode([i], skip_special_tokens=False) for i in ids.tolist()]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), sharey=True)
    for ax, causal, title in ((axes[0], False, "encoder (this notebook): sees both sides"),
                              (axes[1], True, "same layers, causal mask (notebook 03)")):
        change = context_sensitivity(model, ids, position, new_id, causal)
        before = change[:position].max() if position else 0.0
        colours = ["tab:red" if i == position else "tab:blue" for i in range(len(ids))]
        ax.bar(range(len(ids)), change, color=colours)
        ax.set_yscale("log")
        ax.set_xticks(range(len(ids)), labels, rotation=60, fontsize=8)
        ax.set_title(f"{title}\nlargest change before the red token: {before:.3g}")
        ax.set_xlabel(f"position (red: the token changed to {tokenizer.decode([new_id])!r})")
    axes[0].set_ylabel("change of the output vector (L2, log scale)")
    fig.tight_layout()
    model.train(was_training)
    return fig


def _pca_2d(vectors: torch.Tensor) -> np.ndarray:
    centred = vectors - vectors.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ v[:2].T).numpy()


def plot_token_embeddings(panels: dict[str, torch.Tensor], groups: list[str]):
    """One PCA scatter per panel ({title: [N, C] vectors}), each point a token
    coloured by its coarse part of speech (`groups`, one per row)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5))
    axes = np.atleast_1d(axes)
    for ax, (title, vectors) in zip(axes, panels.items()):
        points = _pca_2d(vectors.float())
        for group, colour in POS_COLOURS.items():
            rows = [i for i, g in enumerate(groups) if g == group]
            ax.scatter(points[rows, 0], points[rows, 1], s=6, alpha=0.6, color=colour, label=group)
        ax.set_title(title)
        ax.set_xlabel("first principal component")
        ax.set_ylabel("second principal component")
    axes[-1].legend(markerscale=3, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ training
def plot_mlm_history(history, baseline_accuracy: float, baseline_loss: float):
    """Loss (train, smoothed, and held-out) and held-out masked-token accuracy
    against tokens seen, beside guessing without context: the loss of
    guessing by token frequency, the accuracy of always the most frequent token."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4))
    tokens = np.array(history.tokens_seen) / 1e6
    eval_tokens = history.at_steps("tokens_seen", history.eval_steps) / 1e6
    loss_ax.plot(tokens, smooth(history.train_loss), label="train (smoothed)")
    loss_ax.plot(eval_tokens, history.eval_metrics["val_loss"], "o-", label="held-out")
    loss_ax.axhline(baseline_loss, color="gray", linestyle="--", label="token frequency alone")
    loss_ax.set_title("MLM loss on masked tokens")
    loss_ax.set_xlabel("tokens seen (millions)")
    loss_ax.set_ylabel("cross-entropy (nats per masked token)")
    loss_ax.legend()
    acc_ax.plot(eval_tokens, np.array(history.eval_metrics["masked_accuracy"]) * 100, "o-",
                label="TinyBert, held-out")
    acc_ax.axhline(baseline_accuracy * 100, color="gray", linestyle="--",
                   label="always the most frequent token")
    acc_ax.set_title("Masked-token accuracy (top-1)")
    acc_ax.set_xlabel("tokens seen (millions)")
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.legend()
    fig.tight_layout()
    return fig
