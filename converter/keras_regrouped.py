"""Have Keras load the weights of a `.keras` archive no Keras here reads (tf.keras 2.13/2.14's groups under
`_layer_checkpoint_dependencies`, or tf.keras's on Windows, joined with backslashes), for verify.

Keras's own walk decides where each weight goes: the model built from the config is given a distinct marker value
per variable and saved (`save_weights`); each tensor weightport read for a layer then replaces the marked dataset of
that layer's whose path ends with the tensor's path inside the layer's group in the file (`vars/0`,
`_query_dense/vars/1`: attribute names both writers share), and Keras loads the file so filled. So a layer's
weights reach Keras by their place in the file, never by the order weightport read them in.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from .errors import ReadError
from .graph import Layer, ModelGraph
from .keras_meant import weighted_layers


def load_regrouped(model: Any, graph: ModelGraph) -> None:
    """Load into the Keras `model` (built from the file's config) the tensors read for each of its layers, placed
    where Keras's own save_weights puts that layer's variables."""
    import h5py

    read = {layer.name: layer for layer in graph.root.walk()} if graph.root is not None else {}
    variables = list(model.weights)
    owner = {id(variable): layer for layer in weighted_layers(model) for variable in layer.weights}
    with tempfile.TemporaryDirectory(prefix="weightport-") as folder:
        template = os.path.join(folder, "model.weights.h5")
        saved = [variable.numpy() for variable in variables]
        for index, variable in enumerate(variables):
            variable.assign(np.full(variable.shape, index + 1, dtype=variable.dtype.as_numpy_dtype
                                    if hasattr(variable.dtype, "as_numpy_dtype") else variable.dtype))
        model.save_weights(template)
        for variable, value in zip(variables, saved):
            variable.assign(value)
        with h5py.File(template, "r+") as h5:
            by_layer: dict[str, list[str]] = {}

            def visit(path: str, item: Any) -> None:
                if isinstance(item, h5py.Dataset) and item.size:
                    marker = int(np.asarray(item).flat[0]) - 1
                    if 0 <= marker < len(variables) and id(variables[marker]) in owner:
                        by_layer.setdefault(owner[id(variables[marker])].name, []).append(path)

            h5.visititems(visit)
            for name, paths in by_layer.items():
                _fill(h5, paths, read.get(name), name, graph.source)
        model.load_weights(template)


def _fill(h5: Any, paths: list[str], layer: Layer | None, name: str, source: str) -> None:
    """Replace each of the layer's marked datasets (`paths`) with the tensor read from the same place in its group."""
    if layer is None or layer.stored_at is None or len(layer.tensors) != len(paths):
        raise ReadError(f"{source}: Keras's layer {name} holds {len(paths)} weights and the file "
                        f"{len(layer.tensors) if layer else 'none'} for it; not one model")
    prefix = layer.stored_at.strip("/") + "/"
    for tensor in layer.tensors:
        inner = tensor.source.rsplit(prefix, 1)[-1] if prefix in tensor.source else None
        matches = [path for path in paths if inner is not None and ("/" + path).endswith("/" + inner)]
        if len(matches) != 1:
            raise ReadError(f"{source}: layer {name}: Keras keeps no single weight at {inner or tensor.source} "
                            f"(its weights: {', '.join(paths)[:200]}); not the model the config describes")
        dataset = h5[matches[0]]
        if dataset.shape != tensor.shape:
            raise ReadError(f"{source}: layer {name}: {inner} is {tensor.shape} in the file and {dataset.shape} "
                            "in Keras; not the model the config describes")
        dataset[...] = tensor.load()

