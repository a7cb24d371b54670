"""The functions of the Lambda expression language (lambda_expressions.py): their parameters, the other
spellings K., tf., keras.ops. and numpy give them, and the checks of what each is passed.

Every name means what Keras's backend function (or TensorFlow's, which it called) of that name
computes; where the namespaces disagree on a default, the argument must be given.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import ArgumentError

#: Keras's default fuzz factor (keras.json's `epsilon`), what `K.epsilon()` returns unless a user changed it
EPSILON = 1e-7
#: tf.math.l2_normalize's epsilon, which K.l2_normalize passes on
L2_EPSILON = 1e-12


@dataclass(frozen=True)
class Signature:
    """A function's parameters: `positional` in order, then `keywords` (by name only); those without a
    default in `defaults` must be given."""

    positional: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()


_UNARY = Signature(("x",))
_REDUCE = Signature(("x", "axis"), {"axis": None, "keepdims": False}, ("keepdims",))
_AXIS = Signature(("x", "axis"))  # the axis required: the namespaces' defaults differ (np's 0, K's -1)
_BLOCK = Signature(("x", "block_size"))  # tf.nn's, of channels-last (NHWC) images
#: elementwise functions of one tensor
UNARY = ("abs", "sqrt", "square", "exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sign", "softplus",
         "softsign", "log1p", "expm1", "floor", "ceil", "round")
#: reductions over an axis, several or all (None); std and var of the population, as Keras's
REDUCTIONS = ("mean", "sum", "max", "min", "std", "var", "prod", "logsumexp")
#: Python's comparison operators, as the functions they call
COMPARISONS = {ast.Gt: "greater", ast.GtE: "greater_equal", ast.Lt: "less", ast.LtE: "less_equal", ast.Eq: "equal",
               ast.NotEq: "not_equal"}
#: function name -> its signature
FUNCTIONS: dict[str, Signature] = {
    **{name: _UNARY for name in UNARY},
    "maximum": Signature(("x", "y")), "minimum": Signature(("x", "y")), "power": Signature(("x", "y")),
    "clip": Signature(("x", "low", "high")),
    **{name: _REDUCE for name in REDUCTIONS},
    "batch_flatten": _UNARY,  # K.batch_flatten: (batch, everything else)
    "reverse": _AXIS,  # K.reverse, tf.reverse, ops.flip: along the axes given (np's and ops's default: every one)
    "concatenate": Signature(("tensors", "axis")), "stack": Signature(("tensors", "axis")),
    "expand_dims": _AXIS, "squeeze": _AXIS, "l2_normalize": _AXIS,
    "softmax": Signature(("x", "axis"), {"axis": -1}),
    # every axis, the batch's too, as Keras numbers them (numpy's transpose reverses them without axes: given)
    "transpose": Signature(("x", "axes")), "reshape": Signature(("x", "shape")),
    "repeat_elements": Signature(("x", "count", "axis")), "tile": Signature(("x", "counts")),
    # tf.matmul's (ops.matmul and np.matmul take no flags: False), batch axes broadcast
    "matmul": Signature(("x", "y"), {"transpose_a": False, "transpose_b": False}, ("transpose_a", "transpose_b")),
    # indices (int64 in tf.keras, int32 in Keras 3, as each returned them), ids to one-hot floats, dtypes
    "argmax": _AXIS, "argmin": _AXIS, "one_hot": Signature(("x", "num_classes")), "cast": Signature(("x", "dtype")),
    # comparisons (also written x > 0 ...): booleans, cast to be computed with; where (K.switch) picks by one
    **{name: Signature(("x", "y")) for name in COMPARISONS.values()},
    "where": Signature(("condition", "x", "y")),
    # K.batch_dot (tf.keras's): per sample, x's axis axes[0] contracted with y's axes[1] (batch_dot_equation)
    "batch_dot": Signature(("x", "y", "axes"), {"axes": None}),
    # tf.pad's, np.pad's and ops.pad's: (before, after) per axis, the batch's included; the mode in any case
    "pad": Signature(("x", "paddings", "mode", "constant_values"), {"mode": "constant", "constant_values": 0}),
    "depth_to_space": _BLOCK, "space_to_depth": _BLOCK,
    # K.resize_images: by integer factors, nearest (bilinear differs between Keras versions: refused, by name)
    "resize_images": Signature(("x", "height_factor", "width_factor", "data_format", "interpolation"),
                               {"interpolation": "nearest"}),
    # bilinear, to a constant (height, width): TensorFlow 2's and Keras 3's resize (half-pixel centres), and
    # TensorFlow 1's resize_images (neither half-pixel centres nor corners aligned), which 2017's models called
    "image.resize": Signature(("x", "size")),
    "image.resize_images": Signature(("x", "size"), {"align_corners": False}, ("align_corners",)),
    "epsilon": Signature(()), "floatx": Signature(()),
}
#: other spellings of the same functions across K., tf. and keras.ops
SYNONYMS = {"absolute": "abs", "reduce_mean": "mean", "reduce_sum": "sum", "reduce_max": "max", "amax": "max",
            "reduce_min": "min", "amin": "min", "concat": "concatenate", "clip_by_value": "clip", "pow": "power",
            "permute_dimensions": "transpose", "repeat": "repeat_elements", "reduce_std": "std",
            "reduce_variance": "var", "variance": "var", "switch": "where", "reduce_prod": "prod",
            "reduce_logsumexp": "logsumexp", "flip": "reverse"}
#: keyword spellings: K's, tf's, numpy's and keras.ops's names for the same parameter
KEYWORDS = {"keep_dims": "keepdims", "clip_value_min": "low", "clip_value_max": "high", "min_value": "low",
            "max_value": "high", "values": "tensors", "dim": "axis", "perm": "axes", "pattern": "axes",
            "newshape": "shape", "rep": "count", "repeats": "count", "n": "counts", "multiples": "counts",
            "reps": "counts", "input": "x", "tensor": "x", "array": "x", "a": "x", "b": "y", "x1": "x", "x2": "y",
            "pad_width": "paddings", "depth": "num_classes", "indices": "x", "then_expression": "x",
            "else_expression": "y"}
#: keyword spellings of one function's parameter (K.reverse's `axes` is tf.reverse's `axis`)
FUNCTION_KEYWORDS = {"reverse": {"axes": "axis"}}
#: dtypes a cast may name, as a word ('int32') or an attribute (tf.int32, np.float32)
DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
#: the words a string argument may be (compared, never written into code), by parameter
WORDS = {"mode": ("constant", "reflect", "symmetric"), "data_format": ("channels_last", "channels_first"),
         "interpolation": ("nearest", "bilinear"), "dtype": DTYPES}
_PRODUCTS = ("matmul", "batch_dot")


def shown(node: ast.AST) -> str:
    try:
        return repr(ast.unparse(node)[:60])
    except Exception:  # a node unparse cannot show alone (an operator)
        return type(node).__name__


def bind(name: str, node: ast.Call, args: list[Any], kwargs: dict[str | None, Any], where: str) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults filled in; ArgumentError for a missing or unknown one."""
    signature = FUNCTIONS[name]
    if len(args) > len(signature.positional):
        raise ArgumentError(f"{where}: {shown(node)}: {name} takes {len(signature.positional)} positional "
                            f"argument(s) ({', '.join(signature.positional)}); pass "
                            f"{', '.join(signature.keywords) or 'the others'} by name")
    bound = dict(zip(signature.positional, args))
    for keyword, value in kwargs.items():
        key = FUNCTION_KEYWORDS.get(name, {}).get(str(keyword)) or KEYWORDS.get(str(keyword), str(keyword))
        if key not in signature.positional + signature.keywords or key in bound:
            raise ArgumentError(f"{where}: {shown(node)}: {name} has no argument {keyword!r} here "
                                f"({', '.join(signature.positional + signature.keywords) or 'none'})")
        bound[key] = value
    for parameter in signature.positional + signature.keywords:
        if parameter not in bound:
            if parameter not in signature.defaults:
                raise ArgumentError(f"{where}: {shown(node)}: give {name}'s {parameter} (Keras's, TensorFlow's "
                                    "and numpy's defaults differ)")
            bound[parameter] = signature.defaults[parameter]
    return bound


