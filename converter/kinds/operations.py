"""What an operation in a graph computes, written once for keras.ops and for tf.keras op layers
(the ones that reshape, reorder, select, pad, join or split axes are in shaping.py).

Keras 3 records `x * 2.0`, `keras.ops.mean(x, axis=1)` as operations of `keras.ops.*`;
tf.keras records `tf.nn.relu(x)`, `x / 255.0` as `TFOpLambda` layers. Both call these
functions with their operands: a `Value` for a tensor, or a constant (a number, a bool, a
nested list of numbers, a Keras 3 `__tensor__` or `__numpy__`). Elementwise operations keep their
operands' layout when every tensor shares it and every constant is a scalar; anything that
names an axis, or broadcasts a non-scalar constant or tensors of different ranks, is
computed on Keras's own layout, so an axis is never silently the wrong one.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from ..config import array_shape
from .forward import KERAS, Emitter, Value, literal, ran_on_jax, ran_on_torch

#: dtype names an operation may cast to, as torch spells them
TORCH_DTYPES = {"float16": "torch.float16", "bfloat16": "torch.bfloat16", "float32": "torch.float32",
                "float64": "torch.float64", "int8": "torch.int8", "int16": "torch.int16", "int32": "torch.int32",
                "int64": "torch.int64", "uint8": "torch.uint8", "bool": "torch.bool"}


def torch_dtype(e: Emitter, dtype: Any, what: str) -> str:
    """A dtype a config names, as torch spells it (`torch.int32`); any other value (a crafted list, a dtype no
    module here computes in) refused by name."""
    if not isinstance(dtype, str) or dtype not in TORCH_DTYPES:
        raise e.unsupported(f"{what} of dtype {str(dtype)[:30]!r} is not built")
    return TORCH_DTYPES[dtype]


def is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def constant(e: Emitter, value: Any) -> tuple[str, int]:
    """A constant operand as source, and its rank: a number as a literal, an array as torch.tensor(...)."""
    if is_number(value):
        return literal(value), 0
    dtype = None
    recorded = array_constant(value)
    if recorded is not None:
        value, dtype = recorded
    rank = _array_rank(value)
    if rank is None:
        raise e.unsupported(f"operand {str(value)[:60]} is neither a tensor, a number nor an array of numbers")
    dtype_argument = f", dtype={torch_dtype(e, dtype, 'an array operand')}" if dtype is not None else ""
    made = f"torch.tensor({literal(value)}{dtype_argument})"
    return (e.buffer(made) if rank else made), rank  # a CPU scalar may meet a tensor on any device; no other


def array_constant(item: Any) -> tuple[Any, Any] | None:
    """A tensor or numpy array a Keras 3 config records as a constant (`__tensor__`, `__numpy__`: x -
    np.array([...])): its values and dtype; None for anything else."""
    if isinstance(item, dict) and item.get("class_name") in ("__tensor__", "__numpy__") \
            and isinstance(item.get("config"), dict):
        return item["config"].get("value"), item["config"].get("dtype")
    return None


def _array_rank(value: Any) -> int | None:
    """The rank of a nested list of numbers with a regular shape and no empty list, else None."""
    shape = array_shape(value)
    return None if shape is None or 0 in shape else len(shape)


def elementwise(e: Emitter, template: str, operands: Sequence[Any]) -> Value:
    """`template` ({0}, {1}, ... the operands) applied elementwise, broadcasting as numpy does."""
    tensors = [item for item in operands if isinstance(item, Value)]
    if not tensors:
        raise e.unsupported("an operation on constants only: Keras would have folded it")
    constants = {index: constant(e, item) for index, item in enumerate(operands) if not isinstance(item, Value)}
    ranks = {value.rank for value in tensors}
    layouts = {value.layout for value in tensors}
    shared = (len(ranks) == 1 and None not in ranks and len(layouts) == 1
              and all(rank == 0 for _, rank in constants.values()))
    layout = tensors[0].layout if shared else KERAS
    expressions = [e.convert(item, layout) if isinstance(item, Value) else constants[index][0]
                   for index, item in enumerate(operands)]
    known = [value.rank for value in tensors if value.rank is not None] + [rank for _, rank in constants.values()]
    rank = max(known) if len(known) == len(operands) else None
    return Value(template.format(*expressions), layout, rank)


def keras_value(e: Emitter, operand: Any) -> tuple[str, int | None]:
    """A tensor operand in Keras's layout (axes as Keras numbers them), and its rank."""
    if not isinstance(operand, Value):
        raise e.unsupported(f"expected a tensor here, found {str(operand)[:40]}")
    return e.convert(operand, KERAS), operand.rank


