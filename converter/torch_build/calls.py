"""What the builder reads of a model's recorded calls: the calls themselves, its inputs' shapes, how Keras
counts a call's tensor arguments and which calls it autocasts."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import COMPUTE_DTYPES, compute_dtype
from ..errors import ReadError, UnsupportedLayerError
from ..graph import Call, Layer, Ref
from ..kinds import Kind, lookup
from ..kinds.forward import Value
from ..kinds.masks import CAST_IN_PLACE_UNTIL
from ..kinds.operations import array_constant


def tensor_arguments(call: Call) -> int:
    """How many arguments of `call` hold a tensor (a list of tensors is one argument), as Keras 3 counts them to
    decide whether a mask is passed."""
    def holds(item: Any) -> bool:
        return isinstance(item, tuple) or (isinstance(item, list) and any(holds(element) for element in item))

    return sum(holds(item) for item in call.positional) + sum(holds(value) for name, value in call.kwargs.items()
                                                             if name != "mask")


def recorded_masks(call: Call) -> list[Any] | None:
    """The masks Keras 3 recorded as a call's `mask=`, one per tensor argument (a Ref, or None where that one
    has none); None when it recorded none."""
    given = call.kwargs.get("mask")
    return None if given is None else given if isinstance(given, list) else [given]


def array_dtypes(call: Call) -> set[str | None]:
    """The floating dtypes of a Keras 3 operation's array constants (None: float32): a float64 numpy array
    (np.array([0.485, 0.456, 0.406])) makes a float32 tensor's result float64, as Keras 3 promotes."""
    found: set[str | None] = set()
    for item in [*call.positional, *call.kwargs.values()]:
        recorded = array_constant(item)
        if recorded is not None and recorded[1] in COMPUTE_DTYPES:
            found.add(None if recorded[1] == "float32" else recorded[1])
    return found


def with_rank(value: Value, shape: tuple[int | None, ...] | None) -> Value:
    """A value whose rank the builder could not tell, with the rank Keras 3 recorded for it."""
    if value.rank is not None or shape is None:
        return value
    return replace(value, rank=len(shape))


def input_shape(layer: Layer) -> tuple | None:
    shape = layer.config.get("batch_shape") or layer.config.get("batch_input_shape")
    return tuple(shape) if shape else None


def model_calls(model: Layer) -> tuple[list[Layer], list[Call], list[Ref]]:
    """A model's input layers, its calls in config order, and its output references (parsed by the reader)."""
    graph = model.call_graph
    if graph is None or graph.error:
        raise ReadError(graph.error if graph is not None and graph.error else
                        f"model {model.name}: its config records no calls to build a module from")
    return graph.inputs, graph.calls, graph.outputs


#: kinds that compute in their inputs' dtype: operations (and tf.keras's op layers, which do not autocast)
_NO_AUTOCAST = ("keras.layers.TFOpLambda", "keras.layers.SlicingOpLambda", "keras.layers.InputLayer")


def autocasts(kind: Kind) -> bool:
    """Whether Keras casts a call's floating inputs to the layer's compute dtype (every layer; no operation)."""
    return not kind.name.startswith("keras.ops.") and kind.name not in _NO_AUTOCAST


def call_dtype(kind: Kind, layer: Layer, inputs: list[Value], arrays: set[str | None]) -> str | None:
    """The floating dtype a call computes in (None: float32): its layer's policy, or, for an
    operation, its tensor arguments' (keyword ones too: tf.keras records `2.0 * x` as multiply(2.0, y=x)) when
    they agree; mixed ones promote, in Keras 3 and torch alike, to float64 where
    one is float64, else to float32 (float16 or bfloat16 with float32, float16 with bfloat16)."""
    if autocasts(kind):
        dtype = compute_dtype(layer.config)
        return None if dtype == "float32" else dtype
    dtypes = {value.dtype for value in inputs} | arrays
    if len(dtypes) == 1:
        return dtypes.pop()
    return "float64" if "float64" in dtypes else None


