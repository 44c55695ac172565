"""Hidden checks for notebook 04 (span corruption, encoder-decoder T5).

T5's preprocessing is checked against ports of google-research's own code
(autograder/reference/span_corruption.py): exactly where the algorithm is
deterministic (noise and span counts, span_corrupt given the mask, the
length helper), and by the distribution of span lengths where it is random.
TinySeq2Seq is checked by what an encoder-decoder must do (causal decoder,
cross-attention over every real encoder position and no padding) and against
torch.nn's Transformer layers with the same weights; greedy_decode on a
scripted model whose every next token is known.
"""
import math

import torch

from autograder.expect import Failed, expect, expect_close, expect_equal, expect_tensor
from autograder.reference import span_corruption as ref
from autograder.registry import exercise
from autograder.seeds import torch_generator

NOTEBOOK = "04_span_corruption"
Z = 5.0  # standard deviations allowed for a goodness-of-fit statistic


# -------------------------------------------------- random_spans_noise_mask
def _spans(mask):
    """Run lengths of a boolean list: [(is_noise, length), ...]."""
    runs = []
    for value in mask:
        if runs and runs[-1][0] == value:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    return [tuple(run) for run in runs]


def _noise_mask(student, length, density, mean, seed):
    what = (f"random_spans_noise_mask({length}, noise_density={density}, "
            f"mean_noise_span_length={mean}, generator=<seeded>)")
    got = student.call("random_spans_noise_mask", length, density, mean, generator=student.generator(seed))
    expect_tensor(got, what, shape=(length,), dtype=torch.bool)
    return got, what


def _expect_t5_counts(mask, length, density, mean, what):
    noise, spans = ref.noise_counts(length, density, mean)
    runs = _spans(mask.tolist())
    got_noise = int(mask.sum())
    expect(got_noise == noise,
           f"{what} has {got_noise} noise tokens, expected round({length} * {density}) clamped to "
           f"[1, length - 1] = {noise}")
    noise_runs = [n for is_noise, n in runs if is_noise]
    expect(len(noise_runs) == spans,
           f"{what} has {len(noise_runs)} noise spans, expected max(1, round({noise} / {mean})) = {spans}")
    expect(not runs[0][0], f"{what} starts with a noise token; T5's masks start with non-noise")
    expect(runs[-1][0], f"{what} ends with a non-noise token; T5's masks alternate non-noise, noise "
                        f"as many times as there are noise spans, so they end with noise")


def _first_span_distribution(items, segments):
    """P(first segment has k items), k = 1..items - segments + 1, for a uniformly
    random composition of `items` into `segments` positive parts."""
    if segments == 1:
        return {items: 1.0}
    total = math.comb(items - 1, segments - 1)
    return {k: math.comb(items - k - 1, segments - 2) / total for k in range(1, items - segments + 2)}


def _expect_distribution(samples, probabilities, what):
    """Chi-square goodness of fit, bins with few expected counts merged into
    their neighbour; Wilson-Hilferty turns the statistic into a z score."""
    n = len(samples)
    observed, expected = [], []
    pending_o = pending_e = 0.0
    for k in sorted(probabilities):
        pending_o += sum(1 for s in samples if s == k)
        pending_e += n * probabilities[k]
        if pending_e >= 10:
            observed.append(pending_o)
            expected.append(pending_e)
            pending_o = pending_e = 0.0
    if pending_e and expected:
        observed[-1] += pending_o
        expected[-1] += pending_e
    outside = sum(1 for s in samples if s not in probabilities)
    expect(outside == 0, f"{what}: {outside} span lengths that T5's algorithm cannot produce")
    dof = len(expected) - 1
    if dof < 1:
        return
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    if z > Z:
        raise Failed(f"{what} are not distributed as T5's (chi-square {statistic:.0f} on {dof} degrees "
                     f"of freedom over {n} masks): every way of cutting the noise tokens into spans, "
                     f"and the other tokens into spans, must be equally likely")


