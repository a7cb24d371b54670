"""LocallyConnected1D/2D (tf.keras) -> weightport's LocallyConnected: a convolution whose weights differ
at every output position.

tf.keras's default implementation (1) stores the kernel as (positions, kernel * in_channels,
filters): one (patch, filters) matrix per output position, positions in row-major order,
each patch flattened in (k1[, k2], channels) order, and the bias as (*positions, filters).
PyTorch has no such module: weightport's `LocallyConnected` keeps both tensors as Keras
stores them and computes the same products (patches by `unfold`, one einsum). Implementations
2 and 3 (a masked dense kernel, a sparse one) and channels_first are refused by name.
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from .forward import KERAS, Emitter, Value, activated, require_weights
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch

KINDS = {"LocallyConnected1D": 1, "LocallyConnected2D": 2}


def locally_connected_variables(config: Config) -> list[Variable]:
    """kernel, then a bias of one value per position and filter: both kept as stored (Layout.SAME)."""
    return numbered("", [("kernel", Layout.SAME)] + ([("bias", Layout.SAME)] if config.bool("use_bias", True) else []))


def _spatial(layer: Layer) -> int:
    return KINDS[layer.class_name] if layer.class_name in KINDS else 1


def unsupported(layer: Layer) -> str | None:
    if not layer.has_config:
        return None
    if layer.config.int("implementation", 1) != 1:
        return (f"implementation={layer.config.int('implementation', 1)} (a masked or sparse kernel); only tf.keras's "
                "default implementation=1 is read")
    if layer.config.get("data_format", "channels_last") not in (None, "channels_last"):
        return "data_format='channels_first' is not read yet"
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    rank = _spatial(layer)
    sizes = tuple(layer.config.ints("kernel_size", rank))
    strides = tuple(layer.config.ints("strides", rank, 1))
    filters = layer.config.int("filters", minimum=1)
    expect_shape(layer, "kernel", (None, None, filters), "(positions, kernel * channels, filters)")
    kernel = layer.tensor("kernel").shape
    bias_shape = layer.tensor("bias").shape if layer.has("bias") else None
    if bias_shape is not None:
        expect_shape(layer, "bias", (None,) * rank + (filters,), "(*positions, filters)")
    module = TorchModule("LocallyConnected", {"weight_shape": kernel, "bias_shape": bias_shape,
                                              "kernel_size": sizes, "strides": strides})
    tensors = [to_torch(layer, "kernel", "weight", Layout.SAME)]
    if layer.has("bias"):
        tensors.append(to_torch(layer, "bias", "bias", Layout.SAME))
    return LayerConversion(layer, module, tensors, activation=layer.config.get("activation"))


def forward(e: Emitter) -> Value:
    """Channels-last in and out, as Keras computes it."""
    result = require_weights(e)
    e.module(result.module)
    x = e.inputs[0]
    return activated(e, Value(f"{e.attribute}({e.arg(0, KERAS)})", KERAS, x.rank))


for _name, _rank in KINDS.items():
    register(Kind(
        f"keras.layers.{_name}", module="LocallyConnected (weightport)",
        variables=locally_connected_variables, convert=convert, forward=forward, unsupported=unsupported,
        description="kernel (positions, kernel * channels, filters) and bias kept as tf.keras stores them; "
                    "patches in (k, channels) order, one matrix per output position",
        tested="tf.keras implementation=1, strides, use_bias, activation",
    ))
