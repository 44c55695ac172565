"""Unit tests of the support package `lmcourse` and the shipped data (fast: seconds)."""
from __future__ import annotations

import hashlib
import itertools
import random
import types

import numpy as np
import pytest
import torch
from tokenizers import pre_tokenizers

import lmcourse
from lmcourse import runtime
from lmcourse.data import load_corpus, load_plays, play_pairs
from lmcourse.runtime import TimeBudget, autocast, grading_mode, mixed_precision_dtype
from lmcourse.tokenizer import (
    NUM_SENTINELS,
    SPECIAL_TOKENS,
    VOCAB_SIZE,
    load_course_tokenizer,
    sentinel_ids,
    special_token_ids,
)
from lmcourse.train import History, _learning_rate, train


# --- data -------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["modern", "folio"])
def test_splits_are_the_first_90_percent_and_the_rest(spelling):
    full = load_corpus(spelling)
    train_text, val_text = load_corpus(spelling, "train"), load_corpus(spelling, "val")
    assert len(train_text) == int(0.9 * len(full))
    assert train_text + val_text == full
    assert full.startswith(train_text) and full.endswith(val_text)


def test_corpus_is_the_plays_in_sorted_order_separated_by_blank_lines():
    plays = load_plays("modern")
    assert list(plays) == sorted(plays)
    assert len(plays) == 37
    assert plays["hamlet"].startswith("HAMLET, PRINCE OF DENMARK")
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in plays.values())
    assert load_corpus("modern") == "\n".join(plays.values())
    assert "\r" not in load_corpus("modern")


def test_load_plays_returns_a_copy_of_the_cache():
    load_plays("modern")["hamlet"] = "changed"
    assert load_plays("modern")["hamlet"].startswith("HAMLET")


def test_every_folio_play_has_its_modern_partner():
    pairs, modern, folio = play_pairs(), load_plays("modern"), load_plays("folio")
    assert sorted(pairs.values()) == sorted(folio)
    assert set(pairs) <= set(modern)
    assert pairs["loves_labours_lost"] == "loves_labour_lost"
    assert set(modern) - set(pairs) == {"pericles", "troilus_and_cressida"}
    assert "vnfold" in folio[pairs["hamlet"]] and "unfold" in modern["hamlet"]


def test_gpt2_files_are_openais():
    encoder_json, vocab_bpe = lmcourse.gpt2_files()
    # The hashes tiktoken checks for OpenAI's published files.
    assert hashlib.sha256(encoder_json.read_bytes()).hexdigest() == (
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
    assert hashlib.sha256(vocab_bpe.read_bytes()).hexdigest() == (
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        load_corpus(split="test")
    with pytest.raises(ValueError, match="spelling"):
        load_plays("ancient")


def test_missing_data_says_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="LMCOURSE_DATA"):
        lmcourse.data_dir()
    with pytest.raises(FileNotFoundError, match="LMCOURSE_DATA"):
        load_corpus()
    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))  # exists, but holds no plays
    with pytest.raises(FileNotFoundError, match="make data"):
        load_plays("modern")
    with pytest.raises(FileNotFoundError, match="make data"):
        load_course_tokenizer()


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    play_dir = tmp_path / "shakespeare" / "modern"
    play_dir.mkdir(parents=True)
    (play_dir / "b.txt").write_text("second\n")
    (play_dir / "a.txt").write_text("first\n")
    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))
    assert lmcourse.data_dir() == tmp_path
    assert load_corpus() == "first\n\nsecond\n"


# --- tokenizer ----------------------------------------------------------------

def test_special_tokens_follow_the_bpe_vocabulary_and_sentinels_descend():
    tokenizer = load_course_tokenizer()
    assert tokenizer.get_vocab_size() == VOCAB_SIZE == 4096
    ids = special_token_ids()
    assert list(ids) == SPECIAL_TOKENS
    assert SPECIAL_TOKENS[:6] == ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "<bos>", "<eos>"]
    assert list(ids.values()) == list(range(VOCAB_SIZE - len(SPECIAL_TOKENS), VOCAB_SIZE))
    assert ids["<extra_id_0>"] == VOCAB_SIZE - 1
    assert sentinel_ids(3) == [4095, 4094, 4093]
    assert sentinel_ids(NUM_SENTINELS) == list(range(4095, 3995, -1))
    assert sentinel_ids(0) == []
    with pytest.raises(ValueError):
        sentinel_ids(NUM_SENTINELS + 1)


