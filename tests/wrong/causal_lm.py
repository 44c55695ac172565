"""Notebook 03: plain correct implementations, written apart from the solution
notebook in other styles a student plausibly picks, and wrong ones that each
make one mistake a student plausibly makes. Every source replaces a whole
"<name>_code" cell, so it imports what it needs itself. ATTENTION is not an
exercise here (notebook 02 grades it): its wrong version shows that a broken
`attention` costs nothing in notebook 03."""
from . import mutate

CAUSAL_MASK = '''
import torch

def causal_mask(T):
    positions = torch.arange(T)
    return positions[:, None] >= positions[None, :]
'''

NEXT_TOKEN_TARGETS = '''
def next_token_targets(ids):
    T = ids.size(1) - 1
    return ids.narrow(1, 0, T), ids.narrow(1, 1, T)
'''

CLM_LOSS = '''
import torch

def clm_loss(logits, targets):
    counted = targets != -100
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * counted).sum() / counted.sum()
'''

# nanoGPT-like in spirit but not in letter: heads with permute, positions
# sliced from the table, the tied head as a matmul with the embedding.
TINY_GPT = '''
import math
import torch
import torch.nn as nn

class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        qkv = self.c_attn(x).reshape(B, T, 3, self.n_head, hs).permute(2, 0, 3, 1, 4)
        y = attention(qkv[0], qkv[1], qkv[2], causal_mask(T).to(x.device))
        return self.c_proj(y.permute(0, 2, 1, 3).reshape(B, T, C))

class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))

class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        h = x + self.attn(self.ln_1(x))
        return h + self.mlp(self.ln_2(h))

class TinyGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        T = idx.shape[1]
        h = self.wte(idx) + self.wpe.weight[:T]
        for block in self.blocks:
            h = block(h)
        return self.ln_f(h) @ self.wte.weight.T
'''

# The descending formulation of top-p (transformers' older top_k_top_p_filtering):
# remove a token once the tokens ranked before it reach p.
FILTER_LOGITS = '''
import torch

def filter_logits(logits, top_k=None, top_p=None):
    logits = logits.clone()
    if top_k is not None and top_k < logits.size(-1):
        threshold = logits.sort(dim=-1, descending=True).values[:, top_k - 1:top_k]
        logits[logits < threshold] = float("-inf")
    if top_p is not None:
        descending, order = logits.sort(dim=-1, descending=True)
        cumulative = descending.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative >= top_p
        remove[:, 1:] = remove[:, :-1].clone()
        remove[:, 0] = False
        for row in range(logits.size(0)):
            logits[row, order[row][remove[row]]] = float("-inf")
    return logits
'''

GENERATE = '''
import torch

def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, greedy=False, generator=None):
    with torch.no_grad():
        for _ in range(max_new_tokens):
            start = max(0, idx.size(1) - model.config.block_size)
            last = model(idx[:, start:])[:, -1]
            if greedy:
                next_id = torch.topk(last, 1).indices
            else:
                weights = torch.softmax(filter_logits(last / temperature, top_k=top_k, top_p=top_p), dim=-1)
                next_id = torch.multinomial(weights, 1, generator=generator)
            idx = torch.cat((idx, next_id), dim=1)
    return idx
'''

CORRECT = {
    "causal_mask": CAUSAL_MASK,
    "next_token_targets": NEXT_TOKEN_TARGETS,
    "clm_loss": CLM_LOSS,
    "TinyGPT": TINY_GPT,
    "filter_logits": FILTER_LOGITS,
    "generate": GENERATE,
}

# Scores and softmax over the wrong axis: each query's weights sum to one over
# the queries, not the keys.
ATTENTION_SOFTMAX_OVER_QUERIES = '''
import math
import torch

def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-2).nan_to_num(0.0) @ v
'''