def axes_of(e: Emitter, axis: Any, allow_none: bool = True) -> tuple[int, ...] | None:
    """An axis argument (an int, a list of ints, or None for every axis), checked."""
    if axis is None and allow_none:
        return None
    values = axis if isinstance(axis, (list, tuple)) else [axis]
    if not values or not all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        raise e.unsupported(f"axis {str(axis)[:40]} is not an axis or a list of axes")
    return tuple(values)


def axes_within(e: Emitter, axes: Any, rank: int | None) -> None:
    """Refuse axes the tensor does not have (a crafted config: the module would stop when it ran)."""
    if rank is not None and axes is not None and not all(-rank <= axis < rank for axis in axes):
        raise e.unsupported(f"axes {str(list(axes))[:40]} of a rank-{rank} tensor")


def distinct_axes(e: Emitter, what: str, axes: Sequence[int], rank: int | None) -> tuple[int, ...]:
    """`axes` of a tensor of known rank, each within it and none twice (-1 and the last are one), as non-negative
    axes in the order given; refused by name otherwise, `what` naming the operation."""
    axes_within(e, axes, rank)
    if rank is None or len({axis % rank for axis in axes}) != len(axes):
        raise e.unsupported(f"{what} over axes {str(list(axes))[:40]} of a tensor of rank {rank}")
    return tuple(axis % rank for axis in axes)


REDUCTIONS = {"mean": "torch.mean", "sum": "torch.sum", "max": "torch.amax", "min": "torch.amin",
              "logsumexp": "torch.logsumexp", "any": "torch.any", "all": "torch.all",
              "nansum": "torch.nansum", "nanmean": "torch.nanmean"}  # NaN as 0, left out of the count


#: reductions whose keepdims Keras 3's torch backend ignores over every axis (axis=None), in every version 3.0 to 3.15
TORCH_DROPS_KEEPDIMS = ("sum", "max", "min", "prod")


def reduce(e: Emitter, kind: str, operand: Any, axis: Any, keepdims: Any = False) -> Value:
    """A reduction over `axis` (None: every axis, the batch too, as Keras does)."""
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis)
    keep = bool(keepdims)
    if kind in ("var", "std"):
        function, extra = f"torch.{kind}", ", unbiased=False"
    elif kind == "prod":
        if axes is not None and len(axes) != 1:
            raise e.unsupported("a product over several axes is not built yet")
        function, extra = "torch.prod", ""
    elif kind == "integer_mean":
        function, extra = e.helper("integer_mean"), ""
    else:
        function, extra = REDUCTIONS[kind], ""
    if kind in ("sum", "prod") and may_be_integers(operand):  # in the integers' dtype, as Keras sums them
        widen = ", widen=True" if e.keras_major >= 3 else ""  # Keras 3's of 8- and 16-bit integers: int32
        function, extra = e.helper("integer_total"), f", kind={literal(kind)}{widen}"
    if axes is None and kind in TORCH_DROPS_KEEPDIMS and ran_on_torch(e):
        keep = False  # Keras's torch backend calls torch.sum(x) (max, min, prod) without keepdims: a 0-d result
    if axes is None:
        if (keep and kind != "prod") or kind == "logsumexp":
            axes = tuple(range(rank)) if rank is not None else None
            if axes is None:
                raise e.unsupported("a reduction over every axis of a tensor of unknown rank")
        elif keep:  # torch.prod reduces one axis or all: all, then every axis kept as 1
            if rank is None:
                raise e.unsupported("a reduction over every axis of a tensor of unknown rank")
            return Value(f"{function}({x}{extra}).reshape({literal((1,) * rank)})", KERAS, rank)
        else:
            return Value(f"{function}({x}{extra})", KERAS, 0)
    dims = axes[0] if len(axes) == 1 else axes
    result_rank = None if rank is None else (rank if keep else rank - len(axes))
    return Value(f"{function}({x}, dim={literal(dims)}{extra}, keepdim={literal(keep)})", KERAS, result_rank)


