"""Trusted references for notebook 04 (span corruption, encoder-decoder).

Ports of T5's span-corruption preprocessing from google-research's
text-to-text-transfer-transformer, `t5/data/preprocessors.py`
(random_spans_noise_mask, noise_span_to_unique_sentinel,
nonnoise_span_to_unique_sentinel, random_spans_helper), from TensorFlow to
torch, op for op; the encoder-decoder reference built from torch.nn's own
Transformer layers; and a scripted stand-in model for checking greedy_decode.
"""
import torch
import torch.nn as nn


# ------------------------------------------------------------ T5's preprocessing
def noise_counts(length, noise_density, mean_noise_span_length, float32=False):
    """(noise tokens, noise spans) of T5's random_spans_noise_mask: the
    deterministic part of the algorithm. tf.round rounds half to even, as
    Python's round does; T5 pads a length below 2 up to 2.

    The documented rule (docs/api.md) is round(length * density), in Python's
    floats; T5 multiplies in float32 (`float32=True`), which rounds up where
    the exact product sits just below a half: 190 * 0.15 is 28.499999999999996
    in float64, 28.500002 in float32, so 28 noise tokens or 29."""
    length = max(length, 2)
    product = float(torch.tensor(length, dtype=torch.float32) * torch.tensor(noise_density, dtype=torch.float32)) \
        if float32 else length * noise_density
    num_noise_tokens = min(max(round(product), 1), length - 1)
    num_noise_spans = max(round(num_noise_tokens / mean_noise_span_length), 1)
    return num_noise_tokens, num_noise_spans


def random_spans_noise_mask(length, noise_density=0.15, mean_noise_span_length=3.0, generator=None):
    """T5's random_spans_noise_mask: spans alternate non-noise, noise, ...,
    starting with non-noise; each of the two segmentations is a uniformly
    random composition (a shuffle of cut markers, as T5's
    `_random_segmentation`)."""
    orig_length = length
    length = max(length, 2)
    num_noise_tokens, num_noise_spans = noise_counts(length, noise_density, mean_noise_span_length)
    num_nonnoise_tokens = length - num_noise_tokens

    def random_segmentation(num_items, num_segments):
        markers = (torch.arange(num_items - 1) < num_segments - 1).long()
        shuffled = markers[torch.randperm(num_items - 1, generator=generator)]
        first_in_segment = torch.cat([torch.zeros(1, dtype=torch.long), shuffled])
        segment_id = torch.cumsum(first_in_segment, 0)
        return torch.bincount(segment_id, minlength=num_segments)

    noise_span_lengths = random_segmentation(num_noise_tokens, num_noise_spans)
    nonnoise_span_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans)
    interleaved = torch.stack([nonnoise_span_lengths, noise_span_lengths], dim=1).reshape(-1)
    span_starts = torch.cumsum(interleaved, 0)[:-1]
    span_start_indicator = torch.zeros(length, dtype=torch.long).index_add_(
        0, span_starts, torch.ones_like(span_starts))
    span_num = torch.cumsum(span_start_indicator, 0)
    return (span_num % 2 == 1)[:orig_length]


def noise_span_to_unique_sentinel(tokens, noise_mask, sentinel_ids):
    """Each run of noise tokens becomes one sentinel, the k-th run
    `sentinel_ids[k]` (T5: vocab_size - 1 - k, i.e. <extra_id_k>)."""
    prev_token_is_noise = torch.cat([torch.zeros(1, dtype=torch.bool), noise_mask[:-1]])
    first_noise_tokens = noise_mask & ~prev_token_is_noise
    subsequent_noise_tokens = noise_mask & prev_token_is_noise
    run_index = torch.cumsum(first_noise_tokens.long(), 0) - 1
    sentinels = torch.tensor(list(sentinel_ids) or [0], dtype=tokens.dtype)[run_index.clamp(min=0)]
    tokens = torch.where(first_noise_tokens, sentinels, tokens)
    return tokens[~subsequent_noise_tokens]


def nonnoise_span_to_unique_sentinel(tokens, noise_mask, sentinel_ids):
    return noise_span_to_unique_sentinel(tokens, ~noise_mask, sentinel_ids)


def span_corrupt(ids, noise_mask, sentinel_ids, eos_id):
    """T5's inputs and targets for one sequence, EOS appended to both (as
    T5's output features do)."""
    eos = torch.tensor([eos_id], dtype=ids.dtype)
    return (torch.cat([noise_span_to_unique_sentinel(ids, noise_mask, sentinel_ids), eos]),
            torch.cat([nonnoise_span_to_unique_sentinel(ids, noise_mask, sentinel_ids), eos]))


