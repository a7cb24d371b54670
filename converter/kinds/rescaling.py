"""Rescaling: x * scale + offset, per channel when they are lists (no weights)."""
from __future__ import annotations

from ..config import compute_dtype
from .forward import KERAS, Emitter, Value, constant_tensor, literal, same
from .registry import Kind, register


def rescaling(e: Emitter) -> Value:
    scale, offset = e.config.numbers("scale", 1.0), e.config.numbers("offset", 0.0)
    x = e.inputs[0]
    if isinstance(scale, float) and isinstance(offset, float):
        return same(x, f"{x.expr} * {literal(scale)} + {literal(offset)}")
    keras = e.arg(0, KERAS)  # per-channel values broadcast over the last axis
    dtype = compute_dtype(e.config)  # Keras casts them to the dtype the layer computes in (float16: mixed_float16)
    scale_buffer, offset_buffer = constant_tensor(e, scale, dtype=dtype), constant_tensor(e, offset, dtype=dtype)
    return same(x, f"{keras} * {scale_buffer} + {offset_buffer}", layout=KERAS)


register(Kind("keras.layers.Rescaling", forward=rescaling, description="no weights",
              tested="scalar scale and offset"))
