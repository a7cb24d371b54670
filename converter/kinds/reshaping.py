"""Flatten, Reshape, Permute, RepeatVector (no weights).

Flatten writes torch's (c, h, w) order when every Dense it feeds had its rows regrouped for
it (feature_maps.py), Keras's (h, w, c) order otherwise.
"""
from __future__ import annotations

from .feature_maps import ELEMENTWISE, feature_map_channels
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, literal
from .registry import Kind, register


def flatten(e: Emitter) -> Value:
    # A feature map feeding only Dense layers whose rows the converter regrouped is flattened in
    # torch's (c, h, w) order; anything else keeps Keras's order.
    channels, _ = feature_map_channels(e.layer, e)
    value = e.inputs[0]
    # Flatten(data_format="channels_first") moves a channels-first map's channels last, then flattens
    moves_channels_last = e.config.get("data_format") == "channels_first" and (value.rank or 0) >= 3
    keras_order = e.arg(0, KERAS)
    if moves_channels_last:
        keras_order = f"{e.helper('to_cl')}({keras_order})"
    if channels and _feeds_only_regrouped_dense(e):
        channels_first = e.arg(0, KERAS) if moves_channels_last else e.arg(0, CHANNELS_FIRST)
        return Value(f"torch.flatten({channels_first}, 1)", KERAS, 2, value.mask, flat_order="chw",
                     flat_channels=int(channels))
    if value.rank == 1:  # Keras gives a vector of the batch (a reduction over every other axis) shape (batch, 1)
        return Value(f"{keras_order}.unsqueeze(1)", KERAS, 2, value.mask)
    return Value(f"torch.flatten({keras_order}, 1)", KERAS, 2, value.mask, flat_order="hwc" if channels else None)


def _feeds_only_regrouped_dense(e: Emitter) -> bool:
    pending, seen = [e.layer.name], set()
    while pending:
        name = pending.pop()
        if e.is_output(name):  # the model returns it: Keras's order
            return False
        for consumer in e.consumers(name):
            if consumer.name in seen:
                continue
            seen.add(consumer.name)
            if consumer.class_name in ELEMENTWISE:
                pending.append(consumer.name)
                continue
            result = e.result_of(consumer)
            if consumer.class_name != "Dense" or result is None or "flattened_channels" not in result.options:
                return False
    return True


def reshape(e: Emitter) -> Value:
    value = e.config.get("target_shape")
    target = tuple(value) if isinstance(value, (list, tuple)) else None
    if target is None or not all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1)
                                 for d in target) or list(target).count(-1) > 1:
        raise e.config.fail("target_shape", "a list of sizes (at most one -1)", value)
    x = e.arg(0, KERAS)
    return Value(f"{x}.reshape({x}.shape[0], *{literal(target)})", KERAS, len(target) + 1)


def permute(e: Emitter) -> Value:
    value = e.config.get("dims")
    dims = tuple(value) if isinstance(value, (list, tuple)) else ()
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims) \
            or sorted(dims) != list(range(1, len(dims) + 1)):  # types first: sorted() compares them
        raise e.config.fail("dims", "a permutation of 1..rank-1", value)
    return Value(f"{e.arg(0, KERAS)}.permute(0, *{literal(dims)})", KERAS, len(dims) + 1)


def repeat_vector(e: Emitter) -> Value:
    return Value(f"{e.inputs[0].expr}.unsqueeze(1).repeat(1, {e.config.int('n', minimum=1)}, 1)", KERAS, 3)


register(Kind("keras.layers.Flatten", forward=flatten, description="no weights; feeds a regrouped Dense in (c, h, w)",
              tested="after Conv1D/Conv2D/pooling maps, of inputs, returned by a model"))
register(Kind("keras.layers.Reshape", forward=reshape, description="no weights", tested="to sequences and images"))
register(Kind("keras.layers.Permute", forward=permute, description="no weights", tested="sequences and images"))
register(Kind("keras.layers.RepeatVector", forward=repeat_vector, description="no weights", tested="n"))
