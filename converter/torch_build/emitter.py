"""What one generated class holds (`ClassSource`) and what a kind's forward sees of one Keras call
(`Emitter`, the protocol converter.kinds.forward.Emitter describes): the generator's side of a kind."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, compute_dtype, integer_policy
from ..conversion import LayerConversion, TorchModule
from ..errors import ReadError, UnsupportedLayerError
from ..graph import Call, Layer
from ..kinds.forward import Value
from ..source import MODULE_ATTRIBUTES, Namer
from .calls import tensor_arguments

if TYPE_CHECKING:
    from .codegen import Generator


@dataclass
class ClassSource:
    """One generated class: its lines, and the names it gave (attributes and forward's locals)."""

    name: str
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)  # Keras layers whose module is defined
    attributes: dict[str, str] = field(default_factory=dict)  # Keras layer name -> attribute
    attribute_names: Namer = field(default_factory=lambda: Namer(MODULE_ATTRIBUTES))  # self.<name>: own namespace
    local_names: Namer = field(default_factory=Namer)
    values: dict[tuple[str, int], str] = field(default_factory=dict)  # (layer, node) -> local
    # stateful recurrent layers (and nested models holding them) called here: each may be called once
    carried: set[str] = field(default_factory=set)
    keeps_states: bool = False  # whether its __init__ makes the dict those layers keep their states in

    def attribute(self, layer_name: str) -> str:
        """The attribute holding a Keras layer's module: its name made safe and unique."""
        if layer_name not in self.attributes:
            self.attributes[layer_name] = self.attribute_names.name(layer_name)
        return self.attributes[layer_name]

    def value(self, layer_name: str, node: int) -> str:
        """The local holding the output of a layer's call `node`."""
        if (layer_name, node) not in self.values:
            self.values[(layer_name, node)] = self.local_names.name(layer_name + (f"_{node}" if node else ""), "x_")
        return self.values[(layer_name, node)]


