"""Legacy HDF5 files: Keras 1/2, tf.keras and Keras 3's `.h5` writer, full models and weights.

Full models carry `model_config` (JSON) and `keras_version` as root attributes and their
weights under `model_weights`; `save_weights` files hold the same tree at the root. Each
layer group lists its datasets in `weight_names` (`dense_1/kernel:0` in Keras 2,
`sequential/dense_1/kernel` from Keras 3's writer): read through those names, not by
walking, so that the order is the layer's own.
"""
from __future__ import annotations

import re
from typing import Any

import h5py

from ..config import Config
from ..errors import LayoutError, ReadError
from ..graph import UNRECORDED_VERSION, Layer, ModelGraph, Tensor, minor_version
from . import keras1, variable_tree
from .renamed_layers import paired_by_order
from .hdf5_checks import file_store
from .hdf5_tree import Store
from .hdf5_tensors import attr_text, attribute, list_attribute, tensor_from_dataset
from .keras3_h5_loading import as_keras3_loads
from .keras_config import (
    BIDIRECTIONAL_COPY, OPERATION_OF_UNKNOWN_MODULE, WRAPPED_RECURRENT, bidirectional_config, holds_numpy_values,
    numpy_values_read, parse_model, snake_class,
)
from .limits import parse_json, version_text
from .nested_weights import place_weights


def read_legacy(path: str, h5: h5py.File, architecture: Any = None, as_tree: bool = False) -> ModelGraph:
    """Read a legacy full-model or weights-only HDF5 file into a graph.

    Without a model config, weights whose names describe a deeper structure than layers and
    their sublayers (a subclassed tf.keras model, a Hugging Face `tf_model.h5`: two different
    variables would land on one layer) are read as a tree of named variables, as they are
    with `as_tree`.
    """
    graph = ModelGraph(layers=[], source=path, format="legacy-h5", keras_version="unknown")
    graph.resources.enter_context(h5)
    try:
        weights_root = h5["model_weights"] if "model_weights" in h5 else h5
        if not isinstance(weights_root, h5py.Group):
            raise ReadError(f"{path}: model_weights is not a group; the file is damaged or crafted")
        full_model = "model_config" in h5.attrs
        graph.format = "legacy-h5" if full_model else "legacy-h5-weights"
        version = attribute(h5, "keras_version", path)
        version = attribute(weights_root, "keras_version", path) if version is None else version
        graph.keras_version = version_text(attr_text(version)) if version is not None else UNRECORDED_VERSION
        described = architecture.get("keras_version") if isinstance(architecture, dict) else None
        if version is None and described is not None:  # weights alone, their model.to_json() given (it records it)
            graph.keras_version = version_text(described)
        backend = attribute(h5, "backend", path)
        backend = attribute(weights_root, "backend", path) if backend is None else backend
        if backend is not None:
            graph.metadata["backend"] = version_text(attr_text(backend))
        store = file_store(h5, path)
        if full_model:
            graph.own_config = parse_json(attr_text(attribute(h5, "model_config", path)),
                                          f"{path}: the model_config attribute")
            if holds_numpy_values(graph.own_config):
                graph.own_config = numpy_values_read(graph.own_config)
                graph.metadata["numpy_values"] = "unwrapped"
        if graph.keras_version == UNRECORDED_VERSION and keras1.looks_keras1(
                graph.own_config if architecture is None else architecture):
            graph.keras_version = keras1.UNRECORDED_KERAS1  # Keras 1.0 and 1.1 recorded no version
        written_by_keras1 = graph.keras_version.startswith("1.")  # configs and weight names rewritten (keras1.py)
        if written_by_keras1 and graph.own_config is not None:
            graph.own_config = keras1.keras2_config(graph.own_config, path)
        model_config = architecture if architecture is not None else graph.own_config
        if written_by_keras1 and architecture is not None:
            model_config = keras1.keras2_config(architecture, path)
        layer_names = list_attribute(weights_root, "layer_names", path)
        if layer_names is None:
            raise ReadError(f"{path}: no layer_names attribute under {weights_root.name}; "
                            "the file holds no Keras weights")
        missing = [name for name in layer_names if not isinstance(weights_root.get(name), h5py.Group)]
        if missing:
            raise ReadError(f"{path}: layer_names lists {', '.join(missing[:5])} but {weights_root.name} has no "
                            "such group; the file is damaged")
        if written_by_keras1:
            if model_config is None:
                raise ReadError(f"{path}: weights of Keras {graph.keras_version} (Keras 1), named after their "
                                "layers only: pass --architecture with the model's JSON (model.to_json())")
            graph.metadata["keras1"] = graph.keras_version
            _keras1_backend(graph, weights_root, layer_names, path)
        if model_config is None:
            grouped = {name: _weights_of(weights_root[name], path, store) for name in layer_names}
            if as_tree or _needs_tree(grouped):
                if graph.metadata.get("backend") == "theano":  # its kernels are flipped only by the kinds' rules
                    raise ReadError(f"{path}: weights trained with Theano, named too deep to tell their layers "
                                    "without the model's config; pass --architecture")
                graph.layers = variable_tree.tree([("/".join(components + [tensor.role]), tensor)
                                                   for weights in grouped.values() for components, tensor in weights])
            else:
                graph.layers = [_layer_from_weights(grouped[name], name) for name in layer_names]
        else:
            root, graph.inputs = parse_model(model_config, path)
            _attach(root, weights_root, layer_names, path, store, graph.notes)
            if written_by_keras1:
                for layer in root.walk():
                    if layer.tensors:
                        layer.tensors = keras1.keras2_tensors(layer, path)
            version = minor_version(graph.keras_version)
            if architecture is None and version is not None and version[0] >= 3:
                graph.notes += as_keras3_loads(root, version, graph.metadata.get("backend"))
            graph.layers, graph.root = root.children or [], root
    except BaseException:
        graph.close()
        raise
    return graph


