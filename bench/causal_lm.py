"""Notebook 03's default training run beside nanoGPT's CPU quick-start, on the course's split.

The baseline re-implements nanoGPT (karpathy/nanoGPT train.py and model.py) with the flags of
its README's CPU quick-start:

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

that is: characters as tokens (the corpus's distinct characters, as shakespeare_char/prepare.py),
no biases, exact GELU, causal flash attention, tied embeddings, GPT-2's init; AdamW with
betas (0.9, 0.99) and weight decay 0.1 on matrices only; 100 warmup steps, then a cosine from
1e-3 to 1e-4 at step 2000; gradients clipped at 1; and `estimate_loss` (20 batches of each
split) every 250 steps, inside the timing. nanoGPT reports 1.88 nats per character on its
Shakespeare. One difference: nanoGPT takes one more optimizer step after its last evaluation,
which changes nothing it reports; this stops at the evaluation.

The notebook's run is its own `train_tiny_gpt` with the default values of its settings cell
(the code cell tagged `parameters`, a time budget of 4 minutes included), taken from
solutions/03_causal_lm.ipynb. Both models are then scored, outside their timings, by the
notebook's `bits_per_byte` on the whole validation split (one character is one byte in this
corpus).

Targets: the notebook reaches the baseline's final validation bits per byte in at most a quarter of
the baseline's wall time, judged at the notebook's periodic evaluations (64 windows of the
validation split), and its default run takes at most 5 minutes.
Reported beside them: tokens per second and the fraction of this machine's measured matmul
throughput each training step reaches, with nanoGPT's FLOP count (6 N + 12 L T C per token).
The notebook's run is repeated RUNS times (each of its rows gives the range) beside one baseline
run. All runs happen in this one call, one after the other, with torch's default threads. On a
machine shared with other work, run it as `OMP_NUM_THREADS=1 python -m bench bench.causal_lm`:
threads that wait for each other slow down many-fold when other processes hold the cores. Each
run's process CPU time is reported too, and the time-to-quality ratio in CPU seconds: with one
thread, that is about the wall time each would take alone on a core, so that ratio moves less
with other work than the wall-time one (the notebook's time budget still counts wall time).
"""
from __future__ import annotations

import math
import sys
import time
import types

import nbformat
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from bench import REPO, RUNS, load_notebook_definitions, merge_runs, parameters_cell
from lmcourse.data import load_corpus
from lmcourse.runtime import autocast, mixed_precision_dtype, pick_device
from lmcourse.tokenizer import load_course_tokenizer

SEED = "the notebook's own (seed_everything(0)); nanoGPT's baseline: torch.manual_seed(1337), its default"

NOTEBOOK = "solutions/03_causal_lm.ipynb"
MAX_TIME_RATIO = 0.25
MAX_RUN_SECONDS = 300.0
QUICK_START = dict(block_size=64, batch_size=12, n_layer=4, n_head=4, n_embd=128, max_iters=2000,
                   learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000,
                   eval_interval=250, eval_iters=20, weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0)


# ----------------------------------------------------------- nanoGPT's model
class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT's; the quick-start has none)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias=False)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = LayerNorm(n_embd, bias=False)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's GPT with bias=False and dropout 0; forward returns all positions' logits."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# ------------------------------------------------------- nanoGPT's training
def train_quick_start(train_ids, val_ids, vocab_size, device):
    """nanoGPT's training loop with the quick-start settings;
    (model, median seconds per step, total seconds, total CPU seconds)."""
    c = QUICK_START
    torch.manual_seed(1337)
    model = NanoGPT(vocab_size, c["block_size"], c["n_layer"], c["n_head"], c["n_embd"]).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": c["weight_decay"]},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=c["learning_rate"], betas=c["betas"], fused=device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision_dtype(device) == torch.float16)

    def get_batch(split):
        data = train_ids if split == "train" else val_ids
        ix = torch.randint(len(data) - c["block_size"], (c["batch_size"],))
        x = torch.stack([data[i:i + c["block_size"]] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + c["block_size"]] for i in ix])
        return x.to(device), y.to(device)

    def loss_of(x, y):
        with autocast(device):
            logits = model(x)
            return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-1)

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        losses = {split: float(np.mean([loss_of(*get_batch(split)).item() for _ in range(c["eval_iters"])]))
                  for split in ("train", "val")}
        model.train()
        return losses

    def get_lr(it):
        if it < c["warmup_iters"]:
            return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
        ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
        return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["learning_rate"] - c["min_lr"])

    step_seconds = []
    start, cpu_start = time.perf_counter(), time.process_time()
    x, y = get_batch("train")
    for it in range(c["max_iters"] + 1):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        if it % c["eval_interval"] == 0:
            estimate_loss()
        if it == c["max_iters"]:
            break
        step_start = time.perf_counter()
        loss = loss_of(x, y)
        x, y = get_batch("train")
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # nanoGPT logs every step (log_interval=1), which waits for the step to finish
        step_seconds.append(time.perf_counter() - step_start)
    return model, float(np.median(step_seconds)), time.perf_counter() - start, time.process_time() - cpu_start


