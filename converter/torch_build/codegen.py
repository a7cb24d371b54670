"""Write the PyTorch source of a Keras model: one nn.Module class per (nested) model.

Each Keras layer becomes an attribute named after it (the converted state_dict's keys
fit), and `forward` calls them in graph order, one line per Keras call, each written by
its kind's `forward` (converter.kinds) through an `Emitter` (emitter.py). Every value carries
its layout; kinds ask for the layout they need and the generator inserts the permutes.
Generating source text keeps `export` and `to_torch` one path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..config import compute_dtype, integer_policy
from ..conversion import Conversion
from ..convert import GraphContext
from ..errors import ReadError, UnsupportedLayerError
from ..graph import Call, Layer, ModelGraph, Ref, built_version
from ..kinds import lookup
from ..kinds.forward import CHANNELS_FIRST, KERAS, Value, is_image_rank, one_layout
from ..kinds.masks import carried, cast_input, list_call_masks, time_distributed_mask
from ..source import Namer, literal
from .calls import (
    array_dtypes, autocasts, call_dtype, composite_mask, composite_of, input_shape, model_calls, nested_input_masks,
    recorded_masks, run_input_dtypes, with_rank,
)
from .emitter import ClassSource, Emitter
from .in_place import InPlace
from .integers import DATA_KEYWORDS, carries_integers, floats_for_weights, moves_integers, to_input_dtype
from .run_order import CLEARS_MASKS_FROM, ClearedMasks, ObjectEffects, cleared_by, run_order
from .unbuildable import refuse_unbuildable


@dataclass(frozen=True)
class KerasRun:
    """A Keras to build a module as it computes, where not the file's own (verify: the Keras running there)."""

    version: str
    backend: str


