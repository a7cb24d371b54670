"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot (no weights).

These are the *layers* (`keras.layers.Add`); Keras 3 records `x + y` and `keras.ops.add`
as the operation `keras.ops.numpy.Add`, a different kind.
"""
from __future__ import annotations

from typing import Any

from ..lambda_functions import batch_dot_equation
from . import operations as op
from .forward import KERAS, Emitter, Value, keras_axis, literal
from .masks import MASKED_MERGES_FROM, concatenated_mask, merged_mask
from .registry import Kind, register

ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _operands(e: Emitter) -> list[str]:
    """Every input in the first input's layout."""
    layout = e.inputs[0].layout
    return [e.convert(value, layout) for value in e.inputs]


def elementwise(e: Emitter) -> Value:
    operands = _operands(e)
    kind = e.layer.class_name
    masks = [value.mask for value in e.inputs]
    if e.keras_version >= MASKED_MERGES_FROM and kind in ("Multiply", "Maximum", "Minimum") and any(masks):
        return _keras3_masked(e, kind, masks)
    if kind == "Subtract" and len(operands) != 2:
        raise e.unsupported(f"Subtract takes two inputs, this call has {len(operands)}")
    if kind == "Add":
        expr = " + ".join(operands)
    elif kind == "Subtract":
        expr = f"{operands[0]} - {operands[1]}"
    elif kind == "Multiply":
        expr = " * ".join(operands)
    elif kind == "Average":
        expr = f"({' + '.join(operands)}) / {len(operands)}"
    else:
        function = "torch.maximum" if kind == "Maximum" else "torch.minimum"
        expr = operands[0]
        for operand in operands[1:]:
            expr = f"{function}({expr}, {operand})"
    ranks = [value.rank for value in e.inputs if value.rank is not None]
    return Value(expr, e.inputs[0].layout, max(ranks) if ranks else None, merged_mask(e.keras_major, masks))


def _keras3_masked(e: Emitter, kind: str, masks: list[str | None]) -> Value:
    """Keras 3.4+'s Multiply, Maximum and Minimum of masked sequences: masked steps are filled first (ones, or the
    merge so far) and, for Multiply of all-masked inputs, zeroed after (keras3_masked_merge)."""
    if any(value.rank != 3 for value in e.inputs):
        raise e.unsupported(f"Keras 3 {kind} of masked inputs of rank other than 3 is not built")
    values = ", ".join(e.convert(value, KERAS) for value in e.inputs)
    expr = f"{e.helper('keras3_masked_merge')}({literal(kind)}, [{values}], [{', '.join(m or 'None' for m in masks)}])"
    return Value(expr, KERAS, 3, merged_mask(e.keras_major, masks))


def concatenate(e: Emitter) -> Value:
    axis = e.config.int("axis", -1)
    first = e.inputs[0]
    try:
        dim, layout = keras_axis(axis, first), first.layout
    except ValueError:  # rank unknown: concatenate in Keras's layout
        dim, layout = axis, KERAS
    operands = [e.convert(value, layout) for value in e.inputs]
    mask = None
    if any(value.mask for value in e.inputs):
        if first.rank is None:
            raise e.unsupported("Concatenate of masked inputs of unknown rank is not built")
        mask = concatenated_mask(e.keras_major, [(e.convert(value, KERAS), value.mask) for value in e.inputs], axis)
    return Value(f"torch.cat([{', '.join(operands)}], dim={dim})", layout, first.rank, mask)


def dot(e: Emitter) -> Value:
    axes = e.config.axes("axes", -1)
    if len(axes) not in (1, 2) or len(e.inputs) != 2:
        raise e.unsupported(f"Dot of {len(e.inputs)} inputs over axes {axes} is not built")
    return batch_dot(e, e.inputs[0], e.inputs[1], axes if len(axes) == 2 else axes[0],
                     e.config.bool("normalize", False), "Dot")


def batch_dot(e: Emitter, first: Any, second: Any, axes: Any, normalize: bool, what: str) -> Value:
    """Keras's batch_dot, which its Dot layer and K.batch_dot compute: per sample, `first`'s axis axes[0] contracted
    with `second`'s axes[1] (an int: both; None: the last and the second-to-last), of tensors of rank 2 to 4, through
    the runtime's keras_dot. `what` names the caller in refusals."""
    (a, first_rank), (b, second_rank) = op.keras_value(e, first), op.keras_value(e, second)
    if first_rank is None or second_rank is None or batch_dot_equation(axes, first_rank, second_rank) is None:
        raise e.unsupported(f"{what} of tensors of rank {first_rank} and {second_rank} along axes {axes} is not "
                            "built (ranks 2 to 4, the batch axis not contracted, are)")
    if max(first_rank, second_rank) > 3 and e.keras_version < (2, 3):  # it squeezed such products otherwise
        raise e.unsupported(f"{what} of a tensor of rank 4 as Keras before 2.3 computed it is not built")
    a, b = op.promoted_operands([first, second], [a, b])
    given = [first_rank - 1, second_rank - 2] if axes is None else axes
    return Value(f"{e.helper('keras_dot')}({a}, {b}, {literal(given)}, {literal(normalize)})", KERAS,
                 2 if first_rank == second_rank == 2 else first_rank + second_rank - 3)


for _name in ELEMENTWISE:
    register(Kind(f"keras.layers.{_name}", forward=elementwise, description="no weights",
                  tested="two image inputs, one of them convolved; two outputs"))
register(Kind("keras.layers.Concatenate", forward=concatenate, description="no weights",
              tested="axis -1 and others, both layouts"))
register(Kind("keras.layers.Dot", forward=dot, description="no weights",
              tested="axes, normalize, ranks 2 and 3, mixed ranks (an attention's last state and its sequence), "
                     "rank 4"))
