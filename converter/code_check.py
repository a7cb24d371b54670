"""What in a model config would make Keras run code or touch files when it loads the model.

`verify` hands the file to Keras, which rebuilds the model from its config. Some config
entries carry code (a Lambda's marshalled bytecode, Keras 3's `__lambda__` functions), name
modules Keras would import, or name TensorFlow functions a `TFOpLambda` would call (any of
`tf.*`, `tf.io.write_file` included). weightport refuses those before Keras is imported:
only layers and functions from Keras's own packages, and TensorFlow operations from the
pure math namespaces, are let through.
"""
from __future__ import annotations

from typing import Any

#: Packages whose classes a config may name for Keras to import.
KERAS_PACKAGES = ("keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv", "keras_rs")
#: Layer classes whose config carries code.
CODE_LAYERS = frozenset({"Lambda"})
#: tf.keras op layers: their `function` names a TensorFlow symbol that loading resolves and calls.
OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
#: TensorFlow namespaces and functions with no effect outside the tensors they compute.
PURE_TF_PREFIXES = ("math.", "nn.", "__operators__.", "linalg.", "signal.")
PURE_TF_FUNCTIONS = frozenset({
    "concat", "stack", "unstack", "reshape", "transpose", "expand_dims", "squeeze", "split", "gather", "gather_nd",
    "where", "clip_by_value", "cast", "identity", "tile", "pad", "ones_like", "zeros_like", "shape", "rank", "size",
    "reverse", "roll", "slice", "strided_slice", "broadcast_to", "one_hot", "einsum", "matmul", "range", "fill",
    "repeat", "sort", "argsort", "unique", "boolean_mask", "maximum", "minimum", "abs", "exp", "sqrt", "square",
    "tanh", "sigmoid", "add", "subtract", "multiply", "divide", "pow", "reduce_sum", "reduce_mean", "reduce_max",
    "reduce_min", "reduce_prod", "reduce_any", "reduce_all", "argmax", "argmin", "norm", "image.resize",
    "image.resize_images", "image.resize_bilinear", "image.resize_nearest_neighbor", "image.resize_bicubic",
    "image.resize_area", "image.convert_image_dtype", "stop_gradient", "floor_div",
})
#: TensorFlow 1's names of the same functions (`tf.compat.v1.pad`), as tf.keras records what a model called
COMPAT_V1 = "compat.v1."


def code_carrying(config: Any) -> list[str]:
    """Every entry of `config` that would run code or reach beyond pure computation when loaded."""
    found: list[str] = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend(item.values())
        class_name = item.get("class_name") if isinstance(item.get("class_name"), str) else None
        inner = item.get("config") if isinstance(item.get("config"), dict) else {}
        name = str(inner.get("name", "") if isinstance(inner, dict) else "")[:60]
        if class_name in CODE_LAYERS:
            found.append(f"{class_name} layer {name!r} (its function is code stored in the file)")
        elif class_name == "__lambda__":
            found.append("a Python lambda stored in the file")
        elif class_name in OP_LAYERS:
            function = inner.get("function") if isinstance(inner, dict) else None
            if not isinstance(function, str) or not _pure(function):
                found.append(f"{class_name} layer {name!r} calling TensorFlow's {str(function)[:60]!r}")
        module = item.get("module")
        if module is not None and (not isinstance(module, str) or module.split(".")[0] not in KERAS_PACKAGES):
            found.append(f"{str(class_name)[:60]} from module {str(module)[:60]!r}, which loading would import")
    return found


def _pure(function: str) -> bool:
    bare = function.removeprefix(COMPAT_V1)
    return bare in PURE_TF_FUNCTIONS or (bare.startswith(PURE_TF_PREFIXES) and "py_function" not in bare)
