"""Lambda: the expression the user gave for it (lambda_expressions.py), written as PyTorch code (no weights).

A Lambda's function is code stored in the file, which weightport never runs: without an
expression the builder refuses the layer by name (torch_build/unbuildable.py). Its output
carries no Keras mask: a Lambda without `mask=` computes none (tf.keras and Keras 3).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from ..lambda_expressions import evaluate
from ..lambda_functions import COMPARISONS, L2_EPSILON, REDUCTIONS
from . import operations as op
from . import ops_numpy, shaping
from .forward import KERAS, Emitter, Value, literal
from .merging import batch_dot
from .ops_nn import resized_images, tf1_resized_images
from .registry import Kind, register

#: Python's operators as the keras.ops operations of the same names compute them (ops_numpy.BINARY)
BINARY = {operator: ops_numpy.BINARY[name] for operator, name in (
    ("+", "Add"), ("-", "Subtract"), ("*", "Multiply"), ("/", "TrueDivide"), ("//", "FloorDivide"), ("%", "Mod"),
    ("**", "Power"))}
#: lambda_functions.UNARY's functions; torch.round, as TensorFlow's, rounds halves to even
UNARY = {**{name: f"torch.{name}({{0}})" for name in ("abs", "sqrt", "square", "exp", "log", "tanh", "sigmoid", "relu",
                                                        "sin", "cos", "sign", "log1p", "expm1", "floor", "ceil",
                                                        "round")},
         "softplus": "torch.nn.functional.softplus({0})", "softsign": "torch.nn.functional.softsign({0})"}


class TorchAlgebra:
    """The expression's operations as code of the module's forward, on Values (operations.py's helpers: layouts
    as each needs them, elementwise ones in the input's own)."""

    def __init__(self, e: Emitter) -> None:
        self.e = e

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, Value)

    def _floats(self, *values: Any) -> None:
        """Arithmetic on integer tensors (ids) computes in their dtype in Keras, which the builder does not
        follow through a Lambda: refused."""
        if any(isinstance(value, Value) and value.may_be_integers for value in values):
            raise self.e.unsupported("arithmetic on an integer tensor in a Lambda expression is not built (indexing "
                                     "it is)")

    def _typed(self, value: Value, *operands: Any) -> Value:
        """`value` in the floating dtype its tensor operands share (float16 in a mixed_float16 model)."""
        dtypes = {item.dtype for item in operands if isinstance(item, Value)}
        return replace(value, dtype=dtypes.pop()) if len(dtypes) == 1 else value

    def binary(self, operator: str, first: Any, second: Any) -> Value:
        self._floats(first, second)
        return self._typed(op.elementwise(self.e, BINARY[operator], [first, second]), first, second)

    def negative(self, value: Any) -> Value:
        self._floats(value)
        return self._typed(op.elementwise(self.e, "(-{0})", [value]), value)

    def index(self, value: Any, items: list[Any]) -> Value:
        spec = [{"class_name": "__ellipsis__"} if item is Ellipsis else
                {"start": item.start, "stop": item.stop, "step": item.step} if isinstance(item, slice) else item
                for item in items]
        indexed = shaping.getitem(self.e, value, spec)
        return replace(indexed, dtype=value.dtype, integer=value.integer, from_integers=value.from_integers)

    def call(self, function: str, arguments: dict[str, Any]) -> Value:
        if function in TYPED:  # of ids or any tensor, in a dtype of their own
            return FUNCTIONS[function](self.e, arguments)
        tensors = [arguments.get("x"), arguments.get("y"), *(arguments.get("tensors") or [])]
        self._floats(*tensors)
        return self._typed(FUNCTIONS[function](self.e, arguments), *tensors)


Function = Callable[[Emitter, dict[str, Any]], Value]


def _in_keras_axes(template: str) -> Function:
    """`template` ({x}: the operand in Keras's layout; {axis}, {count}: the arguments) of the same rank."""
    def build(e: Emitter, a: dict[str, Any]) -> Value:
        keras, rank = op.keras_value(e, a["x"])
        return Value(template.format(x=keras, axis=literal(a.get("axis")), count=a.get("count")), KERAS, rank)
    return build


def _resize_images(e: Emitter, a: dict[str, Any]) -> Value:
    """TensorFlow 1's resize_images: corners aligned (torch's align_corners), or neither that nor half-pixel
    centres (its default)."""
    if a["align_corners"]:
        return resized_images(e, a["x"], a["size"], "bilinear", [], align_corners=True)
    return tf1_resized_images(e, a["x"], a["size"])


def _where(e: Emitter, a: dict[str, Any]) -> Value:
    """tf.where / K.switch of a boolean condition (a comparison, or a cast to bool), elementwise."""
    condition = a["condition"]
    if not isinstance(condition, Value) or condition.dtype != "bool":
        raise e.unsupported("where's condition is a comparison (x > 0) or a cast to bool here")
    return op.where(e, condition, a["x"], a["y"])


def _batch_flatten(e: Emitter, a: dict[str, Any]) -> Value:
    """K.batch_flatten: each sample's entries in Keras's order, (batch, everything else)."""
    keras, _ = op.keras_value(e, a["x"])
    return Value(f"{keras}.reshape({keras}.shape[0], -1)", KERAS, 2)


