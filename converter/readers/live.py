"""A live `keras.Model` (Keras 3 or tf_keras), for the Python API.

The graph comes from `model.get_config()`, parsed as a file's config would be, and each
layer's tensors from its variables. The model object itself is only duck-typed here:
whoever passes one has imported Keras already.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import ReadError
from ..graph import BFLOAT16, Layer, ModelGraph, Tensor
from . import subclassed
from .keras_config import parse_model

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none


def is_live_model(source: Any) -> bool:
    return all(hasattr(source, attribute) for attribute in ("get_config", "layers", "weights"))


def read_live(model: Any) -> ModelGraph:
    """Read the architecture and current weights of a live Keras model."""
    packages = [cls.__module__.split(".")[0] for cls in type(model).__mro__]  # a user's class: its Keras base's
    package = next((name for name in packages if name in ("keras", "tf_keras")), packages[0])
    version = getattr(sys.modules.get(package), "__version__", "unknown")
    where = f"<live {type(model).__name__} {getattr(model, 'name', '')}>"
    if subclassed.is_subclassed(model):
        return subclassed.read_subclassed(model, where, f"{version} ({package})", _nested)
    config = _as_saved(model.get_config())
    if not isinstance(config, (dict, list)) or (isinstance(config, dict) and "layers" not in config):
        raise ReadError(f"{where}: its config lists no layers (a subclassed model?); save it as .keras with a config")
    class_name = "Sequential" if type(model).__name__ == "Sequential" else "Functional"
    root, inputs = parse_model({"class_name": class_name, "config": config}, where)
    _attach(root, model, where)
    backend = _backend(package)
    return ModelGraph(
        layers=root.children or [], source=where, format="live", keras_version=f"{version} ({package})",
        inputs=inputs, root=root, metadata={"backend": backend} if backend else {},
    )


def _backend(package: str) -> str | None:
    """The backend the live model runs on (Keras 3 computes some layers differently per backend), if Keras says."""
    try:
        return str(sys.modules[package].backend.backend())
    except (AttributeError, KeyError, TypeError):
        return None


def _as_saved(value: Any) -> Any:
    """A live config as a saved file holds it: tuples as lists (JSON has none; a live Functional
    model's calls hold `args` tuples, which the call-graph parser, reading files, refuses)."""
    if isinstance(value, dict):
        return {key: _as_saved(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_saved(item) for item in value]
    return value


def _nested(model: Any, where: str) -> ModelGraph:
    """A built-in model held by a subclassed one: its graph, its layers' paths relative to it."""
    graph = read_live(model)
    graph.source = where
    return graph


def _attach(parsed: Layer, keras_model: Any, where: str) -> None:
    for child in parsed.children or []:
        try:
            keras_layer = keras_model.get_layer(child.name)
        except ValueError:
            if child.class_name == "InputLayer":
                continue  # a Sequential's InputLayer is not among its layers
            if child.kind.startswith("keras.ops."):
                continue  # an operation (`x + y` in a functional graph): not among the layers, and weightless
            raise ReadError(f"{where}: the config names layer {child.name} but the model has none") from None
        if child.is_model:
            _attach(child, keras_layer.layer if child.time_distributed_model else keras_layer, where)
        elif not subclassed.is_keras_class(keras_layer) and _custom(child, keras_layer, where):
            continue
        else:
            child.tensors = [_tensor(variable, f"{where}/{child.name}") for variable in keras_layer.weights]


def _custom(layer: Layer, keras_layer: Any, where: str) -> bool:
    """A user's layer holding built-in layers as attributes (a Keras example's `TransformerBlock` of a
    MultiHeadAttention, Dense and LayerNormalization layers): those become its children, keyed by attribute path
    under it, each converted by its own rule. False for one holding only variables of its own (refused as before).
    """
    children = list(subclassed.layers_of(keras_layer, layer.path, set(), where, _nested))
    if all(child.path == layer.path for child in children):
        return False
    layer.children, layer.custom = children, True
    return True


def _tensor(variable: Any, where: str) -> Tensor:
    array = variable.numpy() if hasattr(variable, "numpy") else np.asarray(variable)
    role = str(getattr(variable, "name", "")).split("/")[-1].split(":")[0]
    dtype = BFLOAT16 if array.dtype.name == BFLOAT16 else array.dtype.name
    if dtype == BFLOAT16:
        array = array.view(np.uint16)
    return Tensor(role=role, shape=tuple(array.shape), dtype=dtype, source=f"{where}/{role}", loader=lambda: array)
