"""What feeds a layer: the channel count of a channels-last feature map behind a Flatten.

Keras flattens a channels-last feature map (h, w, c) in that order; a PyTorch model
flattening NCHW gets (c, h, w), so the Dense after it needs its kernel rows regrouped.
Only the channel count is needed, found from the Flatten's saved input shape or by
walking back through layers that keep the channels to the one that made them.
"""
from __future__ import annotations

from ..graph import Layer
from .rules import Context

#: Weightless layers between a Flatten and its Dense that change nothing about the order.
ELEMENTWISE = frozenset({
    "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "Activation", "ReLU", "LeakyReLU",
    "ELU", "Softmax", "ThresholdedReLU", "ActivityRegularization", "Identity",
})
#: Layers that keep a feature map's channel count (and channels-last order).
KEEPS_CHANNELS = ELEMENTWISE | frozenset({
    "PReLU", "BatchNormalization", "LayerNormalization", "GroupNormalization", "Rescaling", "Masking",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",  # inputs share channels
})
#: Layers whose output is a channels-last feature map with `filters` channels.
CONVOLUTIONS = frozenset({
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    "Convolution1D", "Convolution2D", "Convolution3D",
})


def flatten_channels(dense: Layer, context: Context) -> tuple[int | None, str | None]:
    """(channels, None) when `dense` reads a Flatten of a channels-last feature map.

    (None, None) when it does not; (None, warning) when it cannot be told.
    """
    flatten = context.producer(dense)
    while flatten is not None and flatten.class_name in ELEMENTWISE:
        flatten = context.producer(flatten)
    if flatten is None or flatten.class_name != "Flatten":
        return None, None
    channels, why_not = feature_map_channels(flatten, context)
    if why_not:
        return None, (f"layer {dense.key} follows Flatten {flatten.key}, but {why_not}: its kernel rows were "
                      "left in Keras's (h, w, c) order")
    return channels, None


def feature_map_channels(flatten: Layer, context: Context) -> tuple[int | None, str | None]:
    """The channel count when `flatten` flattens a channels-last feature map, else None.

    The second item says why it cannot be told, when it cannot.
    """
    if flatten.config.get("data_format") == "channels_first":
        return None, None
    shape = flatten.input_shape
    if shape is not None and len(shape) >= 4 and shape[-1]:
        return int(shape[-1]), None  # an image or volume feature map
    if shape is not None and len(shape) <= 2:
        return None, None  # already flat
    source = context.producer(flatten)
    while source is not None:
        if source.is_model:
            source = _output_layer(source)
            continue
        if source.class_name in CONVOLUTIONS:
            return _conv_channels(source), None
        if source.class_name == "InputLayer":
            input_shape = source.config.get("batch_shape") or source.config.get("batch_input_shape") or ()
            # An image input flattened as it is; a sequence (batch, time, features) keeps its order.
            if len(input_shape) < 4:
                return None, None
            return (int(input_shape[-1]), None) if input_shape[-1] else (None, "the input's channels are not recorded")
        if source.class_name not in KEEPS_CHANNELS:
            break
        source = context.producer(source)
    return None, (f"what feeds the Flatten ({source.class_name if source else 'several or no inputs'}) does not "
                  "tell whether it is a channels-last feature map")


def _output_layer(model: Layer) -> Layer | None:
    """The layer whose output a nested model returns (its only output)."""
    graph = model.call_graph
    if graph is None or graph.error or len(graph.outputs) != 1:
        return None
    return next((child for child in model.children or [] if child.name == graph.outputs[0][0]), None)


def _conv_channels(layer: Layer) -> int:
    if layer.config.get("filters"):
        return layer.config.int("filters", minimum=1)
    kernel = layer.tensors[0].shape  # depthwise: (*k, in, multiplier) -> in * multiplier channels
    return int(kernel[-2] * kernel[-1])
