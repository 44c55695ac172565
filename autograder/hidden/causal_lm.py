"""Hidden checks for notebook 03 (causal language modelling, decoder-only GPT).

Exact answers and edge cases first (T = 1, ignore_index), then agreement with
transformers in this trusted process: TinyGPT's logits against
`GPT2LMHeadModel` with the same random float64 weights (built by
lmcourse.hf_models, as the notebook's visible check does), `filter_logits`
against `TopKLogitsWarper` then `TopPLogitsWarper`, greedy `generate` against
`GPT2LMHeadModel.generate`, and sampled `generate` against the distribution
those warpers give, with statistical bounds. Inputs come from the grader's
seeded `rng`. Inputs whose answer would hang on float rounding (a top-p cut
within a hair of a cumulative probability, a cut through tied logits) are
redrawn, so every correct implementation passes whatever order it sums in.
"""
import math

import torch
import torch.nn.functional as F

from autograder.expect import Failed, expect, expect_close, expect_equal, expect_tensor
from autograder.reference import causal_lm as ref
from autograder.registry import exercise
from autograder.seeds import torch_generator
from lmcourse.hf_models import build_hf_gpt2, tiny_gpt_state_from_hf

NOTEBOOK = "03_causal_lm"


# --------------------------------------------------------- GPT-2 reference
def gpt2_logits(model, idx):
    with torch.no_grad():
        return model(idx).logits


def random_sizes(rng, block_size):
    return dict(vocab_size=rng.randint(40, 80), block_size=block_size, n_layer=2,
                n_head=rng.choice([2, 4]), n_embd=rng.choice([16, 32]))


# ---------------------------------------------------------------- warpers
def warp(logits, top_k=None, top_p=None):
    """transformers' own TopKLogitsWarper then TopPLogitsWarper, on (B, V) logits."""
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper
    no_ids = torch.zeros(logits.size(0), 0, dtype=torch.long)
    if top_k is not None:
        logits = TopKLogitsWarper(top_k)(no_ids, logits)
    if top_p is not None:
        logits = TopPLogitsWarper(top_p)(no_ids, logits)
    return logits


def top_p_is_clear(logits, top_p, margin):
    """True when no token's mass above it (in the sorted order) lies within `margin` of
    top_p, and no cut goes between tied logits: then every correct way of summing the
    probabilities keeps the same tokens."""
    descending, _ = torch.sort(logits.double(), descending=True)
    probabilities = descending.softmax(dim=-1)
    mass_above = probabilities.cumsum(dim=-1) - probabilities      # of the tokens ranked before
    finite = torch.isfinite(descending)
    if bool((finite & ((mass_above - top_p).abs() < margin)).any()):
        return False
    kept = mass_above < top_p
    kept[..., 0] = True
    cut_through_tie = kept[..., :-1] & ~kept[..., 1:] & (descending[..., :-1] == descending[..., 1:])
    return not bool(cut_through_tie.any())


def clear_top_p(rng, logits, low, high, margin=1e-4):
    for _ in range(1000):
        top_p = rng.uniform(low, high)
        if top_p_is_clear(logits, top_p, margin):
            return top_p
    raise RuntimeError("no top_p clear of the cumulative probabilities")


# ------------------------------------------------------------- causal_mask
@exercise(NOTEBOOK, "causal_mask", points=1)
def check_causal_mask(student, rng):
    for T in (1, 2, 4, rng.randint(5, 40)):
        what = f"causal_mask({T})"
        got = student.call("causal_mask", T)
        expect_tensor(got, what, shape=(T, T), dtype=torch.bool)
        expected = ref.causal_mask(T)
        wrong = (got != expected).nonzero().tolist()
        if wrong:
            i, j = wrong[0]
            seen = "may" if bool(got[i, j]) else "may not"
            reason = "a future position" if j > i else ("itself" if i == j else "a past position")
            raise Failed(f"{what}: position {i} {seen} attend to position {j}, {reason} "
                         f"(row i is the query, column j the key)")


# ------------------------------------------------------ next_token_targets
@exercise(NOTEBOOK, "next_token_targets", points=1)
def check_next_token_targets(student, rng):
    generator = torch_generator(rng)
    known = torch.tensor([[5, 6, 7, 8]])
    shapes = [(2, 1), (1, 2), (3, 7), (rng.randint(1, 5), rng.randint(8, 40))]
    for ids in [known] + [torch.randint(0, 1000, shape, generator=generator) for shape in shapes]:
        what = f"next_token_targets(ids of shape {tuple(ids.shape)})"
        if ids is known:
            what = "next_token_targets(tensor([[5, 6, 7, 8]]))"
        got = student.call("next_token_targets", ids)
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"{what} should return a pair (inputs, targets)")
        inputs, targets = got
        expect_equal(inputs, ids[:, :-1], f"{what}: inputs")
        expect_equal(targets, ids[:, 1:], f"{what}: targets")


