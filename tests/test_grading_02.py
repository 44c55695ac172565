"""Notebook 02's hidden checks, proven on variants of its solutions: full
marks for the solutions and for other correct code, zero for the blank
release, and each deliberately wrong implementation losing exactly its own
exercise's points. The wrong variants are graded on the notebook's
definitions alone (its other cells only train and plot, which a grader
skips anyway), so the whole batch stays within a few minutes.

The statistical checks of mask_tokens are also run in this process, on many
secrets, against a correct solution (it must never fail) and against the
wrong ones (they must always fail)."""
import random

import nbformat
import pytest
import torch

import helpers
from autograder import registry
from autograder.expect import Failed
from autograder.hidden import masked_lm as checks
from autograder.reference.attention import attention as reference_attention
from lmcourse.hf_models import build_hf_bert, tinybert_state_from_hf
from wrong.masked_lm import CORRECT, WRONG

NOTEBOOK = "02_masked_lm"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
grading = pytest.mark.xdist_group("grade_02")

# One wrong version per graded notebook: a wrong piece would fail the checks of what builds on it.
ROUNDS = [{exercise: what} for exercise, variants in WRONG.items() for what in variants]
# The cells a grader needs besides the exercises: imports and constants, the given TinyBertConfig.
DEFINITION_CELLS = ("import torch.nn as nn", "class TinyBertConfig")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_02")
    lean = helpers.definitions_only(SOLUTIONS, folder / "lean", DEFINITION_CELLS)
    # TinyBert passes `attention` a keyword the notebook's signature does not have (its own
    # attention accepts it): the grader's stand-in refuses it, and the row must say why.
    extra_keyword = helpers.variant(lean, folder / "extra_keyword", replace={
        "attention_code": CORRECT["attention"].replace("mask=None):", "mask=None, dropout_p=0.0):"),
        "TinyBert_code": CORRECT["TinyBert"].replace("attention(q, k, v, mask)", "attention(q, k, v, mask, dropout_p=0.0)")})
    return helpers.graded_variants(NOTEBOOK, folder, base=lean, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
                                   extra={"extra keyword": extra_keyword})


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
def test_wrong_code_loses_only_its_exercise(graded, r):
    helpers.expect_only_failed(graded[f"round {r}"], POINTS, ROUNDS[r])


@grading
def test_an_error_from_a_stand_in_says_the_grader_called_its_own(graded):
    row = graded["extra keyword"]["TinyBert"]
    assert row["status"] == "error" and "dropout_p" in row["message"], row
    assert "the course's own attention(q, k, v, mask=None) stands in for yours" in row["message"], row
    assert graded["extra keyword"]["attention"]["status"] == "passed"


def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS == {
        "mask_tokens": 2, "attention": 2, "TinyBert": 3, "mlm_loss": 1}


# ------------------------------------------- mask_tokens' statistics, in-process
def test_mask_tokens_checks_pass_correct_code_under_many_secrets():
    """Two correct orders of random draws (the notebook's, which is
    transformers', and one uniform number per position), 40 secrets each: a
    false failure here would mean bounds too tight."""
    solution = helpers.compile_function("import torch\n" + helpers.cell_source(SOLUTIONS, "mask_tokens_code"), "mask_tokens")
    for function in (solution, helpers.compile_function(CORRECT["mask_tokens"], "mask_tokens")):
        for seed in range(40):
            checks.check_mask_tokens(helpers.LocalStudent(function), random.Random(seed))


@pytest.mark.parametrize("what", WRONG["mask_tokens"])
def test_mask_tokens_checks_fail_wrong_code_under_every_secret(what):
    function = helpers.compile_function(WRONG["mask_tokens"][what], "mask_tokens")
    for seed in range(5):
        with pytest.raises(Failed):
            checks.check_mask_tokens(helpers.LocalStudent(function), random.Random(seed))


def test_no_cell_imports_the_grader():
    """The grader runs the notebook where autograder/ cannot be seen, and a
    student has no autograder/ either: visible checks get what they need from
    lmcourse."""
    code = [cell.source for cell in nbformat.read(str(SOLUTIONS), as_version=4).cells if cell.cell_type == "code"]
    assert not [source for source in code if "autograder" in source]



# ------------------------------------- the visible TinyBert check names the wrong module
def run_visible_tinybert_check(tinybert_source):
    """The notebook's TinyBert check cell, run on `tinybert_source` (a whole TinyBert_code
    cell) with the solution's attention and the given TinyBertConfig."""
    cells = nbformat.read(str(SOLUTIONS), as_version=4).cells
    config = next(cell.source for cell in cells if "class TinyBertConfig" in cell.source)
    namespace = {"__name__": "notebook_02"}
    for source in ("import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
                   "from dataclasses import dataclass",
                   helpers.cell_source(SOLUTIONS, "attention_code"), config, tinybert_source,
                   helpers.cell_source(SOLUTIONS, "TinyBert")):
        exec(compile(source, str(SOLUTIONS), "exec"), namespace)


