"""keras.ops.numpy operations recorded in a Keras 3 functional graph (no weights).

Keras 3 records `x + 1.0`, `keras.ops.mean(x, axis=1)`, `x[:, 0]` as operations of
module `keras.src.ops.numpy`: kinds of their own (`keras.ops.numpy.Add`), never the merge
layers of the same name. Operands come from the call (tensors and constants on either
side), options from the operation's config; what they compute is in operations.py and shaping.py.
"""
from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any, Callable

from . import operations as op
from . import shaping
from .forward import KERAS, Emitter, Value, floats, literal, ran_on_torch, tensorflow_bias_add
from .registry import Kind, register

BINARY = {
    "Add": "({0} + {1})", "Subtract": "({0} - {1})", "Multiply": "({0} * {1})", "TrueDivide": "({0} / {1})",
    "Divide": "({0} / {1})", "FloorDivide": "({0} // {1})", "Power": "({0} ** {1})", "Mod": "({0} % {1})",
    "Equal": "({0} == {1})", "NotEqual": "({0} != {1})", "Greater": "({0} > {1})", "GreaterEqual": "({0} >= {1})",
    "Less": "({0} < {1})", "LessEqual": "({0} <= {1})",
    "LogicalAnd": "torch.logical_and({0}, {1})", "LogicalOr": "torch.logical_or({0}, {1})",
}
#: binary operations torch takes tensors for: a number on either side becomes a 0-d tensor. fmod is C's (the
#: dividend's sign), as Keras computes it (sign(x1) * floormod(|x1|, |x2|) on TensorFlow)
TENSOR_BINARY = {
    "Maximum": "torch.maximum({0}, {1})", "Minimum": "torch.minimum({0}, {1})",
    "LogicalXor": "torch.logical_xor({0}, {1})", "Arctan2": "torch.atan2({0}, {1})", "Hypot": "torch.hypot({0}, {1})",
    "Logaddexp": "torch.logaddexp({0}, {1})", "Logaddexp2": "torch.logaddexp2({0}, {1})",
    "Fmod": "torch.fmod({0}, {1})",
    # numpy's: a NaN on one side gives the other side; divide_no_nan: 0 wherever the divisor is 0 (TensorFlow's)
    "Fmax": "torch.fmax({0}, {1})", "Fmin": "torch.fmin({0}, {1})",
    "DivideNoNan": "torch.where({1} == 0, 0.0, {0} / {1})",
    # TensorFlow's: 0 below zero, 1 above, the second operand at zero and where the first is NaN
    "Heaviside": "torch.where({0} < 0, 0.0, torch.where({0} > 0, 1.0, {1}))",
}
UNARY = {
    "Negative": "(-{0})", "Absolute": "torch.abs({0})", "Abs": "torch.abs({0})", "Square": "torch.square({0})",
    "Sqrt": "torch.sqrt({0})",
    "Exp": "torch.exp({0})", "Log": "torch.log({0})", "Log1p": "torch.log1p({0})", "Expm1": "torch.expm1({0})",
    "Sign": "torch.sign({0})", "Floor": "torch.floor({0})", "Ceil": "torch.ceil({0})", "Sin": "torch.sin({0})",
    "Cos": "torch.cos({0})", "Tanh": "torch.tanh({0})", "Reciprocal": "torch.reciprocal({0})",
    "LogicalNot": "torch.logical_not({0})",
    "Tan": "torch.tan({0})", "Arcsin": "torch.asin({0})", "Arccos": "torch.acos({0})", "Arctan": "torch.atan({0})",
    "Sinh": "torch.sinh({0})", "Cosh": "torch.cosh({0})", "Arcsinh": "torch.asinh({0})",
    "Arccosh": "torch.acosh({0})", "Arctanh": "torch.atanh({0})", "Log2": "torch.log2({0})",
    "Log10": "torch.log10({0})", "Exp2": "torch.exp2({0})", "Trunc": "torch.trunc({0})",
    "Deg2rad": "torch.deg2rad({0})", "Rad2deg": "torch.rad2deg({0})", "Isnan": "torch.isnan({0})",
    "Isinf": "torch.isinf({0})", "Isfinite": "torch.isfinite({0})", "Signbit": "torch.signbit({0})",
    "Cbrt": "(torch.sign({0}) * torch.abs({0}) ** (1 / 3))",  # Keras's own formula (torch has no cbrt)
    "Copy": "{0}.clone()",
    "Sinc": "torch.sinc({0})", "Fabs": "torch.abs({0})", "Isneginf": "torch.isneginf({0})",
    "Isposinf": "torch.isposinf({0})",
}
#: operations Keras 3 computes on integers as floats (result_type(x, float)), which torch computes on integers
#: (floor, ceil: the same numbers as integers) or refuses to (hypot, logaddexp)
FLOATS_OF_INTEGERS = ("Floor", "Ceil", "Hypot", "Logaddexp", "Logaddexp2", "Sinc", "Fabs", "DivideNoNan",
                      "Heaviside")