# ----------------------------------------------------------------- clm_loss
@exercise(NOTEBOOK, "clm_loss", points=1)
def check_clm_loss(student, rng):
    generator = torch_generator(rng)

    def case(B, T, V, ignored_fraction, what):
        logits = 3 * torch.randn(B, T, V, generator=generator)
        targets = torch.randint(0, V, (B, T), generator=generator)
        ignored = torch.rand(B, T, generator=generator) < ignored_fraction
        ignored.view(-1)[0] = False                          # at least one position counts
        targets[ignored] = -100
        logits[ignored] += 50 * torch.randn(int(ignored.sum()), V, generator=generator)  # must not count
        expected = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
        got = student.call("clm_loss", logits, targets)
        expect_tensor(got, f"clm_loss on {what}", shape=())
        expect_close(got, expected, f"clm_loss on {what}", atol=1e-5, rtol=1e-5)

    uniform = torch.zeros(1, 3, 8)
    expect_close(student.call("clm_loss", uniform, torch.tensor([[1, 2, 3]])), torch.tensor(math.log(8)),
                 "clm_loss of all-zero logits over 8 tokens (should be ln 8)")
    case(2, 7, 11, 0.0, "logits (2, 7, 11)")
    case(1, 1, 5, 0.0, "a single position (T = 1)")
    case(3, 9, 13, 0.4, "targets where some positions are -100 (ignored)")
    case(rng.randint(2, 4), rng.randint(10, 30), rng.randint(50, 200), 0.2, "a random batch with ignored positions")


