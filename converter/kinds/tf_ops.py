"""tf.keras op layers: `TFOpLambda` (tf.nn.relu(x), x / 255.0, tf.concat) and `SlicingOpLambda` (x[:, 0]).

tf.keras saves a TensorFlow function called in a functional model as a layer naming the
function (`math.truediv`) with its first argument as the inbound tensor (or a constant)
and the others as keyword arguments. Each function weightport builds is a row of
FUNCTIONS: its parameters in TensorFlow's order and what it computes (operations.py, shaping.py,
tf_functions.py).
Any other function is refused by name; no TensorFlow function is ever called.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from . import operations as op
from . import shaping
from . import tf_functions as fn
from .forward import Emitter, Value, floats, literal
from .registry import Kind, register

class Arguments(dict[str, Any]):
    """A call's arguments by TensorFlow's parameter names. One a function requires that the call lacks (a crafted
    config) is refused by name, not a KeyError."""

    def __init__(self, emitter: Emitter) -> None:
        super().__init__()
        self.emitter = emitter

    def __missing__(self, name: str) -> Any:
        function = self.emitter.config.get("function")
        raise self.emitter.unsupported(f"tf.{str(function)[:60]} is called without its argument {name!r}")


Implementation = Callable[[Emitter, Arguments], Any]
_MISSING = object()


def _binary(template: str, tensors: bool = False) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Arguments) -> Value:
        first, second = a["x"], a["y"]
        if tensors:  # torch.maximum takes tensors
            first, second = op._as_tensor(e, first), op._as_tensor(e, second)
        return op.elementwise(e, template, [first, second])
    return ("x", "y"), run


def _unary(template: str, parameter: str = "x") -> tuple[tuple[str, ...], Implementation]:
    return (parameter,), lambda e, a: op.elementwise(e, template, [a[parameter]])


def _reduce(kind: str) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Arguments) -> Value:
        operand = a["input_tensor"]
        # TensorFlow's mean of integers is an integer, truncated; its variance of them fails
        if kind == "mean" and op.may_be_integers(operand):
            return replace(op.reduce(e, "integer_mean", operand, a.get("axis"), a.get("keepdims") or False),
                           integer=operand.integer)
        return op.reduce(e, kind, operand, a.get("axis"), a.get("keepdims") or False)
    return ("input_tensor", "axis", "keepdims"), run


def _gelu(e: Emitter, a: Arguments) -> Value:
    approximate = "tanh" if a.get("approximate") else "none"  # TensorFlow's default is the exact form
    return op.elementwise(e, f"F.gelu({{0}}, approximate={literal(approximate)})", [a["features"]])


def _leaky_relu(e: Emitter, a: Arguments) -> Value:
    alpha = a.get("alpha", 0.2)
    if not op.is_number(alpha):
        raise e.unsupported("leaky_relu with a non-number alpha")
    return op.elementwise(e, f"F.leaky_relu({{0}}, {literal(float(alpha))})", [floats(a["features"], e)])


def _gather(e: Emitter, a: Arguments) -> Value:
    if a.get("batch_dims") not in (None, 0):
        raise e.unsupported("gather with batch_dims is not built yet")
    return shaping.take(e, a["params"], a["indices"], 0 if a.get("axis") is None else a["axis"])


def _where(e: Emitter, a: Arguments) -> Value:
    if a.get("x") is None or a.get("y") is None:
        raise e.unsupported("tf.where of a condition alone (the indices of true values) is not built")
    return op.where(e, a["condition"], a["x"], a["y"])


FUNCTIONS: dict[str, tuple[tuple[str, ...], Implementation]] = {
    **{name: _binary("({0} + {1})") for name in ("__operators__.add", "math.add")},
    "math.subtract": _binary("({0} - {1})"), "math.multiply": _binary("({0} * {1})"),
    "math.truediv": _binary("({0} / {1})"), "math.divide": _binary("({0} / {1})"),
    "math.pow": _binary("({0} ** {1})"), "math.floordiv": _binary("({0} // {1})"),
    "math.maximum": _binary("torch.maximum({0}, {1})", tensors=True),
    "math.minimum": _binary("torch.minimum({0}, {1})", tensors=True),
    "math.equal": _binary("({0} == {1})"), "math.not_equal": _binary("({0} != {1})"),
    "math.greater": _binary("({0} > {1})"), "math.greater_equal": _binary("({0} >= {1})"),
    "math.less": _binary("({0} < {1})"), "math.less_equal": _binary("({0} <= {1})"),
    "math.logical_and": _binary("torch.logical_and({0}, {1})"),
    "math.logical_or": _binary("torch.logical_or({0}, {1})"),
    "math.logical_not": _unary("torch.logical_not({0})"),
    "math.negative": _unary("(-{0})"), "math.abs": _unary("torch.abs({0})"), "math.exp": _unary("torch.exp({0})"),
    "math.log": _unary("torch.log({0})"), "math.sqrt": _unary("torch.sqrt({0})"),
    "math.square": _unary("torch.square({0})"), "math.rsqrt": _unary("torch.rsqrt({0})"),
    "math.sigmoid": _unary("torch.sigmoid({0})"), "math.tanh": _unary("torch.tanh({0})"),
    "math.erf": _unary("torch.erf({0})"), "math.sign": _unary("torch.sign({0})"),
    "math.sin": _unary("torch.sin({0})"), "math.cos": _unary("torch.cos({0})"),
    "math.log1p": _unary("torch.log1p({0})"), "math.expm1": _unary("torch.expm1({0})"),
    "math.reciprocal": _unary("torch.reciprocal({0})"), "math.floor": _unary("torch.floor({0})"),
    "zeros_like": fn.filled_like("0"), "ones_like": fn.filled_like("1"), "identity": _unary("{0}", "input"),
    "math.add_n": (("inputs",), fn.add_n), "math.log_sigmoid": _unary("F.logsigmoid({0})"),
    "math.is_nan": _unary("torch.isnan({0})"), "math.is_inf": _unary("torch.isinf({0})"),
    "math.is_finite": _unary("torch.isfinite({0})"),
    "math.atan2": (("y", "x"), lambda e, a: op.elementwise(e, "torch.atan2({0}, {1})", [
        op._as_tensor(e, a["y"]), op._as_tensor(e, a["x"])])),
    "math.multiply_no_nan": _binary("torch.where({1} == 0, torch.zeros_like({0} * {1}), {0} * {1})", tensors=True),
    "compat.v1.math.scalar_mul": (("scalar", "x"), lambda e, a: op.elementwise(e, "({0} * {1})", [
        a["scalar"], a["x"]])),
    "math.ceil": _unary("torch.ceil({0})"), "math.softplus": _unary("F.softplus({0})", "features"),
    "math.round": _unary("torch.round({0})"),  # both round half to even
    **{name: _binary("({0} % {1})") for name in ("math.floormod", "math.mod")},  # torch's % floors, as TF's
    "compat.v1.floor_div": _binary("({0} // {1})"),
    "math.squared_difference": _binary("torch.square({0} - {1})"),
    "math.divide_no_nan": _binary("torch.where({1} == 0, torch.zeros_like({0} / {1}), {0} / {1})", tensors=True),
    "stop_gradient": _unary("{0}", "input"),  # inference: the identity
    "math.l2_normalize": (("x", "axis", "epsilon", "dim"), fn.l2_normalize),
    "math.cumsum": (("x", "axis", "exclusive", "reverse"), fn.cumsum),
    "math.cumprod": (("x", "axis", "exclusive", "reverse"), fn.cumprod),
    "math.count_nonzero": (("input", "axis", "keepdims", "dtype"), fn.count_nonzero),
    "roll": (("input", "shift", "axis"), fn.roll),
    "tile": (("input", "multiples"), lambda e, a: shaping.tile(e, a["input"], a.get("multiples"), minimum=0)),
    **{name: (("tensor", "paddings", "mode", "constant_values"), fn.pad) for name in ("pad", "compat.v1.pad")},
    "image.resize": (("images", "size", "method", "preserve_aspect_ratio", "antialias"), fn.resize),
    "image.convert_image_dtype": (("image", "dtype", "saturate"), fn.convert_image_dtype),
    "compat.v1.image.resize_bilinear": (("images", "size", "align_corners", "half_pixel_centers"),
                                        fn.resize_bilinear_v1),
    **{name: (("tensor", "ord", "axis", "keepdims", "keep_dims"), fn.norm) for name in ("norm", "compat.v1.norm")},
    "nn.depth_to_space": fn.space_depth("depth_to_space"), "nn.space_to_depth": fn.space_depth("space_to_depth"),
    "one_hot": (("indices", "depth", "on_value", "off_value", "axis", "dtype"), fn.one_hot),
    "nn.bias_add": (("value", "bias", "data_format"), fn.bias_add),
    **{name: (("logits", "axis"), lambda e, a: op.softmax(e, "log_softmax", a["logits"], -1 if a.get("axis") is None
                                                           else a["axis"])) for name in ("nn.log_softmax",
                                                                                         "math.log_softmax")},
    "math.softsign": _unary("F.softsign({0})", "features"), "nn.softsign": _unary("F.softsign({0})", "features"),
    "nn.relu": _unary("F.relu({0})", "features"), "nn.relu6": _unary("F.relu6({0})", "features"),
    "nn.sigmoid": _unary("torch.sigmoid({0})"), "nn.silu": _unary("F.silu({0})", "features"),
    "nn.swish": _unary("F.silu({0})", "features"), "nn.elu": _unary("F.elu({0})", "features"),
    "nn.selu": _unary("F.selu({0})", "features"), "nn.softplus": _unary("F.softplus({0})", "features"),
    "nn.gelu": (("features", "approximate"), _gelu), "nn.leaky_relu": (("features", "alpha"), _leaky_relu),
    **{name: (("logits", "axis"), lambda e, a: op.softmax(e, "softmax", a["logits"], -1 if a.get("axis") is None
                                                           else a["axis"])) for name in ("nn.softmax", "math.softmax")},
    "math.reduce_mean": _reduce("mean"), "math.reduce_sum": _reduce("sum"), "math.reduce_max": _reduce("max"),
    "math.reduce_min": _reduce("min"), "math.reduce_prod": _reduce("prod"), "math.reduce_any": _reduce("any"),
    "math.reduce_all": _reduce("all"), "math.reduce_logsumexp": _reduce("logsumexp"),
    "math.reduce_std": _reduce("std"), "math.reduce_variance": _reduce("var"),  # population, as op.reduce
    "math.argmax": (("input", "axis", "output_type"), fn.arg_reduce("argmax")),
    "math.argmin": (("input", "axis", "output_type"), fn.arg_reduce("argmin")),
    "concat": (("values", "axis"), lambda e, a: shaping.join(e, "cat", a["values"], a["axis"])),
    "stack": (("values", "axis"), lambda e, a: shaping.join(e, "stack", a["values"], a.get("axis") or 0)),
    "reshape": (("tensor", "shape"), lambda e, a: shaping.reshape(e, a["tensor"], a["shape"])),
    **{name: (("a", "perm", "conjugate"), lambda e, a: shaping.transpose(e, a["a"], a.get("perm")))
       for name in ("transpose", "compat.v1.transpose")},
    "reverse": (("tensor", "axis"), lambda e, a: shaping.flip(e, a["tensor"], a["axis"])),
    "expand_dims": (("input", "axis"), lambda e, a: shaping.expand_dims(e, a["input"], a["axis"])),
    **{name: (("input", "axis"), lambda e, a: shaping.squeeze(e, a["input"], a.get("axis")))
       for name in ("squeeze", "compat.v1.squeeze")},
    "clip_by_value": (("t", "clip_value_min", "clip_value_max"),
                      lambda e, a: op.clip(e, a["t"], a["clip_value_min"], a["clip_value_max"])),
    "cast": (("x", "dtype"), lambda e, a: op.cast(e, a["x"], a["dtype"])),
    "where": (("condition", "x", "y"), _where),
    "split": (("value", "num_or_size_splits", "axis"),
              lambda e, a: shaping.split(e, a["value"], a["num_or_size_splits"], a.get("axis") or 0)),
    **{name: (("params", "indices", "validate_indices", "axis", "batch_dims"), _gather)
       for name in ("gather", "compat.v1.gather")},
    "math.top_k": (("input", "k", "sorted", "index_type"), fn.top_k),
    "sort": (("values", "axis", "direction"), fn.sorted_part("values")),
    "argsort": (("values", "axis", "direction", "stable"), fn.sorted_part("indices")),
    "slice": (("input_", "begin", "size"), fn.slice_of),
    "unstack": (("value", "num", "axis"), fn.unstack),
    "linalg.matmul": (("a", "b", "transpose_a", "transpose_b", "adjoint_a", "adjoint_b", "a_is_sparse",
                       "b_is_sparse", "output_type"), fn.matmul),
}


def _arguments(e: Emitter, parameters: tuple[str, ...]) -> Arguments:
    """The call's first argument and keyword arguments by TensorFlow's parameter names."""
    if not e.call.positional:
        raise e.unsupported("called with no argument")
    arguments = Arguments(e)
    arguments[parameters[0]] = e.positional(0)
    for name in e.call.kwargs:
        if name == "name":
            continue
        if name not in parameters:
            raise e.unsupported(f"argument {name[:30]!r} of {e.config.get('function')} is not built")
        arguments[name] = e.named(name)
    return arguments


def tf_op(e: Emitter) -> Any:
    function = e.config.text("function")
    if function not in FUNCTIONS:
        raise e.unsupported(f"TensorFlow function tf.{function[:60]} has no PyTorch equivalent here")
    parameters, implementation = FUNCTIONS[function]
    return implementation(e, _arguments(e, parameters))


def slicing(e: Emitter) -> Value:
    if e.config.text("function") != "__operators__.getitem":
        raise e.unsupported(f"slicing function {str(e.config.get('function'))[:40]} is not built")
    return shaping.getitem(e, e.positional(0), e.named("slice_spec", _MISSING))


register(Kind("keras.layers.TFOpLambda", forward=tf_op, description="no weights; a TensorFlow function",
              tested="tf.math arithmetic with constants on either side, tf.nn activations, reductions, "
                     "concat, reshape, transpose, expand_dims, split, where, cast, matmul; l2_normalize, cumsum, "
                     "reduce_std/variance, pad (constant, REFLECT, SYMMETRIC), tile, image.resize, "
                     "image.convert_image_dtype (to floats), depth_to_space, space_to_depth, one_hot (along any "
                     "axis), round, floormod, divide_no_nan, "
                     "log_softmax, bias_add, norm, top_k, sort, argsort (ties in index order), slice, unstack (with or "
                     "without num), zeros_like, ones_like, identity, add_n, log_sigmoid, is_nan, is_finite, atan2, "
                     "multiply_no_nan, scalar_mul, argmax and argmin (with output_type); a mean of integers "
                     "(truncated)"))
register(Kind("keras.layers.SlicingOpLambda", forward=slicing, description="no weights; x[...] in tf.keras",
              tested="ints, slices with steps (negative ones too), new axes, `...`"))
