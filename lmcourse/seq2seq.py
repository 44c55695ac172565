"""Plumbing for notebook 04: the plays it pretrains on, the checkpoint of its
pretraining run to the end, its sequence-to-sequence task (First Folio spelling
to modern spelling, line by line, from the pairs data/build_folio_pairs.py
aligns), padding, the character error rate that scores the task, and the check
that compares a learner's TinySeq2Seq, piece by piece, with torch.nn's own layers."""
from __future__ import annotations

import inspect
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import load_plays, play_pairs
from .paths import data_dir

SPLITS = ("train", "val", "test")


def aligned_pairs_path() -> Path:
    return data_dir() / "shakespeare" / "aligned" / "folio_modern.tsv"


def load_folio_pairs(split: str) -> list[tuple[str, str]]:
    """(Folio line, modern line) pairs of one split, in play order.

    Plays are kept apart: "test" is Hamlet, Macbeth and Julius Caesar, "val"
    Twelfth Night, "train" every other play in both spellings.

    load_folio_pairs("test")[0] -> ("Who's there?", "Who's there?")  (Hamlet's first line)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return [(folio, modern) for s, _, folio, modern in _read_pairs(aligned_pairs_path()) if s == split]


def held_out_plays(split: str) -> list[str]:
    """The (modern) names of the plays in a split, sorted."""
    return sorted({play for s, play, _, _ in _read_pairs(aligned_pairs_path()) if s == split})


def pretraining_texts() -> list[str]:
    """Every play that no split holds out, in both spellings: the modern
    ones (Pericles and Troilus and Cressida, which have no Folio text,
    included), then the Folio ones. The held-out plays' text stays unseen."""
    held_out = set(held_out_plays("val") + held_out_plays("test"))
    held_out_folio = {play_pairs()[play] for play in held_out}
    return ([text for play, text in load_plays("modern").items() if play not in held_out]
            + [text for play, text in load_plays("folio").items() if play not in held_out_folio])


def pretrained_checkpoint_path() -> Path:
    return data_dir() / "checkpoints" / "span_corruption.pt"


def load_pretrained_checkpoint() -> dict:
    """Notebook 04's span-corruption pretraining, run to its end (12,000 steps), as
    data/build_span_corruption_checkpoint.py saved it: "state_dict" (float32 tensors, ready for
    `TinySeq2Seq.load_state_dict`), "config" (the `Seq2SeqConfig` fields), the settings it was
    trained with, "steps", "seconds", "val_loss" (on the notebook's validation windows), and a
    check of the model: "check_batch", one batch of those windows (input_ids,
    decoder_input_ids, targets), and "check_loss", these weights' loss on it."""
    path = pretrained_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(f"No pretrained checkpoint at {path}; `python "
                                "data/build_span_corruption_checkpoint.py` builds it (22 minutes on 2 CPU cores).")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    checkpoint["state_dict"] = {name: tensor.float() for name, tensor in checkpoint["state_dict"].items()}
    checkpoint["check_batch"] = tuple(tensor.long() for tensor in checkpoint["check_batch"])
    return checkpoint


def pad_sequences(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Lists of ids as one (N, longest) tensor, shorter rows filled with `value` at the end.

    pad_sequences([[5, 6, 7], [8]], 0) -> tensor([[5, 6, 7], [8, 0, 0]])
    """
    longest = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [value] * (longest - len(s)) for s in sequences], dtype=torch.long)


@lru_cache(maxsize=None)
def _read_pairs(path: Path) -> tuple[tuple[str, str, str, str], ...]:
    if not path.is_file():
        raise FileNotFoundError(f"No aligned pairs at {path}; `python data/build_folio_pairs.py` builds them.")
    # Plain tab-separated lines: no quoting, the lines hold no tabs.
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(tuple(line.split("\t")) for line in lines[1:])


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions
    of single characters that turn `a` into `b`. edit_distance("haue", "have") -> 1"""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1,                        # delete char_a
                               current[j - 1] + 1,                     # insert char_b
                               previous[j - 1] + (char_a != char_b)))  # substitute
        previous = current
    return previous[-1]


def character_error_rate(predictions: list[str], references: list[str]) -> float:
    """Edit distance summed over lines, over the references' total length
    (as speech recognition's CER): 0 is perfect; copying "haue" for "have"
    costs 1/4.

    character_error_rate(["haue"], ["have"]) -> 0.25
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    total = sum(len(r) for r in references)
    return sum(edit_distance(p, r) for p, r in zip(predictions, references)) / max(1, total)


def exact_match(predictions: list[str], references: list[str]) -> float:
    """The fraction of lines predicted exactly, character for character."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    return sum(p == r for p, r in zip(predictions, references)) / max(1, len(references))


