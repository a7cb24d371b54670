"""The Keras side of a Lambda given by an expression: `verify` has Keras run the expression, never the file's code.

The model's config is rewritten before Keras sees it: each Lambda layer the user gave an
expression for becomes a layer of a class made here (CLASS_NAME, given to Keras as a custom
object), whose call walks the same expression on Keras's tensors: with keras.ops in Keras 3,
with TensorFlow's functions in tf.keras, as the user's K./tf. calls computed. Its function's
bytes are dropped from the config, so loading never decodes them.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .errors import ArgumentError, ReadError
from .graph import ModelGraph
from .lambda_expressions import LambdaExpression, evaluate, lambda_layers, lambda_name
from .lambda_functions import COMPARISONS, L2_EPSILON, REDUCTIONS, UNARY, batch_dot_equation

CLASS_NAME = "WeightportLambda"
#: the config keys a Lambda's replacement keeps (its function, output_shape, mask and arguments are code or
#: belong to it); a Keras 2 Sequential's first layer gives its input shape
KEPT = ("name", "trainable", "dtype", "batch_input_shape", "batch_size")


def expressions_of(graph: ModelGraph) -> dict[str, LambdaExpression]:
    """Each Lambda layer's expression, by layer name (attach() made the names of those given unique)."""
    return {lambda_name(layer): layer.expression for layer in lambda_layers(graph) if layer.expression is not None}


def with_expressions(config: Any, graph: ModelGraph) -> Any:
    """`config` with each Lambda layer that has an expression replaced by a CLASS_NAME layer of the same name."""
    names = expressions_of(graph)
    if not names:
        return config
    if _mentions_class(config):
        raise ReadError(f"{graph.source}: the file's config names the class {CLASS_NAME!r}, which weightport uses "
                        "for Lambda expressions: a crafted file")
    return _replaced(config, names)


