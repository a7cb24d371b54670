"""Lambda: the expression the user gave for it (lambda_expressions.py), written as PyTorch code (no weights).

A Lambda's function is code stored in the file, which weightport never runs: without an
expression the builder refuses the layer by name (torch_build/unbuildable.py). Its output
carries no Keras mask: a Lambda without `mask=` computes none (tf.keras and Keras 3).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ArgumentError
from ..lambda_expressions import evaluate
from . import operations as op
from . import shaping
from .forward import KERAS, Emitter, Value, literal
from .ops_nn import resized_images, tf1_resized_images
from .registry import Kind, register

BINARY = {"+": "({0} + {1})", "-": "({0} - {1})", "*": "({0} * {1})", "/": "({0} / {1})", "//": "({0} // {1})",
          "%": "({0} % {1})", "**": "({0} ** {1})"}
UNARY = {"abs": "torch.abs({0})", "sqrt": "torch.sqrt({0})", "square": "torch.square({0})", "exp": "torch.exp({0})",
         "log": "torch.log({0})", "tanh": "torch.tanh({0})", "sigmoid": "torch.sigmoid({0})",
         "relu": "torch.relu({0})", "sin": "torch.sin({0})", "cos": "torch.cos({0})", "sign": "torch.sign({0})"}


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
        e = self.e
        x = arguments.get("x")
        self._floats(x, arguments.get("y"), *(arguments.get("tensors") or []))
        if function in UNARY:
            made = op.elementwise(e, UNARY[function], [x])
        elif function == "power":
            made = op.elementwise(e, "({0} ** {1})", [x, arguments["y"]])
        elif function == "transpose":
            made = shaping.transpose(e, x, arguments["axes"])
        elif function == "reshape":
            made = shaping.reshape(e, x, arguments["shape"])
        elif function == "repeat_elements":
            keras, rank = op.keras_value(e, x)
            made = Value(f"torch.repeat_interleave({keras}, {arguments['count']}, dim={arguments['axis']})", KERAS,
                         rank)
        elif function == "tile":
            made = shaping.tile(e, x, arguments["counts"], minimum=1)
        elif function in ("maximum", "minimum"):
            made = op.elementwise(e, f"torch.{function}({{0}}, {{1}})",
                                  [op._as_tensor(e, x), op._as_tensor(e, arguments["y"])])
        elif function == "clip":
            made = op.clip(e, x, arguments["low"], arguments["high"])
        elif function in ("mean", "sum", "max", "min"):
            made = op.reduce(e, function, x, arguments["axis"], arguments["keepdims"])
        elif function in ("concatenate", "stack"):
            tensors = arguments["tensors"]
            made = shaping.join(e, "cat" if function == "concatenate" else "stack", tensors, arguments["axis"])
            return self._typed(made, *tensors)
        elif function == "expand_dims":
            made = shaping.expand_dims(e, x, arguments["axis"])
        elif function == "squeeze":
            made = shaping.squeeze(e, x, arguments["axis"])
        elif function == "l2_normalize":  # tf.math.l2_normalize, which K.l2_normalize calls
            keras, rank = op.keras_value(e, x)
            total = f"torch.sum(torch.square({keras}), dim={literal(arguments['axis'])}, keepdim=True)"
            made = Value(f"({keras} * torch.rsqrt(torch.clamp({total}, min=1e-12)))", KERAS, rank)
        elif function == "image.resize":
            made = resized_images(e, x, arguments["size"], "bilinear", [])
        elif function == "image.resize_images" and arguments["align_corners"]:
            made = resized_images(e, x, arguments["size"], "bilinear", [], align_corners=True)
        elif function == "image.resize_images":
            made = tf1_resized_images(e, x, arguments["size"])
        elif function == "softmax":
            keras, rank = op.keras_value(e, x)
            made = Value(f"torch.softmax({keras}, dim={literal(arguments['axis'])})", KERAS, rank)
        else:  # lambda_expressions.FUNCTIONS and this method list the same functions
            raise AssertionError(function)
        return self._typed(made, x, arguments.get("y"))


def lambda_forward(e: Emitter) -> Value:
    expression = e.layer.expression
    if expression is None:  # unbuildable.py refuses it first, naming what to do
        raise e.unsupported("its function is code stored in the file: give what it computes as an expression")
    several = len(e.inputs) > 1 or bool(e.call.positional and isinstance(e.call.positional[0], list))
    value = evaluate(expression, list(e.inputs) if several else e.inputs[0], TorchAlgebra(e),
                     f"{e.layer.key} (Lambda)")
    if not isinstance(value, Value):
        raise ArgumentError(f"{e.layer.key} (Lambda): {expression.text[:80]!r} does not give a tensor")
    return replace(value, mask=None)


register(Kind("keras.layers.Lambda", forward=lambda_forward,
              description="no weights; its function is code: built from the expression the user gives "
                          "(`--lambda NAME=EXPR`), never from the file",
              tested="arithmetic, indexing and each function of the expression language, against Keras running "
                     "the same expression"))