def random_spans_helper(inputs_length, noise_density, mean_noise_span_length,
                        extra_tokens_per_span_inputs=1, extra_tokens_per_span_targets=1):
    """T5's random_spans_helper: (raw tokens per example, targets length)
    such that the corrupted inputs, EOS included, fill `inputs_length`."""
    def _tokens_length_to_inputs_length_targets_length(tokens_length):
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        return (num_nonnoise_tokens + num_noise_spans * extra_tokens_per_span_inputs + 1,
                num_noise_tokens + num_noise_spans * extra_tokens_per_span_targets + 1)

    tokens_length = inputs_length - 1
    while _tokens_length_to_inputs_length_targets_length(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    inputs_length, targets_length = _tokens_length_to_inputs_length_targets_length(tokens_length)
    # T5's "minor hack to get the targets length to be equal to inputs length".
    if noise_density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


# ------------------------------------------------------- TinySeq2Seq's weights
def tinyseq2seq_state(vocab_size, block_size, n_layer, n_embd, generator):
    """Random weights under the parameter names of the notebook's
    TinySeq2Seq.__init__ (the token embedding tied to lm_head). Biases and
    LayerNorm gains are random too, so a skipped one shows."""
    def randn(*shape, scale=0.3):
        return scale * torch.randn(*shape, generator=generator)

    def linear(prefix, n_in, n_out):
        return {f"{prefix}.weight": randn(n_out, n_in, scale=n_in ** -0.5), f"{prefix}.bias": randn(n_out)}

    def layer_norm(prefix):
        return {f"{prefix}.weight": 1 + randn(n_embd, scale=0.1), f"{prefix}.bias": randn(n_embd, scale=0.1)}

    def attention(prefix):
        return {k: v for name in ("query", "key", "value", "proj")
                for k, v in linear(f"{prefix}.{name}", n_embd, n_embd).items()}

    def mlp(prefix):
        return {**linear(f"{prefix}.fc", n_embd, 4 * n_embd), **linear(f"{prefix}.proj", 4 * n_embd, n_embd)}

    embedding = randn(vocab_size, n_embd, scale=1.0)
    state = {"token_embedding.weight": embedding,
             "encoder_positions.weight": randn(block_size, n_embd),
             "decoder_positions.weight": randn(block_size, n_embd),
             "encoder_norm.weight": 1 + randn(n_embd, scale=0.1), "encoder_norm.bias": randn(n_embd, scale=0.1),
             "decoder_norm.weight": 1 + randn(n_embd, scale=0.1), "decoder_norm.bias": randn(n_embd, scale=0.1),
             "lm_head.weight": embedding}
    for i in range(n_layer):
        block = f"encoder_blocks.{i}"
        state.update({**layer_norm(f"{block}.ln_1"), **attention(f"{block}.self_attn"),
                      **layer_norm(f"{block}.ln_2"), **mlp(f"{block}.mlp")})
        block = f"decoder_blocks.{i}"
        state.update({**layer_norm(f"{block}.ln_1"), **attention(f"{block}.self_attn"),
                      **layer_norm(f"{block}.ln_2"), **attention(f"{block}.cross_attn"),
                      **layer_norm(f"{block}.ln_3"), **mlp(f"{block}.mlp")})
    return state


def torch_transformer_logits(state, n_layer, n_head, pad_id, input_ids, decoder_input_ids):
    """TinySeq2Seq's logits computed by torch.nn's pre-LN Transformer layers
    (TransformerEncoderLayer / TransformerDecoderLayer, norm_first=True,
    GELU, final LayerNorms) with `state` copied in: an independent reference,
    sharing no code with the notebook."""
    n_embd = state["token_embedding.weight"].shape[1]

    def copy_attention(mha, prefix):
        mha.in_proj_weight.copy_(torch.cat([state[f"{prefix}.{n}.weight"] for n in ("query", "key", "value")]))
        mha.in_proj_bias.copy_(torch.cat([state[f"{prefix}.{n}.bias"] for n in ("query", "key", "value")]))
        mha.out_proj.weight.copy_(state[f"{prefix}.proj.weight"])
        mha.out_proj.bias.copy_(state[f"{prefix}.proj.bias"])

    def copy_norm(norm, prefix):
        norm.weight.copy_(state[f"{prefix}.weight"])
        norm.bias.copy_(state[f"{prefix}.bias"])

    def copy_mlp(layer, prefix):
        for ours, theirs in (("fc", layer.linear1), ("proj", layer.linear2)):
            theirs.weight.copy_(state[f"{prefix}.{ours}.weight"])
            theirs.bias.copy_(state[f"{prefix}.{ours}.bias"])

    layer_args = dict(d_model=n_embd, nhead=n_head, dim_feedforward=4 * n_embd, dropout=0.0,
                      activation="gelu", batch_first=True, norm_first=True)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_args), n_layer,
                                    norm=nn.LayerNorm(n_embd), enable_nested_tensor=False)
    decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_args), n_layer, norm=nn.LayerNorm(n_embd))
    with torch.no_grad():
        for i, layer in enumerate(encoder.layers):
            block = f"encoder_blocks.{i}"
            copy_norm(layer.norm1, f"{block}.ln_1")
            copy_attention(layer.self_attn, f"{block}.self_attn")
            copy_norm(layer.norm2, f"{block}.ln_2")
            copy_mlp(layer, f"{block}.mlp")
        copy_norm(encoder.norm, "encoder_norm")
        for i, layer in enumerate(decoder.layers):
            block = f"decoder_blocks.{i}"
            copy_norm(layer.norm1, f"{block}.ln_1")
            copy_attention(layer.self_attn, f"{block}.self_attn")
            copy_norm(layer.norm2, f"{block}.ln_2")
            copy_attention(layer.multihead_attn, f"{block}.cross_attn")
            copy_norm(layer.norm3, f"{block}.ln_3")
            copy_mlp(layer, f"{block}.mlp")
        copy_norm(decoder.norm, "decoder_norm")

        # Training mode (dropout is 0) keeps torch off its fused inference
        # path, which writes zeros at padded encoder positions.
        encoder.train()
        decoder.train()
        embedding = state["token_embedding.weight"]
        source_padding = input_ids == pad_id                              # True = ignore
        source = embedding[input_ids] + state["encoder_positions.weight"][:input_ids.shape[1]]
        memory = encoder(source, src_key_padding_mask=source_padding)
        t = decoder_input_ids.shape[1]
        target = embedding[decoder_input_ids] + state["decoder_positions.weight"][:t]
        future = ~torch.ones(t, t, dtype=torch.bool).tril()                # True = may not attend
        hidden = decoder(target, memory, tgt_mask=future, memory_key_padding_mask=source_padding)
        return hidden @ state["lm_head.weight"].T


