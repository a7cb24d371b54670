"""Keras 3 operations a functional config records as layers: the comparisons and reductions of a mask.

`Embedding(mask_zero=True)` makes Keras 3 record `keras.ops.numpy.NotEqual(x, 0)` and
`Any`/`All` in the graph. These are operations (module `keras.src.ops.numpy`), kept apart
from layers of the same name by their qualified identity.
"""
from __future__ import annotations

from .forward import KERAS, Emitter, Value, literal
from .registry import Kind, register

COMPARISONS = {"NotEqual": "!=", "Equal": "==", "Greater": ">", "GreaterEqual": ">=", "Less": "<", "LessEqual": "<="}


def _constant(e: Emitter, value: object) -> str:
    if isinstance(value, (bool, int, float)):
        return literal(value)
    raise e.unsupported(f"operand {str(value)[:40]!r} is neither a tensor nor a number")


def comparison(e: Emitter) -> Value:
    if len(e.call.positional) != 2:
        raise e.unsupported(f"expected two operands, found {len(e.call.positional)}")
    left, right = e.positional(0), e.positional(1)
    operands = [e.convert(side, KERAS) if isinstance(side, Value) else _constant(e, side) for side in (left, right)]
    rank = left.rank if isinstance(left, Value) else None
    return Value(f"({operands[0]} {COMPARISONS[e.layer.class_name]} {operands[1]})", KERAS, rank)


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


for _name in COMPARISONS:
    register(Kind(f"keras.ops.numpy.{_name}", forward=comparison, description="an operation, no weights",
                  tested="a value compared with a constant"))
for _name in ("Any", "All"):
    register(Kind(f"keras.ops.numpy.{_name}", forward=reduction, description="an operation, no weights",
                  tested="over an axis of a comparison"))