#: operations whose result is an integer tensor where every operand is an integer tensor or an int (Keras 3 keeps
#: their dtype), and those whose result is boolean: a layer with weights, a mean or a pooling then computes on them
#: as on an integer Input's (Value.integer)
INTEGER_ARITHMETIC = ("Add", "Subtract", "Multiply", "FloorDivide", "Mod", "Maximum", "Minimum", "Negative",
                      "Absolute", "Abs", "Square", "Sign", "Trunc")
BOOLEAN_RESULTS = ("Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr",
                   "LogicalXor", "LogicalNot", "Isnan", "Isinf", "Isfinite", "Signbit", "Isneginf", "Isposinf")
REDUCTIONS = {"Mean": "mean", "Sum": "sum", "Max": "max", "Min": "min", "Prod": "prod", "Var": "var", "Std": "std",
              "Any": "any", "All": "all", "Nansum": "nansum", "Nanmean": "nanmean"}


def operands(e: Emitter, count: int) -> list[Any]:
    """The first `count` positional arguments: a Value for each tensor, the constant otherwise."""
    if len(e.call.positional) < count:
        raise e.unsupported(f"expected {count} operand(s), found {len(e.call.positional)}")
    return [e.positional(index) for index in range(count)]


def binary(template: str, tensors: bool = False, as_floats: bool = False) -> Callable[[Emitter], Value]:
    """`tensors`: torch takes tensors on both sides (a number becomes a 0-d tensor); `as_floats`: integer tensors
    as floats."""
    def forward(e: Emitter) -> Value:
        first, second = operands(e, 2)
        if as_floats:
            first, second = floats(first, e), floats(second, e)
        if tensors:
            first, second = op._as_tensor(e, first), op._as_tensor(e, second)
        return op.elementwise(e, template, [first, second])
    return forward


def add(e: Emitter) -> Value:
    """x + c; with an array c after a tensor, as Keras 3.7+ on TensorFlow adds it (ops.add: an array with one axis
    longer than 1 goes along x's last axis, or its axis 1, when that axis has its size: tf.nn.bias_add)."""
    first, second = operands(e, 2)
    value = op.elementwise(e, BINARY["Add"], [first, second])
    if isinstance(first, Value) and not isinstance(second, Value) and tensorflow_bias_add(e):
        array, rank = op.constant(e, second)
        if rank > 0:  # elementwise computed it in Keras's layout, whose axes tf.nn.bias_add chose from
            return Value(f"{e.helper('keras_tf_bias')}({value.expr}, {array})", value.layout, value.rank)
    return value


def unary(template: str, as_floats: bool = False) -> Callable[[Emitter], Value]:
    if as_floats:
        return lambda e: op.elementwise(e, template, [floats(operand, e) for operand in operands(e, 1)])
    return lambda e: op.elementwise(e, template, operands(e, 1))


def reduction(kind: str) -> Callable[[Emitter], Value]:
    def forward(e: Emitter) -> Value:
        operand = operands(e, 1)[0]
        if kind in ("mean", "var", "std", "nanmean"):  # of integers, in floats (torch computes these of floats only)
            operand = floats(operand, e)
        if kind == "nansum" and op.may_be_integers(operand):
            raise e.unsupported("nansum of integers is not built (of floats is)")
        reduced = op.reduce(e, kind, operand, e.config.get("axis"), e.config.bool("keepdims", False))
        initial = e.config.get("initial") if kind in ("max", "min") else None
        if initial is None:
            return reduced
        if not op.is_number(initial) or op.may_be_integers(operand):
            raise e.unsupported("max/min with an initial value that is not a number, or of integers, is not built")
        # the maximum (minimum) of the reduction and the initial value, as Keras computes it
        bound = "min" if kind == "max" else "max"
        return replace(reduced, expr=f"torch.clamp({reduced.expr}, {bound}={literal(float(initial))})")
    return forward


