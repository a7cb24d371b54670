"""The objects of a TF2 checkpoint, and which of them holds the model an architecture describes.

`model.save_weights` makes the model the checkpoint's root. A `tf.train.Checkpoint` of several objects puts each
under its own name instead: TensorFlow's GAN tutorials save `generator=`, `discriminator=` and their optimizers,
custom training loops `model=` and `optimizer=`. The model meant is the one object whose numbered layers
(`layer-K`) are as many as the architecture's; the others are left out, and two that fit are refused by name.
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
    """The local names of a model object's layers (`layer-0`, `layer-1`, ...)."""
    return [local for local in node.children if NUMBERED.match(local)]


def model_object(model: Layer, objects: list[ObjectNode], where: str) -> tuple[int, str | None]:
    """(node, name) of the object holding `model`'s layers: the root (node 0, no name) when the root is a model,
    else the one child of the root whose layers are as many as the architecture's."""
    if not objects or numbered(objects[0]):
        return 0, None
    models = {name: child for name, child in objects[0].children.items()
              if child < len(objects) and numbered(objects[child])}
    if not models:
        return 0, None  # no model among them: every variable is reported as belonging to no layer
    layers = len([child for child in model.children or []
                  if not (model.class_name == "Sequential" and child.class_name == "InputLayer")])
    extra = 1 if model.class_name == "Sequential" else 0  # an early Sequential counted the InputLayer it made
    fits = [name for name, child in models.items() if layers <= len(numbered(objects[child])) <= layers + extra]
    listed = ", ".join(f"{name} ({len(numbered(objects[child]))} layers)" for name, child in models.items())
    if not fits:
        raise ReadError(f"{where}: a checkpoint of several objects, whose models are {listed}; none has the "
                        f"architecture's {layers} layers: is it the model these weights were saved from?")
    if len(fits) > 1:
        raise ReadError(f"{where}: the checkpoint holds {len(fits)} models of the architecture's {layers} layers "
                        f"({', '.join(fits)}): which one is meant cannot be told from the files; restore the one "
                        f"you mean with TensorFlow (tf.train.Checkpoint({fits[0]}=model).restore(PREFIX)) and save "
                        "it alone (model.save('model.keras'))")
    return models[fits[0]], fits[0]