# --------------------------------------------------------------- measuring
def matmul_flops_per_second(device, n=1024, seconds=2.0):
    """This machine's float32 matmul throughput (n x n by n x n, all threads), in FLOP/s."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n ** 3 * count / (time.perf_counter() - start)


def flops_per_token(model, n_layer, block_size, n_embd):
    """nanoGPT's estimate (model.py estimate_mfu): 6 N + 12 L T C, N counting every parameter
    but the position embedding (the tied token embedding is the output head's matmul)."""
    n_params = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n_params + 12 * n_layer * block_size * n_embd


def notebook_definitions():
    """The notebook's definitions. load_notebook_definitions compiles them under this package's
    `from __future__ import annotations` (compile() inherits it), so @dataclass sees string
    annotations and looks the namespace's module up in sys.modules: give it one."""
    name = "notebook:03_causal_lm"
    sys.modules.setdefault(name, types.ModuleType(name))
    return load_notebook_definitions(NOTEBOOK)


def notebook_settings(grading: bool = False) -> dict:
    """The values the notebook's settings cell (tagged `parameters`) assigns, with
    grading_mode() answering `grading`: by default, what a learner's Run All uses.
    (load_notebook_definitions runs that cell in grading mode, hence this.)"""
    notebook = nbformat.read(REPO / NOTEBOOK, as_version=4)
    namespace = {"grading_mode": lambda: grading}
    exec(notebook.cells[parameters_cell(notebook)].source, namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def model_and_training(settings: dict) -> tuple[dict, dict]:
    """The settings as GPTConfig's sizes and train_tiny_gpt's keywords, as the notebook's
    training cell passes them."""
    sizes = dict(block_size=settings["BLOCK_SIZE"], n_layer=settings["N_LAYER"], n_head=settings["N_HEAD"],
                 n_embd=settings["N_EMBD"])
    training = dict(batch_size=settings["BATCH_SIZE"], steps=settings["TRAINING_STEPS"],
                    warmup=settings["WARMUP_STEPS"], lr=settings["LEARNING_RATE"],
                    time_budget_s=settings["TRAINING_SECONDS"], eval_every=settings["EVAL_EVERY"],
                    eval_windows=settings["EVAL_WINDOWS"])
    return sizes, training


def throughput(name, net, step_seconds, tokens_per_step, token_bytes_mean, n_layer, block_size, n_embd, peak):
    tokens_per_second = tokens_per_step / step_seconds
    achieved = flops_per_token(net, n_layer, block_size, n_embd) * tokens_per_second
    return {"benchmark": name, "tokens_per_s": round(tokens_per_second),
            "bytes_per_s": round(tokens_per_second * token_bytes_mean),
            "matmul_fraction": f"{achieved / peak:.1%} of {peak / 1e9:.0f} GFLOP/s"}


def run() -> list[dict]:
    device = pick_device()
    notebook = notebook_definitions()
    sizes, training = model_and_training(notebook_settings())
    bits_per_byte = notebook["bits_per_byte"]
    peak = matmul_flops_per_second(device)

    train_text, val_text = load_corpus(split="train"), load_corpus(split="val")
    chars = sorted(set(train_text + val_text))
    index = {ch: i for i, ch in enumerate(chars)}
    char_train = torch.tensor([index[ch] for ch in train_text])
    char_val = torch.tensor([index[ch] for ch in val_text])
    baseline, baseline_step, baseline_seconds, baseline_cpu = train_quick_start(char_train, char_val, len(chars), device)
    baseline.eval()
    with autocast(device):
        baseline_bpb = bits_per_byte(baseline, char_val, torch.ones(len(chars), dtype=torch.long),
                                     QUICK_START["block_size"])

    tokenizer = load_course_tokenizer()
    vocab_size = tokenizer.get_vocab_size()
    train_ids = torch.tensor(tokenizer.encode(train_text).ids)
    val_ids = torch.tensor(tokenizer.encode(val_text).ids)
    token_bytes = torch.tensor([len(tokenizer.id_to_token(i)) for i in range(vocab_size)])
    bytes_per_token = len(val_text.encode("utf-8")) / len(val_ids)
    config = notebook["GPTConfig"](vocab_size=vocab_size, **sizes)

    def notebook_run() -> list[dict]:
        """One default training run of the notebook: its row and its time to the baseline's quality."""
        # The CPU time at each of the run's evaluations: train_tiny_gpt calls bits_per_byte by its name.
        eval_cpu_seconds = []

        def timed_bits_per_byte(*args, **kwargs):
            eval_cpu_seconds.append(time.process_time() - cpu_start)
            return bits_per_byte(*args, **kwargs)

        notebook["bits_per_byte"] = timed_bits_per_byte
        cpu_start = time.process_time()
        model, history = notebook["train_tiny_gpt"](config, train_ids, val_ids, token_bytes, device=device, **training)
        run_cpu = time.process_time() - cpu_start
        notebook["bits_per_byte"] = bits_per_byte
        run_seconds = history.seconds[-1]
        model.eval()
        with autocast(device):
            notebook_bpb = bits_per_byte(model, val_ids, token_bytes, config.block_size)
        eval_seconds = history.at_steps("seconds", history.eval_steps)
        evaluations = zip(eval_seconds, eval_cpu_seconds, history.eval_metrics["val_bpb"])
        reached, reached_cpu = next(((s, cpu) for s, cpu, bpb in evaluations if bpb <= baseline_bpb), (None, None))
        # The median step: steps right after an evaluation carry its time.
        notebook_step = float(np.median(np.diff([0.0, *history.seconds])))
        return [
            {**throughput("notebook 03 default run", model, notebook_step, training["batch_size"] * config.block_size,
                          bytes_per_token, config.n_layer, config.block_size, config.n_embd, peak),
             "steps": history.steps[-1], "seconds": run_seconds, "cpu_seconds": run_cpu, "val_bpb": notebook_bpb,
             "target": f"<= {MAX_RUN_SECONDS:.0f} s", "ok": run_seconds <= MAX_RUN_SECONDS},
            {"benchmark": "time to the baseline's final val bpb",
             "seconds": reached if reached is not None else float("nan"),
             "baseline": "nanoGPT CPU quick-start", "baseline_seconds": baseline_seconds,
             "ratio": reached / baseline_seconds if reached is not None else float("nan"),
             "cpu_ratio": reached_cpu / baseline_cpu if reached is not None else float("nan"),
             "target": f"<= {MAX_TIME_RATIO}x baseline",
             "ok": reached is not None and bool(reached <= MAX_TIME_RATIO * baseline_seconds)},
        ]

    c = QUICK_START
    return [
        {**throughput("nanoGPT CPU quick-start (baseline)", baseline, baseline_step, c["batch_size"] * c["block_size"],
                      1.0, c["n_layer"], c["block_size"], c["n_embd"], peak),
         "steps": c["max_iters"], "seconds": baseline_seconds, "cpu_seconds": baseline_cpu, "val_bpb": baseline_bpb,
         "val_nats_per_char": baseline_bpb * math.log(2)},
        *merge_runs([notebook_run() for _ in range(RUNS)]),
    ]
