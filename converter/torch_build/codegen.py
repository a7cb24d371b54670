"""Write the PyTorch source of a Keras model: one nn.Module class per (nested) model.

Each Keras layer becomes an attribute named after it (the converted state_dict's keys
fit), and `forward` calls them in graph order, one line per Keras call. Every value
carries its layout: "keras" (channels-last, as Keras holds it) or "cf" (channels-first,
as torch convolutions want it); ops ask for the layout they need and the generator
inserts the permutes. Generating source text keeps `export` and `to_torch` one path.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..convert import Conversion, GraphContext
from ..errors import UnsupportedLayerError
from ..graph import Layer, ModelGraph, key_name

CHANNELS_FIRST = "cf"
KERAS = "keras"


@dataclass
class Value:
    """A tensor in the generated forward: its Python expression, layout, rank and Keras mask."""

    expr: str
    layout: str
    rank: int | None
    mask: str | None = None
    keras_view: str | None = None  # for per-layer checks: the value as Keras holds it, when not a permute
    flat_order: str | None = None  # a flattened feature map: "hwc" (Keras's order) or "chw" (torch's)


Ref = tuple[str, int, int]  # (layer name, node index, tensor index), as Keras configs write them


@dataclass
class Call:
    """One call of a layer in the Keras graph."""

    layer: Layer
    node: int
    args: list[Ref]
    kwargs: dict[str, Any]
    positional: list[Any] = field(default_factory=list)  # tensors (as Refs) and constants, in order


@dataclass
class ClassSource:
    name: str
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)


OpFunction = Callable[["Emitter"], "Value | list[Value]"]
OPS: dict[str, OpFunction] = {}


def op(*class_names: str) -> Callable[[OpFunction], OpFunction]:
    """Register how the layers of `class_names` are written in a generated forward."""

    def register(function: OpFunction) -> OpFunction:
        for name in class_names:
            OPS[name] = function
        return function

    return register


class Emitter:
    """What an op sees of one Keras call, and how it adds code for it."""

    def __init__(self, generator: Generator, source: ClassSource, call: Call, inputs: list[Value],
                 kwargs: dict[str, Any]) -> None:
        self.generator = generator
        self.source = source
        self.layer = call.layer
        self.call = call
        self.inputs = inputs
        self.kwargs = kwargs
        self.config = call.layer.config
        self.result = generator.results.get(call.layer.key)
        self.name = key_name(call.layer.name)
        self.statements: list[str] = []

    @property
    def attribute(self) -> str:
        """How forward refers to this layer's module."""
        return attribute_ref(self.name)

    @property
    def keras_major(self) -> int:
        return self.generator.keras_major

    def arg(self, index: int = 0, layout: str | None = None) -> str:
        """Input `index` as an expression, converted to `layout` when one is asked for."""
        return self.convert(self.inputs[index], layout)

    def convert(self, value: Value, layout: str | None) -> str:
        return self.generator.convert(value, layout)

    def module(self, constructor: str) -> str:
        """Define `self.<layer> = constructor` once (a shared layer is defined once)."""
        if self.name not in self.source.defined:
            self.source.defined.add(self.name)
            self.source.init.append(define_attribute(self.name, constructor))
        return self.attribute

    def helper(self, name: str) -> str:
        """A runtime helper by name; its source goes into the generated file."""
        self.generator.helpers.add(name)
        return name

    def statement(self, line: str) -> None:
        """A line to run before the layer's output is assigned."""
        self.statements.append(line)

    def variable(self, suffix: str) -> str:
        return f"{self.generator.value_name(self.layer, self.call.node)}_{suffix}"

    def mask(self) -> str | None:
        """The Keras mask of this call: passed explicitly (Keras 3 configs) or carried by the input."""
        given = self.kwargs.get("mask")
        if isinstance(given, Value):
            return given.expr
        return self.inputs[0].mask if self.inputs else None

    def positional(self, index: int) -> Any:
        """Positional argument `index`: a Value for a tensor, else the constant."""
        item = self.call.positional[index]
        return self.generator.values[item] if isinstance(item, tuple) else item

    def unsupported(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(
            f"{self.generator.graph.source}: cannot build layer {self.layer.key} ({self.layer.class_name}): {why}",
            [(self.layer.key, self.layer.class_name)],
        )


def attribute_ref(name: str) -> str:
    return f"self.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(self, {name!r})"


def define_attribute(name: str, constructor: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"self.{name} = {constructor}"
    return f"self.add_module({name!r}, {constructor})"


class Generator:
    """Generates the classes of one converted model."""

    def __init__(self, graph: ModelGraph, conversion: Conversion, input_layout: str, trace: bool) -> None:
        if graph.root is None:
            raise UnsupportedLayerError(
                f"{graph.source}: no architecture in this file (a weights-only file): give one with "
                "architecture= (a .keras file, a full-model .h5 or a config JSON)", [])
        self.graph = graph
        self.context = GraphContext(graph)
        self.results = {result.layer.key: result for result in conversion.layers}
        self.input_layout = input_layout
        self.trace = trace
        self.helpers: set[str] = set()
        self.classes: list[ClassSource] = []
        self.class_names: set[str] = set()
        self.output_ranks: dict[str, list[int | None]] = {}  # per generated class
        self.nested_class: dict[str, str] = {}  # model name -> its class
        major = re.match(r"\d+", graph.keras_version)
        self.keras_major = int(major.group()) if major else 3

    def convert(self, value: Value, layout: str | None) -> str:
        """`value` as an expression in `layout` (None: as it is)."""
        if layout is None or value.layout == layout or value.rank == 2:
            return value.expr
        function = "to_cf" if layout == CHANNELS_FIRST else "to_cl"
        self.helpers.add(function)
        return f"{function}({value.expr})"

    def boundary_layout(self, rank: int | None) -> str:
        """The layout a model takes and returns: channels-first images in the torch layout."""
        return CHANNELS_FIRST if self.input_layout == "torch" and rank in (4, 5) else KERAS

    def generate(self) -> str:
        """The root class's name; self.classes holds every class, nested ones first."""
        unsupported = [layer for layer in self.graph.walk()
                       if layer.class_name not in OPS and layer.class_name != "InputLayer"]
        if unsupported:
            names = ", ".join(f"{layer.key} ({layer.class_name})" for layer in unsupported)
            raise UnsupportedLayerError(
                f"{self.graph.source}: no PyTorch equivalent for {len(unsupported)} layer(s): {names}; "
                "Lambda and custom layers need hand-written code",
                [(layer.key, layer.class_name) for layer in unsupported])
        return self.model_class(self.graph.root, root=True)  # type: ignore[arg-type]

    def value_name(self, layer: Layer, node: int) -> str:
        return "x_" + key_name(layer.name) + (f"_{node}" if node else "")

    def model_class(self, model: Layer, root: bool = False) -> str:
        source = ClassSource(self.class_name(model.name))
        self.nested_class[model.name] = source.name
        inputs, calls, outputs = model_calls(model)
        self.consumers = {}
        for call in calls:
            for ref in call_refs(call):
                self.consumers.setdefault(ref[0], []).append(call.layer)
        self.outputs = {ref[0] for ref in outputs}
        values: dict[Ref, Value] = {}
        self.values = values
        for layer in inputs:
            rank = len(input_shape(layer)) if input_shape(layer) else None
            name = self.value_name(layer, 0)
            source.signature.append(name)
            values[(layer.name, 0, 0)] = Value(name, self.boundary_layout(rank), rank)
            if root and self.trace:
                source.forward.append(self.capture_line(layer.name, values[(layer.name, 0, 0)]))
        pending = list(calls)
        while pending:
            ready = [call for call in pending if all(ref in values for ref in call_refs(call))]
            if not ready:
                missing = sorted({ref[0] for call in pending for ref in call.args if ref not in values})
                raise UnsupportedLayerError(f"{self.graph.source}: the graph of {model.name} cannot be ordered "
                                            f"(inputs never computed: {missing})", [])
            for call in ready:
                pending.remove(call)
                produced = self.emit_call(source, call, values)
                for index, value in enumerate(produced):
                    values[(call.layer.name, call.node, index)] = value
                if root and self.trace and call.node == 0:
                    source.forward.append(self.capture_line(call.layer.name, produced[0]))
        results = [self.convert(values[ref], self.boundary_layout(values[ref].rank)) for ref in outputs]
        source.forward.append("return " + (results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"))
        self.output_ranks[source.name] = [values[ref].rank for ref in outputs]
        self.classes.append(source)
        return source.name

    def capture_line(self, name: str, value: Value) -> str:
        if value.keras_view:
            return f"self._capture({name!r}, {value.keras_view}, False)"
        return f"self._capture({name!r}, {value.expr}, {value.layout == CHANNELS_FIRST and value.rank != 2})"

    def emit_call(self, source: ClassSource, call: Call, values: dict[Ref, Value]) -> list[Value]:
        inputs = [values[ref] for ref in call.args]
        kwargs = {key: values[value] if isinstance(value, tuple) and value in values else value
                  for key, value in call.kwargs.items()}
        self.values = values
        if call.layer.is_model:
            return self.emit_nested(source, call, inputs)
        emitter = Emitter(self, source, call, inputs, kwargs)
        produced = OPS[call.layer.class_name](emitter)
        produced = produced if isinstance(produced, list) else [produced]
        source.forward.extend(emitter.statements)
        assigned = []
        for index, value in enumerate(produced):
            name = self.value_name(call.layer, call.node) + (f"_{index}" if len(produced) > 1 else "")
            if value.expr != name:
                source.forward.append(f"{name} = {value.expr}")
            assigned.append(Value(name, value.layout, value.rank, value.mask, value.keras_view, value.flat_order))
        return assigned

    def emit_nested(self, source: ClassSource, call: Call, inputs: list[Value]) -> list[Value]:
        """A model used as a layer: its own class, called with the layouts its forward takes."""
        name = key_name(call.layer.name)
        if name not in source.defined:
            source.defined.add(name)
            outer = (self.consumers, self.outputs, self.values)
            source.init.append(define_attribute(name, f"{self.model_class(call.layer)}()"))
            self.consumers, self.outputs, self.values = outer
        class_name = self.nested_class[call.layer.name]
        model_inputs, _, _ = model_calls(call.layer)
        arguments = []
        for value, layer in zip(inputs, model_inputs):
            shape = input_shape(layer)
            arguments.append(self.convert(value, self.boundary_layout(len(shape) if shape else None)))
        result = self.value_name(call.layer, call.node)
        ranks = self.output_ranks[class_name]
        targets = [result] if len(ranks) == 1 else [f"{result}_{i}" for i in range(len(ranks))]
        source.forward.append(f"{', '.join(targets)} = {attribute_ref(name)}({', '.join(arguments)})")
        return [Value(target, self.boundary_layout(rank), rank) for target, rank in zip(targets, ranks)]

    def class_name(self, model_name: str) -> str:
        base = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", model_name) if part) or "Model"
        base = base if base[0].isalpha() else "Model" + base
        name, counter = base, 1
        while name in self.class_names:
            counter += 1
            name = f"{base}{counter}"
        self.class_names.add(name)
        return name


def input_shape(layer: Layer) -> tuple | None:
    shape = layer.config.get("batch_shape") or layer.config.get("batch_input_shape")
    return tuple(shape) if shape else None


def call_refs(call: Call) -> list[Ref]:
    """Every tensor a call reads: its arguments and tensors passed by keyword."""
    return call.args + [value for value in call.kwargs.values() if isinstance(value, tuple)]


def model_calls(model: Layer) -> tuple[list[Layer], list[Call], list[Ref]]:
    """A model's input layers, its calls in config order, and its output references."""
    children = model.children or []
    by_name = {child.name: child for child in children}
    if model.class_name == "Sequential":
        inputs = [child for child in children if child.class_name == "InputLayer"]
        if not inputs:  # Keras 2: the first layer carries batch_input_shape
            first = children[0]
            inputs = [Layer(name=f"{first.name}_input", class_name="InputLayer",
                            config={"batch_input_shape": first.config.get("batch_input_shape")}, path=())]
        calls, previous = [], (inputs[0].name, 0, 0)
        for child in children:
            if child.class_name == "InputLayer":
                continue
            calls.append(Call(child, 0, [previous], {}))
            previous = (child.name, 0, 0)
        return inputs, calls, [previous]
    calls = []
    shift = _keras2_node_shift(children)
    for child in children:
        if child.class_name == "InputLayer":
            continue
        for node, (args, kwargs, positional) in enumerate(parse_nodes(child.inbound_nodes or [])):
            args = [shift(ref) for ref in args]
            kwargs = {key: shift(value) if isinstance(value, tuple) else value for key, value in kwargs.items()}
            positional = [shift(item) if isinstance(item, tuple) else item for item in positional]
            calls.append(Call(child, node, args, kwargs, positional))
    inputs = [by_name[ref[0]] for ref in refs(model.config.get("input_layers"))]
    return inputs, calls, [shift(ref) for ref in refs(model.config.get("output_layers"))]


def _keras2_node_shift(children: list[Layer]) -> Callable[[Ref], Ref]:
    """Keras 2 numbers the calls of a nested model built on an Input from 1 (its node 0 links
    its own input to its output and is not saved); Keras 3 from 0."""
    keras2 = any(child.inbound_nodes and isinstance(child.inbound_nodes[0], list) for child in children)
    skipping = {child.name for child in children if keras2 and child.is_model and child.children
                and (child.class_name != "Sequential" or child.children[0].class_name == "InputLayer")}

    def shift(ref: Ref) -> Ref:
        return (ref[0], ref[1] - 1, ref[2]) if ref[0] in skipping and ref[1] > 0 else ref

    return shift


def refs(entry: Any) -> list[Ref]:
    """input_layers/output_layers: a list of [name, node, tensor], or Keras 3's single one unwrapped."""
    if not entry:
        return []
    if isinstance(entry[0], str):
        entry = [entry]
    return [(str(item[0]), int(item[1]), int(item[2])) for item in entry]


def parse_nodes(nodes: list[Any]) -> list[tuple[list[Ref], dict[str, Any], list[Any]]]:
    """Each call's tensor arguments (in order), keyword arguments and positional arguments."""
    parsed = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            args: list[Ref] = []
            _collect(node.get("args", []), args)
            kwargs = {key: _tensor_or_value(value) for key, value in (node.get("kwargs") or {}).items()}
            positional = [_tensor_or_value(item) for item in node.get("args", [])]
        else:  # Keras 2: [[name, node, tensor, kwargs], ...]
            args = [(str(item[0]), int(item[1]), int(item[2])) for item in node]
            kwargs = {key: _tensor_or_value(value) for key, value in (node[0][3] if node and len(node[0]) > 3
                                                                       else {}).items()}
            positional = list(args)
        parsed.append((args, kwargs, positional))
    return parsed


def _collect(item: Any, into: list[Ref]) -> None:
    if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
        history = item["config"]["keras_history"]
        into.append((str(history[0]), int(history[1]), int(history[2])))
    elif isinstance(item, (list, tuple)):
        for element in item:
            _collect(element, into)


def _tensor_or_value(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = value["config"]["keras_history"]
        return (str(history[0]), int(history[1]), int(history[2]))
    if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return (str(value[0]), int(value[1]), int(value[2]))  # Keras 2 writes a tensor as [name, node, tensor]
    return value
