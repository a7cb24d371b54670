"""What a torch convolution needs from a Keras convolution's config: sizes, strides, padding.

TensorFlow's 'same' pads the odd pixel at the end (`converter/padding.py`). PyTorch's
padding='same' exists only for stride 1; at larger strides the padding depends on the
input size, so it is given per axis when the saved config records the input shape, and
otherwise left to the module builder with a warning.
"""
from __future__ import annotations

from typing import Any

from ..errors import LayoutError
from ..graph import Layer
from ..padding import (keras_torch_same_paddings, keras_torch_transpose_padding, pad_argument, same_padding,
                       transpose_crop)
from .forward import (CHANNELS_FIRST, KERAS, Emitter, SavedBy, Value, activated, literal, require_weights, same,
                      tensorflow_bias_add, torch_same_crops, torch_transpose_clamps)
from .rules import expect_shape

DATA_FORMATS = ("channels_last", "channels_first")


def depthwise_kernel(layer: Layer, role: str, spatial: int) -> tuple[int, ...]:
    """The shape of a depthwise kernel (*k, in, depth_multiplier), its multiplier checked against the config."""
    multiplier = layer.config.optional_int("depth_multiplier", minimum=1)
    expect_shape(layer, role, (None,) * (spatial + 1) + (multiplier,), "(*k, in, depth_multiplier)")
    return layer.tensor(role).shape


def check_kernel_size(layer: Layer, spatial: int, kernel_size: tuple[int, ...], role: str = "kernel") -> None:
    """The config's kernel_size must be the kernel's: a file whose two disagree is refused."""
    if layer.config.get("kernel_size") is None:
        return
    declared = layer.config.ints("kernel_size", spatial, minimum=1)
    if declared != kernel_size:
        raise LayoutError(f"{layer.tensor(role).source}: layer {layer.key} ({layer.class_name}) has a {role} of "
                          f"spatial size {kernel_size}, but its config says kernel_size {declared}")


def uneven_same_pads(kernel_size: tuple[int, ...], dilation: tuple[int, ...] | None = None
                     ) -> list[tuple[int, int]] | None:
    """TensorFlow's 'same' padding at stride 1, (before, after) per axis, where an axis's total is odd (an even
    kernel): torch's padding='same' pads it alike, but warns at its first call that it copies the input to do so,
    so it is padded explicitly instead; None where every total is even (torch's own padding serves)."""
    axes = list(zip(kernel_size, dilation or (1,) * len(kernel_size)))
    if all((k - 1) * d % 2 == 0 for k, d in axes):
        return None
    return [same_padding(1, k, 1, d) for k, d in axes]  # at stride 1 it does not depend on the size


