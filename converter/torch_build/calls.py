"""What the builder reads of a model's recorded calls: the calls themselves, its inputs' shapes, how Keras
counts a call's tensor arguments and which calls it autocasts."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import COMPUTE_DTYPES, compute_dtype, integer_policy
from ..errors import ReadError, UnsupportedLayerError
from ..graph import Call, Layer, ModelGraph, Ref
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


#: kinds whose own default dtype policy is an integer type (their output's): Keras casts no input for them
_INTEGER_KINDS = ("keras.layers.IntegerLookup", "keras.layers.CategoryEncoding", "keras.layers.Discretization")


#: kinds with weights that take integer ids (a lookup's vocabulary may be stored as weights)
_ID_KINDS = ("keras.layers.Embedding", "keras.layers.ReversibleEmbedding", *_INTEGER_KINDS)
#: kinds with weights that compute on an integer input as on its floats (probed on Keras 3 and tf.keras, int32 and
#: int64: their first step multiplies it by a float weight, which promotes, or casts it to their compute dtype,
#: as Normalization does).
#: Not so Keras 3's LayerNormalization, which truncates its output to the input's integer dtype (refused).
_FLOATS_FROM_INTEGERS = ("keras.layers.Dense", "keras.layers.EinsumDense", "keras.layers.BatchNormalization",
                         "keras.layers.LSTM", "keras.layers.GRU", "keras.layers.SimpleRNN",
                         "keras.layers.MultiHeadAttention", "keras.layers.Normalization")


#: kinds that only move their inputs' elements: integer inputs give an integer output
_MOVES_ELEMENTS = tuple(f"keras.layers.{name}" for name in (
    "Reshape", "Flatten", "Permute", "Concatenate", "RepeatVector", "Identity", "Cropping1D", "Cropping2D",
    "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"))


def moves_integers(kind: Kind, inputs: list[Value]) -> bool:
    """Whether a call's output is an integer tensor its kind moved from integer inputs (a Reshape of ids)."""
    return kind.name in _MOVES_ELEMENTS and bool(inputs) and all(value.integer for value in inputs)


def floats_for_weights(source: str, call: Call, value: Value, kind: Kind, weighted: bool,
                       dtype: str | None) -> Value:
    """An integer input of a layer with weights (a Dense on an Input of dtype int32) in the layer's compute dtype,
    where Keras computes it so. Keras's autocast leaves it as it is, so its mask stays. A LayerNormalization on
    one is refused by name; any other kind (a wrapper of an Embedding takes ids) is given it as it is."""
    if not value.integer or not weighted or kind.name in _ID_KINDS:
        return value
    if kind.name == "keras.layers.LayerNormalization":
        raise UnsupportedLayerError(
            f"{source}: cannot build layer {call.layer.key} ({call.layer.class_name}): it takes an integer "
            "tensor (from an Input of an integer dtype), whose normalized values Keras 3 truncates to that dtype, "
            "which is not built; cast the input to float in Keras, or convert the weights only (weightport convert)",
            [(call.layer.key, call.layer.class_name)])
    if kind.name not in _FLOATS_FROM_INTEGERS:
        return value
    return replace(value, expr=f"{value.expr}.to(torch.{dtype or 'float32'})", dtype=dtype, integer=False)


def refuse_integer_policies(graph: ModelGraph) -> None:
    """Refuse the layers that compute in an integer dtype their policy names ("int32"): Keras 3 casts their
    floating inputs (and weights) to it, tf.keras's layers cast to it where they cast to their compute dtype. A
    float module would compute on the values Keras truncates (0.97 off, a mutated config). An Input, an operation
    and a kind whose own default policy is an integer type are not refused."""
    integers = [(layer, dtype) for layer in graph.walk() if (kind := lookup(layer)) is not None and autocasts(kind)
                and kind.name not in _INTEGER_KINDS and (dtype := integer_policy(layer.config)) is not None]
    if integers:
        named = ", ".join(f"{layer.key} (its dtype policy is {dtype})" for layer, dtype in integers)
        raise UnsupportedLayerError(
            f"{graph.source}: cannot build {named}: Keras computes a layer in the integer dtype its policy names, "
            "casting its floating inputs and weights to it, which is not built; the weights convert "
            "(weightport convert)", [(layer.key, layer.label) for layer, _ in integers])


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
