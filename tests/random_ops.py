"""Random tensor operations for the graph fuzzer (tests/random_graphs.py): keras.ops in Keras 3, TensorFlow
functions in tf.keras (saved as TFOpLambda), with random axes (negative ones too), keepdims, modes and
arguments, over the operations users write between layers: reshapes, axis moves and rolls, cumulative and
statistical reductions, padding, tiling, sorting, gathering, splitting and stacking, matmul and einsum,
clipping and powers, continuous elementwise functions and glu, argmax cast back to float, one-hot, resizing,
casts (to the dtype a tensor has: the tensor itself, which keeps its Keras mask)."""
from __future__ import annotations

import inspect
import math
from typing import Any

from random_choices import Chooser, shape

KERAS3_OPS = ["reshape", "swapaxes", "moveaxis", "cumsum", "clip", "power", "logsumexp", "std", "mean_axes", "tile",
              "repeat", "pad", "sort", "norm", "where", "matmul", "einsum", "split", "stack", "take", "top_k", "tril",
              "argmax", "one_hot", "log_softmax", "normalize", "rsqrt", "erf", "resize", "var", "prod", "max_axes",
              "cast", "convert_to_tensor", "elementwise", "elementwise", "glu", "every_axis", "roll", "diff",
              "cumprod", "amax", "rot90", "fliplr", "ptp", "diagonal", "trace", "moments", "hstack", "pool",
              "attention", "divide_no_nan", "dot", "slice"]
#: continuous elementwise functions (no jump a rounding difference could cross), each on inputs in its domain:
#: bounded ones on tanh(x) * 0.9, fast-growing ones on tanh(x) * 2; those a Keras lacks are not drawn
ELEMENTWISE = {"arctan": "x", "arcsinh": "x", "cbrt": "x", "celu": "x", "hard_tanh": "x", "squareplus": "x",
               "soft_shrink": "x", "tanh_shrink": "x", "sparse_plus": "x", "stop_gradient": "x",
               "sinh": "grows", "cosh": "grows", "exp2": "grows",
               "tan": "bounded", "arcsin": "bounded", "arctanh": "bounded", "erfinv": "bounded",
               "log2": "positive", "log10": "positive", "arctan2": "pair", "hypot": "pair", "logaddexp": "pair",
               "sinc": "x", "fabs": "x", "erfc": "x", "fmax": "pair", "fmin": "pair"}
TF_OPS = ["reshape", "transpose", "cumsum", "clip", "power", "logsumexp", "std", "mean_axes", "tile", "pad", "sort",
          "norm", "where", "matmul", "split", "stack", "gather", "top_k", "argmax", "one_hot", "log_softmax",
          "l2_normalize", "rsqrt", "erf", "resize", "squared_difference", "divide_no_nan", "variance", "prod",
          "max_axes", "cast", "every_axis", "roll", "cumprod"]


def random_op(c: Chooser, keras3: bool, ops: Any, x: Any, steps: list[str]) -> Any:
    """One random operation on `x` (ops: keras.ops, or the tensorflow module for tf.keras)."""
    dims = shape(x)
    rank = len(dims)
    name = c.choice(KERAS3_OPS if keras3 else TF_OPS)
    if name == "elementwise":
        name = f"elementwise {c.choice([function for function in ELEMENTWISE if hasattr(ops, function)] or ['erf'])}"

    def axis() -> int:  # an axis other than the batch's, positive or negative
        a = c.integer(1, rank)
        return a - rank - 1 if c.chance(0.4) else a

    a, keepdims = axis(), c.chance(0.5)
    steps.append(f"op {name} axis={a} keepdims={keepdims} on {dims}")
    size = dims[a - 1 if a > 0 else a]
    if keras3:
        return _keras3(c, ops, name, x, dims, a, keepdims, size, axis)
    return _tensorflow(c, ops, name, x, dims, a, keepdims, size, axis)


