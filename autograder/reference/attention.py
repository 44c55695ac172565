"""Scaled dot-product attention, the trusted reference for notebooks 02-04."""


def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d)) v over [..., T, d]; `mask` is boolean,
    broadcastable to [..., Tq, Tk], True where attending is allowed. A query
    row with nothing allowed returns zeros (a padding query attends nowhere)."""
    import math

    import torch
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))     # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)      # all -inf rows -> 0
    return weights @ v                                           # (..., Tq, d)


STANDINS = [attention]
