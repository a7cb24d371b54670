"""keras.ops products and diagonals of tensors: inner, kron, tensordot, dot, trace, diagonal (no weights).

Each takes its tensors in Keras's layout (a feature map channels-last) and computes what numpy
computes, as Keras's backends do: torch.inner, torch.kron and torch.tensordot follow numpy's
definitions; trace sums the diagonal that torch.diagonal gives (offset, axis1, axis2 as numpy's).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from . import operations as op
from .forward import KERAS, Emitter, Value, literal, ran_on_torch
from .ops_numpy import operands
from .registry import Kind, register


def _tensors(e: Emitter) -> list[tuple[str, int]]:
    """The two operands in Keras's layout, with their ranks (a constant operand is refused by name)."""
    pair = operands(e, 2)
    if not all(isinstance(item, Value) for item in pair):
        raise e.unsupported("a product with a constant operand is not built (of two tensors is)")
    found = [op.keras_value(e, item) for item in pair]
    if any(rank is None for _, rank in found):
        raise e.unsupported("a product of tensors of unknown rank is not built")
    return [(x, rank) for x, rank in found if rank is not None]


def inner(e: Emitter) -> Value:
    """numpy's inner: the sum over the last axes of both (a 0-d operand: a product)."""
    (a, rank_a), (b, rank_b) = _tensors(e)
    if rank_a == 0 or rank_b == 0:
        return Value(f"({a} * {b})", KERAS, max(rank_a, rank_b))
    return Value(f"torch.inner({a}, {b})", KERAS, rank_a + rank_b - 2)


def kron(e: Emitter) -> Value:
    (a, rank_a), (b, rank_b) = _tensors(e)
    return Value(f"torch.kron({a}, {b})", KERAS, max(rank_a, rank_b))


def tensordot(e: Emitter) -> Value:
    """The sum over `axes`: the last n of the first operand and the first n of the second (an int), or the axes
    listed for each."""
    (a, rank_a), (b, rank_b) = _tensors(e)
    axes = e.config.get("axes", 2)
    if isinstance(axes, int) and not isinstance(axes, bool):
        if not 0 <= axes <= min(rank_a, rank_b):
            raise e.unsupported(f"tensordot over {axes} axes of rank-{rank_a} and rank-{rank_b} tensors")
        return Value(f"torch.tensordot({a}, {b}, dims={axes})", KERAS, rank_a + rank_b - 2 * axes)
    if not (isinstance(axes, list) and len(axes) == 2):
        raise e.unsupported(f"tensordot axes {str(axes)[:40]} is neither an int nor two lists of axes")
    first, second = (op.distinct_axes(e, "tensordot", op.axes_of(e, item, allow_none=False) or (), rank)
                     for item, rank in zip(axes, (rank_a, rank_b)))
    if len(first) != len(second):
        raise e.unsupported(f"tensordot axes {str(axes)[:40]}: as many axes of each are built")
    dims = literal([list(first), list(second)])
    return Value(f"torch.tensordot({a}, {b}, dims={dims})", KERAS, rank_a + rank_b - 2 * len(first))


def dot(e: Emitter) -> Value:
    """numpy's dot as the backend that ran the model computes it: a number's product; the matrix product where
    the second operand has rank 1 or 2 (every backend); beyond, TensorFlow's tensordot of the first's last axis
    with the second's second-to-last (numpy's), torch's batched matmul on Keras's torch backend."""
    first, second = operands(e, 2)
    if not any(isinstance(item, Value) for item in (first, second)):
        raise e.unsupported("a product of constants only: Keras would have folded it")
    if any(isinstance(item, Value) and item.may_be_integers for item in (first, second)):
        raise e.unsupported("dot of integers is not built (of floats is)")
    rank_a, rank_b = (item.rank if isinstance(item, Value) else op.constant(e, item)[1] for item in (first, second))
    if rank_a is None or rank_b is None:
        raise e.unsupported("dot of a tensor of unknown rank is not built")
    if rank_a == 0 or rank_b == 0:
        return op.elementwise(e, "({0} * {1})", [first, second])
    if rank_b <= 2 or ran_on_torch(e):
        # torch.matmul's result: a vector operand's axis contracted away, the other's batch axes broadcast
        rank = rank_a - 1 if rank_b == 1 else rank_b - 1 if rank_a == 1 else max(rank_a, rank_b)
        return replace(op.matmul(e, first, second), rank=rank)
    (a, _), (b, _) = _tensors(e)
    return Value(f"torch.tensordot({a}, {b}, dims=([-1], [-2]))", KERAS, rank_a + rank_b - 2)


def diagonal_of(e: Emitter) -> tuple[str, Any, int]:
    """torch.diagonal of the operand as numpy's diagonal takes it (offset, axis1, axis2), the operand, its rank."""
    operand = operands(e, 1)[0]
    x, rank = op.keras_value(e, operand)
    values = [e.config.get(key, default) for key, default in (("offset", 0), ("axis1", 0), ("axis2", 1))]
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        raise e.unsupported(f"offset and axes {str(values)[:40]} are not ints")
    offset, axis1, axis2 = values
    op.distinct_axes(e, "a diagonal", (axis1, axis2), rank)
    assert rank is not None  # (distinct_axes refuses an unknown rank)
    return f"torch.diagonal({x}, {offset}, {axis1}, {axis2})", operand, rank


def diagonal(e: Emitter) -> Value:
    """The diagonal as a last axis, the two axes removed."""
    expr, _, rank = diagonal_of(e)
    return Value(expr, KERAS, rank - 1)


def trace(e: Emitter) -> Value:
    """The sum of that diagonal (of floats: Keras gives int32 for integers, torch int64)."""
    expr, operand, rank = diagonal_of(e)
    if op.may_be_integers(operand):
        raise e.unsupported("trace of integers is not built (of floats is)")
    return Value(f"{expr}.sum(-1)", KERAS, rank - 2)


FORWARDS: dict[str, Callable[[Emitter], Any]] = {
    "Inner": inner, "Kron": kron, "Tensordot": tensordot, "Diagonal": diagonal, "Trace": trace, "Dot": dot,
}

for _name, _forward in FORWARDS.items():
    register(Kind(f"keras.ops.numpy.{_name}", forward=_forward, description="an operation, no weights",
                  tested="of feature maps and sequences, in both input layouts"))
