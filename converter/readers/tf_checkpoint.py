"""TensorFlow checkpoints and SavedModel directories, read without TensorFlow (tensors via tf_bundle).

Names: a TF2 object-based checkpoint keys each variable by its path in the object graph
(`layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`), a TF1 one by its variable name
(`bert/encoder/layer_0/attention/self/query/kernel`). With a Keras architecture (given, or a
tf.keras SavedModel's: `keras_metadata.pb` from TF 2.5 on, the root object's metadata inside
`saved_model.pb` from TF 2.0 to 2.4; early tf.keras 2 also saved it in a `save_weights` checkpoint, as
`/.ATTRIBUTES/OBJECT_CONFIG_JSON`) the object graph stored in the checkpoint
(`_CHECKPOINTABLE_OBJECT_GRAPH`) says which layer each `layer_with_weights-N` is: the same
object as its `layer-K` sibling, the K-th of the model's layers. Without one, the checkpoint
is a tree of named variables: one group per path, converted with `--layout keras`.
Optimizer slots and counters, step counters and exponential-moving-average shadows are
left out and listed in the graph's metadata.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from ..errors import ReadError
from ..graph import Layer, ModelGraph, Tensor
from . import saved_variables, tf_bundle, variable_tree
from .checkpoint_objects import ObjectNode, layer_objects, model_object, operations
from .keras_config import parse_model
from .limits import MAX_JSON_BYTES, parse_json
from .protowire import all_bytes, first_bytes, first_int, message
from .tf_paths import variables_prefix

OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
#: tf.keras of early TF 2 releases saved each layer's config (get_config) in a checkpoint: the root's is the model's
CONFIG_SUFFIX = "/.ATTRIBUTES/OBJECT_CONFIG_JSON"
ROOT_CONFIG = CONFIG_SUFFIX  # the root object's path is empty
KERAS_MODELS = ("Sequential", "Functional", "Model")
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
#: variables that are training state, not the model: left out (and listed)
TRAINING_STATE = re.compile(r"(^|/)(optimizer|save_counter|global_step|keras_api)(/|$)|/\.OPTIMIZER_SLOT/|"
                            r"/(Adam|Adam_1|adam_m|adam_v|Momentum|RMSProp|RMSProp_1|Adagrad|"
                            r"AdamWeightDecayOptimizer(_1)?)$|"
                            r"(^|/)(beta1_power|beta2_power)$|^learning_rate$")  # TF1 Adam's, in its scope too
EMA_SUFFIX = "/ExponentialMovingAverage"
EMA = re.compile(r"/ExponentialMovingAverage$")
#: a Keras model's lists of its own variables, saved beside the layers' (SavedModel): aliases
ALIAS = re.compile(r"^(variables|trainable_variables|non_trainable_variables)/\d+(/|$)")


def read_saved_model(folder: str, architecture: Any = None, variables: str = "raw") -> ModelGraph:
    """A SavedModel directory: its variables bundle, named by tf.keras's `keras_metadata.pb` when present."""
    prefix = variables_prefix(folder)
    if not os.path.isfile(prefix + ".index"):
        raise ReadError(f"{folder}: a SavedModel without variables/variables.index (its weights: the variables "
                        "folder beside saved_model.pb was not copied or committed with it); fetch that folder too")
    own = _keras_metadata_config(folder)
    names = saved_variables.variable_names(folder) if own is None else None  # Keras 3's, tf.Module's
    graph = read_checkpoint(prefix, architecture if architecture is not None else own, source=folder,
                            variables=variables, node_names=names)
    graph.format, graph.own_config = "tf-saved-model", own
    if own is None and architecture is not None:
        # no Keras metadata: Keras 3's model.export() (tf.keras records its config), not tf.keras's "2.x"; the
        # architecture's own version, where its file records one, is taken after (readers.read_source)
        graph.keras_version = "unknown (a Keras 3 export records none)"
    return graph


def saved_model_architecture(folder: str) -> Any:
    """The model config of a tf.keras SavedModel directory, as an architecture."""
    config = _keras_metadata_config(folder)
    if config is None:
        raise ReadError(f"{folder}: a SavedModel without a Keras model config (keras_metadata.pb, or the metadata "
                        "tf.keras 2.0-2.4 kept in saved_model.pb); give a .keras file, a full-model .h5 or a config "
                        "JSON as the architecture")
    return config


