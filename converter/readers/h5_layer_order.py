"""Pairing a weights file's layers with a separately given config's when their names differ.

Keras's own `load_weights` of an `.h5` pairs the file's layers that hold weights with the model's, in order, and
ignores their names: a `model.to_json()` and `save_weights` file of two sessions (the JSON's `lstm_1`, the file's
`lstm_3`: Keras numbers each class's layers per session) load so, and the classic `model_from_json` +
`load_weights("model.h5")` depends on it. weightport pairs by name (a nested model's weights are placed by
their scopes' names), and by order only where that order is unambiguous without knowing which config layers
hold weights: each name stem (`lstm` of `lstm_3`) as many times in the config as among the file's weighted
layers, and the pairs in the file's order.
"""
from __future__ import annotations

import re

from ..graph import Layer


def stem(name: str) -> str:
    """A layer name without the `_N` Keras adds to make it unique (`conv2d_transpose_3` -> `conv2d_transpose`)."""
    return re.sub(r"_\d+$", "", name)


def paired_by_order(children: list[Layer], weighted: list[str]) -> dict[str, Layer] | None:
    """File layer name -> config layer, for the file's `weighted` layer names in file order; None when the pairing
    by order cannot be told from the names' stems (then names must match)."""
    candidates: dict[str, list[int]] = {}
    for index, layer in enumerate(children):
        if layer.class_name != "InputLayer":
            candidates.setdefault(stem(layer.name), []).append(index)
    taken: dict[str, int] = {}
    placed: list[int] = []
    for name in weighted:
        positions = candidates.get(stem(name), [])
        count = taken.get(stem(name), 0)
        if count >= len(positions):
            return None
        placed.append(positions[count])
        taken[stem(name)] = count + 1
    if any(taken.get(key, 0) != len(positions) for key, positions in candidates.items() if key in taken):
        return None  # a stem's layers left over: which of them hold weights is not known here
    if placed != sorted(placed):
        return None  # Keras would pair them in another order than their stems do
    return {name: children[index] for name, index in zip(weighted, placed)}
