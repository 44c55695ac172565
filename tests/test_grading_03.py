"""Notebook 03's hidden checks, proven on variants of its solutions: full
marks for the solutions and for other correct code, zero for the blank
release, each deliberately wrong implementation losing exactly its own
exercise's points, a wrong `attention` (graded in notebook 02) costing
nothing here, and cheats gaining nothing. Every variant but the solutions
themselves is graded on the notebook's definitions alone (its other cells
only train and plot, which a grader skips anyway), so the batch stays
within a couple of minutes.

The trusted side is tested too: the stand-ins agree with transformers, from
their source alone; and the checks of `filter_logits` and `generate` (top-p
cuts redrawn away from rounding, sampling judged by statistical bounds) are
run in this process under many secrets, against correct code (they must
never fail) and against wrong code (they must always fail).

The notebook itself: its visible TinyGPT check names the piece a wrong model
gets wrong; its settings live in one cell, which the benchmark reads; and its
bits_per_byte scores every token once."""
import inspect
import math
import random

import nbformat
import pytest
import torch

import helpers
from autograder import registry, wire
from autograder.expect import Failed
from autograder.hidden import causal_lm as checks
from autograder.reference import causal_lm as ref
from autograder.reference.attention import attention as reference_attention
from bench import causal_lm as bench_causal_lm
from lmcourse.hf_models import build_hf_gpt2, tiny_gpt_state_from_hf
from wrong import mutate
from wrong.causal_lm import ATTENTION_SOFTMAX_OVER_QUERIES, CORRECT, WRONG

NOTEBOOK = "03_causal_lm"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
grading = pytest.mark.xdist_group("grade_03")
# The cells a grader needs besides the exercises: the imports, the given GPTConfig.
DEFINITION_CELLS = ("from lmcourse.train import train", "class GPTConfig")

# Round r holds the r-th wrong version of every exercise that has one. The
# checks are independent (TinyGPT's runs with trusted attention and
# causal_mask, generate's with a trusted model and filter_logits), so a round
# still shows each of its wrong exercises losing exactly its own points.
ROUNDS = helpers.wrong_rounds(WRONG)

