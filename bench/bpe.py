"""The reference `train_bpe` (solutions/01_tokenization.ipynb) beside Hugging Face
tokenizers' BpeTrainer: vocab 2048 on the first 1 MB of the Shakespeare training split.

Target: at most 10 s, and within 10x of Hugging Face's time measured
in the same run. Both learn byte-level BPE over GPT-2's pretokens and break ties
differently, so their merges agree except where pair counts tie (the "same merges"
column). train_bpe is pure Python on one core; Hugging Face's trainer is Rust and
uses every core.
"""
from __future__ import annotations

import json
import time

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from bench import load_notebook_definitions
from lmcourse.data import load_corpus

NOTEBOOK = "solutions/01_tokenization.ipynb"
VOCAB_SIZE = 2048
TEXT_BYTES = 1_000_000
TARGET_SECONDS = 10.0
MAX_RATIO = 10.0


def train_hf(text: str, vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, as train_bpe
        show_progress=False,
    )
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


def hf_merges(tokenizer: Tokenizer, bytes_to_unicode: dict[int, str]) -> list[tuple[bytes, bytes]]:
    """A trained Hugging Face byte-level BPE's merges as pairs of bytes (it stores them
    in GPT-2's printable stand-ins for bytes)."""
    byte_of = {char: b for b, char in bytes_to_unicode.items()}
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(bytes(byte_of[char] for char in token) for token in pair) for pair in merges]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def run() -> list[dict]:
    solution = load_notebook_definitions(NOTEBOOK)
    train_bpe = solution["train_bpe"]
    # The first 1,000,000 bytes; a character cut in half at the end is dropped.
    text = load_corpus(split="train").encode("utf-8")[:TEXT_BYTES].decode("utf-8", errors="ignore")

    (vocab, merges), seconds = timed(train_bpe, text, VOCAB_SIZE)
    hf_tokenizer, hf_seconds = timed(train_hf, text, VOCAB_SIZE)
    if len(vocab) != VOCAB_SIZE or hf_tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(f"vocabularies of {len(vocab)} and {hf_tokenizer.get_vocab_size()} ids, expected {VOCAB_SIZE}")

    ratio = seconds / hf_seconds
    shared = len(set(merges) & set(hf_merges(hf_tokenizer, solution["gpt2_bytes_to_unicode"]())))
    return [{
        "benchmark": f"train_bpe, vocab {VOCAB_SIZE}, {len(text.encode('utf-8')) / 1e6:.1f} MB",
        "seconds": seconds,
        "baseline": "HF tokenizers BpeTrainer",
        "baseline_seconds": hf_seconds,
        "ratio": ratio,
        "same merges": f"{shared}/{len(merges)}",
        "target": f"<= {TARGET_SECONDS:.0f} s and <= {MAX_RATIO:.0f}x HF",
        "ok": seconds <= TARGET_SECONDS and ratio <= MAX_RATIO,
    }]
