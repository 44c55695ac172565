"""Notebook 05: plain correct implementations, and wrong ones that each make
one mistake a student plausibly makes. Every source replaces a whole
"<name>_code" cell, so it imports what it needs itself."""
from . import mutate

# Correct: a float mask, and the count clamped with max() instead of clamp().
MEAN_POOL = '''
import torch

def mean_pool(hidden_states, attention_mask):
    weights = attention_mask.to(hidden_states.dtype).unsqueeze(-1)     # (B, T, 1)
    total = (hidden_states * weights).sum(dim=1)
    count = torch.maximum(weights.sum(dim=1), torch.tensor(1e-9, dtype=hidden_states.dtype))
    return total / count
'''

# Correct: torch's own cosine_similarity (eps 1e-8), then a stable descending sort.
NEAREST_NEIGHBOURS = '''
import torch
import torch.nn.functional as F

def nearest_neighbours(queries, keys, k):
    scores = F.cosine_similarity(queries[:, None, :], keys[None, :, :], dim=-1)    # (Q, N)
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[:, :k]
    return torch.gather(scores, 1, order), order
'''

# Correct: the sizes added up piece by piece, as modules.
COUNT_BERT_PARAMETERS = '''
def count_bert_parameters(config):
    def linear(n_in, n_out):
        return n_in * n_out + n_out

    H, I = config.hidden_size, config.intermediate_size
    layer_norm = 2 * H
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * H + layer_norm
    attention = 4 * linear(H, H) + layer_norm
    mlp = linear(H, I) + linear(I, H) + layer_norm
    pooler = linear(H, H)
    return embeddings + config.num_hidden_layers * (attention + mlp) + pooler
'''

TRAINING_FLOPS = '''
def training_flops(n_params, n_tokens):
    forward, backward = 2, 4     # multiply-adds per parameter and token
    return float((forward + backward) * n_params * n_tokens)
'''

CORRECT = {"mean_pool": MEAN_POOL, "nearest_neighbours": NEAREST_NEIGHBOURS,
           "count_bert_parameters": COUNT_BERT_PARAMETERS, "training_flops": TRAINING_FLOPS}

WRONG = {
    "mean_pool": {
        "the mean over every position, padding included": '''
def mean_pool(hidden_states, attention_mask):
    return hidden_states.mean(dim=1)
''',
        "padding zeroed, but the sum divided by the padded length": mutate(MEAN_POOL, {
            "count = torch.maximum(weights.sum(dim=1), torch.tensor(1e-9, dtype=hidden_states.dtype))":
            "count = hidden_states.size(1)"}),
        "a row of padding only gives NaN (0 / 0)": mutate(MEAN_POOL, {
            "count = torch.maximum(weights.sum(dim=1), torch.tensor(1e-9, dtype=hidden_states.dtype))":
            "count = weights.sum(dim=1)"}),
        "the [CLS] vector, not the mean": '''
def mean_pool(hidden_states, attention_mask):
    return hidden_states[:, 0].clone()
''',
    },
    "nearest_neighbours": {
        "dot product, not cosine": '''
import torch

def nearest_neighbours(queries, keys, k):
    scores = queries @ keys.T
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[:, :k]
    return torch.gather(scores, 1, order), order
''',
        "ties to the higher index": mutate(NEAREST_NEIGHBOURS, {
            "order = torch.argsort(scores, dim=-1, descending=True, stable=True)[:, :k]":
            "order = torch.argsort(scores, dim=-1, stable=True).flip(-1)[:, :k]"}),
        "a zero vector gives NaN (divided by its norm, 0)": '''
import torch

def nearest_neighbours(queries, keys, k):
    queries = queries / queries.norm(dim=-1, keepdim=True)
    keys = keys / keys.norm(dim=-1, keepdim=True)
    scores = queries @ keys.T
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[:, :k]
    return torch.gather(scores, 1, order), order
''',
        "only the keys normalised": '''
import torch
import torch.nn.functional as F

def nearest_neighbours(queries, keys, k):
    scores = queries @ F.normalize(keys, dim=-1).T
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[:, :k]
    return torch.gather(scores, 1, order), order
''',
    },
    "count_bert_parameters": {
        "no LayerNorm parameters": mutate(COUNT_BERT_PARAMETERS, {"layer_norm = 2 * H": "layer_norm = 0"}),
        "no pooler": mutate(COUNT_BERT_PARAMETERS, {"pooler = linear(H, H)": "pooler = 0"}),
        "no token-type embeddings": mutate(COUNT_BERT_PARAMETERS, {
            "(config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * H":
            "(config.vocab_size + config.max_position_embeddings) * H"}),
        "an MLP 4 x hidden_size wide, whatever intermediate_size says": mutate(COUNT_BERT_PARAMETERS, {
            "H, I = config.hidden_size, config.intermediate_size": "H = config.hidden_size\n    I = 4 * H"}),
        "the model built and counted (too big for the largest config)": '''
from transformers import BertModel

def count_bert_parameters(config):
    return BertModel(config).num_parameters()
''',
    },
    "training_flops": {
        "2 N D: the forward pass only": mutate(TRAINING_FLOPS, {"forward, backward = 2, 4": "forward, backward = 2, 0"}),
        "4 N D: the backward pass counted once, as the forward": mutate(TRAINING_FLOPS, {
            "forward, backward = 2, 4": "forward, backward = 2, 2"}),
        "6 N + D": '''
def training_flops(n_params, n_tokens):
    return float(6 * n_params + n_tokens)
''',
    },
}
