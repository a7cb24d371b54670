"""MultiHeadAttention -> nn.MultiheadAttention, or four nn.Linear projections.

Keras keeps each projection as an einsum kernel: q/k/v (d_in, heads, key_dim) with bias
(heads, key_dim), output (heads, value_dim, d_out). Merging (heads, dim) head-major and
transposing gives Linear weights; torch splits heads the same way and scales by
1/sqrt(head_dim) as Keras scales by 1/sqrt(key_dim). When every dimension is the model
width (heads*key_dim == d_model, value_dim == key_dim, same q/k/v/output width), the
target is nn.MultiheadAttention's in_proj_weight/in_proj_bias/out_proj; otherwise the
Linear layers `query`, `key`, `value`, `output`.
"""
from __future__ import annotations

from typing import Iterable

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..regroupings import MergeHeads
from ..conversion import LayerConversion, TargetTensor, TorchModule
from .forward import (EINSUM_OPS_ADD_BIAS_FROM, KERAS, Emitter, Value, literal, require_weights,
                      softmax_large_negative, softmax_zeroes_masked, tensorflow_bias_add)
from .registry import Kind, register
from .rules import Context, Variable, concatenated, expect_shape, numbered, to_torch

PROJECTIONS = (("query", "query_dense"), ("key", "key_dense"), ("value", "value_dense"), ("output", "output_dense"))


def attention_variables(config: Config) -> list[Variable]:
    return projection_variables(config, PROJECTIONS)


def projection_variables(config: Config, projections: Iterable[tuple[str, str]]) -> list[Variable]:
    """The einsum kernels (and biases, with use_bias) of attention projections (role, the group they sit in): the
    output's (heads, dim, d), the others' (d, heads, dim)."""
    variables = []
    for role, store in projections:
        kernel = Layout.KERAS_EINSUM_HKD if role == "output" else Layout.KERAS_EINSUM_DHK
        bias = Layout.VECTOR if role == "output" else Layout.KERAS_EINSUM_HK
        entries: list[tuple[str, Layout]] = [("kernel", kernel)]
        if config.bool("use_bias", True):
            entries.append(("bias", bias))
        variables += numbered(f"{store}/", entries, f"{role}.")
    return variables


def _unsupported(layer: Layer) -> str | None:
    axes = layer.config.axes("attention_axes") if layer.config.get("attention_axes") is not None else None
    if axes not in (None, (1,), (-2,)):
        return f"attention over axes {list(axes or ())}; torch attention runs over the sequence axis only"
    output_shape = layer.config.get("output_shape")
    if isinstance(output_shape, (list, tuple)) and len(output_shape) > 1:
        return f"an output_shape of {len(output_shape)} axes ({str(list(output_shape))[:40]}) is not built yet"
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    heads = layer.config.optional_int("num_heads", minimum=1)
    key_dim = layer.config.optional_int("key_dim", minimum=1)
    expect_shape(layer, "query.kernel", (None, heads, key_dim), "(d_query, num_heads, key_dim)")
    query = layer.tensor("query.kernel").shape
    heads, key_dim = query[1], query[2]
    expect_shape(layer, "key.kernel", (None, heads, key_dim), "(d_key, num_heads, key_dim)")
    expect_shape(layer, "value.kernel", (None, heads, None), "(d_value, num_heads, value_dim)")
    key, value = layer.tensor("key.kernel").shape, layer.tensor("value.kernel").shape
    value_dim = value[2]
    expect_shape(layer, "output.kernel", (heads, value_dim, None), "(num_heads, value_dim, d_out)")
    output = layer.tensor("output.kernel").shape
    if layer.has("query.bias"):
        for role, dim in (("query", key_dim), ("key", key_dim), ("value", value_dim)):
            expect_shape(layer, f"{role}.bias", (heads, dim), "(num_heads, dim)")
        expect_shape(layer, "output.bias", (output[2],), "(d_out,)")
    width = heads * key_dim
    bias = layer.has("query.bias")
    packed = (query[0] == key[0] == value[0] == output[2] == width and value_dim == key_dim)
    projections = {role: projection_weight(layer, role) for role, _ in PROJECTIONS}
    biases = {role: projection_bias(layer, role) for role, _ in PROJECTIONS} if bias else {}
    dropout = layer.config.float("dropout", 0.0, minimum=0.0)
    if packed:
        tensors = [concatenated(layer, "in_proj_weight", [projections[r] for r in ("query", "key", "value")])]
        if bias:
            tensors.append(concatenated(layer, "in_proj_bias", [biases[r] for r in ("query", "key", "value")]))
        output_weight = projections["output"]
        output_weight.key = f"{layer.key}.out_proj.weight"
        tensors.append(output_weight)
        if bias:
            biases["output"].key = f"{layer.key}.out_proj.bias"
            tensors.append(biases["output"])
        arguments = {"embed_dim": width, "num_heads": heads, "bias": bias, "dropout": dropout, "batch_first": True}
        return LayerConversion(layer, TorchModule("MultiheadAttention", arguments), tensors)
    tensors = [projections[role] for role, _ in PROJECTIONS] + list(biases.values())
    linears = {"query": (query[0], width), "key": (key[0], width), "value": (value[0], heads * value_dim),
               "output": (heads * value_dim, output[2])}
    module = TorchModule("ModuleDict", parts=tuple(
        (role, TorchModule("Linear", {"in_features": size[0], "out_features": size[1], "bias": bias}))
        for role, size in linears.items()))
    options = {"num_heads": heads, "key_dim": key_dim, "value_dim": value_dim, "scale": f"1/sqrt({key_dim})"}
    return LayerConversion(layer, module, tensors, options=options,
                           warnings=[f"layer {layer.key}: widths do not fit nn.MultiheadAttention (heads*key_dim="
                                     f"{width}, value_dim={value_dim}, inputs {query[0]}/{key[0]}/{value[0]}): "
                                     "converted to four Linear projections; attention is softmax(q k^T / "
                                     f"sqrt({key_dim})) v per head"])


