"""Notebook 00's hidden checks, proven on variants of its solutions: full marks for the solutions
and for other correct code, zero for the blank release, each deliberately wrong implementation
losing exactly its own exercise's points, and cheats gaining nothing. The variants other than the
solutions are graded on the notebook's definitions alone (the other cells extract, plot and
train), in rounds: round r holds the r-th wrong version of every exercise (the checks are
independent).

Also, in this process: the trusted side against independent implementations (datasketch's
MinHash and MinHashLSH's bands, datatrove's GopherQualityFilter and PII formatter), the checks
under many secrets against correct and wrong code, and the notebook's visible checks, whose
messages name what is wrong."""
import functools
import random

import nbformat
import pytest

import helpers
from autograder import registry, wire
from autograder.expect import Failed
from autograder.hidden import pretraining_data as checks
from autograder.reference import pretraining_data as ref
from autograder.wire import Handle
from wrong.pretraining_data import CORRECT, WRONG

NOTEBOOK = "00_pretraining_data"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
grading = pytest.mark.xdist_group("grade_00")
# The cells a grader needs besides the exercises: the imports, MinHash's given pieces, the PII patterns.
DEFINITION_CELLS = ("from warcio.archiveiterator import ArchiveIterator", "STOP_WORDS = (", "def shingle_hash",
                    "EMAIL_PATTERN = ")
ROUNDS = helpers.wrong_rounds(WRONG)

