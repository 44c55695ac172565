"""Notebook 00: plain correct implementations, and wrong ones that each make one mistake a
student plausibly makes. Every source replaces a whole "<name>_code" cell; the notebook's given
cells (STOP_WORDS and RULES, shingle_hash and permutations, the PII patterns and placeholders)
stay in place."""
from . import mutate

# Correct: one pass over the pieces, the ratios compared as counts.
GOPHER_QUALITY = '''
def gopher_quality(text):
    pieces = text.split()
    words = [w for w in pieces if any(c.isalnum() for c in w)]
    lines = text.splitlines()
    hashes = text.count("#")
    ellipses = text.count("...") + text.count("\u2026")
    with_letter = sum(1 for w in pieces if any(c.isalpha() for c in w))
    bullets = sum(1 for line in lines if line.lstrip()[:1] in ("-", "\u2022"))
    trailing = sum(1 for line in lines if line.rstrip().endswith("...") or line.rstrip().endswith("\u2026"))
    broken = {
        "word_count": len(words) < 50 or len(words) > 100_000,
        "mean_word_length": bool(words) and not 3 * len(words) <= sum(len(w) for w in words) <= 10 * len(words),
        "symbol_to_word_ratio": 10 * hashes > len(pieces) or 10 * ellipses > len(pieces),
        "bullet_lines": 10 * bullets > 9 * len(lines),
        "ellipsis_lines": 10 * trailing > 3 * len(lines),
        "alphabetic_words": 10 * with_letter < 8 * len(pieces),
        "stop_words": len({w for w in pieces if w in STOP_WORDS}) < 2,
    }
    return [rule for rule in RULES if broken[rule]]
'''

# Correct: numpy-free, but the permutations applied to a whole signature at once.
MINHASH_SIGNATURE = '''
def minhash_signature(shingles, num_perm, seed):
    a, b = permutations(num_perm, seed)
    hashes = [shingle_hash(s) for s in shingles]
    return [min(((ak * h + bk) & 0xFFFFFFFF for h in hashes), default=MAX_HASH) for ak, bk in zip(a, b)]
'''

# Correct: compares every pair, band by band.
NEAR_DUPLICATE_PAIRS = '''
def near_duplicate_pairs(signatures, bands, rows):
    pairs = set()
    for i in range(len(signatures)):
        for j in range(i + 1, len(signatures)):
            for band in range(bands):
                part = slice(band * rows, (band + 1) * rows)
                if list(signatures[i][part]) == list(signatures[j][part]):
                    pairs.add((i, j))
                    break
    return pairs
'''

# Correct: a loop over the IP matches, rebuilding the text.
MASK_PII = '''
import ipaddress
import re


def mask_pii(text):
    text = re.sub(EMAIL_PATTERN, EMAIL_PLACEHOLDER, text)
    out, last = [], 0
    for match in re.finditer(IP_PATTERN, text):
        out.append(text[last:match.start()])
        try:
            public = ipaddress.ip_address(match.group()).is_global
        except ValueError:
            public = False
        out.append(IP_PLACEHOLDER if public else match.group())
        last = match.end()
    return "".join(out) + text[last:]
'''

CORRECT = {"gopher_quality": GOPHER_QUALITY, "minhash_signature": MINHASH_SIGNATURE,
           "near_duplicate_pairs": NEAR_DUPLICATE_PAIRS, "mask_pii": MASK_PII}

WRONG = {
    "gopher_quality": {
        "symbol pieces counted as words": mutate(GOPHER_QUALITY, {
            "words = [w for w in pieces if any(c.isalnum() for c in w)]": "words = pieces"}),
        "a stop word counted each time it occurs": mutate(GOPHER_QUALITY, {
            "len({w for w in pieces if w in STOP_WORDS}) < 2": "sum(1 for w in pieces if w in STOP_WORDS) < 2"}),
        "ratios at the threshold count as broken": mutate(GOPHER_QUALITY, {
            "10 * bullets > 9 * len(lines)": "10 * bullets >= 9 * len(lines)",
            "10 * trailing > 3 * len(lines)": "10 * trailing >= 3 * len(lines)"}),
        "stop words compared in lower case": mutate(GOPHER_QUALITY, {
            "{w for w in pieces if w in STOP_WORDS}": "{w.lower() for w in pieces if w.lower() in STOP_WORDS}"}),
    },
    "minhash_signature": {
        "no modulo 2**32": mutate(MINHASH_SIGNATURE, {"(ak * h + bk) & 0xFFFFFFFF": "ak * h + bk"}),
        "modulo 2**32 - 1": mutate(MINHASH_SIGNATURE, {"(ak * h + bk) & 0xFFFFFFFF": "(ak * h + bk) % 0xFFFFFFFF"}),
        "no shingles give an empty signature": mutate(MINHASH_SIGNATURE, {", default=MAX_HASH": ", default=None"}),
        "the hash without its finalizer (sha1 alone)": mutate(MINHASH_SIGNATURE, {
            "hashes = [shingle_hash(s) for s in shingles]":
            "import hashlib\n    hashes = [int.from_bytes(hashlib.sha1(s.encode()).digest()[:4], 'little') for s in shingles]"}),
    },
    "near_duplicate_pairs": {
        "every band must agree": mutate(NEAR_DUPLICATE_PAIRS, {
            "                    pairs.add((i, j))\n                    break": "                    break\n            else:\n                pairs.add((i, j))",
            "if list(signatures[i][part]) == list(signatures[j][part]):": "if list(signatures[i][part]) != list(signatures[j][part]):"}),
        "buckets keyed by the band's values alone": '''
from collections import defaultdict


def near_duplicate_pairs(signatures, bands, rows):
    buckets = defaultdict(set)
    for i, signature in enumerate(signatures):
        for band in range(bands):
            buckets[tuple(signature[band * rows:(band + 1) * rows])].add(i)
    return {(i, j) for members in buckets.values() for i in members for j in members if i < j}
''',
        "bands taken with a stride": mutate(NEAR_DUPLICATE_PAIRS, {
            "part = slice(band * rows, (band + 1) * rows)": "part = slice(band, bands * rows, bands)"}),
    },
    "mask_pii": {
        "private addresses masked too": mutate(MASK_PII, {
            "IP_PLACEHOLDER if public else match.group()": "IP_PLACEHOLDER"}),
        "an e-mail is anything around an @": mutate(MASK_PII, {
            "re.sub(EMAIL_PATTERN, EMAIL_PLACEHOLDER, text)": r're.sub(r"\S+@\S+", EMAIL_PLACEHOLDER, text)'}),
        "public means not private": mutate(MASK_PII, {
            "ipaddress.ip_address(match.group()).is_global": "not ipaddress.ip_address(match.group()).is_private"}),
        "an address ipaddress cannot read is masked": mutate(MASK_PII, {"public = False": "public = True"}),
    },
}
