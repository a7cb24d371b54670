"""Parse a Keras model config (Keras 2.0 to Keras 3) into layers in graph order."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..config import Config, policy_name
from ..errors import ReadError
from ..graph import CallGraph, InputSpec, Layer
from . import legacy_merge
from .call_graph import call_graph, input_layer_names
from .limits import MAX_MODEL_DEPTH

#: Config class names of models that can be nested as layers.
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})


def parse_model(model_config: Any, where: str) -> tuple[Layer, list[InputSpec]]:
    """Parse a model config into a root `Layer` whose children are the model's layers.

    Accepts Sequential configs (including Keras 2.0's bare list of layers) and
    Functional ones; `where` names the file for error messages.
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise ReadError(f"{where}: the model config is not a Keras model config (no class_name)")
    root = _parse_model_entry(model_config, (), where)
    return root, _input_specs(model_config, root)


def is_model_entry(entry: dict[str, Any]) -> bool:
    config = entry.get("config")
    return (isinstance(entry.get("class_name"), str) and entry["class_name"] in MODEL_CLASSES) or (
        isinstance(config, dict) and isinstance(config.get("layers"), list)
    ) or isinstance(config, list)


def _parse_model_entry(entry: dict[str, Any], path: tuple[str, ...], where: str) -> Layer:
    if len(path) > MAX_MODEL_DEPTH:
        raise ReadError(f"{where}: models nested more than {MAX_MODEL_DEPTH} deep; the config is crafted")
    class_name = _class_name(entry, where)
    config = entry.get("config")
    if isinstance(config, list):  # Keras 2.0 wrote Sequential configs as a bare list
        class_name, config = "Sequential", {"name": entry.get("name", "sequential"), "layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ReadError(f"{where}: model config of class {class_name} has no list of layers")
    name = config.get("name") or entry.get("name") or class_name.lower()
    if not isinstance(name, str):
        raise ReadError(f"{where}: a model of class {class_name} has a name that is not a string: {str(name)[:60]}")
    if class_name == "Sequential" and legacy_merge.starts_with_merge(config["layers"]):
        class_name, config = "Functional", legacy_merge.as_functional(name, config["layers"], where)
    sequential = class_name == "Sequential"
    children: list[Layer] = []
    previous: str | None = None
    for layer_entry in config["layers"]:
        child = _parse_layer_entry(layer_entry, path, where)
        if sequential:
            child.inbound = [previous] if previous else []
        children.append(child)
        previous = child.name
    repeated = sorted(name for name, count in Counter(child.name for child in children).items() if count > 1)
    if repeated:
        raise ReadError(f"{where}: model {name!r} has several layers named {repeated[0]!r}; Keras names layers "
                        "uniquely, so the config is malformed")
    label = f"{where}: model {name} ({class_name})"
    model = Layer(name=name, class_name=class_name, config=Config(config, label), path=path, children=children)
    try:
        model.call_graph = call_graph(model, where)
    except ReadError as error:  # weights still convert; the module builder refuses with this
        model.call_graph = CallGraph([], [], [], error=str(error))
    return model


def _class_name(entry: dict[str, Any], where: str) -> str:
    class_name = entry.get("class_name")
    if not isinstance(class_name, str) or not class_name or len(class_name) > 200 or not class_name.isprintable():
        raise ReadError(f"{where}: a layer entry's class_name is not a name: {str(class_name)[:60]}")
    return class_name


def _parse_layer_entry(entry: Any, parent: tuple[str, ...], where: str) -> Layer:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), (dict, list)):
        raise ReadError(f"{where}: a layer entry of the model config has no config: {str(entry)[:80]}")
    config = entry["config"]
    name = entry.get("name") or (config.get("name") if isinstance(config, dict) else None)
    if not name or not isinstance(name, str):
        raise ReadError(f"{where}: a layer of class {str(entry.get('class_name'))[:60]} has no name in the config")
    path = parent + (name,)
    wrapped = config.get("layer") if isinstance(config, dict) and entry.get("class_name") == TIME_DISTRIBUTED \
        else None
    if is_model_entry(entry):
        layer = _parse_model_entry(entry, path, where)
        layer.name = name  # the name the outer model knows it by
    elif isinstance(wrapped, dict) and is_model_entry(wrapped):
        # TimeDistributed(model): the model's layers under the wrapper's name, as Keras stores their weights
        # (`time_distributed/layer/layers/dense`; tf.keras: `time_distributed/dense/kernel:0`)
        layer = _parse_model_entry(wrapped, path, where)
        layer.name, layer.class_name = name, TIME_DISTRIBUTED
    else:
        class_name = _class_name(entry, where)
        if class_name == legacy_merge.MERGE:  # Keras 2.0's functional merge([a, b], mode=...)
            class_name, config = legacy_merge.merge_layer(config, f"{where}: legacy Merge layer {name!r}")
        layer = Layer(name=name, class_name=class_name, config=Config(config, f"{where}: layer {name} ({class_name})"),
                      path=path, module=_text(entry.get("module")), registered_name=_text(entry.get("registered_name")))
        if class_name == "InputLayer" or "batch_input_shape" in layer.config:
            _shape_of(layer.config)  # checked once here: the module builder reads it
        if layer.module is None and _is_operation_entry(entry):
            layer.module = OPERATION_OF_UNKNOWN_MODULE
    stored_as = entry.get("stored_as")  # set only by readers/keras_hub.py
    layer.stored_as = stored_as if isinstance(stored_as, str) else None
    layer.inbound = _inbound_names(entry.get("inbound_nodes", []))
    layer.inbound_nodes = entry.get("inbound_nodes", [])
    build_config = entry.get("build_config")
    build_shape = build_config.get("input_shape") if isinstance(build_config, dict) else None
    if build_shape is not None and _is_shape(build_shape):
        layer.input_shape = tuple(build_shape)
    return layer