# -------------------------------------------------- greedy_decode's stand-in
def scripted_seq2seq(table, vocab_size, pad_id):
    """A stand-in encoder-decoder whose next token is known in advance, for
    checking greedy_decode apart from the student's TinySeq2Seq. After a
    decoder prefix p (start token included) for source x, the highest logit
    is at table[(key(x) + sum_t (t + 1) * p_t) % len(table)], key(x) the sum
    of x's non-padding ids; every other logit is a smaller pseudo-random
    number. `encode_calls()` counts the encoder's runs."""
    import torch

    class ScriptedSeq2Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.tensor(table, dtype=torch.long)
            self.config = type("Config", (), {"vocab_size": vocab_size, "pad_id": pad_id,
                                              "block_size": 1024})()
            self.scale = torch.nn.Parameter(torch.ones(()))  # so .parameters() tells the device
            self.encoder_runs = 0

        def encode(self, input_ids):
            self.encoder_runs += 1
            key = (input_ids * (input_ids != pad_id)).sum(-1)                         # (B,)
            return key[:, None, None].float().expand(-1, input_ids.shape[1], 1)      # (B, S, 1)

        def decode(self, decoder_input_ids, memory, input_ids):
            b, t = decoder_input_ids.shape
            positions = torch.arange(1, t + 1)
            key = memory[:, 0, 0].long()[:, None] + torch.cumsum(decoder_input_ids * positions, 1)
            best = self.table[key % len(self.table)]                                  # (B, T)
            noise = torch.sin(key[..., None].double() * 12.9898 + torch.arange(vocab_size) * 78.233)
            logits = (noise * 43758.5453).frac().abs().float()                          # in [0, 1)
            return logits.scatter(-1, best[..., None], 2.0) * self.scale

        def forward(self, input_ids, decoder_input_ids):
            return self.decode(decoder_input_ids, self.encode(input_ids), input_ids)

        def encode_calls(self):
            return self.encoder_runs

    return ScriptedSeq2Seq()


STANDINS = [scripted_seq2seq]
