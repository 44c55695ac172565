"""Hidden checks for notebook 00 (pretraining data).

Each check asks for exact known answers first (each rule's boundary, the worked examples), then
agreement with the trusted reference (autograder/reference/pretraining_data.py) on inputs drawn
from the grader's seeded `rng`: documents built near every Gopher threshold and the shipped
Common Crawl documents; shingle sets of every size against datasketch's MinHash; signatures whose
bands collide only across bands; texts holding e-mail and IP addresses of every kind (private,
reserved, inside other numbers) beside text that must stay as it is.
"""
import ipaddress
import string

from autograder.expect import Failed, expect, expect_equal, short
from autograder.reference import pretraining_data as ref
from autograder.registry import exercise
from autograder.session import StudentRaised
from autograder.wire import Handle

NOTEBOOK = "00_pretraining_data"

# ------------------------------------------------------------------ gopher_quality
PROSE_WORDS = ("the of and to that with have be a in is it was for on as by at from this river house light "
               "morning people garden window evening quietly history question remember children").split()


def prose(rng, n_words, stop=True):
    """n_words plain words, each 1-9 letters; with `stop`, two stop words at least."""
    pool = PROSE_WORDS if stop else [w for w in PROSE_WORDS if w not in ref.STOP_WORDS]
    chosen = [rng.choice(pool) for _ in range(n_words)]
    if stop and n_words >= 2:
        chosen[0], chosen[-1] = "the", "and"
    return chosen


def as_lines(words, per_line):
    return "\n".join(" ".join(words[i:i + per_line]) for i in range(0, len(words), per_line))


def boundary_documents():
    """{what: text} for the exact edges of every rule (the rule holds or breaks by one)."""
    base = ("the cat and the dog sat with that old man to have a good long talk of the river " * 3).split()
    docs = {"an empty text": "", "only whitespace": " \n \t ", "one word": "the",
            "50 words (the least kept)": " ".join(base[:50]), "49 words": " ".join(base[:49]),
            "49 words and 5 symbol pieces ('|', '-', '•')": " ".join(base[:49] + ["|", "-", "•", "|", "—"]),
            "50 words of mean length exactly 3": " ".join(["the", "and"] + ["cat"] * 48),
            "50 words of mean length just under 3": " ".join(["the", "and"] + ["cat"] * 47 + ["ox"]),
            "50 words of mean length exactly 10": " ".join(["the", "and"] + ["x" * 10] * 47 + ["x" * 24]),
            "50 words of mean length just over 10": " ".join(["the", "and"] + ["x" * 10] * 47 + ["x" * 25])}
    words = base[:45]
    docs["50 pieces, 5 of them '#tag' (ratio exactly 0.1)"] = " ".join(words + ["#tag"] * 5)
    docs["50 pieces, 6 '#' in 5 words"] = " ".join(words + ["#tag"] * 4 + ["##x"])
    docs["60 pieces, 6 ending in '...' (ratio exactly 0.1)"] = " ".join(words + ["so..."] * 6 + ["word"] * 9)
    docs["60 pieces, 6 '…' and one '...'"] = " ".join(words + ["so…"] * 6 + ["ha..."] + ["word"] * 8)
    docs["'....' counts as one ellipsis"] = " ".join(words + ["so...."] * 6 + ["word"] * 9)
    lines = [" ".join(base[i:i + 6]) for i in range(0, 60, 6)]             # 10 lines
    docs["9 of 10 lines are bullets (exactly 0.9)"] = "\n".join(["- " + l for l in lines[:9]] + lines[9:])
    docs["all 10 lines are bullets ('-' and '•', indented)"] = "\n".join(
        ("  • " if i % 2 else "-") + l for i, l in enumerate(lines))
    docs["3 of 10 lines end in an ellipsis (exactly 0.3)"] = "\n".join(
        [l + "..." for l in lines[:3]] + lines[3:])
    docs["4 of 10 lines end in an ellipsis (one '…', one followed by spaces)"] = "\n".join(
        [lines[0] + "…", lines[1] + "...   ", lines[2] + "...", lines[3] + "..."] + lines[4:])
    docs["an ellipsis inside a line is not at its end"] = "\n".join(
        [l.replace(" ", " ... ", 1) for l in lines[:4]] + lines[4:])
    numbers = [str(1000 + i) for i in range(40)]
    docs["160 words with letters, 40 numbers (exactly 0.8)"] = " ".join(base[:50] * 3 + base[:10] + numbers)
    docs["159 words with letters, 41 numbers"] = " ".join(base[:50] * 3 + base[:9] + numbers + ["7"])
    docs["one stop word, many times"] = " ".join(["the"] * 20 + ["cat"] * 40)
    docs["two stop words, capitalised ('The', 'And')"] = " ".join(["The", "And"] + ["cat"] * 58)
    docs["two stop words followed by punctuation ('the,', 'and.')"] = " ".join(["the,", "and."] + ["cat"] * 58)
    docs["exactly two stop words"] = " ".join(["with", "have"] + ["cat"] * 58)
    docs["every rule broken"] = "#... -x\n-\n- 1 2 3 4...\n• ####...\n-..."
    docs["100,000 words"] = " ".join(["the", "and"] * 50_000)
    docs["100,001 words"] = " ".join(["the", "and"] * 50_000 + ["cat"])
    return docs


