"""ZeroPadding, Cropping and UpSampling in 1D/2D/3D: spatial sizes change, channels-first (no weights).

Either data_format: channels-first computations on a channels-last map in its torch layout,
on a channels_first one in Keras's own.
"""
from __future__ import annotations

from typing import Any

from ..config import Config
from ..padding import pad_argument
from .forward import Emitter, Value, literal, same, spatial_layout
from .registry import Kind, register
from .resize_dtypes import resized_in_keras_dtype


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


def _spatial(e: Emitter) -> int:
    return int(e.layer.class_name[-2])


def zero_padding(e: Emitter) -> Value:
    pads = _pairs(e.config, "padding", 1, _spatial(e))
    layout = spatial_layout(e)
    return same(e.inputs[0], f"F.pad({e.arg(0, layout)}, {literal(pad_argument(pads))})", layout=layout)


def cropping(e: Emitter) -> Value:
    spatial = _spatial(e)
    crops = _pairs(e.config, "cropping", 1 if spatial == 1 else 0, spatial)
    layout = spatial_layout(e)
    x = e.arg(0, layout)
    source = e.variable("in")
    e.statement(f"{source} = {x}")
    slices = ", ".join(f"{a}:{source}.shape[{axis + 2}] - {b}" for axis, (a, b) in enumerate(crops))
    return same(e.inputs[0], f"{source}[:, :, {slices}]", layout=layout)


def upsampling(e: Emitter) -> Value:
    spatial = _spatial(e)
    size = e.config.ints("size", spatial, 2, minimum=1)
    interpolation = e.config.text("interpolation", "nearest")
    layout = spatial_layout(e)
    if interpolation == "bilinear" and spatial == 2:  # TensorFlow's resize: half-pixel centres
        factors = literal(tuple(float(s) for s in size))

        def resize(images: Value) -> Value:
            return same(images, f"F.interpolate({e.convert(images, layout)}, scale_factor={factors}, "
                                "mode='bilinear', align_corners=False)", layout=layout)

        return resized_in_keras_dtype(e, e.inputs[0], interpolation, resize)
    x = e.arg(0, layout)
    if interpolation == "nearest":
        expr = x
        for axis, factor in enumerate(size):
            if factor != 1:
                expr = f"{expr}.repeat_interleave({factor}, dim={axis + 2})"
    else:
        raise e.unsupported(f"interpolation {interpolation[:30]!r} is not built yet")
    return same(e.inputs[0], expr, layout=layout)


for _d in (1, 2, 3):
    register(Kind(f"keras.layers.ZeroPadding{_d}D", forward=zero_padding, description="no weights",
                  tested="symmetric and (before, after) padding"))
    register(Kind(f"keras.layers.Cropping{_d}D", forward=cropping, description="no weights",
                  tested="symmetric and (before, after) cropping"))
    register(Kind(f"keras.layers.UpSampling{_d}D", forward=upsampling, description="no weights",
                  tested="size; nearest and (2D) bilinear; images of int32, int64, uint8 and float64"))