def count_nonzero(e: Emitter, operand: Any, axis: Any, keepdims: Any, dtype: str) -> Value:
    """The non-zero entries over `axis` (None: every axis), kept or not, in `dtype` (a torch dtype's source)."""
    x, rank = keras_value(e, operand)
    axes_within(e, axes_of(e, axis), rank)
    counted = reduce(e, "sum", Value(f"({x} != 0)", KERAS, rank), axis, keepdims)  # booleans: torch sums to int64
    floating = dtype in ("torch.float16", "torch.bfloat16", "torch.float32", "torch.float64")
    return replace(counted, expr=f"{counted.expr}.to({dtype})", integer=not floating)


def roll(e: Emitter, operand: Any, shift: Any, axis: Any) -> Value:
    """Each axis rolled by its shift (an int for one axis, or lists as long), or the flattened tensor (axis None, the
    batch too): torch.roll's rule, numpy's and TensorFlow's."""
    x, rank = keras_value(e, operand)
    shifts = shift if isinstance(shift, list) else [shift]
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in shifts):
        raise e.unsupported(f"roll by {str(shift)[:30]} is not built (by ints is)")
    if axis is None:
        return Value(f"torch.roll({x}, {literal(shift)})", KERAS, rank)
    axes = axes_of(e, axis, allow_none=False) or ()
    axes_within(e, axes, rank)
    if len(shifts) != len(axes):  # (Keras and TensorFlow fail on one shift for several axes)
        raise e.unsupported("roll with as many shifts as axes only is built")
    return Value(f"torch.roll({x}, {literal(list(shifts))}, {literal(list(axes))})", KERAS, rank)


def space_depth(e: Emitter, helper: str, operand: Any, block: Any, channels_last: bool) -> Value:
    """depth_to_space or space_to_depth of channels-last images (TensorFlow's order of the moved entries)."""
    if not isinstance(block, int) or isinstance(block, bool) or block < 2:
        raise e.unsupported(f"block_size {str(block)[:20]} is not built")
    if not channels_last:
        raise e.unsupported(f"{helper} of channels-first images is not built (of channels-last ones is)")
    x, rank = keras_value(e, operand)
    if rank != 4:
        raise e.unsupported(f"{helper} of a tensor of rank {rank} (images are rank 4)")
    return Value(f"{e.helper(helper)}({x}, {block})", KERAS, 4)


def may_be_integers(operand: Any) -> bool:
    """Whether an operand is, or may be when the module runs, an integer tensor (Value.integer, .from_integers)."""
    return isinstance(operand, Value) and operand.may_be_integers


def running_sum(e: Emitter, operand: Any, x: str, axis: int) -> str:
    """torch.cumsum of `x` (the operand's expression) along `axis`; of integers in their own dtype, as Keras."""
    if may_be_integers(operand):
        return f"{e.helper('integer_total')}({x}, 'cumsum', {axis})"
    return f"torch.cumsum({x}, dim={axis})"


def arg_reduce(e: Emitter, kind: str, operand: Any, axis: Any, keepdims: Any = False,
               dtype: str = "int64") -> Value:
    """argmax/argmin over one axis (None: of the flattened tensor), as indices of `dtype` (torch's are int64;
    Keras 3's int32)."""
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis)
    cast = "" if dtype == "int64" else f".to({torch_dtype(e, dtype, 'indices')})"
    if axes is None:
        return Value(f"torch.{kind}({x}){cast}", KERAS, 0, integer=True)
    if len(axes) != 1:
        raise e.unsupported(f"{kind} over several axes")
    keep = bool(keepdims)
    return Value(f"torch.{kind}({x}, dim={axes[0]}, keepdim={literal(keep)}){cast}", KERAS,
                 None if rank is None else rank - (0 if keep else 1), integer=True)


def vector_norm(e: Emitter, operand: Any, order: str | None, axis: int, keepdims: bool) -> Value:
    """The norm over one axis; `order` as source (None: euclidean)."""
    x, rank = keras_value(e, operand)
    ord_argument = "" if order is None else f"ord={order}, "
    return Value(f"torch.linalg.vector_norm({x}, {ord_argument}dim={axis}, keepdim={literal(keepdims)})", KERAS,
                 None if rank is None else rank - (0 if keepdims else 1))