#: the most decimals `round` is built for, either way: float64 has 17 significant digits
DECIMALS = 30


def diff(e: Emitter) -> Value:
    """numpy's n-th difference along an axis (torch.diff's)."""
    operand = operands(e, 1)[0]
    x, rank = op.keras_value(e, operand)
    n, axis = e.config.int("n", 1, minimum=0), e.config.int("axis", -1)
    op.axes_within(e, (axis,), rank)
    if n == 0:
        return operand
    return Value(f"torch.diff({x}, n={n}, dim={axis})", KERAS, rank)


def count_nonzero(e: Emitter) -> Value:
    """The non-zero entries over `axis` (None: all), int32 as Keras counts them."""
    counted = op.count_nonzero(e, operands(e, 1)[0], e.config.get("axis"), False, "torch.int32")
    if ran_on_torch(e) and counted.rank not in (0, 1):
        raise e.unsupported("count_nonzero leaving 2 axes or more, which Keras's torch backend transposes (.T), "
                            "is not built")
    return counted


def outer(e: Emitter) -> Value:
    """numpy's outer product: each operand flattened in Keras's order (the batch's axis too, as Keras does), a
    column times a row, as Keras's backends compute it; a number is a column or a row of one. (Flattened in the
    module's layout, a feature map's channels-first order gave another product.)"""
    first, second = operands(e, 2)
    if not any(isinstance(item, Value) for item in (first, second)):
        raise e.unsupported("an outer product of constants only: Keras would have folded it")
    return Value(f"({_flattened(e, first, '-1, 1')} * {_flattened(e, second, '1, -1')})", KERAS, 2)


def _flattened(e: Emitter, operand: Any, shape: str) -> str:
    """An operand flattened in Keras's order and reshaped to `shape`; a number as it is."""
    if isinstance(operand, Value):
        return f"{e.convert(operand, KERAS)}.reshape({shape})"
    text, rank = op.constant(e, operand)
    return text if rank == 0 else f"{text}.reshape({shape})"


def cumprod(e: Emitter) -> Value:
    """The running product along an axis, or of the flattened tensor (axis=None); of floats."""
    operand = operands(e, 1)[0]
    x, rank = op.keras_value(e, operand)
    if e.config.get("dtype") is not None or op.may_be_integers(operand):
        raise e.unsupported("cumprod with a dtype, or of integers, is not built yet")
    if e.config.get("axis") is None:
        return Value(f"torch.cumprod({x}.flatten(), dim=0)", KERAS, 1)
    axis = e.config.int("axis")
    op.axes_within(e, (axis,), rank)
    return Value(f"torch.cumprod({x}, dim={axis})", KERAS, rank)


def average(e: Emitter) -> Value:
    if e.kwargs.get("weights") is not None or len(e.call.positional) > 1:
        raise e.unsupported("a weighted average is not built yet")
    return op.reduce(e, "mean", floats(operands(e, 1)[0], e), e.config.get("axis"))


def round_(e: Emitter) -> Value:
    """Half to even; to `decimals` as Keras rounds floats: times 10**decimals in their dtype, rounded, divided."""
    decimals = e.config.int("decimals", 0)
    if not -DECIMALS <= decimals <= DECIMALS:  # (a crafted one: 10.0 ** 400 overflows)
        raise e.unsupported(f"rounding to {decimals} decimals is not built (up to {DECIMALS} either way is)")
    if decimals == 0:
        return op.elementwise(e, "torch.round({0})", operands(e, 1))
    operand = operands(e, 1)[0]
    if op.may_be_integers(operand):
        raise e.unsupported("rounding integers to decimals is not built yet")
    factor = literal(float(10.0 ** decimals))
    return op.elementwise(e, f"(torch.round({{0}} * {factor}) / {factor})", [operand])


