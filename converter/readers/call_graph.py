"""A model config's record of its calls, parsed once into the neutral `CallGraph`.

Keras 2 writes each call (an inbound node) as a list of `[layer, node, tensor, kwargs]`
entries, Keras 3 as `{"args": [...], "kwargs": {...}}` with tensors as `__keras_tensor__`
objects; models list their `input_layers` and `output_layers` as `[layer, node, tensor]`
(Keras 3 unwraps a single one). A Sequential records none of this: its calls are its
layers in order. Every reference is checked here, so the module builder only walks.
"""
from __future__ import annotations

from typing import Any, Callable

from ..config import Config
from ..errors import ReadError
from ..graph import Call, CallGraph, Layer, Ref


def call_graph(model: Layer, where: str) -> CallGraph:
    """The calls of `model` (a Sequential or Functional layer with children), checked."""
    children = model.children or []
    if model.class_name == "Sequential":
        return _sequential(model, children, where)
    by_name = {child.name: child for child in children}
    parsed = []
    for child in children:
        if child.class_name == "InputLayer":
            continue
        nodes = child.inbound_nodes or []
        if not isinstance(nodes, list):
            raise ReadError(f"{where}: layer {child.name}: inbound_nodes is not a list; the config is malformed")
        for node, item in enumerate(nodes):
            shapes: dict[Ref, tuple[int | None, ...]] = {}
            args, kwargs, positional = _parse_node(item, f"{where}: layer {child.name}", shapes)
            parsed.append((child, node, args, kwargs, positional, shapes))
    inputs = []
    for ref in _refs(model.config.get("input_layers"), f"{where}: model {model.name}: input_layers"):
        if ref[0] not in by_name:
            raise ReadError(f"{where}: model {model.name} names input {ref[0]!r}, which is none of its layers")
        inputs.append(by_name[ref[0]])
    outputs = _refs(model.config.get("output_layers"), f"{where}: model {model.name}: output_layers")
    referenced: list[Ref] = list(outputs)
    for _, _, args, kwargs, _, _ in parsed:
        referenced += args
        _collect(list(kwargs.values()), referenced)
    keras3 = any(isinstance(item, dict) for child in children if isinstance(child.inbound_nodes, list)
                 for item in child.inbound_nodes)
    shift_calls, shift_outputs = _nested_node_shifts(children, referenced, keras3)
    calls = [Call(child, node, [shift_calls(ref) for ref in args], _map_refs(kwargs, shift_calls),
                  _map_refs(positional, shift_calls), {shift_calls(ref): shape for ref, shape in shapes.items()})
             for child, node, args, kwargs, positional, shapes in parsed]
    outputs = [shift_outputs(ref) for ref in outputs]
    if not outputs:
        raise ReadError(f"{where}: model {model.name} lists no outputs; the config is malformed")
    unknown = [ref[0] for ref in outputs if ref[0] not in by_name]
    if unknown:
        raise ReadError(f"{where}: model {model.name} names output {unknown[0]!r}, which is none of its layers")
    return CallGraph(inputs, calls, outputs)


def _sequential(model: Layer, children: list[Layer], where: str) -> CallGraph:
    inputs = [child for child in children if child.class_name == "InputLayer"]
    layers = [child for child in children if child.class_name != "InputLayer"]
    if not layers:
        raise ReadError(f"{where}: Sequential model {model.name} has no layers")
    if not inputs:  # Keras 2: the first layer carries batch_input_shape
        first = layers[0]
        shape = first.config.get("batch_input_shape")
        inputs = [Layer(name=f"{first.name}_input", class_name="InputLayer",
                        config=Config({"batch_input_shape": shape}, first.config.where), path=())]
    calls, previous = [], (inputs[0].name, 0, 0)
    for child in layers:
        calls.append(Call(child, 0, [previous], {}, [previous]))
        previous = (child.name, 0, 0)
    return CallGraph(inputs[:1], calls, [previous])


def _nested_node_shifts(children: list[Layer], referenced: list[Ref], keras3: bool
                        ) -> tuple[Callable[[Ref], Ref], Callable[[Ref], Ref]]:
    """How the calls' references and the model's outputs number a nested model's calls: from 1 where
    a model built on an Input holds a node 0 linking its own input to its output, not saved.

    Keras 2 numbers both alike, and which models skip differs by version (Keras 2.0-2.3: every
    nested model, Sequential included; tf.keras 2.4+: functional ones and Sequential ones that
    start with an InputLayer), so the references tell: every saved call of a model leads to an
    output and is referenced, so they number its calls 0..n-1 or 1..n, and a model whose call 0
    nobody names skips it. Keras 3 numbers a call's arguments from 0 and the model's outputs from
    1 for a nested functional model (its loader subtracts 1 there only).
    """
    def shifting(skipping: set[str]) -> Callable[[Ref], Ref]:
        return lambda ref: (ref[0], ref[1] - 1, ref[2]) if ref[0] in skipping and ref[1] > 0 else ref

    nested = [child for child in children if child.is_model and child.children]
    if keras3:
        return shifting(set()), shifting({child.name for child in nested if child.class_name != "Sequential"})
    named: dict[str, set[int]] = {}
    for ref in referenced:
        named.setdefault(ref[0], set()).add(ref[1])
    both = shifting({child.name for child in nested if named.get(child.name) and 0 not in named[child.name]})
    return both, both


