"""Convolutions: channels-first in torch; TensorFlow 'same' padding at any stride and input size."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, activated, constructor, literal, same


def _padded(e: Emitter, x: str) -> str:
    """The input padded as Keras pads it, when torch's own padding argument cannot."""
    options = e.result.options
    arguments = e.result.module_args.get("depthwise", e.result.module_args)
    if options.get("tf_same"):
        kernel, stride, dilation = arguments["kernel_size"], arguments["stride"], arguments["dilation"]
        return f"{e.helper('same_pad')}({x}, {literal(tuple(kernel))}, {literal(tuple(stride))}, " \
               f"{literal(tuple(dilation))})"
    if "pad_before" in options:  # causal: the past only
        pads = [p for pair in reversed(options["pad_before"]) for p in pair]
        return f"F.pad({x}, {literal(pads)})"
    return x


@op("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D")
def convolution(e: Emitter) -> Value:
    if e.result.options.get("data_format") == "channels_first":
        raise e.unsupported("data_format='channels_first' models are not built yet")
    spatial = len(e.result.module_args["kernel_size"])
    e.module(constructor(f"nn.Conv{spatial}d", e.result.module_args))
    x = e.inputs[0]
    return activated(e, same(x, f"{e.attribute}({_padded(e, e.arg(0, CHANNELS_FIRST))})", layout=CHANNELS_FIRST))


@op("SeparableConv1D", "SeparableConv2D")
def separable(e: Emitter) -> Value:
    if e.result.options.get("data_format") == "channels_first":
        raise e.unsupported("data_format='channels_first' models are not built yet")
    arguments = e.result.module_args
    spatial = len(arguments["depthwise"]["kernel_size"])
    e.module(f"nn.Sequential(OrderedDict(depthwise={constructor(f'nn.Conv{spatial}d', arguments['depthwise'])}, "
             f"pointwise={constructor(f'nn.Conv{spatial}d', arguments['pointwise'])}))")
    x = e.inputs[0]
    return activated(e, same(x, f"{e.attribute}({_padded(e, e.arg(0, CHANNELS_FIRST))})", layout=CHANNELS_FIRST))


@op("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def convolution_transpose(e: Emitter) -> Value:
    if e.result.options.get("data_format") == "channels_first":
        raise e.unsupported("data_format='channels_first' models are not built yet")
    arguments = dict(e.result.module_args)
    arguments["output_padding"] = 0  # worked out per input size by conv_transpose()
    spatial = len(arguments["kernel_size"])
    e.module(constructor(f"nn.ConvTranspose{spatial}d", arguments))
    options = e.result.options
    x = e.inputs[0]
    expr = (f"{e.helper('conv_transpose')}({e.attribute}, {e.arg(0, CHANNELS_FIRST)}, "
            f"{literal(options['keras_padding'])}, {literal(options['keras_output_padding'])})")
    return activated(e, same(x, expr, layout=CHANNELS_FIRST))
