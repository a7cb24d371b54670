"""A Lambda layer's computation, given by the user as an expression: parsed, checked, evaluated by an algebra.

A Lambda's function is Python bytecode stored in the file (marshalled), which weightport
never runs nor unmarshals (inspect reads the names in it as text: lambda_code.py). The user
says what it computes instead, in a small language: a Python expression of the layer's input
`x` (or `lambda t: ...`, naming it), numbers, + - * / // % **, indexing with ints and slices,
and the Keras backend functions of FUNCTIONS (lambda_functions.py), written bare or as `K.`,
`tf.`, `keras.ops.`... spell them (`K.mean(x, axis=1)`, `tf.reduce_mean(x, 1)`).
The expression is parsed with `ast` and walked: nothing in it is ever evaluated by Python.

The same walk computes it twice: in the PyTorch module (kinds/lambda_layer.py emits code) and,
for `verify`, in Keras in place of the file's function (keras_lambdas.py).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from .errors import ArgumentError
from .graph import Layer, ModelGraph
from .lambda_functions import (
    COMPARISONS, DTYPES, EPSILON, FUNCTIONS, SYNONYMS, bind, check_arguments, is_number, shown,
)

MAX_TEXT = 2000  # characters of one expression
MAX_NODES = 400  # syntax nodes of one expression
MAX_WORD = 20  # characters of a string constant: a function's word (pad's mode), checked against its few
#: module prefixes a function may be written with: what the user's lambda called (K.sqrt, tf.reduce_sum, ...)
PREFIXES = frozenset({"K", "backend", "keras.backend", "tf.keras.backend", "tf", "tf.math", "tf.nn", "keras.ops",
                      "ops", "np", "ktf"})  # ktf: `from keras.backend import tf as ktf`, common in 2017
#: prefixes of image functions: `tf.image.resize` is not the Keras backend's resize_images (by factors)
IMAGE_PREFIXES = frozenset({"tf.image", "K.tf.image", "ktf.image", "tf.compat.v1.image", "keras.ops.image",
                            "ops.image"})
#: modules a dtype attribute may be written from (tf.int32, np.float32, tf.dtypes.int64)
DTYPE_PREFIXES = frozenset({"tf", "np", "tf.dtypes"})
BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


@dataclass(frozen=True)
class LambdaExpression:
    """What a Lambda layer computes, as the user wrote it: `tree` is the expression of `parameter`."""

    text: str
    parameter: str
    tree: ast.expr
    arguments: Mapping[str, float] = field(default_factory=dict)  # the layer's own `arguments`, numbers only


class Algebra(Protocol):
    """How tensors are computed on: the PyTorch module's code, or Keras's tensors."""

    def is_tensor(self, value: Any) -> bool: ...
    def binary(self, operator: str, first: Any, second: Any) -> Any: ...
    def negative(self, value: Any) -> Any: ...
    def index(self, value: Any, items: list[Any]) -> Any: ...  # ints, slices, None (a new axis), Ellipsis
    def call(self, function: str, arguments: dict[str, Any]) -> Any: ...


def parse(text: str, where: str) -> LambdaExpression:
    """The expression `text` checked: ArgumentError (one line, naming `where` and the offending part) if it is
    not one of this language."""
    if not isinstance(text, str) or not text.strip():
        raise ArgumentError(f"{where}: the expression is empty")
    if len(text) > MAX_TEXT:
        raise ArgumentError(f"{where}: the expression is longer than {MAX_TEXT} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise ArgumentError(f"{where}: {text.strip()[:80]!r} is not a Python expression ({error.msg})") from None
    parameter = "x"
    if isinstance(tree, ast.Lambda):
        arguments = tree.args
        if (len(arguments.args) != 1 or arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg
                or arguments.kwarg or arguments.defaults):
            raise ArgumentError(f"{where}: a lambda of exactly one parameter is expected (the layer's input)")
        parameter, tree = arguments.args[0].arg, tree.body
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ArgumentError(f"{where}: the expression has more than {MAX_NODES} parts")
    for node in nodes:
        _check_node(node, where)
    return LambdaExpression(text.strip(), parameter, tree)


_ALLOWED = (ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Subscript, ast.Slice, ast.Call, ast.Attribute,
            ast.Tuple, ast.List, ast.keyword, ast.Load, ast.USub, ast.UAdd, ast.Compare, *BINARY, *COMPARISONS)


def _check_node(node: ast.AST, where: str) -> None:
    if not isinstance(node, _ALLOWED):
        raise ArgumentError(f"{where}: {shown(node)} is not allowed in a Lambda expression (numbers, the input, "
                            f"+ - * / // % **, indexing and the functions {', '.join(sorted(FUNCTIONS))})")
    if isinstance(node, ast.Constant) and not (node.value is None or node.value is Ellipsis
                                               or isinstance(node.value, (bool, int, float))
                                               or (isinstance(node.value, str) and len(node.value) <= MAX_WORD)):
        raise ArgumentError(f"{where}: {shown(node)}: only numbers, True, False, None and a function's words "
                            "('reflect', 'channels_last') are constants here")
    if isinstance(node, ast.Call):
        function_name(node.func, where)  # checked now: the walk meets only known functions
    # an attribute outside a call's function name (x.T) fails in the walk, unless it names a dtype (tf.int32)


def function_name(node: ast.expr, where: str) -> str:
    """The function a call names, as FUNCTIONS names it; ArgumentError for any other."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise ArgumentError(f"{where}: {shown(node)} is not a function name")
    parts.insert(0, node.id)
    prefix, name = ".".join(parts[:-1]), parts[-1]
    name = f"image.{name}" if prefix in IMAGE_PREFIXES else SYNONYMS.get(name, name)
    if "random" in name or "random" in prefix or name in ("truncated_normal", "dropout"):
        raise ArgumentError(f"{where}: {'.'.join(parts)!r} draws noise at every call, in Keras too, which no "
                            "conversion can match: give what the model should compute in its place (a VAE's sampling "
                            "Lambda: its mean, x[0])")
    if (prefix and prefix not in PREFIXES | IMAGE_PREFIXES) or name not in FUNCTIONS:
        raise ArgumentError(f"{where}: {'.'.join(parts)!r} is not a function this language has: "
                            f"{', '.join(sorted(FUNCTIONS))} (bare or as K., tf., keras.ops. ... write them)")
    return name