class Generator:
    """Generates the classes of one converted model."""

    def __init__(self, graph: ModelGraph, conversion: Conversion, input_layout: str, trace: bool,
                 keras: KerasRun | None = None) -> None:
        if graph.root is None:
            raise UnsupportedLayerError(
                f"{graph.source}: no architecture in this file (a weights-only file): give one with "
                "architecture= (a .keras file, a full-model .h5 or a config JSON)", [])
        self.graph = graph
        self.context = GraphContext(graph)
        self.results = {result.layer.path: result for result in conversion.layers}  # raw names: keys may meet
        self.input_layout = input_layout
        self.trace = trace
        self.helpers: set[str] = set()
        self.classes: list[ClassSource] = []
        self.class_names = Namer()
        self.output_ranks: dict[str, list[int | None]] = {}  # per generated class
        self.output_dtypes: dict[str, list[str | None]] = {}  # per generated class (None: float32)
        self.output_masked: dict[str, list[bool]] = {}  # per generated class: which outputs carry a Keras mask
        self.object_effects: dict[str, ObjectEffects] = {}  # per generated class (Keras 3.8+ clears masks)
        # per nested model and the inputs a call masks: the class written for such calls
        self.call_class: dict[tuple[tuple[str, ...], tuple[bool, ...]], str] = {}
        self.class_of: dict[tuple[str, ...], ClassSource] = {}  # a model's Keras path -> the class of its module
        self.calls: dict[tuple[str, int], list[str]] = {}  # (layer key, node) -> its code (init, forward lines)
        # the Keras whose computation is built: the file's, or (verify) the one that runs the comparison
        # a file that does not say (a .weights.h5): the Keras of today
        self.keras_version = built_version(keras.version if keras else graph.keras_version)
        self.keras_major = self.keras_version[0]
        # legacy .h5 files record it; a .keras archive does not (None: TensorFlow is assumed)
        self.backend = keras.backend if keras else graph.metadata.get("backend")

    def convert(self, value: Value, layout: str | None) -> str:
        """`value` as an expression in `layout` (None: as it is)."""
        if layout is None or value.layout == layout or one_layout(value.rank):
            return value.expr
        return f"{self.helper('to_cf' if layout == CHANNELS_FIRST else 'to_cl')}({value.expr})"

    def helper(self, name: str) -> str:
        """A runtime helper's name, the helper copied into the generated source."""
        self.helpers.add(name)
        return name

    def root_output(self, value: Value) -> str:
        """An output of the model in the layout asked for; one whose rank only the run tells is arranged then
        (a nested model's stay as Keras has them: its caller takes them so)."""
        if value.rank is None and self.input_layout == "torch":
            return f"{self.helper('torch_layout')}({value.expr}, {value.layout == CHANNELS_FIRST})"
        return self.convert(value, self.boundary_layout(value.rank))

    def boundary_layout(self, rank: int | None) -> str:
        """The layout a model takes and returns: channels-first images in the torch layout."""
        return CHANNELS_FIRST if self.input_layout == "torch" and is_image_rank(rank) else KERAS

    def generate(self) -> str:
        """The root class's name; self.classes holds every class, nested ones first."""
        refuse_unbuildable(self.graph)
        return self.model_class(self.graph.root, root=True)  # type: ignore[arg-type]

    def module_paths(self) -> dict[tuple[str, ...], str]:
        """Each Keras layer's path -> the dotted path of its module in the generated model."""
        paths: dict[tuple[str, ...], str] = {}

        def walk(model: Layer, prefix: str) -> None:
            source = self.class_of.get(model.path)
            for child in model.children or []:
                if source is None or child.name not in source.attributes:
                    continue
                paths[child.path] = prefix + source.attributes[child.name]
                if child.is_model:
                    walk(child, paths[child.path] + ".")

        if self.graph.root is not None:
            walk(self.graph.root, "")
        return paths

    def model_class(self, model: Layer, root: bool = False, masked_inputs: tuple[bool, ...] = ()) -> str:
        """The class of `model`. A nested model whose `masked_inputs` carry a Keras mask takes those masks after its
        tensors, and returns the masks its outputs carry after them: Keras gives a nested model's layers the masks
        of its inputs, and the layers after it the masks its own layers computed for its outputs."""
        source = ClassSource(self.class_name(model.name))
        self.class_of[model.path] = source
        inputs, calls, outputs = model_calls(model)
        self.clearing = ClearedMasks(self.keras_version >= CLEARS_MASKS_FROM)
        self.in_place = InPlace(self, self.graph.source, calls, [(layer.name, 0, 0) for layer in inputs], outputs,
                                root)
        self.consumers: dict[str, list[Layer]] = {}
        self.used: dict[tuple[str, int], int] = {}  # (layer, call) -> how many of its outputs the model reads
        for call in calls:
            for ref in call.refs():
                self.consumers.setdefault(ref[0], []).append(call.layer)
        for ref in [ref for call in calls for ref in call.refs()] + list(outputs):
            self.used[ref[:2]] = max(self.used.get(ref[:2], 0), ref[2] + 1)
        self.outputs = {ref[0] for ref in outputs}
        values: dict[Ref, Value] = {}
        self.values = values
        mask_parameters = []
        dtypes = [compute_dtype(layer.config) for layer in inputs] if root else run_input_dtypes(
            self.graph.source, model, self.keras_version, masked_inputs)
        for index, (layer, dtype) in enumerate(zip(inputs, dtypes)):
            shape = input_shape(layer)
            rank = len(shape) if shape else None
            name = source.value(layer.name, 0)
            source.signature.append(name)
            mask = None
            if index < len(masked_inputs) and masked_inputs[index]:
                mask = source.local_names.name(f"{name}_mask")
                mask_parameters.append(mask)
            values[(layer.name, 0, 0)] = Value(name, self.boundary_layout(rank), rank, mask=mask,
                                               dtype=None if dtype == "float32" else dtype,
                                               integer=integer_policy(layer.config) is not None)
            if root and self.trace:
                source.forward.append(self.capture_line(layer.name, values[(layer.name, 0, 0)]))
        source.signature.extend(mask_parameters)
        # where masks are cleared or tensors changed in place, the calls in the order Keras runs them (calls no output
        # needs after)
        pending = list(calls)
        if self.clearing.active or self.in_place.active:
            pending = run_order(calls, outputs)
            ordered = {id(call) for call in pending}  # by identity: comparing calls compares their layers
            pending += [call for call in calls if id(call) not in ordered]
        while pending:
            ready = next((index for index, call in enumerate(pending) if all(ref in values for ref in call.refs())),
                         None)
            if ready is None:
                missing = sorted({ref[0] for call in pending for ref in call.args if ref not in values})
                raise UnsupportedLayerError(f"{self.graph.source}: the graph of {model.name} cannot be ordered "
                                            f"(inputs never computed: {missing})", [])
            call = pending.pop(ready)
            produced = self.emit_call(source, call, values)
            for index, value in enumerate(produced):
                values[(call.layer.name, call.node, index)] = value
            if root and self.trace and call.node == 0:
                source.forward.append(self.capture_line(call.layer.name, produced[0]))
        never = [ref for ref in outputs if ref not in values]
        if never:
            raise ReadError(f"{self.graph.source}: model {model.name} returns {never[0][0]} (call {never[0][1]}, "
                            f"output {never[0][2]}), which its config never computes")
        results = [self.root_output(values[ref]) if root else self.convert(values[ref], self.boundary_layout(
            values[ref].rank)) for ref in outputs]
        if not root:  # a nested class returns its outputs' masks after them
            results += [mask for mask in (values[ref].mask for ref in outputs) if mask is not None]
        source.forward.append("return " + (results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"))
        self.output_ranks[source.name] = [values[ref].rank for ref in outputs]
        self.output_dtypes[source.name] = [values[ref].dtype for ref in outputs]
        self.output_masked[source.name] = [values[ref].mask is not None and not root for ref in outputs]
        self.object_effects[source.name] = self.clearing.effects([(layer.name, 0, 0) for layer in inputs], outputs)
        self.classes.append(source)
        return source.name

    def capture_line(self, name: str, value: Value) -> str:
        if value.flat_order == "chw" and value.flat_channels:  # flattened as (c, h, w): Keras's (h, w, c) order
            keras_order = f"{value.expr}.unflatten(1, ({value.flat_channels}, -1)).transpose(1, 2).flatten(1)"
            return f"self._capture({literal(name)}, {keras_order}, False)"
        channels_first = value.layout == CHANNELS_FIRST and not one_layout(value.rank)
        return f"self._capture({literal(name)}, {value.expr}, {channels_first})"

    def emit_call(self, source: ClassSource, call: Call, values: dict[Ref, Value]) -> list[Value]:
        inputs = [with_rank(self.found(call, ref, values), call.shapes.get(ref)) for ref in call.args]
        if not call.refs() and not call.layer.is_model:
            raise ReadError(f"{self.graph.source}: layer {call.layer.key} ({call.layer.class_name}) is called on no "
                            "tensor; the config is malformed")
        kwargs = {key: self.found(call, value, values) if isinstance(value, tuple) and value in values else value
                  for key, value in call.kwargs.items()}
        self.values = values
        if call.layer.is_model:
            composite, sources = composite_of(call, str(self.graph.source))
            if composite:  # a KerasHub composite: its model's inputs, from the call's tensors and its keywords
                inputs = [inputs[item] if isinstance(item, int) else kwargs[item] for item in sources]
            self.in_place.ran_call(call, None)
            nested = self.emit_nested(source, call, inputs)
            if composite:  # a Keras layer (KerasHub's) that supports masking: its output keeps its input's mask
                nested = [replace(value, mask=composite_mask(call, inputs, values)) for value in nested]
            return nested
        kind = lookup(call.layer)
        assert kind is not None and kind.forward is not None  # generate() refused the others
        # a layer's rule reads its first positional input; an operation's (keras.ops, a tf.keras TFOpLambda) may take
        # its tensors by keyword or after a constant
        if not inputs and not kind.name.startswith("keras.ops.") and not kind.name.endswith("OpLambda"):
            raise ReadError(f"{self.graph.source}: layer {call.layer.key} ({call.layer.class_name}) is called with "
                            "no tensor as its first argument (only by keyword, or a damaged record of one); the "
                            "config is malformed or its call is not built")
        dtype = call_dtype(kind, call.layer, inputs + [v for v in kwargs.values() if isinstance(v, Value)],
                           array_dtypes(call) if kind.name.startswith("keras.ops.") else set())
        cast = None
        first_dtype = inputs[0].dtype if inputs else None
        weighted = bool((result := self.results.get(call.layer.path)) and result.tensors)
        from_integers = carries_integers(kind, weighted, inputs + [v for v in kwargs.values() if isinstance(v, Value)])
        if autocasts(kind):  # every floating tensor argument, keyword ones too (a MultiHeadAttention's value=)
            recorded = any(isinstance(mask, tuple) for mask in recorded_masks(call) or [])

            def cast(value: Value) -> Value:
                return cast_input(self.keras_version, value, self.autocast(value, dtype), recorded)

            def floats(value: Value) -> Value:  # the data a layer with weights computes on, not a mask
                return floats_for_weights(self.graph.source, call, value, kind, weighted, dtype, self.keras_major,
                                          self.helper)

            inputs = [cast(floats(value)) for value in inputs]
            kwargs = {key: cast(floats(value) if key in DATA_KEYWORDS else value) if isinstance(value, Value)
                      else value for key, value in kwargs.items()}
        emitter = Emitter(self, source, call, inputs, kwargs, cast=cast,
                          first_input_cast=bool(inputs) and inputs[0].dtype != first_dtype)
        init_start = len(source.init)
        produced = kind.forward(emitter)
        produced = carried(kind.name, self.keras_major, inputs, produced if isinstance(produced, list) else [produced],
                           emitter.returns_input)
        produced = list_call_masks(self.keras_version, bool(call.positional) and isinstance(call.positional[0], list),
                                   produced)
        source.forward.extend(emitter.statements)
        if emitter.returns_input and call.args:
            self.clearing.same_object((call.layer.name, call.node, 0), call.args[0])
        # an input Keras cast for the layer (another dtype) is a new tensor object: its own mask is cleared
        self.clearing.mark([ref for ref in cleared_by(call, kind.name) if values[ref].dtype == dtype], cleared=True)
        self.in_place.ran_call(call, kind.name)
        if emitter.changed_input is not None and call.args and not emitter.first_input_cast:  # a cast: a new object
            self.in_place.changed(call, call.args[0], emitter.changed_input, values, source, self.clearing)
        assigned = []
        for index, value in enumerate(produced):
            name = source.value(call.layer.name, call.node)
            if len(produced) > 1:
                name = source.local_names.name(f"{name}_{index}")
            if value.expr != name:
                source.forward.append(f"{name} = {value.expr}")
            computed = value.dtype or dtype  # a wrapper's output says "float32" where its layer's differs
            # a mover's forward that states a dtype computed floats (tf.keras's bilinear UpSampling2D of integers)
            integer = value.integer or (moves_integers(kind, inputs) and value.dtype is None)
            assigned.append(replace(value, expr=name, dtype=None if computed == "float32" else computed,
                                    integer=integer, from_integers=from_integers and not integer))
        self.calls[(call.layer.key, call.node)] = (
            source.init[init_start:] + emitter.statements + [value.expr for value in produced])
        return assigned

    def found(self, call: Call, ref: Ref, values: dict[Ref, Value]) -> Value:
        """The value of `ref` as `call` finds it: without its Keras mask where a MultiHeadAttention that Keras ran
        before cleared it (run_order.py), unless the config gives the call a mask of its own."""
        if self.clearing.finds_cleared(call, ref):
            return replace(values[ref], mask=None)
        return values[ref]

    def autocast(self, value: Value, dtype: str | None) -> Value:
        """`value` cast to the dtype its consumer computes in, as Keras casts a layer's floating inputs."""
        if value.dtype == dtype:
            return value
        return replace(value, expr=f"{self.helper('autocast')}({value.expr}, torch.{dtype or 'float32'})", dtype=dtype)

    def emit_nested(self, source: ClassSource, call: Call, inputs: list[Value]) -> list[Value]:
        """A model used as a layer: its own class, called with the layouts its forward takes."""
        name = source.attribute(call.layer.name)
        model_inputs, _, _ = model_calls(call.layer)
        if len(inputs) != len(model_inputs):
            raise ReadError(f"{self.graph.source}: model {call.layer.key} takes {len(model_inputs)} input(s) and is "
                            f"called with {len(inputs)}; the config is malformed")
        masks = nested_input_masks(call, inputs, model_inputs, self.values, self.keras_major,
                                   str(self.graph.source))
        masked = tuple(mask is not None for mask in masks)
        class_name = self.nested_class(call, masked)
        if call.layer.name not in source.defined:
            source.defined.add(call.layer.name)
            source.init.append(f"self.{name} = {self.class_of[call.layer.path].name}()")
        # a call masking other inputs than the module's class takes runs its own class's forward on that module
        callee = (f"self.{name}(" if class_name == self.class_of[call.layer.path].name
                  else f"{class_name}.forward(self.{name}, ")
        distributed = call.layer.time_distributed_model
        if any(written.name == class_name and written.carried for written in self.classes):
            if distributed:  # time folded into the batch: each step's rows would be a state's rows
                raise UnsupportedLayerError(f"{self.graph.source}: layer {call.layer.key} (TimeDistributed of model "
                                            f"{call.layer.name}) holds a stateful recurrent layer; not built",
                                            [(call.layer.key, call.layer.label)])
            if call.layer.name in source.carried:
                raise UnsupportedLayerError(
                    f"{self.graph.source}: model {call.layer.key} holds a stateful recurrent layer and is called more "
                    "than once; the state each call starts from depends on the order Keras runs them, which is not "
                    "built", [(call.layer.key, call.layer.label)])
            source.carried.add(call.layer.name)
        if distributed and len(inputs) != 1:
            raise UnsupportedLayerError(f"{self.graph.source}: layer {call.layer.key} (TimeDistributed of model "
                                        f"{call.layer.name}) of several inputs is not built yet",
                                        [(call.layer.key, call.layer.label)])
        arguments, steps, same_objects = [], "", []
        # a model casts its inputs to the dtypes of its Inputs, as Keras does
        run_dtypes = run_input_dtypes(self.graph.source, call.layer, self.keras_version, masked)
        for value, layer, dtype in zip(inputs, model_inputs, run_dtypes):
            shape = input_shape(layer)
            converted = to_input_dtype(value, layer, dtype, self.helper)  # integers to a floating Input's dtype
            cast = self.autocast(converted, None if dtype == "float32" else dtype)
            # the model gets the tensor object it is called on where it needs no cast nor reshape (run_order.py)
            # (KerasHub's TransformerDecoder: its attention, CachedMultiHeadAttention, clears no mask of its inputs)
            same_objects.append(cast is value and not distributed
                                and call.layer.config.get("keras_hub_composite") != "TransformerDecoder")
            value = cast
            if distributed:  # time folded into the batch: (batch * time, ...) in Keras's layout, then the model's
                steps = self.convert(value, KERAS)
                value = Value(f"{steps}.flatten(0, 1)", KERAS, value.rank - 1 if value.rank else None,
                              dtype=value.dtype)
            arguments.append(self.convert(value, self.boundary_layout(len(shape) if shape else None)))
        # TimeDistributed hands the model every time step's slice of the masks, time folded into the batch too
        arguments += [f"{mask}.flatten(0, 1)" if distributed else mask for mask in masks if mask is not None]
        self.clearing.called_model(call, self.object_effects[class_name], same_objects)
        result = source.value(call.layer.name, call.node)
        ranks, dtypes = self.output_ranks[class_name], self.output_dtypes[class_name]
        targets = [result] if len(ranks) == 1 else [source.local_names.name(f"{result}_{i}") for i in range(len(ranks))]
        output_masks = [source.local_names.name(f"{target}_mask") if masked_output else None
                        for target, masked_output in zip(targets, self.output_masked[class_name])]
        returned = targets + [mask for mask in output_masks if mask is not None]
        source.forward.append(f"{', '.join(returned)} = {callee}{', '.join(arguments)})")
        values = [Value(target, self.boundary_layout(rank), rank, mask=mask, dtype=dtype)
                  for target, rank, dtype, mask in zip(targets, ranks, dtypes, output_masks)]
        if distributed:  # back to (batch, time, ...) in Keras's layout, with the mask Keras gives the wrapper's output
            values = [Value(f"{self.convert(value, KERAS)}.unflatten(0, ({steps}.shape[0], {steps}.shape[1]))",
                            KERAS, value.rank + 1 if value.rank else None, dtype=value.dtype,
                            mask=self.distributed_mask(source, inputs[0].mask, value.mask, steps, target))
                      for value, target in zip(values, targets)]
        return values

    def distributed_mask(self, source: ClassSource, input_mask: str | None, step_mask: str | None, steps: str,
                         target: str) -> str | None:
        """The mask of a TimeDistributed model's output `target`, in a local of its own where it is computed."""
        mask = time_distributed_mask(self.keras_major, input_mask, step_mask, steps)
        if mask is None or mask == input_mask:
            return mask
        name = source.local_names.name(f"{target}_mask")
        source.forward.append(f"{name} = {mask}")
        return name

    def nested_class(self, call: Call, masked: tuple[bool, ...]) -> str:
        """The class a call of a nested model runs, written once per model and set of masked inputs (its forward
        takes those masks). The module is of the class written first; another one, for a call masking other
        inputs (a shared encoder called on padded ids and on dense features), holds the same modules under the
        same names, and its forward runs on that module."""
        key = (call.layer.path, masked)
        if key not in self.call_class:
            outer = (self.consumers, self.used, self.outputs, self.values, dict(self.class_of), self.clearing,
                     self.in_place)
            self.call_class[key] = self.model_class(call.layer, masked_inputs=masked)
            self.consumers, self.used, self.outputs, self.values, class_of, self.clearing, self.in_place = outer
            first = class_of.get(call.layer.path)
            if first is not None:  # the modules (and module_paths) stay the first class's
                if self.class_of[call.layer.path].attributes != first.attributes:
                    raise UnsupportedLayerError(
                        f"{self.graph.source}: model {call.layer.key} is called with Keras masks on other inputs "
                        "than at its first call, and builds other modules then; that is not built yet",
                        [(call.layer.key, call.layer.label)])
                self.class_of = class_of
        return self.call_class[key]

    def class_name(self, model_name: str) -> str:
        """A CamelCase class name from a model's name, safe and unique."""
        base = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", model_name) if part) or "Model"
        return self.class_names.name(base if base[0].isalpha() else "Model" + base)
