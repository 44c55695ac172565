"""Hugging Face models built locally with random weights (nothing is
downloaded), and their weights renamed for the course's own models, so that a
notebook's visible check and the grader's hidden one can both ask: given the
same weights, does the student's model compute what transformers' does?

    bert = build_hf_bert(vocab_size=100, block_size=16, n_layer=2, n_head=4, n_embd=32, n_inner=64,
                         generator=torch.Generator().manual_seed(0))
    tiny.load_state_dict(tinybert_state_from_hf(bert))   # notebook 02's TinyBert, same sizes

transformers is imported inside the functions: it is slow to import, and
only these checks need it.
"""
from __future__ import annotations

import threading

import torch

# transformers imports lazily, and two grading threads importing it at once
# can see a half-initialised module; one import at a time avoids that.
_IMPORT_LOCK = threading.Lock()


def _randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Every weight drawn from `generator`: LayerNorm gains near 1, everything
    else near 0, none exactly 0 or 1, so a missing bias or LayerNorm shows."""
    with torch.no_grad():
        for name, param in model.named_parameters():  # tied weights appear once
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1 + 0.2 * noise if name.endswith("LayerNorm.weight") else 0.1 * noise)


# ------------------------------------------------------------ 02: BERT (encoder-only)
# TinyBert's name in one encoder layer -> BertForMaskedLM's, under bert.encoder.layer.{i}.
BERT_LAYER_NAMES = {
    "attn.query": "attention.self.query",
    "attn.key": "attention.self.key",
    "attn.value": "attention.self.value",
    "attn.proj": "attention.output.dense",
    "ln_1": "attention.output.LayerNorm",
    "mlp.fc": "intermediate.dense",
    "mlp.proj": "output.dense",
    "ln_2": "output.LayerNorm",
}


def build_hf_bert(vocab_size, block_size, n_layer, n_head, n_embd, n_inner, generator):
    """A BertForMaskedLM in eval mode of TinyBert's sizes, with every weight
    drawn from `generator`. Exact GELU, LayerNorm eps 1e-12, eager attention."""
    with _IMPORT_LOCK:
        from transformers import BertConfig, BertForMaskedLM
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=n_embd, num_hidden_layers=n_layer,
        num_attention_heads=n_head, intermediate_size=n_inner, hidden_act="gelu",
        max_position_embeddings=block_size, type_vocab_size=1, layer_norm_eps=1e-12,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, attn_implementation="eager",
    )
    model = BertForMaskedLM(config).eval()
    _randomise(model, generator)
    return model


def tinybert_state_from_hf(hf_model) -> dict[str, torch.Tensor]:
    """BertForMaskedLM's weights as a state dict for notebook 02's TinyBert.

    TinyBert has no segment (token type) embedding: BERT adds row 0 of it at
    every position when no token types are given, so it is folded into the
    position embedding, which leaves the function computed unchanged. The MLM
    decoder is tied to the token embedding in both models, so TinyBert's state
    holds it once, as tok_emb.weight."""
    hf = hf_model.state_dict()
    state = {
        "tok_emb.weight": hf["bert.embeddings.word_embeddings.weight"],
        "pos_emb.weight": (hf["bert.embeddings.position_embeddings.weight"]
                           + hf["bert.embeddings.token_type_embeddings.weight"][0]),
        "ln_emb.weight": hf["bert.embeddings.LayerNorm.weight"],
        "ln_emb.bias": hf["bert.embeddings.LayerNorm.bias"],
        "head.dense.weight": hf["cls.predictions.transform.dense.weight"],
        "head.dense.bias": hf["cls.predictions.transform.dense.bias"],
        "head.ln.weight": hf["cls.predictions.transform.LayerNorm.weight"],
        "head.ln.bias": hf["cls.predictions.transform.LayerNorm.bias"],
        "head.bias": hf["cls.predictions.bias"],
    }
    for i in range(hf_model.config.num_hidden_layers):
        for ours, theirs in BERT_LAYER_NAMES.items():
            for kind in ("weight", "bias"):
                state[f"layers.{i}.{ours}.{kind}"] = hf[f"bert.encoder.layer.{i}.{theirs}.{kind}"]
    return {name: tensor.detach().clone() for name, tensor in state.items()}


# ------------------------------------------------------------ 03: GPT-2 (decoder-only)
# GPT-2's Conv1D layers store their weights (in, out), nn.Linear (out, in).
GPT2_CONV1D_WEIGHTS = ("c_attn.weight", "c_proj.weight", "c_fc.weight")


def build_hf_gpt2(vocab_size, block_size, n_layer, n_head, n_embd, generator, dtype=torch.float64):
    """A GPT2LMHeadModel in eval mode of TinyGPT's sizes (tanh GELU, tied head,
    no dropout), every weight drawn from `generator`, in `dtype`: float64 by
    default, so that a comparison at 1e-5 measures the formula, not rounding.
    The weights are far from GPT-2's init: biases away from 0, LayerNorm gains
    away from 1, and embeddings and projections that spread the logits over
    several units, so every part of the block shows and greedy and sampled
    tokens are far from a toss-up."""
    with _IMPORT_LOCK:
        from transformers import GPT2Config, GPT2LMHeadModel
    config = GPT2Config(
        vocab_size=vocab_size, n_positions=block_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=1e-5, bos_token_id=None, eos_token_id=None, tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config).to(dtype).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():  # the tied head appears once, as wte
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                param.copy_(1 + 0.3 * noise)
            elif param.dim() == 1:  # biases and LayerNorm shifts
                param.copy_(0.3 * noise)
            elif name.endswith(("wte.weight", "wpe.weight")):
                param.copy_(0.5 * noise)
            else:  # a Conv1D (in, out): outputs of unit variance
                param.copy_(noise * param.shape[0] ** -0.5)
    return model


def tiny_gpt_state_from_hf(hf_model) -> dict[str, torch.Tensor]:
    """GPT2LMHeadModel's weights as a state dict for notebook 03's TinyGPT:
    `transformer.h.0.attn.c_attn.weight` becomes `blocks.0.attn.c_attn.weight`,
    transposed (Conv1D). Both models tie the head to the token embedding, so
    `lm_head.weight` is `wte.weight` again."""
    state = {}
    for name, tensor in hf_model.state_dict().items():
        name = name.removeprefix("transformer.")
        if name.startswith("h."):
            name = "blocks." + name[len("h."):]
        if name.endswith(GPT2_CONV1D_WEIGHTS):
            tensor = tensor.t()
        state[name] = tensor.detach().clone().contiguous()
    return state
