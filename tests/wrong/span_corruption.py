"""Notebook 04: plain correct implementations, and wrong ones that each make
one mistake a student plausibly makes. Every source replaces a whole
"<name>_code" cell, so it imports what it needs itself (the TinySeq2Seq cell
also carries the classes whose __init__ the notebook gives)."""
from . import mutate

# Correct: T5's own way, a shuffled row of cut markers (the solution picks the
# cut positions with randperm instead).
RANDOM_SPANS_NOISE_MASK = '''
import torch

def random_spans_noise_mask(length, noise_density=0.15, mean_noise_span_length=3.0, generator=None):
    orig_length = length
    length = max(length, 2)
    num_noise_tokens = round(length * noise_density)
    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
    num_noise_spans = max(round(num_noise_tokens / mean_noise_span_length), 1)
    num_nonnoise_tokens = length - num_noise_tokens

    def segment(num_items, num_segments):
        markers = torch.tensor([1] * (num_segments - 1) + [0] * (num_items - num_segments), dtype=torch.long)
        markers = markers[torch.randperm(num_items - 1, generator=generator)]
        starts = torch.cat([torch.zeros(1, dtype=torch.long), markers])
        return torch.bincount(torch.cumsum(starts, 0), minlength=num_segments).tolist()

    noise = segment(num_noise_tokens, num_noise_spans)
    kept = segment(num_nonnoise_tokens, num_noise_spans)
    mask = []
    for n_kept, n_noise in zip(kept, noise):
        mask += [False] * n_kept + [True] * n_noise
    return torch.tensor(mask[:orig_length], dtype=torch.bool)
'''

# Correct: a loop over the tokens.
SPAN_CORRUPT = '''
import torch

def span_corrupt(ids, noise_mask, sentinel_ids, eos_id):
    def replace_runs(mask):
        out, runs, previous = [], 0, False
        for token, hidden in zip(ids.tolist(), mask.tolist()):
            if hidden and not previous:
                out.append(sentinel_ids[runs])
                runs += 1
            elif not hidden:
                out.append(token)
            previous = hidden
        return torch.tensor(out + [eos_id], dtype=torch.long)

    return replace_runs(noise_mask), replace_runs(~noise_mask)
'''

# Correct: counts up from zero raw tokens instead of starting at inputs_length - 1.
COMPUTE_INPUT_AND_TARGET_LENGTHS = '''
def compute_input_and_target_lengths(inputs_length, noise_density, mean_noise_span_length):
    def corrupted(tokens):
        noise = int(round(tokens * noise_density))
        spans = int(round(noise / mean_noise_span_length))
        return tokens - noise + spans + 1, noise + spans + 1

    tokens = 1
    while corrupted(tokens + 1)[0] <= inputs_length:
        tokens += 1
    inputs, targets = corrupted(tokens)
    if noise_density == 0.5 and targets > inputs:
        return tokens - 1, targets - 1
    return tokens, targets
'''

# Correct: heads split by reshape and permute, the causal mask built by comparing positions.
TINYSEQ2SEQ = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def split(self, t):
        return t.reshape(t.shape[0], t.shape[1], self.n_head, -1).permute(0, 2, 1, 3)

    def forward(self, x, context, mask):
        y = attention(self.split(self.query(x)), self.split(self.key(context)), self.split(self.value(context)), mask)
        return self.proj(y.permute(0, 2, 1, 3).flatten(2))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class EncoderBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.self_attn = MultiHeadAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.self_attn(h, h, mask)
        return x + self.mlp(self.ln_2(x))


class DecoderBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.self_attn = MultiHeadAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.cross_attn = MultiHeadAttention(config)
        self.ln_3 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, memory, self_mask, memory_mask):
        normed = self.ln_1(x)
        x = x + self.self_attn(normed, normed, self_mask)
        normed = self.ln_2(x)
        x = x + self.cross_attn(normed, memory, memory_mask)
        return x + self.mlp(self.ln_3(x))


