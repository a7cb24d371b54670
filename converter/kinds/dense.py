"""Dense -> nn.Linear.

Keras computes `x @ kernel` with the kernel stored (in, out); nn.Linear stores its
weight (out, in) and computes `x @ weight.T`: the kernel is transposed. On inputs of
rank > 2 both apply to the last axis, so nothing else changes. After a Flatten of a
channels-last feature map the kernel rows are regrouped from (h, w, c) to (c, h, w).
"""
from __future__ import annotations

from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import FlattenRowsToChannelsFirst, Layout
from .feature_maps import flatten_channels
from .forward import KERAS, Emitter, Value, activated, require_weights
from .registry import Kind, register
from .rules import Context, expect_shape, kernel_and_bias, with_bias


def convert(layer: Layer, context: Context) -> LayerConversion:
    units = layer.config.optional_int("units", minimum=1) if layer.has_config else None
    expect_shape(layer, "kernel", (None, units), "(in, units)")
    in_features, out_features = layer.tensor("kernel").shape
    if layer.has("bias"):
        expect_shape(layer, "bias", (out_features,), "one per unit")
    channels, warning = flatten_channels(layer, context)
    step = FlattenRowsToChannelsFirst(channels) if channels else None
    module = TorchModule("Linear", {"in_features": in_features, "out_features": out_features,
                                    "bias": layer.has("bias")})
    result = LayerConversion(layer, module, kernel_and_bias(layer, Layout.TORCH_LINEAR_OI, step),
                             activation=layer.config.get("activation") if layer.has_config else None)
    if channels:
        result.options["flattened_channels"] = channels
    if warning:
        result.warnings.append(warning)
    return result


def forward(e: Emitter) -> Value:
    """A Linear on the last (channels) axis: channels-last, whatever layout comes in."""
    result = require_weights(e)
    e.module(result.module)
    x = e.inputs[0]
    channels = result.options.get("flattened_channels")
    if channels and x.flat_order != "chw":  # rows regrouped for (c, h, w): reorder Keras's (h, w, c)
        reordered = f"{x.expr}.unflatten(1, (-1, {int(channels)})).transpose(1, 2).flatten(1)"
        return activated(e, Value(f"{e.attribute}({reordered})", KERAS, 2))
    return activated(e, Value(f"{e.attribute}({e.arg(0, KERAS)})", KERAS, x.rank, x.mask))


register(Kind(
    "keras.layers.Dense", module="nn.Linear", variables=with_bias(("kernel", Layout.KERAS_DENSE_IO)),
    convert=convert, forward=forward,
    description="kernel (in, out) -> weight (out, in) by transpose(1,0); after a Flatten of a channels-last "
                "feature map, rows regrouped (h,w,c) -> (c,h,w)",
    tested="use_bias, inputs of rank 2 and 3, after Flatten of Conv1D/Conv2D/pooling maps, nested models",
))
