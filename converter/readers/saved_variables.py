"""A SavedModel's own names for its variables, for SavedModels without Keras metadata.

Keras 3 writes no Keras metadata into a SavedModel (`model.export()`, `tf.saved_model.save(model)`),
and its checkpoint keys are positions (`variables/7/.ATTRIBUTES/VARIABLE_VALUE`). But each
variable's SavedVariable in `saved_model.pb` records its name, which for Keras 3 is the
variable's path: the layer, any sublayer, the variable (`dense/kernel`, `mha/query/bias`,
`bi/forward_lstm/lstm_cell/kernel`; a Sequential's layers under its name, `seq/dense/kernel`;
a nested functional model's layers under theirs alone). The SavedObjectGraph's nodes and the
checkpoint's object graph number the same objects alike, so a checkpoint key's node gives
its name. `model.export()` lists the model's variables (`variables/N`) in `model.variables`'
order, layer by layer, each layer's in the order Keras keeps its weights, as a legacy `.h5`
lists them; its other lists of the same variables (`_all_variables/N`) are aliases.
"""
from __future__ import annotations

import os
import re

from ..errors import ReadError
from ..graph import Layer, Tensor
from .limits import MAX_JSON_BYTES
from .protowire import all_bytes, first_bytes, message

#: a random seed generator's state (Dropout's, an RNN's): not a weight
SEED_STATE = re.compile(r"(^|/)seed_generator(_\d+)?/seed_generator_state$")
#: the model's list of its variables in model.variables' order, which model.export() saves
IN_ORDER = re.compile(r"^variables/(\d+)(/|$)")


def variable_names(folder: str) -> dict[int, str] | None:
    """Object-graph node -> the name its SavedVariable records, or None (no names, or a saved_model.pb too large
    to read for them: its variables then stay named by position)."""
    path = os.path.join(folder, "saved_model.pb")
    if not os.path.isfile(path) or os.path.getsize(path) > MAX_JSON_BYTES:
        return None
    with open(path, "rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    graphs = all_bytes(message(data, path), 2)  # SavedModel.meta_graphs
    object_graph = first_bytes(message(graphs[0], path), 7) if graphs else b""  # MetaGraphDef.object_graph_def
    names = {}
    for index, node in enumerate(all_bytes(message(object_graph, path), 1)):  # SavedObjectGraph.nodes
        variable = first_bytes(message(node, path), 7)  # SavedObject.variable
        name = first_bytes(message(variable, path), 6).decode("utf-8", "replace") if variable else ""
        if name:
            names[index] = name[:-2] if name.endswith(":0") else name
    return names or None


def named_weights(weights: list[tuple[str, Tensor]], key_names: dict[str, str]) -> tuple[list[tuple[str, Tensor]],
                                                                                          list[str], str]:
    """(each variable under its recorded name, in model.variables' order when the SavedModel lists it; what is
    left out: a seed generator's state, and another list's entries of the same names, shapes and dtypes; why
    the names are not used, or "").

    Names are used only when they tell the variables apart: a tf.Module's are often all `Variable`, and then
    every variable keeps its checkpoint path, as without names."""
    listed = sorted(((int(found.group(1)), path, tensor) for path, tensor in weights
                     if (found := IN_ORDER.match(path))), key=lambda item: item[0])
    primary = [(path, tensor) for _, path, tensor in listed] or weights
    recorded = [key_names.get(_key(tensor)) for _, tensor in primary]
    names = [name for name in recorded if name is not None]
    if len(names) != len(recorded):
        return weights, [], "some of its variables have no name"
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        return weights, [], f"{len(twice)} name(s) stand for two variables ({', '.join(twice[:3])})"
    kept = {name: tensor for name, (_, tensor) in zip(names, primary)}
    listed_ids = {id(tensor) for _, tensor in primary}
    named, left_out = [], []
    for name, (_, tensor) in zip(names, primary):
        if SEED_STATE.search(name):
            left_out.append(f"{name} (a random seed's state)")
            continue
        tensor.role = name.rsplit("/", 1)[-1]
        named.append((name, tensor))
    for path, tensor in weights:
        if id(tensor) in listed_ids:
            continue
        again = key_names.get(_key(tensor))
        twin = kept.get(again) if again is not None else None
        if twin is None or (twin.shape, twin.dtype) != (tensor.shape, tensor.dtype):
            return weights, [], f"{path} is outside the model's list of variables"
        left_out.append(f"{path} (the model's {again} listed again)")
    return named, left_out, ""


def _key(tensor: Tensor) -> str:
    """The checkpoint key a tensor was read from (its source is `INDEX:KEY`)."""
    return tensor.source.rsplit(":", 1)[-1]


def place_named(root: Layer, weights: list[tuple[str, Tensor]], where: str, unnamed: str = "") -> None:
    """Give the architecture's layers their variables by name, as a nested model's group of a legacy `.h5`
    gives them (nested_weights.place_weights: the first component naming a child, or the one leaf of that name
    further down); a name no layer takes, or two layers could, is refused by name.

    Only in model.variables' order (`model.export()`'s `variables/N`), as a legacy `.h5` lists a layer's
    weights: a SavedModel of other lists (`tf.saved_model.save(model)`: `_operations/N/...`, in the
    checkpoint's order) would give a layer with several sublayers (an attention's query, key, value) its
    variables in another order, and is refused."""
    from .nested_weights import place_weights

    if unnamed:
        raise ReadError(f"{where}: a SavedModel without Keras metadata whose variables cannot be told apart by the "
                        f"names it records ({unnamed}): pairing it with an architecture would be a guess; convert "
                        "the model's .keras file, or this one without --architecture (--layout keras)")
    if not weights or not all(IN_ORDER.match(_key(tensor)) for _, tensor in weights):
        raise ReadError(f"{where}: a SavedModel without Keras metadata whose variables are not listed in the "
                        "model's order (tf.saved_model.save of a Keras 3 model): pairing it with an architecture "
                        "is not read yet; convert the model's .keras file or a model.export() SavedModel, or this "
                        "one without --architecture (--layout keras: every variable under its name)")
    place_weights(root, [(name.split("/")[:-1], tensor) for name, tensor in weights])
