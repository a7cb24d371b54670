"""ReversibleEmbedding (Keras 3, KerasHub's token embedding) -> nn.Embedding, its table also the output
projection.

Called as usual it looks ids up, as Embedding does, with its mask (mask_zero: the ids that are
not 0; every Keras that has the layer, 3.12 on, gives it: 3.12 and 3.13 by Embedding's
compute_mask, 3.14 on in its call). Called with
`reverse=True` it projects hidden states to logits: x @ embeddings.T when the weights are
tied (the default; one table, as Hugging Face ties `lm_head` to the input embeddings), else
x @ reverse_embeddings, stored (output_dim, input_dim) as a Dense kernel is: an
nn.Linear(bias=False) beside the table takes it transposed. `reverse_dtype` casts both
first; `logit_soft_cap` gives tanh(logits / cap) * cap.
"""
from __future__ import annotations

from ..config import COMPUTE_DTYPES, Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from .forward import KERAS, Emitter, Value, literal, require_weights
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


#: from which Keras the layer's call sets its output's mask itself (and its compute_mask gives none, so that a
#: reverse call's logits carry no mask); Keras 3.12 and 3.13 had Embedding's compute_mask for both calls
MASK_SET_IN_CALL_FROM = (3, 14)


def reversible_embedding_variables(config: Config) -> list[Variable]:
    entries = [("embeddings", Layout.SAME)]
    if not config.bool("tie_weights", True):
        entries.append(("reverse_embeddings", Layout.KERAS_DENSE_IO))
    return numbered("", entries)


def convert(layer: Layer, context: Context) -> LayerConversion:
    config = layer.config
    expect_shape(layer, "embeddings", (config.optional_int("input_dim", minimum=1),
                                       config.optional_int("output_dim", minimum=1)), "(input_dim, output_dim)")
    rows, columns = layer.tensor("embeddings").shape
    table = TorchModule("Embedding", {"num_embeddings": rows, "embedding_dim": columns})
    if config.bool("tie_weights", True):
        return LayerConversion(layer, table, [to_torch(layer, "embeddings", "weight", Layout.SAME)])
    expect_shape(layer, "reverse_embeddings", (columns, rows), "(output_dim, input_dim)")
    reverse = TorchModule("Linear", {"in_features": columns, "out_features": rows, "bias": False})
    return LayerConversion(layer, TorchModule("ModuleDict", parts=(("embedding", table), ("reverse", reverse))),
                           [to_torch(layer, "embeddings", "embedding.weight", Layout.SAME),
                            to_torch(layer, "reverse_embeddings", "reverse.weight", Layout.TORCH_LINEAR_OI)])


def forward(e: Emitter) -> Value:
    """The ids looked up, or (reverse=True) the hidden states projected to logits."""
    result = require_weights(e)
    e.module(result.module)
    x = e.inputs[0]
    tied = result.module.kind == "Embedding"
    masked = e.config.bool("mask_zero", False)
    if not e.named("reverse", False):
        table = e.attribute if tied else f"{e.attribute}['embedding']"
        mask = f"({x.expr} != 0)" if masked else None
        return Value(f"{table}({x.expr}.long())", KERAS, x.rank + 1 if x.rank else None, mask=mask)
    if masked and e.keras_version < MASK_SET_IN_CALL_FROM:
        raise e.unsupported("a mask_zero ReversibleEmbedding called with reverse=True is not built for Keras 3.12 "
                            "and 3.13 (their Embedding.compute_mask masks the logits where the hidden states are 0)")
    hidden = e.arg(0, KERAS)
    weight = f"{e.attribute}.weight" if tied else f"{e.attribute}['reverse'].weight"
    dtype = e.config.get("reverse_dtype")
    if dtype is not None:
        if dtype not in COMPUTE_DTYPES:
            raise e.unsupported(f"reverse_dtype {str(dtype)[:20]!r} is not built (a floating dtype is)")
        hidden, weight = f"{hidden}.to(torch.{dtype})", f"{weight}.to(torch.{dtype})"
    logits = f"F.linear({hidden}, {weight})"
    cap = e.config.get("logit_soft_cap")
    if cap is not None:
        cap = e.config.float("logit_soft_cap")
        logits = f"torch.tanh({logits} / {literal(cap)}) * {literal(cap)}"
    return Value(logits, KERAS, x.rank, dtype=dtype if dtype not in (None, "float32") else None)


register(Kind(
    "keras.layers.ReversibleEmbedding", module="nn.Embedding",
    aliases=("keras_hub.layers.ReversibleEmbedding",),  # KerasHub's is Keras's (a subclass adding nothing)
    variables=reversible_embedding_variables, convert=convert, forward=forward,
    description="embeddings -> weight, unchanged, also the output projection (reverse=True: x @ weight.T); "
                "untied: reverse_embeddings (out, in) -> a bias-free nn.Linear's weight by transpose",
    tested="ids, mask_zero, reverse=True tied and untied, logit_soft_cap, reverse_dtype",
))
