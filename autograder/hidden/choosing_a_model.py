"""Hidden checks of notebook 05 (choosing a model).

Each exercise is compared with a trusted reference (autograder/reference/choosing_a_model.py):
mean_pool with sentence-transformers' mean pooling, nearest_neighbours with torch's cosine
similarity and a stable sort, count_bert_parameters with transformers' own BertModel count
(on the meta device, so no size is too big), training_flops with 6 N D. Beside random
inputs, the boundary cases the notebook states: a row with no real token (zeros), masks
given as bools or as 0/1 numbers, k equal to the number of keys, exact ties (the lower
index first), zero vectors (similarity 0), models too big to build, and configs whose
MLP is not 4x wide or whose token-type vocabulary is not 2.
"""
import math

import torch

from ..expect import Failed, expect, expect_close, expect_tensor
from ..reference import choosing_a_model as ref
from ..registry import exercise
from ..seeds import torch_generator
from ..session import StudentRaised

NOTEBOOK = "05_choosing_a_model"


# ------------------------------------------------------------------ mean_pool
def _mean_pool(student, hidden, mask, what):
    got, after = student.call_with_arguments("mean_pool", hidden, mask)
    expect(torch.equal(after[0], hidden) and torch.equal(after[1], mask),
           f"mean_pool {what} changed its hidden_states or attention_mask in place; return a new tensor")
    expect_tensor(got, f"mean_pool {what}", shape=(hidden.size(0), hidden.size(2)))
    expect(got.is_floating_point(), f"mean_pool {what} returned dtype {got.dtype}, expected floats")
    expect(not bool(got.isnan().any()), f"mean_pool {what} returned NaN")
    return got


@exercise(NOTEBOOK, "mean_pool", points=2)
def check_mean_pool(student, rng):
    gen = torch_generator(rng)
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    expect_close(_mean_pool(student, hidden, mask, "on the docstring's example"), torch.tensor([[2.0, 3.0]]),
                 "mean_pool on the docstring's example (the padding vector [100, 100] must not count)")

    b, t, h = rng.randrange(4, 7), rng.randrange(6, 14), rng.randrange(3, 12)
    hidden = torch.randn(b, t, h, generator=gen)
    lengths = torch.tensor([t, 1] + [rng.randrange(1, t + 1) for _ in range(b - 2)])
    right_padded = torch.arange(t) < lengths[:, None]
    hidden = torch.where(right_padded[..., None], hidden, 1000 * torch.rand(b, t, h, generator=gen))  # loud padding
    shape = f"hidden_states {tuple(hidden.shape)} with {lengths.tolist()} real tokens per row (then padding)"
    for mask, kind in ((right_padded, "a bool mask"), (right_padded.long(), "a 0/1 long mask, as tokenizers give"),
                       (right_padded.float(), "a 0./1. float mask")):
        expect_close(_mean_pool(student, hidden, mask, f"on {shape}, {kind}"), ref.mean_pool(hidden, mask),
                     f"mean_pool on {shape}, {kind} (the mean over real tokens only)", atol=1e-4, rtol=1e-5)

    scattered = torch.rand(b, t, generator=gen) < 0.5
    scattered[:, rng.randrange(t)] = True
    expect_close(_mean_pool(student, hidden, scattered, "with real tokens scattered through each row"),
                 ref.mean_pool(hidden, scattered),
                 "mean_pool with a mask whose real tokens are scattered (not only at the start of each row)",
                 atol=1e-4, rtol=1e-5)

    empty = right_padded.clone()
    empty[rng.randrange(b)] = False
    got = _mean_pool(student, hidden, empty, "on a batch with one row of padding only (expected zeros for it, "
                                             "as sentence-transformers gives: not NaN)")
    expect_close(got, ref.mean_pool(hidden, empty),
                 "mean_pool on a batch with one row of padding only (that row must be zeros, as "
                 "sentence-transformers' count clamped at 1e-9 gives; the others their means)", atol=1e-4, rtol=1e-5)

    one = torch.randn(1, 1, h, generator=gen)
    expect_close(_mean_pool(student, one, torch.ones(1, 1, dtype=torch.bool), "on one sentence of one token"),
                 one[:, 0], "mean_pool on one sentence of one token (its own vector)")