def read_checkpoint(prefix: str, architecture: Any = None, source: str | None = None,
                    variables: str = "raw", node_names: dict[int, str] | None = None) -> ModelGraph:
    """A checkpoint's variables: into the layers of `architecture` when given, else as a tree of names.

    `variables="ema"`: each variable that has an ExponentialMovingAverage shadow is read from the
    shadow (under the variable's own name); the raw values are then the ones left out. `node_names`
    (a SavedModel without Keras metadata: saved_variables) names variables by object-graph node.
    """
    shards, entries = tf_bundle.read_index(prefix)
    shadows = {entry.name[: -len(EMA_SUFFIX)]: entry for entry in entries if entry.name.endswith(EMA_SUFFIX)}
    if variables == "ema" and not shadows:
        raise ReadError(f"{prefix}.index: no ExponentialMovingAverage shadows to read (variables='ema'); this "
                        "checkpoint holds the raw variables only")
    index = tf_bundle.index_path(prefix)
    graph = ModelGraph(layers=[], source=source or prefix, format="tf-checkpoint", keras_version="unknown")
    checksums = tf_bundle.Checksums()
    graph.resources.callback(checksums.close)
    graph.integrity.append(checksums.check)
    weights, left_out = [], []
    for entry in entries:
        name = entry.name[: -len(VALUE_SUFFIX)] if entry.name.endswith(VALUE_SUFFIX) else entry.name
        if entry.name.endswith(CONFIG_SUFFIX):
            continue  # a layer's config (the root's is read as the architecture), not a variable
        if entry.name == OBJECT_GRAPH or TRAINING_STATE.search(name) or EMA.search(name):
            left_out.append(name)
        elif entry.dtype in tf_bundle.SKIPPED_DTYPES.values() or entry.dtype.startswith("dtype "):
            left_out.append(f"{name} ({entry.dtype})")
        elif entry.sliced:
            raise ReadError(f"{index}: {name} is a partitioned variable (saved in slices), which is not read yet")
        else:
            if variables == "ema" and entry.name in shadows:
                left_out.append(f"{name} (raw; its moving average is read)")
                entry = replace(shadows[entry.name], name=entry.name)
            path, load = tf_bundle.loader(prefix, shards, entry, checksums)
            graph.files.append(path)
            weights.append((name, Tensor(role=name.rsplit("/", 1)[-1], shape=entry.shape, dtype=entry.dtype,
                                         source=f"{index}:{entry.name}", loader=load)))
    graph.files = sorted(set(graph.files))
    unnamed = ""
    if node_names:
        objects = _object_graph(prefix, shards, entries)
        key_names = {key: node_names[node] for node, found in enumerate(objects) if node in node_names
                     for key in found.keys}
        weights, aliases, unnamed = saved_variables.named_weights(weights, key_names)
        left_out += aliases
    graph.own_config = _own_config(prefix, shards, entries)
    architecture = architecture if architecture is not None else graph.own_config
    if architecture is not None:
        config = _plain(architecture)
        root, graph.inputs = parse_model(config, graph.source)
        if node_names:
            saved_variables.place_named(root, weights, index, unnamed)
        else:
            objects = _object_graph(prefix, shards, entries)
            node, holder = model_object(root, objects, index)
            if holder is not None:  # one object of several: the others' variables are no part of the model
                graph.metadata["checkpoint_object"] = holder
                left_out += [f"{weight} (another object of the checkpoint than {holder})"
                             for weight, _ in weights if not weight.startswith(f"{holder}/")]
                weights = [(weight, tensor) for weight, tensor in weights if weight.startswith(f"{holder}/")]
            _attach(root, node, weights, objects, index)
            if operations(objects, node) is not None:  # Keras 3's model, in a tf.train.Checkpoint (TF backend)
                graph.keras_version = "unknown (Keras 3's objects in a checkpoint record no version)"
        graph.layers, graph.root = root.children or [], root
        if not graph.keras_version.startswith("unknown ("):
            graph.keras_version = "2.x"  # tf.keras: the Keras that writes object-based checkpoints and SavedModels
    else:
        graph.layers = variable_tree.tree(weights)
    graph.metadata["left_out"] = ", ".join(left_out)
    return graph


