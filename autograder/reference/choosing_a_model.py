"""Trusted references for notebook 05 (choosing a model), computed in the
grader's own process: sentence-transformers' mean pooling, cosine top-k by
torch, and transformers' own parameter count. No stand-ins: every exercise
here stands alone."""
import torch
import torch.nn.functional as F


def mean_pool(hidden_states, attention_mask):
    """sentence-transformers' mean pooling (models.Pooling, pooling_mode_mean_tokens), as
    all-MiniLM-L6-v2's model card writes it: the sum of the vectors at real tokens over their
    count, the count clamped at 1e-9, so a row with no real token gives zeros."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def cosine_similarities(queries, keys):
    """(Q, N) cosine similarities, as sentence_transformers.util.cos_sim: each row normalised
    by torch.nn.functional.normalize (eps 1e-12), so a zero vector has similarity 0."""
    return F.normalize(queries, dim=-1) @ F.normalize(keys, dim=-1).T


def nearest_neighbours(queries, keys, k):
    """The k largest cosine similarities per query, in descending order, ties to the lower
    key index (a stable sort): (scores (Q, k), indices (Q, k) long)."""
    scores = cosine_similarities(queries, keys)
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k]
    return scores.gather(-1, order), order


def bert_parameters(sizes: dict) -> int:
    """transformers.BertModel(BertConfig(**sizes)).num_parameters(), the pooler included,
    built on the meta device: no memory is allocated, so any size can be counted."""
    from lmcourse.hf_models import _IMPORT_LOCK
    with _IMPORT_LOCK:
        from transformers import BertConfig, BertModel
    with torch.device("meta"):
        return BertModel(BertConfig(**sizes)).num_parameters()


def parameter_formula(vocab_size, hidden_size, num_hidden_layers, intermediate_size, max_position_embeddings,
                      type_vocab_size) -> int:
    """The same count from the sizes: embeddings (token, position, token type, LayerNorm),
    each layer (query, key, value and output projections, two LayerNorms, the two MLP
    layers, biases included), then the pooler's dense layer."""
    H, I = hidden_size, intermediate_size
    embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * H + 2 * H
    layer = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
    return embeddings + num_hidden_layers * layer + H * H + H
