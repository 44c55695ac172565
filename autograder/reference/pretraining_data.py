"""Trusted references for notebook 00 (pretraining data).

- `gopher_quality`: Gopher's quality rules (Rae et al. 2021, appendix A) as the notebook states
  them, which are the rules of datatrove's GopherQualityFilter (FineWeb's) with the text split
  into words at whitespace; tests/test_grading_00.py runs datatrove's filter, given the same
  words, beside it.
- `minhash_signature`: datasketch's own MinHash (its default scheme, "affine32").
- `near_duplicate_pairs`: banded locality-sensitive hashing, as datasketch's MinHashLSH cuts
  a signature into bands.
- `mask_pii`: datatrove's PIIFormatter (FineWeb's) with one placeholder of each kind.
"""
from __future__ import annotations

import ipaddress
import itertools
import re
from collections import defaultdict

# ---------------------------------------------------------------- gopher_quality
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
RULES = ("word_count", "mean_word_length", "symbol_to_word_ratio", "bullet_lines", "ellipsis_lines",
         "alphabetic_words", "stop_words")


def is_symbol(word: str) -> bool:
    """A whitespace-separated piece with no letter or digit ("|", "-", "•", "...")."""
    return not any(ch.isalnum() for ch in word)


def gopher_quality(text: str) -> list[str]:
    pieces = text.split()
    words = [w for w in pieces if not is_symbol(w)]
    lines = text.splitlines()
    broken = []
    if not 50 <= len(words) <= 100_000:
        broken.append("word_count")
    if words and not 3 <= sum(map(len, words)) / len(words) <= 10:
        broken.append("mean_word_length")
    if pieces and (text.count("#") / len(pieces) > 0.1
                   or (text.count("...") + text.count("…")) / len(pieces) > 0.1):
        broken.append("symbol_to_word_ratio")
    if lines and sum(line.lstrip().startswith(("•", "-")) for line in lines) / len(lines) > 0.9:
        broken.append("bullet_lines")
    if lines and sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines) > 0.3:
        broken.append("ellipsis_lines")
    if pieces and sum(any(ch.isalpha() for ch in w) for w in pieces) / len(pieces) < 0.8:
        broken.append("alphabetic_words")
    if len(set(STOP_WORDS) & set(pieces)) < 2:
        broken.append("stop_words")
    return broken


# ---------------------------------------------------------------- MinHash
def minhash_signature(shingles, num_perm: int, seed: int) -> list[int]:
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=seed)
    for shingle in shingles:
        minhash.update(shingle.encode("utf-8") if isinstance(shingle, str) else shingle)
    return [int(value) for value in minhash.hashvalues]


def near_duplicate_pairs(signatures, bands: int, rows: int) -> set[tuple[int, int]]:
    buckets = defaultdict(list)
    for i, signature in enumerate(signatures):
        for band in range(bands):
            buckets[band, tuple(signature[band * rows:(band + 1) * rows])].append(i)
    return {pair for members in buckets.values() for pair in itertools.combinations(members, 2)}


# ---------------------------------------------------------------- PII
EMAIL_PATTERN = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])")
IP_PATTERN = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
EMAIL_PLACEHOLDER = "email@example.com"
IP_PLACEHOLDER = "22.214.171.124"


def is_public(address: str) -> bool:
    """datatrove's public_ip_validator: a global address; one ipaddress cannot read is not."""
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def mask_pii(text: str) -> str:
    text = EMAIL_PATTERN.sub(EMAIL_PLACEHOLDER, text)
    return IP_PATTERN.sub(lambda m: IP_PLACEHOLDER if is_public(m.group()) else m.group(), text)
