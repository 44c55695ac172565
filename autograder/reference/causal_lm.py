"""Trusted stand-ins for notebook 03 (causal LM). Each is self-contained (its
imports inside) because its source is sent into the worker: `causal_mask` and
`filter_logits` replace the student's while the exercises built on them are
checked, and `reference_tiny_gpt` gives `generate` a model known to be right."""


def causal_mask(T):
    """Boolean (T, T), True where query i may attend to key j, that is j <= i."""
    import torch
    return torch.ones(T, T, dtype=torch.bool).tril()


def filter_logits(logits, top_k=None, top_p=None):
    """transformers' TopKLogitsWarper then TopPLogitsWarper (min_tokens_to_keep=1) on
    (B, V) logits: removed entries become -inf."""
    import torch
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1))).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))   # ties with the k-th stay
    if top_p is not None:
        ascending, order = torch.sort(logits, descending=False)
        cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= 1 - top_p
        remove_sorted[..., -1:] = False                                    # keep the most likely token
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def reference_tiny_gpt(vocab_size, block_size, n_layer, n_head, n_embd):
    """A GPT-2 (pre-LN blocks, learned positions, tanh GELU, tied head) with the
    notebook's TinyGPT parameter names and its `config` attribute, float32,
    weights to be loaded by the caller."""
    import math
    import types

    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_head = n_head  # as the notebook's given __init__: a learner's KV cache reads it
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                       for t in self.c_attn(x).split(C, dim=2))
            scores = q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head)
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            y = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(n_embd, 4 * n_embd)
            self.gelu = nn.GELU(approximate="tanh")
            self.c_proj = nn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn = nn.LayerNorm(n_embd), Attention()
            self.ln_2, self.mlp = nn.LayerNorm(n_embd), MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = types.SimpleNamespace(vocab_size=vocab_size, block_size=block_size,
                                                n_layer=n_layer, n_head=n_head, n_embd=n_embd)
            self.wte = nn.Embedding(vocab_size, n_embd)
            self.wpe = nn.Embedding(block_size, n_embd)
            self.blocks = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
            for block in self.blocks:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


STANDINS = [causal_mask, filter_logits, reference_tiny_gpt]
