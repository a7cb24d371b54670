"""Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling."""
from __future__ import annotations

from typing import Any

from ...config import Config
from ...layers.feature_maps import feature_map_channels
from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, literal, same


@op("Flatten")
def flatten(e: Emitter) -> Value:
    # A channels-last feature map feeding only Dense layers whose rows the converter regrouped
    # is flattened in torch's (c, h, w) order; anything else keeps Keras's (h, w, c) order.
    channels, _ = feature_map_channels(e.layer, e.generator.context)
    if channels and _feeds_only_regrouped_dense(e):
        keras_view = f"torch.flatten({e.arg(0, KERAS)}, 1)" if e.generator.trace else None
        return Value(f"torch.flatten({e.arg(0, CHANNELS_FIRST)}, 1)", KERAS, 2, e.inputs[0].mask, keras_view, "chw")
    return Value(f"torch.flatten({e.arg(0, KERAS)}, 1)", KERAS, 2, e.inputs[0].mask,
                 flat_order="hwc" if channels else None)


def _feeds_only_regrouped_dense(e: Emitter) -> bool:
    from ...layers.feature_maps import ELEMENTWISE

    generator, pending, seen = e.generator, [e.layer.name], set()
    while pending:
        name = pending.pop()
        if name in generator.outputs:  # the model returns it: Keras's order
            return False
        for consumer in generator.consumers.get(name, []):
            if consumer.name in seen:
                continue
            seen.add(consumer.name)
            if consumer.class_name in ELEMENTWISE:
                pending.append(consumer.name)
                continue
            result = generator.results.get(consumer.key)
            if consumer.class_name != "Dense" or result is None or "flattened_channels" not in result.options:
                return False
    return True


@op("Reshape")
def reshape(e: Emitter) -> Value:
    value = e.config.get("target_shape")
    target = tuple(value) if isinstance(value, (list, tuple)) else None
    if target is None or not all(isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1)
                                 for d in target) or list(target).count(-1) > 1:
        raise e.config.fail("target_shape", "a list of sizes (at most one -1)", value)
    x = e.arg(0, KERAS)
    return Value(f"{x}.reshape({x}.shape[0], *{literal(target)})", KERAS, len(target) + 1)


@op("Permute")
def permute(e: Emitter) -> Value:
    value = e.config.get("dims")
    dims = tuple(value) if isinstance(value, (list, tuple)) else ()
    if sorted(dims) != list(range(1, len(dims) + 1)) or not all(isinstance(d, int) for d in dims):
        raise e.config.fail("dims", "a permutation of 1..rank-1", value)
    return Value(f"{e.arg(0, KERAS)}.permute(0, *{literal(dims)})", KERAS, len(dims) + 1)


@op("RepeatVector")
def repeat_vector(e: Emitter) -> Value:
    return Value(f"{e.inputs[0].expr}.unsqueeze(1).repeat(1, {e.config.int('n', minimum=1)}, 1)", KERAS, 3)


def _pairs(config: Config, key: str, default: Any, spatial: int) -> list[tuple[int, int]]:
    """Keras's padding/cropping argument as (before, after) per spatial axis, checked."""
    value = config.get(key, default)

    def size(item: Any) -> bool:
        return isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 1 << 20

    def pair(item: Any) -> tuple[int, int] | None:
        if size(item):
            return (item, item)
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(size(v) for v in item):
            return (item[0], item[1])
        return None

    if size(value):
        return [(value, value)] * spatial
    if spatial == 1 and pair(value) is not None:
        return [pair(value)]  # type: ignore[list-item]
    items = [pair(item) for item in value] if isinstance(value, (list, tuple)) else []
    if len(items) != spatial or any(item is None for item in items):
        raise config.fail(key, f"an integer, or {spatial} integers or (before, after) pairs", value)
    return items  # type: ignore[return-value]


def _spatial(class_name: str) -> int:
    return int(class_name[-2])


@op("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(e: Emitter) -> Value:
    pads = _pairs(e.config, "padding", 1, _spatial(e.layer.class_name))
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad takes the last axis first
    return same(e.inputs[0], f"F.pad({e.arg(0, CHANNELS_FIRST)}, {literal(flat)})", layout=CHANNELS_FIRST)


@op("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(e: Emitter) -> Value:
    spatial = _spatial(e.layer.class_name)
    crops = _pairs(e.config, "cropping", 1 if spatial == 1 else 0, spatial)
    x = e.arg(0, CHANNELS_FIRST)
    source = e.variable("in")
    e.statement(f"{source} = {x}")
    slices = ", ".join(f"{a}:{source}.shape[{axis + 2}] - {b}" for axis, (a, b) in enumerate(crops))
    return same(e.inputs[0], f"{source}[:, :, {slices}]", layout=CHANNELS_FIRST)


@op("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(e: Emitter) -> Value:
    spatial = _spatial(e.layer.class_name)
    size = e.config.ints("size", spatial, 2, minimum=1)
    interpolation = e.config.text("interpolation", "nearest")
    x = e.arg(0, CHANNELS_FIRST)
    if interpolation == "bilinear" and spatial == 2:  # TensorFlow's resize: half-pixel centres
        factors = tuple(float(s) for s in size)
        expr = f"F.interpolate({x}, scale_factor={literal(factors)}, mode='bilinear', align_corners=False)"
    elif interpolation == "nearest":
        expr = x
        for axis, factor in enumerate(size):
            if factor != 1:
                expr = f"{expr}.repeat_interleave({factor}, dim={axis + 2})"
    else:
        raise e.unsupported(f"interpolation {interpolation[:30]!r} is not built yet")
    return same(e.inputs[0], expr, layout=CHANNELS_FIRST)