def nan_to_num(e: Emitter) -> Value:
    """NaN and infinities replaced: by the config's numbers, or as numpy does (0, the dtype's largest and smallest
    finite values: torch's defaults too)."""
    replaced = {key: e.config.optional_float(key) for key in ("nan", "posinf", "neginf")}
    arguments = "".join(f", {key}={literal(value)}" for key, value in replaced.items() if value is not None)
    return op.elementwise(e, f"torch.nan_to_num({{0}}{arguments})", operands(e, 1))


def pad(e: Emitter) -> Value:
    return shaping.pad(e, operands(e, 1)[0], e.config.get("pad_width"), e.config.text("mode", "constant"),
                  e.kwargs.get("constant_values"))


def cumsum(e: Emitter) -> Value:
    operand = operands(e, 1)[0]
    x, rank = op.keras_value(e, operand)
    if e.config.get("dtype") is not None:
        raise e.unsupported("cumsum with a dtype is not built yet")
    axis = e.config.get("axis")
    if axis is None:
        return Value(op.running_sum(e, operand, f"{x}.flatten()", 0), "keras", 1)
    return Value(op.running_sum(e, operand, x, e.config.int("axis")), "keras", rank)


def tile(e: Emitter) -> Value:
    return shaping.tile(e, operands(e, 1)[0], e.config.get("repeats"), minimum=1)


def ptp(e: Emitter) -> Value:
    """The range, max - min, along the axes (every axis: None), as Keras computes it."""
    operand, axis, keep = operands(e, 1)[0], e.config.get("axis"), e.config.bool("keepdims", False)
    high, low = (op.reduce(e, kind, operand, axis, keep) for kind in ("max", "min"))
    return replace(high, expr=f"({high.expr} - {low.expr})")


#: quantile's methods, as Keras and numpy name them (torch.quantile's interpolation names them alike)
QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(scale: float | None) -> Callable[[Emitter], Value]:
    """median (q 0.5: `scale` None), quantile (q, scale 1) and percentile (q / 100, scale 100) at one q, of floats
    (integers as float32), over the config's axes (None: every axis); Keras takes q as a float32 (percentile's
    divided in float32), which torch computes with as it is, and TensorFlow's rule in float64 after it."""
    def forward(e: Emitter) -> Value:
        arguments = operands(e, 1 if scale is None else 2)
        q = 0.5 if scale is None else arguments[1]
        if not op.is_number(q) or isinstance(q, bool) or not 0 <= q <= (scale or 1):
            raise e.unsupported(f"a quantile at {str(q)[:30]} is not built (at one number in range is)")
        # Keras's Quantile operation records its method and computes linear whatever it says (3.0 to 3.15: its call
        # does not pass it on); Percentile (3.14 on) passes it on
        method = e.config.get("method", "linear") if scale == 100 else "linear"
        if method not in QUANTILE_METHODS:
            raise e.unsupported(f"quantile method {str(method)[:20]!r} is not built")
        q32 = struct.unpack("f", struct.pack("f", float(q)))[0]
        q32 = q32 if scale in (None, 1) else struct.unpack("f", struct.pack("f", q32 / 100.0))[0]
        x, rank = op.keras_value(e, floats(arguments[0], e))
        axis = e.config.get("axis")
        axes = None if axis is None else op.distinct_axes(e, "a quantile", op.axes_of(e, axis, allow_none=False) or (),
                                                           rank)
        keep = e.config.bool("keepdims", False)
        placed = None if axes is None else sorted(axes)
        result_rank = (rank if keep else 0 if axes is None else rank - len(axes)) if rank is not None else None
        return Value(f"{e.helper('keras_quantile')}({x}, {literal(q32)}, {literal(placed)}, {literal(method)}, "
                     f"{literal(keep)}, {literal(ran_on_torch(e))})", KERAS, result_rank)
    return forward


def flip(e: Emitter) -> Value:
    return shaping.flip(e, operands(e, 1)[0], e.config.get("axis"))


def filled_like(fill: str | None) -> Callable[[Emitter], Value]:
    """zeros_like, ones_like (`fill` given) and full_like (its second operand): the operand's shape, the config's
    dtype or the operand's. Keras 3 computes a Concatenate's mask with them (`zeros_like(x, dtype="bool")`)."""
    def forward(e: Emitter) -> Value:
        arguments = operands(e, 1 if fill is not None else 2)
        value = fill
        if value is None:
            if not op.is_number(arguments[1]):
                raise e.unsupported("full_like with a fill value that is not a number is not built")
            value = literal(arguments[1])
        dtype = e.config.get("dtype")
        dtype_argument = f", dtype={op.torch_dtype(e, dtype, 'a filled tensor')}" if dtype is not None else ""
        return op.elementwise(e, f"torch.full_like({{0}}, {value}{dtype_argument})", arguments[:1])
    return forward


