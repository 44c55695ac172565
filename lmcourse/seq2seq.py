"""Plumbing for notebook 04: the plays it pretrains on, the checkpoint of its
pretraining run to the end, its sequence-to-sequence task (First Folio spelling
to modern spelling, line by line, from the pairs data/build_folio_pairs.py
aligns), padding, and the character error rate that scores the task."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from .data import load_plays, play_pairs
from .paths import data_dir

SPLITS = ("train", "val", "test")


def aligned_pairs_path() -> Path:
    return data_dir() / "shakespeare" / "aligned" / "folio_modern.tsv"


def load_folio_pairs(split: str) -> list[tuple[str, str]]:
    """(Folio line, modern line) pairs of one split, in play order.

    Plays are kept apart: "test" is Hamlet, Macbeth and Julius Caesar, "val"
    Twelfth Night, "train" every other play in both spellings.

    load_folio_pairs("test")[0] -> ("Who's there?", "Who's there?")  (Hamlet's first line)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return [(folio, modern) for s, _, folio, modern in _read_pairs(aligned_pairs_path()) if s == split]


def held_out_plays(split: str) -> list[str]:
    """The (modern) names of the plays in a split, sorted."""
    return sorted({play for s, play, _, _ in _read_pairs(aligned_pairs_path()) if s == split})


def pretraining_texts() -> list[str]:
    """Every play that no split holds out, in both spellings: the modern
    ones (Pericles and Troilus and Cressida, which have no Folio text,
    included), then the Folio ones. The held-out plays' text stays unseen."""
    held_out = set(held_out_plays("val") + held_out_plays("test"))
    held_out_folio = {play_pairs()[play] for play in held_out}
    return ([text for play, text in load_plays("modern").items() if play not in held_out]
            + [text for play, text in load_plays("folio").items() if play not in held_out_folio])


def pretrained_checkpoint_path() -> Path:
    return data_dir() / "checkpoints" / "span_corruption.pt"


def load_pretrained_checkpoint() -> dict:
    """Notebook 04's span-corruption pretraining, run to its end (12,000 steps), as
    data/build_span_corruption_checkpoint.py saved it: "state_dict" (float32 tensors, ready for
    `TinySeq2Seq.load_state_dict`), "config" (the `Seq2SeqConfig` fields), the settings it was
    trained with, "steps", "seconds", "val_loss" (on the notebook's validation windows), and a
    check of the model: "check_batch", one batch of those windows (input_ids,
    decoder_input_ids, targets), and "check_loss", these weights' loss on it."""
    path = pretrained_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(f"No pretrained checkpoint at {path}; `python "
                                "data/build_span_corruption_checkpoint.py` builds it (22 minutes on 2 CPU cores).")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    checkpoint["state_dict"] = {name: tensor.float() for name, tensor in checkpoint["state_dict"].items()}
    checkpoint["check_batch"] = tuple(tensor.long() for tensor in checkpoint["check_batch"])
    return checkpoint


def pad_sequences(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Lists of ids as one (N, longest) tensor, shorter rows filled with `value` at the end.

    pad_sequences([[5, 6, 7], [8]], 0) -> tensor([[5, 6, 7], [8, 0, 0]])
    """
    longest = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [value] * (longest - len(s)) for s in sequences], dtype=torch.long)


@lru_cache(maxsize=None)
def _read_pairs(path: Path) -> tuple[tuple[str, str, str, str], ...]:
    if not path.is_file():
        raise FileNotFoundError(f"No aligned pairs at {path}; `python data/build_folio_pairs.py` builds them.")
    # Plain tab-separated lines: no quoting, the lines hold no tabs.
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(tuple(line.split("\t")) for line in lines[1:])


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions
    of single characters that turn `a` into `b`. edit_distance("haue", "have") -> 1"""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1,                        # delete char_a
                               current[j - 1] + 1,                     # insert char_b
                               previous[j - 1] + (char_a != char_b)))  # substitute
        previous = current
    return previous[-1]


def character_error_rate(predictions: list[str], references: list[str]) -> float:
    """Edit distance summed over lines, over the references' total length
    (as speech recognition's CER): 0 is perfect; copying "haue" for "have"
    costs 1/4.

    character_error_rate(["haue"], ["have"]) -> 0.25
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    total = sum(len(r) for r in references)
    return sum(edit_distance(p, r) for p, r in zip(predictions, references)) / max(1, total)


def exact_match(predictions: list[str], references: list[str]) -> float:
    """The fraction of lines predicted exactly, character for character."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return sum(p == r for p, r in zip(predictions, references)) / max(1, len(references))
