"""Notebook 00's plumbing: the shipped web pages and documents, a naive "all visible text"
extractor to compare with, scores against hand-extracted texts, plots, and the small causal
LM that measures what cleaning is worth. The cleaning steps themselves are the notebook's.

The files are in data/pretraining/ (their origin and licences: data/pretraining/README.md).
"""
from __future__ import annotations

import collections
import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .paths import data_dir

# The hand-extracted English news texts (newspaper4k's gold texts). None of their pages is in the
# crawl the notebook cleans, so they are held-out prose for the language models: the first three
# choose settings (validation), the others are the test.
ENGLISH_NEWS = ("fox13now_001", "time_001", "video_article_02",
                "article_with_br", "article_with_divs", "cleveland.com1", "cnn_001", "cnn_002", "cnn_article",
                "cnn_summary", "cnn_test_nlp", "video_article_01", "wired_001")
VALIDATION_NEWS = ENGLISH_NEWS[:3]
# Elements whose text a reader never sees.
INVISIBLE = ("script", "style", "noscript", "template", "svg", "head")


def pretraining_dir() -> Path:
    return data_dir() / "pretraining"


# ------------------------------------------------------------------ the shipped files
def warc_paths() -> list[Path]:
    """The crawl's two WARC files (gzipped, one record after another)."""
    return sorted((pretraining_dir() / "warc").glob("*.warc.gz"))


