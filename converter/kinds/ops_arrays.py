"""Keras 3 operations that split, move, repeat, order or encode a tensor's entries (no weights).

Each computes what the operation computes on the TensorFlow backend, numpy's semantics where
Keras follows numpy: `split` takes sections or split indices (torch.tensor_split, not
torch.split's sizes), `repeat` repeats entries in place (repeat_interleave), `one_hot` gives a
row of zeros for an id outside [0, num_classes). Their options come from the operation's config.
"""
from __future__ import annotations

from typing import Any, Callable

from . import operations as op
from . import shaping
from .forward import KERAS, Emitter, Value, literal, ran_on_torch
from .ops_numpy import operands
from .registry import Kind, register


def _int(e: Emitter, key: str, default: Any = None) -> int:
    value = e.config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise e.unsupported(f"{key} {str(value)[:30]} is not an int")
    return value


def _static_size(e: Emitter, axis: int) -> int | None:
    """The size Keras 3 recorded for `axis` of the call's first tensor argument, if it did."""
    first = e.call.positional[0] if e.call.positional else None
    shape = e.call.shapes.get(first) if isinstance(first, tuple) else None
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    return shape[axis]


def split(e: Emitter) -> list[Value]:
    """numpy's split: `indices_or_sections` equal sections, or the indices where each part starts."""
    x, rank = op.keras_value(e, operands(e, 1)[0])
    axis = _int(e, "axis", 0)
    sections = e.config.get("indices_or_sections")
    if isinstance(sections, int) and not isinstance(sections, bool) and sections > 0:
        count = sections
    elif isinstance(sections, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in sections):
        count = len(sections) + 1
    else:
        raise e.unsupported(f"split at {str(sections)[:30]} is not built")
    parts = e.variable("parts")
    e.statement(f"{parts} = torch.tensor_split({x}, {literal(sections)}, dim={axis})")
    return [Value(f"{parts}[{index}]", KERAS, rank) for index in range(count)]


def unstack(e: Emitter) -> list[Value]:
    """The slices along `axis`: as many as its size, recorded by Keras 3 (or `num`), else as the model reads."""
    axis = _int(e, "axis", 0)
    count = e.config.get("num") or _static_size(e, axis) or e.outputs_read()
    if not isinstance(count, int) or count < 1:
        raise e.unsupported("unstack along an axis of unknown size is not built")
    return shaping.unstack(e, operands(e, 1)[0], axis, count)


def top_k(e: Emitter) -> list[Value]:
    """The k largest entries along the last axis, largest first, and their indices (op.top_k: ties as TensorFlow
    orders them, or as torch.topk does where Keras's torch backend ran it)."""
    if not e.config.bool("sorted", True):
        raise e.unsupported("top_k with sorted=False (an unspecified order) is not built")
    ties = "torch" if ran_on_torch(e) else "tensorflow"
    return op.top_k(e, operands(e, 1)[0], _int(e, "k"), ties=ties)


def argsort(e: Emitter) -> Value:
    """The indices that sort `axis` ascending (int32), ties as TensorFlow orders them; `axis=None` sorts the
    flattened tensor."""
    axis = None if e.config.get("axis", -1) is None else _int(e, "axis", -1)
    return op.sorted_along(e, operands(e, 1)[0], axis, "indices")


def one_hot(e: Emitter) -> Value:
    if e.config.bool("sparse", False):
        raise e.unsupported("a sparse one_hot is not built")
    dtype = e.config.get("dtype") or "float32"
    op.torch_dtype(e, dtype, "one_hot")
    return op.one_hot(e, operands(e, 1)[0], _int(e, "num_classes"), dtype, e.config.get("axis", -1))


#: Keras 3.0.5 (the first with normalize) ran the operation in a model as _normalize(x, order, axis): over axis `order`
#: by the `axis`-norm, fixed in 3.1
NORMALIZE_ARGUMENTS_FROM = (3, 1)
FLOAT16_MAX = 65504.0


