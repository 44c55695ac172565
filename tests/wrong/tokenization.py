"""Notebook 01: plain correct implementations, and wrong ones that each make
one mistake a student plausibly makes. Every source replaces a whole
"<name>_code" cell, so it imports what it needs itself."""
from . import mutate

PRETOKENIZE = r'''
import regex

def pretokenize(text):
    return regex.findall(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""", text)
'''

GET_PAIR_COUNTS = '''
def get_pair_counts(words):
    counts = {}
    for word, freq in words.items():
        for i in range(len(word) - 1):
            pair = (word[i], word[i + 1])
            counts[pair] = counts.get(pair, 0) + freq
    return counts
'''

MERGE_PAIR = '''
def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if tuple(ids[i:i + 2]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return tuple(out)
'''

# The naive algorithm: recount every pair after every merge.
TRAIN_BPE = '''
import regex

def train_bpe(text, vocab_size, special_tokens=()):
    special_tokens = list(special_tokens)
    pieces = [text]
    if special_tokens:
        longest_first = sorted(special_tokens, key=len, reverse=True)
        pieces = regex.split("|".join(regex.escape(t) for t in longest_first), text)
    words = {}
    for piece in pieces:
        for pretoken in pretokenize(piece):
            word = tuple(pretoken.encode("utf-8"))
            words[word] = words.get(word, 0) + 1
    vocab = {i: bytes([i]) for i in range(256)}
    merges = []
    for new_id in range(256, vocab_size - len(special_tokens)):
        counts = get_pair_counts(words)
        if not counts:
            break
        best = max(counts, key=lambda pair: (counts[pair], vocab[pair[0]], vocab[pair[1]]))
        merges.append((vocab[best[0]], vocab[best[1]]))
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        merged_words = {}
        for word, freq in words.items():
            merged = merge_pair(word, best, new_id)
            merged_words[merged] = merged_words.get(merged, 0) + freq
        words = merged_words
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    return vocab, merges
'''

BPE_TOKENIZER = '''
import regex

class BPETokenizer:
    def __init__(self, vocab, merges, special_tokens=()):
        self.vocab = dict(vocab)
        self.special_tokens = list(special_tokens)
        self.id_of = {token: i for i, token in self.vocab.items()}
        self.rank = {(self.id_of[a], self.id_of[b]): r for r, (a, b) in enumerate(merges)}
        self.merged = {(self.id_of[a], self.id_of[b]): self.id_of[a + b] for a, b in merges}

    def _pieces(self, text):
        if not self.special_tokens:
            return [text]
        longest_first = sorted(self.special_tokens, key=len, reverse=True)
        return regex.split("(" + "|".join(regex.escape(t) for t in longest_first) + ")", text)

    def encode(self, text):
        ids = []
        for piece in self._pieces(text):
            if piece in self.special_tokens:
                ids.append(self.id_of[piece.encode("utf-8")])
                continue
            for pretoken in pretokenize(piece):
                word = tuple(self.id_of[bytes([b])] for b in pretoken.encode("utf-8"))
                while len(word) > 1:
                    pair = min(zip(word, word[1:]), key=lambda p: self.rank.get(p, float("inf")))
                    if pair not in self.rank:
                        break
                    word = merge_pair(word, pair, self.merged[pair])
                ids.extend(word)
        return ids

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")
'''

CORRECT = {
    "pretokenize": PRETOKENIZE,
    "get_pair_counts": GET_PAIR_COUNTS,
    "merge_pair": MERGE_PAIR,
    "train_bpe": TRAIN_BPE,
    "BPETokenizer": BPE_TOKENIZER,
}