@exercise(NOTEBOOK, "random_spans_noise_mask", points=2)
def check_random_spans_noise_mask(student, rng):
    def seed():
        return rng.getrandbits(31)

    # The worked sizes of the notebook and of T5, and the degenerate lengths.
    for length, density, mean in ((1000, 0.15, 3.0), (568, 0.15, 3.0)):
        mask, what = _noise_mask(student, length, density, mean, seed())
        _expect_t5_counts(mask, length, density, mean, what)
    mask, what = _noise_mask(student, 2, 0.15, 3.0, seed())
    expect_equal(mask.tolist(), [False, True], what)
    mask, what = _noise_mask(student, 1, 0.15, 3.0, seed())
    expect_equal(mask.tolist(), [False], f"{what} (T5 draws a mask of length 2 and keeps its first token)")

    # Counts over many sizes: ties that round half to even, densities above
    # one half (where T5 counts spans from the noise tokens), one-token spans.
    cases = [(10, 0.25, 1.0), (10, 0.15, 3.0), (30, 0.25, 2.5), (100, 0.6, 3.0), (40, 0.7, 10.0),
             (100, 0.5, 3.0), (20, 0.25, 2.0)]
    while len(cases) < 30:
        length = rng.randrange(3, 400)
        density = rng.choice((0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.55, 0.65))
        mean = rng.choice((1.0, 2.0, 3.0, 3.5, 5.0, 8.0))
        noise, spans = ref.noise_counts(length, density, mean)
        # T5's algorithm needs a non-noise token before each noise span; and where T5's float32
        # product rounds otherwise than the documented round(length * density) (190 at 0.15),
        # either reading is correct, so such sizes are not asked.
        if spans <= length - noise and (noise, spans) == ref.noise_counts(length, density, mean, float32=True):
            cases.append((length, density, mean))
    for length, density, mean in cases:
        mask, what = _noise_mask(student, length, density, mean, seed())
        _expect_t5_counts(mask, length, density, mean, what)

    # Determinism under a generator.
    s = seed()
    first, what = _noise_mask(student, 200, 0.15, 3.0, s)
    again, _ = _noise_mask(student, 200, 0.15, 3.0, s)
    expect(torch.equal(first, again), "two calls with generators seeded alike gave different masks: "
                                      "draw every random number from `generator`")
    other, _ = _noise_mask(student, 200, 0.15, 3.0, s + 1)
    expect(not torch.equal(first, other), "generators seeded differently gave the same mask")
    got = student.call("random_spans_noise_mask", 50)
    expect_tensor(got, "random_spans_noise_mask(50) (defaults, no generator)", shape=(50,), dtype=torch.bool)
    _expect_t5_counts(got, 50, 0.15, 3.0, "random_spans_noise_mask(50) (defaults, no generator)")

    # Span lengths over many masks: T5 cuts the noise tokens into spans, and the
    # others, uniformly at random; the first span of each kind is one sample.
    length, density, mean = rng.choice(((64, 0.15, 3.0), (60, 0.2, 3.0), (80, 0.15, 2.0)))
    noise, spans = ref.noise_counts(length, density, mean)
    first_noise, first_kept = [], []
    for _ in range(300):
        mask, what = _noise_mask(student, length, density, mean, seed())
        runs = _spans(mask.tolist())
        expect(len(runs) == 2 * spans, f"{what} has {len(runs)} spans, expected {2 * spans} "
                                       f"({spans} of non-noise, each followed by one of noise)")
        first_kept.append(runs[0][1])
        first_noise.append(runs[1][1])
    described = f"random_spans_noise_mask({length}, {density}, {mean})"
    _expect_distribution(first_noise, _first_span_distribution(noise, spans),
                         f"{described}: the lengths of the first noise span")
    _expect_distribution(first_kept, _first_span_distribution(length - noise, spans),
                         f"{described}: the lengths of the first non-noise span")


