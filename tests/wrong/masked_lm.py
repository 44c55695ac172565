"""Notebook 02: plain correct implementations, and wrong ones that each make
one mistake a student plausibly makes. Every source replaces a whole
"<name>_code" cell, so it imports what it needs itself (the TinyBert cell
also carries the classes whose __init__ the notebook gives)."""
from . import mutate

# Correct, but draws its random numbers in another order than transformers
# does: one uniform number per position decides mask / random / keep.
MASK_TOKENS = '''
import torch

def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15,
                generator=None):
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~special_tokens_mask
    fate = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(0, vocab_size, input_ids.shape, generator=generator)
    inputs = torch.where(chosen & (fate < 0.8), torch.full_like(input_ids, mask_token_id), input_ids)
    inputs = torch.where(chosen & (fate >= 0.8) & (fate < 0.9), random_ids, inputs)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    return inputs, labels
'''

# Correct, with a large negative number for the mask and an explicit guard
# for query rows that may attend nowhere.
ATTENTION = '''
import math
import torch

def attention(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(k.shape[-1])
    if mask is None:
        return torch.softmax(scores, dim=-1) @ v
    mask = mask.expand(scores.shape)
    weights = torch.softmax(scores.masked_fill(~mask, -1e30), dim=-1)
    weights = weights * mask.any(dim=-1, keepdim=True)
    return weights @ v
'''

TINYBERT = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x, mask=None):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = (layer(x).reshape(B, T, self.n_head, hs).permute(0, 2, 1, 3)
                   for layer in (self.query, self.key, self.value))
        y = attention(q, k, v, mask)
        return self.proj(y.permute(0, 2, 1, 3).reshape(B, T, C))


class FeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, config.n_inner)
        self.proj = nn.Linear(config.n_inner, config.n_embd)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class EncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = SelfAttention(config)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, mask=None):
        attended = self.ln_1(x + self.drop(self.attn(x, mask)))
        return self.ln_2(attended + self.drop(self.mlp(attended)))


class MLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.n_embd, config.n_embd)
        self.ln = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, h, embedding_weight):
        return F.linear(self.ln(F.gelu(self.dense(h))), embedding_weight, self.bias)


class TinyBert(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.ln_emb = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([EncoderLayer(config) for _ in range(config.n_layer)])
        self.head = MLMHead(config)

    def encode(self, idx, attention_mask=None):
        positions = torch.arange(idx.shape[1], device=idx.device)[None, :]
        x = self.drop(self.ln_emb(self.tok_emb(idx) + self.pos_emb(positions)))
        mask = None
        if attention_mask is not None:
            mask = attention_mask.bool().unsqueeze(1).unsqueeze(2)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def forward(self, idx, attention_mask=None):
        return self.head(self.encode(idx, attention_mask), self.tok_emb.weight)
'''

MLM_LOSS = '''
import torch
import torch.nn.functional as F

def mlm_loss(logits, labels):
    chosen = labels != -100
    if not chosen.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[chosen], labels[chosen])
'''

CORRECT = {"mask_tokens": MASK_TOKENS, "attention": ATTENTION, "TinyBert": TINYBERT, "mlm_loss": MLM_LOSS}

WRONG = {
    "mask_tokens": {
        "special tokens can be chosen": mutate(MASK_TOKENS, {" & ~special_tokens_mask": ""}),
        "90/10 split, nothing left unchanged": mutate(MASK_TOKENS, {"(fate < 0.9)": "(fate < 1.0)",
                                                                    "(fate < 0.8)": "(fate < 0.9)"}),
        "labels kept at unchosen positions": mutate(MASK_TOKENS, {
            "labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))": "labels = input_ids.clone()"}),
        "random ids exclude the last id": mutate(MASK_TOKENS, {"randint(0, vocab_size,": "randint(0, vocab_size - 1,"}),
        "the generator is ignored": MASK_TOKENS.replace(", generator=generator)", ")"),
        "input_ids masked in place": '''
import torch

def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15,
                generator=None):
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~special_tokens_mask
    fate = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(0, vocab_size, input_ids.shape, generator=generator)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    inputs = input_ids  # no clone: the caller's tensor is masked
    inputs[chosen & (fate < 0.8)] = mask_token_id
    randomised = chosen & (fate >= 0.8) & (fate < 0.9)
    inputs[randomised] = random_ids[randomised]
    return inputs, labels
''',
        "a fixed number chosen per row": '''
import torch

def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15,
                generator=None):
    inputs, labels = input_ids.clone(), torch.full_like(input_ids, -100)
    for row in range(input_ids.shape[0]):
        candidates = (~special_tokens_mask[row]).nonzero().flatten()
        count = round(len(candidates) * mlm_probability)
        picked = candidates[torch.randperm(len(candidates), generator=generator)[:count]]
        labels[row, picked] = input_ids[row, picked]
        fate = torch.rand(count, generator=generator)
        inputs[row, picked[fate < 0.8]] = mask_token_id
        randomised = picked[(fate >= 0.8) & (fate < 0.9)]
        inputs[row, randomised] = torch.randint(vocab_size, (len(randomised),), generator=generator)
    return inputs, labels
''',
    },
    "attention": {
        "mask inverted": mutate(ATTENTION, {"masked_fill(~mask,": "masked_fill(mask,",
                                            "weights * mask.any(": "weights * (~mask).any("}),
        "not scaled by sqrt(d)": mutate(ATTENTION, {" / math.sqrt(k.shape[-1])": ""}),
        "NaN for a query that attends nowhere": '''
import math
import torch

def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
''',
        "softmax over the queries": mutate(ATTENTION, {"torch.softmax(scores, dim=-1) @ v": "torch.softmax(scores, dim=-2) @ v",
                                                       "masked_fill(~mask, -1e30), dim=-1)": "masked_fill(~mask, -1e30), dim=-2)"}),
    },
    "TinyBert": {
        "pre-LN instead of post-LN": mutate(TINYBERT, {
            "attended = self.ln_1(x + self.drop(self.attn(x, mask)))\n"
            "        return self.ln_2(attended + self.drop(self.mlp(attended)))":
            "attended = x + self.drop(self.attn(self.ln_1(x), mask))\n"
            "        return attended + self.drop(self.mlp(self.ln_2(attended)))"}),
        "no LayerNorm on the embeddings": mutate(TINYBERT, {
            "self.drop(self.ln_emb(self.tok_emb(idx) + self.pos_emb(positions)))":
            "self.drop(self.tok_emb(idx) + self.pos_emb(positions))"}),
        "padding mask ignored": mutate(TINYBERT, {"x = layer(x, mask)": "x = layer(x)"}),
        "tanh approximation of GELU in the MLM head": mutate(TINYBERT, {
            "self.ln(F.gelu(self.dense(h)))": "self.ln(F.gelu(self.dense(h), approximate='tanh'))"}),
        "heads split the wrong way": mutate(TINYBERT, {
            "layer(x).reshape(B, T, self.n_head, hs).permute(0, 2, 1, 3)": "layer(x).reshape(B, self.n_head, T, hs)"}),
    },
    "mlm_loss": {
        "averaged over all positions": '''
import torch.nn.functional as F

def mlm_loss(logits, labels):
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                             ignore_index=-100, reduction="none")
    return losses.mean()
''',
        "NaN when nothing is chosen": '''
import torch.nn.functional as F

def mlm_loss(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
''',
        "returns a Python float": mutate(MLM_LOSS, {"return F.cross_entropy(logits[chosen], labels[chosen])":
                                                    "return F.cross_entropy(logits[chosen], labels[chosen]).item()"}),
    },
}