def load_commoncrawl() -> list[dict]:
    """Common Crawl documents already reduced to text (WET-like): [{"url", "text"}], in file order."""
    documents = []
    for path in sorted((pretraining_dir() / "commoncrawl").glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            documents += [{"url": record["id"], "text": record["text"]} for record in map(json.loads, lines)]
    return documents


def load_news_pages() -> dict[str, bytes]:
    """News pages as their publishers served them: {name: HTML bytes}, sorted by name."""
    return {path.stem: path.read_bytes() for path in sorted((pretraining_dir() / "news" / "html").glob("*.html"))}


def load_gold_texts() -> dict[str, str]:
    """The article text of each news page, extracted by hand: {name: text}."""
    return {path.stem: path.read_text(encoding="utf-8").strip()
            for path in sorted((pretraining_dir() / "news" / "gold").glob("*.txt"))}


def load_vietnamese_pages() -> dict[str, bytes]:
    """A sample of LibreOffice's Vietnamese help pages: {name: HTML bytes}."""
    return {path.stem: path.read_bytes() for path in sorted((pretraining_dir() / "vietnamese").glob("*.html"))}


def load_stop_words(language: str = "English") -> set[str]:
    """jusText's stop-word list for `language` ("English" or "Vietnamese"), lower case."""
    text = (pretraining_dir() / "stoplists" / f"{language}.txt").read_text(encoding="utf-8")
    return {line.strip().lower() for line in text.splitlines() if line.strip()}


def load_word_list() -> list[str]:
    """The English "List of Dirty, Naughty, Obscene, and Otherwise Bad Words", one entry per line."""
    text = (pretraining_dir() / "wordlists" / "naughty_words_en.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def held_out_prose(split: str) -> str:
    """English news prose no model here trains on: "val" (for choosing settings) or "test"."""
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', not {split!r}")
    names = VALIDATION_NEWS if split == "val" else ENGLISH_NEWS[len(VALIDATION_NEWS):]
    gold = load_gold_texts()
    return "\n\n".join(gold[name] for name in names)


# ------------------------------------------------------------------ extraction and scoring
def visible_text(html: bytes | str) -> str:
    """Every piece of text a browser would show, one per line: menus, buttons, footers and all.
    The naive extraction, which keeps everything outside scripts and styles."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except Exception:  # an empty or broken page
        return ""
    for element in [element for element in root.iter(*INVISIBLE) if element.getparent() is not None]:
        element.drop_tree()
    pieces = (" ".join(piece.split()) for piece in root.itertext() if isinstance(piece, str))
    return "\n".join(piece for piece in pieces if piece)


def words(text: str) -> list[str]:
    """Lower-case words and single non-space characters (a CJK character is a word here)."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def word_overlap(extracted: str, gold: str) -> dict[str, float]:
    """Precision, recall and F1 of the words of `extracted` against those of `gold`, as multisets:
    how much of the extraction is article text, and how much of the article it found."""
    got, want = collections.Counter(words(extracted)), collections.Counter(words(gold))
    common = sum((got & want).values())
    precision = common / max(1, sum(got.values()))
    recall = common / max(1, sum(want.values()))
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ------------------------------------------------------------------ plots
def plot_survival(stages: dict[str, tuple[int, int]], ax=None):
    """Documents and characters left after each stage: {stage: (documents, characters)}."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    names = list(stages)
    documents = [stages[name][0] for name in names]
    characters = [stages[name][1] / 1000 for name in names]
    bars = ax.bar(names, documents, color="#4c72b0")
    ax.bar_label(bars, label_type="center", color="white")
    ax.set_ylabel("documents left")
    ax.set_ylim(0, max(documents) * 1.18)
    right = ax.twinx()
    right.plot(names, characters, "o-", color="#dd8452")
    right.set_ylabel("thousands of characters left", color="#dd8452")
    right.set_ylim(0, max(characters) * 1.1)
    ax.set_title("What survives each stage of the pipeline")
    ax.tick_params(axis="x", rotation=25)
    return ax


def plot_band_curve(bands: int, rows: int, pairs: list[tuple[float, bool]] = (), ax=None):
    """The chance that two documents of Jaccard similarity s share at least one whole band,
    1 - (1 - s^rows)^bands, and, as points, real pairs (similarity, whether they were found)."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    s = np.linspace(0, 1, 201)
    ax.plot(s, 1 - (1 - s**rows) ** bands, label=f"{bands} bands of {rows} rows")
    ax.axvline((1 / bands) ** (1 / rows), color="grey", linestyle=":", label="threshold ≈ (1/b)^(1/r)")
    if pairs:
        similarity, found = zip(*pairs)
        ax.scatter(similarity, [1.02 if f else -0.02 for f in found], s=12, alpha=0.6, color="#dd8452",
                   label="pairs (top: candidates, bottom: not)")
    ax.set_xlabel("Jaccard similarity of the two documents' shingles")
    ax.set_ylabel("probability of being a candidate pair")
    ax.set_title("Locality-sensitive hashing by bands")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def band_explorer(signatures: list[list[int]], similarity: dict[tuple[int, int], float],
                  near_duplicate_pairs, bands: int = 16, rows: int = 8):
    """Sliders for the number of bands and of rows (bands * rows at most the signatures' length):
    the S-curve, and which pairs of `signatures` the learner's `near_duplicate_pairs` makes
    candidates, placed at their true Jaccard similarity (`similarity[i, j]`, i < j)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    style = {"style": {"description_width": "4em"}}
    length = min(len(signature) for signature in signatures)
    bands_slider = widgets.IntSlider(value=bands, min=1, max=min(32, length), description="bands", **style)
    rows_slider = widgets.IntSlider(value=rows, min=1, max=16, description="rows", **style)
    shown = widgets.Output()

    def redraw(_=None):
        b, r = bands_slider.value, rows_slider.value
        with shown:
            shown.clear_output(wait=True)
            found = near_duplicate_pairs(signatures, b, r)
            plot_band_curve(b, r, [(s, pair in found) for pair, s in similarity.items()])
            plt.show()
            close = [pair for pair, s in similarity.items() if s >= 0.5]
            print(f"{len(found)} candidate pairs of {len(similarity)}; of the {len(close)} pairs with a similarity "
                  f"of 0.5 or more, {sum(pair in found for pair in close)} found; "
                  f"{sum(similarity[pair] < 0.5 for pair in found)} candidates below 0.5")

    def limit_rows(_=None):   # never more values than a signature has
        rows_slider.max = max(1, length // bands_slider.value)

    bands_slider.observe(limit_rows, names="value")
    for slider in (bands_slider, rows_slider):
        slider.observe(redraw, names="value")
    limit_rows()
    redraw()
    return widgets.VBox([widgets.HBox([bands_slider, rows_slider]), shown])


# ------------------------------------------------------------------ the measuring model
@dataclass
class ByteGPTConfig:
    """Notebook 03's architecture over bytes: 256 ids, so bits per byte need no tokenizer."""

    block_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    vocab_size: int = 256


class Block(nn.Module):
    """A pre-LN GPT-2 block: causal self-attention, then an MLP, each added to the residual."""

    def __init__(self, config: ByteGPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * config.n_embd, config.n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)       # (B, nh, T, hs)
                   for t in self.c_attn(self.ln_1(x)).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)                # (B, nh, T, hs)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln_2(x))


class ByteGPT(nn.Module):
    """Token and learned position embeddings, pre-LN blocks, a final LayerNorm, a tied head."""

    def __init__(self, config: ByteGPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))          # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T                                     # (B, T, 256)