def test_special_tokens_encode_as_one_id_each():
    tokenizer = load_course_tokenizer()
    ids = special_token_ids()
    encoding = tokenizer.encode("[CLS] thou [MASK]<extra_id_0>")
    assert ids["[CLS]"] in encoding.ids and ids["[MASK]"] in encoding.ids
    assert encoding.ids[-1] == ids["<extra_id_0>"]


def test_bpe_vocabulary_is_the_256_byte_symbols_then_merges():
    by_id = {i: token for token, i in load_course_tokenizer().get_vocab().items()}
    assert {by_id[i] for i in range(256)} == set(pre_tokenizers.ByteLevel.alphabet())
    assert by_id[256] == "Ġt"  # the commonest pair in English: " t"


@pytest.mark.parametrize("text", [
    "",
    "To be, or not to be: that is the question.",
    "  leading and trailing spaces  \n\n\ttabs\r\nand CRLF\r\n",
    "naïve café, Æsop, ſhall, 日本語, 😀👩‍👩‍👧, e\u0301 (combining), \x00 \x7f",
    "[MASK] is special, <extra_id_0> too, [MASK but not this",
])
def test_decode_inverts_encode(text):
    tokenizer = load_course_tokenizer()
    assert tokenizer.decode(tokenizer.encode(text).ids, skip_special_tokens=False) == text


def test_decode_inverts_encode_on_the_validation_split():
    tokenizer = load_course_tokenizer()
    text = load_corpus(split="val")
    ids = tokenizer.encode(text).ids
    assert tokenizer.decode(ids) == text
    assert len(text) / len(ids) > 2.5  # BPE merges: well over two characters per token


# --- runtime ------------------------------------------------------------------

