"""What feeds a layer: the channel count of a channels-last feature map behind a Flatten.

Keras flattens a channels-last feature map (h, w, c) in that order; a PyTorch model
flattening NCHW gets (c, h, w), so the Dense after it needs its kernel rows regrouped.
Only the channel count is needed, found from the Flatten's saved input shape or by
walking back through layers that keep the channels to the one that made them.
"""
from __future__ import annotations

from ..conversion import LayerConversion, TorchModule
from ..graph import Layer, ModelGraph
from .rules import Context, wrapped

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
#: Recurrent layers whose output is a channels-last feature map.
CONV_RECURRENT = frozenset({"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
#: Layers whose output keeps its features on the last axis in PyTorch too (nn.Linear, nn.Embedding, recurrent
#: layers and attention with batch_first): flattened straight after them, it is in Keras's order already.
FEATURES_LAST = frozenset({
    "Dense", "Embedding", "LSTM", "GRU", "SimpleRNN", "RNN", "CuDNNLSTM", "CuDNNGRU", "Bidirectional",
    "MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
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
    """The channel count when the Dense after `flatten` needs its rows regrouped for torch, else None.

    Keras flattens a channels-last map in (h, w, c) order, a channels-first one in (c, h, w),
    torch's order already; `Flatten(data_format="channels_first")` moves the channels last
    first. Only a map the graph proves to be a feature map of known layout is regrouped:
    the second item says why it cannot be told, when it cannot.
    """
    shape = flatten.input_shape
    if shape is not None and len(shape) <= 2:
        return None, None  # already flat
    layout, channels, why_not = _map_layout(flatten, context)
    if why_not or layout is None:
        return None, why_not
    moves_channels_last = flatten.config.get("data_format") == "channels_first"
    if shape is not None and len(shape) >= 3:
        recorded = shape[-1] if layout == "channels_last" else shape[1]
        channels = int(recorded) if recorded else channels
    if not channels:
        return None, "the feature map's channel count is not recorded"
    if layout == "channels_last" and not moves_channels_last:
        return channels, None
    if layout == "channels_first" and moves_channels_last:
        return channels, None
    if layout == "channels_first":
        return None, None  # Keras flattens it in (c, h, w) order: torch's already
    return None, "a Flatten(data_format='channels_first') reads a channels-last feature map"


def _map_layout(flatten: Layer, context: Context) -> tuple[str | None, int | None, str | None]:
    """(layout, channels, why not): the layout of the feature map a Flatten reads, from the layers that made it.

    The nearest layer with a data_format says the layout, a convolution the channel count;
    layers that keep channels are walked through; anything else (Permute, Reshape) proves nothing.
    """
    layout: str | None = None
    elementwise_only = True  # every layer walked through so far keeps each value where it is
    source = context.producer(flatten)
    while source is not None:
        if source.is_model:
            source = _output_layer(source)
            continue
        made_by = wrapped(source.config)[0] if source.class_name == "TimeDistributed" else source.class_name
        if elementwise_only and made_by in FEATURES_LAST:
            return None, None, None  # (steps, features) in either framework: no map to regroup
        elementwise_only = elementwise_only and source.class_name in ELEMENTWISE
        data_format = _data_format(source)
        if layout is None and data_format is not None:
            layout = data_format
        if source.class_name in CONVOLUTIONS:
            return layout or "channels_last", _conv_channels(source), None
        if source.class_name == "InputLayer":
            input_shape = source.config.get("batch_shape") or source.config.get("batch_input_shape") or ()
            if len(input_shape) < 4:  # a sequence (batch, time, features) read as it is: no map to regroup
                return (layout, None, None) if layout is not None else (None, None, None)
            layout = layout or "channels_last"  # an image input, in Keras's default layout
            index = -1 if layout == "channels_last" else 1
            return layout, int(input_shape[index]) if input_shape[index] else None, None
        if source.class_name not in KEEPS_CHANNELS:
            break
        source = context.producer(source)
    return None, None, (f"what feeds the Flatten ({source.class_name if source else 'several or no inputs'}) does "
                        "not tell whether it is a channels-last feature map")


def _data_format(layer: Layer) -> str | None:
    """channels_last or channels_first where the layer records one (Keras 1's dim_ordering too)."""
    data_format = layer.config.get("data_format")
    if data_format in ("channels_last", "channels_first"):
        return str(data_format)
    ordering = layer.config.get("dim_ordering")
    return {"tf": "channels_last", "th": "channels_first"}.get(ordering) if isinstance(ordering, str) else None


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


def unseen_flatten_warning(graph: ModelGraph, results: list[LayerConversion]) -> str | None:
    """For layers read without the model's config (a weights-only file): whether a Dense reads a
    Flatten of a feature map cannot be seen, and their kernel rows stay in Keras's (h, w, c) order.

    The Dense layers whose input width is no layer's output width (as after global pooling, a
    Dense or a recurrent layer) are named where the file holds a Flatten layer (weights files
    list weightless layers too) or convolutions whose flattened map that width could be (a
    multiple of a channel count other than 1, for which the orders agree), so that nobody takes
    their rows for NCHW's.
    """
    guessed = [result for result in results if not result.layer.has_config]
    maps = [result for result in guessed if result.layer.class_name in CONVOLUTIONS | CONV_RECURRENT]
    flattens = [layer.key for layer in graph.walk() if not layer.has_config
                and layer.class_name.lower() == "flatten"]
    channels = {width for result in maps for width in _output_widths(result.module) if width > 1}
    widths: set[int] = set()
    for result in results:
        widths |= _output_widths(result.module)
    suspects = [result.layer.key for result in guessed if result.layer.class_name == "Dense"
                and _could_be_flattened(result.module.arguments.get("in_features"), bool(flattens), channels,
                                        widths)]
    if not suspects:
        return None
    named = ", ".join(suspects[:5]) + (f" and {len(suspects) - 5} more" if len(suspects) > 5 else "")
    evidence = [f"{kind}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                for kind, keys in (("Flatten", flattens), ("convolutions", [result.layer.key for result in maps]))
                if keys]
    return (f"{graph.source} holds no architecture, so whether {named} read(s) a Flatten of a feature map (the file "
            f"holds {'; '.join(evidence)}) cannot be told: their kernel rows are left in Keras's (h, w, c) order, "
            "right for a PyTorch model that flattens channels-last, wrong for one that flattens NCHW; pass "
            "--architecture with the model's .keras, .h5 or config JSON to have them regrouped where they do")


def _could_be_flattened(in_features: object, flatten: bool, channels: set[int], widths: set[int]) -> bool:
    return (isinstance(in_features, int) and in_features not in widths
            and (flatten or any(in_features % count == 0 for count in channels)))


def _output_widths(module: TorchModule) -> set[int]:
    """The widths a module's outputs may have on their last (channels or features) axis."""
    arguments = module.arguments
    widths = {int(arguments[name]) for name in ("out_channels", "out_features", "num_features", "embed_dim")
              if isinstance(arguments.get(name), int)}
    if isinstance(arguments.get("hidden_size"), int):
        widths |= {arguments["hidden_size"], 2 * arguments["hidden_size"]}  # one direction, or both
    for _, part in module.parts:
        widths |= _output_widths(part)
    return widths
