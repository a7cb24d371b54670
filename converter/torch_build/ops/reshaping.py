"""Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling."""
from __future__ import annotations

from typing import Any

from ...layers.conv_options import as_tuple
from ...layers.feature_maps import feature_map_channels
from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, same


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
    target = tuple(e.config["target_shape"])
    x = e.arg(0, KERAS)
    return Value(f"{x}.reshape({x}.shape[0], *{target!r})", KERAS, len(target) + 1)


@op("Permute")
def permute(e: Emitter) -> Value:
    dims = tuple(int(d) for d in e.config["dims"])
    return Value(f"{e.arg(0, KERAS)}.permute(0, *{dims!r})", KERAS, len(dims) + 1)


@op("RepeatVector")
def repeat_vector(e: Emitter) -> Value:
    return Value(f"{e.inputs[0].expr}.unsqueeze(1).repeat(1, {int(e.config['n'])}, 1)", KERAS, 3)


def _pairs(value: Any, spatial: int) -> list[tuple[int, int]]:
    """Keras's padding/cropping argument as (before, after) per spatial axis."""
    if isinstance(value, int):
        return [(value, value)] * spatial
    if spatial == 1:
        return [(int(value[0]), int(value[1]))] if len(value) == 2 and isinstance(value[0], int) else [tuple(value[0])]
    return [(int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in value]


def _spatial(class_name: str) -> int:
    return int(class_name[-2])


@op("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(e: Emitter) -> Value:
    pads = _pairs(e.config.get("padding", 1), _spatial(e.layer.class_name))
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad takes the last axis first
    return same(e.inputs[0], f"F.pad({e.arg(0, CHANNELS_FIRST)}, {flat!r})", layout=CHANNELS_FIRST)


@op("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(e: Emitter) -> Value:
    spatial = _spatial(e.layer.class_name)
    crops = _pairs(e.config.get("cropping", 1 if spatial == 1 else 0), spatial)
    x = e.arg(0, CHANNELS_FIRST)
    e.statement(f"{e.variable('in')} = {x}")
    source = e.variable("in")
    slices = ", ".join(f"{a}:{source}.shape[{axis + 2}] - {b}" for axis, (a, b) in enumerate(crops))
    return same(e.inputs[0], f"{source}[:, :, {slices}]", layout=CHANNELS_FIRST)


@op("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(e: Emitter) -> Value:
    spatial = _spatial(e.layer.class_name)
    size = as_tuple(e.config.get("size", 2), spatial)
    interpolation = e.config.get("interpolation", "nearest")
    x = e.arg(0, CHANNELS_FIRST)
    if interpolation == "bilinear":  # TensorFlow's resize: half-pixel centres, like align_corners=False
        factors = tuple(float(s) for s in size)
        expr = f"F.interpolate({x}, scale_factor={factors!r}, mode='bilinear', align_corners=False)"
    elif interpolation == "nearest":
        expr = x
        for axis, factor in enumerate(size):
            if factor != 1:
                expr = f"{expr}.repeat_interleave({factor}, dim={axis + 2})"
    else:
        raise e.unsupported(f"interpolation {interpolation!r} is not built yet")
    return same(e.inputs[0], expr, layout=CHANNELS_FIRST)