def conv_options(layer: Layer, spatial: int, kernel_size: tuple[int, ...], keras: SavedBy
                 ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Module arguments (stride, padding, dilation, groups), options around it, and warnings, for the Keras
    that ran the model (`keras`: Keras 3.0 to 3.8 on torch padded a strided 'same' convolution otherwise)."""
    config = layer.config
    strides = config.ints("strides", spatial, 1, minimum=1)
    dilation = config.ints("dilation_rate", spatial, 1, minimum=1)
    padding = config.choice("padding", ("valid", "same", "causal") if spatial == 1 else ("valid", "same"), "valid")
    arguments: dict[str, Any] = {"kernel_size": kernel_size, "stride": strides, "dilation": dilation}
    options: dict[str, Any] = {}
    warnings: list[str] = []
    if config.choice("data_format", DATA_FORMATS, "channels_last") == "channels_first":
        options["data_format"] = "channels_first"
    if padding == "valid":
        arguments["padding"] = 0
    elif padding == "causal":
        arguments["padding"] = 0
        options["pad_before"] = [((kernel_size[0] - 1) * dilation[0], 0)]
        warnings.append(f"layer {layer.key}: padding='causal': pad {(kernel_size[0] - 1) * dilation[0]} "
                        "steps at the start of the sequence before the Conv1d")
    elif all(s == 1 for s in strides):
        pads = uneven_same_pads(kernel_size, dilation)
        arguments["padding"] = "same" if pads is None else 0  # torch pads like TensorFlow here
        if pads is not None:
            options["pad_before"] = pads
    else:
        arguments["padding"] = 0
        options["tf_same"] = True  # pad per input size: same_padding() on each spatial axis
        crops = torch_same_crops(keras)
        shape = layer.input_shape
        spatial_sizes = shape[1:-1] if shape and "data_format" not in options else (shape[2:] if shape else None)
        how = ("Keras 3.0 to 3.8 on torch: TensorFlow's total unclamped, a negative one cropping the start, and "
               "an even padding in reverse axis order, as converter.padding.keras_torch_same_paddings computes"
               if crops else "TensorFlow puts the odd pixel at the end")
        if spatial_sizes and all(spatial_sizes):
            sizes = tuple(int(n or 0) for n in spatial_sizes)
            try:
                options["pad_before"] = (keras_torch_same_paddings(sizes, kernel_size, strides, dilation) if crops
                                         else [same_padding(*axis) for axis in zip(sizes, kernel_size, strides,
                                                                                   dilation)])
            except ValueError as error:  # Keras could not run it: nothing to build it as (the module refuses it)
                how += f"; {error}"
        warnings.append(
            f"layer {layer.key}: padding='same' with stride {strides}: PyTorch's padding='same' needs "
            f"stride 1; pad explicitly before the convolution ({how})"
            + (f": {options['pad_before']} per spatial axis" if "pad_before" in options else "")
        )
    groups = config.int("groups", 1, minimum=1)
    if groups != 1:
        arguments["groups"] = groups
    return arguments, options, warnings


def transpose_options(layer: Layer, spatial: int, kernel_size: tuple[int, ...], keras: SavedBy
                      ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Module arguments for a transposed convolution, and TensorFlow's output crop when known; for 'same' on
    the torch backend of Keras 3.0 to 3.14, torch's own padding and output padding, which need no crop."""
    config = layer.config
    strides = config.ints("strides", spatial, 1, minimum=1)
    dilation = config.ints("dilation_rate", spatial, 1, minimum=1)
    padding = config.choice("padding", ("valid", "same"), "valid")
    output_padding = config.ints("output_padding", spatial, minimum=0) if config.get("output_padding") is not None \
        else None
    arguments: dict[str, Any] = {"kernel_size": kernel_size, "stride": strides, "dilation": dilation, "padding": 0}
    options: dict[str, Any] = {"keras_padding": padding, "keras_output_padding": output_padding}
    channels_first = config.choice("data_format", DATA_FORMATS, "channels_last") == "channels_first"
    if channels_first:
        options["data_format"] = "channels_first"
    clamps = torch_transpose_clamps(keras) if padding == "same" else None
    if clamps is not None:
        return _keras_torch_transpose(layer, arguments, options, clamps)
    shape = layer.input_shape
    if not shape or channels_first or not all(shape[1:-1]):
        return arguments, options, [f"layer {layer.key}: {layer.class_name}: the input size is not in the config; "
                                    "crop the full output per axis as transpose_crop() says"]
    paddings = output_padding if output_padding is not None else (None,) * spatial
    crops = [transpose_crop(int(n or 0), k, s, d, padding, p)  # every size known: checked above
             for n, k, s, d, p in zip(shape[1:-1], kernel_size, strides, dilation, paddings)]
    arguments["output_padding"] = tuple(extra for _, _, extra in crops)
    options["crop_start"] = tuple(start for start, _, _ in crops)
    options["output_size"] = tuple(length for _, length, _ in crops)
    return arguments, options, []


def _keras_torch_transpose(layer: Layer, arguments: dict[str, Any], options: dict[str, Any], clamps: bool
                           ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A 'same' transposed convolution as Keras 3.0 to 3.14 ran it on torch: torch's symmetric padding and an
    output padding at the end (padding.keras_torch_transpose_padding), whatever the input size."""
    extras_in = options["keras_output_padding"] or (None,) * len(arguments["kernel_size"])
    try:
        pairs = [keras_torch_transpose_padding(k, s, d, p, clamps) for k, s, d, p in
                 zip(arguments["kernel_size"], arguments["stride"], arguments["dilation"], extras_in)]
    except ValueError as error:  # Keras could not run it: nothing to build it as (the forward refuses it too)
        return arguments, options, [f"layer {layer.key}: {layer.class_name}: {error}"]
    arguments["padding"] = tuple(pad for pad, _ in pairs)
    arguments["output_padding"] = tuple(extra for _, extra in pairs)
    return arguments, options, []


def padded(e: Emitter, x: str) -> str:
    """The channels-first input `x` padded as Keras pads it, when torch's own padding argument cannot."""
    result = require_weights(e)
    options = result.options
    parts = dict(result.module.parts)
    module = parts.get("depthwise") or parts.get("input") or result.module  # a separable's, a ConvLSTM's
    arguments = module.arguments
    if options.get("tf_same"):
        kernel, stride, dilation = arguments["kernel_size"], arguments["stride"], arguments["dilation"]
        helper = "keras_torch_same_pad" if torch_same_crops(e) else "same_pad"  # Keras 3.0-3.8 on torch crop
        return (f"{e.helper(helper)}({x}, {literal(tuple(kernel))}, {literal(tuple(stride))}, "
                f"{literal(tuple(dilation))})")
    if "pad_before" in options:  # causal (the past only), or 'same' of an even kernel at stride 1
        pads = pad_argument(options["pad_before"])
        return f"F.pad({x}, {literal(pads)})"
    return x


def convolution_forward(e: Emitter) -> Value:
    """A convolution module on the channels-first input, padded as Keras pads, then the activation.

    A data_format="channels_first" layer computes on Keras's own tensor, channels-first already."""
    result = require_weights(e)
    layout = KERAS if result.options.get("data_format") == "channels_first" else CHANNELS_FIRST
    e.module(result.module)
    x = e.inputs[0]
    expr = f"{e.attribute}({padded(e, e.arg(0, layout))})"
    bias = f"{e.attribute}.pointwise.bias" if result.module.parts else f"{e.attribute}.bias"
    return activated(e, same(x, channels_first_bias(e, expr, bias), layout=layout))


def channels_first_bias(e: Emitter, expr: str, bias: str) -> str:
    """`expr`, a convolution's output with its bias added per channel, with the bias moved as Keras 3.7+ on
    TensorFlow adds a channels_first convolution's (ops.add: along the last axis when it has as many entries
    as channels); unchanged for other files, channels_last layers and layers without a bias."""
    channels_first = require_weights(e).options.get("data_format") == "channels_first"
    if not channels_first or not e.layer.has("bias") or not tensorflow_bias_add(e):
        return expr
    return f"{e.helper('keras_tf_channels_first_bias')}({expr}, {bias}, {literal(e.layer.key)})"