TIME_DISTRIBUTED = "TimeDistributed"  # a wrapper of a model is read as that model (Layer.time_distributed_model)


#: the module of an operation that Keras 3's legacy `.h5` writer saved without one
OPERATION_OF_UNKNOWN_MODULE = "keras.src.ops"


#: Keras 3 layers whose config holds no `trainable`, as an operation's does not (Keras 3.0 to 3.15: each
#: layer's get_config checked with 3.0.5, 3.3.3, 3.6.0, 3.9.2, 3.12.0 and 3.15.1)
LAYERS_WITHOUT_TRAINABLE = frozenset({"InputLayer", "Discretization", "HashedCrossing", "Pipeline",
                                      "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"})


def _is_operation_entry(entry: dict[str, Any]) -> bool:
    """An operation Keras 3 recorded in a functional graph and its legacy `.h5` writer saved like a layer but
    without its module (Keras cannot load such a file back). A layer's config holds `trainable` and `dtype`
    (but for LAYERS_WITHOUT_TRAINABLE); an operation's never holds `trainable` (`cast`, `zeros_like` hold a dtype:
    the one they make), and its calls are Keras 3's `args`/`kwargs` nodes. Only the legacy writer leaves out the
    `module` key: a `.keras` entry without a module (None) is the user's own layer, defined in a notebook or a
    script, whatever its config holds; so is a class registered as `package>Name` (the legacy writer's name)."""
    config, nodes = entry.get("config"), entry.get("inbound_nodes")
    return (isinstance(config, dict) and "trainable" not in config and "module" not in entry
            and ">" not in str(entry.get("class_name"))
            and entry.get("class_name") not in LAYERS_WITHOUT_TRAINABLE and isinstance(nodes, list) and bool(nodes)
            and all(isinstance(node, dict) and "args" in node for node in nodes))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 200 else None


def _is_shape(value: Any) -> bool:
    """A batch shape: a list of sizes (non-negative ints) or None for unknown ones."""
    return isinstance(value, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value)


def _inbound_names(nodes: Any) -> list[str]:
    """Names of inbound layers, from Keras 2 (nested lists) or Keras 3 (keras_history) nodes."""
    names: list[str] = []

    def visit(item: Any) -> None:
        if isinstance(item, dict):
            history = item.get("config", {}).get("keras_history") if isinstance(item.get("config"), dict) else None
            if isinstance(history, list) and history and isinstance(history[0], str):
                names.append(history[0])
                return
            for value in item.values():
                visit(value)
        elif isinstance(item, list):
            if item and isinstance(item[0], str) and len(item) >= 3 and isinstance(item[1], int):
                names.append(item[0])  # Keras 2: [layer_name, node_index, tensor_index, kwargs]
                return
            for value in item:
                visit(value)

    visit(nodes)
    return list(dict.fromkeys(names))


def _shape_of(config: dict[str, Any]) -> tuple[int | None, ...] | None:
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            if not _is_shape(config[key]):
                raise ReadError(f"{getattr(config, 'where', 'an input')}: {key} must be a list of sizes, found "
                                f"{str(config[key])[:60]}; the model config is malformed")
            return tuple(config[key])
    return None


