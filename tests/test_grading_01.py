"""Notebook 01's hidden checks, proven on variants of its solutions: full
marks for the solutions and for other correct code, zero for the blank
release, and each deliberately wrong implementation or cheat costing exactly
the points of the exercise it is in. Also the trusted side: the reference
agrees with the checks' known answers and with GPT-2's tokenization."""
import random
import shutil

import pytest

import helpers
from autograder import registry
from autograder.hidden import tokenization as checks
from autograder.reference import tokenization as ref
from lmcourse.data import gpt2_files, load_corpus
from wrong.tokenization import CORRECT, WRONG

NOTEBOOK = "01_tokenization"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
EOT = "<|endoftext|>"
grading = pytest.mark.xdist_group("grade_01")


def packed_rounds():
    """The wrong implementations packed into few notebooks, since grading one
    takes seconds: round r holds the r-th wrong version of each helper and the
    (r - 2)-th of train_bpe and BPETokenizer. The checks are independent
    (train_bpe's and BPETokenizer's run with trusted stand-ins for the
    helpers), so a round still shows each of its wrong exercises losing
    exactly its own points; the first rounds have only helpers wrong, the last
    only train_bpe and BPETokenizer. [{exercise: what is wrong}, ...]"""
    lag = {exercise: 0 if exercise in checks.HELPERS else 2 for exercise in WRONG}
    n_rounds = max(len(WRONG[exercise]) + lag[exercise] for exercise in WRONG)
    return [{exercise: list(WRONG[exercise])[r - lag[exercise]] for exercise in WRONG
             if 0 <= r - lag[exercise] < len(WRONG[exercise])} for r in range(n_rounds)]


ROUNDS = packed_rounds()

# Cells appended after the solutions: cheats, and the wrong implementations
# they hope to pass off. {what: (cells, the exercises made wrong)}
CHEATS = {
    "torch's comparisons patched, asserts turned into no-ops": ([
        "import torch\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "torch.equal = lambda *args, **kwargs: True\n"
        "torch.testing.assert_close = lambda *args, **kwargs: None\n",
        "def _never_assert(lines):\n"
        "    return [line.replace('assert ', 'if False: assert ', 1) if line.lstrip().startswith('assert ')\n"
        "            else line for line in lines]\n"
        "get_ipython().input_transformers_post.append(_never_assert)\n",
        WRONG["merge_pair"]["right to left"],
        WRONG["pretokenize"]["no contractions"],
        helpers.cell_source(SOLUTIONS, "pretokenize"),  # the visible check, now toothless
    ], {"merge_pair", "pretokenize"}),
    "answers equal to everything: an object, list and str subclasses, a tensor subclass": ([
        "class _EqualToEverything:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = object.__hash__\n\n"
        "def get_pair_counts(words):\n"
        "    return _EqualToEverything()\n",
        "class _ListEqualToEverything(list):\n"
        "    def __eq__(self, other):\n"
        "        return True\n\n"
        "class _TextEqualToEverything(str):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = str.__hash__\n\n"
        "class BPETokenizer(BPETokenizer):\n"
        "    def encode(self, text):\n"
        "        return _ListEqualToEverything()\n"
        "    def decode(self, ids):\n"
        "        return _TextEqualToEverything()\n",
        "import torch\n\n"
        "class _TensorEqualToEverything(torch.Tensor):\n"
        "    def __eq__(self, other):\n"
        "        return True\n\n"
        "_solution_train_bpe = train_bpe\n\n"
        "def train_bpe(text, vocab_size, special_tokens=()):\n"
        "    vocab, merges = _solution_train_bpe(text, vocab_size, special_tokens)\n"
        "    return vocab, torch.zeros(len(merges)).as_subclass(_TensorEqualToEverything)\n",
    ], {"get_pair_counts", "BPETokenizer", "train_bpe"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_01")
    return helpers.graded_variants(NOTEBOOK, folder, base=SOLUTIONS, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
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


# ------------------------------------------------------------ trusted side
def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS


def test_known_answers_agree_with_the_reference():
    for text, expected in checks.KNOWN_PRETOKENS.items():
        assert ref.pretokenize(text) == expected
    for words, expected in checks.KNOWN_PAIR_COUNTS:
        assert ref.get_pair_counts(words) == expected
    for ids, pair, new_id, expected in checks.KNOWN_MERGES:
        assert ref.merge_pair(ids, pair, new_id) == expected
    for text, vocab_size, special_tokens, expected in checks.KNOWN_TRAININGS:
        assert ref.train_bpe(text, vocab_size, special_tokens) == expected


def test_standins_work_from_their_source_alone():
    """What the grader sends into the worker: each stand-in's source, run in
    an empty namespace, behaves as the reference does."""
    copies = helpers.standins(ref)
    assert set(copies) == {"pretokenize", "get_pair_counts", "merge_pair"}
    for text in checks.EDGE_TEXTS:
        assert copies["pretokenize"](text) == ref.pretokenize(text)
    for words, expected in checks.KNOWN_PAIR_COUNTS:
        assert copies["get_pair_counts"](words) == expected
    for ids, pair, new_id, expected in checks.KNOWN_MERGES:
        assert copies["merge_pair"](ids, pair, new_id) == expected


def test_reference_training_lays_out_the_vocabulary_as_the_contract_says():
    text = load_corpus()[:5_000]
    special_tokens = [EOT, "<pad>"]
    vocab, merges = ref.train_bpe(text, 400, special_tokens)
    assert sorted(vocab) == list(range(400)) and len(merges) == 400 - 256 - 2
    assert all(vocab[i] == bytes([i]) for i in range(256))
    assert all(vocab[256 + i] == left + right for i, (left, right) in enumerate(merges))
    assert [vocab[398], vocab[399]] == [EOT.encode(), b"<pad>"]
    assert ref.decode(ref.encode(text, vocab, merges, special_tokens), vocab) == text


def test_reference_encoding_is_gpt2s(tmp_path):
    """The naive reference encoder, tokenizers' byte-level BPE (what the
    hidden check compares with) and transformers' GPT2TokenizerFast agree on
    GPT-2's files."""
    from transformers import GPT2TokenizerFast
    encoder_json, vocab_bpe = gpt2_files()
    shutil.copy(encoder_json, tmp_path / "vocab.json")
    shutil.copy(vocab_bpe, tmp_path / "merges.txt")
    gpt2_fast = GPT2TokenizerFast.from_pretrained(str(tmp_path))
    vocab, merges = ref.gpt2_vocab_and_merges()
    rng = random.Random(0)
    texts = checks.EDGE_TEXTS + [load_corpus()[:30_000]] + [
        checks.random_text(rng, checks.TRICKY_PIECES + [EOT], 1, 30) for _ in range(50)]
    for text in texts:
        expected = ref.gpt2_tokenizer().encode(text).ids
        assert gpt2_fast.encode(text) == expected
        assert ref.encode(text, vocab, merges, [EOT]) == expected
        assert ref.decode(expected, vocab) == text
