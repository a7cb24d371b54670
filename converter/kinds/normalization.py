"""Normalization (the preprocessing layer) -> buffers `mean` and `variance`.

Keras computes (x - mean) / max(sqrt(variance), 1e-7) over its `axis` (channels-last).
PyTorch has no such module: weightport's generated models give it one with these two
buffers. `count` only serves adapt() and is left out, as the record says.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from .forward import KERAS, Emitter, Value, constant_tensor, same
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


def normalization_variables(config: Config) -> list[Variable]:
    if config.get("mean") is not None:
        return []  # mean and variance given in the config: constants, no weights
    return numbered("", [("mean", Layout.SAME), ("variance", Layout.SAME), ("count", Layout.SAME)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    expect_shape(layer, "variance", layer.tensor("mean").shape, "the shape of mean")
    tensors = [to_torch(layer, "mean", "mean", Layout.SAME), to_torch(layer, "variance", "variance", Layout.SAME)]
    return LayerConversion(
        layer, TorchModule("Normalization", {"shape": layer.tensor("mean").shape}), tensors,
        options={"invert": layer.config.bool("invert", False),
                 "left_out": ["count: only adapt() uses it"] if layer.has("count") else []},
    )


def forward(e: Emitter) -> Value:
    """(x - mean) / max(sqrt(variance), 1e-7), channels-last; the inverse with invert=True."""
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    if e.result is None:  # mean and variance given in the config
        if e.config.bool("invert", False):
            raise e.unsupported("invert=True with mean and variance given in the config is not built yet")
        mean, variance = e.config.numbers("mean"), e.config.numbers("variance")
        mean_buffer, variance_buffer = constant_tensor(e, mean), constant_tensor(e, variance)
        return same(x, f"({keras} - {mean_buffer}) / torch.clamp(torch.sqrt({variance_buffer}), min=1e-7)",
                    layout=KERAS)
    e.module(e.result.module)
    if e.result.options.get("invert"):
        return same(x, f"{keras} * torch.sqrt({e.attribute}.variance) + {e.attribute}.mean", layout=KERAS)
    return same(x, f"{e.attribute}({keras})", layout=KERAS)


register(Kind(
    "keras.layers.Normalization", module="buffers mean, variance", variables=normalization_variables,
    convert=convert, forward=forward,
    description="mean, variance -> buffers of the same shape; count (adapt bookkeeping) left out",
    tested="per-channel statistics of an image model (EfficientNetB0)",
))
