"""Live subclassed Keras models: layers found as the model's attributes, keyed by attribute path.

A subclassed model (`class Net(keras.Model)` with its own `call`) records no graph, but its
layers are attributes (`self.encoder`, `self.blocks = [...]`), and the PyTorch twin written
for it usually has the same attribute names (`self.encoder`, `self.blocks = nn.ModuleList`).
Walking the attributes in the order they were assigned gives each built-in Keras layer its
key (`encoder.proj`, `blocks.0`), and its kind's rule converts it as in any model; the
user's own layer classes are walked into. A private attribute holding one layer
(`self._dense`, as KerasHub's layers keep theirs) counts too, after the public ones; private
lists and dicts do not (Keras keeps its own bookkeeping there: `_layers`, `_operations`).
Keras's `.keras` writer keys them the same way. Variables a user's class creates itself
(`add_weight`) have no rule: they form a layer of that class, refused by name like any
layer without a rule.
"""
from __future__ import annotations

from typing import Any, Iterator

from ..config import Config
from ..graph import Layer, ModelGraph

#: packages whose layer classes are Keras's own (their kinds have rules); anything else is the user's
KERAS_PACKAGES = ("keras", "tf_keras", "tensorflow")


def is_subclassed(model: Any) -> bool:
    """A model whose config lists no layers: the user's class with its own `call`."""
    if type(model).__name__ in ("Sequential", "Functional") and is_keras_class(model):
        return False
    try:
        config = model.get_config()
    except NotImplementedError:  # tf.keras subclassed models
        return True
    return not (isinstance(config, dict) and "layers" in config) and not isinstance(config, list)


def read_subclassed(model: Any, where: str, version: str, nested: Any) -> ModelGraph:
    """Every weighted layer reachable through the model's attributes, keyed by attribute path.

    `nested(model, where)` reads a built-in (Sequential or functional) model met on the way.
    """
    seen: set[int] = set()
    layers = list(layers_of(model, (), seen, where, nested))
    return ModelGraph(layers=layers, source=where, format="live-subclassed", keras_version=version)


def layers_of(owner: Any, path: tuple[str, ...], seen: set[int], where: str, nested: Any) -> Iterator[Layer]:
    """The weighted layers reachable from `owner`'s attributes, keys under `path`; the variables `owner` holds
    outside them, as one layer of its class (no rule converts those)."""
    covered: set[int] = set()
    for attribute_path, layer in _attribute_layers(owner, path):
        covered.update(id(variable) for variable in layer.weights)
        if id(layer) in seen:
            continue  # a layer reached twice (shared): its weights once, under its first path
        seen.add(id(layer))
        if not is_keras_class(layer):
            yield from layers_of(layer, attribute_path, seen, where, nested)
        elif hasattr(layer, "layers") and not is_subclassed(layer):
            sub = nested(layer, f"{where}/{'/'.join(attribute_path)}")
            model = Layer(name=attribute_path[-1], class_name=type(layer).__name__, config=Config({}),
                          path=attribute_path, children=[_under(child, attribute_path) for child in sub.layers])
            yield model
        elif hasattr(layer, "layers"):  # a built-in Model class used as a base without its own graph
            yield from layers_of(layer, attribute_path, seen, where, nested)
        elif layer.weights:
            yield _leaf(layer, attribute_path, where)
    own = [variable for variable in getattr(owner, "weights", []) if id(variable) not in covered]
    if own:  # variables the user's class made itself (add_weight, private sublayers): no rule converts them
        from .live import _tensor

        here = path or (str(getattr(owner, "name", "") or type(owner).__name__),)
        yield Layer(name=here[-1], class_name=type(owner).__name__, config=Config({}), path=here, has_config=False,
                    module=type(owner).__module__,
                    tensors=[_tensor(variable, f"{where}/{'/'.join(here)}") for variable in own])


def _attribute_layers(owner: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(attribute path, layer) of each public attribute holding a layer, a list or a dict of layers,
    in the order the attributes were assigned (lists by index, dicts by key); then each private attribute
    holding one layer."""
    for name, value in vars(owner).items():
        if name.startswith("_"):
            continue
        if _is_layer(value):
            yield path + (name,), value
        elif isinstance(value, (list, tuple)) or type(value).__name__ in ("ListWrapper", "TrackedList"):
            for index, item in enumerate(value):
                if _is_layer(item):
                    yield path + (name, str(index)), item
        elif isinstance(value, dict) or type(value).__name__ in ("_DictWrapper", "TrackedDict"):
            for key, item in value.items():
                if _is_layer(item):
                    yield path + (name, str(key)), item
    for name, value in vars(owner).items():
        if name.startswith("_") and not name.startswith("__") and _is_layer(value):
            yield path + (name,), value


def _is_layer(value: Any) -> bool:
    return all(hasattr(value, attribute) for attribute in ("weights", "get_config", "build")) and \
        not isinstance(value, type)


def is_keras_class(layer: Any) -> bool:
    return type(layer).__module__.split(".")[0] in KERAS_PACKAGES


def _leaf(layer: Any, path: tuple[str, ...], where: str) -> Layer:
    from .live import _tensor

    config = layer.get_config()
    leaf = Layer(name=path[-1], class_name=type(layer).__name__, config=Config(config if isinstance(config, dict)
                                                                                  else {}),
                 path=path, module=type(layer).__module__,
                 tensors=[_tensor(variable, f"{where}/{'/'.join(path)}") for variable in layer.weights])
    leaf.input_shape = _built_shape(layer)
    return leaf


def _built_shape(layer: Any) -> tuple[int | None, ...] | None:
    """The input shape the layer was built with, as a saved file's build_config records it (a rule resolves
    positive axes by its rank), when Keras says."""
    try:
        built = layer.get_build_config() if hasattr(layer, "get_build_config") else None
    except Exception:  # a user's override of Keras's own method
        return None
    shape = built.get("input_shape") if isinstance(built, dict) else None
    if isinstance(shape, (list, tuple)) and all(dim is None or (isinstance(dim, int) and not isinstance(dim, bool))
                                               for dim in shape):
        return tuple(shape)
    return None


def _under(layer: Layer, prefix: tuple[str, ...]) -> Layer:
    """A nested built-in model's layer, its path (and its children's) under the attribute path."""
    layer.path = prefix + layer.path
    for child in layer.children or []:
        _under(child, prefix)
    return layer