def _keras1_backend(graph: ModelGraph, weights_root: h5py.Group, layer_names: list[str], path: str) -> None:
    """The backend a Keras 1 file was trained with, which it does not record, from its weights' names: Theano's
    convolution kernels are flipped (tagging), TensorFlow's are not."""
    names = [name for layer in layer_names for name in list_attribute(weights_root[layer], "weight_names", path) or []]
    backend = keras1.backend_of(names)
    if backend is None and names:
        raise ReadError(f"{path}: a Keras 1 file whose weight names are TensorFlow's (name:0) and Theano's alike: "
                        "which backend trained it, and so which way its convolution kernels hold, cannot be told")
    if backend is not None:
        graph.metadata["backend"] = backend


def _weights_of(group: h5py.Group, path: str, store: Store) -> list[tuple[list[str], Tensor]]:
    """(name components, tensor) for each entry of the group's `weight_names`."""
    weights = []
    for weight_name in list_attribute(group, "weight_names", f"{path}:{group.name}") or []:
        dataset = group.get(weight_name) if weight_name else None
        if not isinstance(dataset, h5py.Dataset):
            raise ReadError(f"{path}:{group.name}: weight_names lists {weight_name!r} but the file has no such dataset")
        parts = weight_name.split("/")
        role = parts[-1].split(":")[0]  # tf.keras names end in ':0'; Keras 3's writer drops it
        weights.append((parts[:-1], tensor_from_dataset(dataset, role, f"{path}:{dataset.name}", store)))
    return weights