def random_document(rng):
    """A document near one or more thresholds: lines of prose, some bulleted, some ending in an
    ellipsis, some words '#tags', numbers or symbols."""
    lines = []
    for _ in range(rng.randrange(1, 14)):
        words = prose(rng, rng.randrange(1, 12), stop=rng.random() < 0.8)
        if rng.random() < 0.15:
            words = [rng.choice(("#x", "###", "12", "3.5", "|", "-", "—", "»", "…", "...")) for _ in words]
        if rng.random() < 0.1:
            words = ["x" * rng.randrange(9, 14) for _ in words]
        line = " ".join(words)
        if rng.random() < 0.3:
            line = rng.choice(("- ", "• ", "  -", "-- ")) + line
        if rng.random() < 0.25:
            line += rng.choice(("...", "…", "... ", "."))
        lines.append(line)
    return "\n".join(lines)


def _check_rules(student, text, what):
    got = student.call("gopher_quality", text)
    expected = ref.gopher_quality(text)
    expect(isinstance(got, list) and all(type(name) is str for name in got),
           f"gopher_quality({what}) returned {short(got)}, expected a list of rule names (str)")
    unknown = [name for name in got if name not in ref.RULES]
    expect(not unknown, f"gopher_quality({what}) returned {short(unknown)}: not rule names "
                        f"(the names are {', '.join(ref.RULES)})")
    if got != expected:
        missing = [name for name in expected if name not in got]
        extra = [name for name in got if name not in expected]
        if missing or extra:
            raise Failed(f"gopher_quality({what}) returned {got}, expected {expected}"
                         + (f": {', '.join(missing)} broken but not reported" if missing else "")
                         + (f": {', '.join(extra)} reported but not broken" if extra else ""))
        raise Failed(f"gopher_quality({what}) returned {got}: list the broken rules in the notebook's "
                     f"order, each once ({expected})")


@exercise(NOTEBOOK, "gopher_quality", points=2)
def check_gopher_quality(student, rng):
    for what, text in boundary_documents().items():
        _check_rules(student, text, what if len(text) > 60 else repr(text))
    for number in range(60):
        text = random_document(rng)
        _check_rules(student, text, f"a generated document {short(text, 100)}")
    from lmcourse.pretraining_data import load_commoncrawl
    documents = load_commoncrawl()
    for document in rng.sample(documents, 8):
        _check_rules(student, document["text"], f"the Common Crawl document {document['url']}")


# ------------------------------------------------------------------ minhash_signature
def shingle_pool(rng):
    alphabet = string.ascii_lowercase + "  éü中🙂"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(400)]