# ------------------------------------------------------------ checking a TinySeq2Seq, piece by piece
# Notebook 04's check of a learner's TinySeq2Seq: each piece against torch.nn's own layers
# (nn.MultiheadAttention, nn.TransformerEncoderLayer and nn.TransformerDecoderLayer, pre-LN, GELU)
# holding copies of the piece's weights, so that a mistake is reported with the piece it is in.

class _Stop(Exception):
    """Raised by a hook once it has what it came for: the rest of the forward pass is skipped."""


def _arguments(module: torch.nn.Module, args: tuple, kwargs: dict) -> list:
    """A call's arguments in the order of the module's forward signature, however they were passed."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    bound.apply_defaults()
    return list(bound.arguments.values())


def _record(modules: dict[str, torch.nn.Module]):
    """{name: [call, ...]}, each call {"inputs": [...], "output": ...}, filled in while the
    modules run; and the hooks' handles (remove them when done)."""
    calls = {name: [] for name in modules}
    handles = []
    for name, module in modules.items():
        def before(module, args, kwargs, name=name):
            try:
                inputs = _arguments(module, args, kwargs)
            except TypeError:
                inputs = list(args)
            calls[name].append({"inputs": inputs, "output": None})

        def after(module, args, kwargs, output, name=name):
            calls[name][-1]["output"] = output

        handles += [module.register_forward_pre_hook(before, with_kwargs=True),
                    module.register_forward_hook(after, with_kwargs=True)]
    return calls, handles


def _difference(got, expected) -> float | None:
    """The largest absolute difference, or None when `got` is not a tensor of the expected shape."""
    if not torch.is_tensor(got) or got.shape != expected.shape:
        return None
    return (got.to(expected.dtype) - expected).abs().max().item()


def _close(got, expected, atol: float) -> bool:
    difference = _difference(got, expected)
    return difference is not None and difference <= atol


def _shape(value) -> str:
    return f"shape {tuple(value.shape)}" if torch.is_tensor(value) else type(value).__name__


def _same_mask(got, expected: torch.Tensor, shape: tuple) -> bool:
    """Whether two attention masks allow the same (query, key) pairs once broadcast to `shape`
    (None allows every pair)."""
    got = torch.ones((), dtype=torch.bool) if got is None else got
    if not torch.is_tensor(got) or got.dtype != torch.bool:
        return False
    try:
        return bool(torch.broadcast_to(got, shape).equal(torch.broadcast_to(expected, shape)))
    except RuntimeError:
        return False