def normalize(e: Emitter) -> Value:
    """x over its `order`-norm along `axis`: for order 2, x * min(rsqrt(sum(x^2)), 1/epsilon); else x / max(norm,
    epsilon). Keras's epsilon defaults to its backend's (1e-7, keras.json's default)."""
    operand = operands(e, 1)[0]
    x, rank = op.keras_value(e, operand)
    axes = op.axes_of(e, e.config.get("axis", -1))
    order = _int(e, "order", 2)
    if (3, 0) <= e.keras_version < NORMALIZE_ARGUMENTS_FROM:  # as Keras 3.0.5 computed it: axis and order swapped
        if axes is None or len(axes) != 1 or axes[0] < 1:
            raise e.unsupported(f"Keras {e.keras_version[0]}.{e.keras_version[1]} runs normalize in a model with its "
                                f"axis and order swapped (a bug of that Keras), and could not run it with axis "
                                f"{str(e.config.get('axis', -1))[:20]} as the order")
        axes, order = (order,), axes[0]
    epsilon = e.config.get("epsilon")
    epsilon = 1e-7 if epsilon is None else epsilon
    if axes is None or not op.is_number(epsilon) or order < 1:
        raise e.unsupported("normalize over every axis, or with a non-number epsilon, is not built")
    dims = literal(axes[0] if len(axes) == 1 else axes)
    if order == 2:
        inverse = f"torch.rsqrt(torch.sum(torch.square({x}), dim={dims}, keepdim=True))"
        bound = 1.0 / float(epsilon)
        if operand.dtype == "float16" and bound > FLOAT16_MAX:  # Keras's bound in float16 is inf: no bound
            return Value(f"({x} * {inverse})", KERAS, rank)
        return Value(f"({x} * torch.clamp({inverse}, max={literal(bound)}))", KERAS, rank)
    norm = f"torch.linalg.vector_norm({x}, ord={order}, dim={dims}, keepdim=True)"
    return Value(f"({x} / torch.clamp({norm}, min={literal(float(epsilon))}))", KERAS, rank)


def _axes_operation(template: str, **keys: int) -> Callable[[Emitter], Value]:
    """An operation whose config holds ints (`keys`, with Keras's defaults) that `template` places, in the
    input's Keras layout."""
    def forward(e: Emitter) -> Value:
        x, rank = op.keras_value(e, operands(e, 1)[0])
        return Value(template.format(x, *(_int(e, key, default) for key, default in keys.items())), KERAS, rank)
    return forward


def _axis_move(e: Emitter, template: str, first: str, second: str) -> Value:
    """moveaxis or swapaxes of one axis (moveaxis of several: as many sources as destinations); to where it is,
    Keras returns the tensor itself (on TensorFlow), which keeps its Keras mask."""
    x, rank = op.keras_value(e, operands(e, 1)[0])
    if template.startswith("torch.movedim") and isinstance(e.config.get(first), list):
        sources, targets = op.axes_of(e, e.config.get(first)), op.axes_of(e, e.config.get(second))
        if sources is None or targets is None or len(sources) != len(targets):
            raise e.unsupported("moveaxis of several axes to as many places only is built")
        return Value(template.format(x, literal(list(sources)), literal(list(targets))), KERAS, rank)
    a, b = _int(e, first, 0), _int(e, second, 0)
    if rank is not None and a % rank == b % rank:
        e.returns_input = True
    return Value(template.format(x, a, b), KERAS, rank)


def rot90(e: Emitter) -> Value:
    """numpy's rot90: k quarter turns from the first of `axes` towards the second (torch.rot90's rule)."""
    x, rank = op.keras_value(e, operands(e, 1)[0])
    turns, axes = _int(e, "k", 1), e.config.get("axes", [0, 1])
    planes = op.distinct_axes(e, "rot90", op.axes_of(e, axes, allow_none=False) or (), rank)
    if len(planes) != 2:
        raise e.unsupported(f"rot90 over axes {str(axes)[:30]} (two axes are built)")
    return Value(f"torch.rot90({x}, {turns % 4}, {literal(list(planes))})", KERAS, rank)


def stacked(axis_of_rank: Callable[[int], int]) -> Callable[[Emitter], Value]:
    """hstack and vstack: the tensors joined along the axis Keras picks by the first one's rank."""
    def forward(e: Emitter) -> Value:
        tensors = operands(e, 1)[0]
        rank = tensors[0].rank if isinstance(tensors, list) and tensors and isinstance(tensors[0], Value) else None
        if rank is None:
            raise e.unsupported("stacking something other than a list of tensors of known rank is not built")
        return shaping.join(e, "cat", tensors, axis_of_rank(rank))
    return forward


def take_along_axis(e: Emitter) -> Value:
    """numpy's take_along_axis: the entries the indices name along `axis` (None: of the flattened tensor), a
    negative index counted from the end as numpy counts it."""
    x, rank = op.keras_value(e, operands(e, 2)[0])
    indices, index_rank = op.keras_value(e, operands(e, 2)[1])
    axis = e.config.get("axis")
    if axis is None:
        if index_rank != 1:
            raise e.unsupported("take_along_axis of the flattened tensor by other than a vector of indices")
        x, rank, axis = f"{x}.flatten()", 1, 0
    if not isinstance(axis, int) or isinstance(axis, bool) or rank is None or not -rank <= axis < rank:
        raise e.unsupported(f"take_along_axis along axis {str(axis)[:20]} of a tensor of rank {rank}")
    wrapped = f"torch.remainder({indices}.long(), {x}.shape[{axis}])"
    return Value(f"torch.take_along_dim({x}, {wrapped}, {axis})", KERAS, rank)


