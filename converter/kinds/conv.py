"""Conv1D/2D/3D -> nn.Conv1d/2d/3d.

Keras kernels are (*k, in/groups, out); torch weights are (out, in/groups, *k). Groups,
strides and dilation carry over; 'same' padding is carried as conv_options explains.
"""
from __future__ import annotations

from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from ..errors import LayoutError
from .conv_options import check_kernel_size, conv_options, convolution_forward
from .registry import Kind, register
from .rules import Context, expect_shape, kernel_and_bias, with_bias

KERAS_LAYOUTS = {1: Layout.KERAS_CONV1D_WIO, 2: Layout.KERAS_CONV2D_HWIO, 3: Layout.KERAS_CONV3D_DHWIO}
TORCH_LAYOUTS = {1: Layout.TORCH_CONV1D_OIW, 2: Layout.TORCH_CONV2D_OIHW, 3: Layout.TORCH_CONV3D_OIDHW}
SPATIAL = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}
SHAPES = {1: ("(k, in/g, out)", "(out, in/g, k)"), 2: ("(kh, kw, in/g, out)", "(out, in/g, kh, kw)"),
          3: ("(kd, kh, kw, in/g, out)", "(out, in/g, kd, kh, kw)")}


def _convert(layer: Layer, context: Context) -> LayerConversion:
    spatial = SPATIAL[layer.class_name]
    filters = layer.config.optional_int("filters", minimum=1)
    expect_shape(layer, "kernel", (None,) * (spatial + 1) + (filters,), f"{SHAPES[spatial][0]}")
    kernel = layer.tensor("kernel").shape
    if layer.has("bias"):
        expect_shape(layer, "bias", (kernel[-1],), "one per filter")
    check_kernel_size(layer, spatial, tuple(kernel[:spatial]))
    tensors = kernel_and_bias(layer, TORCH_LAYOUTS[spatial])
    arguments_from_config, options, warnings = conv_options(layer, spatial, tuple(kernel[:spatial]), context)
    groups = arguments_from_config.get("groups", 1)
    if kernel[-1] % groups:
        raise LayoutError(f"{layer.config.where}: {kernel[-1]} filters do not split into {groups} groups")
    arguments = {"in_channels": kernel[spatial] * groups, "out_channels": kernel[spatial + 1],
                 **arguments_from_config, "bias": layer.has("bias")}
    return LayerConversion(layer, TorchModule(f"Conv{spatial}d", arguments), tensors,
                           activation=layer.config.get("activation"), warnings=warnings, options=options)


for _class, _spatial in SPATIAL.items():
    register(Kind(
        f"keras.layers.{_class}", module=f"nn.Conv{_spatial}d", convert=_convert, forward=convolution_forward,
        variables=with_bias(("kernel", KERAS_LAYOUTS[_spatial])),
        description=f"kernel {SHAPES[_spatial][0]} -> weight {SHAPES[_spatial][1]}; groups, strides, dilation, "
                    "padding carried",
        tested="groups, dilation, strides, use_bias, padding valid/same" + (", causal" if _spatial == 1 else ""),
    ))