def evaluate(expression: LambdaExpression, inputs: Any, algebra: Algebra, where: str) -> Any:
    """The expression's value with the parameter bound to `inputs` (a tensor, or a list of them): a tensor of
    `algebra`. ArgumentError where the expression does not fit what the layer is given."""
    names = {**expression.arguments, expression.parameter: inputs}
    value = _evaluate(expression.tree, names, algebra, where)
    if not algebra.is_tensor(value):
        raise ArgumentError(f"{where}: {expression.text[:80]!r} does not give a tensor")
    return value


def _evaluate(node: ast.expr, names: dict[str, Any], algebra: Algebra, where: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ArgumentError(f"{where}: unknown name {node.id!r} (the layer's input is {_parameter(names)})")
        return names[node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [_evaluate(item, names, algebra, where) for item in node.elts]
    if isinstance(node, ast.Attribute):  # a dtype (tf.int32) is its word; any other attribute is refused
        dotted = ast.unparse(node)
        prefix, _, name = dotted.rpartition(".")
        if prefix in DTYPE_PREFIXES and name in DTYPES:
            return name
        raise ArgumentError(f"{where}: {shown(node)} is not allowed here (a dtype is: 'int32', tf.int32)")
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, names, algebra, where)
        if isinstance(node.op, ast.UAdd):
            return value
        if is_number(value):
            return -value
        return algebra.negative(_tensor(value, algebra, where, node))
    if isinstance(node, ast.BinOp):
        first, second = (_evaluate(side, names, algebra, where) for side in (node.left, node.right))
        operator = BINARY[type(node.op)]
        if is_number(first) and is_number(second):
            return _fold(operator, first, second, where)
        for side in (first, second):
            if not is_number(side):
                _tensor(side, algebra, where, node)
        return algebra.binary(operator, first, second)
    if isinstance(node, ast.Subscript):
        value = _evaluate(node.value, names, algebra, where)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = [_index_item(item, names, algebra, where) for item in items]
        if isinstance(value, list):  # the inputs of a Lambda called on several tensors
            if len(index) != 1 or not isinstance(index[0], int) or not -len(value) <= index[0] < len(value):
                raise ArgumentError(f"{where}: {shown(node)}: the layer's {len(value)} inputs are indexed by one "
                                    "int")
            return value[index[0]]
        return algebra.index(_tensor(value, algebra, where, node), index)
    if isinstance(node, ast.Compare):  # x > 0: the comparison's function, of one pair
        if len(node.ops) != 1:
            raise ArgumentError(f"{where}: {shown(node)}: compare two things at a time (a < x < b is not built)")
        first, second = (_evaluate(side, names, algebra, where) for side in (node.left, node.comparators[0]))
        if not (algebra.is_tensor(first) or algebra.is_tensor(second)):
            raise ArgumentError(f"{where}: {shown(node)}: a comparison of constants")
        name = COMPARISONS[type(node.ops[0])]
        arguments = {"x": first, "y": second}
        check_arguments(name, arguments, algebra.is_tensor, where, node)
        return algebra.call(name, arguments)
    if isinstance(node, ast.Call):
        name = function_name(node.func, where)
        arguments = bind(name, node, [_evaluate(item, names, algebra, where) for item in node.args],
                          {keyword.arg: _evaluate(keyword.value, names, algebra, where) for keyword in node.keywords},
                          where)
        if name == "epsilon":
            return EPSILON
        if name == "floatx":  # Keras's default (keras.json's floatx)
            return "float32"
        check_arguments(name, arguments, algebra.is_tensor, where, node)
        return algebra.call(name, arguments)
    raise ArgumentError(f"{where}: {shown(node)} is not allowed here")


def _parameter(names: dict[str, Any]) -> str:
    return " or ".join(repr(name) for name in names)


def _tensor(value: Any, algebra: Algebra, where: str, node: ast.AST) -> Any:
    if not algebra.is_tensor(value):
        raise ArgumentError(f"{where}: {shown(node)}: expected a tensor or a number, found "
                            f"{'the list of the layer inputs' if isinstance(value, list) else repr(value)[:40]}")
    return value


def _fold(operator: str, first: float, second: float, where: str) -> float:
    """Numbers computed as Python computes them in the user's lambda (before any tensor sees them)."""
    if operator == "**" and (abs(second) > 64 or abs(first) > 1e6):
        raise ArgumentError(f"{where}: {first} ** {second}: write the number itself")
    try:
        value = {"+": lambda: first + second, "-": lambda: first - second, "*": lambda: first * second,
                 "/": lambda: first / second, "//": lambda: first // second, "%": lambda: first % second,
                 "**": lambda: first ** second}[operator]()
    except (ZeroDivisionError, OverflowError, ValueError) as error:
        raise ArgumentError(f"{where}: {first} {operator} {second}: {error}") from None
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise ArgumentError(f"{where}: {first} {operator} {second} is not a finite real number")
    return value


def _index_item(node: ast.expr, names: dict[str, Any], algebra: Algebra, where: str) -> Any:
    if isinstance(node, ast.Slice):
        bounds = [None if part is None else _evaluate(part, names, algebra, where)
                  for part in (node.lower, node.upper, node.step)]
        if not all(bound is None or (isinstance(bound, int) and not isinstance(bound, bool)) for bound in bounds):
            raise ArgumentError(f"{where}: {shown(node)}: slice bounds are ints")
        if bounds[2] == 0:
            raise ArgumentError(f"{where}: {shown(node)}: a slice's step is not 0")
        return slice(*bounds)
    value = _evaluate(node, names, algebra, where)
    if value is None or value is Ellipsis or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ArgumentError(f"{where}: {shown(node)}: an index is an int, a slice, None or ...")


def lambda_config(layer: Layer) -> Mapping[str, Any] | None:
    """The config of the Lambda a layer is, or wraps (TimeDistributed(Lambda): one function per time step), or
    None for any other layer."""
    if layer.class_name == "Lambda":
        return layer.config
    inner = layer.config.get("layer") if layer.class_name == "TimeDistributed" else None
    if isinstance(inner, dict) and inner.get("class_name") == "Lambda" and isinstance(inner.get("config"), dict):
        return inner["config"]
    return None


def lambda_name(layer: Layer) -> str:
    """The Lambda's own name in Keras (a wrapped one's, not its wrapper's)."""
    name = (lambda_config(layer) or {}).get("name")
    return name if isinstance(name, str) and layer.class_name != "Lambda" else layer.name


def lambda_layers(graph: ModelGraph) -> list[Layer]:
    """The Lambda layers of a graph, those wrapped in TimeDistributed too."""
    return [layer for layer in graph.walk() if lambda_config(layer) is not None]


def option_example(key: str) -> str:
    """The option that gives Lambda `key` an expression, as messages show it."""
    return f"--lambda {key}='x / 127.5 - 1'"


def attach(graph: ModelGraph, lambdas: Mapping[str, str] | None) -> None:
    """Give each Lambda layer named in `lambdas` (by name, or its key inside nested models) its expression.

    A name that is no Lambda layer's is an error (a typo would leave the layer without its expression),
    as is a Lambda whose own config gives it a mask or non-number arguments."""
    if not lambdas:
        return
    if not isinstance(lambdas, Mapping):
        raise ArgumentError("lambdas: expected a dict of Lambda layer name -> expression")
    layers = lambda_layers(graph)
    for name, text in lambdas.items():
        where = f"Lambda {name}"
        found = [layer for layer in layers if name in (layer.key, layer.name, lambda_name(layer))]
        if not found:
            known = ", ".join(layer.key for layer in layers) or "none"
            raise ArgumentError(f"{graph.source}: {where}: the model has no Lambda layer of that name (its Lambda "
                                f"layers: {known})")
        layer = found[0]
        namesakes = [other.key for other in layers if lambda_name(other) == lambda_name(layer)]
        if len(namesakes) > 1:  # verify's Keras side finds a Lambda by its name (keras_lambdas.py)
            raise ArgumentError(f"{graph.source}: {where}: several Lambda layers are named {lambda_name(layer)!r} "
                                f"({', '.join(namesakes)}), which is not built")
        if (lambda_config(layer) or {}).get("mask") is not None:
            raise ArgumentError(f"{graph.source}: {where}: the Lambda computes its own mask (mask=), which is "
                                "code too: not built")
        expression = parse(text, f"{graph.source}: {where}")
        layer.expression = _with_arguments(expression, layer, f"{graph.source}: {where}")


def _with_arguments(expression: LambdaExpression, layer: Layer, where: str) -> LambdaExpression:
    """The layer's `arguments` (keyword arguments Keras passes its function) that are numbers, by name."""
    arguments = (lambda_config(layer) or {}).get("arguments") or {}
    if not isinstance(arguments, dict):
        raise ArgumentError(f"{where}: the layer's arguments are not a dict")
    numbers = {str(key): value for key, value in arguments.items() if is_number(value)}
    used = {node.id for node in ast.walk(expression.tree) if isinstance(node, ast.Name)}
    unreadable = sorted(key for key in arguments if key in used and key not in numbers)
    if unreadable:
        raise ArgumentError(f"{where}: the layer's argument(s) {', '.join(unreadable)} are not numbers")
    return LambdaExpression(expression.text, expression.parameter, expression.tree, numbers)

