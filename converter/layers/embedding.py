"""Embedding -> nn.Embedding: the table (input_dim, output_dim) is stored alike."""
from __future__ import annotations

from typing import Any

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from .registry import Context, LayerConversion, Variable, expect_shape, numbered, rule, to_torch


def embedding_variables(config: Config) -> list[Variable]:
    return numbered("", [("embeddings", Layout.SAME)])


@rule("Embedding", torch_module="nn.Embedding", variables=embedding_variables,
      description="embeddings (input_dim, output_dim) -> weight, unchanged",
      tested="mask_zero, integer inputs")
def convert_embedding(layer: Layer, context: Context) -> LayerConversion:
    if layer.has_config:
        expected = (layer.config.optional_int("input_dim", minimum=1), layer.config.optional_int("output_dim", minimum=1))
    else:
        expected = (None, None)
    expect_shape(layer, "embeddings", expected, "(input_dim, output_dim)")
    rows, columns = layer.tensor("embeddings").shape
    arguments: dict[str, Any] = {"num_embeddings": rows, "embedding_dim": columns}
    warnings = []
    if layer.config.bool("mask_zero", False):
        warnings.append(f"layer {layer.key}: mask_zero=True: Keras masks index 0 for the layers after it; "
                        "PyTorch has no masks (padding_idx only freezes a row's gradient)")
    return LayerConversion(layer, "nn.Embedding", arguments, [to_torch(layer, "embeddings", "weight", Layout.SAME)],
                           warnings=warnings)
