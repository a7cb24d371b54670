"""Masking: zeroes masked steps and gives the layers after it Keras's mask (no weights)."""
from __future__ import annotations

from .forward import KERAS, Emitter, Value, literal
from .registry import Kind, register


def masking(e: Emitter) -> Value:
    x = e.inputs[0]
    value = e.config.float("mask_value", 0.0)
    keras = e.arg(0, KERAS)
    mask = e.variable("mask")
    e.statement(f"{mask} = ({keras} != {literal(value)}).any(dim=-1)")
    return Value(f"{keras} * {mask}.unsqueeze(-1)", KERAS, x.rank, mask)


register(Kind("keras.layers.Masking", forward=masking, description="no weights; the mask feeds recurrent layers "
              "and pooling", tested="mask_value, before LSTM/GRU"))