# ----------------------------------------------------------------- TinyGPT
@exercise(NOTEBOOK, "TinyGPT", points=3, uses=("attention", "causal_mask"))
def check_tiny_gpt(student, rng):
    generator = torch_generator(rng)
    sizes = random_sizes(rng, block_size=rng.choice([12, 16, 24]))
    gpt2 = build_hf_gpt2(**sizes, generator=generator)
    model = student.new("TinyGPT", student.call("GPTConfig", **sizes))
    model.method("double")
    model.method("eval")
    model.load_state_dict(tiny_gpt_state_from_hf(gpt2))

    V, T = sizes["vocab_size"], sizes["block_size"]
    for shape in [(3, T), (2, 5), (1, 1)]:
        idx = torch.randint(0, V, shape, generator=generator)
        what = f"TinyGPT's logits for a batch of shape {shape} (against GPT-2 with the same weights)"
        expect_close(model(idx), gpt2_logits(gpt2, idx), what, atol=1e-5, rtol=1e-5)

    idx = torch.randint(0, V, (2, T), generator=generator)
    t = rng.randrange(T - 1)
    future_changed = idx.clone()
    future_changed[:, t + 1:] = (idx[:, t + 1:] + 1 + torch.randint(0, V - 1, (2, T - t - 1), generator=generator)) % V
    before, after = model(idx), model(future_changed)
    expect_tensor(before, "TinyGPT's logits", shape=(2, T, V))
    leak = (before[:, :t + 1] - after[:, :t + 1]).abs().max().item()
    expect(leak < 1e-9, f"changing the tokens after position {t} changed the logits at positions 0..{t} "
                        f"by up to {leak:.3g}: information flows from the future")

    new_embeddings = 0.5 * torch.randn(V, sizes["n_embd"], generator=generator, dtype=torch.float64)
    model.method("load_state_dict", {"wte.weight": new_embeddings}, strict=False)
    with torch.no_grad():
        gpt2.transformer.wte.weight.copy_(new_embeddings)          # tied: the head changes too
    idx = torch.randint(0, V, (2, T), generator=generator)
    expect_close(model(idx), gpt2_logits(gpt2, idx),
                 "TinyGPT's logits after loading new token embeddings only (is the output head "
                 "tied to the token embedding?)", atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------ filter_logits
@exercise(NOTEBOOK, "filter_logits", points=2)
def check_filter_logits(student, rng):
    generator = torch_generator(rng)

    def compare(logits, top_k, top_p, what):
        expected = warp(logits, top_k, top_p)
        got = student.call("filter_logits", logits.clone(), top_k=top_k, top_p=top_p)
        call = f"filter_logits({what}, top_k={top_k}, top_p={top_p:.4g})" if top_p is not None \
            else f"filter_logits({what}, top_k={top_k}, top_p=None)"
        expect_tensor(got, call, shape=logits.shape, dtype=logits.dtype)
        kept, expected_kept = torch.isfinite(got), torch.isfinite(expected)
        for row in range(logits.size(0)):
            n_got, n_expected = int(kept[row].sum()), int(expected_kept[row].sum())
            expect(n_got == n_expected, f"{call} keeps {n_got} tokens in row {row}, expected {n_expected}")
            expect(torch.equal(kept[row], expected_kept[row]), f"{call} keeps other tokens than expected in row {row}")
        expect(bool((got[~kept] == float("-inf")).all()), f"{call}: removed entries should be -inf")
        expect(torch.equal(got[kept], logits[kept]), f"{call} changed the logits it kept")

    V = rng.randint(30, 70)
    logits = 2 * torch.randn(4, V, generator=generator)
    compare(logits, None, None, "logits")
    for top_k in (1, rng.randint(2, V - 1), V, V + 7):
        compare(logits, top_k, None, "logits")

    ties = torch.randint(0, 6, (4, V), generator=generator).float()
    for top_k in (1, rng.randint(2, V - 1)):
        compare(ties, top_k, None, "tied logits")

    moderate = torch.randn(4, V, generator=generator)      # no probability below 1e-5
    compare(moderate, None, 1.0, "logits")
    compare(logits, None, 0.0, "logits")                   # nothing reaches p: the top token stays
    compare(logits, None, 1e-9, "logits")
    for low, high in [(0.05, 0.5), (0.5, 0.95), (0.9, 0.999)]:
        compare(logits, None, clear_top_p(rng, logits, low, high), "logits")
    one_row = ties[:1]                    # rows' tie groups rarely leave a common clear top_p
    compare(one_row, None, clear_top_p(rng, one_row, 0.05, 0.95), "tied logits")

    for _ in range(3):
        top_k = rng.randint(2, V // 2)
        compare(logits, top_k, clear_top_p(rng, warp(logits, top_k), 0.3, 0.95), "logits")
    check_top_p_boundaries(student, rng)


def check_top_p_boundaries(student, rng):
    """Top-p where the mass of the likelier tokens lands exactly on p, and a hair on
    either side. Four equal logits (probabilities of exactly 1/4, whatever the dtype or
    summing order) among -inf ones: the likelier tokens' mass is 0, 1/4, 1/2 or 3/4
    exactly, and a token stays when that mass is below p (transformers removes the
    tokens whose ascending cumulative probability is at most 1 - p). Which of the tied
    tokens stay is not defined, only how many."""
    V = rng.randint(6, 12)
    quarters = torch.full((1, V), float("-inf"))
    equal = rng.sample(range(V), 4)
    quarters[0, equal] = rng.uniform(-3.0, 3.0)
    hair = 1e-4
    for top_p in (0.25, 0.5, 0.75, 1.0, 0.5 - hair, 0.5 + hair, 0.75 - hair, 0.75 + hair):
        call = f"filter_logits(four equal logits among -inf, top_p={top_p:g})"
        expected = int(torch.isfinite(warp(quarters, None, top_p)).sum())
        got = student.call("filter_logits", quarters.clone(), top_p=top_p)
        expect_tensor(got, call, shape=quarters.shape, dtype=quarters.dtype)
        kept = torch.isfinite(got[0])
        expect(int(kept.sum()) == expected,
               f"{call} keeps {int(kept.sum())} tokens, expected {expected} (each has probability 1/4: "
               f"a token stays only while the likelier ones add up to less than p)")
        expect(set(kept.nonzero().flatten().tolist()) <= set(equal), f"{call} kept a token whose logit is -inf")
        expect(torch.equal(got[0, kept], quarters[0, kept]), f"{call} changed the logits it kept")


# ----------------------------------------------------------------- generate
def greedy_reference(gpt2, idx, max_new_tokens, block_size):
    """Greedy decoding that feeds GPT-2 at most the last block_size tokens."""
    for _ in range(max_new_tokens):
        next_id = gpt2_logits(gpt2, idx[:, -block_size:])[:, -1].argmax(dim=-1, keepdim=True)
        idx = torch.cat([idx, next_id], dim=1)
    return idx


def expect_distribution(tokens, probabilities, what):
    """`tokens` (N draws) fit `probabilities`: no draw of an impossible token, and each
    token's count within 5 standard deviations (+2) of N p."""
    n = tokens.numel()
    counts = torch.bincount(tokens, minlength=probabilities.numel()).double()
    impossible = (probabilities == 0) & (counts > 0)
    if bool(impossible.any()):
        token = int(impossible.nonzero()[0])
        raise Failed(f"{what} drew token {token} {int(counts[token])} times out of {n}, "
                     f"but its probability is 0 (filtered out)")
    expected = n * probabilities
    bound = 5 * (expected * (1 - probabilities)).sqrt() + 2
    off = (counts - expected).abs() > bound
    if bool(off.any()):
        token = int(((counts - expected).abs() - bound).argmax())
        raise Failed(f"{what} drew token {token} {int(counts[token])} times out of {n}, expected about "
                     f"{expected[token]:.0f} (probability {probabilities[token]:.3f})")


@exercise(NOTEBOOK, "generate", points=2, uses=("filter_logits", "reference_tiny_gpt"))
def check_generate(student, rng):
    generator = torch_generator(rng)
    sizes = random_sizes(rng, block_size=16)
    V, block_size = sizes["vocab_size"], sizes["block_size"]
    gpt2 = build_hf_gpt2(**sizes, generator=generator)
    model = student.call("reference_tiny_gpt", **sizes)
    model.method("double")
    model.method("eval")
    model.load_state_dict(tiny_gpt_state_from_hf(gpt2))

    def call(idx, max_new_tokens, **options):
        got = student.call("generate", model, idx, max_new_tokens, **options)
        shown = ", ".join(f"{k}={v if k != 'generator' else 'a generator'}" for k, v in options.items())
        what = f"generate(model, prompt of shape {tuple(idx.shape)}, {max_new_tokens}{', ' + shown if shown else ''})"
        expect_tensor(got, what, shape=(idx.size(0), idx.size(1) + max_new_tokens))
        expect_equal(got[:, :idx.size(1)], idx, f"{what}: the prompt at the start")
        return got, what

    prompt = torch.randint(0, V, (2, 4), generator=generator)
    got, what = call(prompt, block_size - 4, greedy=True)
    with torch.no_grad():
        expected = gpt2.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=block_size - 4,
                                 do_sample=False, pad_token_id=0)
    expect_equal(got, expected, what + " (against transformers' greedy generate)")

    long_prompt = torch.randint(0, V, (1, 5), generator=generator)
    got, what = call(long_prompt, block_size + 6, greedy=True)
    expect_equal(got, greedy_reference(gpt2, long_prompt, block_size + 6, block_size),
                 what + " (past block_size: feed the model the last block_size tokens)")
    got, what = call(prompt, 0)
    expect_equal(got, prompt, what)

    seed = rng.getrandbits(31)
    batch = torch.randint(0, V, (8, 3), generator=generator)
    first, what = call(batch, 10, generator=student.generator(seed))
    again, _ = call(batch, 10, generator=student.generator(seed))
    expect_equal(again, first, what + " twice with generators of the same seed")
    other, _ = call(batch, 10, generator=student.generator(seed + 1))
    expect(not torch.equal(other, first), f"{what}: generators of different seeds gave the same tokens")
    expect(bool(((first >= 0) & (first < V)).all()), f"{what} returned ids outside the vocabulary")
    top1, what = call(batch, 10, top_k=1, generator=student.generator(seed))
    expect_equal(top1, greedy_reference(gpt2, batch, 10, block_size), what + " (top_k=1 is greedy)")

    draws = 6000
    one_prompt = torch.randint(0, V, (1, 3), generator=generator)
    logits = gpt2_logits(gpt2, one_prompt)[:, -1]                          # (1, V), float64
    settings = [dict(temperature=1.0), dict(temperature=0.6), dict(temperature=1.8),
                dict(temperature=1.0, top_k=rng.randint(3, 8))]
    top_p = clear_top_p(rng, logits, 0.6, 0.9, margin=1e-3)
    settings.append(dict(temperature=1.0, top_p=top_p))
    top_k = rng.randint(10, 20)
    settings.append(dict(temperature=1.4, top_k=top_k, top_p=clear_top_p(rng, warp(logits / 1.4, top_k), 0.5, 0.9, margin=1e-3)))
    for options in settings:
        got, what = call(one_prompt.expand(draws, -1).contiguous(), 1, generator=student.generator(rng.getrandbits(31)),
                         **options)
        filtered = warp(logits / options["temperature"], options.get("top_k"), options.get("top_p"))
        expect_distribution(got[:, -1], filtered.softmax(dim=-1)[0], what + f" over {draws} draws")