FORWARDS: dict[str, Callable[[Emitter], Any]] = {
    **{name: binary(template) for name, template in BINARY.items()}, "Add": add,
    **{name: binary(template, tensors=True, as_floats=name in FLOATS_OF_INTEGERS)
       for name, template in TENSOR_BINARY.items()},
    **{name: unary(template, as_floats=name in FLOATS_OF_INTEGERS) for name, template in UNARY.items()},
    **{name: reduction(kind) for name, kind in REDUCTIONS.items()},
    "Average": average, "Round": round_, "Pad": pad, "NanToNum": nan_to_num, "Cumsum": cumsum, "Tile": tile,
    "Flip": flip, "Amax": reduction("max"), "Amin": reduction("min"), "Diff": diff,
    "Roll": lambda e: op.roll(e, operands(e, 1)[0], e.config.get("shift"), e.config.get("axis")),
    "CountNonzero": count_nonzero, "Outer": outer, "Cumprod": cumprod, "Ptp": ptp,
    "Median": quantile(None), "Quantile": quantile(1), "Percentile": quantile(100),
    "ZerosLike": filled_like("0"), "OnesLike": filled_like("1"), "FullLike": filled_like(None),
    # Keras 3's indices are int32 (every backend casts them)
    "Argmax": lambda e: op.arg_reduce(e, "argmax", operands(e, 1)[0], e.config.get("axis"),
                                      e.config.bool("keepdims", False), dtype="int32"),
    "Argmin": lambda e: op.arg_reduce(e, "argmin", operands(e, 1)[0], e.config.get("axis"),
                                      e.config.bool("keepdims", False), dtype="int32"),
    "Reshape": lambda e: shaping.reshape(e, operands(e, 1)[0], e.config.get("newshape")),
    "Transpose": lambda e: shaping.transpose(e, operands(e, 1)[0], e.config.get("axes")),
    "ExpandDims": lambda e: shaping.expand_dims(e, operands(e, 1)[0], e.config.get("axis")),
    "Squeeze": lambda e: shaping.squeeze(e, operands(e, 1)[0], e.config.get("axis")),
    "Concatenate": lambda e: shaping.join(e, "cat", operands(e, 1)[0], e.config.get("axis", 0)),
    "Stack": lambda e: shaping.join(e, "stack", operands(e, 1)[0], e.config.get("axis", 0)),
    "GetItem": lambda e: shaping.getitem(e, *operands(e, 2)),
    "Take": lambda e: shaping.take(e, *operands(e, 2)[:2], axis=e.config.get("axis")),  # type: ignore[misc]
    "Where": lambda e: op.where(e, *operands(e, 3)),
    "Clip": lambda e: op.clip(e, operands(e, 1)[0], e.config.get("x_min"), e.config.get("x_max")),
    "Matmul": lambda e: op.matmul(e, *operands(e, 2)),
    "Einsum": lambda e: op.einsum(e, e.config.get("subscripts"), operands(e, len(e.call.positional))),
}


def with_integers(name: str, forward: Callable[[Emitter], Any]) -> Callable[[Emitter], Any]:
    """`forward`, its result flagged an integer tensor where operation `name` gives one (see INTEGER_ARITHMETIC)."""
    if name not in INTEGER_ARITHMETIC and name not in BOOLEAN_RESULTS:
        return forward

    def run(e: Emitter) -> Any:
        value = forward(e)
        arguments = [e.positional(index) for index in range(len(e.call.positional))]
        integer = name in BOOLEAN_RESULTS or all(item.integer if isinstance(item, Value) else isinstance(item, int)
                                                 for item in arguments)
        return replace(value, integer=True) if integer and isinstance(value, Value) else value
    return run


for _name, _forward in FORWARDS.items():
    register(Kind(f"keras.ops.numpy.{_name}", forward=with_integers(_name, _forward),
                  description="an operation, no weights",
                  tested="tensors and constants on either side, axis and keepdims where it has them"))
