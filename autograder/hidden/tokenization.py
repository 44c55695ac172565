"""Hidden checks for notebook 01 (byte-level BPE).

Each check asks for exact known answers first (the small worked examples a
student can follow by hand), then edge cases, then agreement with the trusted
reference (`autograder/reference/tokenization.py`) on inputs drawn from the
grader's seeded `rng`; `BPETokenizer` must also tokenize exactly as GPT-2
does when loaded with GPT-2's published vocabulary and merges.
"""
from autograder.expect import Failed, expect, expect_equal, same_plain, short
from autograder.reference import tokenization as ref
from autograder.registry import exercise
from autograder.wire import Handle
from lmcourse.data import load_corpus

NOTEBOOK = "01_tokenization"
HELPERS = ("pretokenize", "get_pair_counts", "merge_pair")
EOT = "<|endoftext|>"

# Pieces random text is drawn from: every branch of GPT-2's regex, case that
# matters ("'S" is no contraction), letters and digits outside ASCII,
# combining marks, emoji sequences, CJK, and whitespace that is not " ".
TRICKY_PIECES = [
    "a", "b", "Z", "the", "ế", "ư", "ñ", "ß", "中", "文", "𝔘", "e\u0301", "🙂", "👍🏽",
    "👨\u200d👩\u200d👧", "1", "42", "٣", "Ⅻ", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n",
    "\u00a0", "\u3000", "\u200b", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL",
    ",", ".", "!", "?!", "--", "<", "|", ">", "\x00", "\x7f",
]
# Strings that each exercise one rule, for pretokenize and the tokenizer.
EDGE_TEXTS = [
    "", "a", " ", "\n", "Hello world", "Hello, world!!!", "it's", "I'll don't they're we've I'm you'd",
    "HE'S SHE'LL", "a  b", "a   b ", "line one\nline two\n\n\n  indented", "tabs\tand\t\tmore",
    "abc123 4567 8.9", "Xin chào thế giới! Tiếng Việt có dấu.", "中文字符，标点。",
    "emoji 🙂👍🏽 👨\u200d👩\u200d👧 end", "   leading and trailing   ", "\r\n\r\n",
    "non\u00a0breaking\u3000spaces", "cafe\u0301 naïve", "Exeunt.\n\nSCENE II. A room.", 'He said ("\'tis so").',
]


# ------------------------------------------------------------------ helpers
def describe_type(value):
    if isinstance(value, Handle):
        return "an object that is not plain data"
    return f"a {type(value).__name__}"


def expect_same_sequence(got, expected, what):
    """Lists (or tuples) equal item by item; the message points at the first
    item that differs rather than printing both in full."""
    if same_plain(got, expected):
        return
    expect(type(got) is type(expected),
           f"{what} returned {describe_type(got)}, expected a {type(expected).__name__}")
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if not same_plain(a, b)),
                 min(len(got), len(expected)))
    raise Failed(f"{what}: from item {first} on, got {short(got[first:first + 4], 120)}, expected "
                 f"{short(expected[first:first + 4], 120)} ({len(got)} items, expected {len(expected)})")


def expect_same_dict(got, expected, what, key_name):
    """Dicts equal key by key; the message names one key that differs."""
    if same_plain(got, expected):
        return
    expect(type(got) is dict, f"{what} returned {describe_type(got)}, expected a dict")
    missing = sorted(set(expected) - set(got), key=repr)
    expect(not missing, f"{what} has no {key_name} {short(missing[:1], 80)[1:-1]}, "
                        f"expected {len(expected)} {key_name}s, got {len(got)}")
    extra = sorted(set(got) - set(expected), key=repr)
    expect(not extra, f"{what} has {key_name} {short(extra[:1], 80)[1:-1]}, which it should not have")
    key = next(k for k in sorted(expected, key=repr) if not same_plain(got[k], expected[k]))
    raise Failed(f"{what} gives {short(got[key], 80)} for {key_name} {key!r}, expected {short(expected[key], 80)}")


def random_text(rng, pieces, low, high):
    return "".join(rng.choice(pieces) for _ in range(rng.randint(low, high)))