def run_input_dtypes(source: str, model: Layer, keras_version: tuple[int, int], masked: tuple[bool, ...]) -> list[str]:
    """The dtype Keras converts each input of nested `model` to when it runs it: its Input's own, or for Keras 3.0
    to 3.4 a floating Input's last layer's (one dtype where its layers agree). Layers of several dtypes on a masked
    input are refused: whose is last depends on the order they were built in, which the config does not keep.

    Keras 3.0 to 3.4 cast a layer's symbolic floating input in place: building a model gave its Input's tensor the
    compute dtype of each layer called on it in turn, and calling the model converts its inputs to that dtype (then
    gives them their masks), not to the Input's own. A layer of that dtype then runs on it uncast, with its mask."""
    inputs, calls, _ = model_calls(model)
    dtypes = []
    for index, layer in enumerate(inputs):
        dtype = compute_dtype(layer.config)
        if (3, 0) <= keras_version < CAST_IN_PLACE_UNTIL and dtype in COMPUTE_DTYPES:
            consumers = {compute_dtype(call.layer.config) for call in calls if not call.layer.is_model
                         and any(ref[0] == layer.name for ref in call.refs())
                         and (kind := lookup(call.layer)) is not None and autocasts(kind)} & set(COMPUTE_DTYPES)
            if len(consumers) > 1 and index < len(masked) and masked[index]:
                raise UnsupportedLayerError(
                    f"{source}: model {model.key}: its masked input {layer.name} goes to layers of several dtypes "
                    f"({', '.join(sorted(consumers))}); Keras {'.'.join(map(str, keras_version))} converts it to the "
                    "dtype of the one it built last, which the file does not record, and which keeps the mask; "
                    "its weights convert (weightport convert)",
                    [(model.key, model.label)])
            dtype = consumers.pop() if len(consumers) == 1 else dtype
        dtypes.append(dtype)
    return dtypes


def nested_input_masks(call: Call, inputs: list[Value], model_inputs: list[Layer], values: dict[Ref, Value],
                       keras_major: int, source: str) -> list[str | None]:
    """The mask Keras hands each input of a nested model's call: the ones Keras 3 records (`mask=`, computed by
    operations in the graph), else the masks its inputs carry (Keras 3: only to a call of one tensor argument, a
    list of them counting as one); tf.keras loses one where the model casts its input to another dtype (the
    cast tensor carries none)."""
    if call.layer.config.get("keras_hub_composite"):  # a layer: its tensors' masks reach its inner layers
        return [composite_mask(call, inputs, values)] + [value.mask for value in inputs[1:]]
    recorded = recorded_masks(call)
    if recorded is not None:
        if len(recorded) != len(inputs):
            raise ReadError(f"{source}: model {call.layer.key} is called with {len(recorded)} mask(s) for "
                            f"{len(inputs)} input(s); the config is malformed")
        return [values[item].expr if isinstance(item, tuple) else None for item in recorded]
    if keras_major >= 3 and tensor_arguments(call) > 1:
        return [None] * len(inputs)
    masks = [value.mask for value in inputs]
    if keras_major < 3:
        for index, (value, layer) in enumerate(zip(inputs, model_inputs)):
            dtype = compute_dtype(layer.config)
            if value.dtype != (None if dtype == "float32" else dtype):
                masks[index] = None
    return masks


def composite_mask(call: Call, inputs: list[Value], values: dict[Ref, Value]) -> str | None:
    """The mask a KerasHub composite is called with: the one Keras 3.0 to 3.9 recorded (`mask=`, a tensor of the
    graph), else the one its first input carries (what Keras fills a recorded null with)."""
    recorded = recorded_masks(call)
    first = recorded[0] if recorded else None
    if isinstance(first, tuple) and first in values:
        return values[first].expr
    return inputs[0].mask if inputs else None


def composite_of(call: Call, source: str) -> tuple[str | None, list[int | str]]:
    """The KerasHub class a nested model called here stands for (readers/keras_hub.py), or None for a model, and
    where each input of its model comes from: a position among the call's tensors, or a keyword (its masks)."""
    composite = call.layer.config.get("keras_hub_composite")
    if not composite:
        return None, []
    sources = [item for item in call.layer.config.get("keras_hub_inputs") or [] if isinstance(item, (int, str))]
    keywords = {item for item in sources if isinstance(item, str)}
    if set(call.kwargs) - keywords - {"training", "use_causal_mask", "mask"} or not keywords <= set(call.kwargs):
        raise UnsupportedLayerError(
            f"{source}: layer {call.layer.key} (KerasHub's {str(composite)[:40]}) is called with "
            f"{', '.join(sorted(call.kwargs))[:80]} by keyword: not built (a mask by keyword is)",
            [(call.layer.key, call.layer.label)])
    return str(composite), sources
