"""Normalization (the preprocessing layer) -> buffers `mean` and `variance`.

Keras computes (x - mean) / max(sqrt(variance), 1e-7) over its `axis` (channels-last).
PyTorch has no such module: weightport's generated models give it one with these two
buffers. `count` only serves adapt() and is left out, as the record says.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from .registry import Context, LayerConversion, Variable, expect_shape, numbered, rule, to_torch


def normalization_variables(config: Config) -> list[Variable]:
    if config.get("mean") is not None:
        return []  # mean and variance given in the config: constants, no weights
    return numbered("", [("mean", Layout.SAME), ("variance", Layout.SAME), ("count", Layout.SAME)])


@rule("Normalization", torch_module="buffers mean, variance", variables=normalization_variables,
      description="mean, variance -> buffers of the same shape; count (adapt bookkeeping) left out",
      tested="per-channel statistics of an image model (EfficientNetB0)")
def convert_normalization(layer: Layer, context: Context) -> LayerConversion:
    expect_shape(layer, "variance", layer.tensor("mean").shape, "the shape of mean")
    tensors = [to_torch(layer, "mean", "mean", Layout.SAME), to_torch(layer, "variance", "variance", Layout.SAME)]
    return LayerConversion(
        layer, "Normalization (mean, variance buffers)", {"shape": layer.tensor("mean").shape}, tensors,
        options={"invert": layer.config.bool("invert", False),
                 "left_out": ["count: only adapt() uses it"] if layer.has("count") else []},
    )
