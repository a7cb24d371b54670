"""What operations that reshape, reorder, select, pad, join or split a tensor's axes compute, written once for
keras.ops and for tf.keras op layers (see operations.py). Each works on Keras's own layout, axes as Keras numbers
them, the batch's included, so an axis is never silently the wrong one.
"""
from __future__ import annotations

from typing import Any

from ..padding import pad_argument
from .forward import KERAS, Emitter, Value, literal, ran_on_torch
from .operations import axes_of, constant, is_number, keras_value

#: the most axes a tensor expand_dims makes is built for (torch's limit is 64; a crafted config asks for thousands)
MAX_RANK = 32


def flip(e: Emitter, operand: Any, axis: Any) -> Value:
    """The operand reversed along `axis` (an axis, a list of them, or None for all)."""
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis)
    dims = tuple(range(rank)) if axes is None and rank is not None else axes
    if dims is None:
        raise e.unsupported("flipping every axis of a tensor of unknown rank")
    return Value(f"torch.flip({x}, {literal(dims)})", KERAS, rank)


def reshape(e: Emitter, operand: Any, shape: Any) -> Value:
    """`shape` names every axis, the batch one too (-1 for one unknown size)."""
    x, _ = keras_value(e, operand)
    sizes = shape if isinstance(shape, (list, tuple)) else None
    if sizes is None or not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in sizes) \
            or list(sizes).count(-1) > 1:
        raise e.unsupported(f"shape {str(shape)[:40]} is not a list of sizes")
    return Value(f"{x}.reshape({literal(tuple(sizes))})", KERAS, len(sizes))


def transpose(e: Emitter, operand: Any, axes: Any) -> Value:
    x, rank = keras_value(e, operand)
    if axes is None:
        if rank is None:
            raise e.unsupported("transposing every axis of a tensor of unknown rank")
        axes = list(range(rank - 1, -1, -1))
    order = axes_of(e, axes, allow_none=False)
    assert order is not None
    if sorted(axis % len(order) for axis in order) != list(range(len(order))):
        raise e.unsupported(f"axes {list(order)} are not a permutation")
    return Value(f"{x}.permute({literal(order)})", KERAS, len(order))


def expand_dims(e: Emitter, operand: Any, axis: Any) -> Value:
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis, allow_none=False)
    assert axes is not None
    if len(axes) == 1:
        return Value(f"{x}.unsqueeze({axes[0]})", KERAS, None if rank is None else rank + 1)
    if rank is None:
        raise e.unsupported("expanding several axes of a tensor of unknown rank is not built")
    out = rank + len(axes)  # numpy's: each axis one of the result's, inserted in ascending order
    placed = sorted(axis % out for axis in axes if -out <= axis < out)
    if len(set(placed)) != len(axes) or out > MAX_RANK:
        raise e.unsupported(f"expanding axes {str(list(axes))[:40]} (repeated, beyond the rank-{out} result, or more "
                            f"than {MAX_RANK} in all)")
    return Value(x + "".join(f".unsqueeze({axis})" for axis in placed), KERAS, out)


def squeeze(e: Emitter, operand: Any, axis: Any) -> Value:
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis)
    if axes is None:
        return Value(f"torch.squeeze({x})", KERAS, None)
    return Value(f"torch.squeeze({x}, {literal(axes[0] if len(axes) == 1 else axes)})", KERAS,
                 None if rank is None else rank - len(axes))


def join(e: Emitter, function: str, operands: Any, axis: Any) -> Value:
    """torch.cat or torch.stack of a list of tensors along a Keras axis."""
    if not isinstance(operands, list) or not operands or not all(isinstance(item, Value) for item in operands):
        raise e.unsupported(f"{function} of something other than a list of tensors")
    axes = axes_of(e, axis, allow_none=False)
    assert axes is not None and len(axes) == 1
    values = [keras_value(e, item)[0] for item in operands]
    rank = operands[0].rank
    rank = None if rank is None else rank + (1 if function == "stack" else 0)
    return Value(f"torch.{function}([{', '.join(values)}], dim={axes[0]})", KERAS, rank)


