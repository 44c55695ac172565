"""Hidden checks of notebook 02 (masked language modelling).

mask_tokens is random, so it is checked by what must hold on every draw
(exact invariants) and by rates over many draws, with bounds five standard
deviations wide: any order of random draws that follows BERT's rule passes,
and a correct solution fails with probability below one in a million.
"""
import math

import torch
import torch.nn.functional as F

from lmcourse.hf_models import build_hf_bert, tinybert_state_from_hf

from ..expect import Failed, expect, expect_close, expect_tensor
from ..registry import exercise
from ..seeds import torch_generator

NOTEBOOK = "02_masked_lm"
Z = 5.0  # standard deviations allowed for a rate
Z_PER_COLUMN = 6.0  # ~100 columns are tested at once: wider, so no column fails by chance


# --------------------------------------------------------------- mask_tokens
def _mask(student, ids, special, mask_id, vocab_size, p, seed):
    what = (f"mask_tokens(input_ids of shape {tuple(ids.shape)}, mask_token_id={mask_id}, "
            f"vocab_size={vocab_size}, mlm_probability={p}, generator=<seeded>)")
    got, after = student.call_with_arguments("mask_tokens", ids, special, mask_id, vocab_size, p,
                                             generator=student.generator(seed))
    expect(torch.equal(after[0], ids) and torch.equal(after[1], special),
           f"{what} changed its input_ids or special_tokens_mask in place; return new tensors "
           f"(input_ids.clone()), since the caller may use input_ids again")
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"{what} should return a pair (inputs, labels), not {type(got).__name__}")
    inputs, labels = got
    for name, tensor in (("inputs", inputs), ("labels", labels)):
        expect_tensor(tensor, f"{what}: {name}", shape=ids.shape, dtype=torch.long)
    _expect_invariants(ids, special, inputs, labels, mask_id, vocab_size, what)
    return inputs, labels


def _expect_invariants(ids, special, inputs, labels, mask_id, vocab_size, what):
    chosen = labels != -100
    expect(not bool((chosen & special).any()),
           f"{what}: a special token was chosen (its label is not -100); special tokens are never chosen")
    expect(torch.equal(inputs[special], ids[special]), f"{what}: a special token was changed in the inputs")
    expect(torch.equal(inputs[~chosen], ids[~chosen]),
           f"{what}: a position whose label is -100 was changed; only chosen positions may change")
    expect(torch.equal(labels[chosen], ids[chosen]),
           f"{what}: a label differs from the original id; chosen positions keep the original id as label")
    expect(bool(((inputs >= 0) & (inputs < vocab_size)).all()), f"{what}: an input id is outside [0, vocab_size)")


def _expect_rate(hits, trials, p, what):
    """`hits` successes in `trials` Bernoulli(p) trials, within Z standard deviations."""
    rate = hits / trials
    bound = Z * math.sqrt(p * (1 - p) / trials) + 1e-12
    if abs(rate - p) > bound:
        raise Failed(f"{what}: {rate:.4f} over {trials} cases, expected {p:.4f} (allowed +-{bound:.4f})")


def _chi_square_tail_z(statistic, dof):
    """Wilson-Hilferty: the chi-square statistic as an approximate standard normal."""
    k = dof
    return ((statistic / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))


def _draw_ids(gen, shape, vocab_size, mask_id, special_rate):
    """Ids that are never the mask id; [CLS]-like first and [SEP]-like last
    columns plus a random scattering of special positions."""
    ids = torch.randint(vocab_size - 1, shape, generator=gen)
    ids = ids + (ids >= mask_id).long()                              # skip mask_id
    special = torch.rand(shape, generator=gen) < special_rate
    special[:, 0] = special[:, -1] = True
    return ids, special