def _attach(root: Layer, weights_root: h5py.Group, layer_names: list[str], path: str, store: Store,
            notes: list[str]) -> None:
    by_name = {child.name: child for child in root.children or []}
    weighted = [name for name in layer_names if list_attribute(weights_root[name], "weight_names", path)]
    stray = [name for name in weighted if name not in by_name]
    if stray:
        paired = paired_by_order(root.children or [], weighted)
        if paired is None:
            raise LayoutError(f"{path}: weights for {', '.join(stray)} match no layer of the model config, and "
                              "pairing the file's layers with the config's in order (as Keras's load_weights "
                              "does) cannot be told from their names; pass the config of the model that saved "
                              "these weights")
        renamed = [f"{name} -> {layer.name}" for name, layer in paired.items() if name != layer.name]
        notes.append("the file's layers hold other names than the config's: paired in order, as Keras's "
                     f"load_weights does ({', '.join(renamed)})")
        by_name = paired
    for name in layer_names:
        layer = by_name.get(name)
        if layer is None:
            continue
        weights = _weights_of(weights_root[name], path, store)
        if layer.is_model:
            place_weights(layer, weights)
        else:
            layer.tensors = [tensor for _, tensor in weights]
            if layer.tensors and layer.module == OPERATION_OF_UNKNOWN_MODULE:
                layer.module = None  # no operation holds weights: the user's own layer, its config without trainable


def _own_weight(components: list[str], name: str) -> bool:
    """A weight of layer `name` itself: `name/kernel:0`, or its recurrent cell's (`lstm/lstm_cell/kernel:0`,
    as tf.keras names an LSTM's, GRU's or SimpleRNN's variables)."""
    if not components or components[-1] == name:
        return True
    return len(components) >= 2 and components[-2] == name and \
        re.fullmatch(r"(lstm|gru|simple_rnn)_cell(_\d+)?", components[-1]) is not None


def _needs_tree(grouped: dict[str, list[tuple[list[str], Tensor]]]) -> bool:
    """Whether naming sublayers by the last component of their weights' paths would put two different
    variables on one layer (`encoder/layer_._0/dense/kernel` and `encoder/layer_._1/dense/kernel`)."""
    for name, weights in grouped.items():
        if _bidirectional(weights) is not None:
            continue  # its two directions' cells share names: one layer all the same
        seen: dict[tuple[str, str], list[str]] = {}
        for components, tensor in weights:
            if _own_weight(components, name):
                continue
            where = seen.setdefault((components[-1], tensor.role), components)
            if where != components:
                return True
    return False


def _bidirectional(weights: list[tuple[list[str], Tensor]]) -> str | None:
    """The class a Bidirectional wraps, when every weight lies under its `forward_<rnn>` then its `backward_<rnn>`
    scope (Keras 2: `bidirectional_1/forward_lstm_1/kernel:0`; tf.keras adds the cell: `.../lstm_cell_1/...`)."""
    found = [next((match for part in components if (match := BIDIRECTIONAL_COPY.fullmatch(part))), None)
             for components, _ in weights]
    if not found or any(match is None for match in found):
        return None
    directions = [match.group(1) for match in found if match is not None]
    classes = {match.group(2) for match in found if match is not None}
    ordered = directions == sorted(directions, key=("forward", "backward").index)
    return WRAPPED_RECURRENT[classes.pop()] if len(classes) == 1 and ordered and "backward" in directions else None


def _layer_from_weights(weights: list[tuple[list[str], Tensor]], name: str) -> Layer:
    """Without a config: a layer named by its group; a nested model's sub-layers from weight names."""
    layer = Layer(name=name, class_name=snake_class(name), config=Config({}), path=(name,), has_config=False)
    wrapped = _bidirectional(weights)
    if wrapped is not None:  # its inner layer's defaults: the arguments weights do not fix are warned of
        layer.class_name, layer.config = "Bidirectional", bidirectional_config(wrapped, name)
        layer.tensors = [tensor for _, tensor in weights]
        return layer
    if all(_own_weight(components, name) for components, _ in weights):
        layer.tensors = [tensor for _, tensor in weights]
        return layer
    children: dict[str, Layer] = {}
    for components, tensor in weights:
        child_name = components[-1] if components else name
        child = children.setdefault(child_name, Layer(
            name=child_name, class_name=snake_class(child_name), config=Config({}),
            path=(name, child_name), has_config=False,
        ))
        child.tensors.append(tensor)
    layer.children = list(children.values())
    return layer