def _mentions_class(config: Any) -> bool:
    pending = [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if item.get("class_name") == CLASS_NAME or item.get("registered_name") == CLASS_NAME:
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _replaced(config: Any, names: dict[str, LambdaExpression]) -> Any:
    if isinstance(config, list):
        return [_replaced(item, names) for item in config]
    if not isinstance(config, dict):
        return config
    inner = config.get("config")
    if config.get("class_name") == "Lambda" and isinstance(inner, dict) and inner.get("name") in names:
        replaced = {**config, "class_name": CLASS_NAME, "config": {key: inner[key] for key in KEPT if key in inner}}
        if "module" in config:  # Keras 3: found among the custom objects by its registered name
            replaced.update(module=None, registered_name=CLASS_NAME)
        return replaced
    return {key: _replaced(value, names) for key, value in config.items()}


Function = Callable[[dict[str, Any]], Any]


def _axis(a: dict[str, Any]) -> Any:
    return tuple(a["axis"]) if isinstance(a.get("axis"), list) else a.get("axis")


def shaping_functions(module: Any, concatenate: Any) -> dict[str, Function]:
    """The functions that move entries, alike in TensorFlow and keras.ops (`module`), `concatenate` its own."""
    return {
        "concatenate": lambda a: concatenate(a["tensors"], axis=_axis(a)),
        "stack": lambda a: module.stack(a["tensors"], axis=_axis(a)),
        "expand_dims": lambda a: module.expand_dims(a["x"], _axis(a)),
        "squeeze": lambda a: module.squeeze(a["x"], _axis(a)),
        "transpose": lambda a: module.transpose(a["x"], a["axes"]),
        "reshape": lambda a: module.reshape(a["x"], a["shape"]),
        "repeat_elements": lambda a: module.repeat(a["x"], a["count"], axis=_axis(a)),
        "tile": lambda a: module.tile(a["x"], a["counts"]),
    }


def _batch_dot(einsum: Any, expand_dims: Any) -> Function:
    """K.batch_dot as one einsum (lambda_functions.batch_dot_equation), of `einsum` and `expand_dims`."""
    def compute(a: dict[str, Any]) -> Any:
        ranks = len(a["x"].shape), len(a["y"].shape)
        equation = batch_dot_equation(a["axes"], *ranks)
        if equation is None:
            raise ArgumentError(f"batch_dot of tensors of rank {ranks[0]} and {ranks[1]} along axes {a['axes']}: "
                                "not built")
        product = einsum(equation, a["x"], a["y"])
        return expand_dims(product, -1) if ranks == (2, 2) else product
    return compute


def _image_axes(a: dict[str, Any]) -> tuple[int, int]:
    return (1, 2) if a["data_format"] == "channels_last" else (2, 3)


def tensorflow_functions(tf: Any) -> dict[str, Function]:
    """What each function of the language computes in tf.keras: the TensorFlow function K.<name> calls."""
    unary = {"abs": tf.abs, "sqrt": tf.sqrt, "square": tf.square, "exp": tf.exp, "log": tf.math.log, "tanh": tf.tanh,
             "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "sin": tf.sin, "cos": tf.cos, "sign": tf.sign,
             "softplus": tf.nn.softplus, "softsign": tf.nn.softsign, "log1p": tf.math.log1p, "expm1": tf.math.expm1,
             "floor": tf.floor, "ceil": tf.math.ceil, "round": tf.round}
    reductions = {"var": tf.math.reduce_variance, **{name: getattr(tf.math, f"reduce_{name}") for name in REDUCTIONS
                                                     if name != "var"}}
    return {
        **{name: (lambda function: lambda a: function(a["x"]))(function) for name, function in unary.items()},
        "maximum": lambda a: tf.maximum(a["x"], a["y"]), "minimum": lambda a: tf.minimum(a["x"], a["y"]),
        "power": lambda a: tf.pow(a["x"], a["y"]), "clip": lambda a: tf.clip_by_value(a["x"], a["low"], a["high"]),
        **{name: (lambda reduce: lambda a: reduce(a["x"], axis=_axis(a), keepdims=a["keepdims"]))(reduce)
           for name, reduce in reductions.items()},
        "batch_flatten": lambda a: tf.reshape(a["x"], (tf.shape(a["x"])[0], -1)),
        "reverse": lambda a: tf.reverse(a["x"], axis=list(a["axis"]) if isinstance(a["axis"], list) else [a["axis"]]),
        **shaping_functions(tf, tf.concat),
        "l2_normalize": lambda a: tf.math.l2_normalize(a["x"], axis=_axis(a), epsilon=L2_EPSILON),
        "softmax": lambda a: tf.nn.softmax(a["x"], axis=_axis(a)),
        "batch_dot": _batch_dot(tf.einsum, tf.expand_dims),
        **{name: (lambda compare: lambda a: compare(a["x"], a["y"]))(getattr(tf.math, name))
           for name in COMPARISONS.values()},
        "where": lambda a: tf.where(a["condition"], a["x"], a["y"]),
        "argmax": lambda a: tf.argmax(a["x"], axis=a["axis"]), "argmin": lambda a: tf.argmin(a["x"], axis=a["axis"]),
        "one_hot": lambda a: tf.one_hot(a["x"], a["num_classes"]), "cast": lambda a: tf.cast(a["x"], a["dtype"]),
        "matmul": lambda a: tf.matmul(a["x"], a["y"], transpose_a=a["transpose_a"], transpose_b=a["transpose_b"]),
        "pad": lambda a: tf.pad(a["x"], a["paddings"], mode=a["mode"], constant_values=a["constant_values"]),
        "depth_to_space": lambda a: tf.nn.depth_to_space(a["x"], a["block_size"]),
        "space_to_depth": lambda a: tf.nn.space_to_depth(a["x"], a["block_size"]),
        # K.resize_images, nearest, by integer factors: each pixel repeated
        "resize_images": lambda a: tf.repeat(tf.repeat(a["x"], a["height_factor"], axis=_image_axes(a)[0]),
                                             a["width_factor"], axis=_image_axes(a)[1]),
        "image.resize": lambda a: tf.image.resize(a["x"], a["size"]),
        # TensorFlow's kernel itself (tf.compat.v1.image.resize_bilinear warns it is deprecated)
        "image.resize_images": lambda a: tf.raw_ops.ResizeBilinear(
            images=a["x"], size=a["size"], align_corners=a["align_corners"], half_pixel_centers=False),
    }


def keras_ops_functions(ops: Any) -> dict[str, Function]:
    """What each function of the language computes in Keras 3: keras.ops's function of that name."""
    def l2_normalize(a: dict[str, Any]) -> Any:  # TensorFlow's formula (Keras 3's normalize is another)
        total = ops.sum(ops.square(a["x"]), axis=_axis(a), keepdims=True)
        return a["x"] * ops.rsqrt(ops.maximum(total, L2_EPSILON))

    def tensorflow_1(a: dict[str, Any]) -> Any:
        raise ArgumentError("TensorFlow 1's resize_images has no Keras 3 operation: verify it where tf.keras loads "
                            "the model")

    def matmul(a: dict[str, Any]) -> Any:  # tf.matmul's flags: the last two axes swapped first
        first, second = (ops.swapaxes(a[key], -1, -2) if a[flag] else a[key]
                         for key, flag in (("x", "transpose_a"), ("y", "transpose_b")))
        return ops.matmul(first, second)

    def image_size(x: Any) -> tuple[int, int, int]:
        if len(x.shape) != 4 or None in x.shape[1:]:
            raise ArgumentError(f"depth_to_space and space_to_depth of images of shape {tuple(x.shape)} are "
                                "verified in Keras 3 for a known height, width and channels only")
        return tuple(x.shape[1:])

    def depth_to_space(a: dict[str, Any]) -> Any:  # TensorFlow's order: channel (i * block + j) * c + k
        x, block = a["x"], a["block_size"]
        height, width, channels = image_size(x)
        blocks = ops.reshape(x, (-1, height, width, block, block, channels // block ** 2))
        return ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)), (-1, height * block, width * block,
                                                                        channels // block ** 2))

    def space_to_depth(a: dict[str, Any]) -> Any:
        x, block = a["x"], a["block_size"]
        height, width, channels = image_size(x)
        blocks = ops.reshape(x, (-1, height // block, block, width // block, block, channels))
        return ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)), (-1, height // block, width // block,
                                                                        channels * block ** 2))

    def pad(a: dict[str, Any]) -> Any:
        constant = a["constant_values"] if a["mode"] == "constant" else None
        return ops.pad(a["x"], a["paddings"], mode=a["mode"], constant_values=constant)

    def batch_flatten(a: dict[str, Any]) -> Any:
        if None in a["x"].shape[1:]:
            raise ArgumentError(f"batch_flatten of a tensor of shape {tuple(a['x'].shape)} is verified in Keras 3 "
                                "for known sizes only")
        return ops.reshape(a["x"], (-1, math.prod(a["x"].shape[1:])))

    return {
        "abs": lambda a: ops.absolute(a["x"]),
        **{name: (lambda function: lambda a: function(a["x"]))(getattr(ops, name)) for name in UNARY if name != "abs"},
        **{name: (lambda function: lambda a: function(a["x"], a["y"]))(getattr(ops, name))
           for name in ("maximum", "minimum", "power")},
        "clip": lambda a: ops.clip(a["x"], a["low"], a["high"]),
        **{name: (lambda reduce: lambda a: reduce(a["x"], axis=_axis(a), keepdims=a["keepdims"]))(getattr(ops, name))
           for name in REDUCTIONS},
        "batch_flatten": batch_flatten, "reverse": lambda a: ops.flip(a["x"], axis=_axis(a)),
        **shaping_functions(ops, ops.concatenate),
        "l2_normalize": l2_normalize, "softmax": lambda a: ops.softmax(a["x"], axis=_axis(a)),
        "batch_dot": _batch_dot(ops.einsum, ops.expand_dims), "matmul": matmul, "pad": pad,
        **{name: (lambda compare: lambda a: compare(a["x"], a["y"]))(getattr(ops, name))
           for name in COMPARISONS.values()},
        "where": lambda a: ops.where(a["condition"], a["x"], a["y"]),
        "argmax": lambda a: ops.argmax(a["x"], axis=a["axis"]), "argmin": lambda a: ops.argmin(a["x"], axis=a["axis"]),
        "one_hot": lambda a: ops.one_hot(a["x"], a["num_classes"]), "cast": lambda a: ops.cast(a["x"], a["dtype"]),
        "depth_to_space": depth_to_space, "space_to_depth": space_to_depth,
        "resize_images": lambda a: ops.repeat(ops.repeat(a["x"], a["height_factor"], axis=_image_axes(a)[0]),
                                              a["width_factor"], axis=_image_axes(a)[1]),
        "image.resize": lambda a: ops.image.resize(a["x"], a["size"]), "image.resize_images": tensorflow_1,
    }


class KerasAlgebra:
    """The expression's operations on Keras's tensors: keras.ops (Keras 3) or TensorFlow (tf.keras)."""

    def __init__(self, keras: Any) -> None:
        self.tensorflow = keras.__name__.split(".")[0] == "tf_keras"
        if self.tensorflow:
            import tensorflow as tf

            self.functions = tensorflow_functions(tf)
        else:
            self.functions = keras_ops_functions(keras.ops)

    def is_tensor(self, value: Any) -> bool:
        return hasattr(value, "shape") and hasattr(value, "dtype")

    def binary(self, operator: str, first: Any, second: Any) -> Any:
        return {"+": lambda: first + second, "-": lambda: first - second, "*": lambda: first * second,
                "/": lambda: first / second, "//": lambda: first // second, "%": lambda: first % second,
                "**": lambda: first ** second}[operator]()

    def negative(self, value: Any) -> Any:
        return -value

    def index(self, value: Any, items: list[Any]) -> Any:
        return value[tuple(items)]

    def call(self, function: str, arguments: dict[str, Any]) -> Any:
        return self.functions[function](arguments)


def custom_objects(keras: Any, graph: ModelGraph) -> dict[str, Any]:
    """{CLASS_NAME: a layer class of `keras` computing each Lambda's expression}, or {} without expressions."""
    expressions = expressions_of(graph)
    if not expressions:
        return {}
    algebra = KerasAlgebra(keras)

    class WeightportLambda(keras.layers.Layer):
        """A Lambda layer computing the expression the user gave for it (by its name)."""

        def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:  # Keras 3 records mask=
            return evaluate(expressions[self.name], inputs, algebra, f"{self.name} (Lambda)")

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return None  # a Lambda without mask= computes none

    if not algebra.tensorflow:
        class ShapedLambda(WeightportLambda):
            """Keras 3's TimeDistributed asks its layer for its output shape: the expression run on symbolic tensors
            (keras.ops computes their shapes), as Keras 3's Lambda infers its own."""

            def compute_output_shape(self, input_shape: Any) -> Any:
                several = isinstance(input_shape, list) and all(isinstance(item, (tuple, list)) for item in input_shape)
                symbolic = ([keras.KerasTensor(tuple(item)) for item in input_shape] if several
                            else keras.KerasTensor(tuple(input_shape)))
                return keras.tree.map_structure(lambda tensor: tensor.shape, self.call(symbolic))

        return {CLASS_NAME: ShapedLambda}
    return {CLASS_NAME: WeightportLambda}