@pytest.mark.parametrize("env, expected", [
    ({}, False),
    ({"LMCOURSE_GRADING": "1"}, True),
    ({"LMCOURSE_GRADING": "true"}, True),
    ({"LMCOURSE_GRADING": "True"}, True),
    ({"LMCOURSE_GRADING": "0"}, False),
    ({"LMCOURSE_GRADING": ""}, False),
    ({"NBGRADER_EXECUTION": "autograde"}, True),
    ({"NBGRADER_EXECUTION": ""}, False),
    ({"LMCOURSE_GRADING": "0", "NBGRADER_EXECUTION": "validate"}, True),
])
def test_grading_mode(monkeypatch, env, expected):
    monkeypatch.delenv("LMCOURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert grading_mode() is expected


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    lmcourse.seed_everything(1234)
    first = draw()
    lmcourse.seed_everything(1234)
    assert draw() == first
    lmcourse.seed_everything(1235)
    assert all(a != b for a, b in zip(draw(), first))


def test_pick_device(monkeypatch):
    monkeypatch.delenv("LMCOURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert lmcourse.pick_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert lmcourse.pick_device().type == "cuda"
    elif not torch.backends.mps.is_available():
        assert lmcourse.pick_device() == torch.device("cpu")


def test_pick_device_is_the_cpu_while_grading(monkeypatch):
    monkeypatch.setenv("LMCOURSE_GRADING", "1")
    assert lmcourse.pick_device() == torch.device("cpu")
    assert lmcourse.pick_device("meta") == torch.device("meta")  # an explicit choice still wins


def test_autocast_is_a_no_op_on_cpu():
    assert mixed_precision_dtype("cpu") is None
    a = torch.randn(4, 4)
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32


def test_time_budget(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(runtime, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    budget = TimeBudget(10)
    assert not budget.expired() and budget.remaining() == 10
    clock[0] = 104.0
    assert budget.elapsed() == 4 and budget.fraction_used() == pytest.approx(0.4)
    assert budget.expired(10.0) and not budget.expired(9.99)  # at a reading taken earlier, not now
    clock[0] = 110.0
    assert budget.expired() and budget.remaining() == 0 and budget.fraction_used() == 1
    assert not budget.expired(4.0)
    unlimited = TimeBudget(None)
    clock[0] = 1e9
    assert not unlimited.expired() and unlimited.remaining() == float("inf")


# --- training loop ------------------------------------------------------------

VOCAB = 16


def _toy_problem(seed=0):
    """Learn to map each token to the next one: x -> (x + 1) % VOCAB."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 32), torch.nn.Linear(32, VOCAB))
    generator = torch.Generator().manual_seed(seed)

    def get_batch():
        x = torch.randint(0, VOCAB, (8, 16), generator=generator)
        return x, (x + 1) % VOCAB

    def loss_fn(model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())

    return model, get_batch, loss_fn


def test_train_reduces_the_loss_and_records_history():
    model, get_batch, loss_fn = _toy_problem()
    eval_batch = get_batch()

    def eval_fn(model):
        assert not model.training and not torch.is_grad_enabled()
        return loss_fn(model, eval_batch).item()

    history = train(model, get_batch, loss_fn, steps=40, lr=3e-2, device="cpu",
                    eval_fn=eval_fn, eval_every=15)
    assert history.steps == list(range(1, 41))
    assert history.tokens_seen == [128 * s for s in history.steps]
    assert len(history.train_loss) == len(history.seconds) == 40
    assert history.seconds == sorted(history.seconds)
    assert history.eval_steps == [0, 15, 30, 40]
    val = history.eval_metrics["val_loss"]
    assert val[0] > 2.0 and val[-1] < 0.2 * val[0]  # ln(16) = 2.77 at the start
    assert np.mean(history.train_loss[-5:]) < 0.2 * history.train_loss[0]
    assert model.training


def test_train_is_deterministic_given_the_seed():
    runs = []
    for _ in range(2):
        model, get_batch, loss_fn = _toy_problem(seed=3)
        runs.append(train(model, get_batch, loss_fn, steps=5, lr=1e-2, device="cpu").train_loss)
    assert runs[0] == runs[1]


def test_train_stops_at_the_time_budget():
    model, get_batch, loss_fn = _toy_problem()
    history = train(model, get_batch, loss_fn, steps=10**6, lr=1e-2, device="cpu",
                    time_budget_s=0.3, eval_fn=lambda m: {"accuracy": 0.5}, eval_every=10**6)
    assert 0 < len(history.steps) < 10**6
    # It stopped after the first step recorded at or past the budget, however slow the
    # machine: the time recorded for a step is the reading the budget is checked against.
    assert history.seconds[-1] >= 0.3 and all(s < 0.3 for s in history.seconds[:-1])
    assert history.eval_steps == [0, history.steps[-1]]
    assert history.eval_metrics == {"accuracy": [0.5, 0.5]}


def test_train_stops_on_the_clock_reading_it_records(monkeypatch):
    """A clock that moves on every reading, as a real one can between two reads:
    whatever the budget, the last step's recorded time is the reading that expired it."""
    ticks = itertools.count()
    monkeypatch.setattr(runtime, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    steps_run = []
    for budget in range(2, 14):  # in ticks: every offset between the loop's readings and the budget
        model, get_batch, loss_fn = _toy_problem()
        seconds = train(model, get_batch, loss_fn, steps=10**6, lr=1e-2, device="cpu", time_budget_s=budget).seconds
        assert not seconds or (seconds[-1] >= budget and all(s < budget for s in seconds[:-1])), (budget, seconds)
        steps_run.append(len(seconds))
    assert steps_run[-1] > 1


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    assert _learning_rate(0, 0.0, lr=1.0, warmup=10) == pytest.approx(0.1)
    assert _learning_rate(9, 0.0, lr=1.0, warmup=10) == pytest.approx(1.0)
    assert _learning_rate(10, 0.0, lr=1.0, warmup=10) == pytest.approx(1.0)
    assert _learning_rate(50, 0.5, lr=1.0, warmup=10) == pytest.approx(0.55)
    assert _learning_rate(99, 1.0, lr=1.0, warmup=10) == pytest.approx(0.1)
    assert _learning_rate(99, 2.0, lr=1.0, warmup=10) == pytest.approx(0.1)


def test_history_plot_has_title_labels_and_units():
    import matplotlib.pyplot as plt

    history = History(steps=[1, 2, 3], train_loss=[3.0, 2.0, 1.0], tokens_seen=[10, 20, 30],
                      seconds=[0.5, 1.0, 1.5], eval_steps=[0, 3],
                      eval_metrics={"val_loss": [3.1, 1.2], "accuracy": [0.1, 0.7]})
    ax = history.plot(x="seconds")
    assert ax.get_title() and ax.get_xlabel() == "wall time (s)"
    assert "nats" in ax.get_ylabel()
    val_line = next(line for line in ax.get_lines() if line.get_label() == "val_loss")
    assert list(val_line.get_xdata()) == [0.0, 1.5]
    assert len(ax.figure.axes) == 2  # accuracy on its own right-hand axis
    plt.close(ax.figure)
    with pytest.raises(ValueError):
        history.plot(x="epochs")


# --- notebook 04's cross-attention plot -------------------------------------

class _CrossAttention(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.query, self.key = torch.nn.Linear(width, width), torch.nn.Linear(width, width)

    def forward(self, x, context, mask=None):
        return x + self.query(x).mean() + self.key(context).mean()


class _Decoder(torch.nn.Module):
    """Enough of a TinySeq2Seq for the helper: an embedding, two decoder
    blocks' cross_attn, a config; `by_keyword` passes `context` by name."""

    def __init__(self, by_keyword):
        super().__init__()
        self.config = type("Config", (), {"n_head": 2, "pad_id": 0})()
        self.embed = torch.nn.Embedding(10, 8)
        self.decoder_blocks = torch.nn.ModuleList(torch.nn.Module() for _ in range(2))
        for block in self.decoder_blocks:
            block.cross_attn = _CrossAttention(8)
        self.by_keyword = by_keyword

    def forward(self, input_ids, decoder_input_ids):
        memory, h = self.embed(input_ids), self.embed(decoder_input_ids)
        for block in self.decoder_blocks:
            h = block.cross_attn(h, context=memory, mask=None) if self.by_keyword else block.cross_attn(h, memory)
        return h


def test_cross_attention_weights_follow_each_blocks_inputs_however_passed():
    from lmcourse.span_corruption_viz import cross_attention_weights, cross_attention_weights_by_layer
    torch.manual_seed(0)
    positional = _Decoder(by_keyword=False)
    keyword = _Decoder(by_keyword=True)
    keyword.load_state_dict(positional.state_dict())
    input_ids, decoder_input_ids = torch.tensor([[3, 4, 5, 0]]), torch.tensor([[1, 2, 6]])  # 0 is padding

    weights = cross_attention_weights_by_layer(positional, input_ids, decoder_input_ids)
    for got, expected in zip(cross_attention_weights_by_layer(keyword, input_ids, decoder_input_ids), weights):
        torch.testing.assert_close(got, expected)
    # The first block reads the embeddings: its weights by hand, per head.
    block = positional.decoder_blocks[0].cross_attn
    q = block.query(positional.embed(decoder_input_ids)).view(1, 3, 2, 4).transpose(1, 2)
    k = block.key(positional.embed(input_ids)).view(1, 4, 2, 4).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1) / 2.0).masked_fill(input_ids[:, None, None, :] == 0, float("-inf"))
    torch.testing.assert_close(weights[0], scores.softmax(-1).detach())
    assert weights[0].shape == (1, 2, 3, 4) and len(weights) == 2
    assert bool((weights[1][..., -1] == 0).all()), "padding gets no weight"
    torch.testing.assert_close(cross_attention_weights(positional, input_ids, decoder_input_ids),
                               weights[-1].mean(1)[0])