def _object_graph(prefix: str, shards: int, entries: list[tf_bundle.Entry]) -> list[ObjectNode]:
    """The object graph TF2 stores in the checkpoint (a serialized TrackableObjectGraph)."""
    entry = next((e for e in entries if e.name == OBJECT_GRAPH), None)
    if entry is None:
        raise ReadError(f"{prefix}.index: no object graph; a name-based (TF1) checkpoint has no Keras layer "
                        "structure: convert it without --architecture (--layout keras)")
    path = tf_bundle.shard_path(prefix, entry.shard, shards)
    graph = message(_scalar_string(prefix, shards, entry, "the object graph"), f"{path}: object graph")
    nodes = []
    for node in all_bytes(graph, 1):
        fields = message(node, f"{path}: object")
        children = {}
        for reference in all_bytes(fields, 1):
            child = message(reference, f"{path}: reference")
            children[first_bytes(child, 2).decode("utf-8", "replace")] = first_int(child, 1)
        keys = [first_bytes(message(attribute, f"{path}: attribute"), 3).decode("utf-8", "replace")
                for attribute in all_bytes(fields, 2)]
        nodes.append(ObjectNode(children, keys))
    return nodes


def _scalar_string(prefix: str, shards: int, entry: tf_bundle.Entry, what: str, limit: int | None = None) -> bytes:
    """The bytes of a scalar string entry (the object graph, a config of at most `limit` bytes), CRC-checked."""
    path = tf_bundle.shard_path(prefix, entry.shard, shards)
    if entry.offset < 0 or entry.offset + entry.size > os.path.getsize(path):
        raise ReadError(f"{path}: {what} lies past the end of the data file")
    if limit is not None and entry.size > limit:
        raise ReadError(f"{path}: {what} is {entry.size} bytes, more than the {limit >> 20} MB weightport reads")
    with open(path, "rb") as handle:
        handle.seek(entry.offset)
        data = handle.read(entry.size)
    return tf_bundle.scalar_string(data, entry.crc32c, f"{path}: {what}")


def _own_config(prefix: str, shards: int, entries: list[tf_bundle.Entry]) -> Any:
    """The Keras model config a TF2 checkpoint of tf.keras holds at its root (early TF 2 releases saved every
    layer's get_config there; later ones do not), or None: read as the file's own architecture."""
    entry = next((e for e in entries if e.name == ROOT_CONFIG and e.dtype == "string" and not e.shape), None)
    if entry is None:
        return None
    where = f"{prefix}.index: {ROOT_CONFIG}"
    config = parse_json(_scalar_string(prefix, shards, entry, "the model config", MAX_JSON_BYTES), where)
    if not (isinstance(config, dict) and config.get("class_name") in KERAS_MODELS
            and isinstance(config.get("config"), dict)):
        return None  # a subclassed model's, or a layer's: no graph to build from
    return {"class_name": config["class_name"], "config": config["config"]}


def _attach(model: Layer, node: int, weights: list[tuple[str, Tensor]], objects: list[ObjectNode],
            where: str) -> None:
    """Give each layer of `model` (the object `node` of the object graph) the variables the object graph places
    under it (its `layer-K` child)."""
    places: dict[str, tuple[Layer, str]] = {}  # checkpoint key -> (layer, variable name)
    _place(model, node, objects, places, where)
    unplaced = []
    for name, tensor in weights:
        key = tensor.source.rsplit(":", 1)[-1]
        if key not in places:
            if not ALIAS.match(name):
                unplaced.append(name)
            continue
        layer, tensor.role = places[key]
        layer.tensors.append(tensor)
    if unplaced:
        raise ReadError(f"{where}: variables {', '.join(unplaced[:4])} belong to no layer of the architecture; "
                        "is it the model these weights were saved from?")
    for layer in model.walk():
        names = [tensor.role.rsplit("/", 1)[-1] for tensor in layer.tensors]
        if len(set(names)) == len(names):  # named by their own names; sublayers' alike names keep their paths
            for tensor, name in zip(layer.tensors, names):  # (a Bidirectional's forward_layer/cell/kernel)
                tensor.role = name


