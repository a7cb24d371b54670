"""How the rows of tests/kind_cases.py and tests/operation_cases.py build their models: the Case record, and
models of one layer, of two inputs, of a graph, of Keras 3 operations and of TensorFlow functions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


Build = Callable[[Any], Any]  # the keras module -> a model




@dataclass(frozen=True)
class Case:
    kind: str  # the qualified kind the model holds, e.g. keras.layers.Dense
    name: str  # the test id
    build: Build
    inputs: tuple[tuple[int, ...], ...]  # input shapes without the batch axis
    keras2: bool = True  # tf.keras 2 has the kind (its .h5 file is tested too)
    keras3: bool = True  # Keras 3 has it (ThresholdedReLU is tf.keras only)
    vocabulary: int | None = None  # integer inputs below this (token ids)
    scale: float = 1.0  # inputs ~ N(0, scale)


def single(kind: str, name: str, shape: tuple[int, ...], factory: Callable[[Any], Any], keras2: bool = True,
           **options: Any) -> Case:
    """A Sequential of one layer on one input."""
    def build(keras: Any) -> Any:
        return keras.Sequential([keras.Input(shape), factory(keras)])

    return Case(f"keras.layers.{kind}" if "." not in kind else kind, name, build, (shape,), keras2, **options)


def two_inputs(kind: str, name: str, shape: tuple[int, ...], combine: Callable[[Any, Any, Any], Any],
               keras2: bool = True) -> Case:
    """A model of two inputs of `shape` combined by `combine(keras, a, b)`."""
    def build(keras: Any) -> Any:
        a, b = keras.Input(shape, name="a"), keras.Input(shape, name="b")
        return keras.Model([a, b], combine(keras, a, b))

    return Case(f"keras.layers.{kind}", name, build, (shape, shape), keras2)


def graph(kind: str, name: str, inputs: tuple[tuple[int, ...], ...], outputs: Callable[..., Any],
          keras2: bool = True, keras3: bool = True) -> Case:
    """A functional model of several inputs whose outputs are `outputs(keras, *inputs)`."""
    def build(keras: Any) -> Any:
        tensors = [keras.Input(shape) for shape in inputs]
        return keras.Model(tensors, outputs(keras, *tensors))

    return Case(f"keras.layers.{kind}" if "." not in kind else kind, name, build, inputs, keras2, keras3)


def frame_model(k: Any) -> Any:
    """A small CNN for one frame: what video models wrap in TimeDistributed."""
    return k.Sequential([k.Input((6, 6, 2)), k.layers.Conv2D(4, 3, activation="relu"),
                         k.layers.BatchNormalization(), k.layers.GlobalAveragePooling2D(), k.layers.Dense(3)],
                        name="frame")


def branch_model(k: Any) -> Any:
    """A functional block with a residual branch, for one time step."""
    step = k.Input((5,))
    hidden = k.layers.Dense(5, activation="tanh")(step)
    return k.Model(step, k.layers.Dense(2)(k.layers.Add()([step, hidden])), name="block")


def seq2seq(k: Any, source: Any, target: Any, kind: str = "LSTM", **options: Any) -> Any:
    """The classic encoder-decoder: the encoder's final states start the decoder."""
    encoded = getattr(k.layers, kind)(6, return_state=True, **options)(source)
    decoded = getattr(k.layers, kind)(6, return_sequences=True, **options)(target, initial_state=encoded[1:])
    return k.layers.Dense(3)(decoded)


def padded_seq2seq(kind: str, return_sequences: bool, wrapper: str | None = None) -> Callable[[Any], Any]:
    """Token 0 is padding (Embedding(mask_zero)); with ids below 2 and the harness's batch (seed 3), a decoder
    row starts with padding and another is all padding, each after a source that leaves a non-zero state:
    Keras's decoder outputs zeros there, not its initial state, until its first real step (a real seq2seq
    file of Keras 2.2.4 showed it)."""
    def build(k: Any) -> Any:
        source, target = k.Input((5,), dtype="int32"), k.Input((3,), dtype="int32")

        def layer(**options: Any) -> Any:
            inner = getattr(k.layers, kind)(4, return_state=True, **options)
            return getattr(k.layers, wrapper)(inner) if wrapper else inner

        encoded = layer()(k.layers.Embedding(2, 3, mask_zero=True)(source))
        decoded = layer(return_sequences=return_sequences)(k.layers.Embedding(2, 3, mask_zero=True)(target),
                                                           initial_state=encoded[1:])
        return k.Model([source, target], decoded)

    return build