@exercise(NOTEBOOK, "mask_tokens", points=2)
def check_mask_tokens(student, rng):
    gen = torch_generator(rng)
    vocab_size = rng.randrange(16, 32)  # small, so every random id is drawn often
    mask_id = rng.randrange(vocab_size)

    # Edge cases.
    ids, special = _draw_ids(gen, (3, 10), vocab_size, mask_id, 0.2)
    all_special = torch.ones_like(special)
    inputs, labels = _mask(student, ids, all_special, mask_id, vocab_size, 0.5, rng.getrandbits(31))
    expect(bool((labels == -100).all()), "with every position special, every label must be -100")
    inputs, labels = _mask(student, ids, special, mask_id, vocab_size, 0.0, rng.getrandbits(31))
    expect(bool((labels == -100).all()) and torch.equal(inputs, ids),
           "with mlm_probability=0, nothing may be chosen: inputs unchanged, labels all -100")
    inputs, labels = _mask(student, ids, special, mask_id, vocab_size, 1.0, rng.getrandbits(31))
    expect(bool((labels[~special] != -100).all()),
           "with mlm_probability=1, every non-special position must be chosen")
    one = torch.tensor([[ids[0, 1].item()]])
    inputs, labels = _mask(student, one, torch.zeros_like(one, dtype=torch.bool), mask_id,
                           vocab_size, 1.0, rng.getrandbits(31))
    expect(labels.item() == one.item(), "a single non-special token with mlm_probability=1 must be chosen")

    # Determinism under a generator.
    ids, special = _draw_ids(gen, (8, 64), vocab_size, mask_id, 0.1)
    seed = rng.getrandbits(31)
    first = _mask(student, ids, special, mask_id, vocab_size, 0.15, seed)
    again = _mask(student, ids, special, mask_id, vocab_size, 0.15, seed)
    expect(all(torch.equal(a, b) for a, b in zip(first, again)),
           "two calls with generators seeded alike gave different results: draw every "
           "random number from `generator`")
    other = _mask(student, ids, special, mask_id, vocab_size, 0.15, seed + 1)
    expect(not all(torch.equal(a, b) for a, b in zip(first, other)),
           "generators seeded differently gave the same result")

    # Rates over many draws: 15% chosen, independently at every position.
    p = rng.choice((0.15, 0.15, 0.2, 0.3))
    draws = [_draw_ids(gen, (64, 96), vocab_size, mask_id, 0.15) for _ in range(6)]
    results = [_mask(student, ids, special, mask_id, vocab_size, p, rng.getrandbits(31))
               for ids, special in draws]
    ids = torch.cat([d[0] for d in draws])
    special = torch.cat([d[1] for d in draws])
    inputs = torch.cat([r[0] for r in results])
    labels = torch.cat([r[1] for r in results])
    chosen = labels != -100
    eligible = ~special
    _expect_rate(int(chosen.sum()), int(eligible.sum()), p,
                 f"the share of non-special positions chosen with mlm_probability={p}")
    # Each column, pooled over rows: catches masking that favours some positions.
    columns = chosen[:, 1:-1].float().sum(0) / eligible[:, 1:-1].float().sum(0)
    per_column = int(eligible[:, 1:-1].sum(0).min())
    bound = Z_PER_COLUMN * math.sqrt(p * (1 - p) / per_column)
    expect(bool(((columns - p).abs() <= bound).all()),
           f"the share chosen differs between positions (from {columns.min():.3f} to {columns.max():.3f}, "
           f"expected {p} everywhere): choose each position independently")
    # Rows: a Bernoulli draw per position makes the count per row vary about
    # its mean (eligible * p) as a binomial does; a fixed count per row does not.
    eligible_per_row = eligible.sum(1).double()
    residuals = chosen.sum(1).double() - eligible_per_row * p
    ratio = residuals.square().mean() / (eligible_per_row * p * (1 - p)).mean()
    dispersion_bound = Z * math.sqrt(2 / len(residuals))
    expect(abs(ratio - 1) <= dispersion_bound,
           f"the number chosen per row varies {ratio:.2f} times as much as independent choices "
           f"would: choose each position with probability p, not a fixed number per row")

    # Of the chosen: 80% [MASK], 10% random, 10% unchanged. A random id may hit the
    # original or the mask id (1/vocab_size each), which shifts the visible rates.
    _expect_split(ids, inputs, chosen, mask_id, vocab_size, "over many draws")
    # With p = 1 there are enough random replacements to test them for uniformity.
    draws = [_draw_ids(gen, (64, 96), vocab_size, mask_id, 0.0) for _ in range(6)]
    results = [_mask(student, ids, special, mask_id, vocab_size, 1.0, rng.getrandbits(31))
               for ids, special in draws]
    ids = torch.cat([d[0] for d in draws])
    inputs = torch.cat([r[0] for r in results])
    chosen = torch.cat([r[1] for r in results]) != -100
    _expect_split(ids, inputs, chosen, mask_id, vocab_size, "with mlm_probability=1")
    _expect_uniform_random_ids(ids, inputs, chosen, mask_id, vocab_size)