class TinySeq2Seq(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.encoder_positions = nn.Embedding(config.block_size, config.n_embd)
        self.decoder_positions = nn.Embedding(config.block_size, config.n_embd)
        self.encoder_blocks = nn.ModuleList([EncoderBlock(config) for _ in range(config.n_layer)])
        self.encoder_norm = nn.LayerNorm(config.n_embd)
        self.decoder_blocks = nn.ModuleList([DecoderBlock(config) for _ in range(config.n_layer)])
        self.decoder_norm = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight

    def encode(self, input_ids):
        keys_allowed = (input_ids != self.config.pad_id)[:, None, None, :]
        x = self.token_embedding(input_ids) + self.encoder_positions.weight[:input_ids.shape[1]]
        for block in self.encoder_blocks:
            x = block(x, keys_allowed)
        return self.encoder_norm(x)

    def decode(self, decoder_input_ids, memory, input_ids):
        T = decoder_input_ids.shape[1]
        positions = torch.arange(T, device=decoder_input_ids.device)
        self_mask = positions[None, :] <= positions[:, None]
        memory_mask = (input_ids != self.config.pad_id).view(input_ids.shape[0], 1, 1, -1)
        y = self.token_embedding(decoder_input_ids) + self.decoder_positions(positions)
        for block in self.decoder_blocks:
            y = block(y, memory, self_mask, memory_mask)
        return self.lm_head(self.decoder_norm(y))

    def forward(self, input_ids, decoder_input_ids):
        return self.decode(decoder_input_ids, self.encode(input_ids), input_ids)
'''

# Correct: keeps a Python list per row.
GREEDY_DECODE = '''
import torch

@torch.no_grad()
def greedy_decode(model, input_ids, max_len, start_id, eos_id):
    memory = model.encode(input_ids)
    rows = [[start_id] for _ in range(input_ids.shape[0])]
    while len(rows[0]) <= max_len and not all(eos_id in row[1:] for row in rows):
        logits = model.decode(torch.tensor(rows, device=input_ids.device), memory, input_ids)
        best = logits[:, -1, :].argmax(-1).tolist()
        for row, token in zip(rows, best):
            row.append(eos_id if eos_id in row[1:] else token)
    return torch.tensor([row[1:] for row in rows], dtype=torch.long)
'''

CORRECT = {"random_spans_noise_mask": RANDOM_SPANS_NOISE_MASK, "span_corrupt": SPAN_CORRUPT,
           "compute_input_and_target_lengths": COMPUTE_INPUT_AND_TARGET_LENGTHS,
           "TinySeq2Seq": TINYSEQ2SEQ, "greedy_decode": GREEDY_DECODE}

WRONG = {
    "random_spans_noise_mask": {
        "spans counted as in transformers' Flax example": mutate(RANDOM_SPANS_NOISE_MASK, {
            "round(num_noise_tokens / mean_noise_span_length)":
            "round(min(num_noise_tokens, num_nonnoise_tokens) / mean_noise_span_length)",
            "    num_nonnoise_tokens = length - num_noise_tokens\n": "",
            "    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)\n":
            "    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)\n"
            "    num_nonnoise_tokens = length - num_noise_tokens\n"}),
        "rounds half up": mutate(RANDOM_SPANS_NOISE_MASK, {
            "num_noise_tokens = round(length * noise_density)": "num_noise_tokens = int(length * noise_density + 0.5)"}),
        "starts with a noise span": mutate(RANDOM_SPANS_NOISE_MASK, {
            "mask += [False] * n_kept + [True] * n_noise": "mask += [True] * n_noise + [False] * n_kept"}),
        "noise spans of equal length": mutate(RANDOM_SPANS_NOISE_MASK, {
            "    noise = segment(num_noise_tokens, num_noise_spans)\n":
            "    noise = [num_noise_tokens // num_noise_spans + (i < num_noise_tokens % num_noise_spans)\n"
            "             for i in range(num_noise_spans)]\n"}),
        "the generator is ignored": mutate(RANDOM_SPANS_NOISE_MASK, {
            "torch.randperm(num_items - 1, generator=generator)": "torch.randperm(num_items - 1)"}),
    },
    "span_corrupt": {
        "sentinels counting up": mutate(SPAN_CORRUPT, {"out.append(sentinel_ids[runs])": "out.append(sentinel_ids[0] + runs)"}),
        "no EOS": mutate(SPAN_CORRUPT, {"torch.tensor(out + [eos_id]": "torch.tensor(out"}),
        "target is each sentinel and its hidden span": '''
import torch

def span_corrupt(ids, noise_mask, sentinel_ids, eos_id):
    inputs, targets, runs, previous = [], [], 0, False
    for token, hidden in zip(ids.tolist(), noise_mask.tolist()):
        if hidden and not previous:
            inputs.append(sentinel_ids[runs])
            targets.append(sentinel_ids[runs])
            runs += 1
        if hidden:
            targets.append(token)
        else:
            inputs.append(token)
        previous = hidden
    return torch.tensor(inputs + [eos_id]), torch.tensor(targets + [eos_id])
''',
        "one sentinel per hidden token": mutate(SPAN_CORRUPT, {"if hidden and not previous:": "if hidden:"}),
    },
    "compute_input_and_target_lengths": {
        "no EOS counted": mutate(COMPUTE_INPUT_AND_TARGET_LENGTHS, {
            "return tokens - noise + spans + 1, noise + spans + 1": "return tokens - noise + spans, noise + spans"}),
        "T5's density-0.5 correction left out": mutate(COMPUTE_INPUT_AND_TARGET_LENGTHS, {
            "if noise_density == 0.5 and targets > inputs:": "if False:"}),
        "one raw token too many": mutate(COMPUTE_INPUT_AND_TARGET_LENGTHS, {
            "while corrupted(tokens + 1)[0] <= inputs_length:": "while corrupted(tokens)[0] <= inputs_length:"}),
    },
    "TinySeq2Seq": {
        "decoder self-attention not causal": mutate(TINYSEQ2SEQ, {
            "self_mask = positions[None, :] <= positions[:, None]": "self_mask = None"}),
        "cross-attention over the encoder's padding": mutate(TINYSEQ2SEQ, {
            "x = x + self.cross_attn(normed, memory, memory_mask)": "x = x + self.cross_attn(normed, memory, None)"}),
        "cross-attention with the causal mask": mutate(TINYSEQ2SEQ, {
            "x = x + self.cross_attn(normed, memory, memory_mask)": "x = x + self.cross_attn(normed, memory, self_mask)"}),
        "cross-attention reads the decoder, not the memory": mutate(TINYSEQ2SEQ, {
            "x = x + self.cross_attn(normed, memory, memory_mask)": "x = x + self.cross_attn(normed, normed, self_mask)"}),
        "post-LN decoder block": mutate(TINYSEQ2SEQ, {
            "        normed = self.ln_1(x)\n"
            "        x = x + self.self_attn(normed, normed, self_mask)\n"
            "        normed = self.ln_2(x)\n"
            "        x = x + self.cross_attn(normed, memory, memory_mask)\n"
            "        return x + self.mlp(self.ln_3(x))":
            "        x = self.ln_1(x + self.self_attn(x, x, self_mask))\n"
            "        x = self.ln_2(x + self.cross_attn(x, memory, memory_mask))\n"
            "        return self.ln_3(x + self.mlp(x))"}),
    },
    "greedy_decode": {
        "the start token kept": mutate(GREEDY_DECODE, {"torch.tensor([row[1:] for row in rows]": "torch.tensor(rows"}),
        "ended rows keep writing": mutate(GREEDY_DECODE, {"row.append(eos_id if eos_id in row[1:] else token)":
                                                          "row.append(token)"}),
        "always max_len tokens": mutate(GREEDY_DECODE, {" and not all(eos_id in row[1:] for row in rows)": ""}),
        "the encoder re-run at every step": mutate(GREEDY_DECODE, {
            "logits = model.decode(torch.tensor(rows, device=input_ids.device), memory, input_ids)":
            "logits = model(input_ids, torch.tensor(rows, device=input_ids.device))"}),
        "the first position's logits": mutate(GREEDY_DECODE, {"logits[:, -1, :]": "logits[:, 0, :]"}),
        "the start token read as a written EOS": GREEDY_DECODE.replace("eos_id in row[1:]", "eos_id in row"),
    },
}