def _repeated_pixels(e: Emitter, a: dict[str, Any]) -> Value:
    """K.resize_images, nearest, by integer factors: each pixel repeated (TensorFlow's nearest resize of either
    version, which Keras called, picks the same pixels)."""
    keras, rank = op.keras_value(e, a["x"])
    if rank != 4:
        raise e.unsupported(f"resize_images of a tensor of rank {rank} (images are rank 4)")
    height = 1 if a["data_format"] == "channels_last" else 2
    repeated = f"torch.repeat_interleave({keras}, {int(a['height_factor'])}, dim={height})"
    return Value(f"torch.repeat_interleave({repeated}, {int(a['width_factor'])}, dim={height + 1})", KERAS, 4)


#: the functions whose result has a dtype of its own (indices, one-hot floats, a cast), of integer tensors too
TYPED = frozenset({"argmax", "argmin", "one_hot", "cast", *COMPARISONS.values()})


#: what each function of the language (lambda_functions.FUNCTIONS) computes in the module
FUNCTIONS: dict[str, Function] = {
    **{name: (lambda template: lambda e, a: op.elementwise(e, template, [a["x"]]))(template)
       for name, template in UNARY.items()},
    "power": lambda e, a: op.elementwise(e, BINARY["**"], [a["x"], a["y"]]),
    **{name: (lambda template: lambda e, a: op.elementwise(
        e, template, [op._as_tensor(e, a["x"]), op._as_tensor(e, a["y"])]))(f"torch.{name}({{0}}, {{1}})")
       for name in ("maximum", "minimum")},
    "clip": lambda e, a: op.clip(e, a["x"], a["low"], a["high"]),
    **{name: (lambda name: lambda e, a: op.reduce(e, name, a["x"], a["axis"], a["keepdims"]))(name)
       for name in REDUCTIONS},
    "batch_flatten": _batch_flatten,
    "reverse": lambda e, a: _in_keras_axes("torch.flip({x}, {axis})")(
        e, {**a, "axis": tuple(a["axis"]) if isinstance(a["axis"], list) else (a["axis"],)}),
    "concatenate": lambda e, a: shaping.join(e, "cat", a["tensors"], a["axis"]),
    "stack": lambda e, a: shaping.join(e, "stack", a["tensors"], a["axis"]),
    "expand_dims": lambda e, a: shaping.expand_dims(e, a["x"], a["axis"]),
    "squeeze": lambda e, a: shaping.squeeze(e, a["x"], a["axis"]),
    "transpose": lambda e, a: shaping.transpose(e, a["x"], a["axes"]),
    "reshape": lambda e, a: shaping.reshape(e, a["x"], a["shape"]),
    "tile": lambda e, a: shaping.tile(e, a["x"], a["counts"], minimum=1),
    "repeat_elements": _in_keras_axes("torch.repeat_interleave({x}, {count}, dim={axis})"),
    # tf.math.l2_normalize, which K.l2_normalize calls
    "l2_normalize": _in_keras_axes(f"({{x}} * torch.rsqrt(torch.clamp(torch.sum(torch.square({{x}}), dim={{axis}}, "
                                   f"keepdim=True), min={L2_EPSILON})))"),
    "softmax": _in_keras_axes("torch.softmax({x}, dim={axis})"),
    "batch_dot": lambda e, a: batch_dot(e, a["x"], a["y"], a["axes"], False, "batch_dot"),
    **{name: (lambda operator: lambda e, a: replace(op.elementwise(e, f"({{0}} {operator} {{1}})", [a["x"], a["y"]]),
                                                    dtype="bool", integer=True))(operator)
       for name, operator in (("greater", ">"), ("greater_equal", ">="), ("less", "<"), ("less_equal", "<="),
                              ("equal", "=="), ("not_equal", "!="))},
    "where": _where,
    # indices as the Keras that ran the model returned them: tf.argmax's int64, keras.ops.argmax's int32
    **{name: (lambda name: lambda e, a: op.arg_reduce(e, name, a["x"], a["axis"],
                                                      dtype="int32" if e.keras_major >= 3 else "int64"))(name)
       for name in ("argmax", "argmin")},
    "one_hot": lambda e, a: op.one_hot(e, a["x"], a["num_classes"], "float32"),
    "cast": lambda e, a: replace(op.cast(e, a["x"], a["dtype"]), dtype="bool", integer=True) if a["dtype"] == "bool"
    else op.cast(e, a["x"], a["dtype"]),
    "matmul": lambda e, a: op.matmul(e, a["x"], a["y"], a["transpose_a"], a["transpose_b"]),
    "pad": lambda e, a: shaping.pad(e, a["x"], a["paddings"], a["mode"], a["constant_values"]),
    **{name: (lambda name: lambda e, a: op.space_depth(e, name, a["x"], a["block_size"], channels_last=True))(name)
       for name in ("depth_to_space", "space_to_depth")},
    "resize_images": _repeated_pixels,
    "image.resize": lambda e, a: resized_images(e, a["x"], a["size"], "bilinear", []),
    "image.resize_images": _resize_images,
}


def lambda_forward(e: Emitter) -> Value:
    expression = e.layer.expression
    if expression is None:  # unbuildable.py refuses it first, naming what to do
        raise e.unsupported("its function is code stored in the file: give what it computes as an expression")
    several = len(e.inputs) > 1 or bool(e.call.positional and isinstance(e.call.positional[0], list))
    value = evaluate(expression, list(e.inputs) if several else e.inputs[0], TorchAlgebra(e),
                     f"{e.layer.key} (Lambda)")  # a tensor: evaluate refuses an expression that gives none
    return replace(value, mask=None)


register(Kind("keras.layers.Lambda", forward=lambda_forward,
              description="no weights; its function is code: built from the expression the user gives "
                          "(`--lambda NAME=EXPR`), never from the file",
              tested="arithmetic, indexing and each function of the expression language, against Keras running "
                     "the same expression"))
