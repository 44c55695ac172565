"""Notebook 04's hidden checks, proven on variants of its solutions: full
marks for the solutions and for other correct code, zero for the blank
release, each deliberately wrong implementation losing exactly its own
exercise's points, and a wrong `attention` (graded in notebook 02) costing
nothing here. The wrong variants are graded on the notebook's definitions
alone (its other cells only train and plot), in rounds: round r holds the
r-th wrong version of every exercise, which works because the checks are
independent (TinySeq2Seq's runs with the trusted attention, greedy_decode's
on a scripted model).

Also, in this process: the statistical checks of random_spans_noise_mask
against correct code under many secrets, the trusted side (the T5 ports,
the torch.nn reference, the scripted model) against known answers, and the
notebook's visible TinySeq2Seq check, whose message names the wrong piece
(a post-LN decoder block, cross-attention reading the decoder, a wrong head
split...)."""
import inspect
import random

import pytest
import torch

import helpers
from autograder import registry
from autograder.expect import Failed
from autograder.hidden import span_corruption as checks
from autograder.reference import span_corruption as ref
from wrong import mutate
from wrong.span_corruption import CORRECT, WRONG

NOTEBOOK = "04_span_corruption"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
POINTS = {exercise.name: exercise.points for exercise in registry.exercises_for(NOTEBOOK)}
grading = pytest.mark.xdist_group("grade_04")

ROUNDS = helpers.wrong_rounds(WRONG)
# The cells a grader needs besides the exercises: the set-up cell and the given Seq2SeqConfig.
DEFINITION_CELLS = ("from lmcourse import span_corruption_viz", "class Seq2SeqConfig")
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


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every variant graded in one batch, two at a time: {label: {exercise: row}}."""
    folder = tmp_path_factory.mktemp("grade_04")
    lean = helpers.definitions_only(SOLUTIONS, folder / "lean", DEFINITION_CELLS)
    return helpers.graded_variants(NOTEBOOK, folder, base=lean, correct=CORRECT, wrong=WRONG, rounds=ROUNDS,
                                   also_correct={"attention": WRONG_ATTENTION})


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


def test_points_match_the_notebooks_check_cells():
    assert helpers.nbgrader_points(SOLUTIONS) == POINTS == {
        "random_spans_noise_mask": 2, "span_corrupt": 2, "compute_input_and_target_lengths": 1,
        "TinySeq2Seq": 3, "greedy_decode": 2}


def test_at_least_two_wrong_versions_per_exercise():
    assert set(WRONG) == set(POINTS) == set(CORRECT)
    assert all(len(versions) >= 2 for versions in WRONG.values())


# ------------------------------ random_spans_noise_mask's statistics, in-process
def test_noise_mask_checks_pass_correct_code_under_many_secrets():
    """The solution's order of draws, another correct one and the T5 port, 20
    secrets each: a false failure here would mean bounds too tight."""
    solution = helpers.compile_function("import torch\n" + helpers.cell_source(SOLUTIONS, "random_spans_noise_mask_code"),
                                "random_spans_noise_mask")
    correct = helpers.compile_function(CORRECT["random_spans_noise_mask"], "random_spans_noise_mask")
    for function in (solution, correct, ref.random_spans_noise_mask):
        for seed in range(20):
            checks.check_random_spans_noise_mask(helpers.LocalStudent(function), random.Random(seed))


def test_noise_mask_checks_accept_t5s_float32_arithmetic():
    """T5 computes length * density in float32, the documented rule in Python's
    floats; the two round apart at a few sizes (190 at 0.15: 29 noise tokens
    or 28), so the checks must not ask those: a port that follows T5 op for
    op, in float32, passes under every secret, as the documented reading does."""
    assert ref.noise_counts(190, 0.15, 3.0) == (28, 9) and ref.noise_counts(190, 0.15, 3.0, float32=True) == (29, 10)
    source = helpers.cell_source(SOLUTIONS, "random_spans_noise_mask_code")
    contract = "round(length * noise_density)"
    assert contract in source
    float32 = source.replace(contract, "round(float(torch.tensor(length, dtype=torch.float32)"
                                       " * torch.tensor(noise_density, dtype=torch.float32)))")
    function = helpers.compile_function("import torch\n" + float32, "random_spans_noise_mask")
    assert function(190, 0.15).sum() == 29
    for seed in range(40):
        checks.check_random_spans_noise_mask(helpers.LocalStudent(function), random.Random(seed))


@pytest.mark.parametrize("what", WRONG["random_spans_noise_mask"])
def test_noise_mask_checks_fail_wrong_code_under_every_secret(what):
    function = helpers.compile_function(WRONG["random_spans_noise_mask"][what], "random_spans_noise_mask")
    for seed in range(5):
        with pytest.raises(Failed):
            checks.check_random_spans_noise_mask(helpers.LocalStudent(function), random.Random(seed))


def test_equal_length_spans_fail_only_the_distribution_check():
    """The statistical part earns its place: a mask with T5's exact counts but
    evenly cut noise spans passes every exact check and fails the chi-square."""
    function = helpers.compile_function(WRONG["random_spans_noise_mask"]["noise spans of equal length"],
                                "random_spans_noise_mask")
    with pytest.raises(Failed, match="not distributed as T5's"):
        checks.check_random_spans_noise_mask(helpers.LocalStudent(function), random.Random(0))


# ------------------------------------------------------------ trusted side
def test_t5_ports_on_known_answers():
    ids = torch.arange(10, 20)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[2, 3, 7]] = True
    inputs, targets = ref.span_corrupt(ids, mask, [32099, 32098, 32097], 1)
    assert inputs.tolist() == [10, 11, 32099, 14, 15, 16, 32098, 18, 19, 1]
    assert targets.tolist() == [32099, 12, 13, 32098, 17, 32097, 1]
    assert ref.random_spans_helper(512, 0.15, 3.0) == (568, 114)
    assert ref.random_spans_helper(9, 0.5, 2.0) == (10, 9)            # the density-0.5 correction
    mask = ref.random_spans_noise_mask(1000, 0.15, 3.0, torch.Generator().manual_seed(0))
    assert int(mask.sum()) == 150 and int((mask[1:] & ~mask[:-1]).sum()) == 50 and not mask[0] and mask[-1]
    assert ref.random_spans_noise_mask(1, 0.15, 3.0, torch.Generator()).tolist() == [False]


def test_density_half_grid_exercises_the_correction():
    """The lengths check_compute_input_and_target_lengths tries at density 0.5
    include some where T5's correction changes the answer."""
    wrong = helpers.compile_function(WRONG["compute_input_and_target_lengths"]["T5's density-0.5 correction left out"],
                             "compute_input_and_target_lengths")
    for mean in (2.0, 3.0):
        assert any(wrong(n, 0.5, mean) != ref.random_spans_helper(n, 0.5, mean) for n in range(8, 40))


