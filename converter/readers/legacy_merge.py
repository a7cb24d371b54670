"""Keras 2.0 and 2.1's legacy `Merge` layer, read as the functional model it stands for.

Before functional models were common, branches were merged in a Sequential: `Merge([left, right],
mode='concat')` as its first layer, each branch a Sequential of its own input (Keras 1's API, kept
as `keras.legacy.layers.Merge` until Keras 2.2). Keras wrote such a model's config as a list whose
first entry is the Merge, its branches' configs in its `layers`, and stored the weights of the
branches' layers, then of the layers after the Merge, as top-level groups (its
`legacy_sequential_layers`: a branch used twice, as in a siamese network, once).

The config is rewritten here as Keras 2's functional config of the same computation: one input
per branch (named as Keras names a Sequential's input, `<first layer>_input`), the branches' layers,
the Merge as the merge layer of its mode, and the layers after it. Modes without such a layer
(`cos`, a Python function) and branches that are no Sequential of plain layers are refused by name.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import ReadError

#: the merge layer of each legacy mode, computing as it did (Keras 2.0's legacy/layers.py: sums, products,
#: means and maxima elementwise; concat along `concat_axis`; dot as K.batch_dot along `dot_axes`)
MERGE_LAYERS = {"sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum", "concat": "Concatenate",
                "dot": "Dot"}

MERGE = "Merge"


def starts_with_merge(layers: list[Any]) -> bool:
    """Whether a Sequential's layer entries start with a legacy Merge."""
    return bool(layers) and isinstance(layers[0], dict) and layers[0].get("class_name") == MERGE


def as_functional(name: str, layers: list[Any], where: str) -> dict[str, Any]:
    """The functional config (Keras 2's: `layers` with `inbound_nodes`, `input_layers`, `output_layers`) of a
    Sequential named `name` whose layer entries start with a legacy Merge."""
    merge = layers[0].get("config")
    if not isinstance(merge, dict):
        raise ReadError(f"{where}: the legacy Merge layer of model {name!r} has no config; the config is malformed")
    merge_name = merge.get("name")
    if not isinstance(merge_name, str) or not merge_name:
        raise ReadError(f"{where}: the legacy Merge layer of model {name!r} has no name; the config is malformed")
    label = f"{where}: legacy Merge layer {merge_name!r}"
    class_name, config = merge_layer(merge, label)
    merged: dict[str, Any] = {"class_name": class_name, "name": merge_name, "config": config}
    branches = merge.get("layers")
    if not isinstance(branches, list) or len(branches) < 2:
        count = len(branches) if isinstance(branches, list) else 0
        raise ReadError(f"{label}: has {count} branch{'' if count == 1 else 'es'}, where Keras 2 merged two or more; "
                        "the config is malformed")
    entries: list[dict[str, Any]] = []
    placed: dict[str, list[dict[str, Any]]] = {}  # a branch's config text -> its layer entries, made once
    calls: dict[str, int] = {}  # layer name -> calls so far (a shared branch's layers are called again)
    inputs: list[list[Any]] = []
    ends: list[list[Any]] = []
    for index, branch in enumerate(branches):
        branch_layers = _branch_layers(branch, f"{label}: branch {index}")
        key = json.dumps(branch_layers, sort_keys=True, default=str)
        new = key not in placed
        if new:
            placed[key] = [_layer_entry(entry, f"{label}: branch {index}") for entry in branch_layers]
        first = placed[key][0]
        shape = first["config"].get("batch_input_shape")
        if shape is None:
            raise ReadError(f"{label}: branch {index} starts with layer {first['name']!r}, which records no input "
                            "shape; the config is malformed")
        taken = {entry["name"] for entry in entries} | {entry["name"] for entry in placed[key]}
        input_name = _unique(f"{first['name']}_input", taken)
        entries.append({"class_name": "InputLayer", "name": input_name, "inbound_nodes": [],
                        "config": {"name": input_name, "batch_input_shape": shape,
                                   "dtype": first["config"].get("dtype", "float32"), "sparse": False}})
        if new:
            entries += placed[key]
        inputs.append([input_name, 0, 0])
        previous = [input_name, 0, 0]
        for entry in placed[key]:
            node = calls.get(entry["name"], 0)
            calls[entry["name"]] = node + 1
            entry["inbound_nodes"].append([previous + [{}]])
            previous = [entry["name"], node, 0]
        ends.append(previous)
    merged["inbound_nodes"] = [[end + [{}] for end in ends]]
    entries.append(merged)
    previous = [merge_name, 0, 0]
    for entry in layers[1:]:
        layer = _layer_entry(entry, f"{where}: model {name!r}")
        layer["inbound_nodes"] = [[previous + [{}]]]
        entries.append(layer)
        previous = [layer["name"], 0, 0]
    # (two layers of one name are refused as in any model's config: keras_config parses this one next)
    return {"name": name, "layers": entries, "input_layers": inputs, "output_layers": [previous]}