def projection_weight(layer: Layer, role: str) -> TargetTensor:
    """A projection's einsum kernel as a Linear weight: (d, heads, dim) -> (heads*dim, d), the output's
    (heads, dim, d) -> (d, heads*dim), heads merged head-major."""
    return to_torch(layer, f"{role}.kernel", f"{role}.weight", Layout.TORCH_LINEAR_OI,
                    MergeHeads("output_kernel" if role == "output" else "input_kernel"))


def projection_bias(layer: Layer, role: str) -> TargetTensor:
    """A projection's bias as a Linear bias: (heads, dim) -> (heads*dim,); the output's (d,) as it is."""
    return to_torch(layer, f"{role}.bias", f"{role}.bias", Layout.VECTOR,
                    None if role == "output" else MergeHeads("bias"))


def forward(e: Emitter) -> Value | list[Value]:
    """nn.MultiheadAttention, or its four projections written out: softmax(q k^T / sqrt(key_dim)) v per head;
    with return_attention_scores, also that softmax per head (batch, heads, T, S), as Keras returns it."""
    result = require_weights(e)
    query = e.arg(0, KERAS)
    value_input = e.kwargs.get("value")
    value_of: Value | None = e.inputs[1] if len(e.inputs) > 1 else None
    key_of: Value | None = e.inputs[2] if len(e.inputs) > 2 else None
    if len(e.inputs) > 1:
        value = e.arg(1, KERAS)
        key = e.arg(2, KERAS) if len(e.inputs) > 2 else value
    elif isinstance(value_input, Value):
        value_of = value_input
        value = e.convert(value_input, KERAS)
        key_input = e.kwargs.get("key")
        key_of = key_input if isinstance(key_input, Value) else None
        key = e.convert(key_input, KERAS) if isinstance(key_input, Value) else value
    else:
        raise e.unsupported("cannot find the value input of this call")
    rank = e.inputs[0].rank
    if rank is not None and rank != 3:
        # Keras attends over axis 1 only and keeps the axes between it and the features apart (attention_axes=(1,)
        # of a rank-4 query); torch attention takes (batch, sequence, features)
        raise e.unsupported(f"attention over axis 1 of a rank-{rank} query is not built yet (of a rank-3 one is)")
    if rank != 3 and _masked(e, value_of, key_of):
        raise e.unsupported(f"masks over inputs of rank {rank} (attention over several axes) are not built yet")
    with_scores = bool(e.named("return_attention_scores") or e.kwargs.get("return_attention_scores"))
    if with_scores and rank != 3:
        raise e.unsupported(f"return_attention_scores over inputs of rank {rank} is not built yet (rank 3 is)")
    keep = keep_mask(e, query, value, value_of, key_of)
    adder = score_adder(e, keep, query, with_scores, _mask_as_given(e, value_of, key_of))
    zeroed = zeroes_masked_rows(e, keep, with_scores)
    even = evens_masked_rows(e, keep, with_scores)
    e.module(result.module)
    m = e.attribute
    if not result.module.parts:  # nn.MultiheadAttention: the mask as a float added to the scaled scores
        heads = int(result.module.arguments["num_heads"])
        if moves_head_bias(e, heads, int(result.module.arguments["embed_dim"]) // heads, "query"):
            raise e.unsupported("key_dim=1 with biases: Keras 3.10+ on TensorFlow adds each projection's (heads, 1) "
                                "bias along the sequence when it is as long as there are heads (tf.nn.bias_add), "
                                "which nn.MultiheadAttention cannot; the weights convert")
        attn_mask = "" if adder is None else \
            f", attn_mask={adder}.expand({query}.shape[0], -1, -1).repeat_interleave({heads}, dim=0)"
        if even:  # a row masked whole weighs every key equally: the output projection of the values' mean
            width = int(result.module.arguments["embed_dim"])
            averaged = (f"{m}.out_proj(F.linear({value}, {m}.in_proj_weight[{2 * width}:], "
                        f"{m}.in_proj_bias[{2 * width}:] if {m}.in_proj_bias is not None else None)"
                        f".float().mean(1, keepdim=True).to({query}.dtype))")
            attended = f"{m}({query}, {key}, {value}, need_weights=False{attn_mask})[0]"
            return Value(f"torch.where({keep}.any(-1, keepdim=True), {attended}, {averaged})", KERAS, rank,
                         e.inputs[0].mask)
        if not with_scores and not zeroed:
            return Value(f"{m}({query}, {key}, {value}, need_weights=False{attn_mask})[0]", KERAS, rank,
                         e.inputs[0].mask)
        pair = e.variable("attended")
        e.statement(f"{pair} = {m}({query}, {key}, {value}, need_weights={with_scores}, "
                    f"average_attn_weights=False{attn_mask})")
        attended, weights = f"{pair}[0]", f"{pair}[1]"
        if zeroed:  # a row that attends to nothing is the output projection of zeros (its bias)
            attended = (f"torch.where({keep}.any(-1, keepdim=True), {attended}, "
                        f"{m}.out_proj(torch.zeros_like({attended})))")
            weights = f"{weights} * {keep}.unsqueeze(1).to({query}.dtype)"
        outputs = [Value(attended, KERAS, rank, e.inputs[0].mask)]
        return outputs + [Value(weights, KERAS, 4, scores_mask(e, keep))] if with_scores else outputs[0]
    options = result.options
    heads = int(options["num_heads"])
    q, k, v, w = e.variable("q"), e.variable("k"), e.variable("v"), e.variable("weights")
    key_dim, value_dim = int(options["key_dim"]), int(options["value_dim"])
    e.statement(f"{q} = {heads_projected(e, 'query', query, heads, key_dim)}.transpose(1, 2)")
    e.statement(f"{k} = {heads_projected(e, 'key', key, heads, key_dim)}.transpose(1, 2)")
    e.statement(f"{v} = {heads_projected(e, 'value', value, heads, value_dim)}.transpose(1, 2)")
    scores = f"{q} @ {k}.transpose(-1, -2) / {literal(float(options['key_dim']) ** 0.5)}"
    if adder is not None:
        scores += f" + {adder}.unsqueeze(1)"
    e.statement(f"{w} = torch.softmax({scores}, dim=-1)")
    if even:  # a row masked whole weighs every key equally
        e.statement(f"{w} = torch.where({keep}.any(-1, keepdim=True).unsqueeze(1), {w}, 1.0 / {w}.shape[-1])")
    if zeroed:
        e.statement(f"{w} = {w} * {keep}.unsqueeze(1).to({w}.dtype)")
    output = Value(f"{m}['output'](({w} @ {v}).transpose(1, 2).flatten(2))", KERAS, rank, e.inputs[0].mask)
    return [output, Value(w, KERAS, 4, scores_mask(e, keep))] if with_scores else output


#: from which Keras 3 the scores a MultiHeadAttention returns carry its attention mask (tf.keras's do too)
SCORES_MASKED_FROM = (3, 11)


def scores_mask(e: Emitter, keep: str | None, masked_from: tuple[int, int] = SCORES_MASKED_FROM) -> str | None:
    """The Keras mask on the returned scores (batch, 1, T, S): the attention mask their softmax layer was called
    with, which it leaves on its output; a masked Softmax after them reads it. None without masks, and where the
    file's Keras 3 is older than `masked_from`, whose scores carry none."""
    if keep is None or (e.keras_major >= 3 and e.keras_version < masked_from):
        return None
    return f"{keep}.unsqueeze(1)"


def moves_head_bias(e: Emitter, heads: int, dim: int, role: str) -> bool:
    """Whether the file's Keras added this projection's (heads, dim) bias along another axis: a (heads, 1) one on
    Keras 3.10+'s TensorFlow backend (the projections are EinsumDense layers; its ops.add: tf.nn.bias_add along
    axis 1, the sequence, when it is as long as there are heads)."""
    return (dim == 1 and heads > 1 and e.layer.has(f"{role}.bias")
            and tensorflow_bias_add(e, EINSUM_OPS_ADD_BIAS_FROM))


def heads_projected(e: Emitter, role: str, source: str, heads: int, dim: int) -> str:
    """A projection's output split into heads, (batch, T, heads, dim), its bias added as the file's Keras did."""
    projected = f"{e.attribute}['{role}']({source}).unflatten(-1, ({heads}, -1))"
    if not moves_head_bias(e, heads, dim, role):
        return projected
    return f"{e.helper('keras_tf_bias')}({projected}, {e.attribute}['{role}'].bias.view({heads}, {dim}))"


def _masked(e: Emitter, value_of: Value | None, key_of: Value | None) -> bool:
    return (e.kwargs.get("attention_mask") is not None or _causal(e) or _query_mask(e) is not None
            or e.config.get("sliding_window") is not None
            or any(input_mask(e, name, v) is not None for name, v in (("value", value_of), ("key", key_of))))


def _query_mask(e: Emitter) -> str | None:
    """The query's mask as the attention reads it: tf.keras's MultiHeadAttention reads the mask its query tensor
    carries, and casting the query to the layer's dtype (a float64 query into a float32 layer) makes a tensor
    that carries none; Keras 3 hands the mask on."""
    if e.keras_major < 3 and e.first_input_cast:
        return None
    return input_mask(e, "query", e.inputs[0])


def input_mask(e: Emitter, name: str, value: Value | None) -> str | None:
    """The mask an attention call reads for its `name` input ("query", "value", "key"): the tensor the config
    gives as its `{name}_mask` (Keras 3.0 to 3.9 record the masks a call ran with, which it runs with again,
    whatever a MultiHeadAttention before it cleared), else the mask the input carries."""
    given = e.kwargs.get(f"{name}_mask")
    if isinstance(given, Value):
        return given.expr
    return value.mask if value is not None else None


def _causal(e: Emitter) -> bool:
    return e.config.bool("use_causal_mask", False) or bool(e.kwargs.get("use_causal_mask"))


def score_adder(e: Emitter, keep: str | None, query: str, with_scores: bool, given: str | None = None) -> str | None:
    """A local holding what Keras's masked softmax adds to the scores, (1 - mask) * a large negative number
    (batch, T, S): a fully masked row stays finite; None without a mask. `given`: the attention_mask as tf.keras
    hands it to its Softmax, its values uncast (_mask_as_given)."""
    if keep is None:
        return None
    adder = e.variable("adder")
    negative = literal(_large_negative(e, with_scores))
    if given is not None:
        e.statement(f"{adder} = (1 - {given}.to({query}.dtype)).expand_as({keep}) * {negative}")
    else:
        e.statement(f"{adder} = (~{keep}).to({query}.dtype) * {negative}")
    return adder


def _mask_as_given(e: Emitter, value_of: Value | None, key_of: Value | None) -> str | None:
    """tf.keras's MultiHeadAttention hands an attention_mask that no other mask joins (no causal mask, no Keras
    mask on its inputs) to its Softmax as it is, which adds (1 - mask) * -1e9 to the scores: an integer mask of
    other values than 0 and 1 (from an Input) shifts the scores by them, where reading it as booleans (Keras 3,
    and tf.keras once it joins another mask) does not. That mask's expression, else None."""
    attention_mask = e.kwargs.get("attention_mask")
    if e.keras_major >= 3 or not isinstance(attention_mask, Value) or _causal(e) or _query_mask(e) is not None:
        return None
    if any(input_mask(e, name, other) is not None for name, other in (("value", value_of), ("key", key_of))):
        return None
    return e.convert(attention_mask, KERAS)


def _large_negative(e: Emitter, with_scores: bool) -> float:
    """The number the file's Keras masks scores with: its Softmax's, or Keras 3.7+'s dot_product_attention's (on
    TensorFlow) -0.7 x the dtype's largest (65500 in float16, 3.38953e38 else), which leaves a row masked
    throughout uniform in float64 too, where -1e9 would not swamp the scores."""
    dtype = e.inputs[0].dtype  # the layer's compute dtype: its inputs are cast to it
    if e.keras_major < 3 or _own_softmax(e, with_scores):
        return softmax_large_negative(e, dtype)
    return -0.7 * (65500.0 if dtype == "float16" else 3.38953e38)


def _own_softmax(e: Emitter, with_scores: bool) -> bool:
    """Whether Keras 3 computes the masked softmax itself: before 3.7 always, since then when the scores are
    returned or dropout is configured (else ops.dot_product_attention)."""
    dropout = e.config.get("dropout", 0.0)
    return e.keras_version < (3, 7) or with_scores or (isinstance(dropout, (int, float)) and dropout > 0)


def zeroes_masked_rows(e: Emitter, keep: str | None, with_scores: bool) -> bool:
    """Whether the masked weights are zeroed after the softmax, so that a fully masked row attends to nothing:
    Keras 3.10 on does where it computes the softmax itself (its Softmax zeroes them); its
    dot_product_attention, earlier Keras 3 and tf.keras leave such a row uniform."""
    return keep is not None and softmax_zeroes_masked(e) and _own_softmax(e, with_scores)


def evens_masked_rows(e: Emitter, keep: str | None, with_scores: bool) -> bool:
    """Whether a row masked whole must be made to weigh its keys equally: Keras 3.7+'s dot_product_attention
    (TensorFlow's, in float32) does so exactly, where the module's float16 scores plus -0.7 x 65500 stay uneven
    when they differ by more than float16's spacing there (32). Other dtypes' large negative swamps any score."""
    return keep is not None and not _own_softmax(e, with_scores) and e.keras_major >= 3 \
        and e.inputs[0].dtype == "float16"


def keep_mask(e: Emitter, query: str, value: str, value_of: Value | None, key_of: Value | None) -> str | None:
    """The (batch, T, S) boolean mask of the scores each query position sees, or None without masks.

    Keras combines, with a logical and: `attention_mask` (batch, T, S), the causal mask (query
    position i sees value positions j <= i), Keras 3's sliding window (i sees j where |i - j| <
    sliding_window), and the Keras masks the query (batch, T), value
    and key (batch, S) carry.
    """
    terms = []
    attention_mask = e.kwargs.get("attention_mask")
    if isinstance(attention_mask, Value):
        terms.append(f"{e.convert(attention_mask, KERAS)}.bool()")
    elif attention_mask is not None:
        raise e.unsupported("an attention_mask that is not a tensor of the graph")
    if _causal(e):
        terms.append(f"torch.ones({query}.shape[1], {value}.shape[1], dtype=torch.bool, "
                     f"device={query}.device).tril().unsqueeze(0)")
    window = e.config.optional_int("sliding_window", minimum=1)
    if window is not None:
        rows, columns = (f"torch.arange({x}.shape[1], device={query}.device)" for x in (query, value))
        terms.append(f"(({rows}.unsqueeze(1) - {columns}.unsqueeze(0)).abs() < {window}).unsqueeze(0)")
    query_mask = _query_mask(e)
    if query_mask is not None:
        terms.append(f"{query_mask}.bool().unsqueeze(2)")
    for name, other in (("value", value_of), ("key", key_of)):
        other_mask = input_mask(e, name, other)
        if other_mask is not None:
            terms.append(f"{other_mask}.bool().unsqueeze(1)")
    if not terms:
        return None
    mask = e.variable("mask")  # broadcast to (batch, T, S): its terms may lack the batch, T or S
    e.statement(f"{mask} = ({' & '.join(terms)}).expand({query}.shape[0], {query}.shape[1], {value}.shape[1])")
    return mask


register(Kind(
    "keras.layers.MultiHeadAttention", module="nn.MultiheadAttention or nn.Linear x4", variables=attention_variables,
    convert=convert, forward=forward, unsupported=_unsupported,
    description="q/k/v kernels (d, heads, dim) -> (heads*dim, d) merged head-major; output (heads, dim, d) -> "
                "(d, heads*dim); into in_proj/out_proj when all widths agree",
    tested="self and cross attention, use_bias, key_dim == and != d_model/heads, value_dim; use_causal_mask, "
           "attention_mask (integer ones too, of other values than 0 and 1: tf.keras adds one no other mask joins "
           "on its values), the Keras masks of its inputs (Embedding mask_zero), Keras 3's sliding_window; "
           "return_attention_scores; fully masked rows (Keras 3.10+ zeroes them when it returns the scores or has "
           "dropout; a 3.9 file), in float16 too (masked as each Keras masks them)",
))