def _expect_split(ids, inputs, chosen, mask_id, vocab_size, when):
    n = int(chosen.sum())
    masked = int((chosen & (inputs == mask_id)).sum())
    kept = int((chosen & (inputs == ids)).sum())
    _expect_rate(masked, n, 0.8 + 0.1 / vocab_size, f"the share of chosen tokens replaced by [MASK] {when}")
    _expect_rate(kept, n, 0.1 + 0.1 / vocab_size, f"the share of chosen tokens left unchanged {when}")
    _expect_rate(n - masked - kept, n, 0.1 * (1 - 2 / vocab_size),
                 f"the share of chosen tokens replaced by a random id {when}")


def _expect_uniform_random_ids(ids, inputs, chosen, mask_id, vocab_size):
    """A random replacement is uniform over [0, vocab_size); seen as neither
    the original nor the mask id, it is uniform over the other ids."""
    replaced = chosen & (inputs != mask_id) & (inputs != ids)
    observed = torch.bincount(inputs[replaced], minlength=vocab_size).double()
    expected = torch.full((vocab_size,), float(replaced.sum())) / (vocab_size - 2)
    expected -= torch.bincount(ids[replaced], minlength=vocab_size).double() / (vocab_size - 2)
    expected[mask_id] = 0.0
    observed_mask = observed[mask_id].item()
    keep = torch.arange(vocab_size) != mask_id
    statistic = (((observed - expected)[keep]) ** 2 / expected[keep]).sum().item()
    z = _chi_square_tail_z(statistic, vocab_size - 2)
    expect(observed_mask == 0 and z <= Z,
           f"the random replacement ids are not uniform over [0, vocab_size={vocab_size}) "
           f"(chi-square {statistic:.0f} on {vocab_size - 2} degrees of freedom): draw them with "
           f"torch.randint(vocab_size, ...)")