def merge_layer(merge: dict[str, Any], label: str) -> tuple[str, dict[str, Any]]:
    """The class name and config of the merge layer computing as a legacy Merge of config `merge` did (also the
    layer Keras 2.0's functional `merge([a, b], mode=...)` made), or a ReadError naming what is not read."""
    name = merge.get("name")
    if not isinstance(name, str) or not name:
        raise ReadError(f"{label}: has no name; the config is malformed")
    return _merge_class(merge, label), _merge_config(merge, name, label)


def _merge_class(merge: dict[str, Any], label: str) -> str:
    mode, mode_type = merge.get("mode"), merge.get("mode_type", "raw")
    if mode_type != "raw" or not isinstance(mode, str):
        raise ReadError(f"{label}: merges with a Python function of the script that built the model (mode_type "
                        f"{str(mode_type)[:20]!r}), which the file holds as code: not run, not converted; rebuild "
                        "the model with a Lambda layer or a merge layer (Concatenate, Add, Dot, ...) and its weights")
    if mode == "cos":
        raise ReadError(f"{label}: mode 'cos' (cosine proximity with Keras 2.0's epsilon, then an added axis) has no "
                        "merge layer that computes it alike; not converted")
    if mode not in MERGE_LAYERS:
        raise ReadError(f"{label}: unknown merge mode {mode[:40]!r}; Keras 2 knew "
                        f"{', '.join(sorted([*MERGE_LAYERS, 'cos']))}")
    return MERGE_LAYERS[mode]


def _merge_config(merge: dict[str, Any], name: str, label: str) -> dict[str, Any]:
    config: dict[str, Any] = {"name": name, "trainable": True}
    if merge.get("mode") == "concat":
        config["axis"] = merge.get("concat_axis", -1)
    elif merge.get("mode") == "dot":
        # Keras made an int two axes counted from the front when given the merged layers (the Sequential's Merge,
        # the functional merge()); others went to K.batch_dot as they were, which read a negative or single axis
        # otherwise than the Dot layer does
        axes = merge.get("dot_axes")
        if not (isinstance(axes, list) and len(axes) == 2 and all(type(axis) is int and axis > 0 for axis in axes)):
            raise ReadError(f"{label}: mode 'dot' along dot_axes {str(axes)[:40]}, not two positive axes as Keras "
                            "recorded for the layers it merged; not converted")
        config["axes"], config["normalize"] = axes, False
    return config


def _branch_layers(branch: Any, label: str) -> list[Any]:
    """A branch's layer entries: a Sequential's (Keras 2.0's bare list, or a dict of `layers`), or one layer's."""
    if not isinstance(branch, dict) or not isinstance(branch.get("class_name"), str):
        raise ReadError(f"{label}: is no layer entry; the config is malformed")
    config = branch.get("config")
    if branch["class_name"] != "Sequential":
        if isinstance(config, dict) and isinstance(config.get("layers"), list):
            raise ReadError(f"{label}: is a model of class {branch['class_name'][:40]}; a legacy Merge is read "
                            "with branches that are Sequential models or layers")
        return [branch]
    layers = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(layers, list) or not layers:
        raise ReadError(f"{label}: a Sequential without layers; the config is malformed")
    if starts_with_merge(layers):
        # Keras stored only the outer branches' layers' weights (legacy_sequential_layers: one level)
        raise ReadError(f"{label}: starts with a legacy Merge of its own, whose branches' weights Keras did not "
                        "store; not converted")
    return layers


def _layer_entry(entry: Any, label: str) -> dict[str, Any]:
    """A layer's entry as a functional config holds it: its name beside its config, calls to be added."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ReadError(f"{label}: a layer entry has no config: {str(entry)[:80]}")
    name = entry["config"].get("name")
    if not isinstance(name, str) or not name:
        raise ReadError(f"{label}: a layer of class {str(entry.get('class_name'))[:60]} has no name in the config")
    if entry.get("class_name") in (MERGE, "Sequential", "InputLayer"):  # none in what Keras 2.0/2.1 wrote
        raise ReadError(f"{label}: layer {name!r} is a {entry['class_name']}, which a legacy Merge's model is not "
                        "read with; not converted")
    return {"class_name": entry.get("class_name"), "name": name, "config": entry["config"], "inbound_nodes": []}


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def entry_as_functional(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The functional config of a Sequential entry whose layers start with a legacy Merge (as_functional: its
    weighted layers in the order Keras 2 stored them), else None: verify has Keras build that model."""
    inner = entry.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if entry.get("class_name") != "Sequential" or not isinstance(layers, list) or not starts_with_merge(layers):
        return None
    name = (inner.get("name") if isinstance(inner, dict) else None) or entry.get("name") or "sequential"
    return as_functional(str(name), layers, "the model config")


def holds_merge(config: Any) -> bool:
    """Whether a model config holds a legacy Merge (first in a Sequential, or a functional merge()), at any depth."""
    if isinstance(config, list):
        return any(holds_merge(value) for value in config)
    if not isinstance(config, dict):
        return False
    return config.get("class_name") == MERGE or any(holds_merge(value) for value in config.values())