# --------------------------------------------------------- nearest_neighbours
def _neighbours(student, queries, keys, k, what):
    got, after = student.call_with_arguments("nearest_neighbours", queries, keys, k)
    expect(torch.equal(after[0], queries) and torch.equal(after[1], keys),
           f"nearest_neighbours {what} changed its queries or keys in place")
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"nearest_neighbours {what} should return a pair (scores, indices), not {type(got).__name__}")
    scores, indices = got
    expect_tensor(scores, f"nearest_neighbours {what}: scores", shape=(queries.size(0), k))
    expect_tensor(indices, f"nearest_neighbours {what}: indices", shape=(queries.size(0), k), dtype=torch.long)
    expect(not bool(scores.isnan().any()),
           f"nearest_neighbours {what} returned NaN scores: a zero vector has similarity 0 with everything "
           f"(torch.nn.functional.normalize leaves it at zero)")
    return scores, indices


def _expect_ranking(student, queries, keys, k, what, exact_ties):
    """Scores equal to torch's cosine similarities, in descending order, and the indices of
    the reference's stable sort: wherever two scores tie (exactly, or within rounding when
    `exact_ties` is False), the lower index first."""
    scores, indices = _neighbours(student, queries, keys, k, what)
    expected_scores, expected_indices = ref.nearest_neighbours(queries, keys, k)
    similarities = ref.cosine_similarities(queries, keys)
    expect(bool(((indices >= 0) & (indices < keys.size(0))).all()),
           f"nearest_neighbours {what}: an index is outside [0, {keys.size(0)})")
    expect(all(len(set(row)) == k for row in indices.tolist()),
           f"nearest_neighbours {what}: a key appears twice in one query's neighbours")
    expect_close(scores, similarities.gather(-1, indices),
                 f"nearest_neighbours {what}: the scores are not the cosine similarities of the keys at the "
                 f"returned indices", atol=1e-5, rtol=1e-5)
    expect_close(scores, expected_scores, f"nearest_neighbours {what}: the k best cosine similarities, "
                                          f"highest first", atol=1e-5, rtol=1e-5)
    if exact_ties:
        clear = torch.ones_like(indices, dtype=torch.bool)
    else:  # where rounding could decide a near-tie, any order of the near-equal keys is accepted
        ranked = torch.sort(similarities, dim=-1, descending=True, stable=True).values
        gaps = (ranked[:, 1:] - ranked[:, :-1]).abs()
        near = torch.cat([gaps, torch.full((len(gaps), 1), 1.0)], 1) < 1e-5
        near[:, 1:] |= gaps < 1e-5
        clear = ~near[:, :k]
    wrong = (indices != expected_indices) & clear
    if bool(wrong.any()):
        q, position = (int(i) for i in wrong.nonzero()[0])
        got_key, expected_key = int(indices[q, position]), int(expected_indices[q, position])
        tie = math.isclose(similarities[q, got_key].item(), similarities[q, expected_key].item(), abs_tol=1e-6)
        raise Failed(f"nearest_neighbours {what}: neighbour {position} of query {q} is key {got_key}, expected "
                     f"key {expected_key}" + (" (the two have the same similarity: ties go to the lower index)"
                                             if tie else ""))


def _exact_vectors(rng, n, width):
    """Vectors whose cosine similarities are exact in float32: entries 0 and +-1 with 1 or 4
    of them nonzero (norm 1 or 2), times a power of two."""
    vectors = []
    for _ in range(n):
        row = [0.0] * width
        for position in rng.sample(range(width), rng.choice((1, 4))):
            row[position] = rng.choice((-1.0, 1.0))
        scale = rng.choice((0.5, 1.0, 2.0, 4.0))
        vectors.append([scale * value for value in row])
    return torch.tensor(vectors)


@exercise(NOTEBOOK, "nearest_neighbours", points=2)
def check_nearest_neighbours(student, rng):
    gen = torch_generator(rng)
    queries = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [-1.0, 0.0]])
    _expect_ranking(student, queries, keys, 3, "on the docstring's example", exact_ties=False)

    q, n, h = rng.randrange(2, 6), rng.randrange(8, 40), rng.randrange(3, 17)
    queries = torch.randn(q, h, generator=gen)
    keys = torch.randn(n, h, generator=gen) * torch.exp(4 * torch.rand(n, 1, generator=gen) - 2)  # norms 0.1-7
    k = rng.randrange(2, n)
    _expect_ranking(student, queries, keys, k, f"on {q} queries and {n} keys of width {h} (keys of very "
                                               f"different lengths), k={k}", exact_ties=False)
    _expect_ranking(student, queries, keys, n, f"with k = the number of keys ({n}): every key, ranked",
                    exact_ties=False)
    _expect_ranking(student, queries, keys, 1, "with k=1", exact_ties=False)

    width = 8
    base = _exact_vectors(rng, 6, width)
    copies = torch.cat([base, base[torch.randperm(6, generator=gen)] * 2.0, base[:3]])   # each key 2 or 3 times
    copies = copies[torch.randperm(len(copies), generator=gen)]
    _expect_ranking(student, _exact_vectors(rng, 4, width), copies, len(copies),
                    "on keys that come in copies (and scaled copies) of each other: their similarities tie "
                    "exactly", exact_ties=True)

    with_zero = torch.cat([_exact_vectors(rng, 5, width), torch.zeros(1, width), _exact_vectors(rng, 3, width)])
    queries = torch.cat([_exact_vectors(rng, 2, width), torch.zeros(1, width)])
    _expect_ranking(student, queries, with_zero, 6,
                    "with a key of zeros and a query of zeros (similarity 0 with everything, ties to the "
                    "lower index)", exact_ties=True)


