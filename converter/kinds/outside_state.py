"""Layers whose state is not a weight: vocabularies, bin boundaries, hashing salts.

They hold no tensors a weights file stores under them, so a conversion has nothing of theirs
to write; but a model that relies on them computes something else without them. `convert`
names each such layer and what is left behind; the module builder has no kind for them and
refuses them by name (run that step outside the PyTorch model).
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..graph import Layer, ModelGraph
from .vocabulary import integer_lookup_refusal, lookup_vocabulary, special_tokens

#: class -> the state it keeps outside its weights
OUTSIDE_STATE = {
    "IntegerLookup": "vocabulary (token -> index table)",
    "StringLookup": "vocabulary (string -> index table)",
    "TextVectorization": "vocabulary and text standardization",
    "Hashing": "number of bins and salt",
    "HashedCrossing": "number of bins",
}


#: what a preprocessing-state file holds besides OUTSIDE_STATE's layers: state the module builder writes
#: into the module, but a state_dict does not carry
IN_MODULE_STATE = {"Discretization": "bin boundaries", "CategoryEncoding": "number of tokens"}
LOOKUPS = ("IntegerLookup", "StringLookup", "TextVectorization")  # their vocabulary: lookup_vocabulary
_NOT_SETTINGS = ("name", "trainable", "dtype", "vocabulary")


def holds_idf_weights(layer: Layer) -> bool:
    """A lookup layer in output_mode 'tf_idf': its tensors are the IDF weights of its vocabulary, preprocessing
    state as the vocabulary is (TextVectorization keeps them twice: its own and its StringLookup's)."""
    return (layer.class_name in LOOKUPS and layer.kind == f"keras.layers.{layer.class_name}" and bool(layer.tensors)
            and all(tensor.role.split("/")[-1] == "idf_weights" for tensor in layer.tensors))


def outside_state_warnings(graph: ModelGraph) -> list[str]:
    """One warning per layer whose state a conversion cannot carry."""
    warnings = []
    for layer in graph.walk():
        if layer.class_name not in OUTSIDE_STATE or layer.kind != f"keras.layers.{layer.class_name}" or \
                _in_config(layer):
            continue
        idf = holds_idf_weights(layer)
        warnings.append(f"layer {layer.key} ({layer.class_name}): its {OUTSIDE_STATE[layer.class_name]}"
                        f"{', and IDF weights (output_mode=tf_idf),' if idf else ''} is preprocessing state, not in "
                        "the output; run this preprocessing step before the PyTorch model (convert "
                        f"--preprocessing-state FILE writes its settings{', vocabulary and IDF weights' if idf else ''}"
                        f"{'' if idf else ' and vocabulary'} as JSON)")
    return warnings


def preprocessing_state(graph: ModelGraph) -> dict[str, Any]:
    """The state of every preprocessing layer, for a JSON side file: its key, class and settings (its config
    less name, trainable and dtype) and, for a lookup, the vocabulary its constructor takes (from the config
    or the archive's saved asset); a saved vocabulary whose special tokens are not where Keras lists them
    is kept as saved (`saved_vocabulary`, special tokens included)."""
    layers = []
    for layer in graph.walk():
        if layer.class_name not in OUTSIDE_STATE and layer.class_name not in IN_MODULE_STATE:
            continue
        entry: dict[str, Any] = {"layer": layer.key, "class": layer.class_name,
                                 "settings": {key: value for key, value in layer.config.items()
                                              if key not in _NOT_SETTINGS}}
        vocabulary = lookup_vocabulary(layer) if layer.class_name in LOOKUPS else None
        if vocabulary is not None:
            entry["vocabulary"] = vocabulary
        elif layer.assets.get("vocabulary") is not None:
            entry["saved_vocabulary"] = layer.assets["vocabulary"]
        if holds_idf_weights(layer):
            _idf_weights(layer, entry, vocabulary)
        layers.append(entry)
    return {"source": graph.source, "format": graph.format, "layers": layers}


def _idf_weights(layer: Layer, entry: dict[str, Any], vocabulary: list[Any] | None) -> None:
    """A TF-IDF lookup's weights in `entry`: as its constructor takes them (`settings["idf_weights"]`, one per
    token of `vocabulary`) where that gives the saved ones back (Keras gives the special tokens the weights'
    mean), else as saved (`saved_idf_weights`, one per output index, special tokens first)."""
    used = [tensor for tensor in layer.tensors if tensor.role.startswith("_lookup_layer/")]  # what it computes with
    saved = (used or layer.tensors)[0].load().astype("float64").reshape(-1)
    start = len(special_tokens(layer))
    if vocabulary is not None and len(saved) >= start + len(vocabulary) > start:
        weights = saved[start:start + len(vocabulary)]
        mean = float(weights.astype("float32").mean(dtype="float64"))
        if all(abs(value - mean) <= 1e-6 * max(1.0, abs(mean)) for value in saved[:start]):
            entry["settings"]["idf_weights"] = weights.tolist()
            return
    entry["saved_idf_weights"] = saved.tolist()


def _in_config(layer: Layer) -> bool:
    """An IntegerLookup the module builder builds: its vocabulary (its config's or its saved asset's) is
    written into the module."""
    if layer.class_name != "IntegerLookup":
        return False
    try:
        return integer_lookup_refusal(layer) is None
    except ConfigError:  # a malformed option: not built, so its state is named as left behind
        return False
