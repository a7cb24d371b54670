"""tf.keras op layers: `TFOpLambda` (tf.nn.relu(x), x / 255.0, tf.concat) and `SlicingOpLambda` (x[:, 0]).

tf.keras saves a TensorFlow function called in a functional model as a layer naming the
function (`math.truediv`) with its first argument as the inbound tensor (or a constant)
and the others as keyword arguments. Each function weightport builds is a row of
FUNCTIONS: its parameters in TensorFlow's order and what it computes (operations.py).
Any other function is refused by name; no TensorFlow function is ever called.
"""
from __future__ import annotations

from typing import Any, Callable

from . import operations as op
from .forward import Emitter, Value, literal
from .registry import Kind, register

Arguments = dict[str, Any]
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
    return (("input_tensor", "axis", "keepdims"),
            lambda e, a: op.reduce(e, kind, a["input_tensor"], a.get("axis"), a.get("keepdims") or False))


def _gelu(e: Emitter, a: Arguments) -> Value:
    approximate = "tanh" if a.get("approximate") else "none"  # TensorFlow's default is the exact form
    return op.elementwise(e, f"F.gelu({{0}}, approximate={literal(approximate)})", [a["features"]])


def _leaky_relu(e: Emitter, a: Arguments) -> Value:
    alpha = a.get("alpha", 0.2)
    if not op.is_number(alpha):
        raise e.unsupported("leaky_relu with a non-number alpha")
    return op.elementwise(e, f"F.leaky_relu({{0}}, {literal(float(alpha))})", [a["features"]])


def _gather(e: Emitter, a: Arguments) -> Value:
    if a.get("batch_dims") not in (None, 0):
        raise e.unsupported("gather with batch_dims is not built yet")
    return op.take(e, a["params"], a["indices"], 0 if a.get("axis") is None else a["axis"])


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
    "math.ceil": _unary("torch.ceil({0})"), "math.softplus": _unary("F.softplus({0})", "features"),
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
    "math.argmax": (("input", "axis"), lambda e, a: op.arg_reduce(e, "argmax", a["input"], a.get("axis") or 0)),
    "math.argmin": (("input", "axis"), lambda e, a: op.arg_reduce(e, "argmin", a["input"], a.get("axis") or 0)),
    "concat": (("values", "axis"), lambda e, a: op.join(e, "cat", a["values"], a["axis"])),
    "stack": (("values", "axis"), lambda e, a: op.join(e, "stack", a["values"], a.get("axis") or 0)),
    "reshape": (("tensor", "shape"), lambda e, a: op.reshape(e, a["tensor"], a["shape"])),
    **{name: (("a", "perm", "conjugate"), lambda e, a: op.transpose(e, a["a"], a.get("perm")))
       for name in ("transpose", "compat.v1.transpose")},
    "reverse": (("tensor", "axis"), lambda e, a: op.flip(e, a["tensor"], a["axis"])),
    "expand_dims": (("input", "axis"), lambda e, a: op.expand_dims(e, a["input"], a["axis"])),
    **{name: (("input", "axis"), lambda e, a: op.squeeze(e, a["input"], a.get("axis")))
       for name in ("squeeze", "compat.v1.squeeze")},
    "clip_by_value": (("t", "clip_value_min", "clip_value_max"),
                      lambda e, a: op.clip(e, a["t"], a["clip_value_min"], a["clip_value_max"])),
    "cast": (("x", "dtype"), lambda e, a: op.cast(e, a["x"], a["dtype"])),
    "where": (("condition", "x", "y"), _where),
    "split": (("value", "num_or_size_splits", "axis"),
              lambda e, a: op.split(e, a["value"], a["num_or_size_splits"], a.get("axis") or 0)),
    **{name: (("params", "indices", "validate_indices", "axis", "batch_dims"), _gather)
       for name in ("gather", "compat.v1.gather")},
    "linalg.matmul": (("a", "b", "transpose_a", "transpose_b"),
                      lambda e, a: op.matmul(e, a["a"], a["b"], a.get("transpose_a"), a.get("transpose_b"))),
}


def _arguments(e: Emitter, parameters: tuple[str, ...]) -> Arguments:
    """The call's first argument and keyword arguments by TensorFlow's parameter names."""
    if not e.call.positional:
        raise e.unsupported("called with no argument")
    arguments: Arguments = {parameters[0]: e.positional(0)}
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
    return op.getitem(e, e.positional(0), e.named("slice_spec", _MISSING))


register(Kind("keras.layers.TFOpLambda", forward=tf_op, description="no weights; a TensorFlow function",
              tested="tf.math arithmetic with constants on either side, tf.nn activations, reductions, "
                     "concat, reshape, transpose, expand_dims, split, where, cast, matmul"))
register(Kind("keras.layers.SlicingOpLambda", forward=slicing, description="no weights; x[...] in tf.keras",
              tested="ints, slices with steps, new axes"))