WRONG = {
    "causal_mask": {
        "transposed (the upper triangle)": mutate(CAUSAL_MASK, {"positions[:, None] >= positions[None, :]":
                                                                "positions[:, None] <= positions[None, :]"}),
        "diagonal excluded": mutate(CAUSAL_MASK, {">=": ">"}),
        "a float mask": mutate(CAUSAL_MASK, {"return positions[:, None] >= positions[None, :]":
                                             "return (positions[:, None] >= positions[None, :]).float()"}),
    },
    "next_token_targets": {
        "targets not shifted": mutate(NEXT_TOKEN_TARGETS, {"ids.narrow(1, 1, T)": "ids.narrow(1, 0, T)"}),
        "inputs and targets swapped": "def next_token_targets(ids):\n    return ids[:, 1:], ids[:, :-1]\n",
        "shifted along the batch": "def next_token_targets(ids):\n    return ids[:-1], ids[1:]\n",
    },
    "clm_loss": {
        "ignored positions counted in the mean": mutate(CLM_LOSS, {"/ counted.sum()": "/ targets.numel()"}),
        "summed, not averaged": mutate(CLM_LOSS, {"-(picked * counted).sum() / counted.sum()": "-(picked * counted).sum()"}),
        "log-softmax over time, not the vocabulary": mutate(CLM_LOSS, {"torch.log_softmax(logits, dim=-1)":
                                                                       "torch.log_softmax(logits, dim=1)"}),
        "-100 not ignored": "import torch.nn.functional as F\n\ndef clm_loss(logits, targets):\n"
                            "    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)\n",
    },
    "TinyGPT": {
        "mask transposed": mutate(TINY_GPT, {"causal_mask(T).to(x.device)": "causal_mask(T).T.to(x.device)"}),
        "untied head": mutate(TINY_GPT, {"        self.lm_head.weight = self.wte.weight\n": "",
                                         "return self.ln_f(h) @ self.wte.weight.T": "return self.lm_head(self.ln_f(h))"}),
        "no position embedding": mutate(TINY_GPT, {"h = self.wte(idx) + self.wpe.weight[:T]": "h = self.wte(idx)"}),
        "post-LN, as BERT": mutate(TINY_GPT, {"h = x + self.attn(self.ln_1(x))\n        return h + self.mlp(self.ln_2(h))":
                                              "h = self.ln_1(x + self.attn(x))\n        return self.ln_2(h + self.mlp(h))"}),
        "exact GELU, not GPT-2's tanh": mutate(TINY_GPT, {'nn.GELU(approximate="tanh")': "nn.GELU()"}),
    },
    "filter_logits": {
        "top-p keeps one token too few": mutate(FILTER_LOGITS, {"        remove[:, 1:] = remove[:, :-1].clone()\n"
                                                                "        remove[:, 0] = False\n": ""}),
        "top-p keeps a token whose likelier tokens reach p exactly": mutate(FILTER_LOGITS, {
            "remove = cumulative >= top_p": "remove = cumulative > top_p"}),
        "top-k drops the ties with the k-th": mutate(FILTER_LOGITS, {
            "        threshold = logits.sort(dim=-1, descending=True).values[:, top_k - 1:top_k]\n"
            "        logits[logits < threshold] = float(\"-inf\")\n":
            "        dropped = logits.sort(dim=-1, descending=True).indices[:, top_k:]\n"
            "        logits.scatter_(-1, dropped, float(\"-inf\"))\n"}),
        "top-p before top-k": '''
import torch

def filter_logits(logits, top_k=None, top_p=None):
    if top_p is not None:
        ascending, order = torch.sort(logits)
        remove = ascending.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
        remove[..., -1] = False
        logits = logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits
''',
        "removed tokens set to 0, not -inf": mutate(FILTER_LOGITS, {
            'logits[logits < threshold] = float("-inf")': "logits[logits < threshold] = 0.0",
            'logits[row, order[row][remove[row]]] = float("-inf")': "logits[row, order[row][remove[row]]] = 0.0"}),
    },
    "generate": {
        "temperature applied after the softmax": mutate(GENERATE, {
            "weights = torch.softmax(filter_logits(last / temperature, top_k=top_k, top_p=top_p), dim=-1)":
            "weights = torch.softmax(filter_logits(last, top_k=top_k, top_p=top_p), dim=-1) / temperature"}),
        "the generator ignored": mutate(GENERATE, {"torch.multinomial(weights, 1, generator=generator)":
                                                   "torch.multinomial(weights, 1)"}),
        "no cropping to block_size": mutate(GENERATE, {"start = max(0, idx.size(1) - model.config.block_size)": "start = 0"}),
        "the filters ignored": mutate(GENERATE, {"filter_logits(last / temperature, top_k=top_k, top_p=top_p)":
                                                 "last / temperature"}),
        "only the new tokens returned": mutate(GENERATE, {"    return idx\n": "    return idx[:, -max_new_tokens:]\n"}),
    },
}
