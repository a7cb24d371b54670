"""SeparableConv1D/2D -> a depthwise nn.Conv (groups=in, no bias) then a 1x1 nn.Conv.

Keys: `{layer}.depthwise.weight`, `{layer}.pointwise.weight`, `{layer}.pointwise.bias`,
the two sub-modules a user writes.
"""
from __future__ import annotations

from ..graph import Layer
from ..layouts import Layout
from ..regroupings import DepthwiseToGrouped
from ..conversion import LayerConversion, TorchModule
from .conv_options import check_kernel_size, conv_options, convolution_forward, depthwise_kernel
from .registry import Kind, register
from .rules import Context, expect_shape, to_torch, with_bias

SPATIAL = {"SeparableConv1D": 1, "SeparableConv2D": 2}
DEPTHWISE = {1: Layout.KERAS_DEPTHWISE1D_WIM, 2: Layout.KERAS_DEPTHWISE2D_HWIM}
POINTWISE = {1: Layout.KERAS_CONV1D_WIO, 2: Layout.KERAS_CONV2D_HWIO}
TORCH_LAYOUTS = {1: Layout.TORCH_CONV1D_OIW, 2: Layout.TORCH_CONV2D_OIHW}


def _convert(layer: Layer, context: Context) -> LayerConversion:
    spatial = SPATIAL[layer.class_name]
    depthwise = depthwise_kernel(layer, "depthwise_kernel", spatial)
    in_channels, multiplier = depthwise[spatial], depthwise[spatial + 1]
    filters = layer.config.optional_int("filters", minimum=1)
    expect_shape(layer, "pointwise_kernel", (1,) * spatial + (in_channels * multiplier, filters),
                 "(1.., in*depth_multiplier, filters)")
    pointwise = layer.tensor("pointwise_kernel").shape
    if layer.has("bias"):
        expect_shape(layer, "bias", (pointwise[-1],), "one per filter")
    check_kernel_size(layer, spatial, tuple(depthwise[:spatial]), "depthwise_kernel")
    tensors = [
        to_torch(layer, "depthwise_kernel", "depthwise.weight", TORCH_LAYOUTS[spatial], DepthwiseToGrouped(spatial)),
        to_torch(layer, "pointwise_kernel", "pointwise.weight", TORCH_LAYOUTS[spatial]),
    ]
    if layer.has("bias"):
        tensors.append(to_torch(layer, "bias", "pointwise.bias", Layout.VECTOR))
    arguments_from_config, options, warnings = conv_options(layer, spatial, tuple(depthwise[:spatial]), context)
    depthwise_module = TorchModule(f"Conv{spatial}d", {
        "in_channels": in_channels, "out_channels": in_channels * multiplier, **arguments_from_config,
        "groups": in_channels, "bias": False})
    pointwise_module = TorchModule(f"Conv{spatial}d", {
        "in_channels": in_channels * multiplier, "out_channels": pointwise[-1], "kernel_size": 1,
        "bias": layer.has("bias")})
    module = TorchModule("Sequential", parts=(("depthwise", depthwise_module), ("pointwise", pointwise_module)))
    return LayerConversion(layer, module, tensors, activation=layer.config.get("activation"), warnings=warnings,
                           options=options)


for _class, _spatial in SPATIAL.items():
    register(Kind(
        f"keras.layers.{_class}", module=f"depthwise + pointwise nn.Conv{_spatial}d", convert=_convert,
        forward=convolution_forward,  # nn.Sequential(depthwise, pointwise) is called like a convolution
        variables=with_bias(("depthwise_kernel", DEPTHWISE[_spatial]), ("pointwise_kernel", POINTWISE[_spatial])),
        description="depthwise (*k, in, m) -> (in*m, 1, *k); pointwise (1.., in*m, out) -> (out, in*m, 1..)",
        tested="depth_multiplier, strides, use_bias, padding valid/same",
    ))
