"""Integer tensors and integer dtype policies: which layers the builder computes on integers as floats, which
move them, and which it refuses."""
from __future__ import annotations

from typing import Callable

from ..config import integer_policy
from ..errors import UnsupportedLayerError
from ..graph import Call, Layer, ModelGraph
from ..kinds import Kind, lookup
from ..kinds.forward import Value, floats_where_integers
from ..kinds.registry import wrapped_kind
from .calls import autocasts

#: kinds whose own default dtype policy is an integer type (their output's): Keras casts no input for them
_INTEGER_KINDS = ("keras.layers.IntegerLookup", "keras.layers.CategoryEncoding", "keras.layers.Discretization")


#: kinds with weights that take integer ids (a lookup's vocabulary may be stored as weights)
_ID_KINDS = ("keras.layers.Embedding", "keras.layers.ReversibleEmbedding", *_INTEGER_KINDS)
#: kinds with weights that compute on an integer input as on its floats (probed on Keras 3 and tf.keras, int32 and
#: int64: their first step multiplies it by a float weight, which promotes, or casts it to their compute dtype,
#: as Normalization does).
#: Not so Keras 3's LayerNormalization, which truncates its output to the input's integer dtype (refused);
#: tf.keras's casts its input to its compute dtype.
_FLOATS_FROM_INTEGERS = ("keras.layers.Dense", "keras.layers.EinsumDense", "keras.layers.BatchNormalization",
                         "keras.layers.LSTM", "keras.layers.GRU", "keras.layers.SimpleRNN",
                         "keras.layers.MultiHeadAttention", "keras.layers.Normalization",
                         "keras.layers.AdditiveAttention")  # tf.keras's refuses an integer input


#: kinds that cast their input to their compute dtype, integers too, weights or none (Rescaling, Normalization and
#: CenterCrop in either Keras: `cast(inputs, self.compute_dtype)`): float16 under mixed_float16, not torch's float32
_CAST_TO_COMPUTE_DTYPE = ("keras.layers.Rescaling", "keras.layers.Normalization", "keras.layers.CenterCrop")


#: wrappers whose layer takes their input's data: it computes an integer input as its layer does
_WRAPPERS = ("TimeDistributed", "Bidirectional")


#: the keyword arguments that hold a layer's data (a MultiHeadAttention's value=), not a mask it reads
DATA_KEYWORDS = ("inputs", "query", "value", "key")
#: kinds that only move or select their inputs' elements: integer inputs give an integer output
_MOVES_ELEMENTS = tuple(f"keras.layers.{name}" for name in (
    "Reshape", "Flatten", "Permute", "Concatenate", "RepeatVector", "Identity", "Cropping1D", "Cropping2D",
    "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    # identities at inference
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization")) + tuple(f"keras.ops.numpy.{name}" for name in (
        "Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Concatenate", "Stack", "Tile", "Flip", "Repeat",
        "Moveaxis", "Swapaxes", "Take", "Split", "Tril", "Triu", "Sort")) + (
    "keras.ops.core.StopGradient", "keras.ops.core.Unstack")


def moves_integers(kind: Kind, inputs: list[Value]) -> bool:
    """Whether a call's output is an integer tensor its kind moved from integer inputs (a Reshape of ids)."""
    return kind.name in _MOVES_ELEMENTS and bool(inputs) and all(value.integer for value in inputs)


def carries_integers(kind: Kind, weighted: bool, inputs: list[Value]) -> bool:
    """Whether a call's output may be an integer tensor the builder has not flagged (Value.from_integers): any
    input is or may be one, and the call is an operation or a layer without weights (a layer with weights computes
    floats, but for the lookups, whose output is integers; so do the kinds that cast their input)."""
    if (weighted and kind.name not in _INTEGER_KINDS) or kind.name in _CAST_TO_COMPUTE_DTYPE:
        return False
    return any(value.may_be_integers for value in inputs)


def to_input_dtype(value: Value, model_input: Layer, dtype: str, helper: Callable[[str], str]) -> Value:
    """An integer tensor (or one that may be) passed to a nested model whose Input (`model_input`, run in `dtype`)
    is floating: Keras converts it to that dtype at the model's boundary (a mean inside is then of floats)."""
    if integer_policy(model_input.config) is not None:
        return value
    return floats_where_integers(value, dtype, helper)


def floats_for_weights(source: str, call: Call, value: Value, kind: Kind, weighted: bool,
                       dtype: str | None, keras_major: int, helper: Callable[[str], str]) -> Value:
    """An integer input of a layer with weights (a Dense on an Input of dtype int32), or of a Rescaling,
    Normalization or CenterCrop, in the layer's compute dtype, where Keras computes it so. Keras's autocast leaves
    it as it is, so its mask stays. A Keras 3 LayerNormalization on one is refused by name (tf.keras's casts it to
    floats); any other kind (a wrapper of an Embedding takes ids) is given it as it is. An input that may be
    integers (Value.from_integers: an Add of integer Inputs) is cast where it is integers when the module runs
    (`helper` names the runtime function)."""
    if (not weighted and kind.name not in _CAST_TO_COMPUTE_DTYPE) or kind.name in _ID_KINDS:
        return value
    if kind.name.removeprefix("keras.layers.") in _WRAPPERS:
        kind = wrapped_kind(call.layer.config, kind.name.removeprefix("keras.layers.")) or kind
    layer_norm = kind.name == "keras.layers.LayerNormalization"
    keras3_normalization = layer_norm and keras_major >= 3
    if value.integer and keras3_normalization:
        raise UnsupportedLayerError(
            f"{source}: cannot build layer {call.layer.key} ({call.layer.class_name}): it takes an integer "
            "tensor (an Input of an integer dtype, a cast to one), whose normalized values Keras 3 truncates to that "
            "dtype, which is not built; cast the input to float in Keras, or convert the weights only "
            "(weightport convert)",
            [(call.layer.key, call.layer.class_name)])
    # a Keras 3 LayerNormalization on what may be integers is left as it is: on integers, torch stops where Keras
    # truncates
    if kind.name not in _FLOATS_FROM_INTEGERS + _CAST_TO_COMPUTE_DTYPE and (not layer_norm or keras3_normalization):
        return value
    return floats_where_integers(value, dtype, helper)


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
