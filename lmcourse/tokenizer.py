"""The course tokenizer: GPT-2-style byte-level BPE trained on the course corpus.

Layout of its 4096 ids: 0..3989 are the BPE vocabulary (the 256 byte symbols,
then the learned merges), 3990..3995 the special tokens "[PAD]" "[CLS]" "[SEP]"
"[MASK]" "<bos>" "<eos>", and 3996..4095 T5's sentinels in descending order, so
that `<extra_id_0>` has the highest id, as in T5 (where it is 32099).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from .data import load_corpus
from .paths import data_dir

VOCAB_SIZE = 4096
NUM_SENTINELS = 100
SENTINEL_TOKENS = [f"<extra_id_{i}>" for i in reversed(range(NUM_SENTINELS))]
SPECIAL_TOKENS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "<bos>", "<eos>"] + SENTINEL_TOKENS


def tokenizer_path() -> Path:
    return data_dir() / "tokenizer" / "tokenizer.json"


def build_course_tokenizer(text: str | None = None) -> Tokenizer:
    """Train the course tokenizer on `text` (default: the modern-spelling train split).

    Byte-level BPE as GPT-2: the GPT-2 regex splits text into pretokens, each is
    turned into bytes shown as printable symbols ("Ġ" is a space), merges are
    learned on those, and special tokens are appended after the merges.
    """
    if text is None:
        text = load_corpus(split="train")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    # One sequence, so pretokens at line breaks are the ones encode() will see.
    tokenizer.train_from_iterator([text], trainer)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    if tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(
            f"trained vocabulary has {tokenizer.get_vocab_size()} ids, expected {VOCAB_SIZE}"
        )
    return tokenizer


def load_course_tokenizer() -> Tokenizer:
    """The shipped course tokenizer (data/tokenizer/tokenizer.json).

    The instance is shared between callers: copy it before changing its settings
    (`Tokenizer.from_str(tok.to_str())`). Decode with `skip_special_tokens=False`
    to see special tokens; the default drops them.

    >>> tok = load_course_tokenizer()
    >>> tok.decode(tok.encode("To be, or not to be").ids)
    'To be, or not to be'
    """
    return _load_tokenizer(tokenizer_path())


@lru_cache(maxsize=None)
def _load_tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise FileNotFoundError(f"No course tokenizer at {path}; `make data` rebuilds it.")
    return Tokenizer.from_file(str(path))


def special_token_ids() -> dict[str, int]:
    """Every special token of the course tokenizer (sentinels included) -> its id."""
    tokenizer = load_course_tokenizer()
    return {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}


def sentinel_ids(n: int) -> list[int]:
    """Ids of `<extra_id_0>` .. `<extra_id_{n-1}>`: the highest id first, then descending.

    sentinel_ids(3) -> [4095, 4094, 4093]
    """
    if not 0 <= n <= NUM_SENTINELS:
        raise ValueError(f"n must be in [0, {NUM_SENTINELS}], not {n}")
    ids = special_token_ids()
    return [ids[f"<extra_id_{i}>"] for i in range(n)]