def test_solution_model_matches_the_torch_reference():
    """The solution's TinySeq2Seq, given the grader's random weights, computes
    what torch.nn's Transformer layers compute: the reference is right."""
    namespace = helpers.seq2seq_classes(helpers.cell_source(SOLUTIONS, "TinySeq2Seq_code"))
    config = namespace["Seq2SeqConfig"](vocab_size=30, block_size=12, n_layer=2, n_head=2, n_embd=16, pad_id=0)
    model = namespace["TinySeq2Seq"](config).eval()
    state = ref.tinyseq2seq_state(30, 12, 2, 16, torch.Generator().manual_seed(0))
    model.load_state_dict(state, strict=True)
    source = torch.randint(1, 30, (2, 9), generator=torch.Generator().manual_seed(1))
    source[1, 5:] = 0
    target = torch.randint(1, 30, (2, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(source, target)
    theirs = ref.torch_transformer_logits(state, 2, 2, 0, source, target)
    assert ours.abs().max() > 1 and torch.allclose(ours, theirs, atol=1e-5)


# The notebook's own TinySeq2Seq check (its locked check cell), which compares the model piece by
# piece with torch.nn's layers (lmcourse.seq2seq.check_against_torch_nn): a mistake is reported
# with the module it is in. Besides tests/wrong's versions, three more that each break one piece.
HEAD_SPLIT = "t.reshape(t.shape[0], t.shape[1], self.n_head, -1).permute(0, 2, 1, 3)"
MORE_WRONG_MODELS = {
    "heads split across the channels": mutate(CORRECT["TinySeq2Seq"], {
        HEAD_SPLIT: "t.reshape(t.shape[0], t.shape[1], -1, self.n_head).permute(0, 3, 1, 2)"}),
    "no decoder_norm before the head": mutate(CORRECT["TinySeq2Seq"], {
        "return self.lm_head(self.decoder_norm(y))": "return self.lm_head(y)"}),
    "no decoder positions": mutate(CORRECT["TinySeq2Seq"], {
        "y = self.token_embedding(decoder_input_ids) + self.decoder_positions(positions)":
        "y = self.token_embedding(decoder_input_ids)"}),
}
NAMED_MODULE = {   # what the check's AssertionError starts with
    "post-LN decoder block": "DecoderBlock (decoder_blocks[0]): self_attn's queries should be ln_1(x)",
    "cross-attention reads the decoder, not the memory":
        "DecoderBlock (decoder_blocks[0]): cross_attn's keys and values (its context) should be memory",
    "cross-attention with the causal mask": "DecoderBlock (decoder_blocks[0]): cross_attn should get memory_mask",
    "cross-attention over the encoder's padding": "DecoderBlock (decoder_blocks[0]): cross_attn should get memory_mask",
    "decoder self-attention not causal": "decode: decoder_blocks[0]'s self_mask should be causal",
    "heads split across the channels": "MultiHeadAttention as self-attention",
    "no decoder_norm before the head": "the head (decoder_norm, then lm_head",
    "no decoder positions": "decode's embeddings (token_embedding + decoder_positions",
}


def run_visible_check(model_source):
    """The notebook's TinySeq2Seq check cell, run on the classes of `model_source` (with the trusted attention)."""
    namespace = helpers.seq2seq_classes(model_source)
    torch.manual_seed(0)
    exec(helpers.cell_source(SOLUTIONS, "TinySeq2Seq"), namespace)


@pytest.mark.parametrize("source", ["solution", "correct"])
def test_visible_model_check_passes_correct_models(source):
    run_visible_check(helpers.cell_source(SOLUTIONS, "TinySeq2Seq_code") if source == "solution" else CORRECT["TinySeq2Seq"])


@pytest.mark.parametrize("what", NAMED_MODULE)
def test_visible_model_check_names_the_wrong_module(what):
    """The message names the piece that is wrong (for the post-LN decoder block, the misplaced
    LayerNorm; for cross-attention reading the decoder, the cross-attention's keys and values), and
    says by how much where it is a difference."""
    source = WRONG["TinySeq2Seq"].get(what) or MORE_WRONG_MODELS[what]
    with pytest.raises(AssertionError) as failure:
        run_visible_check(source)
    assert str(failure.value).startswith(NAMED_MODULE[what]), str(failure.value)
    if what in ("post-LN decoder block", "heads split across the channels", "no decoder_norm before the head"):
        assert "by up to" in str(failure.value)


def test_visible_model_check_covers_every_piece():
    namespace = helpers.seq2seq_classes(CORRECT["TinySeq2Seq"])
    from lmcourse.seq2seq import check_against_torch_nn

    model = namespace["TinySeq2Seq"](namespace["Seq2SeqConfig"](vocab_size=30, block_size=12, n_layer=2, n_head=2,
                                                                 n_embd=16, pad_id=0)).double()
    source = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    pieces = check_against_torch_nn(model, source, torch.tensor([[1, 2, 3], [4, 5, 6]]))
    for piece in ("encode's embeddings", "decode's embeddings", "MultiHeadAttention as self-attention",
                  "MultiHeadAttention as causal self-attention", "MultiHeadAttention as cross-attention", "MLP",
                  "EncoderBlock", "DecoderBlock", "decode's masks", "the head", "the whole model"):
        assert any(name.startswith(piece) for name in pieces), piece


def test_scripted_model_from_its_source_alone():
    """What the grader sends into the worker: the stand-in's source, run in an
    empty namespace. Its next tokens follow the rule its docstring states, and
    the check's greedy reference follows them, padding ended rows with EOS."""
    table, eos, start = [5, 2, 7, 1, 9, 3, 2], 1, 4
    namespace = {}
    exec(inspect.getsource(ref.scripted_seq2seq), namespace)
    model = namespace["scripted_seq2seq"](table, 12, 0)
    source = torch.tensor([[3, 4, 0], [1, 1, 1], [6, 0, 0]])
    decoded = checks._greedy_reference(model, source, 6, start, eos)
    assert model.encode_calls() == 1
    expected = []
    for row in source.tolist():
        prefix = [start]
        while len(prefix) <= 6 and prefix[-1] != eos:
            key = sum(row) + sum((t + 1) * token for t, token in enumerate(prefix))
            prefix.append(table[key % len(table)])
        expected.append(prefix[1:])
    width = max(len(row) for row in expected)
    assert decoded.tolist() == [row + [eos] * (width - len(row)) for row in expected]


# ------------------------------------------------ the notebook's plumbing (lmcourse.seq2seq)
def test_spelling_pairs_keep_the_held_out_plays_apart():
    from lmcourse.data import load_plays, play_pairs
    from lmcourse.seq2seq import held_out_plays, load_folio_pairs, pretraining_texts

    assert held_out_plays("test") == ["hamlet", "julius_caesar", "macbeth"]
    assert held_out_plays("val") == ["twelfth_night"]
    assert not set(held_out_plays("train")) & {"hamlet", "julius_caesar", "macbeth", "twelfth_night"}
    assert all(len(load_folio_pairs(split)) > 1000 for split in ("train", "val", "test"))
    texts = pretraining_texts()
    for play in held_out_plays("test") + held_out_plays("val"):
        assert load_plays("modern")[play] not in texts and load_plays("folio")[play_pairs()[play]] not in texts
    with pytest.raises(ValueError):
        load_folio_pairs("dev")


def test_character_error_rate_and_padding_on_known_answers():
    from lmcourse.seq2seq import character_error_rate, edit_distance, exact_match, pad_sequences

    assert edit_distance("kitten", "sitting") == edit_distance("sitting", "kitten") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("haue", "have") == 1
    assert character_error_rate(["haue", "I"], ["have", "I"]) == 1 / 5
    assert exact_match(["haue", "I"], ["have", "I"]) == 0.5
    assert pad_sequences([[5, 6, 7], [8]], 0).tolist() == [[5, 6, 7], [8, 0, 0]]
