"""Rescaling: x * scale + offset, per channel when they are lists (no weights)."""
from __future__ import annotations

from .forward import KERAS, Emitter, Value, constant_tensor, literal, same
from .registry import Kind, register


def rescaling(e: Emitter) -> Value:
    scale, offset = e.config.numbers("scale", 1.0), e.config.numbers("offset", 0.0)
    x = e.inputs[0]
    if isinstance(scale, float) and isinstance(offset, float):
        return same(x, f"{x.expr} * {literal(scale)} + {literal(offset)}")
    keras = e.arg(0, KERAS)  # per-channel values broadcast over the last axis
    scale_buffer, offset_buffer = constant_tensor(e, scale), constant_tensor(e, offset)
    return same(x, f"{keras} * {scale_buffer} + {offset_buffer}", layout=KERAS)


register(Kind("keras.layers.Rescaling", forward=rescaling, description="no weights",
              tested="scalar scale and offset"))