@pytest.mark.parametrize("label", ["solutions", "correct"])
def test_visible_tinybert_check_passes_correct_code(label):
    run_visible_tinybert_check(helpers.cell_source(SOLUTIONS, "TinyBert_code") if label == "solutions"
                               else CORRECT["TinyBert"])


@pytest.mark.parametrize("what, module", [
    ("pre-LN instead of post-LN", "EncoderLayer"),
    ("heads split the wrong way", "SelfAttention"),
    ("no LayerNorm on the embeddings", "The embedding step"),
    ("tanh approximation of GELU in the MLM head", "MLMHead"),
    ("padding mask ignored", "TinyBert.encode"),
])
def test_visible_tinybert_check_names_the_wrong_module(what, module):
    """A wrong TinyBert fails the check cell with an AssertionError that starts with the
    name of the piece it got wrong and says by how much, not with one number for the model."""
    with pytest.raises(AssertionError) as failed:
        run_visible_tinybert_check(WRONG["TinyBert"][what])
    message = str(failed.value)
    assert message.startswith(module) and "by up to" in message, message


# ------------------------------------------------------------ trusted side
def test_reference_attention_agrees_with_the_checks_reference():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=gen) for _ in range(3))
    mask = torch.rand(2, 3, 4, 4, generator=gen) < 0.5
    mask[..., 1, :] = False
    assert torch.allclose(reference_attention(q, k, v, mask), checks._reference_attention(q, k, v, mask), atol=1e-6)


def test_weight_mapping_covers_every_bert_weight():
    """Every BertForMaskedLM weight lands somewhere in TinyBert's state (the
    pooler aside, which BertForMaskedLM does not have), so a check cannot
    pass with a weight silently left at its initial value."""
    bert = build_hf_bert(vocab_size=30, block_size=8, n_layer=2, n_head=2, n_embd=8, n_inner=16,
                         generator=torch.Generator().manual_seed(0))
    state = tinybert_state_from_hf(bert)
    folded = bert.config.hidden_size  # the token-type row, added into the position embedding
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in bert.parameters()) - folded


# ------------------------------------------------------ the notebook's data
def test_labelled_sets_load_whole_and_split_without_overlap():
    from lmcourse import downstream
    polarity = downstream.load_polarity()
    assert len(polarity) == 4000 and sum(label for _, label in polarity) == 2000
    train, test = downstream.polarity_split()
    assert (len(train), len(test)) == (3000, 1000)
    assert not {text for text, _ in train} & {text for text, _ in test}
    sentences = downstream.load_pos()
    assert len(sentences) == 20000 and sum(map(len, sentences)) == 360524
    assert len(downstream.pos_tagset()) == 45
    pos_train, pos_test = downstream.pos_split()
    assert pos_train + pos_test == list(sentences) and len(pos_test) == 2000


def test_word_labels_sit_on_each_words_last_token():
    from lmcourse import downstream, load_course_tokenizer, special_token_ids
    tokenizer, special = load_course_tokenizer(), special_token_ids()
    sentence = (("The", "DT"), ("moviegoers", "NNS"), ("laughed", "VBD"), (",", ","), ("it", "PRP"),
                ("'s", "VBZ"), ("true", "JJ"), (".", "."))
    tag_ids = {tag: i for i, tag in enumerate(dict.fromkeys(tag for _, tag in sentence))}
    ids, mask, labels = downstream.encode_tagged(tokenizer, [sentence], tag_ids,
                                                 special["[CLS]"], special["[SEP]"], special["[PAD]"], 32)
    word_ids, ends = downstream.encode_words(tokenizer, [word for word, _ in sentence])
    assert ids[0].tolist() == [special["[CLS]"], *word_ids, special["[SEP]"]] and bool(mask.all())
    assert [i - 1 for i, label in enumerate(labels[0].tolist()) if label != -100] == ends
    pieces = [len(tokenizer.encode(piece).ids) for piece in downstream.spaced_words([w for w, _ in sentence])]
    assert pieces[1] > 1, "the test needs a word of several tokens"
    assert ends == [sum(pieces[:i + 1]) - 1 for i in range(len(pieces))]  # each word's last piece
    assert [label for label in labels[0].tolist() if label != -100] == [tag_ids[tag] for _, tag in sentence]
    assert tokenizer.decode(word_ids) == " The moviegoers laughed, it's true."
    assert word_ids == tokenizer.encode(downstream.as_text([word for word, _ in sentence])).ids
