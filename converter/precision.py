"""Precisions verify compares in: the default tolerances per dtype, the model's lowest precision, and
both sides rebuilt in float64 (the Keras model from its config, the graph the module is built from)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import COMPUTE_DTYPES, compute_dtype, policy_name
from .errors import VerificationError
from .graph import Layer, ModelGraph

#: (atol, rtol) by the lowest precision a model computes in; float64 comparisons use FLOAT64_TOLERANCE
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
    """Every layer of `graph` set to compute in float64, and every floating dtype an operation is called with
    made float64 (tf.keras records `tf.cast(x, "float16")`'s among the call's arguments), as float64_twin
    replaces them in Keras's config: the module built from it casts nothing down to float32, float16 or
    bfloat16."""
    for layer in ([graph.root] if graph.root is not None else []) + list(graph.every_layer()):
        if layer.has_config:
            layer.config.update(_float64_config(dict(layer.config)))
            if "dtype" not in layer.config and _computes_in_floatx(layer):
                layer.config["dtype"] = "float64"
        if layer.call_graph is not None:
            for call in layer.call_graph.calls:
                call.kwargs.update(_float64_config(dict(call.kwargs)))


def _computes_in_floatx(layer: Layer) -> bool:
    """Whether a layer whose config records no dtype (Keras 2.0 to 2.2 record the first layer's only) computes in
    float64 in the Keras twin (rebuilt from the loaded model's config, which records every layer's); an
    operation or an input keeps the dtype of its tensors."""
    return (not layer.is_model and layer.kind.startswith("keras.layers.") and
            layer.class_name not in ("InputLayer", "TFOpLambda", "SlicingOpLambda"))


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
    policy = policy_name(policy)
    return isinstance(policy, str) and policy.split("_")[-1] in COMPUTE_DTYPES


#: normalizations over a layer's own axes whose divisor comes from the row itself (not moving statistics)
_ROW_NORMALIZATIONS = frozenset({"LayerNormalization"})


def amplification_note(graph: ModelGraph, keras_model: Any, keras_values: dict[str, Any],
                       layers: list[Any]) -> str | None:
    """Why the first divergence may be the model amplifying rounding rather than a wrong conversion: a
    LayerNormalization of rows nearly constant along its axes divides its input's differences by their spread,
    up to 1/sqrt(epsilon). None unless its difference is within what its input's (compared) difference explains."""
    first = next((row for row in layers if row.status != "ok"), None)
    calls = graph.root.call_graph if graph.root is not None else None
    if first is None or first.class_name not in _ROW_NORMALIZATIONS or calls is None or calls.error:
        return None
    call = next((c for c in calls.calls if c.layer.name == first.name), None)
    refs = call.refs() if call is not None else []
    upstream = next((row for row in layers if refs and row.name == refs[0][0]), None)
    if len(refs) != 1 or upstream is None or refs[0][0] not in keras_values:
        return None
    layer = keras_model.get_layer(first.name)
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    x = np.asarray(keras_values[refs[0][0]], dtype=np.float64)
    spread = float(np.sqrt(np.min(np.var(x, axis=tuple(axes))) + float(layer.epsilon)))
    gamma = getattr(layer, "gamma", None)
    gain = (float(np.max(np.abs(np.asarray(gamma, dtype=np.float64)))) if gamma is not None else 1.0) / spread
    # each output of a row moves by at most about twice gain x its inputs' largest move (the mean and spread move too)
    if first.max_abs > 2 * gain * upstream.max_abs or upstream.max_abs == 0:
        return None
    return (f"{first.name} ({first.class_name}) divides by its rows' spread along axes {list(axes)}, as small as "
            f"{spread:.3g} here (epsilon {float(layer.epsilon):g}): its input's difference of {upstream.max_abs:.3g} "
            f"({upstream.name}, within tolerance) can grow {gain:.3g}-fold, to the {first.max_abs:.3g} found: the "
            "model amplifies rounding there (no wrong conversion is needed to explain it)")
