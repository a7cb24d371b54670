"""Embedding -> nn.Embedding: the table (input_dim, output_dim) is stored alike."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from . import quantization
from .forward import KERAS, Emitter, Value, require_weights
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


def embedding_variables(config: Config) -> list[Variable]:
    return numbered("", [("embeddings", Layout.SAME)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    if layer.has_config:
        expected = (layer.config.optional_int("input_dim", minimum=1),
                    layer.config.optional_int("output_dim", minimum=1))
    else:
        expected = (None, None)
    expect_shape(layer, "embeddings", expected, "(input_dim, output_dim)")
    rows, columns = layer.tensor("embeddings").shape
    arguments: dict[str, Any] = {"num_embeddings": rows, "embedding_dim": columns}
    warnings = []
    if layer.config.bool("mask_zero", False):
        warnings.append(f"layer {layer.key}: mask_zero=True: Keras masks index 0 for the layers after it; "
                        "PyTorch has no masks (padding_idx only freezes a row's gradient)")
    if layer.has_config and quantization.is_int8(layer.config):  # Keras divides each looked-up row by its scale
        table = to_torch(quantization.dequantized(layer, "embeddings", "embeddings_scale", axis=0), "embeddings",
                         "weight", Layout.SAME)
        table = replace(table, transform=quantization.transform_note(table.transform, "embeddings_scale"))
    else:
        table = to_torch(layer, "embeddings", "weight", Layout.SAME)
    return LayerConversion(layer, TorchModule("Embedding", arguments), [table], warnings=warnings)


def forward(e: Emitter) -> Value:
    """nn.Embedding of the integer ids; mask_zero gives the values after it Keras's mask."""
    result = require_weights(e)
    e.module(result.module)
    x = e.inputs[0]
    rank = x.rank + 1 if x.rank else None
    mask = f"({x.expr} != 0)" if e.config.bool("mask_zero", False) else None
    return Value(f"{e.attribute}({x.expr}.long())", KERAS, rank, mask)


register(Kind(
    "keras.layers.Embedding", module="nn.Embedding",
    variables=quantization.with_int8_scale(embedding_variables, "embeddings_scale"), convert=convert, forward=forward,
    description="embeddings (input_dim, output_dim) -> weight, unchanged; int8-quantized: embeddings / "
                "embeddings_scale (per row), exact",
    tested="mask_zero, integer inputs, int8-quantized (model.quantize)", quantized=(quantization.INT8,),
))