# Cells appended after the solutions: cheats, and the wrong code they hope to pass off.
CHEATS = {
    "asserts turned into no-ops, answers equal to everything": ([
        "def _never_assert(lines):\n"
        "    return [line.replace('assert ', 'if False: assert ', 1) if line.lstrip().startswith('assert ')\n"
        "            else line for line in lines]\n"
        "get_ipython().input_transformers_post.append(_never_assert)\n",
        "class _EqualToEverything(list):\n"
        "    def __eq__(self, other):\n"
        "        return True\n\n"
        "def gopher_quality(text):\n"
        "    return _EqualToEverything()\n",
        WRONG["mask_pii"]["private addresses masked too"],
        helpers.cell_source(SOLUTIONS, "mask_pii"),  # the visible check, now toothless
    ], {"gopher_quality", "mask_pii"}),
    "a set whose membership test always says yes": ([
        "class _ContainsEverything(set):\n"
        "    def __contains__(self, item):\n"
        "        return True\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = None\n\n"
        "def near_duplicate_pairs(signatures, bands, rows):\n"
        "    return _ContainsEverything()\n",
    ], {"near_duplicate_pairs"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_00")
    lean = helpers.definitions_only(SOLUTIONS, folder / "lean", DEFINITION_CELLS)
    return helpers.graded_variants(NOTEBOOK, folder, base=lean, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
                                   cheats=CHEATS)


# ----------------------------------------------------------------- grading
@grading
@pytest.mark.parametrize("label", ["solutions", "correct"])
def test_correct_code_gets_full_marks(graded, label):
    helpers.expect_only_failed(graded[label], POINTS)


@grading
def test_blank_release_gets_zero_with_a_row_per_exercise(graded):
    helpers.expect_blank_scores_zero(graded["blank"], POINTS)


@grading
@pytest.mark.parametrize("r", range(len(ROUNDS)), ids=map(helpers.round_id, ROUNDS))
def test_wrong_code_loses_only_its_exercises_points(graded, r):
    helpers.expect_only_failed(graded[f"round {r}"], POINTS, ROUNDS[r])


@grading
@pytest.mark.parametrize("cheat", CHEATS)
def test_cheating_gains_nothing(graded, cheat):
    _, made_wrong = CHEATS[cheat]
    helpers.expect_only_failed(graded[cheat], POINTS, dict.fromkeys(made_wrong, cheat))


def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS == {
        "gopher_quality": 2, "minhash_signature": 2, "near_duplicate_pairs": 2, "mask_pii": 1}


def test_at_least_two_wrong_versions_per_exercise():
    assert set(WRONG) == set(POINTS) == set(CORRECT)
    assert all(len(versions) >= 2 for versions in WRONG.values())


# ------------------------------------------------------------ the checks, in this process
class LocalStudent(helpers.LocalStudent):
    """helpers.LocalStudent, with a set answer handed back as the worker hands it: an object
    whose methods the check calls."""

    def call(self, name, *args, **kwargs):
        answer = self._run(args, kwargs)[0]
        if isinstance(answer, (set, frozenset)):
            return LocalObject(answer)
        return wire.decode(wire.encode(answer))


class LocalObject(Handle):
    def __init__(self, value):
        super().__init__(0)
        self.value = value

    def method(self, name, *args):
        result = getattr(self.value, name)(*args)
        return LocalObject(result) if name == "__iter__" else wire.decode(wire.encode(result))


PREAMBLE = "import collections\nimport hashlib\nimport ipaddress\nimport re\nimport numpy as np\n"


@functools.lru_cache(maxsize=None)
def given() -> dict:
    """The notebook's given definitions the exercises use: STOP_WORDS and RULES, MinHash's pieces
    (shingles, shingle_hash, permutations, MAX_HASH), the PII patterns and placeholders."""
    namespace = {}
    for cell in nbformat.read(str(SOLUTIONS), as_version=4).cells:
        if cell.cell_type == "code" and any(marker in cell.source for marker in DEFINITION_CELLS[1:]):
            exec(PREAMBLE + cell.source, namespace)
    return namespace


def student_function(source, name):
    namespace = dict(given())
    exec(PREAMBLE + source, namespace)
    return namespace[name]


CHECKS = {"gopher_quality": checks.check_gopher_quality, "minhash_signature": checks.check_minhash_signature,
          "near_duplicate_pairs": checks.check_near_duplicate_pairs, "mask_pii": checks.check_mask_pii}


@pytest.mark.parametrize("exercise", sorted(CHECKS))
def test_checks_pass_the_solution_and_correct_code_under_many_secrets(exercise):
    for source in (helpers.cell_source(SOLUTIONS, f"{exercise}_code"), CORRECT[exercise]):
        function = student_function(source, exercise)
        for seed in range(4):
            CHECKS[exercise](LocalStudent(function), random.Random(seed))


@pytest.mark.parametrize("exercise, what", [(e, w) for e in sorted(WRONG) for w in WRONG[e]])
def test_checks_fail_wrong_code_under_every_secret(exercise, what):
    function = student_function(WRONG[exercise][what], exercise)
    for seed in range(4):
        with pytest.raises(Failed):
            CHECKS[exercise](LocalStudent(function), random.Random(seed))


# ------------------------------------------------------------ the trusted side
def test_minhash_reference_is_datasketch_and_the_notebooks_pieces_rebuild_it():
    """The notebook's shingle_hash and permutations, as its docstring says to combine them, give
    datasketch's MinHash; and datasketch's MinHashLSH cuts signatures into consecutive bands."""
    from datasketch import MinHash, MinHashLSH
    solution = student_function(helpers.cell_source(SOLUTIONS, "minhash_signature_code"), "minhash_signature")
    rng = random.Random(0)
    for num_perm, seed in ((1, 0), (16, 1), (128, 3), (64, 2**31 - 1)):
        shingles = ["".join(rng.choice("abc dé中") for _ in range(rng.randrange(1, 9))) for _ in range(rng.randrange(0, 50))]
        minhash = MinHash(num_perm=num_perm, seed=seed)
        for shingle in shingles:
            minhash.update(shingle.encode("utf-8"))
        assert solution(shingles, num_perm, seed) == ref.minhash_signature(shingles, num_perm, seed) \
            == [int(v) for v in minhash.hashvalues]
    lsh = MinHashLSH(num_perm=16, params=(4, 4))
    assert lsh.hashranges == [(0, 4), (4, 8), (8, 12), (12, 16)]


def test_lsh_reference_agrees_with_datasketch_minhashlsh():
    """On documents of every similarity: the pairs MinHashLSH (4 bands of 4 rows) returns for each
    query are those near_duplicate_pairs finds."""
    from datasketch import MinHash, MinHashLSH
    rng = random.Random(1)
    base = [f"w{i}" for i in range(40)]
    sets = [set(rng.sample(base, rng.randrange(5, 30))) for _ in range(30)]
    minhashes = []
    for items in sets:
        minhash = MinHash(num_perm=16, seed=1)
        for item in sorted(items):
            minhash.update(item.encode())
        minhashes.append(minhash)
    lsh = MinHashLSH(num_perm=16, params=(4, 4))
    for i, minhash in enumerate(minhashes):
        lsh.insert(i, minhash)
    theirs = {(min(i, j), max(i, j)) for i, minhash in enumerate(minhashes) for j in lsh.query(minhash) if i != j}
    ours = ref.near_duplicate_pairs([[int(v) for v in m.hashvalues] for m in minhashes], 4, 4)
    assert ours == theirs and ours


def _datatrove_gopher():
    """datatrove's GopherQualityFilter with the text split at whitespace (its English split needs
    NLTK's data, which is not shipped): (keep, datatrove's reason -> our rule name)."""
    quality = pytest.importorskip("datatrove.pipeline.filters.gopher_quality_filter")
    from datatrove.data import Document
    quality.split_into_words = lambda text, language=None: text.split()
    names = {"gopher_short_doc": "word_count", "gopher_long_doc": "word_count",
             "gopher_below_avg_threshold": "mean_word_length", "gopher_above_avg_threshold": "mean_word_length",
             "gopher_too_many_hashes": "symbol_to_word_ratio", "gopher_too_many_ellipsis": "symbol_to_word_ratio",
             "gopher_too_many_bullets": "bullet_lines", "gopher_too_many_end_ellipsis": "ellipsis_lines",
             "gopher_below_alpha_threshold": "alphabetic_words", "gopher_enough_stop_words": "stop_words"}
    gopher = quality.GopherQualityFilter()

    def decide(text):
        result = gopher.filter(Document(text=text, id="x"))
        return (True, None) if result is True else (False, names[result[1]])
    return decide


def test_gopher_reference_agrees_with_datatrove():
    """Where the two read the same words: every boundary document, generated documents and the
    shipped Common Crawl documents whose symbol pieces are all of datatrove's punctuation. datatrove
    stops at the first broken rule; the reference lists them all in the same order."""
    from datatrove.utils.text import PUNCTUATION_SET
    from lmcourse.pretraining_data import load_commoncrawl
    decide = _datatrove_gopher()
    rng = random.Random(0)
    documents = (list(checks.boundary_documents().values()) + [checks.random_document(rng) for _ in range(400)]
                 + [document["text"] for document in load_commoncrawl()])
    compared = 0
    for text in documents:
        if not text.split() or any(ref.is_symbol(piece) != all(ch in PUNCTUATION_SET for ch in piece)
                                   for piece in text.split()):
            continue   # an empty text (datatrove divides by zero), or a symbol datatrove reads otherwise
        keep, reason = decide(text)
        broken = ref.gopher_quality(text)
        assert keep == (not broken) and (keep or reason == broken[0]), (text[:200], broken, reason)
        compared += 1
    assert compared > 250


def test_pii_reference_is_datatroves_formatter():
    """datatrove's PIIFormatter with one placeholder of each kind (it cycles through several)."""
    pii = pytest.importorskip("datatrove.pipeline.formatters.pii")
    formatter = pii.PIIFormatter(email_replacement=ref.EMAIL_PLACEHOLDER, ip_replacement=ref.IP_PLACEHOLDER)
    assert formatter.emails_replacer.regex.pattern == ref.EMAIL_PATTERN.pattern
    assert formatter.ip_replacer.regex.pattern == ref.IP_PATTERN.pattern
    rng = random.Random(0)
    texts = [" ".join(rng.choice([checks.random_email(rng), checks.random_ip(rng), "text", "\n", "a@b"])
                      for _ in range(rng.randrange(1, 10))) for _ in range(200)]
    for text in texts:
        assert ref.mask_pii(text) == formatter.format(text)


def test_gopher_known_answers():
    assert ref.gopher_quality("") == ["word_count", "stop_words"]
    assert ref.gopher_quality("Buy now!") == ["word_count", "stop_words"]
    boundary = checks.boundary_documents()
    assert ref.gopher_quality(boundary["50 words (the least kept)"]) == []
    assert ref.gopher_quality(boundary["49 words"]) == ["word_count"]
    assert ref.gopher_quality(boundary["every rule broken"]) == [
        "word_count", "mean_word_length", "symbol_to_word_ratio", "ellipsis_lines", "alphabetic_words", "stop_words"]


# ------------------------------------------------------------ the notebook's visible checks
VISIBLE_MESSAGES = {   # a wrong version -> what its visible check's AssertionError says
    ("gopher_quality", "symbol pieces counted as words"): "gopher_quality on 45 words and 5 pieces '|'",
    ("gopher_quality", "stop words compared in lower case"): "gopher_quality on 'The' and 'And'",
    ("minhash_signature", "no modulo 2**32"): "differs from datasketch's MinHash",
    ("minhash_signature", "no shingles give an empty signature"): "no shingles: MAX_HASH at every position",
    ("near_duplicate_pairs", "buckets keyed by the band's values alone"): "the same values in different bands",
    ("near_duplicate_pairs", "every band must agree"): "the docstring's example",
    ("mask_pii", "private addresses masked too"): "mask_pii('mail jane@example.org from 8.8.8.8 or 192.168.0.1')",
}


def run_visible_check(exercise, source):
    """The notebook's check cell for `exercise`, run on the given definitions and `source`."""
    namespace = dict(given())
    exec(PREAMBLE + source, namespace)
    exec(helpers.cell_source(SOLUTIONS, exercise), namespace)


@pytest.mark.parametrize("exercise", sorted(CORRECT))
def test_visible_checks_pass_correct_code(exercise):
    run_visible_check(exercise, CORRECT[exercise])


@pytest.mark.parametrize("exercise, what", sorted(VISIBLE_MESSAGES))
def test_visible_checks_name_what_is_wrong(exercise, what):
    with pytest.raises(AssertionError) as failure:
        run_visible_check(exercise, WRONG[exercise][what])
    assert VISIBLE_MESSAGES[exercise, what] in str(failure.value), str(failure.value)