def text_bytes(text: str) -> torch.Tensor:
    """The UTF-8 bytes of `text` as a long tensor of ids 0..255."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


@torch.no_grad()
def bits_per_byte(model: ByteGPT, text: str, batch_size: int = 32) -> float:
    """The model's cross-entropy on `text`, in bits per byte: every byte after the first
    predicted once, from up to block_size bytes before it."""
    ids, block = text_bytes(text), model.config.block_size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nats = 0.0
    starts = list(range(0, len(ids) - 1, block))   # window s predicts bytes s+1 .. s+block
    full = [s for s in starts if s + block + 1 <= len(ids)]
    for i in range(0, len(full), batch_size):
        batch = torch.stack([ids[s: s + block + 1] for s in full[i: i + batch_size]]).to(device)
        logits = model(batch[:, :-1]).float()
        nats += F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="sum").item()
    if len(starts) > len(full):                      # the last, shorter window
        window = ids[starts[-1]:].to(device)
        logits = model(window[None, :-1]).float()
        nats += F.cross_entropy(logits[0], window[1:], reduction="sum").item()
    model.train(was_training)
    return nats / math.log(2) / (len(ids) - 1)


def train_byte_lm(text: str, *, seed: int, steps: int, batch_size: int, config: ByteGPTConfig, lr: float,
                  device=None, eval_text: str | None = None, eval_every: int = 100):
    """A fresh ByteGPT trained on random windows of `text` (its UTF-8 bytes) for exactly `steps`
    steps of `batch_size` windows, so two runs see the same number of bytes whatever their text:
    (model, lmcourse.train.History). `eval_text`, if given, is scored in bits per byte every
    `eval_every` steps (on its first 64 windows at most, an estimate) and recorded as "val_bpb"."""
    from .runtime import seed_everything
    from .train import train

    seed_everything(seed)
    model = ByteGPT(config)
    ids = text_bytes(text)
    windows = torch.Generator().manual_seed(seed)

    def get_batch():
        starts = torch.randint(len(ids) - config.block_size - 1, (batch_size,), generator=windows)
        batch = torch.stack([ids[s: s + config.block_size + 1] for s in starts.tolist()])
        return batch[:, :-1], batch[:, 1:]

    def loss_fn(model, batch):
        inputs, targets = batch
        return F.cross_entropy(model(inputs).flatten(0, 1).float(), targets.flatten())

    eval_fn = None
    if eval_text is not None:
        sample = eval_text[: 64 * config.block_size]
        eval_fn = lambda model: {"val_bpb": bits_per_byte(model, sample)}  # noqa: E731
    history = train(model, get_batch, loss_fn, steps=steps, lr=lr, device=device, eval_fn=eval_fn,
                    eval_every=eval_every)
    return model.eval(), history