# Cells appended after the solutions: cheats, and the wrong code they hope to
# pass off. {what: (cells, the exercises made wrong)}
CHEATS = {
    "torch's comparisons patched, asserts turned into no-ops": ([
        "import torch\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "torch.equal = lambda *args, **kwargs: True\n"
        "torch.isclose = lambda a, b, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)\n",
        "def _never_assert(lines):\n"
        "    return [line.replace('assert ', 'if False: assert ', 1) if line.lstrip().startswith('assert ')\n"
        "            else line for line in lines]\n"
        "get_ipython().input_transformers_post.append(_never_assert)\n",
        WRONG["clm_loss"]["summed, not averaged"],
        WRONG["filter_logits"]["top-p keeps one token too few"],
        helpers.cell_source(SOLUTIONS, "clm_loss"),  # the visible check, now toothless
    ], {"clm_loss", "filter_logits"}),
    "tensors equal to everything, and a model that ignores its weights": ([
        "import torch\n\n"
        "class _TensorEqualToEverything(torch.Tensor):\n"
        "    def __eq__(self, other):\n"
        "        return torch.ones(self.shape, dtype=torch.bool)\n\n"
        "def causal_mask(T):\n"
        "    return torch.ones(T, T, dtype=torch.bool).as_subclass(_TensorEqualToEverything)\n\n"
        "def generate(model, idx, max_new_tokens, **options):\n"
        "    return torch.zeros(idx.size(0), idx.size(1) + max_new_tokens, dtype=torch.long)"
        ".as_subclass(_TensorEqualToEverything)\n",
        "_SolutionTinyGPT = TinyGPT\n\n"
        "class TinyGPT(_SolutionTinyGPT):\n"
        "    def load_state_dict(self, state, strict=True):\n"
        "        return None\n",
    ], {"causal_mask", "generate", "TinyGPT"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_03")
    lean = helpers.definitions_only(SOLUTIONS, folder / "lean", DEFINITION_CELLS)
    return helpers.graded_variants(NOTEBOOK, folder, base=lean, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
                                   cheats=CHEATS, also_correct={"attention": ATTENTION_SOFTMAX_OVER_QUERIES})


# ----------------------------------------------------------------- grading
@grading
@pytest.mark.parametrize("label", ["solutions", "correct"])
def test_correct_code_gets_full_marks(graded, label):
    """"correct" also has a wrong `attention`: graded in notebook 02, it costs nothing here."""
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


# ------------------------------------------------------------ trusted side
def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS


def test_at_least_two_wrong_versions_per_exercise():
    assert set(WRONG) == set(POINTS) == set(CORRECT)
    assert all(len(versions) >= 2 for versions in WRONG.values())


def test_standin_filter_logits_is_transformers_warpers():
    filter_logits = helpers.standins(ref)["filter_logits"]
    generator = torch.Generator().manual_seed(0)
    rng = random.Random(0)
    for _ in range(50):
        logits = 3 * torch.randn(4, 60, generator=generator)
        if rng.random() < 0.3:
            logits = logits.round()  # ties
        top_k = rng.choice([None, 1, 5, 60, 80])
        top_p = rng.choice([None, 0.0, 0.3, 0.9, 1.0])
        assert torch.equal(filter_logits(logits, top_k, top_p), checks.warp(logits, top_k, top_p))


def test_standin_model_and_mask_match_gpt2():
    copies = helpers.standins(ref)
    assert torch.equal(copies["causal_mask"](4), torch.ones(4, 4, dtype=torch.bool).tril())
    sizes = dict(vocab_size=50, block_size=12, n_layer=2, n_head=4, n_embd=16)
    gpt2 = build_hf_gpt2(**sizes, generator=torch.Generator().manual_seed(0))
    model = copies["reference_tiny_gpt"](**sizes).double().eval()
    model.load_state_dict(tiny_gpt_state_from_hf(gpt2))
    idx = torch.randint(0, 50, (3, 12))
    with torch.no_grad():
        assert torch.allclose(model(idx), checks.gpt2_logits(gpt2, idx), atol=1e-10)


def test_clear_top_p_avoids_cuts_through_ties_and_rounding():
    logits = torch.tensor([[2.0, 2.0, 1.0, 0.0]])
    probabilities = logits.softmax(dim=-1)[0]
    assert not checks.top_p_is_clear(logits, float(probabilities[0]) - 1e-2, margin=1e-4)  # keeps one of the two 2.0s
    assert not checks.top_p_is_clear(logits, float(2 * probabilities[0]), margin=1e-4)     # on a boundary
    assert checks.top_p_is_clear(logits, float(2 * probabilities[0]) + 0.01, margin=1e-4)


# ------------------------------- filter_logits and generate under many secrets
PREAMBLE = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
STANDINS = helpers.standins(ref)
SECRETS = range(30)
SAMPLING_SECRETS = range(6)  # each check_generate draws 36,000 tokens: about a second


def exercise_source(exercise, which):
    """The solution's cell, or the CORRECT version written apart from it."""
    return helpers.cell_source(SOLUTIONS, f"{exercise}_code") if which == "solution" else CORRECT[exercise]


class InProcessModel:
    """A model in this process, with the interface of the grader's `Remote`."""

    def __init__(self, module):
        self.module = module

    def method(self, name, *args, **kwargs):
        return getattr(self.module, name)(*args, **kwargs)

    def load_state_dict(self, state):
        self.module.load_state_dict(state, strict=True)

    def __call__(self, *args):
        return self.module(*args)


class InProcessStudent:
    """helpers.LocalStudent for a check that builds a model and passes it back
    in (check_generate): the functions run here and a model stays an object."""
    generator = staticmethod(wire.GeneratorSeed)

    def __init__(self, functions):
        self.functions = functions

    def call(self, name, *args, **kwargs):
        def resolve(value):
            if isinstance(value, wire.GeneratorSeed):
                return torch.Generator().manual_seed(value.seed)
            return value.module if isinstance(value, InProcessModel) else value
        result = self.functions[name](*map(resolve, args), **{k: resolve(v) for k, v in kwargs.items()})
        return InProcessModel(result) if isinstance(result, torch.nn.Module) else result


def student_generate(source):
    """A student whose `generate` is `source`, with the trusted model and filter_logits,
    as check_generate's `uses` arranges in the worker."""
    trusted_filter = inspect.getsource(ref.filter_logits)
    return InProcessStudent({**STANDINS, "generate": helpers.compile_function(PREAMBLE + trusted_filter + source,
                                                                              "generate")})


@pytest.mark.parametrize("which", ["solution", "correct"])
def test_filter_logits_check_passes_correct_code_under_many_secrets(which):
    """The solution sums the ascending probabilities, CORRECT the descending ones: the
    top-p values the check draws stay clear of where their roundings disagree."""
    student = helpers.LocalStudent(helpers.compile_function(PREAMBLE + exercise_source("filter_logits", which),
                                                            "filter_logits"))
    for secret in SECRETS:
        checks.check_filter_logits(student, random.Random(secret))


@pytest.mark.parametrize("what", WRONG["filter_logits"])
def test_filter_logits_check_fails_wrong_code_under_many_secrets(what):
    student = helpers.LocalStudent(helpers.compile_function(PREAMBLE + WRONG["filter_logits"][what], "filter_logits"))
    for secret in SECRETS:
        with pytest.raises(Failed):
            checks.check_filter_logits(student, random.Random(secret))


@pytest.mark.parametrize("which", ["solution", "correct"])
def test_generate_check_passes_correct_sampling_under_many_secrets(which):
    student = student_generate(exercise_source("generate", which))
    for secret in SAMPLING_SECRETS:
        checks.check_generate(student, random.Random(secret))


def test_generate_check_accepts_a_generate_that_uses_the_notebooks_kv_cache():
    """generate may hand over to the notebook's own generate_cached (the bonus), which
    walks the modules the notebook's given __init__ builds (block.attn.n_head, ...):
    the trusted model the check runs it on must have them too."""
    source = "\n".join([exercise_source("generate", "solution").replace("def generate(", "def plain_generate("),
                        inspect.getsource(reference_attention), inspect.getsource(ref.causal_mask),
                        helpers.cell_source(SOLUTIONS, "generate_cached_code"),
                        """
def generate(model, idx, max_new_tokens, **options):
    if idx.size(1) + max_new_tokens <= model.config.block_size:
        return generate_cached(model, idx, max_new_tokens, **options)
    return plain_generate(model, idx, max_new_tokens, **options)
"""])
    student = student_generate(source)
    for secret in SAMPLING_SECRETS[:5]:
        checks.check_generate(student, random.Random(secret))


@pytest.mark.parametrize("what", ["temperature applied after the softmax", "the filters ignored"])
def test_generate_check_fails_wrong_sampling_under_many_secrets(what):
    """The mistakes only the statistical part of the check can see."""
    student = student_generate(WRONG["generate"][what])
    for secret in SAMPLING_SECRETS:
        with pytest.raises(Failed):
            checks.check_generate(student, random.Random(secret))


# ------------------------------------------------ the notebook's visible TinyGPT check
def code_cell_with(marker):
    """The source of the notebook's one code cell containing `marker`."""
    found = [cell.source for cell in nbformat.read(str(SOLUTIONS), as_version=4).cells
             if cell.cell_type == "code" and marker in cell.source]
    assert len(found) == 1, f"{len(found)} code cells hold {marker!r}"
    return found[0]


def run_visible_tinygpt_check(tiny_gpt_source):
    """The notebook's TinyGPT check cell, run here after its attention, causal_mask and
    GPTConfig cells and `tiny_gpt_source` in place of the TinyGPT exercise."""
    namespace = {"__name__": "__main__"}
    for source in [PREAMBLE + "from dataclasses import dataclass\n",
                   helpers.cell_source(SOLUTIONS, "attention_code"), helpers.cell_source(SOLUTIONS, "causal_mask_code"),
                   code_cell_with("class GPTConfig"), tiny_gpt_source, helpers.cell_source(SOLUTIONS, "TinyGPT")]:
        exec(source, namespace)


# The heads' dimensions interleaved: head h gets dimensions h, h + nh, ... instead of h * hs ... (h + 1) * hs - 1.
HEADS_SPLIT_WRONGLY = mutate(CORRECT["TinyGPT"], {
    "qkv = self.c_attn(x).reshape(B, T, 3, self.n_head, hs).permute(2, 0, 3, 1, 4)":
    "qkv = self.c_attn(x).reshape(B, T, 3, hs, self.n_head).permute(2, 0, 4, 1, 3)"})
# Each wrong model, and how the check's message must begin: with the module it got wrong.
VISIBLE_CHECK_NAMES = {
    "mask transposed": (WRONG["TinyGPT"]["mask transposed"], "CausalSelfAttention (blocks[0].attn"),
    "heads split wrongly": (HEADS_SPLIT_WRONGLY, "CausalSelfAttention (blocks[0].attn"),
    "exact GELU, not GPT-2's tanh": (WRONG["TinyGPT"]["exact GELU, not GPT-2's tanh"], "MLP (blocks[0].mlp)"),
    "post-LN, as BERT": (WRONG["TinyGPT"]["post-LN, as BERT"], "Block (blocks[0]"),
    "no position embedding": (WRONG["TinyGPT"]["no position embedding"], "the embeddings (token + position"),
    "untied head": (WRONG["TinyGPT"]["untied head"], "lm_head: keep the output head tied"),
}


def test_every_wrong_tinygpt_is_named_here():
    assert set(WRONG["TinyGPT"]) <= set(VISIBLE_CHECK_NAMES)


@pytest.mark.parametrize("what", VISIBLE_CHECK_NAMES)
def test_visible_tinygpt_check_names_the_wrong_module(what):
    source, named = VISIBLE_CHECK_NAMES[what]
    with pytest.raises(AssertionError) as failure:
        run_visible_tinygpt_check(source)
    assert str(failure.value).startswith(named), f"{what}: the check said {str(failure.value)!r}"


@pytest.mark.parametrize("which", ["solution", "correct"])
def test_visible_tinygpt_check_passes_correct_models(which, capsys):
    run_visible_tinygpt_check(exercise_source("TinyGPT", which))
    printed = capsys.readouterr().out
    for piece in ["CausalSelfAttention", "MLP", "Block", "the embeddings", "the stack of blocks",
                  "the final LayerNorm and head", "the whole model"]:
        assert piece in printed


def test_bench_trains_with_the_notebooks_default_settings():
    """bench.causal_lm reads the settings cell in default mode (load_notebook_definitions runs it
    in grading mode), and passes them as the notebook's training cell does."""
    default, grading = bench_causal_lm.notebook_settings(), bench_causal_lm.notebook_settings(grading=True)
    assert default["GRADING"] is False and grading["GRADING"] is True
    assert default["TRAINING_SECONDS"] > grading["TRAINING_SECONDS"]
    sizes, training = bench_causal_lm.model_and_training(default)
    training_cell = code_cell_with("model, history = train_tiny_gpt(")
    for keyword, value in {**sizes, **training}.items():
        name = next(name for name in default if f"{keyword}={name}" in training_cell)
        assert default[name] == value
    notebook = bench_causal_lm.notebook_definitions()
    inspect.signature(notebook["train_tiny_gpt"]).bind(None, None, None, None, **training)
    notebook["GPTConfig"](vocab_size=10, **sizes)


# ------------------------------------------------------------ bits per byte
def test_bits_per_byte_scores_every_token_once():
    """The windows, and a last one whose targets already scored are -100, predict every token
    after the first exactly once, from up to block_size tokens before it."""
    notebook = bench_causal_lm.notebook_definitions()
    block_size, V = 8, 30
    torch.manual_seed(0)
    model = notebook["TinyGPT"](notebook["GPTConfig"](vocab_size=V, block_size=block_size, n_layer=1, n_head=2,
                                                      n_embd=16)).eval()
    token_bytes = torch.randint(1, 4, (V,))
    for n in [3, 9, 10, 17, 20, 40]:
        ids = torch.randint(0, V, (n,))
        bits, n_bytes = 0.0, 0
        for t in range(1, n):  # token t, predicted from the window that scores it
            start = min((t - 1) // block_size * block_size, max(0, n - block_size - 1))
            with torch.no_grad():
                log_p = model(ids[None, start:t]).log_softmax(dim=-1)[0, -1, ids[t]].item()
            bits -= log_p / math.log(2)
            n_bytes += int(token_bytes[ids[t]])
        assert notebook["bits_per_byte"](model, ids, token_bytes, block_size) == pytest.approx(bits / n_bytes, rel=1e-5)