class Emitter:
    """What a kind's forward sees of one Keras call, and how it adds code for it (kinds.forward.Emitter)."""

    def __init__(self, generator: Generator, source: ClassSource, call: Call, inputs: list[Value],
                 kwargs: dict[str, Any], result: LayerConversion | None = None,
                 cast: Callable[[Value], Value] | None = None, first_input_cast: bool = False) -> None:
        self.generator = generator
        self.cast = cast  # what Keras does to a floating tensor argument of this call (its autocast), if anything
        self.first_input_cast = first_input_cast  # whether that cast changed the first input's dtype
        self.source = source
        self.layer = call.layer
        self.call = call
        self.inputs = inputs
        self.kwargs = kwargs
        self.config = call.layer.config
        self.result = result if result is not None else generator.results.get(call.layer.path)
        self.name = source.attribute(call.layer.name)
        self.statements: list[str] = []
        self.keras_major = generator.keras_major
        self.keras_version = generator.keras_version
        self.backend = generator.backend
        self.returns_input = False
        self.changed_input: Value | None = None  # what Keras changed its first input's tensor to in place

    @property
    def attribute(self) -> str:
        """How forward refers to this layer's module."""
        return f"self.{self.name}"

    def arg(self, index: int = 0, layout: str | None = None) -> str:
        """Input `index` as an expression, converted to `layout` when one is asked for."""
        if index >= len(self.inputs):
            raise ReadError(f"{self.generator.graph.source}: layer {self.layer.key} ({self.layer.class_name}) is "
                            f"called with {len(self.inputs)} input tensor(s); the config is malformed")
        return self.convert(self.inputs[index], layout)

    def convert(self, value: Value, layout: str | None) -> str:
        return self.generator.convert(value, layout)

    def module(self, module: TorchModule, policy: Config | None = None) -> str:
        """Define `self.<layer> = module` once (a shared layer is defined once), its parameters in the dtype the layer
        computes in: by its own policy, or `policy`'s (the config of the layer a wrapper holds)."""
        self.generator.helpers.update(module.helpers())
        integer = integer_policy(self.config if policy is None else policy)
        if integer is not None:  # Keras casts its weights and inputs to it: not what a float module computes
            raise self.unsupported(f"its dtype policy is {integer}: Keras computes this layer in {integer}, its "
                                   f"weights cast to {integer}, which is not built")
        if self.layer.name not in self.source.defined:
            self.source.defined.add(self.layer.name)
            dtype = compute_dtype(self.config if policy is None else policy)
            cast = f".to(torch.{dtype})" if dtype != "float32" else ""  # its parameters in the dtype it computes in
            self.source.init.append(f"self.{self.name} = {module.source()}{cast}")
        return self.attribute

    def helper(self, name: str) -> str:
        """A runtime helper by name; its source goes into the generated file."""
        return self.generator.helper(name)

    def carried_states(self) -> str:
        """The dict in which a stateful recurrent layer keeps the states its call ended with, for its next call
        (reset_states() empties it). A layer's attribute never starts with "_", so `_carried_states` is free.

        Keras carries the state from one call to the next in the order it runs them; a stateful layer (or a model
        holding one) called more than once in a graph is refused: that order is not the generated forward's."""
        if self.layer.name in self.source.carried:
            raise self.unsupported("a stateful recurrent layer called more than once in the graph; the state each "
                                   "call starts from depends on the order Keras runs them, which is not built")
        self.source.carried.add(self.layer.name)
        self.source.keeps_states = True
        return "self._carried_states"

    def buffer(self, expr: str) -> str:
        """A constant tensor (`expr`, made once) the module holds as a buffer: it moves with the module to a
        device (a tensor made in forward would stay on the CPU), and is not in the state_dict."""
        name = self.source.attribute_names.name(f"{self.layer.name}_constant")
        self.source.init.append(f"self.register_buffer({name!r}, {expr}, persistent=False)")
        return f"self.{name}"

    def statement(self, line: str) -> None:
        """A line to run before the layer's output is assigned."""
        self.statements.append(line)

    def variable(self, suffix: str) -> str:
        """A fresh local for an intermediate value of this call."""
        return self.source.local_names.name(f"{self.source.value(self.layer.name, self.call.node)}_{suffix}")

    def mask(self) -> str | None:
        """The Keras mask of this call: passed explicitly (Keras 3 configs) or carried by the input.

        Keras 3 passes a carried mask only to a call of one tensor argument: an LSTM called with
        `initial_state=` as well runs unmasked there (tf.keras masks it).
        """
        given = self.kwargs.get("mask")
        if isinstance(given, Value):
            return given.expr
        if self.keras_major >= 3 and tensor_arguments(self.call) > 1:
            return None
        return self.inputs[0].mask if self.inputs else None

    def previous_mask(self) -> str | None:
        """The mask Keras hands the layer's compute_mask for its outputs' masks: the one the call runs with,
        else its first input's (Keras 3: an LSTM called with `initial_state=` runs unmasked, and its
        sequences still carry its input's mask)."""
        return self.mask() or (self.inputs[0].mask if self.inputs else None)

    def positional(self, index: int) -> Any:
        """Positional argument `index`: a Value for a tensor (lists of them too), else the constant."""
        return self._resolved(self.call.positional[index])

    def named(self, name: str, default: Any = None) -> Any:
        """Keyword argument `name` of the call, resolved as `positional` resolves."""
        return self._resolved(self.call.kwargs.get(name, default))

    def _resolved(self, item: Any) -> Any:
        if isinstance(item, tuple):
            value = self.generator.values[item]
            return self.cast(value) if self.cast is not None else value
        if isinstance(item, list):
            return [self._resolved(element) for element in item]
        return item

    def unsupported(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(
            f"{self.generator.graph.source}: cannot build layer {self.layer.key} ({self.layer.class_name}): {why}",
            [(self.layer.key, self.layer.class_name)],
        )

    def inner(self, layer: Layer, inputs: list[Value], own_policy: bool = True) -> Emitter:
        """An emitter for a layer a wrapper holds, on `inputs`, with the wrapper's converted weights. A wrapper that
        calls the layer (`own_policy`) has it cast them to its own compute dtype; one that runs its `call` does not."""
        cast = [self.cast_for(layer.config, value) for value in inputs] if own_policy else inputs
        return Emitter(self.generator, self.source, Call(layer, self.call.node, [], {}), cast, {}, self.result)

    def cast_for(self, config: Config, value: Value) -> Value:
        """`value` cast to the dtype a layer of `config` computes in, as Keras casts a layer's floating inputs (a
        wrapper's layer of another dtype policy than the wrapper casts its input again)."""
        dtype = compute_dtype(config)
        return self.generator.autocast(value, None if dtype == "float32" else dtype)

    def consumers(self, layer_name: str) -> list[Layer]:
        return self.generator.consumers.get(layer_name, [])

    def is_output(self, layer_name: str) -> bool:
        return layer_name in self.generator.outputs

    def outputs_read(self) -> int:
        """How many of this call's outputs the model reads (one past the highest index read)."""
        return self.generator.used.get((self.layer.name, self.call.node), 1)

    def result_of(self, layer: Layer) -> LayerConversion | None:
        return self.generator.results.get(layer.path)

    def producer(self, layer: Layer) -> Layer | None:
        return self.generator.context.producer(layer)
