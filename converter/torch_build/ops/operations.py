"""Keras 3 operations that a Functional config records as layers (the mask of mask_zero=True)."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import KERAS

COMPARISONS = {"NotEqual": "!=", "Equal": "==", "Greater": ">", "GreaterEqual": ">=", "Less": "<", "LessEqual": "<="}


@op(*COMPARISONS)
def comparison(e: Emitter) -> Value:
    left, right = e.positional(0), e.positional(1)
    operands = [e.convert(side, KERAS) if isinstance(side, Value) else repr(side) for side in (left, right)]
    rank = left.rank if isinstance(left, Value) else None
    return Value(f"({operands[0]} {COMPARISONS[e.layer.class_name]} {operands[1]})", KERAS, rank)


@op("Any", "All")
def reduction(e: Emitter) -> Value:
    axis, keepdims = e.config.get("axis"), bool(e.config.get("keepdims", False))
    x = e.arg(0, KERAS)
    function = "any" if e.layer.class_name == "Any" else "all"
    if axis is None:
        return Value(f"{x}.{function}()", KERAS, 0)
    rank = e.inputs[0].rank
    return Value(f"{x}.{function}(dim={int(axis)}, keepdim={keepdims})", KERAS,
                 (rank if keepdims else rank - 1) if rank else None)