def random_corpus(rng, n_words, special_tokens=()):
    """Text with Zipf-like word frequencies, so that many pairs tie, made of
    multi-byte letters, digits, punctuation and whitespace runs, with special
    tokens dropped in here and there."""
    syllables = ["th", "e", "an", "ng", "ư", "ờ", "中", "文", "🙂", "'s", "12", "o", "x", "ß", "é"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(40)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    separators = [" "] * 12 + ["  ", "\n", ", ", ". ", "\n\n", "! "]
    parts = []
    for _ in range(n_words):
        parts.append(rng.choices(words, weights)[0])
        parts.append(rng.choice(special_tokens) if special_tokens and rng.random() < 0.05
                     else rng.choice(separators))
    return "".join(parts)


def reference_vocabulary(rng, special_tokens):
    """(training text, vocab, merges) of the reference trained on a
    Shakespeare excerpt. Were two merges to spell the same bytes, the
    contract would not say which of their ids encode() gives: such a draw is
    replaced by another."""
    while True:
        text = shakespeare_excerpt(rng, 3000)
        vocab, merges = ref.train_bpe(text, rng.randint(350, 450), special_tokens)
        if len(set(vocab.values())) == len(vocab):
            return text, vocab, merges


def shakespeare_excerpt(rng, length):
    corpus = load_corpus()
    start = rng.randrange(len(corpus) - length)
    return corpus[start:start + length]


# -------------------------------------------------------------- pretokenize
KNOWN_PRETOKENS = {
    "": [],
    "it's  ok": ["it", "'s", " ", " ok"],
    "Hello, world!": ["Hello", ",", " world", "!"],
    "HE'S 2024\n\n": ["HE", "'", "S", " 2024", "\n\n"],
}


@exercise(NOTEBOOK, "pretokenize", points=1)
def check_pretokenize(student, rng):
    for text, expected in KNOWN_PRETOKENS.items():
        expect_equal(student.call("pretokenize", text), expected, f"pretokenize({text!r})")
    randoms = [random_text(rng, TRICKY_PIECES, 1, 25) for _ in range(40)]
    for text in EDGE_TEXTS + randoms:
        what = f"pretokenize({short(text, 80)})"
        got = student.call("pretokenize", text)
        expect(type(got) is list and all(type(piece) is str for piece in got),
               f"{what} returned {describe_type(got)}, expected a list of strings")
        expect("".join(got) == text, f"{what} returned {short(got, 120)}, which does not join back into the text")
        expect_same_sequence(got, ref.pretokenize(text), what)


# ---------------------------------------------------------- get_pair_counts
KNOWN_PAIR_COUNTS = [
    ({}, {}),
    ({(7,): 5}, {}),
    ({(): 3}, {}),
    ({(1, 2, 3): 1}, {(1, 2): 1, (2, 3): 1}),
    ({(5, 5, 5): 2}, {(5, 5): 4}),
    ({(1, 2, 1, 2): 3, (2, 1): 4}, {(1, 2): 6, (2, 1): 7}),
    ({(104, 105): 1, (32, 104, 105): 10}, {(104, 105): 11, (32, 104): 10}),
]


@exercise(NOTEBOOK, "get_pair_counts", points=1)
def check_get_pair_counts(student, rng):
    randoms = [{tuple(rng.choice((1, 2, 3, 256, 300)) for _ in range(rng.randint(0, 8))): rng.randint(1, 9)
                for _ in range(rng.randint(1, 15))} for _ in range(10)]
    for words, expected in KNOWN_PAIR_COUNTS + [(words, ref.get_pair_counts(words)) for words in randoms]:
        expect_same_dict(student.call("get_pair_counts", words), expected,
                         f"get_pair_counts({short(words, 100)})", "pair")


# --------------------------------------------------------------- merge_pair
KNOWN_MERGES = [  # (ids, pair, new_id, result)
    ((1, 2, 1, 2), (1, 2), 9, (9, 9)),
    ((5, 5, 5), (5, 5), 256, (256, 5)),
    ((5, 5, 5, 5), (5, 5), 256, (256, 256)),
    ((), (1, 2), 9, ()),
    ((7,), (7, 7), 9, (7,)),
    ((1, 2, 3), (2, 3), 9, (1, 9)),
    ((1, 1, 2), (1, 2), 9, (1, 9)),
    ((3, 1, 2, 1), (1, 2), 300, (3, 300, 1)),
    ((2, 1), (1, 2), 9, (2, 1)),
    ((1, 2, 3), (3, 4), 9, (1, 2, 3)),
]


@exercise(NOTEBOOK, "merge_pair", points=1)
def check_merge_pair(student, rng):
    randoms = []
    for _ in range(30):
        ids = tuple(rng.choice((1, 2, 3)) for _ in range(rng.randint(0, 20)))
        pair = (rng.choice((1, 2, 3)), rng.choice((1, 2, 3)))
        new_id = rng.randint(256, 1000)
        randoms.append((ids, pair, new_id, ref.merge_pair(ids, pair, new_id)))
    for ids, pair, new_id, expected in KNOWN_MERGES + randoms:
        expect_equal(student.call("merge_pair", ids, pair, new_id), expected,
                     f"merge_pair({ids}, {pair}, {new_id})")


# ---------------------------------------------------------------- train_bpe
def expect_training(student, text, vocab_size, special_tokens, expected=None):
    """train_bpe's (vocab, merges) equal `expected`, or the reference's."""
    what = f"train_bpe({short(text, 60)}, {vocab_size}, {special_tokens!r})"
    got = student.call("train_bpe", text, vocab_size, special_tokens)
    expect(type(got) in (tuple, list) and len(got) == 2,
           f"{what} returned {describe_type(got)}, expected a pair (vocab, merges)")
    vocab, merges = got
    expected_vocab, expected_merges = expected or ref.train_bpe(text, vocab_size, special_tokens)
    expect_same_sequence(merges, expected_merges, f"{what}, its merges")
    expect_same_dict(vocab, expected_vocab, f"{what}, its vocab", "id")


BYTES = {i: bytes([i]) for i in range(256)}
KNOWN_TRAININGS = [  # (text, vocab_size, special_tokens, (vocab, merges))
    # The minbpe example, by hand: "aa" (4 times) first; then ("aa", "a")
    # and ("a", "b") tie at 2, and b"aa" > b"a"; then ("aaa", "b").
    ("aaabdaaabac", 259, [], ({**BYTES, 256: b"aa", 257: b"aaa", 258: b"aaab"},
                              [(b"a", b"a"), (b"aa", b"a"), (b"aaa", b"b")])),
    # Ties go to the greater pair of bytes, not of ids and not the first
    # seen: after ("b", "b") becomes id 256, ("c", "b") beats ("bb", "b")
    # though 256 > 99, and ("bb", "b") then beats ("b", "c").
    ("cb bc bbb", 260, [], ({**BYTES, 256: b"bb", 257: b"cb", 258: b"bbb", 259: b"bc"},
                            [(b"b", b"b"), (b"c", b"b"), (b"bb", b"b"), (b"b", b"c")])),
    # Special tokens take the last ids, in the order given.
    (f"ab{EOT}ab", 259, [EOT, "<pad>"], ({**BYTES, 256: b"ab", 257: EOT.encode(), 258: b"<pad>"},
                                         [(b"a", b"b")])),
]


@exercise(NOTEBOOK, "train_bpe", points=2, uses=HELPERS)
def check_train_bpe(student, rng):
    for text, vocab_size, special_tokens, expected in KNOWN_TRAININGS:
        expect_training(student, text, vocab_size, special_tokens, expected)
    # Nothing to merge, or no room to: bytes then special tokens only.
    expect_training(student, "", 300, [EOT])
    expect_training(student, "a", 300, [])
    expect_training(student, EOT + EOT, 300, [EOT])
    expect_training(student, "abab abab", 257, [EOT])
    # Special tokens: never merged into, nothing merged across them, last in
    # the vocabulary in the order given, a longer one matched before its prefix.
    expect_training(student, f"low lower lowest{EOT}newest widest", 270, [EOT])
    expect_training(student, f"hello{EOT}world hello{EOT}world", 266, [EOT])
    expect_training(student, f"<pad>a{EOT}<pad>b{EOT}<pad>ab", 262, ["<pad>", EOT])
    expect_training(student, f"x{EOT}<|pad|>x {EOT}<|pad|>x", 262, [EOT, EOT + "<|pad|>"])
    expect_training(student, "Xin chào thế giới. Tiếng Việt 🙂🙂 中文中文 ế ế", 290, [])
    # Drawn from the grader's seed, against the reference.
    specials = [EOT, "<pad>"]
    expect_training(student, random_corpus(rng, 300, specials), rng.randint(300, 380), specials)
    expect_training(student, random_corpus(rng, 300), rng.randint(300, 380), [])
    expect_training(student, shakespeare_excerpt(rng, 3000), rng.randint(330, 420), [EOT])


# ------------------------------------------------------------- BPETokenizer
def expect_encoding(tokenizer, text, expected, what):
    """encode(text) == expected, and decode(expected) gives the text back."""
    expect_same_sequence(tokenizer.method("encode", text), expected, f"{what}.encode({short(text, 60)})")
    expect_equal(tokenizer.method("decode", expected), text, f"{what}.decode({short(expected, 60)})")


@exercise(NOTEBOOK, "BPETokenizer", points=2, uses=HELPERS)
def check_bpe_tokenizer(student, rng):
    tricky = [random_text(rng, TRICKY_PIECES + [EOT], 1, 30) for _ in range(12)]

    # A small vocabulary trained by the reference, with a special token that
    # is a prefix of another (listed shortest first: longest must win).
    specials = [EOT, EOT + EOT]
    training_text, vocab, merges = reference_vocabulary(rng, specials)
    small = student.new("BPETokenizer", vocab, merges, specials)
    what = f"BPETokenizer(vocab trained on Shakespeare, special_tokens={specials!r})"
    for text in EDGE_TEXTS + tricky + [EOT, EOT * 2, EOT * 3, f"a {EOT}b{EOT * 2}\n", training_text[:400]]:
        expect_encoding(small, text, ref.encode(text, vocab, merges, specials), what)

    # Without special tokens "<|endoftext|>" is plain text.
    plain = student.new("BPETokenizer", vocab, merges, [])
    for text in [EOT, f"a{EOT}b", EOT * 2]:
        expect_encoding(plain, text, ref.encode(text, vocab, merges, []), "BPETokenizer(..., special_tokens=[])")

    # decode joins the bytes of all ids before reading UTF-8, and shows
    # invalid bytes as U+FFFD rather than failing.
    id_of = {token: i for i, token in vocab.items()}
    for pieces, expected in [([b"\xc3", b"\xa9"], "é"), ([b"\xe4", b"\xb8", b"\xad"], "中"),
                             ([b"\xff"], "\ufffd"), ([b"\xe4", b"a"], "\ufffda"), ([], "")]:
        ids = [id_of[piece] for piece in pieces]
        expect_equal(small.method("decode", ids), expected, f"{what}.decode({ids}) (the bytes {b''.join(pieces)!r})")

    # GPT-2's published vocabulary and merges: exactly GPT-2's tokenization.
    gpt2_vocab, gpt2_merges = ref.gpt2_vocab_and_merges()
    gpt2 = student.new("BPETokenizer", gpt2_vocab, gpt2_merges, [EOT])
    what = "BPETokenizer(GPT-2's vocab and merges, special_tokens=['<|endoftext|>'])"
    reference = ref.gpt2_tokenizer()
    for text in EDGE_TEXTS + tricky + [f"The end.{EOT}Once upon", shakespeare_excerpt(rng, 1500)]:
        expect_encoding(gpt2, text, reference.encode(text).ids, what)
    gpt2_id_of = {token: i for i, token in gpt2_vocab.items()}
    ids = [gpt2_id_of[b"\xff"], gpt2_id_of[b"\xc3"], gpt2_id_of[b"\xa9"]]
    expect_equal(gpt2.method("decode", ids), "\ufffdé", f"{what}.decode({ids}) (the bytes b'\\xff\\xc3\\xa9')")
