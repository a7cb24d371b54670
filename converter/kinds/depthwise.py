"""DepthwiseConv1D/2D -> nn.Conv1d/2d with groups=in_channels.

The Keras kernel (*k, in, multiplier) becomes a grouped weight (in*multiplier, 1, *k);
output channel c*multiplier + j is input channel c's j-th filter in both.
"""
from __future__ import annotations

from ..graph import Layer
from ..layouts import Layout
from ..regroupings import DepthwiseToGrouped
from ..conversion import LayerConversion, TorchModule
from .conv_options import check_kernel_size, conv_options, convolution_forward, depthwise_kernel
from .registry import Kind, register
from .rules import Context, expect_shape, kernel_and_bias, with_bias

SPATIAL = {"DepthwiseConv1D": 1, "DepthwiseConv2D": 2}
KERAS_LAYOUTS = {1: Layout.KERAS_DEPTHWISE1D_WIM, 2: Layout.KERAS_DEPTHWISE2D_HWIM}
TORCH_LAYOUTS = {1: Layout.TORCH_CONV1D_OIW, 2: Layout.TORCH_CONV2D_OIHW}


def _convert(layer: Layer, context: Context) -> LayerConversion:
    spatial = SPATIAL[layer.class_name]
    kernel = depthwise_kernel(layer, "kernel", spatial)
    if layer.has("bias"):
        expect_shape(layer, "bias", (kernel[-2] * kernel[-1],), "one per output channel")
    check_kernel_size(layer, spatial, tuple(kernel[:spatial]))
    in_channels, multiplier = kernel[spatial], kernel[spatial + 1]
    tensors = kernel_and_bias(layer, TORCH_LAYOUTS[spatial], DepthwiseToGrouped(spatial))
    arguments_from_config, options, warnings = conv_options(layer, spatial, tuple(kernel[:spatial]), context)
    arguments = {"in_channels": in_channels, "out_channels": in_channels * multiplier, **arguments_from_config,
                 "groups": in_channels, "bias": layer.has("bias")}
    return LayerConversion(layer, TorchModule(f"Conv{spatial}d", arguments), tensors,
                           activation=layer.config.get("activation"), warnings=warnings, options=options)


for _class, _spatial in SPATIAL.items():
    register(Kind(
        f"keras.layers.{_class}", module=f"nn.Conv{_spatial}d(groups=in)", convert=_convert,
        forward=convolution_forward,
        variables=with_bias(("kernel", KERAS_LAYOUTS[_spatial], ("depthwise_kernel",))),  # tf.keras: depthwise_kernel
        description="kernel (*k, in, m) -> weight (in*m, 1, *k): transpose, then merge (in, m)",
        tested="depth_multiplier, strides, dilation, use_bias, padding valid/same",
    ))
