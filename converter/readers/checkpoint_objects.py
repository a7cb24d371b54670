"""The objects of a TF2 checkpoint, and which of them holds the model an architecture describes.

`model.save_weights` makes the model the checkpoint's root. A `tf.train.Checkpoint` of several objects puts each
under its own name instead: TensorFlow's GAN tutorials save `generator=`, `discriminator=` and their optimizers,
custom training loops `model=` and `optimizer=`. The model meant is the one object whose layers are the
architecture's (tf.keras numbers them `layer-K`, Keras 3 keeps them as `_operations/K`); the others are left out,
and two that fit are refused by name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ReadError
from ..graph import Layer

#: a model's K-th layer, as model.layers lists them
NUMBERED = re.compile(r"^layer-(\d+)$")


@dataclass
class ObjectNode:
    """One object of a TF2 checkpoint's object graph: its children by local name, and the checkpoint keys
    of the tensors it holds (a variable holds one, `.../.ATTRIBUTES/VARIABLE_VALUE`)."""

    children: dict[str, int]
    keys: list[str]


def numbered(node: ObjectNode) -> list[str]:
    """The local names of a tf.keras model object's layers (`layer-0`, `layer-1`, ...)."""
    return [local for local in node.children if NUMBERED.match(local)]


def operations(objects: list[ObjectNode], node: int) -> dict[int, int] | None:
    """A Keras 3 model object's operations, {K: node} (`_operations/K`, through `_functional` for a Sequential: the
    K-th of model.operations, InputLayers included, the order its config lists them in); None for another object."""
    children = objects[node].children
    if "_functional" in children and children["_functional"] < len(objects):
        children = objects[children["_functional"]].children
    listed = children.get("_operations")
    if listed is None or listed >= len(objects):
        return None
    return {int(local): child for local, child in objects[listed].children.items() if local.isdigit()}


def layer_objects(model: Layer, objects: list[ObjectNode], node: int, where: str) -> list[tuple[Layer, int]]:
    """(layer, its object's node) for each layer of `model` the object `node` holds: a tf.keras model's `layer-K`
    (the K-th of model.layers; a Sequential's list holds no InputLayer from TF 2.4 on, before its `layer-0` was
    the InputLayer it made, which its config does not list: told by their count), a Keras 3 model's operations."""
    found = operations(objects, node)
    if found is not None:  # Keras 3: every operation its config lists, InputLayers too
        pairs = list(found.items())
        layers = model.children or []
    else:
        layers = _tf_keras_layers(model)
        shift = 1 if _sequential(model) and len(numbered(objects[node])) == len(layers) + 1 else 0
        pairs = [(int(match.group(1)) - shift, child) for local, child in objects[node].children.items()
                 if (match := NUMBERED.match(local)) and int(match.group(1)) >= shift]
    for index, child in pairs:
        if index >= len(layers) or child >= len(objects):
            raise ReadError(f"{where}: the checkpoint's layer {index} is no layer of the architecture's {model.name}")
    return [(layers[index], child) for index, child in pairs]


def _sequential(model: Layer) -> bool:
    """A Sequential, or a TimeDistributed of one (read as the model it wraps: a Sequential's config names no
    input_layers)."""
    return model.class_name == "Sequential" or (model.time_distributed_model
                                                and model.config.get("input_layers") is None)


def _holds(model: Layer, objects: list[ObjectNode], node: int) -> bool:
    """Whether the model object `node` holds `model`'s layers: a Keras 3 one an object at each position of its
    layers and none at its operations' (`x + y` is no object TensorFlow tracks: the list keeps its positions, gaps
    and all); a tf.keras one as many `layer-K` as its layers (an early Sequential one more: the InputLayer it
    made)."""
    found = operations(objects, node)
    if found is not None:
        return set(found) == {index for index, child in enumerate(model.children or [])
                              if not child.kind.startswith("keras.ops.")}
    layers = _tf_keras_layers(model)
    return len(layers) <= len(numbered(objects[node])) <= len(layers) + (1 if _sequential(model) else 0)


def _tf_keras_layers(model: Layer) -> list[Layer]:
    """The layers tf.keras numbers `layer-K`: a Sequential's without its InputLayer."""
    sequential = _sequential(model)
    return [child for child in model.children or [] if not (sequential and child.class_name == "InputLayer")]


def _layer_count(objects: list[ObjectNode], node: int) -> int:
    """How many layers a model object holds (0: not a model): Keras 3's operations or tf.keras's `layer-K`."""
    found = operations(objects, node)
    return len(found) if found is not None else len(numbered(objects[node]))


def model_object(model: Layer, objects: list[ObjectNode], where: str) -> tuple[int, str | None]:
    """(node, name) of the object holding `model`'s layers: the root (node 0, no name) when the root is a model,
    else the one child of the root whose layers are as many as the architecture's."""
    if not objects or _layer_count(objects, 0):
        return 0, None
    models = {name: child for name, child in objects[0].children.items()
              if child < len(objects) and _layer_count(objects, child)}
    if not models:
        return 0, None  # no model among them: every variable is reported as belonging to no layer
    layers = len(_tf_keras_layers(model))
    fits = [name for name, child in models.items() if _holds(model, objects, child)]
    listed = ", ".join(f"{name} ({_layer_count(objects, child)} layers)" for name, child in models.items())
    if not fits:
        raise ReadError(f"{where}: a checkpoint of several objects, whose models are {listed}; none has the "
                        f"architecture's {layers} layers: is it the model these weights were saved from?")
    if len(fits) > 1:
        raise ReadError(f"{where}: the checkpoint holds {len(fits)} models of the architecture's {layers} layers "
                        f"({', '.join(fits)}): which one is meant cannot be told from the files; restore the one "
                        f"you mean with TensorFlow (tf.train.Checkpoint({fits[0]}=model).restore(PREFIX)) and save "
                        "it alone (model.save('model.keras'))")
    return models[fits[0]], fits[0]
