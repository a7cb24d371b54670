"""Conv1DTranspose/2D/3D -> nn.ConvTranspose1d/2d/3d.

Keras kernels are (*k, out, in); torch weights are (in, out, *k). No spatial flip: both
compute the transpose (gradient) of the same correlation.
"""
from __future__ import annotations

from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from .conv_options import channels_first_bias, check_kernel_size, transpose_options
from .forward import (CHANNELS_FIRST, KERAS, Emitter, Value, activated, literal, require_weights, same,
                      torch_transpose_clamps)
from .registry import Kind, register
from .rules import Context, expect_shape, kernel_and_bias, with_bias

SPATIAL = {"Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3}
KERAS_LAYOUTS = {1: Layout.KERAS_CONV1D_TRANSPOSE_WOI, 2: Layout.KERAS_CONV2D_TRANSPOSE_HWOI,
                 3: Layout.KERAS_CONV3D_TRANSPOSE_DHWOI}
TORCH_LAYOUTS = {1: Layout.TORCH_CONV_TRANSPOSE1D_IOW, 2: Layout.TORCH_CONV_TRANSPOSE2D_IOHW,
                 3: Layout.TORCH_CONV_TRANSPOSE3D_IODHW}


def _convert(layer: Layer, context: Context) -> LayerConversion:
    spatial = SPATIAL[layer.class_name]
    filters = layer.config.optional_int("filters", minimum=1)
    expect_shape(layer, "kernel", (None,) * spatial + (filters, None), "(*k, filters, in)")
    kernel = layer.tensor("kernel").shape
    if layer.has("bias"):
        expect_shape(layer, "bias", (kernel[spatial],), "one per filter")
    check_kernel_size(layer, spatial, tuple(kernel[:spatial]))
    tensors = kernel_and_bias(layer, TORCH_LAYOUTS[spatial])
    arguments_from_config, options, warnings = transpose_options(layer, spatial, tuple(kernel[:spatial]), context)
    arguments = {"in_channels": kernel[spatial + 1], "out_channels": kernel[spatial], **arguments_from_config,
                 "bias": layer.has("bias")}
    return LayerConversion(layer, TorchModule(f"ConvTranspose{spatial}d", arguments), tensors,
                           activation=layer.config.get("activation"), warnings=warnings, options=options)


def forward(e: Emitter) -> Value:
    """torch's transposed convolution without output padding, cropped per input size as TensorFlow crops."""
    result = require_weights(e)
    layout = KERAS if result.options.get("data_format") == "channels_first" else CHANNELS_FIRST
    module = result.module  # output padding is worked out per input size by conv_transpose()
    e.module(TorchModule(module.kind, {**module.arguments, "padding": 0, "output_padding": 0}))
    options = result.options
    x = e.inputs[0]
    clamps = torch_transpose_clamps(e) if options["keras_padding"] == "same" else None
    if clamps is not None:  # Keras 3.0-3.14 on torch: torch's symmetric padding, an output padding at the end
        expr = (f"{e.helper('keras_torch_conv_transpose')}({e.attribute}, {e.arg(0, layout)}, "
                f"{literal(options['keras_output_padding'])}, {literal(clamps)})")
    else:
        expr = (f"{e.helper('conv_transpose')}({e.attribute}, {e.arg(0, layout)}, "
                f"{literal(options['keras_padding'])}, {literal(options['keras_output_padding'])})")
    return activated(e, same(x, channels_first_bias(e, expr, f"{e.attribute}.bias"), layout=layout))


for _class, _spatial in SPATIAL.items():
    register(Kind(
        f"keras.layers.{_class}", module=f"nn.ConvTranspose{_spatial}d", convert=_convert, forward=forward,
        variables=with_bias(("kernel", KERAS_LAYOUTS[_spatial])),
        description="kernel (*k, out, in) -> weight (in, out, *k), no spatial flip; output crop of 'same' recorded",
        tested="strides, dilation, use_bias, padding valid/same, output_padding",
    ))
