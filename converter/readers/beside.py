"""The architecture a weights file was saved with, found beside it for a hint (never read in its place).

Keras 2 code saved `model.to_json()` (or to_yaml()) beside `save_weights("model.h5")`: when such a file
converts without `--architecture`, the error names the one beside it, which the user then passes.
"""
from __future__ import annotations

import os

from ..errors import ConverterError
from ..graph import ModelGraph

#: names an architecture is saved under beside its weights, `{stem}` the weights file's own stem
CANDIDATES = ("{stem}.json", "{stem}.yaml", "model.json", "model.yaml", "model_architecture.json",
              "architecture.json", "model_arch.json")
#: a config larger than this is not looked into for a hint
MAX_HINT_BYTES = 4 << 20


def architecture_beside(weights: str) -> str | None:
    """A file beside `weights` holding a Keras model config, or None."""
    from . import read_architecture
    from .keras_config import is_model_entry

    folder, name = os.path.split(weights)
    stem = name.split(".")[0]
    for candidate in dict.fromkeys(pattern.format(stem=stem) for pattern in CANDIDATES):
        path = os.path.join(folder, candidate)
        if path == weights or not os.path.isfile(path) or os.path.getsize(path) > MAX_HINT_BYTES:
            continue
        try:
            config, _ = read_architecture(path)
        except (ConverterError, OSError):
            continue
        if isinstance(config, dict) and is_model_entry(config):
            return path
    return None


def beside_hint(graph: ModelGraph) -> str:
    """Where a weights file read without an architecture has its model config beside it (model.json beside
    model.h5): the file to pass, as a hint for an error; empty otherwise."""
    if graph.metadata.get("architecture") == "given" or graph.format.startswith("live"):
        return ""
    beside = architecture_beside(graph.source)
    return f"; {beside}, beside it, holds a Keras model config: pass --architecture {beside}" if beside else ""