def select(e: Emitter) -> Value:
    """numpy's select: each entry from the first choice whose condition holds there, else the default."""
    conditions, choices = operands(e, 2)
    default = e.positional(2) if len(e.call.positional) > 2 else e.named("default", 0)
    if not (isinstance(conditions, list) and isinstance(choices, list) and conditions
            and len(conditions) == len(choices)):
        raise e.unsupported("select of other than as many conditions as choices is not built")
    result = default
    for condition, choice in reversed(list(zip(conditions, choices))):
        result = op.where(e, condition, choice, result)
    assert isinstance(result, Value)
    return result


def repeat(e: Emitter) -> Value:
    x, rank = op.keras_value(e, operands(e, 1)[0])
    repeats = e.config.get("repeats")
    if not (isinstance(repeats, int) and not isinstance(repeats, bool) and repeats >= 0):
        raise e.unsupported(f"repeat {str(repeats)[:30]} times is not built (one count is)")
    if e.config.get("axis") is None:  # numpy: of the flattened tensor
        return Value(f"torch.repeat_interleave({x}.flatten(), {repeats})", KERAS, 1)
    return Value(f"torch.repeat_interleave({x}, {repeats}, dim={_int(e, 'axis')})", KERAS, rank)


def broadcast_to(e: Emitter) -> Value:
    """The tensor broadcast to `shape` (every axis, the batch's too: a functional model's names its size)."""
    x, _ = op.keras_value(e, operands(e, 1)[0])
    shape = e.config.get("shape")
    shape = [shape] if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not (isinstance(shape, list) and all(isinstance(size, int) and not isinstance(size, bool) and size >= 0
                                            for size in shape)):
        raise e.unsupported(f"broadcast_to {str(shape)[:40]} is not built (a list of sizes is)")
    return Value(f"torch.broadcast_to({x}, {literal(tuple(shape))})", KERAS, len(shape))


def slice_(e: Emitter) -> Value:
    """keras.ops.slice: `shape` entries from `start_indices` along each axis (-1: to its end), constant starts."""
    x, rank = op.keras_value(e, operands(e, 1)[0])
    starts = e.positional(1) if len(e.call.positional) > 1 else e.named("start_indices")
    shape = e.config.get("shape")
    if not (isinstance(starts, list) and isinstance(shape, list) and len(starts) == len(shape)
            and (rank is None or len(shape) == rank)
            and all(isinstance(item, int) and not isinstance(item, bool) for item in starts + shape)
            and all(start >= 0 for start in starts) and all(size >= -1 for size in shape)):
        raise e.unsupported(f"slice from {str(starts)[:30]} of shape {str(shape)[:30]} is not built (constant "
                            "starts, one per axis, and sizes are)")
    if -1 in shape and ran_on_torch(e):  # Keras's torch backend slices start:start-1 there: nothing (its bug)
        raise e.unsupported("slice with a size of -1, which Keras's torch backend computes as an empty slice, "
                            "is not built")
    parts = [f"{start}:" if size == -1 else f"{start}:{start + size}" for start, size in zip(starts, shape)]
    return Value(f"{x}[{', '.join(parts)}]", KERAS, len(shape))


FORWARDS: dict[str, Callable[[Emitter], Any]] = {
    "numpy.BroadcastTo": broadcast_to, "core.Slice": slice_,
    "numpy.Split": split, "core.Unstack": unstack, "math.TopK": top_k, "numpy.Argsort": argsort, "nn.OneHot": one_hot,
    "nn.Normalize": normalize, "numpy.Repeat": repeat,
    "numpy.Moveaxis": lambda e: _axis_move(e, "torch.movedim({0}, {1}, {2})", "source", "destination"),
    "numpy.Swapaxes": lambda e: _axis_move(e, "torch.swapaxes({0}, {1}, {2})", "axis1", "axis2"),
    "numpy.Triu": _axes_operation("torch.triu({0}, diagonal={1})", k=0),
    "numpy.Tril": _axes_operation("torch.tril({0}, diagonal={1})", k=0),
    "numpy.Sort": _axes_operation("torch.sort({0}, dim={1}).values", axis=-1),
    "numpy.Ravel": lambda e: Value(f"{op.keras_value(e, operands(e, 1)[0])[0]}.flatten()", KERAS, 1),
    "numpy.Fliplr": lambda e: shaping.flip(e, operands(e, 1)[0], 1),
    "numpy.Flipud": lambda e: shaping.flip(e, operands(e, 1)[0], 0),
    "numpy.Rot90": rot90, "numpy.TakeAlongAxis": take_along_axis, "numpy.Select": select,
    # Keras joins along axis 1 (axis 0 of 1-D tensors) and axis 0, as TensorFlow's concat
    "numpy.Hstack": stacked(lambda rank: 0 if rank == 1 else 1), "numpy.Vstack": stacked(lambda rank: 0),
}

for _name, _forward in FORWARDS.items():
    register(Kind(f"keras.ops.{_name}", forward=_forward, description="an operation, no weights",
                  tested="its options as the kind case gives them"))