def _keras3(c: Chooser, ops: Any, name: str, x: Any, dims: tuple[int, ...], a: int, keepdims: bool, size: int,
            axis: Any) -> Any:
    rank = len(dims)
    if name == "reshape":
        return ops.reshape(x, (-1, math.prod(dims)) if c.chance(0.5) else (-1, *reversed(dims)))
    if name == "swapaxes":
        return ops.swapaxes(x, a, axis())
    if name == "moveaxis":
        return ops.moveaxis(x, a, axis())
    if name == "cast":  # to the dtype it has (the tensor itself: its mask stays), or away and back
        return ops.cast(x, "float32") if c.chance(0.5) else ops.cast(ops.cast(x, "float16"), "float32")
    if name == "convert_to_tensor":
        return ops.convert_to_tensor(x)
    if name == "cumsum":
        return ops.cumsum(x, axis=a)
    if name == "clip":  # bounds crossed too: x_min everywhere on TensorFlow, x_max on torch
        return ops.clip(x, 0.5, -0.5) if c.chance(0.2) else ops.clip(x, -0.5, 0.7)
    if name == "roll":
        return ops.roll(x, c.integer(-2, 2), axis=a)
    if name == "diff" and size >= 2:
        return ops.diff(x, axis=a)
    if name == "cumprod":
        return ops.cumprod(ops.tanh(x) * 0.1 + 1.0, axis=a)
    if name == "amax":
        return ops.amax(x, axis=a, keepdims=keepdims)
    if name in ("rot90", "diagonal", "trace") and rank >= (3 if name == "trace" else 2) and hasattr(ops, name):
        first = c.integer(1, rank)  # two axes other than the batch's
        second = c.choice([axis for axis in range(1, rank + 1) if axis != first])
        if name == "rot90":
            return ops.rot90(x, k=c.integer(-1, 3), axes=(first, second))
        offset = c.integer(-1, 1) if min(dims[first - 1], dims[second - 1]) >= 2 else 0
        return getattr(ops, name)(x, offset=offset, axis1=first, axis2=second)
    if name == "fliplr" and hasattr(ops, "fliplr"):
        return ops.fliplr(x)
    if name == "ptp" and hasattr(ops, "ptp"):
        return ops.ptp(x, axis=a, keepdims=keepdims)
    if name == "moments" and hasattr(ops, "moments"):
        mean, variance = ops.moments(x, axes=[a], keepdims=True)
        return ops.divide(ops.subtract(x, mean), ops.sqrt(ops.add(variance, 1.0)))
    if name == "hstack" and hasattr(ops, "hstack"):
        return ops.hstack([x, ops.tanh(x)])
    if name == "pool" and rank in (2, 3) and hasattr(ops, "max_pool"):  # sequences and images
        pool = 2 if min(dims[:-1]) >= 2 else 1
        return getattr(ops, c.choice(["max_pool", "average_pool"]))(x, pool, strides=c.choice([1, 2]),
                                                                    padding=c.choice(["valid", "same"]))
    if name == "attention" and rank == 3 and hasattr(ops, "dot_product_attention"):  # (batch, steps, heads, size)
        return ops.dot_product_attention(x, ops.tanh(x), x, is_causal=c.chance(0.5))
    if name == "divide_no_nan" and hasattr(ops, "divide_no_nan"):
        return ops.divide_no_nan(x, ops.add(ops.abs(x), 0.5))
    if name == "every_axis":  # over every axis, the batch's too, kept
        function = c.choice(["sum", "max", "min", "prod", "mean"])
        if function == "prod":
            return ops.multiply(x, ops.prod(ops.tanh(x) * 0.01 + 1.0, keepdims=True))
        return ops.subtract(x, getattr(ops, function)(x, keepdims=True))
    if name == "power":
        return ops.power(ops.abs(x) + 0.5, c.choice([1.5, 2.0, -0.5]))
    if name in ("logsumexp", "std", "var", "prod"):
        return getattr(ops, name)(x, axis=a, keepdims=keepdims)
    if name in ("mean_axes", "max_axes") and rank >= 2:
        every = tuple(range(1, rank + 1))  # not None: that reduces the batch too
        return getattr(ops, name[:-5])(x, axis=tuple({a % (rank + 1), axis() % (rank + 1)}) if c.chance(0.5)
                                       else every, keepdims=keepdims)
    if name == "tile":
        return ops.tile(x, (1,) + tuple(c.integer(1, 2) for _ in dims))
    if name == "repeat":
        return ops.repeat(x, 2, axis=a)
    if name == "pad":
        mode = c.choice(["constant", "reflect", "symmetric"])
        # up to 2: a mirror of one step is the edge repeated, whatever the mode (Keras's torch backend differs at 2)
        widths = [(0, 0)] + [(c.integer(0, min(2, d - 1)), c.integer(0, min(2, d - 1))) if d > 1 else (0, 0)
                             for d in dims]
        return ops.pad(x, widths, mode=mode)
    if name == "sort":
        return ops.sort(x, axis=a)
    if name == "norm":
        return ops.norm(x, axis=a, keepdims=keepdims)
    if name == "where":
        return ops.where(ops.greater(x, 0.2), x, ops.multiply(x, -0.3))
    if name == "matmul" and rank >= 2:
        return ops.matmul(x, ops.swapaxes(x, -1, -2))
    if name == "dot" and dims and hasattr(ops, "dot"):  # numpy's dot by a constant matrix: along the last axis
        columns = c.integer(1, 3)
        matrix = [[math.sin(row + 2.0 * column) for column in range(columns)] for row in range(dims[-1])]
        return ops.dot(x, ops.convert_to_tensor(matrix, dtype=x.dtype))
    if name == "slice" and hasattr(ops, "slice"):  # constant starts and sizes (the batch's 2, as the sweep runs)
        starts = [c.integer(0, size - 1) for size in dims]  # (a size of -1, to the end, Keras's torch backend
        sizes = [c.integer(1, size - start) for start, size in zip(starts, dims)]  # slices wrongly: the kind row)
        return ops.slice(x, [0, *starts], [2, *sizes])
    if name == "einsum" and rank >= 2:
        return ops.einsum("...ij->...ji", x) if c.chance(0.5) else ops.einsum("...ij,...ij->...i", x, x)
    if name == "split" and size % 2 == 0:
        first, second = ops.split(x, 2, axis=a)
        return ops.subtract(first, second)
    if name == "stack":
        return ops.stack([x, ops.tanh(x)], axis=c.choice([1, -1, rank]))
    if name == "take":
        return ops.take(x, [size - 1, 0, size // 2], axis=a)
    if name == "top_k":
        return ops.top_k(x, min(2, dims[-1]))[0]
    if name == "tril" and rank >= 2:
        return ops.tril(x, k=c.choice([0, -1, 1]))
    if name == "argmax":  # (Keras 3.0's argmax has no keepdims: the axis goes)
        kept = {"keepdims": keepdims} if "keepdims" in inspect.signature(ops.argmax).parameters else {}
        return ops.cast(ops.argmax(x, axis=a, **kept), "float32")
    if name == "one_hot":
        return ops.one_hot(ops.argmax(x, axis=-1), 3, axis=c.choice([-1, 1]) if rank > 1 else -1)
    if name == "log_softmax":
        return ops.log_softmax(x, axis=a)
    if name == "normalize":
        return ops.normalize(x, axis=a, order=c.choice([1, 2]))
    if name == "rsqrt":
        return ops.rsqrt(ops.abs(x) + 1.0)
    if name.startswith("elementwise "):
        function = name.split()[1]
        domain = ELEMENTWISE.get(function, "x")
        if domain == "pair":  # a second tensor of the same shape; arctan2's x > 0: no jump at the negative axis
            return getattr(ops, function)(x, ops.abs(ops.flip(x, axis=a)) + 0.5)
        operands = {"x": lambda: x, "grows": lambda: ops.tanh(x) * 2.0, "bounded": lambda: ops.tanh(x) * 0.9,
                    "positive": lambda: ops.abs(x) + 0.5}  # only the one drawn is built
        return getattr(ops, function)(operands[domain]())
    if name == "glu" and size % 2 == 0 and hasattr(ops, "glu"):
        return ops.glu(x, axis=a)
    if name == "resize" and rank == 3:
        size = (c.integer(1, 2 * dims[0]), c.integer(1, 2 * dims[1]))
        return ops.image.resize(x, size, interpolation=c.choice(["bilinear", "nearest"]))
    return ops.erf(x)


def _tensorflow(c: Chooser, tf: Any, name: str, x: Any, dims: tuple[int, ...], a: int, keepdims: bool, size: int,
                axis: Any) -> Any:
    rank = len(dims)
    if name == "reshape":
        return tf.reshape(x, (-1, math.prod(dims)) if c.chance(0.5) else (-1, *reversed(dims)))
    if name == "transpose":
        order = list(range(1, rank + 1))
        order.reverse() if c.chance(0.5) else order.insert(0, order.pop())
        return tf.transpose(x, [0] + order)
    if name == "cumsum":
        return tf.math.cumsum(x, axis=a, exclusive=c.chance(0.3), reverse=c.chance(0.3))
    if name == "cast":  # to the dtype it has (the tensor itself: its mask stays), or away and back
        return tf.cast(x, "float32") if c.chance(0.5) else tf.cast(tf.cast(x, "float16"), "float32")
    if name == "clip":
        return tf.clip_by_value(x, 0.5, -0.5) if c.chance(0.2) else tf.clip_by_value(x, -0.5, 0.7)
    if name == "roll":
        return tf.roll(x, c.integer(-2, 2), axis=a)
    if name == "cumprod":
        return tf.math.cumprod(tf.math.tanh(x) * 0.1 + 1.0, axis=a, exclusive=c.chance(0.3), reverse=c.chance(0.3))
    if name == "every_axis":  # over every axis, the batch's too, kept
        function = c.choice(["sum", "max", "min", "prod", "mean"])
        if function == "prod":
            return x * tf.math.reduce_prod(tf.math.tanh(x) * 0.01 + 1.0, keepdims=True)
        return x - getattr(tf.math, f"reduce_{function}")(x, keepdims=True)
    if name == "power":
        return tf.math.pow(tf.math.abs(x) + 0.5, c.choice([1.5, 2.0, -0.5]))
    if name in ("logsumexp", "std", "variance", "prod"):
        return getattr(tf.math, f"reduce_{name}")(x, axis=a, keepdims=keepdims)
    if name in ("mean_axes", "max_axes") and rank >= 2:
        function = getattr(tf.math, f"reduce_{name[:-5]}")
        every = list(range(1, rank + 1))  # not None: that reduces the batch too
        return function(x, axis=[a, axis()] if c.chance(0.5) else every, keepdims=keepdims)
    if name == "tile":
        return tf.tile(x, [1] + [c.integer(1, 2) for _ in dims])
    if name == "pad":
        mode = c.choice(["CONSTANT", "REFLECT", "SYMMETRIC"])
        widths = [[0, 0]] + [[c.integer(0, 1), c.integer(0, 1)] if d > 1 else [0, 0] for d in dims]
        return tf.pad(x, widths, mode=mode)
    if name == "sort":
        return tf.sort(x, axis=a, direction=c.choice(["ASCENDING", "DESCENDING"]))
    if name == "norm":
        return tf.norm(x, axis=a, keepdims=keepdims)
    if name == "where":
        return tf.where(tf.math.greater(x, 0.2), x, x * -0.3)
    if name == "matmul" and rank >= 2:
        return tf.linalg.matmul(x, x, transpose_b=True)
    if name == "split" and size % 2 == 0:
        first, second = tf.split(x, 2, axis=a)
        return first - second
    if name == "stack":
        return tf.stack([x, tf.math.tanh(x)], axis=c.choice([1, -1, rank]))
    if name == "gather":
        return tf.gather(x, [size - 1, 0, size // 2], axis=a)
    if name == "top_k":
        return tf.math.top_k(x, k=min(2, dims[-1])).values
    if name == "argmax":
        return tf.cast(tf.math.argmax(x, axis=a), "float32")
    if name == "one_hot":
        return tf.one_hot(tf.math.argmax(x, axis=-1), 3, axis=c.choice([-1, 1]) if rank > 1 else -1)
    if name == "log_softmax":
        return tf.nn.log_softmax(x, axis=a)
    if name == "l2_normalize":
        return tf.math.l2_normalize(x, axis=a)
    if name == "rsqrt":
        return tf.math.rsqrt(tf.math.abs(x) + 1.0)
    if name == "resize" and rank == 3:
        size = (c.integer(1, 2 * dims[0]), c.integer(1, 2 * dims[1]))
        return tf.image.resize(x, size, method=c.choice(["bilinear", "nearest"]))
    if name == "squared_difference":
        return tf.math.squared_difference(x, 0.5)
    if name == "divide_no_nan":
        return tf.math.divide_no_nan(x, tf.math.round(x))
    return tf.math.erf(x)