# -------------------------------------------------------------- span_corrupt
def _ids_list(got, what):
    expect(isinstance(got, torch.Tensor) and got.dim() == 1 and not got.is_floating_point()
           and got.dtype != torch.bool, f"{what} should be a 1-D tensor of token ids, not {_describe(got)}")
    return got.tolist()


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


@exercise(NOTEBOOK, "span_corrupt", points=2)
def check_span_corrupt(student, rng):
    gen = torch_generator(rng)

    def case(ids, mask, sentinels, eos, what):
        call = f"span_corrupt({what})"
        got = student.call("span_corrupt", ids, mask, sentinels, eos)
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"{call} should return a pair (input_ids, target_ids), not {_describe(got)}")
        inputs, targets = _ids_list(got[0], f"{call}: input_ids"), _ids_list(got[1], f"{call}: target_ids")
        want_inputs, want_targets = ref.span_corrupt(ids, mask, sentinels, eos)
        expect_equal(inputs, want_inputs.tolist(), f"{call}: input_ids")
        expect_equal(targets, want_targets.tolist(), f"{call}: target_ids")

    # The worked example of docs/api.md and the notebook.
    ids = torch.arange(10, 20)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[[2, 3, 7]] = True
    case(ids, mask, [32099, 32098, 32097], 1, "ids 10..19, noise at {2, 3, 7}, sentinels [32099, 32098, 32097], "
                                              "eos 1")

    def sentinel_list(n, consecutive=True):
        top = rng.randrange(5000, 40000)
        if consecutive:
            return list(range(top, top - n, -1))
        return rng.sample(range(1000, 5000), n)

    def random_ids(length):
        return torch.randint(0, 1000, (length,), generator=gen)

    # Random masks of every shape: starting with noise, ending with non-noise,
    # one-token spans next to each other, all noise, no noise.
    for number in range(25):
        length = rng.randrange(1, 40)
        mask = torch.rand(length, generator=gen) < rng.choice((0.2, 0.5, 0.8))
        if number == 0:
            mask[0] = True
        runs = len(_spans(mask.tolist()))
        case(random_ids(length), mask, sentinel_list(runs), rng.randrange(1, 1000),
             f"{length} ids, the noise mask {mask.int().tolist()}")
    for mask, what in ((torch.ones(6, dtype=torch.bool), "every token noise"),
                       (torch.zeros(6, dtype=torch.bool), "no token noise"),
                       (torch.tensor([True, False, True, False, True, False]), "alternating, noise first")):
        case(random_ids(6), mask, sentinel_list(3), 1, f"6 ids, {what}")
    mask = ref.random_spans_noise_mask(120, 0.15, 3.0, gen)
    case(random_ids(120), mask, sentinel_list(100), 1, "120 ids, a T5 mask, the course's 100 sentinels")
    mask = torch.tensor([False, False, True, True, False, True, False, False, True])
    case(random_ids(9), mask, sentinel_list(4, consecutive=False), 7,
         "9 ids, sentinel_ids not consecutive (span k gets sentinel_ids[k], whatever its value)")


# --------------------------------------------------- compute_input_and_target_lengths
@exercise(NOTEBOOK, "compute_input_and_target_lengths", points=1)
def check_compute_input_and_target_lengths(student, rng):
    def case(inputs_length, density, mean):
        what = f"compute_input_and_target_lengths({inputs_length}, {density}, {mean})"
        got = student.call("compute_input_and_target_lengths", inputs_length, density, mean)
        expect(isinstance(got, (tuple, list)) and len(got) == 2 and all(type(n) is int for n in got),
               f"{what} should return a pair of Python ints (tokens_length, targets_length), "
               f"not {_describe(got)} {got!r}"[:300])
        expect_equal(tuple(got), ref.random_spans_helper(inputs_length, density, mean), what)

    case(512, 0.15, 3.0)  # T5's own sizes: (568, 114)
    # Every short length at density 0.5, where T5's "minor hack" takes a token
    # off whenever the targets would come out longer than the inputs.
    for inputs_length in range(8, 40):
        case(inputs_length, 0.5, rng.choice((2.0, 3.0)))
    grid = [(inputs_length, density, mean) for inputs_length in (8, 64, 114, 128, 256, 511, 1024)
            for density in (0.15, 0.3, 0.5) for mean in (1.0, 3.0, 8.0)]
    for inputs_length, density, mean in rng.sample(grid, 25):
        case(inputs_length, density, mean)
    for _ in range(10):
        case(rng.randrange(4, 2048), rng.choice((0.1, 0.15, 0.2, 0.25, 0.5)), rng.choice((1.0, 2.0, 3.0, 5.0)))


