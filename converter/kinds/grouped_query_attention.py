"""GroupQueryAttention (Keras 3) -> nn.Linear projections: query, key, value, output (and gate).

Keras keeps each projection as an einsum kernel, as MultiHeadAttention does: query (d, query
heads, head_dim), key and value (d, key/value heads, head_dim), output (query heads, head_dim,
d), merged head-major into Linear weights. Each key/value head serves num_query_heads /
num_key_value_heads query heads in a row (Keras's ops.repeat on the heads axis: torch's
repeat_interleave); scores are scaled by 1/sqrt(head_dim). `use_gate` multiplies each head's
output by sigmoid(gate projection of the query) before the output projection. Masks, the
causal mask, the sliding window and returned scores are MultiHeadAttention's (a fully masked
row attends to nothing where Keras 3 computes the softmax itself: dropout set or scores
returned).
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from .forward import KERAS, Emitter, Value, literal, require_weights
from .multi_head_attention import (heads_projected, keep_mask, projection_bias, projection_variables,
                                   projection_weight, score_adder, scores_mask, zeroes_masked_rows)
from .registry import Kind, layer_names, register
from .rules import Context, Variable, expect_shape


#: from which Keras 3 the scores a GroupedQueryAttention returns carry its attention mask
GQA_SCORES_MASKED_FROM = (3, 15)


def _projections(config: Config) -> tuple[str, ...]:
    """The projections in the order Keras creates them: a legacy .h5 file names each weight `kernel` or `bias`
    alone, in that order."""
    return ("query", "key") + (("gate",) if config.bool("use_gate", False) else ()) + ("value", "output")


def gqa_variables(config: Config) -> list[Variable]:
    return projection_variables(config, [(role, f"_{role}_dense") for role in _projections(config)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    config = layer.config
    query_heads, kv_heads = config.int("num_query_heads", minimum=1), config.int("num_key_value_heads", minimum=1)
    head_dim = config.int("head_dim", minimum=1)
    if query_heads % kv_heads:
        expect_shape(layer, "key.kernel", (None, 0, head_dim), "num_query_heads divisible by num_key_value_heads")
    shapes = {"query": (None, query_heads, head_dim), "gate": (None, query_heads, head_dim),
              "key": (None, kv_heads, head_dim), "value": (None, kv_heads, head_dim),
              "output": (query_heads, head_dim, None)}
    roles = _projections(config)
    for role in roles:
        expect_shape(layer, f"{role}.kernel", shapes[role], "(d, heads, head_dim)" if role != "output"
                     else "(query heads, head_dim, d)")
        if layer.has(f"{role}.bias"):
            expect_shape(layer, f"{role}.bias", shapes[role][1:] if role != "output" else
                         (layer.tensor("output.kernel").shape[2],), "one per output")
    tensors, parts = [], []
    for role in roles:
        kernel = layer.tensor(f"{role}.kernel").shape
        sizes = (kernel[0] * kernel[1], kernel[2]) if role == "output" else (kernel[0], kernel[1] * kernel[2])
        tensors.append(projection_weight(layer, role))
        if layer.has(f"{role}.bias"):
            tensors.append(projection_bias(layer, role))
        parts.append((role, TorchModule("Linear", {"in_features": sizes[0], "out_features": sizes[1],
                                                   "bias": layer.has(f"{role}.bias")})))
    options = {"query_heads": query_heads, "kv_heads": kv_heads, "head_dim": head_dim}
    return LayerConversion(layer, TorchModule("ModuleDict", parts=tuple(parts)), tensors, options=options)


def forward(e: Emitter) -> Value | list[Value]:
    """The projections written out: softmax(q k^T / sqrt(head_dim)) v per query head, key/value heads repeated."""
    result = require_weights(e)
    if len(e.inputs) < 2:
        raise e.unsupported("cannot find the value input of this call")
    query, value = e.arg(0, KERAS), e.arg(1, KERAS)
    value_of, key_of = e.inputs[1], e.inputs[2] if len(e.inputs) > 2 else None
    if key_of is None and isinstance(e.kwargs.get("key"), Value):
        key_of = e.kwargs["key"]
    key = e.convert(key_of, KERAS) if key_of is not None else value
    rank = e.inputs[0].rank
    if rank != 3:
        raise e.unsupported(f"inputs of rank {rank} are not built (sequences, rank 3, are)")
    with_scores = bool(e.named("return_attention_scores"))
    keep = keep_mask(e, query, value, value_of, key_of)
    adder = score_adder(e, keep, query, with_scores)
    e.module(result.module)
    m, options = e.attribute, result.options
    heads, repeats = int(options["query_heads"]), int(options["query_heads"]) // int(options["kv_heads"])
    head_dim = int(options["head_dim"])
    q, k, v, w = e.variable("q"), e.variable("k"), e.variable("v"), e.variable("weights")
    e.statement(f"{q} = {heads_projected(e, 'query', query, heads, head_dim)}.transpose(1, 2)")
    for name, source, role in ((k, key, "key"), (v, value, "value")):
        e.statement(f"{name} = {heads_projected(e, role, source, int(options['kv_heads']), head_dim)}"
                    f".transpose(1, 2).repeat_interleave({repeats}, dim=1)")
    scores = f"{q} @ {k}.transpose(-1, -2) / {literal(float(options['head_dim']) ** 0.5)}"
    if adder is not None:
        scores += f" + {adder}.unsqueeze(1)"
    e.statement(f"{w} = torch.softmax({scores}, dim=-1)")
    if zeroes_masked_rows(e, keep, with_scores):
        e.statement(f"{w} = {w} * {keep}.unsqueeze(1).to({w}.dtype)")
    attended = f"({w} @ {v}).transpose(1, 2)"  # (batch, T, heads, head_dim)
    if "gate" in dict(result.module.parts):
        attended = f"({attended} * torch.sigmoid({heads_projected(e, 'gate', query, heads, head_dim)}))"
    output = Value(f"{m}['output']({attended}.flatten(2))", KERAS, rank, e.inputs[0].mask)
    return [output, Value(w, KERAS, 4, scores_mask(e, keep, GQA_SCORES_MASKED_FROM))] if with_scores else output


register(Kind(
    "keras.layers.GroupQueryAttention", module="nn.Linear x4 (x5 with use_gate)", variables=gqa_variables,
    convert=convert, forward=forward, aliases=layer_names("GroupedQueryAttention"),  # its class, as .h5 files say
    description="q/k/v/gate kernels (d, heads, head_dim) -> (heads*head_dim, d) merged head-major; output "
                "(heads, head_dim, d) -> (d, heads*head_dim); key/value heads repeated per query head group",
    tested="grouped and one key/value head, use_bias off, use_gate, key given, causal, sliding_window, Keras masks, "
           "dropout with a fully masked row, padding in float16, return_attention_scores",
))
