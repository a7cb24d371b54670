"""PReLU -> nn.PReLU when Keras shares alpha over every axis but the channels.

Keras's alpha has the input's shape without batch, with 1 on each shared axis; nn.PReLU
has one value per channel (axis 1 in torch) or one in all. A per-position alpha has no
nn.PReLU form: it is written channels-last as Keras has it, with a warning.
"""
from __future__ import annotations

import math

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..regroupings import ToVector
from ..conversion import LayerConversion, TorchModule
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, require_weights, same
from .registry import Kind, register
from .rules import Context, Variable, numbered, to_torch


def prelu_variables(config: Config) -> list[Variable]:
    return numbered("", [("alpha", Layout.SAME)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    shape = layer.tensor("alpha").shape
    varying = [axis for axis, size in enumerate(shape) if size != 1]
    if not varying or varying == [len(shape) - 1]:
        tensor = to_torch(layer, "alpha", "weight", Layout.VECTOR, ToVector())
        return LayerConversion(layer, TorchModule("PReLU", {"num_parameters": math.prod(shape)}), [tensor])
    kept = to_torch(layer, "alpha", "weight", Layout.SAME)
    return LayerConversion(
        layer, TorchModule("Weight", {"shape": tuple(shape)}), [kept],
        warnings=[f"layer {layer.key}: alpha varies over axes {varying} of {shape}: nn.PReLU has one value "
                  "per channel; compute torch.where(x >= 0, x, weight * x) on channels-last x"],
    )


def forward(e: Emitter) -> Value:
    """nn.PReLU on channels-first values; a per-position alpha applied channels-last as Keras does."""
    result = require_weights(e)
    x = e.inputs[0]
    e.module(result.module)
    if result.module.kind == "PReLU":
        return same(x, f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)
    keras = e.arg(0, KERAS)
    return same(x, f"torch.where({keras} >= 0, {keras}, {e.attribute}.weight * {keras})", layout=KERAS)


register(Kind(
    "keras.layers.PReLU", module="nn.PReLU", variables=prelu_variables, convert=convert, forward=forward,
    description="alpha shared over all axes but channels -> weight (c,); per-position alpha kept",
    tested="shared_axes over spatial axes, over all axes, none shared",
))
