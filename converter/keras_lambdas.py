"""The Keras side of a Lambda given by an expression: `verify` has Keras run the expression, never the file's code.

The model's config is rewritten before Keras sees it: each Lambda layer the user gave an
expression for becomes a layer of a class made here (CLASS_NAME, given to Keras as a custom
object), whose call walks the same expression on Keras's tensors: with keras.ops in Keras 3,
with TensorFlow's functions in tf.keras, as the user's K./tf. calls computed. Its function's
bytes are dropped from the config, so loading never decodes them.
"""
from __future__ import annotations

from typing import Any

from .errors import ArgumentError, ReadError
from .graph import ModelGraph
from .lambda_expressions import L2_EPSILON, LambdaExpression, evaluate, lambda_layers

CLASS_NAME = "WeightportLambda"
#: the config keys a Lambda's replacement keeps (its function, output_shape, mask and arguments are code or
#: belong to it); a Keras 2 Sequential's first layer gives its input shape
KEPT = ("name", "trainable", "dtype", "batch_input_shape", "batch_size")


def expressions_of(graph: ModelGraph) -> dict[str, LambdaExpression]:
    """Each Lambda layer's expression, by layer name (attach() made the names of those given unique)."""
    return {layer.name: layer.expression for layer in lambda_layers(graph) if layer.expression is not None}


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


class KerasAlgebra:
    """The expression's operations on Keras's tensors: keras.ops (Keras 3) or TensorFlow (tf.keras)."""

    def __init__(self, keras: Any) -> None:
        self.tf_keras = keras.__name__.split(".")[0] == "tf_keras"
        if self.tf_keras:
            import tensorflow as tf

            self.tf = tf
        else:
            self.ops = keras.ops

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
        axis = arguments.get("axis")
        axis = tuple(axis) if isinstance(axis, list) else axis
        x = arguments.get("x")
        if self.tf_keras:
            tf = self.tf
            tensorflow = {
                "abs": tf.abs, "sqrt": tf.sqrt, "square": tf.square, "exp": tf.exp, "log": tf.math.log,
                "tanh": tf.tanh, "sigmoid": tf.sigmoid, "relu": tf.nn.relu, "sin": tf.sin, "cos": tf.cos,
                "sign": tf.sign}
            if function in tensorflow:
                return tensorflow[function](x)
            if function in ("maximum", "minimum"):
                return getattr(tf, function)(x, arguments["y"])
            if function == "power":
                return tf.pow(x, arguments["y"])
            if function == "transpose":
                return tf.transpose(x, arguments["axes"])
            if function == "reshape":
                return tf.reshape(x, arguments["shape"])
            if function == "clip":
                return tf.clip_by_value(x, arguments["low"], arguments["high"])
            if function in ("mean", "sum", "max", "min"):
                return getattr(tf, f"reduce_{function}")(x, axis=axis, keepdims=arguments["keepdims"])
            if function in ("concatenate", "stack"):
                return (tf.concat if function == "concatenate" else tf.stack)(arguments["tensors"], axis=axis)
            if function == "expand_dims":
                return tf.expand_dims(x, axis)
            if function == "squeeze":
                return tf.squeeze(x, axis)
            if function == "l2_normalize":
                return tf.math.l2_normalize(x, axis=axis, epsilon=L2_EPSILON)
            if function == "softmax":
                return tf.nn.softmax(x, axis=axis)
            if function == "image.resize":
                return tf.image.resize(x, arguments["size"])
            if function == "image.resize_images":
                # TensorFlow's kernel itself (tf.compat.v1.image.resize_bilinear warns it is deprecated)
                return tf.raw_ops.ResizeBilinear(images=x, size=arguments["size"],
                                                 align_corners=arguments["align_corners"], half_pixel_centers=False)
            raise AssertionError(function)
        ops = self.ops
        if function in ("abs", "sqrt", "square", "exp", "log", "tanh", "sigmoid", "relu", "sin", "cos", "sign"):
            return getattr(ops, "absolute" if function == "abs" else function)(x)
        if function in ("maximum", "minimum", "power"):
            return getattr(ops, function)(x, arguments["y"])
        if function == "transpose":
            return ops.transpose(x, arguments["axes"])
        if function == "reshape":
            return ops.reshape(x, arguments["shape"])
        if function == "clip":
            return ops.clip(x, arguments["low"], arguments["high"])
        if function in ("mean", "sum", "max", "min"):
            return getattr(ops, function)(x, axis=axis, keepdims=arguments["keepdims"])
        if function in ("concatenate", "stack"):
            return getattr(ops, function)(arguments["tensors"], axis=axis)
        if function in ("expand_dims", "squeeze"):
            return getattr(ops, function)(x, axis)
        if function == "l2_normalize":
            total = ops.sum(ops.square(x), axis=axis, keepdims=True)
            return x * ops.rsqrt(ops.maximum(total, L2_EPSILON))
        if function == "softmax":
            return ops.softmax(x, axis=axis)
        if function == "image.resize":
            return ops.image.resize(x, arguments["size"])
        if function == "image.resize_images":
            raise ArgumentError("TensorFlow 1's resize_images has no Keras 3 operation: verify it where tf.keras "
                                "loads the model")
        raise AssertionError(function)


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

    return {CLASS_NAME: WeightportLambda}
