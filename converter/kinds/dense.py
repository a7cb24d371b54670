"""Dense -> nn.Linear.

Keras computes `x @ kernel` with the kernel stored (in, out); nn.Linear stores its
weight (out, in) and computes `x @ weight.T`: the kernel is transposed. On inputs of
rank > 2 both apply to the last axis, so nothing else changes. After a Flatten of a
channels-last feature map the kernel rows are regrouped from (h, w, c) to (c, h, w).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from . import quantization
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
    step = None
    if channels:  # regroupings imported here: its nine transforms cost 4 ms of every start-up otherwise
        from ..regroupings import FlattenRowsToChannelsFirst

        step = FlattenRowsToChannelsFirst(channels)
    module = TorchModule("Linear", {"in_features": in_features, "out_features": out_features,
                                    "bias": layer.has("bias")})
    int8 = layer.has_config and quantization.is_int8(layer.config)
    source = quantization.dequantized(layer, "kernel", "kernel_scale", axis=1) if int8 else layer
    tensors = kernel_and_bias(source, Layout.TORCH_LINEAR_OI, step)
    result = LayerConversion(layer, module, tensors,
                             activation=layer.config.get("activation") if layer.has_config else None)
    if int8:
        tensors[0] = replace(tensors[0], transform=quantization.transform_note(tensors[0].transform, "kernel_scale"))
        result.options["quantized_inputs"] = quantization.input_quantizer(layer)
        if result.options["quantized_inputs"] is not None:
            result.warnings.append(
                f"layer {layer.key}: int8-quantized: its kernel is dequantized (int8 / kernel_scale, float32), "
                "and Keras also quantizes its inputs to int8 per row at run time; the module weightport builds does "
                "too, an nn.Linear loading this weight alone gives outputs within that quantization's noise")
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
    quantizer = result.options.get("quantized_inputs")
    if channels and x.flat_order != "chw":  # rows regrouped for (c, h, w): reorder Keras's (h, w, c)
        reordered = f"{x.expr}.unflatten(1, (-1, {int(channels)})).transpose(1, 2).flatten(1)"
        return activated(e, Value(f"{e.attribute}({_quantized(e, reordered, quantizer)})", KERAS, 2))
    return activated(e, Value(f"{e.attribute}({_quantized(e, e.arg(0, KERAS), quantizer)})", KERAS, x.rank, x.mask))


def _quantized(e: Emitter, x: str, quantizer: dict[str, Any] | None) -> str:
    """`x`, quantized per row as an int8 Dense quantizes its inputs (scaled back to floats)."""
    if quantizer is None:
        return x
    low, high = quantizer["value_range"]
    return f"{e.helper('keras_int8_inputs')}({x}, {float(low)!r}, {float(high)!r}, {float(quantizer['epsilon'])!r})"


register(Kind(
    "keras.layers.Dense", module="nn.Linear",
    variables=quantization.with_int8_scale(with_bias(("kernel", Layout.KERAS_DENSE_IO)), "kernel_scale"),
    convert=convert, forward=forward,
    description="kernel (in, out) -> weight (out, in) by transpose(1,0); after a Flatten of a channels-last "
                "feature map, rows regrouped (h,w,c) -> (c,h,w); int8-quantized: kernel / kernel_scale, inputs "
                "quantized per row in the built module",
    tested="use_bias, inputs of rank 2 and 3, after Flatten of Conv1D/Conv2D/pooling maps, nested models, "
           "int8-quantized (model.quantize)",
    quantized=(quantization.INT8,),
))
