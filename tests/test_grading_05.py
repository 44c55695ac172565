"""Notebook 05's hidden checks, proven on variants of its solutions: full
marks for the solutions and for other correct code, zero for the blank
release, each deliberately wrong implementation losing exactly its own
exercise's points, a wrong `attention` or TinyBert (graded in notebook 02)
costing nothing here, and cheats gaining nothing. Every variant but the
solutions is graded on the notebook's definitions alone (its other cells
embed, fine-tune and plot, which a grader skips anyway), so the batch stays
within a couple of minutes.

In this process: the checks against correct code under many secrets (they
must never fail) and against each wrong version (they must always fail); the
trusted references against sentence-transformers, torch and transformers;
and the notebook's visible checks, which must stop every wrong version but
one (building the model to count it passes there, and only the hidden
checks' model too big to build catches it)."""
import random

import nbformat
import pytest
import torch

import helpers
from autograder import registry
from autograder.expect import Failed
from autograder.hidden import choosing_a_model as checks
from autograder.reference import choosing_a_model as ref
from autograder.session import StudentRaised
from wrong.choosing_a_model import CORRECT, WRONG

NOTEBOOK = "05_choosing_a_model"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
grading = pytest.mark.xdist_group("grade_05")
# The cells a grader needs besides the exercises: the imports (BertConfig among them).
DEFINITION_CELLS = ("from lmcourse.pretrained import",)
ROUNDS = helpers.wrong_rounds(WRONG)
BUILDS_THE_MODEL = "the model built and counted (too big for the largest config)"
# Softmax over the queries: wrong, but graded in notebook 02, so it must cost nothing here.
WRONG_ATTENTION = '''
import math
import torch

def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-2).nan_to_num(0.0) @ v
'''
CHEATS = {
    "torch's comparisons patched, asserts turned into no-ops": ([
        "import math\nimport torch\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "torch.equal = lambda *args, **kwargs: True\n"
        "math.isclose = lambda *args, **kwargs: True\n",
        "def _never_assert(lines):\n"
        "    return [line.replace('assert ', 'if False: assert ', 1) if line.lstrip().startswith('assert ')\n"
        "            else line for line in lines]\n"
        "get_ipython().input_transformers_post.append(_never_assert)\n",
        WRONG["mean_pool"]["the mean over every position, padding included"],
        WRONG["training_flops"]["2 N D: the forward pass only"],
        helpers.cell_source(SOLUTIONS, "mean_pool"),  # the visible check, now toothless
    ], {"mean_pool", "training_flops"}),
    "numbers and tensors equal to everything": ([
        "import torch\n\n"
        "class _EqualToEverything(int):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = int.__hash__\n\n"
        "class _TensorEqualToEverything(torch.Tensor):\n"
        "    def __eq__(self, other):\n"
        "        return torch.ones(self.shape, dtype=torch.bool)\n\n"
        "def count_bert_parameters(config):\n"
        "    return _EqualToEverything(0)\n\n"
        "def nearest_neighbours(queries, keys, k):\n"
        "    shape = (queries.size(0), k)\n"
        "    return (torch.zeros(shape).as_subclass(_TensorEqualToEverything),\n"
        "            torch.zeros(shape, dtype=torch.long).as_subclass(_TensorEqualToEverything))\n",
    ], {"count_bert_parameters", "nearest_neighbours"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_05")
    lean = helpers.definitions_only(SOLUTIONS, folder / "lean", DEFINITION_CELLS)
    return helpers.graded_variants(NOTEBOOK, folder, base=lean, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
                                   cheats=CHEATS, also_correct={"attention": WRONG_ATTENTION,
                                                                "TinyBert": "raise NotImplementedError()"})


# ----------------------------------------------------------------- grading
@grading
@pytest.mark.parametrize("label", ["solutions", "correct"])
def test_correct_code_gets_full_marks(graded, label):
    """"correct" also has a wrong `attention` and no TinyBert: graded in notebook 02, they cost nothing here."""
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
    cells, made_wrong = CHEATS[cheat]
    helpers.expect_only_failed(graded[cheat], POINTS, dict.fromkeys(made_wrong, cheat))


def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS == {
        "mean_pool": 2, "nearest_neighbours": 2, "count_bert_parameters": 2, "training_flops": 1}


def test_at_least_two_wrong_versions_per_exercise():
    assert set(WRONG) == set(POINTS) == set(CORRECT)
    assert all(len(versions) >= 2 for versions in WRONG.values())


# ------------------------------------------- the checks in this process, many secrets
PREAMBLE = "import math\nimport torch\nimport torch.nn.functional as F\nfrom transformers import BertConfig\n"


class InProcessStudent:
    """The notebook's names called in this process, as the grader's Student calls them:
    tensors and numbers pass through unchanged, a BertConfig stays an object."""

    def __init__(self, source):
        self.namespace = {}
        exec(PREAMBLE + source, self.namespace)

    def call(self, name, *args, **kwargs):
        try:
            return self.namespace[name](*args, **kwargs)
        except Exception as error:  # as the worker reports a student's exception
            raise StudentRaised(type(error).__name__, str(error)) from None

    def call_with_arguments(self, name, *args, **kwargs):
        copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        return self.call(name, *copies, **kwargs), copies


CHECKS = {"mean_pool": checks.check_mean_pool, "nearest_neighbours": checks.check_nearest_neighbours,
          "count_bert_parameters": checks.check_count_bert_parameters, "training_flops": checks.check_training_flops}


def exercise_source(exercise, which):
    return helpers.cell_source(SOLUTIONS, f"{exercise}_code") if which == "solution" else CORRECT[exercise]


@pytest.mark.parametrize("which", ["solution", "correct"])
@pytest.mark.parametrize("exercise", CHECKS)
def test_checks_pass_correct_code_under_many_secrets(exercise, which):
    student = InProcessStudent(exercise_source(exercise, which))
    for secret in range(25):
        CHECKS[exercise](student, random.Random(secret))


@pytest.mark.parametrize("exercise,what", [(exercise, what) for exercise in WRONG for what in WRONG[exercise]
                                           if what != BUILDS_THE_MODEL])
def test_checks_fail_wrong_code_under_every_secret(exercise, what):
    student = InProcessStudent(WRONG[exercise][what])
    for secret in range(5):
        with pytest.raises((Failed, StudentRaised)):
            CHECKS[exercise](student, random.Random(secret))


def test_failures_name_the_mistake():
    """The messages a learner reads say what went wrong, not only that something did."""
    messages = {}
    for exercise, what in [("mean_pool", "a row of padding only gives NaN (0 / 0)"),
                           ("nearest_neighbours", "ties to the higher index"),
                           ("nearest_neighbours", "a zero vector gives NaN (divided by its norm, 0)"),
                           ("count_bert_parameters", "no pooler"),
                           ("training_flops", "2 N D: the forward pass only")]:
        with pytest.raises(Failed) as failure:
            CHECKS[exercise](InProcessStudent(WRONG[exercise][what]), random.Random(0))
        messages[what] = str(failure.value)
    assert "padding only" in messages["a row of padding only gives NaN (0 / 0)"]
    assert "ties go to the lower index" in messages["ties to the higher index"]
    assert "zero vector" in messages["a zero vector gives NaN (divided by its norm, 0)"]
    assert "-" in messages["no pooler"].rsplit(":", 1)[1]          # the count is short by the pooler's weights
    assert "2 per parameter and token" in messages["2 N D: the forward pass only"]


# ------------------------------------------------------------ trusted side
def test_mean_pool_reference_is_sentence_transformers_pooling():
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:      # sentence-transformers before 5
        from sentence_transformers.models import Pooling

    pooling = Pooling(8, pooling_mode="mean")
    hidden = torch.randn(5, 7, 8)
    mask = torch.tensor([[1] * 7, [1] * 3 + [0] * 4, [1] + [0] * 6, [0] * 7, [1, 0, 1, 0, 1, 0, 1]])
    expected = pooling({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]
    assert torch.allclose(ref.mean_pool(hidden, mask), expected, atol=1e-6)
    assert torch.equal(ref.mean_pool(hidden, mask)[3], torch.zeros(8))   # no real token: zeros


def test_nearest_neighbours_reference_is_torch_cosine_and_a_stable_sort():
    from sentence_transformers.util import cos_sim

    queries, keys = torch.randn(4, 6), torch.randn(30, 6)
    keys[7] = 0
    assert torch.allclose(ref.cosine_similarities(queries, keys), cos_sim(queries, keys), atol=1e-6)
    keys[11] = keys[2]          # a copy: a tie, to the lower index
    scores, indices = ref.nearest_neighbours(queries, keys, 30)
    for row in range(4):
        position = {int(i): p for p, i in enumerate(indices[row])}
        assert scores[row, position[2]] == scores[row, position[11]] and position[11] == position[2] + 1


def test_parameter_count_reference_is_transformers_and_the_formula():
    from transformers import BertConfig, BertModel

    rng = random.Random(0)
    for _ in range(6):
        heads = rng.randrange(1, 4)
        sizes = dict(vocab_size=rng.randrange(5, 300), hidden_size=4 * heads, num_hidden_layers=rng.randrange(0, 3),
                     num_attention_heads=heads, intermediate_size=rng.randrange(1, 40),
                     max_position_embeddings=rng.randrange(2, 50), type_vocab_size=rng.randrange(1, 4))
        built = BertModel(BertConfig(**sizes)).num_parameters()
        formula_sizes = {key: value for key, value in sizes.items() if key != "num_attention_heads"}
        assert ref.bert_parameters(sizes) == built == ref.parameter_formula(**formula_sizes)
    assert ref.bert_parameters(checks.MINILM_SIZES) == 22_713_216
    from lmcourse.pretrained import load_minilm_weights
    assert sum(t.numel() for t in load_minilm_weights().values()) == 22_713_216


# ------------------------------------------------ the notebook's visible checks
def run_visible_check(exercise, source):
    """The exercise's check cell run here after `source` in place of its answer cell."""
    namespace = {"minilm_config": ref_minilm_config()}
    exec(PREAMBLE + source, namespace)
    exec(helpers.cell_source(SOLUTIONS, exercise), namespace)


def ref_minilm_config():
    from lmcourse.pretrained import load_minilm_config
    return load_minilm_config()


@pytest.mark.parametrize("which", ["solution", "correct"])
@pytest.mark.parametrize("exercise", CHECKS)
def test_visible_checks_pass_correct_code(exercise, which, capsys):
    run_visible_check(exercise, exercise_source(exercise, which))
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise,what", [(exercise, what) for exercise in WRONG for what in WRONG[exercise]
                                           if what != BUILDS_THE_MODEL])
def test_visible_checks_stop_wrong_code(exercise, what):
    with pytest.raises(AssertionError) as failure:
        run_visible_check(exercise, WRONG[exercise][what])
    assert str(failure.value), f"{what}: the check stopped it without saying why"


# ------------------------------------------------ the notebook's TinyBert and settings
def test_settings_cell_in_grading_mode_trains_nothing():
    import bench

    notebook = nbformat.read(str(SOLUTIONS), as_version=4)
    for grading_value in (True, False):
        namespace = {"grading_mode": lambda: grading_value, "torch": torch}
        exec(notebook.cells[bench.parameters_cell(notebook)].source, namespace)
        if grading_value:
            assert namespace["FINE_TUNE_STEPS"] == 0 and not namespace["FINE_TUNE_EXISTING"]
            assert namespace["SENTENCE_LIMIT"] <= 100 and namespace["SEARCH_LINES"] <= 200
        else:
            assert namespace["LABELLED_SIZES"] == (50, 500, 3000) and namespace["SENTENCE_LIMIT"] is None


def test_minilm_in_the_solutions_tinybert_equals_bert_model():
    """What the notebook's TinyBert check shows, here: notebook 02's TinyBert with all-MiniLM-L6-v2's
    weights computes transformers' BertModel, and the course's stand-in does too."""
    from lmcourse import downstream
    from lmcourse.pretrained import (BertEncoder, load_minilm_bert, load_minilm_config, load_minilm_tokenizer,
                                     minilm_tinybert_state, tinybert_sizes)

    namespace = {}
    exec("import math\nfrom dataclasses import dataclass\nimport torch\nimport torch.nn as nn\n"
         "import torch.nn.functional as F\n", namespace)
    exec(next(cell.source for cell in nbformat.read(str(SOLUTIONS), as_version=4).cells
              if "class TinyBertConfig" in cell.source), namespace)
    exec(helpers.cell_source(SOLUTIONS, "attention_code"), namespace)
    exec(helpers.cell_source(SOLUTIONS, "TinyBert_code"), namespace)
    sizes = tinybert_sizes(load_minilm_config())
    tiny = namespace["TinyBert"](namespace["TinyBertConfig"](**sizes)).eval()
    missing = tiny.load_state_dict(minilm_tinybert_state(), strict=False).missing_keys
    assert missing and all(name.startswith("head.") for name in missing)
    stand_in = BertEncoder(**sizes).eval()
    stand_in.load_state_dict(minilm_tinybert_state())
    tokenizer = load_minilm_tokenizer()
    ids, mask = downstream.pad_batch([e.ids for e in tokenizer.encode_batch(["A storm at sea.", "Thou art a villain, "
                                                                              "a rogue, a knave!"])], 0)
    with torch.no_grad():
        expected = load_minilm_bert()(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        for model in (tiny, stand_in):
            assert (model.encode(ids, mask) - expected)[mask].abs().max() < 1e-4


# ------------------------------------------------------------ the benchmark
def test_bench_reads_names_the_notebook_defines_and_prints_one_json_line():
    """bench.choosing_a_model's report cell reads the notebook's names; its last line is
    {"sentiment": {"50": {...}, "500": {...}, "3000": {...}}, "seconds": S}."""
    import re

    from bench import choosing_a_model as bench_05

    source = "\n".join(cell.source for cell in nbformat.read(str(SOLUTIONS), as_version=4).cells
                       if cell.cell_type == "code")
    for name in ("device", "LABELLED_SIZES", "pool", "test", "results", "lines", "embedding_seconds"):
        assert re.search(rf"^\s*{name}\b[^=\n]*=", source, re.MULTILINE) or f"{name} = " in source, name
    models = ("existing", "own pretrained", "scratch", "bag of words")
    reports = [{"seconds": seconds, "results": [[model, size, [0.5 + 0.1 * i, 0.7]] for i, model in enumerate(models)
                                                for size in (50, 500, 3000)]} for seconds in (300.0, 320.0)]
    line = bench_05.summary(reports)
    assert line["seconds"] == 310 and list(line["sentiment"]) == ["50", "500", "3000"]
    assert line["sentiment"]["500"] == {"existing": 60.0, "own_pretrained": 65.0, "scratch": 70.0, "bag_of_words": 75.0}
