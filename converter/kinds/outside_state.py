"""Layers whose state is not a weight: vocabularies, bin boundaries, hashing salts.

They hold no tensors a weights file stores under them, so a conversion has nothing of theirs
to write; but a model that relies on them computes something else without them. `convert`
names each such layer and what is left behind; the module builder has no kind for them and
refuses them by name (run that step outside the PyTorch model).
"""
from __future__ import annotations

from ..errors import ConfigError
from ..graph import Layer, ModelGraph
from .preprocessing import integer_lookup_refusal

#: class -> the state it keeps outside its weights
OUTSIDE_STATE = {
    "IntegerLookup": "vocabulary (token -> index table)",
    "StringLookup": "vocabulary (string -> index table)",
    "TextVectorization": "vocabulary and text standardization",
    "Hashing": "number of bins and salt",
    "HashedCrossing": "number of bins",
}


def outside_state_warnings(graph: ModelGraph) -> list[str]:
    """One warning per layer whose state a conversion cannot carry."""
    return [f"layer {layer.key} ({layer.class_name}): its {OUTSIDE_STATE[layer.class_name]} is not a weight and is not "
            "in the output; run this preprocessing step before the PyTorch model (its config in the Keras file "
            "holds the settings)"
            for layer in graph.walk() if layer.class_name in OUTSIDE_STATE and
            layer.kind == f"keras.layers.{layer.class_name}" and not _in_config(layer)]


def _in_config(layer: Layer) -> bool:
    """An IntegerLookup the module builder builds: its config holds the vocabulary, written into the module."""
    if layer.class_name != "IntegerLookup":
        return False
    try:
        return integer_lookup_refusal(layer.config) is None
    except ConfigError:  # a malformed option: not built, so its state is named as left behind
        return False