def bidirectional_states(k: Any, source: Any, target: Any, kind: str = "LSTM", **options: Any) -> list[Any]:
    """A Bidirectional encoder returning its four (or two) states, which start a Bidirectional decoder."""
    encoded = k.layers.Bidirectional(getattr(k.layers, kind)(4, return_state=True, **options))(source)
    decoded = k.layers.Bidirectional(getattr(k.layers, kind)(4, return_sequences=True, return_state=True,
                                                             **options))(target, initial_state=encoded[1:])
    return [decoded[0], *decoded[1:]]


def operation(kind: str, name: str, shape: tuple[int, ...], combine: Callable[[Any, Any], Any],
              module: str = "numpy") -> Case:
    """A Keras 3 functional model whose graph records `combine(keras, x)` as operations."""
    def build(keras: Any) -> Any:
        x = keras.Input(shape)
        return keras.Model(x, combine(keras, x))

    return Case(f"keras.ops.{module}.{kind}", name, build, (shape,), keras2=False)


def tf_operation(kind: str, name: str, shape: tuple[int, ...], combine: Callable[[Any, Any], Any]) -> Case:
    """A tf.keras functional model calling TensorFlow functions: saved as TFOpLambda/SlicingOpLambda layers."""
    def build(keras: Any) -> Any:
        import tensorflow as tf

        x = keras.Input(shape)
        return keras.Model(x, combine(tf, x))

    return Case(f"keras.layers.{kind}", name, build, (shape,), keras3=False)


def application_layer(keras: Any, module: str, name: str) -> Any:
    """A layer class keras.applications defines in one of its modules."""
    from importlib import import_module

    return getattr(import_module(f"keras.src.applications.{module}"), name)


def positive(k: Any, x: Any) -> Any:
    """|x| + 0.5: inputs where log, sqrt and powers are defined."""
    return k.ops.abs(x) + 0.5


ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "swish",
               "gelu", "exponential", "hard_sigmoid", "relu6", "log_softmax", "leaky_relu", "silu", "mish"]
KERAS3_ACTIVATIONS = {"relu6", "log_softmax", "leaky_relu", "mish"}
#: activations only Keras 3 names (on 6 units: glu halves them)
KERAS3_ONLY_ACTIVATIONS = ["celu", "log_sigmoid", "tanh_shrink", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink",
                           "soft_shrink", "glu", "sparse_sigmoid", "squareplus", "sparse_plus"]

def on_tokens(k: Any, shape: tuple[int, ...], layer: Any) -> Any:
    """`layer` on integer token ids of `shape`."""
    tokens = k.Input(shape, dtype="int32")
    return k.Model(tokens, layer(tokens))


def grouped_attention(k: Any, options: dict[str, Any], call: dict[str, Any]) -> Any:
    """A GroupQueryAttention of a (6, 5) query over a (7, 5) value (or the query itself), as `call` says."""
    query, value = k.Input((6, 5)), k.Input((7, 5))
    layer = k.layers.GroupQueryAttention(**options)
    arguments = {name: setting for name, setting in call.items() if name not in ("key", "self")}
    if call.get("self"):
        outputs = layer(query, query, **arguments)
    elif call.get("key"):
        outputs = layer(query, value, key=k.layers.Dense(5)(value), **arguments)
    else:
        outputs = layer(query, value, **arguments)
    return k.Model([query, value], outputs)


def language_model(k: Any, embedding: Any) -> Any:
    """Token ids embedded, mixed, and projected back to logits over the vocabulary by the same layer."""
    tokens = k.Input((6,), dtype="int32")
    hidden = k.layers.Dense(4, activation="tanh")(embedding(tokens))
    return k.Model(tokens, [hidden, embedding(hidden, reverse=True)])


def padded(k: Any, attention: Any) -> Any:
    """Query and value from Embedding(mask_zero): their Keras masks hide padded values and zero padded queries."""
    tokens = k.Input((6,), dtype="int32")
    embedded = k.layers.Embedding(5, 4, mask_zero=True)(tokens)
    return k.Model(tokens, attention([embedded, k.layers.Dense(4)(embedded)]))


def padded_attention(k: Any) -> Any:
    """Token 0 is padding: Embedding(mask_zero) gives the query and value Keras masks MultiHeadAttention uses
    (ids below 5: some rows of the random batch are partly padded)."""
    tokens = k.Input((6,), dtype="int32")
    embedded = k.layers.Embedding(5, 8, mask_zero=True)(tokens)
    return k.Model(tokens, k.layers.MultiHeadAttention(2, 4)(embedded, embedded))
