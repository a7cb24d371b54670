"""The layers keras.applications defines for its own models: ConvNeXt's LayerScale, InceptionResNetV2's
CustomScaleLayer. Keras 3 saves them with their module (`keras.src.applications.convnext`), so
they are kinds of their own, never taken for a user's class of the same name.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from .forward import Emitter, Value, channel_dim, literal, require_weights, same
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


def layer_scale_variables(config: Config) -> list[Variable]:
    return numbered("", [("gamma", Layout.VECTOR)])


def layer_scale_convert(layer: Layer, context: Context) -> LayerConversion:
    """gamma (channels,) -> weight (channels,): ConvNeXt scales each channel of its block's output."""
    dim = layer.config.optional_int("projection_dim", minimum=1)
    expect_shape(layer, "gamma", (dim,), "(projection_dim,)")
    shape = layer.tensor("gamma").shape
    return LayerConversion(layer, TorchModule("Weight", {"shape": tuple(shape)}),
                           [to_torch(layer, "gamma", "weight", Layout.VECTOR)])


def layer_scale(e: Emitter) -> Value:
    """x * gamma over the channels, in whichever layout x is."""
    result = require_weights(e)
    e.module(result.module)
    x = e.inputs[0]
    dim = channel_dim(x)
    if dim == -1:
        return same(x, f"{x.expr} * {e.attribute}.weight")
    view = ", ".join(["1", "-1"] + ["1"] * ((x.rank or 2) - 2))
    return same(x, f"{x.expr} * {e.attribute}.weight.view({view})")


def custom_scale(e: Emitter) -> Value:
    """inputs[0] + inputs[1] * scale, as InceptionResNetV2's residual blocks add their branch."""
    if len(e.inputs) != 2:
        raise e.unsupported(f"called with {len(e.inputs)} inputs; it adds a scaled second input to a first")
    scale = e.config.float("scale")
    layout = e.inputs[0].layout
    return same(e.inputs[0], f"({e.arg(0, layout)} + {e.arg(1, layout)} * {literal(scale)})")


register(Kind(
    "keras.applications.convnext.LayerScale", module="Weight (per channel)", variables=layer_scale_variables,
    convert=layer_scale_convert, forward=layer_scale,
    description="gamma (channels,) -> weight, unchanged; x * weight over the channels",
    tested="ConvNeXt blocks, images in both layouts",
))
register(Kind(
    "keras.applications.inception_resnet_v2.CustomScaleLayer", forward=custom_scale,
    description="no weights; a + b * scale", tested="InceptionResNetV2's residual sum, images in both layouts",
))