# ----------------------------------------------------- count_bert_parameters
MINILM_SIZES = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2)
# Too big to build in a grader's memory (30.8 billion parameters): counted from the sizes only.
HUGE_SIZES = dict(vocab_size=250_000, hidden_size=8192, num_hidden_layers=48, num_attention_heads=64,
                  intermediate_size=20_000, max_position_embeddings=4096, type_vocab_size=3)


def _count(student, sizes, what):
    """count_bert_parameters on a BertConfig(**sizes) built in the notebook's process; `what`
    describes the config for the message."""
    try:
        config = student.call("BertConfig", **sizes)
    except StudentRaised as raised:
        raise Failed(f"the check builds a transformers BertConfig in your notebook, which raised "
                     f"{raised.type_name}: {raised.message}; keep `from transformers import BertConfig` in the "
                     f"imports cell") from None
    got = student.call("count_bert_parameters", config)
    what = f"count_bert_parameters for a BertConfig with {what}"
    expect(type(got) is int, f"{what} returned {type(got).__name__} {got!r:.60}, expected an int")
    expected = ref.bert_parameters(sizes)
    if got != expected:
        raise Failed(f"{what} returned {got:,}, expected {expected:,} (BertModel's num_parameters(), the "
                     f"pooler included): {got - expected:+,}")


def _describe(sizes):
    return ", ".join(f"{name}={value}" for name, value in sizes.items())


@exercise(NOTEBOOK, "count_bert_parameters", points=2)
def check_count_bert_parameters(student, rng):
    _count(student, MINILM_SIZES, "all-MiniLM-L6-v2's sizes")
    _count(student, {}, "the default sizes (BERT-base's)")
    for type_vocab_size in (1, rng.randrange(3, 6)):
        heads, head_width = rng.randrange(1, 5), rng.choice((2, 4, 8))
        hidden = heads * head_width
        sizes = dict(vocab_size=rng.randrange(20, 3000), hidden_size=hidden, num_hidden_layers=rng.randrange(1, 5),
                     num_attention_heads=heads, intermediate_size=rng.randrange(3, 5 * hidden) | 1,  # odd: never 4x
                     max_position_embeddings=rng.randrange(8, 600), type_vocab_size=type_vocab_size)
        _count(student, sizes, _describe(sizes))
    tiny = dict(vocab_size=rng.randrange(5, 12), hidden_size=4, num_hidden_layers=0, num_attention_heads=1,
                intermediate_size=3, max_position_embeddings=rng.randrange(2, 6), type_vocab_size=1)
    _count(student, tiny, _describe(tiny) + " (no layers: embeddings and pooler only)")
    _count(student, HUGE_SIZES, _describe(HUGE_SIZES) + " (too big to build: count from the sizes)")


# ----------------------------------------------------------- training_flops
@exercise(NOTEBOOK, "training_flops", points=1)
def check_training_flops(student, rng):
    cases = [(22_713_216, 1_000_000), (rng.randrange(10**5, 10**7), rng.randrange(10**6, 10**9)),
             (rng.randrange(10**9, 10**12), rng.randrange(10**11, 10**13)), (rng.randrange(1, 1000), 0),
             (1.5e9, 2.5e10)]
    for n_params, n_tokens in cases:
        got = student.call("training_flops", n_params, n_tokens)
        what = f"training_flops({n_params!r}, {n_tokens!r})"
        expect(type(got) in (int, float), f"{what} returned {type(got).__name__}, expected a number")
        expected = 6.0 * n_params * n_tokens
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9):
            ratio = f" ({got / (n_params * n_tokens):.3g} per parameter and token)" if n_tokens else ""
            raise Failed(f"{what} returned {float(got):.6g}{ratio}, expected {expected:.6g}: a training step "
                         f"costs the forward pass and the backward pass for every parameter and token")