@exercise(NOTEBOOK, "minhash_signature", points=2)
def check_minhash_signature(student, rng):
    pool = shingle_pool(rng)

    def case(shingles, num_perm, seed, what):
        call = f"minhash_signature({what}, num_perm={num_perm}, seed={seed})"
        got = student.call("minhash_signature", shingles, num_perm, seed)
        expect(isinstance(got, list), f"{call} returned {type(got).__name__ if not isinstance(got, Handle) else 'an object'}"
                                      f", expected a list of ints")
        expect(all(type(value) is int for value in got), f"{call} returned {short(got)}: expected Python ints")
        expected = ref.minhash_signature(shingles, num_perm, seed)
        expect(len(got) == num_perm, f"{call} returned {len(got)} values, expected num_perm = {num_perm}")
        wrong = [k for k, (a, b) in enumerate(zip(got, expected)) if a != b]
        if wrong:
            k = wrong[0]
            raise Failed(f"{call} differs from datasketch's MinHash at {len(wrong)} of {num_perm} positions; "
                         f"position {k}: got {got[k]}, expected {expected[k]}")

    case([], 8, 1, "[] (no shingles)")
    case(["a rose is a"], 4, 1, "['a rose is a']")
    case(["x", "x", "x"], 6, 3, "['x', 'x', 'x'] (a shingle repeated)")
    case(["the cat sat", "cat sat on", "sat on the", "on the mat"], 16, 1, "four shingles")
    case(["über café", "中文 字符", "🙂 ok"], 16, 42, "shingles beyond ASCII (hash their UTF-8 bytes)")
    case(["a", "b"], 1, 0, "['a', 'b']")
    for _ in range(12):
        num_perm = rng.choice((1, 3, 16, 64, 128))
        seed = rng.choice((0, 1, 2, 7, rng.randrange(1000), rng.randrange(2**31)))
        shingles = rng.sample(pool, rng.randrange(1, 120))
        case(shingles, num_perm, seed, f"{len(shingles)} random shingles")
    shingles = tuple(rng.sample(pool, 30))
    case(shingles, 32, 5, "a tuple of 30 shingles")


# ------------------------------------------------------------------ near_duplicate_pairs
def _pairs(student, got, call):
    """The student's answer as a plain set of pairs: a set comes back as an object in the
    worker, whose items are read one by one."""
    if not isinstance(got, Handle):
        raise Failed(f"{call} returned {short(got)}, expected a set of pairs (i, j)")
    try:
        if got.method("isdisjoint", []) is not True:
            raise Failed(f"{call} returned something that is not a set")
        size = got.method("__len__")
        expect(type(size) is int and 0 <= size <= 100_000, f"{call} returned something that is not a set")
        items = got.method("__iter__")
        pairs = [items.method("__next__") for _ in range(size)]
    except StudentRaised:
        raise Failed(f"{call} returned something that is not a set of pairs (i, j)") from None
    for pair in pairs:
        expect(isinstance(pair, tuple) and len(pair) == 2 and all(type(i) is int for i in pair),
               f"{call} holds {short(pair)}: each item should be a tuple (i, j) of two ints")
    return set(pairs)


@exercise(NOTEBOOK, "near_duplicate_pairs", points=2)
def check_near_duplicate_pairs(student, rng):
    def case(signatures, bands, rows, what):
        call = f"near_duplicate_pairs({what}, bands={bands}, rows={rows})"
        got = _pairs(student, student.call("near_duplicate_pairs", signatures, bands, rows), call)
        expected = ref.near_duplicate_pairs(signatures, bands, rows)
        backwards = sorted((i, j) for i, j in got if i >= j)
        expect(not backwards, f"{call} holds {backwards[:3]}: write each pair once, smaller index first (i < j)")
        missing, extra = sorted(expected - got), sorted(got - expected)
        if missing:
            i, j = missing[0]
            raise Failed(f"{call} misses {len(missing)} pair(s), e.g. {(i, j)}: signatures {short(signatures[i], 60)} "
                         f"and {short(signatures[j], 60)} agree on a whole band")
        if extra:
            i, j = extra[0]
            raise Failed(f"{call} holds {len(extra)} pair(s) too many, e.g. {(i, j)}: signatures "
                         f"{short(signatures[i], 60)} and {short(signatures[j], 60)} agree on no whole band")

    case([[1, 2, 3, 4], [1, 2, 9, 9], [7, 7, 3, 4], [1, 2, 3, 4]], 2, 2, "the notebook's example")
    case([], 2, 2, "[] (no signatures)")
    case([[1, 2, 3, 4]], 2, 2, "one signature")
    case([[5, 6, 1, 1], [1, 1, 5, 6]], 2, 2, "two signatures whose bands are equal only across bands")
    case([[1, 2, 3], [1, 2, 4]], 1, 2, "signatures longer than bands * rows (the last value is in no band)")
    case([[1, 2, 3, 4, 5, 6], [1, 9, 3, 9, 5, 9]], 3, 2, "signatures that agree at every other position")
    case([[4, 4, 4, 4]] * 4, 4, 1, "four equal signatures")
    case([[1, 2, 3, 4], [2, 1, 4, 3]], 2, 2, "signatures with the same values in another order")
    for _ in range(8):
        bands, rows = rng.choice(((2, 2), (4, 2), (3, 3), (8, 1), (1, 4), (5, 2)))
        length = bands * rows + rng.choice((0, 0, 1, 3))
        base = [[rng.randrange(6) for _ in range(length)] for _ in range(4)]
        signatures = []
        for _ in range(rng.randrange(5, 14)):   # copies of a few signatures with some values changed
            signature = list(rng.choice(base))
            for position in rng.sample(range(length), rng.randrange(0, length)):
                signature[position] = rng.randrange(6)
            signatures.append(signature)
        case(signatures, bands, rows, f"{len(signatures)} random signatures of length {length}")