def _place(model: Layer, node: int, objects: list[ObjectNode], places: dict[str, tuple[Layer, str]],
           where: str, depth: int = 0) -> None:
    """Walk a model's layers as the object graph holds them (checkpoint_objects.layer_objects)."""
    if depth > 64 or node >= len(objects):
        raise ReadError(f"{where}: the object graph nests models too deeply or names a missing object")
    for layer, child in layer_objects(model, objects, node, where):
        if layer.is_model:
            if layer.time_distributed_model:  # a TimeDistributed of a model: the model is its `layer`
                child = objects[child].children.get("layer", len(objects)) if child < len(objects) else child
            _place(layer, child, objects, places, where, depth + 1)
        else:
            _collect(layer, child, objects, places)


def _collect(layer: Layer, node: int, objects: list[ObjectNode], places: dict[str, tuple[Layer, str]]) -> None:
    """The variables under one layer's object (through its cell or sublayers), each named by its path there, each
    attribute's leading underscore dropped (Keras 3 keeps a Dense's kernel as `_kernel`, tf.keras a
    MultiHeadAttention's query as `_query_dense`): `kernel`, `cell/kernel`, `query_dense/kernel`.

    Objects are walked nearest first: a variable reached on several paths is named by the shortest, its
    attribute's (a SavedModel's layer reaches its sublayers' again as `keras_api/layers/0`), and by an attribute
    rather than a position (a layer's own lists of its variables name them `0`, `1`)."""
    queue, seen = [(node, "")], {node}
    for current, path in queue:  # (the queue grows while it is walked: breadth first)
        for local, child in objects[current].children.items():
            if child >= len(objects):
                continue
            named = path + local.removeprefix("_")
            for key in objects[child].keys:
                if key not in places or (places[key][1].rsplit("/", 1)[-1].isdigit()
                                         and not named.rsplit("/", 1)[-1].isdigit()):
                    places[key] = (layer, named)
            if not objects[child].keys and child not in seen:
                seen.add(child)
                queue.append((child, named + "/"))


def _keras_metadata_config(folder: str) -> Any:
    """The model config tf.keras stored with a SavedModel (its root object's metadata), or None."""
    path = os.path.join(folder, "keras_metadata.pb")
    text = _metadata_file_root(path) if os.path.isfile(path) else None
    if text is None:
        path = os.path.join(folder, "saved_model.pb")
        text = _saved_model_root(path)
    if not text:
        return None
    metadata = parse_json(text.decode("utf-8", "replace"), f"{path}: the Keras metadata of the model")
    if isinstance(metadata, dict) and "config" in metadata:
        return {"class_name": metadata.get("class_name"), "config": metadata["config"]}
    return None


def _metadata_file_root(path: str) -> bytes | None:
    """TF 2.5+: `keras_metadata.pb` (SavedMetadata) lists each Keras object's metadata by path; the root's."""
    for node in all_bytes(message(_read_capped(path), path), 1):
        fields = message(node, path)
        if first_bytes(fields, 3) == b"root":
            return first_bytes(fields, 5)
    return None


def _saved_model_root(path: str) -> bytes | None:
    """TF 2.0-2.4: the metadata sits in `saved_model.pb`, on the root of the first meta graph's object graph
    (SavedModel.meta_graphs[0].object_graph_def.nodes[0].user_object, identifier `_tf_keras_...`). A larger
    file than MAX_JSON_BYTES (a graph holding big constants) is not read for it: the variables are then a tree."""
    if not os.path.isfile(path) or os.path.getsize(path) > MAX_JSON_BYTES:
        return None
    graphs = all_bytes(message(_read_capped(path), path), 2)
    nodes = all_bytes(message(first_bytes(message(graphs[0], path), 7), path), 1) if graphs else []
    if not nodes:
        return None
    user_object = message(first_bytes(message(nodes[0], path), 4), path)
    return first_bytes(user_object, 3) if first_bytes(user_object, 1).startswith(b"_tf_keras_") else None


def _read_capped(path: str) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ReadError(f"{path}: more than {MAX_JSON_BYTES >> 20} MB of Keras metadata; weightport reads at most that")
    return data


def _plain(value: Any) -> Any:
    """tf.keras's SavedModel metadata writes tuples as {"class_name": "__tuple__", "items": [...]}: lists."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [_plain(item) for item in value["items"]]
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