# ----------------------------------------------------------------- attention
def _reference_attention(q, k, v, mask):
    """torch's scaled_dot_product_attention, with zeros for query rows that may attend nowhere."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if mask is None:
        return out
    nowhere = ~mask.expand(*q.shape[:-1], k.shape[-2]).any(-1, keepdim=True)
    return out.masked_fill(nowhere, 0.0)


@exercise(NOTEBOOK, "attention", points=2)
def check_attention(student, rng):
    gen = torch_generator(rng)

    def case(q_shape, kv_len, dv, mask, what):
        *lead, tq, d = q_shape
        q = torch.randn(q_shape, generator=gen)
        k = torch.randn((*lead, kv_len, d), generator=gen)
        v = torch.randn((*lead, kv_len, dv), generator=gen)
        got = student.call("attention", q, k, v, mask) if mask is not None else \
            student.call("attention", q, k, v)
        expect_close(got, _reference_attention(q, k, v, mask), f"attention {what}", atol=1e-5, rtol=1e-4)

    b, h, t, d = rng.randrange(1, 4), rng.randrange(1, 5), rng.randrange(2, 9), rng.choice((4, 8, 16))
    case((b, h, t, d), t, d, None, f"without a mask, q, k, v of shape {(b, h, t, d)}")
    case((t, d), t, d, None, f"without a mask, 2-D q, k, v of shape {(t, d)}")
    tk, dv = t + rng.randrange(1, 4), d + rng.randrange(1, 5)
    case((b, h, t, d), tk, dv, None, f"with {t} queries, {tk} keys, values of width {dv}")

    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    case((b, h, t, d), t, d, causal, "with a causal [T, T] mask (True = may attend)")
    lengths = torch.randint(1, tk + 1, (b,), generator=gen)
    padding = (torch.arange(tk) < lengths[:, None])[:, None, None, :]       # [B, 1, 1, Tk]
    case((b, h, t, d), tk, d, padding, "with a padding mask of shape [B, 1, 1, Tk]")
    scattered = torch.rand(b, h, t, tk, generator=gen) < 0.6
    scattered[..., 0] = True                                                # every row attends somewhere
    case((b, h, t, d), tk, d, scattered, "with a random [B, H, Tq, Tk] mask")
    nowhere = scattered.clone()
    nowhere[..., rng.randrange(t), :] = False
    case((b, h, t, d), tk, d, nowhere,
         "with a mask whose row for one query is all False (expected: zeros for that query, no NaN)")


# ------------------------------------------------------------------- TinyBert
@exercise(NOTEBOOK, "TinyBert", points=3, uses=("attention",))
def check_tinybert(student, rng):
    gen = torch_generator(rng)
    n_head = rng.choice((2, 4))
    sizes = dict(vocab_size=rng.randrange(50, 120), block_size=rng.randrange(12, 24), n_layer=2,
                 n_head=n_head, n_embd=8 * n_head, n_inner=rng.choice((48, 64)))
    hf = build_hf_bert(**sizes, generator=gen)
    config = student.new("TinyBertConfig", **sizes, dropout=0.1, layer_norm_eps=1e-12)
    model = student.new("TinyBert", config)
    model.load_state_dict(tinybert_state_from_hf(hf))
    model.method("eval")

    b, t = 3, sizes["block_size"] - rng.randrange(0, 4)
    ids = torch.randint(sizes["vocab_size"], (b, t), generator=gen)
    with torch.no_grad():
        reference = hf(input_ids=ids, output_hidden_states=True)
    described = (f"with BertForMaskedLM's weights copied in (vocab {sizes['vocab_size']}, "
                 f"{n_head} heads, width {sizes['n_embd']}), on ids of shape {(b, t)}")
    expect_close(model.method("encode", ids), reference.hidden_states[-1],
                 f"TinyBert.encode {described}", atol=1e-5, rtol=1e-5)
    expect_close(model(ids), reference.logits, f"TinyBert's logits {described}", atol=1e-5, rtol=1e-5)

    lengths = torch.tensor([t, rng.randrange(1, t), rng.randrange(1, t)])
    attention_mask = torch.arange(t) < lengths[:, None]                     # [B, T], True = real token
    with torch.no_grad():
        padded_reference = hf(input_ids=ids, attention_mask=attention_mask.long()).logits
    got = model(ids, attention_mask)
    expect_close(got, padded_reference, f"TinyBert's logits with an attention_mask {described}",
                 atol=1e-5, rtol=1e-5)
    other_padding = torch.where(attention_mask, ids, torch.randint(sizes["vocab_size"], (b, t), generator=gen))
    changed = model(other_padding, attention_mask)
    expect(torch.allclose(changed[attention_mask], got[attention_mask], atol=1e-5),
           "changing the ids at padding positions changed TinyBert's logits at real tokens: "
           "keys where attention_mask is False must be masked out")


# ------------------------------------------------------------------- mlm_loss
@exercise(NOTEBOOK, "mlm_loss", points=1)
def check_mlm_loss(student, rng):
    gen = torch_generator(rng)
    b, t, v = rng.randrange(2, 5), rng.randrange(5, 20), rng.randrange(10, 60)
    logits = 3 * torch.randn(b, t, v, generator=gen)
    targets = torch.randint(v, (b, t), generator=gen)

    def case(logits, labels, expected, what):
        got = student.call("mlm_loss", logits, labels)
        expect_tensor(got, f"mlm_loss {what}", shape=())
        expect_close(got, expected, f"mlm_loss {what}", atol=1e-5, rtol=1e-5)

    def cross_entropy(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)

    labels = torch.where(torch.rand(b, t, generator=gen) < 0.3, targets, -100)
    labels[0, 0] = targets[0, 0]                                            # at least one chosen
    case(logits, labels, cross_entropy(logits, labels),
         f"on logits [{b}, {t}, {v}] with about 30% of labels chosen (the rest -100)")
    case(logits, targets, cross_entropy(logits, targets), "with every label chosen")
    flat, flat_labels = logits.reshape(-1, v), labels.reshape(-1)
    case(flat, flat_labels, cross_entropy(flat, flat_labels), f"on 2-D logits [{b * t}, {v}]")
    nothing = torch.full((b, t), -100)
    case(logits, nothing, torch.tensor(0.0), "with no label chosen (expected 0.0, not NaN)")