_SLICE_FIELDS = ("start", "stop", "step")


def getitem(e: Emitter, operand: Any, spec: Any) -> Value:
    """x[spec]: ints, slices (Keras 3 `__slice__` or tf.keras {start, stop, step}), None (a new axis), `...`."""
    x, rank = keras_value(e, operand)
    items = spec if isinstance(spec, list) else [spec]
    if not items:  # x[()]: Keras records no such index; `x[]` is not Python
        raise e.unsupported("an empty index is not built")
    parts, kept = [], 0
    ellipses = [item for item in items if isinstance(item, dict) and item.get("class_name") == "__ellipsis__"]
    if len(ellipses) > 1:
        raise e.unsupported("an index with several `...` is not an index")
    axes = _indexed_axes(items)
    flipped = []  # torch slices have no negative step: such an axis is flipped first, and sliced forwards
    for position, item in enumerate(items):
        if isinstance(item, dict) and item.get("class_name") == "__ellipsis__":
            parts.append("...")
            kept += 1  # not an axis consumed: balances the count below
        elif isinstance(item, dict):
            if item.get("class_name") not in (None, "__slice__") or not set(item) <= {"class_name", "config",
                                                                                    *_SLICE_FIELDS}:
                raise e.unsupported(f"index {str(item)[:40]} is not built")
            bounds = item.get("config") if item.get("class_name") == "__slice__" else item
            if not isinstance(bounds, dict) or not all(bounds.get(key) is None or isinstance(bounds.get(key), int)
                                                       for key in _SLICE_FIELDS):
                raise e.unsupported(f"index {str(item)[:40]} is not a slice of integers")
            start, stop, step = (bounds.get(key) for key in _SLICE_FIELDS)
            if step == 0:
                raise e.unsupported("a slice with step 0 is not a slice")
            if step is not None and step < 0:
                flipped.append(axes[position])
                start, stop, step = _from_the_end(start), _from_the_end(stop), -step
            text = f"{'' if start is None else int(start)}:{'' if stop is None else int(stop)}"
            parts.append(text if step is None else f"{text}:{int(step)}")
            kept += 1
        elif item is None:
            parts.append("None")
            kept += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            parts.append(str(item))
        else:
            raise e.unsupported(f"index {str(item)[:40]} is not built")
    consumed = sum(1 for item in items if item is not None)
    if rank is not None and consumed - len(ellipses) > rank:
        raise e.unsupported(f"an index of {consumed - len(ellipses)} axes of a tensor of {rank}")
    result_rank = None if rank is None else rank - consumed + kept
    if flipped:
        x = f"torch.flip({x}, {literal(tuple(flipped))})"
    return Value(f"{x}[{', '.join(parts)}]", KERAS, result_rank)


def _indexed_axes(items: list[Any]) -> dict[int, int]:
    """Each index item's position -> the input axis it indexes: counted from the start before a `...`, from the
    end after it (None adds an axis and indexes none)."""
    consuming = [position for position, item in enumerate(items) if item is not None and not (
        isinstance(item, dict) and item.get("class_name") == "__ellipsis__")]
    ellipsis = next((position for position, item in enumerate(items) if isinstance(item, dict)
                     and item.get("class_name") == "__ellipsis__"), len(items))
    before = [position for position in consuming if position < ellipsis]
    after = [position for position in consuming if position > ellipsis]
    return {**{position: axis for axis, position in enumerate(before)},
            **{position: axis - len(after) for axis, position in enumerate(after)}}


def _from_the_end(bound: int | None) -> int | None:
    """A bound of a backwards slice as a bound of the forward slice of the flipped axis: element i is element
    n - 1 - i there, which is -(i + 1) counted from its end (for i >= 0) or -i - 1 (for i < 0, itself from the
    end); Python's clamping of bounds out of range carries over."""
    if bound is None:
        return None
    return -(bound + 1) if bound >= 0 else -bound - 1