def _input_specs(model_config: dict[str, Any], root: Layer) -> list[InputSpec]:
    """The model's inputs, from InputLayers (in the order of the model's `input_layers`: the order its call
    takes them, which the layers list need not follow) or a Sequential's first layer."""
    specs: list[InputSpec] = []
    for layer in root.children or []:
        if layer.class_name == "InputLayer":
            shape = _shape_of(layer.config)
            if shape is not None:
                specs.append(InputSpec(layer.name, shape, _dtype_name(layer.config.get("dtype"))))
    if specs:
        by_name = {spec.name: spec for spec in specs}
        listed = input_layer_names(root, "the model config")
        if sorted(listed) == sorted(by_name):
            specs = [by_name[name] for name in listed]
    if specs or not root.children:
        return specs
    first = root.children[0]
    shape = _shape_of(first.config)
    if shape is not None:
        specs.append(InputSpec(f"{first.name}_input", shape, _dtype_name(first.config.get("dtype"))))
    elif root.class_name == "Sequential" and first.is_model and first.children:
        # a Sequential starting with a model (Teachable Machine's exports: a Sequential of a MobileNet, then a
        # head): that model's inputs are the Sequential's
        return _input_specs(first.config, first)
    return specs


#: input dtypes a model may declare (anything else is refused: it would reach generated code and numpy)
INPUT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                          "uint16", "uint32", "uint64", "bool", "string"})


def _dtype_name(dtype: Any) -> str:
    """A Keras dtype entry (a string, or a Keras 3 DTypePolicy dict) as a dtype name."""
    dtype = policy_name(dtype)
    dtype = dtype if isinstance(dtype, str) and dtype else "float32"
    dtype = dtype.split("_")[-1] if dtype.startswith("mixed_") else dtype
    if dtype not in INPUT_DTYPES:
        raise ReadError(f"an input declares dtype {dtype[:40]!r}, which is not a Keras tensor dtype; the model config "
                        "is malformed")
    return dtype


def snake_class(layer_name: str) -> str:
    """The snake-case class name inside an auto-generated layer name (`dense_3` -> `dense`).

    Keras 2 on TensorFlow 1 named a weight's scope uniquely in the session's graph, so a model
    built again there saved `dense_3`'s weights under `dense_3_4`: every numeric suffix goes.
    Tagging resolves the class against the rule registry.
    """
    return re.sub(r"(_\d+)+$", "", layer_name)


#: what Keras 2.0 and 2.1 wrote for a numpy value in a config (its get_json_type): {"type": type name, "value":
#: tolist()}; LeakyReLU's and ELU's alpha are 0-d arrays there. No Keras since reads it back.
_NUMPY_TYPES = {"ndarray", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                "uint32", "uint64", "bool_"}


def _is_numpy_value(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"type", "value"} and value["type"] in _NUMPY_TYPES


def holds_numpy_values(config: Any) -> bool:
    """Whether a config holds a numpy value as Keras 2.0 and 2.1 wrote it."""
    if _is_numpy_value(config):
        return True
    values = config.values() if isinstance(config, dict) else config if isinstance(config, list) else ()
    return any(holds_numpy_values(value) for value in values)


def numpy_values_read(config: Any) -> Any:
    """`config` with each of Keras 2.0's numpy values replaced by the value it holds."""
    if _is_numpy_value(config):
        return config["value"]
    if isinstance(config, dict):
        return {key: numpy_values_read(value) for key, value in config.items()}
    return [numpy_values_read(value) for value in config] if isinstance(config, list) else config


#: the recurrent layers a Bidirectional wraps, by the snake-case name Keras gives them: Keras names the wrapper's
#: two copies `forward_<inner name>` and `backward_<inner name>` (`forward_lstm_1`)
WRAPPED_RECURRENT = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN", "cu_dnnlstm": "CuDNNLSTM",
                     "cu_dnngru": "CuDNNGRU"}
BIDIRECTIONAL_COPY = re.compile(rf"(forward|backward)_({'|'.join(WRAPPED_RECURRENT)})(?:_\d+)?")


def bidirectional_config(inner: str, name: str) -> Config:
    """The config of a Bidirectional told from a weights-only file's names: the recurrent class it wraps, and
    Keras's defaults for the rest (which the report warns of)."""
    return Config({"layer": {"class_name": inner, "config": {}}, "merge_mode": "concat"},
                  f"{name} (Keras's defaults: the file holds no config)")