def one_hot(e: Emitter, operand: Any, depth: int, dtype: str, axis: Any = -1) -> Value:
    """One-hot vectors of `depth` along a new axis `axis` of the output (Keras's numbering; the last by
    default), in `dtype`: an id outside [0, depth) gives a row of zeros, as Keras and TensorFlow give
    (F.one_hot would fail)."""
    if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
        raise e.unsupported(f"one_hot along axis {str(axis)[:20]} is not built (one after the batch's is)")
    x, rank = keras_value(e, operand)
    hot = f"({x}.long().unsqueeze(-1) == torch.arange({depth}, device={x}.device)).to({TORCH_DTYPES[dtype]})"
    if axis != -1:
        hot = f"{hot}.movedim(-1, {axis})"
    return Value(hot, KERAS, None if rank is None else rank + 1)


def where(e: Emitter, condition: Any, first: Any, second: Any) -> Value:
    return elementwise(e, "torch.where({0}, {1}, {2})", [condition, _as_tensor(e, first), _as_tensor(e, second)])


def _as_tensor(e: Emitter, operand: Any) -> Any:
    """torch.where and torch.maximum take tensors: a scalar constant becomes a 0-d array constant, an int one of
    int64, which an integer tensor does not promote (TensorFlow's maximum(x, 1) and where(c, x, 0) of integers keep
    them; a float tensor takes it as floats)."""
    if isinstance(operand, Value) or not is_number(operand):
        return operand
    if isinstance(operand, int) and not isinstance(operand, bool):
        return {"class_name": "__tensor__", "config": {"value": operand, "dtype": "int64"}}
    return {"class_name": "__tensor__", "config": {"value": float(operand), "dtype": "float32"}}


def clip(e: Emitter, operand: Any, low: Any, high: Any) -> Value:
    for bound in (low, high):
        if bound is not None and not is_number(bound):
            raise e.unsupported("clip bounds that are not numbers are not built yet")
    if low is not None and high is not None and low > high and not (ran_on_torch(e) or ran_on_jax(e)):
        # Bounds crossed: TensorFlow clips by minimum, then maximum (tf.clip_by_value, which tf.keras and Keras 3 on
        # TensorFlow call), giving x_min everywhere; torch.clamp (and numpy's clip, JAX's) gives x_max
        return elementwise(e, f"torch.clamp(torch.clamp({{0}}, max={literal(high)}), min={literal(low)})", [operand])
    return elementwise(e, f"torch.clamp({{0}}, {literal(low)}, {literal(high)})", [operand])


def cast(e: Emitter, operand: Any, dtype: Any) -> Value:
    """`operand` in `dtype`. A cast to the dtype it has is the tensor itself in Keras (tf.cast returns it), which
    keeps its Keras mask: a masked tensor's (a floating one, whose dtype the builder follows; the cast is
    written all the same, a no-op then)."""
    name = dtype if isinstance(dtype, str) else None
    if name not in TORCH_DTYPES:
        raise e.unsupported(f"cast to {str(dtype)[:30]!r} is not built")
    if isinstance(operand, Value) and operand.mask is not None and (operand.dtype or "float32") == name:
        e.returns_input = True
    cast = elementwise(e, f"{{0}}.to({TORCH_DTYPES[name]})", [operand])
    # a floating dtype is the value's own (the builder would otherwise take the call's: a cast to float32 in a
    # mixed_float16 model is float32)
    if name in ("float16", "bfloat16", "float64", "float32"):
        return replace(cast, dtype=name)
    return replace(cast, integer=name != "float32")  # integers (or booleans) a layer with weights takes as floats


def matmul(e: Emitter, first: Any, second: Any, transpose_a: Any = False, transpose_b: Any = False) -> Value:
    """A matrix product of tensors, or of a tensor and a constant matrix (ops.matmul(x, np.eye(3)))."""
    if not isinstance(first, Value) and not isinstance(second, Value):
        raise e.unsupported("a matrix product of constants only: Keras would have folded it")
    a, rank_a = keras_value(e, first) if isinstance(first, Value) else constant(e, first)
    b, rank_b = keras_value(e, second) if isinstance(second, Value) else constant(e, second)
    if not isinstance(first, Value) or not isinstance(second, Value):  # torch.matmul does not promote dtypes
        a_local, b_local, promoted = e.variable("a"), e.variable("b"), e.variable("dtype")
        e.statement(f"{a_local}, {b_local} = {a}, {b}")
        e.statement(f"{promoted} = torch.promote_types({a_local}.dtype, {b_local}.dtype)")
        device = a_local if isinstance(first, Value) else b_local  # the constant goes where the tensor is
        a, b = f"{a_local}.to({device}.device, {promoted})", f"{b_local}.to({device}.device, {promoted})"
    else:
        a, b = promoted_operands([first, second], [a, b])
    if transpose_a:
        a = f"{a}.transpose(-1, -2)"
    if transpose_b:
        b = f"{b}.transpose(-1, -2)"
    ranks = [rank for rank in (rank_a, rank_b) if rank is not None]
    return Value(f"torch.matmul({a}, {b})", KERAS, max(ranks) if len(ranks) == 2 and min(ranks) >= 2 else None)


