"""Each layer's output as Keras computes it in the model (verify --per-layer): probe models over the layers'
output tensors, run on the inputs verify gives both models."""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .keras_side import keras_call


def keras_layer_outputs(model: Any, inputs: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each top-level layer's output (its call in this model, first tensor), by layer name."""
    keras = importlib.import_module(type(model).__module__.split(".")[0])
    names: list[str] = []
    probes: list[Any] = []
    skipped: list[str] = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        names.append(layer.name)
        probes.append(_candidates(layer))
    # one probe model for all layers when every layer.output belongs to this graph; not with stateful layers (a
    # Sequential's layer.output may be another call than the one its successor reads: run twice, the state moves)
    stateful = any(getattr(layer, "stateful", False) is True for layer in model._flatten_layers(include_self=False))
    try:
        if not stateful:
            probe = keras.Model(model.inputs, [candidates[0] for candidates in probes])
            return dict(zip(names, keras_call(probe, inputs))), skipped
    except Exception:  # nested models: their own output is not this graph's; try each call's
        pass
    found = {}
    for name, candidates in zip(names, probes):
        for candidate in candidates:
            try:
                if stateful:
                    reset_states(model)
                found[name] = keras_call(keras.Model(model.inputs, candidate), inputs)[0]
                break
            except Exception:
                continue
        else:
            skipped.append(name)
    return found, skipped


def reset_states(model: Any) -> None:
    """Zero the states of the model's stateful recurrent layers: each probe call starts from where the model's
    first call did (zeros, as loaded), not from where the previous call ended."""
    for layer in model._flatten_layers(include_self=False):
        reset = getattr(layer, "reset_state", None) or getattr(layer, "reset_states", None)
        if getattr(layer, "stateful", False) is True and callable(reset):
            reset()


def _candidates(layer: Any) -> list[Any]:
    """Tensors that may be this layer's output in the enclosing graph: layer.output, each call's."""
    candidates = []
    try:
        output = layer.output
        candidates.append(output[0] if isinstance(output, (list, tuple)) else output)
    except (AttributeError, ValueError, RuntimeError):
        pass
    for node in getattr(layer, "_inbound_nodes", []):
        tensors = getattr(node, "output_tensors", None)
        if tensors is None:
            tensors = getattr(node, "outputs", None)
        if tensors is not None:
            tensors = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
            if tensors:
                candidates.append(tensors[0])
    return candidates
