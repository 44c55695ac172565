"""Pictures for notebook 01: coloured tokens, a merge-by-merge slider, a compression plot.

Everything here draws; the tokenizer itself is the student's. The slider is driven
by the student's own `pretokenize` and `merge_pair`, so it shows what their code does.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
from IPython.display import HTML, display

# Pastel backgrounds, cycled token by token so that neighbours differ.
TOKEN_COLOURS = ("#fde2a7", "#bfe3f7", "#d4f0c0", "#f9c6d0", "#e0d4f7", "#c8ece6")


def piece_text(piece: bytes) -> str:
    """How one token's bytes are shown: UTF-8 where they form whole characters,
    `\\xNN` escapes for the bytes of a character split across tokens, and visible
    marks for line breaks and tabs (a token may be nothing but whitespace)."""
    text = piece.decode("utf-8", errors="backslashreplace")
    return text.replace("\n", "↵").replace("\t", "⇥")


def tokens_html(pieces: Sequence[bytes]) -> str:
    """HTML of the tokens side by side, each on its own coloured background."""
    spans = [
        f'<span style="background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]};'
        f'padding:1px 0;margin-right:1px">{html.escape(piece_text(piece))}</span>'
        for i, piece in enumerate(pieces)
    ]
    return (
        '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.9;color:#000">'
        + "".join(spans)
        + "</div>"
    )


def show_tokens(pieces: Sequence[bytes], label: str | None = None) -> None:
    """Display tokens (as bytes) coloured one by one, with an optional label and count."""
    heading = f"<b>{html.escape(label)}</b> " if label else ""
    display(HTML(f"{heading}<small>({len(pieces)} tokens)</small>{tokens_html(pieces)}"))


def merge_stepper(
    sentence: str,
    merges: Sequence[tuple[bytes, bytes]],
    pretokenize: Callable[[str], list[str]],
    merge_pair: Callable[[tuple[int, ...], tuple[int, int], int], tuple[int, ...]],
) -> widgets.VBox:
    """A slider over the merges learned by `train_bpe`: at step k the sentence is
    shown as tokenized by the first k merges, applied with `merge_pair` to each
    pretoken in the order they were learned (what encoding does, merge by merge).

    Ids follow `train_bpe`'s layout: bytes are 0..255 and merge k (from 0) makes id 256 + k.
    """
    ids_of = {bytes([b]): b for b in range(256)}
    for rank, (left, right) in enumerate(merges):
        ids_of.setdefault(left + right, 256 + rank)
    vocab = {i: token for token, i in ids_of.items()}

    words = [tuple(pretoken.encode("utf-8")) for pretoken in pretokenize(sentence)]
    steps = [words]  # steps[k]: the pretokens after the first k merges
    for rank, (left, right) in enumerate(merges):
        pair, new_id = (ids_of[left], ids_of[right]), ids_of[left + right]
        steps.append([merge_pair(word, pair, new_id) for word in steps[-1]])

    slider = widgets.IntSlider(
        value=0, min=0, max=len(merges), description="merges", continuous_update=True,
        layout=widgets.Layout(width="95%"),
    )
    view = widgets.HTML()

    def show(step: int) -> None:
        pieces = [vocab[i] for word in steps[step] for i in word]
        if step == 0:
            learned = "no merges yet: one token per byte"
        else:
            left, right = merges[step - 1]
            learned = (  # merges count from 0: after `step` merges the last one is merge step - 1
                f"{step} merge{'s' if step > 1 else ''} applied; the last, merge {step - 1}: "
                f"{html.escape(repr(left))} + {html.escape(repr(right))} &rarr; id {ids_of[left + right]}"
            )
        view.value = (
            f"<small>{learned}<br>{len(pieces)} tokens for "
            f"{len(sentence.encode('utf-8'))} bytes</small>{tokens_html(pieces)}"
        )

    slider.observe(lambda change: show(change["new"]), names="value")
    show(0)
    return widgets.VBox([slider, view])


def plot_bytes_per_token(
    vocab_sizes: Sequence[int],
    bytes_per_token: Sequence[float],
    references: dict[str, tuple[int, float]] | None = None,
    title: str = "Compression against vocabulary size",
) -> None:
    """Show bytes per token against vocabulary size (log scale), with other
    tokenizers as labelled points: references = {name: (vocab_size, bytes_per_token)}."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(vocab_sizes, bytes_per_token, "o-", label="your BPE (first k merges)")
    for name, (size, value) in (references or {}).items():
        ax.plot([size], [value], "s", markersize=8, label=name)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda size, _: f"{size:,.0f}"))
    ax.set_xlabel("vocabulary size (ids, log scale)")
    ax.set_ylabel("bytes per token (held-out text)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    plt.show()