def check_arguments(name: str, arguments: dict[str, Any], is_tensor: Callable[[Any], bool], where: str,
                    node: ast.AST) -> None:
    """Each argument of the kind the function takes: tensors, numbers, axes, flags, words. A word is lowered
    to the spelling WORDS gives it."""
    def fail(message: str) -> ArgumentError:
        return ArgumentError(f"{where}: {shown(node)}: {message}")

    for key, value in arguments.items():
        if isinstance(value, str):
            if value.lower() not in WORDS.get(key, ()):
                raise fail(f"{name}'s {key} is {' or '.join(map(repr, WORDS[key]))}" if key in WORDS else
                           f"{name}'s {key} is not a string")
            arguments[key] = value.lower()
        elif key in WORDS:
            raise fail(f"{name}'s {key} is {' or '.join(map(repr, WORDS[key]))}")
        if key == "condition" and not is_tensor(value):
            raise fail(f"{name}'s condition is a tensor (a comparison: x > 0)")
        if key == "x" and not is_tensor(value) and not (name in COMPARISONS.values() and is_number(value)):
            raise fail(f"{name} of a tensor is built (found {str(value)[:30]})")
        if key == "y" and not (is_tensor(value) or (is_number(value) and name not in _PRODUCTS)):
            raise fail(f"{name}'s second argument is a tensor{'' if name in _PRODUCTS else ' or a number'}")
        if key in ("low", "high", "constant_values") and not is_number(value):
            raise fail(f"{name}'s {'bounds are numbers' if key != 'constant_values' else 'value is a number'}")
        if key == "tensors" and not (isinstance(value, list) and value and all(is_tensor(item) for item in value)):
            raise fail(f"{name} takes a list of tensors")
        if key in ("keepdims", "align_corners", "transpose_a", "transpose_b") and not isinstance(value, bool):
            raise fail(f"{key} is True or False")
        several = name in REDUCTIONS or name == "reverse"
        if key == "axis" and not (value is None and name in REDUCTIONS) and not is_axis(value, several=several):
            raise fail(f"{name}'s axis is an int{', a list of ints or None' if name in REDUCTIONS else ''}"
                       f"{' or a list of ints' if name == 'reverse' else ''}")
        if key == "size" and not (isinstance(value, list) and len(value) == 2 and all(
                is_count(item, 1) for item in value)):
            raise fail("the size is a constant (height, width)")
        if key in ("count", "height_factor", "width_factor") and not is_count(value, 1):
            raise fail(f"{name}'s {key} is an int of 1 or more")
        if key == "num_classes" and not is_count(value, 1):
            raise fail(f"{name}'s num_classes is an int of 1 or more")
        if key == "block_size" and not is_count(value, 2):
            raise fail(f"{name}'s block_size is an int of 2 or more")
        if key == "axes" and name == "batch_dot":
            if not (value is None or is_axis(value, several=False) or (isinstance(value, list) and len(value) == 2
                                                                         and is_axis(value, several=True))):
                raise fail("batch_dot's axes are an int or a pair of ints")
        elif key in ("axes", "shape", "counts") and not (isinstance(value, list) and is_axis(value, several=True)):
            raise fail(f"{name}'s {key} is a list of ints, the batch axis's included")
        if key == "paddings" and not (isinstance(value, list) and value and all(
                isinstance(pair, list) and len(pair) == 2 and all(is_count(size, 0) for size in pair)
                for pair in value)):
            raise fail("pad's paddings are a (before, after) pair of sizes per axis, the batch axis's included")
    if name == "clip" and arguments["low"] > arguments["high"]:
        raise fail("clip's low bound is above its high bound")
    if name == "pad" and arguments["mode"] != "constant" and arguments["constant_values"] != 0:
        raise fail(f"pad's constant_values go with mode 'constant' only (the mode is {arguments['mode']!r})")
    if name == "resize_images" and arguments["interpolation"] != "nearest":
        raise fail("K.resize_images with interpolation='bilinear' computes differently by Keras version: write "
                   "tf.image.resize(x, (height, width)) (TensorFlow 2's) or tf.image.resize_images(x, (height, "
                   "width)) (TensorFlow 1's) with the size it gave")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def is_axis(value: Any, several: bool) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return several and isinstance(value, list) and bool(value) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def batch_dot_equation(axes: Any, x_rank: int, y_rank: int) -> str | None:
    """The einsum equation of tf.keras's K.batch_dot(x, y, axes) for operands of these ranks (2 to 4), or None
    where Keras refuses it (the batch axis contracted, or axes out of range). The result's axes are the batch's,
    x's others, then y's others; of two rank-2 operands it is (batch,), which K.batch_dot returns as (batch, 1)."""
    if not (2 <= x_rank <= 4 and 2 <= y_rank <= 4):
        return None
    pair = [x_rank - 1, y_rank - 2] if axes is None else [axes, axes] if isinstance(axes, int) else list(axes)
    first, second = pair[0] + (x_rank if pair[0] < 0 else 0), pair[1] + (y_rank if pair[1] < 0 else 0)
    if not (0 < first < x_rank and 0 < second < y_rank):
        return None
    x_letters = ["z" if axis == first else "bcd"[axis - 1] for axis in range(1, x_rank)]
    y_letters = ["z" if axis == second else "efg"[axis - 1] for axis in range(1, y_rank)]
    kept = [letter for letter in x_letters + y_letters if letter != "z"]
    return f"a{''.join(x_letters)},a{''.join(y_letters)}->a{''.join(kept)}"