class _TorchReference:
    """torch.nn layers holding copies of a TinySeq2Seq's weights (its parameter names are the
    ones the notebook's given __init__ sets), in the model's dtype. Training mode with dropout 0
    keeps torch off its fused inference path, which treats padded positions differently."""

    def __init__(self, model: torch.nn.Module):
        self.state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
        self.n_head, self.pad_id = model.config.n_head, model.config.pad_id
        self.width = self.state["token_embedding.weight"].shape[1]
        self.dtype = self.state["token_embedding.weight"].dtype

    def _copy(self, layer: torch.nn.Module, pairs: dict[str, str]) -> None:
        with torch.no_grad():
            for theirs, ours in pairs.items():
                layer.get_parameter(theirs).copy_(self.state[ours])

    def attention(self, prefix: str) -> torch.nn.MultiheadAttention:
        mha = torch.nn.MultiheadAttention(self.width, self.n_head, dropout=0.0, batch_first=True, dtype=self.dtype)
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([self.state[f"{prefix}.{n}.weight"] for n in ("query", "key", "value")]))
            mha.in_proj_bias.copy_(torch.cat([self.state[f"{prefix}.{n}.bias"] for n in ("query", "key", "value")]))
        self._copy(mha, {"out_proj.weight": f"{prefix}.proj.weight", "out_proj.bias": f"{prefix}.proj.bias"})
        return mha.train()

    def mlp(self, prefix: str) -> torch.nn.Sequential:
        layers = torch.nn.Sequential(torch.nn.Linear(self.width, 4 * self.width, dtype=self.dtype), torch.nn.GELU(),
                                     torch.nn.Linear(4 * self.width, self.width, dtype=self.dtype))
        self._copy(layers, {"0.weight": f"{prefix}.fc.weight", "0.bias": f"{prefix}.fc.bias",
                            "2.weight": f"{prefix}.proj.weight", "2.bias": f"{prefix}.proj.bias"})
        return layers

    def _layer(self, kind, prefix: str, norms: dict[str, str], attentions: dict[str, str]):
        layer = kind(self.width, self.n_head, dim_feedforward=4 * self.width, dropout=0.0, activation="gelu",
                     batch_first=True, norm_first=True, dtype=self.dtype)
        pairs = {"linear1.weight": f"{prefix}.mlp.fc.weight", "linear1.bias": f"{prefix}.mlp.fc.bias",
                 "linear2.weight": f"{prefix}.mlp.proj.weight", "linear2.bias": f"{prefix}.mlp.proj.bias"}
        for theirs, ours in norms.items():
            pairs |= {f"{theirs}.weight": f"{prefix}.{ours}.weight", f"{theirs}.bias": f"{prefix}.{ours}.bias"}
        self._copy(layer, pairs)
        for theirs, ours in attentions.items():
            setattr(layer, theirs, self.attention(f"{prefix}.{ours}"))
        return layer.train()

    def encoder_layer(self, i: int) -> torch.nn.TransformerEncoderLayer:
        return self._layer(torch.nn.TransformerEncoderLayer, f"encoder_blocks.{i}", {"norm1": "ln_1", "norm2": "ln_2"},
                           {"self_attn": "self_attn"})

    def decoder_layer(self, i: int) -> torch.nn.TransformerDecoderLayer:
        return self._layer(torch.nn.TransformerDecoderLayer, f"decoder_blocks.{i}",
                           {"norm1": "ln_1", "norm2": "ln_2", "norm3": "ln_3"},
                           {"self_attn": "self_attn", "multihead_attn": "cross_attn"})

    def layer_norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), self.state[f"{name}.weight"], self.state[f"{name}.bias"])

    def embed(self, ids: torch.Tensor, positions: str) -> torch.Tensor:
        return self.state["token_embedding.weight"][ids] + self.state[f"{positions}.weight"][:ids.shape[1]]

    def logits(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        n_layer = 1 + max(int(name.split(".")[1]) for name in self.state if name.startswith("encoder_blocks."))
        padding = input_ids == self.pad_id                                   # True: ignore
        x = self.embed(input_ids, "encoder_positions")
        for i in range(n_layer):
            x = self.encoder_layer(i)(x, src_key_padding_mask=padding)
        memory = self.layer_norm("encoder_norm", x)
        t = decoder_input_ids.shape[1]
        future = ~torch.ones(t, t, dtype=torch.bool).tril()                 # True: may not attend
        y = self.embed(decoder_input_ids, "decoder_positions")
        for i in range(n_layer):
            y = self.decoder_layer(i)(y, memory, tgt_mask=future, memory_key_padding_mask=padding)
        return self.layer_norm("decoder_norm", y) @ self.state["lm_head.weight"].T


def _decoder_block_sublayers(block, reference: _TorchReference, x, memory, self_mask, memory_mask,
                             shape_self: tuple, shape_cross: tuple, atol: float) -> str | None:
    """What is wrong inside the first decoder block, or None: runs it with hooks on self_attn,
    cross_attn and mlp, and compares what each received with what a pre-LN block gives it."""
    calls, handles = _record({"self_attn": block.self_attn, "cross_attn": block.cross_attn, "mlp": block.mlp})
    try:
        output = block(x, memory, self_mask, memory_mask)
    except Exception as error:   # noqa: BLE001 (what the sublayers received tells more)
        output = error
    finally:
        for handle in handles:
            handle.remove()

    def ran_once(name):
        made = len(calls[name])
        if made == 1 or (made == 0 and isinstance(output, Exception)):   # an error before it: reported after
            return None
        return f"{name} ran {made} times, not once"

    def differs(got, expected, what):
        difference = _difference(got, expected)
        if difference is None:
            return f"{what}; it has {_shape(got)}, not {tuple(expected.shape)}"
        return f"{what}; it differs by up to {difference:.3g}" if difference > atol else None

    stream = x                  # the residual stream, as each sublayer should find it
    sublayers = [("self_attn", "ln_1", "the block's input x", None, self_mask, shape_self, "self_mask (causal)"),
                 ("cross_attn", "ln_2", "x after the self-attention sublayer", memory, memory_mask, shape_cross,
                  "memory_mask (padding masked out)")]
    for name, norm, where, context, mask, shape, mask_name in sublayers:
        if ran_once(name) is not None or not calls[name]:
            return ran_once(name)
        got_x, got_context, got_mask = (calls[name][0]["inputs"] + [None] * 3)[:3]
        normed = reference.layer_norm(f"decoder_blocks.0.{norm}", stream)
        problem = differs(got_x, normed, f"{name}'s queries should be {norm}(x), the LayerNorm of {where} (pre-LN: "
                                         "each sublayer reads the normalised stream and adds its output to it)")
        if problem is None and context is None:
            problem = differs(got_context, normed, f"{name}'s keys and values (its context) should be {norm}(x) too")
        elif problem is None:
            problem = differs(got_context, context, f"{name}'s keys and values (its context) should be memory, "
                                                    "the encoder's output, unchanged")
        if problem is None and not _same_mask(got_mask, mask, shape):
            problem = f"{name} should get {mask_name} as its mask"
        if problem is not None:
            return problem
        if not torch.is_tensor(calls[name][0]["output"]):   # it raised (reported after) or returned no tensor
            return None if isinstance(output, Exception) else f"{name} returned {_shape(calls[name][0]['output'])}"
        stream = stream + calls[name][0]["output"]
    if ran_once("mlp") is not None or not calls["mlp"]:
        return ran_once("mlp")
    problem = differs(calls["mlp"][0]["inputs"][0], reference.layer_norm("decoder_blocks.0.ln_3", stream),
                      "mlp should read ln_3(x), the LayerNorm of x after both attention sublayers")
    if problem is None and not isinstance(output, Exception):
        problem = differs(output, stream + calls["mlp"][0]["output"],
                          "its output should be x plus the outputs of its three sublayers (residual connections)")
    return problem


@torch.no_grad()
def check_against_torch_nn(model: torch.nn.Module, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor,
                           atol: float = 1e-6) -> list[str]:
    """Checks a TinySeq2Seq (notebook 04) piece by piece against torch.nn's layers holding copies
    of its weights: the embeddings, MultiHeadAttention as self-attention (with a padding mask,
    and with a causal one) and as cross-attention, the MLP, the first encoder block, the first
    decoder block (and what each of its sublayers receives), the head (decoder_norm, then
    lm_head), how decode wires the decoder blocks, and the whole model. Raises an
    AssertionError naming the first piece that differs, and by how much; returns the names of
    the pieces checked. Use float64 weights, so that `atol` measures the formula, not rounding."""
    model.eval()
    reference = _TorchReference(model)
    b, s = input_ids.shape
    t = decoder_input_ids.shape[1]
    c, n_head, dtype = reference.width, reference.n_head, reference.dtype
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(b, s, c, generator=generator, dtype=dtype)              # an encoder-side stream
    y = torch.randn(b, t, c, generator=generator, dtype=dtype)              # a decoder-side stream
    memory = torch.randn(b, s, c, generator=generator, dtype=dtype)
    keys_allowed = (input_ids != reference.pad_id)[:, None, None, :]        # (B, 1, 1, S)
    causal = torch.ones(t, t, dtype=torch.bool).tril()                      # (T, T)
    checked = []

    def compare(piece, run, expected, against, hint=""):
        try:
            got = run()
        except Exception as error:
            raise AssertionError(f"{piece} raised {type(error).__name__}: {error}{hint}") from error
        if isinstance(got, str):
            raise AssertionError(f"{piece}: {got}{hint}")
        difference = _difference(got, expected)
        if difference is None:
            raise AssertionError(f"{piece} returned {_shape(got)}, expected shape {tuple(expected.shape)}{hint}")
        if difference > atol:
            raise AssertionError(f"{piece} differs from {against} by up to {difference:.3g}{hint}")
        checked.append(piece)

    def first_block_input(run, blocks):
        """What the first block of `blocks` receives from `run()`, which stops there."""
        seen = []

        def stop(module, args, kwargs):
            seen.append(_arguments(module, args, kwargs)[0])
            raise _Stop

        handle = blocks[0].register_forward_pre_hook(stop, with_kwargs=True)
        try:
            run()
        except _Stop:
            pass
        finally:
            handle.remove()
        return seen[0] if seen else "the first block never ran"

    # The embeddings: what the first encoder block and the first decoder block receive.
    compare("encode's embeddings (token_embedding + encoder_positions, the input of the first encoder block)",
            lambda: first_block_input(lambda: model.encode(input_ids), model.encoder_blocks),
            reference.embed(input_ids, "encoder_positions"), "the embeddings of input_ids")
    compare("decode's embeddings (token_embedding + decoder_positions, the input of the first decoder block)",
            lambda: first_block_input(lambda: model.decode(decoder_input_ids, memory, input_ids), model.decoder_blocks),
            reference.embed(decoder_input_ids, "decoder_positions"), "the embeddings of decoder_input_ids")

    mha = "torch.nn.MultiheadAttention with the same weights"
    heads = " (look at how you split the heads: head h gets channels h*hs to (h+1)*hs - 1, and put them back)"
    encoder_attention = reference.attention("encoder_blocks.0.self_attn")
    compare("MultiHeadAttention as self-attention with a padding mask (encoder_blocks[0].self_attn(x, x, mask))",
            lambda: model.encoder_blocks[0].self_attn(x, x, keys_allowed),
            encoder_attention(x, x, x, key_padding_mask=~keys_allowed[:, 0, 0], need_weights=False)[0], mha, heads)
    decoder_attention = reference.attention("decoder_blocks.0.self_attn")
    compare("MultiHeadAttention as causal self-attention (decoder_blocks[0].self_attn(y, y, causal))",
            lambda: model.decoder_blocks[0].self_attn(y, y, causal),
            decoder_attention(y, y, y, attn_mask=~causal, need_weights=False)[0], mha, heads)
    cross_attention = reference.attention("decoder_blocks.0.cross_attn")
    compare("MultiHeadAttention as cross-attention, queries from x, keys and values from context "
            "(decoder_blocks[0].cross_attn(y, memory, mask), with fewer queries than keys)",
            lambda: model.decoder_blocks[0].cross_attn(y, memory, keys_allowed),
            cross_attention(y, memory, memory, key_padding_mask=~keys_allowed[:, 0, 0], need_weights=False)[0], mha,
            heads + " (keys and values from context: their length is context's, not x's)")
    compare("MLP (encoder_blocks[0].mlp)", lambda: model.encoder_blocks[0].mlp(x), reference.mlp("encoder_blocks.0.mlp")(x),
            "Linear, GELU, Linear with the same weights")
    compare("EncoderBlock (encoder_blocks[0])", lambda: model.encoder_blocks[0](x, keys_allowed),
            reference.encoder_layer(0)(x, src_key_padding_mask=~keys_allowed[:, 0, 0]),
            "torch.nn.TransformerEncoderLayer (pre-LN, GELU) with the same weights")

    block = model.decoder_blocks[0]
    problem = _decoder_block_sublayers(block, reference, y, memory, causal, keys_allowed,
                                       (b, n_head, t, t), (b, n_head, t, s), atol)
    if problem is not None:
        raise AssertionError(f"DecoderBlock (decoder_blocks[0]): {problem}")
    compare("DecoderBlock (decoder_blocks[0](y, memory, self_mask, memory_mask))",
            lambda: block(y, memory, causal, keys_allowed),
            reference.decoder_layer(0)(y, memory, tgt_mask=~causal, memory_key_padding_mask=~keys_allowed[:, 0, 0]),
            "torch.nn.TransformerDecoderLayer (pre-LN, GELU) with the same weights")

    # decode: the head after the last block, and what it hands each decoder block.
    calls, handles = _record({f"decoder_blocks[{i}]": blk for i, blk in enumerate(model.decoder_blocks)})
    try:
        logits = model.decode(decoder_input_ids, memory, input_ids)
    finally:
        for handle in handles:
            handle.remove()
    previous = reference.embed(decoder_input_ids, "decoder_positions")
    for name, made in calls.items():
        if len(made) != 1:
            raise AssertionError(f"decode: {name} ran {len(made)} times, not once")
        got_y, got_memory, self_mask, memory_mask = (made[0]["inputs"] + [None] * 4)[:4]
        if not _close(got_y, previous, atol):
            raise AssertionError(f"decode: {name} should read the output of the block before it "
                                 "(the first one, the embeddings)")
        if not _close(got_memory, memory, atol):
            raise AssertionError(f"decode: {name} should get memory, the encoder's output, unchanged")
        if not _same_mask(self_mask, causal, (b, n_head, t, t)):
            raise AssertionError(f"decode: {name}'s self_mask should be causal: (T, T), True on and below the "
                                 "diagonal (position t may attend to positions 0..t)")
        if not _same_mask(memory_mask, keys_allowed, (b, n_head, t, s)):
            raise AssertionError(f"decode: {name}'s memory_mask should be True exactly at the real tokens of "
                                 "input_ids (padding masked out), shaped (B, 1, 1, S)")
        previous = made[0]["output"]
    checked.append("decode's masks and memory, for every decoder block")
    compare("the head (decoder_norm, then lm_head, after the last decoder block)", lambda: logits,
            reference.layer_norm("decoder_norm", previous) @ reference.state["lm_head.weight"].T,
            "layer_norm, then the tied embedding, on the last block's output")
    compare("the whole model, TinySeq2Seq(input_ids, decoder_input_ids)", lambda: model(input_ids, decoder_input_ids),
            reference.logits(input_ids, decoder_input_ids), "torch.nn's Transformer layers with the same weights",
            " (each piece agrees: look at forward and encode)")
    return checked
