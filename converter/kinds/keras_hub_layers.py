"""KerasHub's (KerasNLP's) own layers with weights: PositionEmbedding -> a Weight; TokenAndPositionEmbedding ->
an nn.Embedding and that Weight.

`keras_hub.layers.PositionEmbedding(sequence_length)` holds one embedding per position,
(sequence_length, width), and returns the first `steps` of them broadcast to its input's
shape (the input is only read for its shape; the caller adds them). TokenAndPositionEmbedding
adds them to its tokens' embeddings (a ReversibleEmbedding: with mask_zero its output keeps the
ids' mask); untied, its reverse table is converted too, though it is never called. KerasHub's
TransformerEncoder is read as a model of Keras layers (readers/keras_hub.py); its
ReversibleEmbedding is Keras's (a subclass adding nothing).
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..errors import ConfigError
from ..graph import Layer
from ..layouts import Layout
from .forward import KERAS, Emitter, Value, require_weights
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


def variables(config: Config) -> list[Variable]:
    return numbered("", [("embeddings", Layout.SAME)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    expect_shape(layer, "embeddings", (None, None), "(sequence_length, width)")
    shape = layer.tensor("embeddings").shape
    recorded = layer.config.optional_int("sequence_length", minimum=1)
    if recorded is not None and recorded != shape[0]:
        raise ConfigError(f"{layer.config.where}: sequence_length {recorded}, but {shape[0]} position embeddings")
    tensor = to_torch(layer, "embeddings", "weight", Layout.SAME)
    return LayerConversion(layer, TorchModule("Weight", {"shape": tuple(shape)}), [tensor])


def positions(module: str, x: str) -> str:
    """The first `steps` (axis -2 of `x`) of a PositionEmbedding module's weight, broadcast to `x`'s shape."""
    return f"{module}.weight[:{x}.shape[-2]].expand_as({x})"


def forward(e: Emitter) -> Value:
    """The first `steps` position embeddings (axis -2 of the input), broadcast to the input's shape."""
    result = require_weights(e)
    if len(e.inputs) != 1 or e.kwargs or (e.inputs[0].rank or 0) < 2:
        raise e.unsupported("PositionEmbedding given start_index or positions, or of an input of rank below 2, is "
                            "not built; of a (batch, ..., steps, width) input from position 0 is")
    x = e.arg(0, KERAS)
    attribute = e.module(result.module)
    return Value(positions(attribute, x), KERAS, e.inputs[0].rank)


register(Kind(
    "keras_hub.layers.PositionEmbedding", module="Weight", variables=variables, convert=convert, forward=forward,
    description="embeddings (sequence_length, width) -> weight (same); the first steps, broadcast to the input",
    tested="in TokenAndPositionEmbedding and on its own, after an Embedding",
))


def token_and_position_variables(config: Config) -> list[Variable]:
    token = [("embeddings", Layout.SAME)]
    if not config.bool("tie_weights", True):
        token.append(("reverse_embeddings", Layout.KERAS_DENSE_IO))
    return (numbered("token_embedding/", token, "token_")
            + numbered("position_embedding/", [("embeddings", Layout.SAME)], "position_"))


def token_and_position_convert(layer: Layer, context: Context) -> LayerConversion:
    config = layer.config
    expect_shape(layer, "token_embeddings", (config.optional_int("vocabulary_size", minimum=1),
                                             config.optional_int("embedding_dim", minimum=1)),
                 "(vocabulary_size, embedding_dim)")
    rows, width = layer.tensor("token_embeddings").shape
    expect_shape(layer, "position_embeddings", (config.optional_int("sequence_length", minimum=1), width),
                 "(sequence_length, embedding_dim)")
    parts = [("token_embedding", TorchModule("Embedding", {"num_embeddings": rows, "embedding_dim": width})),
             ("position_embedding", TorchModule("Weight", {"shape": layer.tensor("position_embeddings").shape}))]
    tensors = [to_torch(layer, "token_embeddings", "token_embedding.weight", Layout.SAME),
               to_torch(layer, "position_embeddings", "position_embedding.weight", Layout.SAME)]
    if not config.bool("tie_weights", True):
        expect_shape(layer, "token_reverse_embeddings", (width, rows), "(embedding_dim, vocabulary_size)")
        parts.append(("token_reverse", TorchModule("Linear", {"in_features": width, "out_features": rows,
                                                              "bias": False})))
        tensors.append(to_torch(layer, "token_reverse_embeddings", "token_reverse.weight", Layout.TORCH_LINEAR_OI))
    return LayerConversion(layer, TorchModule("ModuleDict", parts=tuple(parts)), tensors)


def token_and_position_forward(e: Emitter) -> Value:
    """The ids' embeddings plus the first `steps` position embeddings; masked where an id is 0 with mask_zero."""
    result = require_weights(e)
    x = e.inputs[0]
    if len(e.inputs) != 1 or e.kwargs or not x.rank:
        raise e.unsupported("TokenAndPositionEmbedding given start_index or positions is not built; of ids from "
                            "position 0 is")
    attribute = e.module(result.module)
    ids = e.arg(0, KERAS)
    tokens = e.variable("tokens")
    e.statement(f"{tokens} = {attribute}['token_embedding']({ids}.long())")
    added = positions(f"{attribute}['position_embedding']", tokens)
    mask = f"({ids} != 0)" if e.config.bool("mask_zero", False) else None
    return Value(f"{tokens} + {added}", KERAS, x.rank + 1, mask=mask)


register(Kind(
    "keras_hub.layers.TokenAndPositionEmbedding", module="nn.Embedding + Weight",
    variables=token_and_position_variables, convert=token_and_position_convert, forward=token_and_position_forward,
    description="token_embedding (vocabulary, width) -> nn.Embedding weight; position_embedding (steps, width) -> "
                "Weight; untied reverse_embeddings -> a bias-free nn.Linear's weight",
    tested="mask_zero, tie_weights off, mixed_float16, before TransformerEncoder",
))

