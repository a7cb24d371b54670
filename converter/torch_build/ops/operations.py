"""Keras 3 operations that a Functional config records as layers (the mask of mask_zero=True)."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import KERAS, literal

COMPARISONS = {"NotEqual": "!=", "Equal": "==", "Greater": ">", "GreaterEqual": ">=", "Less": "<", "LessEqual": "<="}


@op(*COMPARISONS)
def comparison(e: Emitter) -> Value:
    if len(e.call.positional) != 2:
        raise e.unsupported(f"expected two operands, found {len(e.call.positional)}")
    left, right = e.positional(0), e.positional(1)
    operands = [e.convert(side, KERAS) if isinstance(side, Value) else _constant(e, side) for side in (left, right)]
    rank = left.rank if isinstance(left, Value) else None
    return Value(f"({operands[0]} {COMPARISONS[e.layer.class_name]} {operands[1]})", KERAS, rank)


def _constant(e: Emitter, value: object) -> str:
    if isinstance(value, (bool, int, float)):
        return literal(value)
    raise e.unsupported(f"operand {str(value)[:40]!r} is neither a tensor nor a number")


@op("Any", "All")
def reduction(e: Emitter) -> Value:
    keepdims = e.config.bool("keepdims", False)
    x = e.arg(0, KERAS)
    function = "any" if e.layer.class_name == "Any" else "all"
    if e.config.get("axis") is None:
        return Value(f"{x}.{function}()", KERAS, 0)
    axes = e.config.axes("axis")
    if len(axes) != 1:
        raise e.unsupported(f"reducing over several axes {axes} is not built yet")
    rank = e.inputs[0].rank
    return Value(f"{x}.{function}(dim={axes[0]}, keepdim={literal(keepdims)})", KERAS,
                 (rank if keepdims else rank - 1) if rank else None)