def _map_refs(value: Any, shift: Callable[[Ref], Ref]) -> Any:
    """`value` with every Ref in it (nested in lists and dicts) passed through `shift`."""
    if isinstance(value, tuple):
        return shift(value)
    if isinstance(value, list):
        return [_map_refs(item, shift) for item in value]
    if isinstance(value, dict):
        return {key: _map_refs(item, shift) for key, item in value.items()}
    return value


def input_layer_names(model: Layer, where: str) -> list[str]:
    """The layers a model's `input_layers` name, in the order its call takes them."""
    return [ref[0] for ref in _refs(model.config.get("input_layers"), f"{where}: model {model.name}: input_layers")]


def _refs(entry: Any, where: str) -> list[Ref]:
    """input_layers/output_layers: a list of [name, node, tensor], or Keras 3's single one unwrapped."""
    if not entry:
        return []
    if not isinstance(entry, list):
        raise ReadError(f"{where}: expected a list of [layer, node, tensor], found {_short(entry)}")
    if isinstance(entry[0], str):
        entry = [entry]
    return [_ref(item, where) for item in entry]


def _ref(item: Any, where: str) -> Ref:
    if (isinstance(item, (list, tuple)) and len(item) >= 3 and isinstance(item[0], str)
            and _index(item[1]) and _index(item[2])):
        return (item[0], int(item[1]), int(item[2]))
    raise ReadError(f"{where}: a tensor reference {_short(item)} is not [layer, node, tensor]; the config is malformed")


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 20


def _parse_node(node: Any, where: str, shapes: dict[Ref, tuple[int | None, ...]]
                ) -> tuple[list[Ref], dict[str, Any], list[Any]]:
    """One call: its tensor arguments in order, keyword arguments and positional arguments.

    Keras 3 records each tensor argument's shape: they go into `shapes`.
    """
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        raw_args, raw_kwargs = node.get("args", []), node.get("kwargs") or {}
        if not isinstance(raw_args, list) or not isinstance(raw_kwargs, dict):
            raise ReadError(f"{where}: a call's args or kwargs are malformed")
        positional = [_keras3_value(item, where, shapes) for item in raw_args]
        args: list[Ref] = []
        _collect(positional, args)
        kwargs = {str(key): _keras3_value(value, where, shapes) for key, value in raw_kwargs.items()}
        return args, kwargs, positional
    if not isinstance(node, list) or not node:  # Keras 2: [[name, node, tensor, kwargs], ...]
        raise ReadError(f"{where}: a call is neither a Keras 2 list nor a Keras 3 object: {_short(node)}")
    if isinstance(node[0], str):  # tf.keras op layers write a call of one tensor as that one entry
        node = [node]
    args = []
    first: list[Any] = []  # the call's first argument: one tensor, or the list of them (merges, tf.concat)
    for item in node:
        if isinstance(item, list) and len(item) >= 3 and item[0] == "_CONSTANT_VALUE" and item[1] == -1:
            first.append(_keras2_value(item[2], where))  # tf.keras op layers: a constant first argument
        else:
            args.append(_ref(item, where))
            first.append(args[-1])
    extra = node[0][3] if isinstance(node[0], list) and len(node[0]) > 3 else {}
    if not isinstance(extra, dict):
        raise ReadError(f"{where}: a call's keyword arguments are not an object: {_short(extra)}")
    kwargs = {str(key): _keras2_value(value, where) for key, value in extra.items()}
    return args, kwargs, [first[0]] if len(first) == 1 else [first]


def _keras3_value(value: Any, where: str, shapes: dict[Ref, tuple[int | None, ...]]) -> Any:
    """A Keras 3 argument: a tensor (as a Ref), a list of arguments, or a constant."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        config = value.get("config")
        ref = _ref(config.get("keras_history") if isinstance(config, dict) else None, where)
        shape = config.get("shape") if isinstance(config, dict) else None
        if isinstance(shape, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
                                           for d in shape):
            shapes[ref] = tuple(shape)
        return ref
    if isinstance(value, list):
        return [_keras3_value(item, where, shapes) for item in value]
    return value


def _keras2_value(value: Any, where: str) -> Any:
    """A Keras 2 keyword argument: [name, node, tensor] is a tensor, lists of them too."""
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return _ref(value, where)
    if isinstance(value, list) and value and all(isinstance(item, list) for item in value):
        return [_keras2_value(item, where) for item in value]
    return value


def _collect(item: Any, into: list[Ref]) -> None:
    if isinstance(item, tuple):
        into.append(item)
    elif isinstance(item, list):
        for element in item:
            _collect(element, into)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