def take(e: Emitter, operand: Any, indices: Any, axis: Any) -> Value:
    x, rank = keras_value(e, operand)
    index, index_rank = constant(e, indices) if not isinstance(indices, Value) else (keras_value(e, indices)[0], None)
    if axis is None:
        return Value(f"torch.take({x}, torch.as_tensor({index}).long())", KERAS, index_rank)
    axes = axes_of(e, axis, allow_none=False)
    assert axes is not None and len(axes) == 1
    if rank is None and axes[0] < 0:
        raise e.unsupported("take along a negative axis of a tensor of unknown rank")
    dim = axes[0] % rank if rank is not None else axes[0]
    prefix = ":, " * dim
    result_rank = None if rank is None or index_rank is None else rank - 1 + index_rank
    return Value(f"{x}[{prefix}torch.as_tensor({index}).long()]", KERAS, result_rank)


def pad(e: Emitter, operand: Any, width: Any, mode: str, value: Any) -> Value:
    """numpy's and TensorFlow's pad: (before, after) per axis, the batch's included; 'constant' (with
    `value`), 'reflect' (the edge not repeated) or 'symmetric' (repeated), in any case."""
    if not isinstance(width, list) or not all(isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair) for pair in width):
        raise e.unsupported(f"paddings {str(width)[:40]} are not built (pairs of sizes per axis are)")
    x, rank = keras_value(e, operand)
    if rank is not None and len(width) != rank:
        raise e.unsupported(f"{len(width)} pairs of paddings for a tensor of rank {rank}")
    mode = mode.lower()
    if mode == "constant":
        if value is not None and not is_number(value):
            raise e.unsupported("padding with a tensor value is not built")
        return Value(f"F.pad({x}, {literal(pad_argument(width))}, value={literal(float(value or 0))})", KERAS, rank)
    if mode not in ("reflect", "symmetric"):
        raise e.unsupported(f"padding mode {mode[:20]!r} is not built yet (constant, reflect and symmetric are)")
    pairs = tuple(tuple(pair) for pair in width)
    if mode == "symmetric" and ran_on_torch(e):
        # Keras's torch backend runs 'symmetric' as torch's 'replicate': the edge repeated (Keras 3.0 to 3.15)
        return Value(f"{e.helper('edge_pad')}({x}, {literal(pairs)})", KERAS, rank)
    return Value(f"{e.helper('mirror_pad')}({x}, {literal(pairs)}, {literal(mode == 'symmetric')})", KERAS, rank)


def tile(e: Emitter, operand: Any, repeats: Any, minimum: int) -> Value:
    """The operand repeated `repeats` times along each axis (each count at least `minimum`)."""
    if not isinstance(repeats, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= minimum
                                                for r in repeats):
        raise e.unsupported(f"tile by {str(repeats)[:30]} is not built (a list of counts is)")
    x, rank = keras_value(e, operand)
    return Value(f"torch.tile({x}, {literal(tuple(repeats))})", KERAS,
                 None if rank is None else max(rank, len(repeats)))


def split(e: Emitter, operand: Any, sections: Any, axis: Any) -> list[Value]:
    """tf.split / keras.ops.split into equal parts or given sizes: one Value per part."""
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis, allow_none=False)
    assert axes is not None and len(axes) == 1
    if isinstance(sections, int) and not isinstance(sections, bool) and sections > 0:
        parts = f"{x}.chunk({sections}, dim={axes[0]})"
        count = sections
    elif isinstance(sections, list) and sections and all(isinstance(s, int) and s > 0 for s in sections):
        parts = f"{x}.split({literal(sections)}, dim={axes[0]})"
        count = len(sections)
    else:
        raise e.unsupported(f"split into {str(sections)[:30]} is not built")
    name = e.variable("parts")
    e.statement(f"{name} = {parts}")
    return [Value(f"{name}[{index}]", KERAS, rank) for index in range(count)]


def unstack(e: Emitter, operand: Any, axis: int, count: int) -> list[Value]:
    """The `count` first slices along `axis` (torch.unbind makes them all)."""
    x, rank = keras_value(e, operand)
    parts = e.variable("parts")
    e.statement(f"{parts} = torch.unbind({x}, dim={axis})")
    return [Value(f"{parts}[{index}]", KERAS, None if rank is None else rank - 1) for index in range(count)]