WRONG = {
    "pretokenize": {
        "splits on whitespace, dropping it": "def pretokenize(text):\n    return text.split()\n",
        "no contractions": mutate(PRETOKENIZE, {"'s|'t|'re|'ve|'m|'ll|'d| ?": " ?"}),
        "contractions in any case": mutate(PRETOKENIZE, {"'s|'t|'re|'ve|'m|'ll|'d|": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|"}),
        "a whitespace run keeps its last space": mutate(PRETOKENIZE, {r"|\s+(?!\S)|": "|"}),
        "ASCII letters and digits only": mutate(PRETOKENIZE, {r" ?\p{L}+| ?\p{N}+": " ?[A-Za-z]+| ?[0-9]+",
                                                              r"[^\s\p{L}\p{N}]": r"[^\sA-Za-z0-9]"}),
    },
    "get_pair_counts": {
        "ignores word frequencies": mutate(GET_PAIR_COUNTS, {"counts.get(pair, 0) + freq": "counts.get(pair, 0) + 1"}),
        "each pair once per word": mutate(GET_PAIR_COUNTS, {
            "        for i in range(len(word) - 1):\n            pair = (word[i], word[i + 1])\n":
            "        for pair in set(zip(word, word[1:])):\n"}),
        "misses the last pair": mutate(GET_PAIR_COUNTS, {"range(len(word) - 1)": "range(len(word) - 2)"}),
    },
    "merge_pair": {
        "overlapping occurrences": mutate(MERGE_PAIR, {"            i += 2\n": "            i += 1\n"}),
        "first occurrence only": mutate(MERGE_PAIR, {"            i += 2\n": "            return tuple(out) + tuple(ids[i + 2:])\n"}),
        "right to left": """
def merge_pair(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == tuple(pair):
            out.append(new_id)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return tuple(reversed(out))
""",
        "returns a list": mutate(MERGE_PAIR, {"return tuple(out)": "return out"}),
    },
    "train_bpe": {
        "ties broken by ids": mutate(TRAIN_BPE, {"(counts[pair], vocab[pair[0]], vocab[pair[1]])": "(counts[pair], pair)"}),
        "ties broken by first seen": mutate(TRAIN_BPE, {
            "key=lambda pair: (counts[pair], vocab[pair[0]], vocab[pair[1]])": "key=counts.get"}),
        "ties broken by the joined bytes": mutate(TRAIN_BPE, {
            "(counts[pair], vocab[pair[0]], vocab[pair[1]])": "(counts[pair], vocab[pair[0]] + vocab[pair[1]])"}),
        "special tokens not cut out": mutate(TRAIN_BPE, {"    if special_tokens:\n": "    if False:\n"}),
        "special tokens deleted, merging across them": mutate(TRAIN_BPE, {
            'pieces = regex.split("|".join(regex.escape(t) for t in longest_first), text)':
            'pieces = [regex.sub("|".join(regex.escape(t) for t in longest_first), "", text)]'}),
        "special tokens first in the vocabulary": mutate(TRAIN_BPE, {
            "vocab = {i: bytes([i]) for i in range(256)}\n":
            "vocab = {i: bytes([i]) for i in range(256)}\n"
            "    vocab.update({256 + k: t.encode('utf-8') for k, t in enumerate(special_tokens)})\n",
            "range(256, vocab_size - len(special_tokens))": "range(256 + len(special_tokens), vocab_size)",
            '    for token in special_tokens:\n        vocab[len(vocab)] = token.encode("utf-8")\n': ""}),
        "vocab_size does not count the special tokens": mutate(TRAIN_BPE, {
            "range(256, vocab_size - len(special_tokens))": "range(256, vocab_size)"}),
    },
    "BPETokenizer": {
        "leftmost known pair merged first, not lowest rank": mutate(BPE_TOKENIZER, {
            'pair = min(zip(word, word[1:]), key=lambda p: self.rank.get(p, float("inf")))':
            "pair = next((p for p in zip(word, word[1:]) if p in self.rank), None)"}),
        "merges across pretokens": mutate(BPE_TOKENIZER, {"for pretoken in pretokenize(piece):": "for pretoken in [piece]:"}),
        "special tokens not atomic": mutate(BPE_TOKENIZER, {
            "self.special_tokens = list(special_tokens)": "self.special_tokens = []"}),
        "shorter special token first": mutate(BPE_TOKENIZER, {
            "longest_first = sorted(self.special_tokens, key=len, reverse=True)": "longest_first = self.special_tokens"}),
        "decode fails on invalid UTF-8": mutate(BPE_TOKENIZER, {'errors="replace"': 'errors="strict"'}),
        "decode token by token": mutate(BPE_TOKENIZER, {
            'b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")':
            '"".join(self.vocab[i].decode("utf-8", errors="replace") for i in ids)'}),
        "ids taken to be byte values": mutate(BPE_TOKENIZER, {
            'tuple(self.id_of[bytes([b])] for b in pretoken.encode("utf-8"))': 'tuple(pretoken.encode("utf-8"))'}),
    },
}
