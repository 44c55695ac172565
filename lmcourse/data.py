"""The shipped corpora: Shakespeare's plays (modern and First Folio spelling)
and GPT-2's published BPE files. See data/README.md for their provenance."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .paths import data_dir

SPELLINGS = ("modern", "folio")
SPLITS = (None, "train", "val")
TRAIN_FRACTION = 0.9  # as nanoGPT's shakespeare_char/prepare.py


def load_plays(spelling: str = "modern") -> dict[str, str]:
    """Every play in one spelling, by file name, in sorted order.

    `load_plays("modern")["hamlet"]` starts "HAMLET, PRINCE OF DENMARK".
    First Folio file names follow the folio titles (`"twelfe-night"`);
    `play_pairs()` maps the modern names to them.
    """
    return dict(_read_plays(_spelling_dir(spelling)))


def load_corpus(spelling: str = "modern", split: str | None = None) -> str:
    """All plays of one spelling as one string, separated by a blank line.

    split=None gives everything, "train" the first 90% of characters and
    "val" the last 10%, so `load_corpus(split="train") + load_corpus(split="val")
    == load_corpus()`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    text = _joined_corpus(_spelling_dir(spelling))
    n_train = int(len(text) * TRAIN_FRACTION)
    return {None: text, "train": text[:n_train], "val": text[n_train:]}[split]


def play_pairs() -> dict[str, str]:
    """Modern play name -> First Folio play name, for every play in both spellings.

    Two plays of the modern set have no folio text (Pericles, Troilus and Cressida).
    """
    return json.loads((data_dir() / "shakespeare" / "pairs.json").read_text(encoding="utf-8"))


def gpt2_files() -> tuple[Path, Path]:
    """Paths of GPT-2's published `encoder.json` (token -> id) and `vocab.bpe` (merges)."""
    folder = data_dir() / "gpt2"
    return folder / "encoder.json", folder / "vocab.bpe"


def _spelling_dir(spelling: str) -> Path:
    if spelling not in SPELLINGS:
        raise ValueError(f"spelling must be one of {SPELLINGS}, not {spelling!r}")
    return data_dir() / "shakespeare" / spelling


# The caches are keyed by folder, so pointing $LMCOURSE_DATA elsewhere is seen.
@lru_cache(maxsize=None)
def _read_plays(folder: Path) -> tuple[tuple[str, str], ...]:
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"No plays (*.txt) in {folder}; `make data` rebuilds data/.")
    return tuple((f.stem, f.read_text(encoding="utf-8")) for f in files)


@lru_cache(maxsize=None)
def _joined_corpus(folder: Path) -> str:
    # Each file ends with one newline, so joining with "\n" leaves a blank line.
    return "\n".join(text for _, text in _read_plays(folder))