# --------------------------------------------------------------- TinySeq2Seq
@exercise(NOTEBOOK, "TinySeq2Seq", points=3, uses=("attention",))
def check_tiny_seq2seq(student, rng):
    gen = torch_generator(rng)
    n_head = rng.choice((2, 4))
    sizes = dict(vocab_size=rng.randrange(40, 90), block_size=rng.randrange(20, 32),
                 n_layer=2, n_head=n_head, n_embd=8 * n_head)
    pad_id = rng.randrange(sizes["vocab_size"])
    state = ref.tinyseq2seq_state(sizes["vocab_size"], sizes["block_size"], sizes["n_layer"],
                                  sizes["n_embd"], gen)
    config = student.new("Seq2SeqConfig", **sizes, pad_id=pad_id, dropout=0.0)
    model = student.new("TinySeq2Seq", config)
    model.load_state_dict(state)
    model.method("eval")
    described = f"(vocab {sizes['vocab_size']}, {n_head} heads, width {sizes['n_embd']}, pad_id {pad_id})"

    def token_ids(*shape):
        ids = torch.randint(sizes["vocab_size"] - 1, shape, generator=gen)
        return ids + (ids >= pad_id).long()                          # never pad_id

    b, s, t = 3, rng.randrange(6, 12), rng.randrange(4, 9)
    source = token_ids(b, s)
    lengths = [s, rng.randrange(1, s), rng.randrange(1, s)]
    for row, n in enumerate(lengths):
        source[row, n:] = pad_id
    target = token_ids(b, t)
    on = f"on input_ids of shape {(b, s)} (rows padded to lengths {lengths}) and decoder_input_ids of shape {(b, t)}"

    logits = model(source, target)
    expect_tensor(logits, f"TinySeq2Seq {on}", shape=(b, t, sizes["vocab_size"]))
    expect(bool(torch.isfinite(logits).all()), f"TinySeq2Seq {on} returned NaN or infinite logits")

    # The decoder sees only the past: changing the tokens after step k leaves steps <= k alone.
    k = rng.randrange(0, t - 1)
    later_changed = target.clone()
    later_changed[:, k + 1:] = token_ids(b, t - k - 1)
    got = model(source, later_changed)
    expect(torch.allclose(got[:, :k + 1], logits[:, :k + 1], atol=1e-5),
           f"changing decoder_input_ids after position {k} changed the logits at positions <= {k}: "
           f"the decoder's self-attention must be causal")

    # Cross-attention sees every real encoder token, from the first decoder step on.
    for j in range(lengths[0]):
        changed = source.clone()
        changed[0, j] = rng.choice([i for i in range(sizes["vocab_size"]) if i not in (pad_id, source[0, j])])
        got = model(changed, target)
        expect(not torch.allclose(got[0, 0], logits[0, 0], atol=1e-6),
               f"changing encoder token {j} of {lengths[0]} did not change the decoder's first logits: "
               f"cross-attention must let every decoder position see every encoder position")

    # Encoder padding is ignored: more of it changes nothing.
    extra = torch.full((b, rng.randrange(1, 5)), pad_id)
    got = model(torch.cat([source, extra], 1), target)
    expect_close(got, logits, f"TinySeq2Seq {on}, with {extra.shape[1]} more padding tokens at the end of "
                              f"every row (padding must be masked out of the encoder and cross-attention)",
                 atol=1e-5, rtol=1e-5)

    # Agreement with torch.nn's Transformer layers holding the same weights.
    reference = ref.torch_transformer_logits(state, sizes["n_layer"], n_head, pad_id, source, target)
    expect_close(logits, reference,
                 f"TinySeq2Seq {described} {on}, against torch.nn.TransformerEncoder/Decoder "
                 f"(pre-LN, GELU) with the same weights", atol=1e-4, rtol=1e-4)
    memory = model.method("encode", source)
    expect_tensor(memory, f"TinySeq2Seq.encode {on}", shape=(b, s, sizes["n_embd"]))
    expect_close(model.method("decode", target, memory, source), logits,
                 f"TinySeq2Seq.decode(decoder_input_ids, encode(input_ids), input_ids) against "
                 f"TinySeq2Seq(input_ids, decoder_input_ids) {on}", atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------- greedy_decode
def _greedy_reference(model, input_ids, max_len, start_id, eos_id):
    """Argmax one step at a time; finished rows continue with eos_id."""
    memory = model.encode(input_ids)
    out = torch.full((input_ids.shape[0], 1), start_id)
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    for _ in range(max_len):
        if bool(done.all()):
            break
        next_id = model.decode(out, memory, input_ids)[:, -1].argmax(-1)
        next_id = torch.where(done, torch.full_like(next_id, eos_id), next_id)
        out = torch.cat([out, next_id[:, None]], 1)
        done |= next_id == eos_id
    return out[:, 1:]


@exercise(NOTEBOOK, "greedy_decode", points=2, uses=("scripted_seq2seq",))
def check_greedy_decode(student, rng):
    vocab_size, pad_id = rng.randrange(20, 40), 0
    eos_id, start_id = rng.randrange(1, vocab_size), rng.randrange(1, vocab_size)
    # A table where about one entry in eight is EOS: rows end at different steps.
    table = [eos_id if rng.random() < 0.12 else rng.randrange(1, vocab_size) for _ in range(101)]
    trusted = ref.scripted_seq2seq(table, vocab_size, pad_id)

    def case(input_ids, max_len, what, start_id=start_id):
        model = student.new("scripted_seq2seq", table, vocab_size, pad_id)
        call = f"greedy_decode(model, {what}, max_len={max_len}, start_id={start_id}, eos_id={eos_id})"
        got = student.call("greedy_decode", model, input_ids, max_len, start_id, eos_id)
        expected = _greedy_reference(trusted, input_ids, max_len, start_id, eos_id)
        expect(isinstance(got, torch.Tensor) and not got.is_floating_point(),
               f"{call} should return a tensor of token ids, not {_describe(got)}")
        expect_equal(got.long().tolist(), expected.tolist(),
                     f"{call} (the model's argmax at every step; rows that have ended continue with eos_id)")
        runs = model.method("encode_calls")
        expect(runs == 1, f"{call} ran the encoder {runs} times: encode the input once and reuse "
                          f"its output at every decoder step")
        return expected

    gen = torch_generator(rng)
    # Rows that end at different steps, and the longest within max_len.
    for _ in range(20):
        input_ids = torch.randint(1, vocab_size, (6, rng.randrange(2, 8)), generator=gen)
        expected = _greedy_reference(trusted, input_ids, 60, start_id, eos_id)
        lengths = [row.index(eos_id) + 1 if eos_id in row else None for row in expected.tolist()]
        if None not in lengths and len(set(lengths)) > 2 and max(lengths) > 3:
            break
    input_ids[2, -1] = pad_id
    case(input_ids, 60, f"input_ids of shape {tuple(input_ids.shape)} whose rows end at different steps")
    case(input_ids, 3, f"the same input_ids of shape {tuple(input_ids.shape)}, stopped by max_len")
    case(input_ids, 1, "the same input_ids, one step")
    case(input_ids[3:4], 60, "one row")
    # The start token may be the EOS token itself (GPT-2 uses one token for both): it is not
    # part of the result, so only an EOS the model writes ends a row.
    case(input_ids, 60, "the same input_ids, starting from the EOS token", start_id=eos_id)