# ------------------------------------------------------------------ mask_pii
def random_ip(rng):
    kind = rng.choice(("public", "public", "private", "loopback", "reserved", "multicast", "shared"))
    first = {"public": rng.choice((8, 23, 54, 93, 151, 203)), "private": rng.choice((10, 192, 172)),
             "loopback": 127, "reserved": rng.choice((0, 240, 255)), "multicast": rng.choice((224, 239)),
             "shared": 100}[kind]
    second = {192: 168, 172: rng.randrange(16, 32), 100: rng.randrange(64, 128)}.get(first, rng.randrange(256))
    if first == 203:
        second = rng.choice((0, 113))
    return f"{first}.{second}.{rng.randrange(256)}.{rng.randrange(256)}"


def random_email(rng):
    local = rng.choice(("info", "jane.doe", "a_b+tag", "x", "o'neil", "first.last99"))
    domain = rng.choice(("example.org", "mail.co.uk", "uni-x.edu", "a.io", "sub.domain.net"))
    return f"{local}@{domain}"


@exercise(NOTEBOOK, "mask_pii", points=1)
def check_mask_pii(student, rng):
    def case(text, what=None):
        call = f"mask_pii({short(text, 120) if what is None else what})"
        got = student.call("mask_pii", text)
        expect(type(got) is str, f"{call} returned {short(got)}, expected a str")
        expect_equal(got, ref.mask_pii(text), call)

    for text in ("", "no personal data here.", "Write to jane@example.com.", "mail: a@b.co, b@c.org",
                 "server 8.8.8.8 and router 192.168.1.1", "loopback 127.0.0.1, this host 0.0.0.0",
                 "multicast 224.0.0.1 and shared 100.64.0.1", "version 1.2.3.4 and 10.0.0.256",
                 "at 999.8.8.8 or 8.8.8.8.8", "version 01.2.3.4, 1.2.3.04 and 8.8.8.08 (leading zeros)", "root@8.8.8.8 wrote", "@mhoye@mastodon.social on Mastodon",
                 "a mail <Jane.Doe@Example.COM> and a URL https://x.org/a@b", "not an address: a@b, @home, x@.com",
                 "tabs\tand\nnewlines stay\r\n as   they are 8.8.4.4\n"):
        case(text)
    for _ in range(25):
        pieces = []
        for _ in range(rng.randrange(1, 8)):
            kind = rng.random()
            if kind < 0.3:
                pieces.append(random_email(rng))
            elif kind < 0.6:
                pieces.append(random_ip(rng))
            else:
                pieces.append(rng.choice(("hello", "call me", "at", "(", ")", ",", "—", "Tiếng Việt", "\n", "  ")))
        case(rng.choice(("", " ", "\n")).join(pieces))
    ips = [random_ip(rng) for _ in range(30)]
    expect(any(ipaddress.ip_address(ip).is_global for ip in ips), "the check drew no public address")
    case(" ".join(ips), f"30 addresses of every kind: {short(' '.join(ips), 80)}")
