"""Precisions verify compares in: the default tolerances per dtype, the model's lowest precision, and
both sides rebuilt in float64 (the Keras model from its config, the graph the module is built from)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import compute_dtype
from .errors import VerificationError
from .graph import ModelGraph

TOLERANCES = {"float64": (1e-5, 1e-4), "float32": (1e-5, 1e-4), "float16": (1e-3, 1e-2), "bfloat16": (1e-2, 6e-2)}
FLOAT64_TOLERANCE = (1e-9, 1e-8)
_PRECISION_ORDER = ("bfloat16", "float16", "float32", "float64")


def lowest_precision(graph: ModelGraph) -> str:
    """The least precise dtype any layer of the model computes in."""
    dtypes = {compute_dtype(layer.config) for layer in graph.walk() if layer.has_config}
    return min(dtypes or {"float32"}, key=_PRECISION_ORDER.index)


def float64_twin(model: Any) -> Any:
    """The Keras model rebuilt with every layer computing in float64, with its weights (upcast)."""
    config = _float64_config(model.get_config())
    try:
        twin = type(model).from_config(config)
        twin.set_weights([np.asarray(weight, dtype=np.float64) if np.asarray(weight).dtype.kind == "f"
                          else weight for weight in model.get_weights()])
    except Exception as error:  # Keras's own errors are of many kinds
        raise VerificationError(f"Keras cannot rebuild this model in float64 ({type(error).__name__}: "
                                f"{' '.join(str(error).split())[:200]}); verify it without --float64") from None
    return twin


def computes_in_float64(graph: ModelGraph) -> None:
    """Every layer of `graph` set to compute in float64 (its floating dtype policy replaced, as float64_twin
    replaces Keras's): the module built from it casts nothing down to float16 or bfloat16."""
    for layer in graph.walk():
        if layer.has_config:
            layer.config.update(_float64_config(dict(layer.config)))


def _float64_config(value: Any) -> Any:
    """A config with every floating dtype policy made float64 (integer input dtypes kept)."""
    if isinstance(value, list):
        return [_float64_config(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key == "dtype" and _is_floating_policy(item):
            result[key] = "float64"
        else:
            result[key] = _float64_config(item)
    return result


def _is_floating_policy(policy: Any) -> bool:
    if isinstance(policy, dict):
        inner = policy.get("config")
        policy = inner.get("name") if isinstance(inner, dict) else None
    return isinstance(policy, str) and policy.split("_")[-1] in ("float16", "bfloat16", "float32", "float64")