def promoted_operands(operands: list[Value], expressions: list[str]) -> list[str]:
    """The operands of a matmul or einsum (torch's take one dtype) in the dtype Keras promotes them to: float64
    where one is, else the floating dtype they share, else float32 (float16 with float32 or bfloat16); integers
    with floats take theirs."""
    floating = {value.dtype or "float32" for value in operands if not value.integer}
    if not floating or (len(floating) == 1 and not any(value.integer for value in operands)):
        return expressions
    target = "float64" if "float64" in floating else floating.pop() if len(floating) == 1 else "float32"
    return [expression if not value.integer and (value.dtype or "float32") == target
            else f"{expression}.to(torch.{target})" for value, expression in zip(operands, expressions)]


def einsum(e: Emitter, subscripts: Any, operands: Sequence[Any]) -> Value:
    if not isinstance(subscripts, str) or not re.fullmatch(r"[a-zA-Z.,\->\s]+", subscripts) \
            or "->" not in subscripts:
        raise e.unsupported(f"einsum {str(subscripts)[:40]!r} is not an explicit equation")
    pairs = [keras_value(e, item) for item in operands]
    values = promoted_operands(list(operands), [value for value, _ in pairs])
    inputs, output = (part.replace(" ", "") for part in subscripts.split("->"))
    rank: int | None = len(output)
    if "..." in output:  # the ellipsis spans what each operand has beyond its letters; they broadcast
        spans = [operand_rank - len(letters.replace("...", "")) if operand_rank is not None else None
                 for letters, (_, operand_rank) in zip(inputs.split(","), pairs) if "..." in letters]
        known = [span for span in spans if span is not None]
        rank = max(known) + len(output) - 3 if spans and len(known) == len(spans) else None
    return Value(f"torch.einsum({literal(subscripts)}, {', '.join(values)})", KERAS, rank)


def softmax(e: Emitter, function: str, operand: Any, axis: Any) -> Value:
    x, rank = keras_value(e, operand)
    axes = axes_of(e, axis, allow_none=False)
    assert axes is not None
    if len(axes) != 1:
        raise e.unsupported(f"{function} over several axes is not built yet")
    return Value(f"torch.{function}({x}, dim={axes[0]})", KERAS, rank)


def top_k(e: Emitter, operand: Any, k: int, index_dtype: str | None = None, ties: str = "tensorflow") -> list[Value]:
    """(values, indices) of the k largest along the last axis, largest first; equal entries in index order, as
    TensorFlow's top_k gives them (a stable sort: torch.topk leaves ties unordered), or, with ties="torch", in
    torch.topk's own order (what Keras's torch backend runs). `index_dtype` casts the indices (tf.math.top_k's
    int32)."""
    x, rank = keras_value(e, operand)
    found = e.variable("top")
    if ties == "torch":
        e.statement(f"{found} = torch.topk({x}, {k}, dim=-1)")
        return [Value(f"{found}.values", KERAS, rank), Value(f"{found}.indices", KERAS, rank)]
    e.statement(f"{found} = torch.sort({x}, dim=-1, descending=True, stable=True)")
    cast = f".to({TORCH_DTYPES[index_dtype]})" if index_dtype else ""
    return [Value(f"{found}.values[..., :{k}]", KERAS, rank), Value(f"{found}.indices[..., :{k}]{cast}", KERAS, rank)]


def sorted_along(e: Emitter, operand: Any, axis: int | None, part: str, descending: bool = False) -> Value:
    """torch.sort's `values` or `indices` (as int32) along `axis` (None: of the flattened tensor), equal entries in
    index order, as TensorFlow's sort and argsort (top_k of the values or their negatives) order them."""
    x, rank = keras_value(e, operand)
    if axis is None:
        x, rank, axis = f"{x}.flatten()", 1, 0
    cast = ".to(torch.int32)" if part == "indices" else ""
    return Value(f"torch.sort({x}, dim={axis}, descending={descending}, stable=True).{part}{cast}", KERAS, rank)
