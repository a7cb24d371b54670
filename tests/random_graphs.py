"""Random functional and Sequential Keras models for the differential fuzzer (tests/test_random_graphs.py,
sweeps/random_graphs.py).

A generator builds a model step by step in real Keras, choosing each step from what the
values so far allow: layers of the registry's kinds with random options (on vectors,
sequences, images and volumes; token ids embedded, their zeros masked or not), keras.ops
(Keras 3) or TensorFlow functions (tf.keras, saved as TFOpLambda/SlicingOpLambda) with
constants on either side and many more operations with random axes (tests/random_ops.py),
merges, layers and nested models shared between calls, recurrent layers started from other
values' states and returning theirs, channels_first layers, float64 layers, and layer names
that collide once sanitised. A quarter of the models grow as one chain of layers, each on the last
value, and are saved as a Sequential of them when the chain holds layers only (the form most user
models have; a chain that does not is kept functional). Every decision goes through a `Chooser`, so one
seed (or one hypothesis draw) is one graph, and `describe` tells what it holds.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, TypeVar

import numpy as np

T = TypeVar("T")

#: names that stay distinct for Keras but meet once sanitised for Python (`act-1`, `act_1`, `act.1`)
#: (Keras's auto names, `dense`, `dense_1`, collide with the second call of a shared `dense` on their own),
#: and names of (nested) models whose class would take a name the generated file defines (`einsum_dense`)
NAME_POOL = ["act-1", "act_1", "act.1", "x", "x_1", "x-1", "1st", "class", "forward", "self", "torch",
             "Dense", "dense-1", "dense.2", "lstm-1", "in0-", "F", "nn", "x__1", "x-", "einsum_dense",
             "locally_connected", "normalization", "weight", "ordered_dict", "warnings", "autocast"]
SAFE_UNARY = ["tanh", "sigmoid", "relu", "abs", "negative", "sin", "cos", "softplus", "silu", "square", "elu"]
ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "gelu", "softplus", "elu", "swish", "softsign", "hard_sigmoid"]


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int: ...  # low..high inclusive
    def choice(self, options: Sequence[T]) -> T: ...
    def chance(self, probability: float) -> bool: ...


class SeededChooser:
    """Decisions from a seed: the long run's graphs, reproducible by number."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def chance(self, probability: float) -> bool:
        return self.random.random() < probability


class DrawChooser:
    """Decisions drawn by hypothesis (`st.data()`), so a failing graph shrinks to a small one."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(self.st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.data.draw(self.st.integers(0, len(options) - 1))]

    def chance(self, probability: float) -> bool:
        return self.data.draw(self.st.integers(0, 99)) < probability * 100


@dataclass
class Built:
    model: Any
    input_shapes: list[tuple[int, ...]]
    steps: list[str] = field(default_factory=list)
    low_precision: bool = False
    vocabularies: dict[int, int] = field(default_factory=dict)  # input index -> ids drawn from range(size)

    def describe(self) -> str:
        return "\n".join(self.steps)


class Generator:
    """Grows one random model in one Keras ('keras3' or 'keras2')."""

    def __init__(self, keras: Any, chooser: Chooser, writer: str, max_steps: int = 8) -> None:
        self.k, self.c, self.writer, self.max_steps = keras, chooser, writer, max_steps
        self.keras3 = writer == "keras3"
        # Keras 3 on TensorFlow's CPU kernels computes channels_first separable and depthwise convolutions
        # wrongly (Keras on its torch backend and tf.keras agree with weightport): no reference there
        self.channels_first_convs = not (self.keras3 and keras.backend.backend() == "tensorflow")
        self.dotted_names = not (self.keras3 and keras.backend.backend() == "torch")  # torch refuses `act.1`
        # Keras 3 on its torch backend normalizes a LayerNormalization over the trailing axes (F.layer_norm)
        # whatever its axis: over axis 1 of (2, 2) it is silently wrong (Keras 3.15.1; TensorFlow's backend and
        # numpy agree with weightport), found by sweep seed 40432: no reference there
        self.inner_axis_layer_norms = not (self.keras3 and keras.backend.backend() == "torch")
        self.steps: list[str] = []
        self.used_names: set[str] = set()
        self.shared: dict[tuple[tuple[int, ...], str], Any] = {}  # (input shape, kind) -> a layer called before
        self.shared_models: dict[tuple[int, ...], Any] = {}  # input shape -> a nested model called before
        self.low_precision = False
        self.linear = False  # one chain of layers, each on the last value: a Sequential when it can be
        if not self.keras3:
            import tensorflow as tf

            self.tf = tf

    # -- names and layers -------------------------------------------------------------------------
    def name(self) -> str | None:
        if not self.c.chance(0.4):
            return None  # Keras's own auto names: dense, dense_1, ... (which collide with ours)
        candidate = self.c.choice(NAME_POOL)
        if candidate in self.used_names or ("." in candidate and not self.dotted_names):
            return None
        self.used_names.add(candidate)
        return candidate

    def layer(self, kind: str, *args: Any, **options: Any) -> Any:
        """A new layer of `keras.layers.<kind>`, named at random, sometimes in float64."""
        options.setdefault("name", self.name())
        if options["name"] is None:
            del options["name"]
        if self.c.chance(0.06) and kind not in ("Bidirectional", "TimeDistributed"):
            options["dtype"] = "float64"
        return getattr(self.k.layers, kind)(*args, **options)

    def call(self, kind: str, value: Any, *args: Any, **options: Any) -> Any:
        """Call a layer of `kind` on `value`; a layer of that kind called before on this shape is sometimes
        called again (shared weights)."""
        key = (shape(value), kind + repr(sorted(options.items())) + repr(args))
        if key in self.shared and self.c.chance(0.5):
            layer = self.shared[key]
            self.steps.append(f"{layer.name} (shared) on {shape(value)}")
            return layer(value)
        layer = self.layer(kind, *args, **options)
        self.shared[key] = layer
        self.steps.append(f"{kind}{args} {options} as {layer.name} on {shape(value)}")
        return layer(value)

    # -- the graph ------------------------------------------------------------------------------
    def build(self) -> Built:
        k = self.k
        self.linear = self.c.chance(0.25)
        input_shapes = [self.input_shape() for _ in range(1 if self.linear else self.c.integer(1, 2))]
        inputs = [k.Input(s, name=f"in{i}" if self.c.chance(0.5) else None) for i, s in enumerate(input_shapes)]
        self.steps.append(f"{self.writer}: inputs {input_shapes}{' (a chain)' if self.linear else ''}")
        values = list(inputs)
        values += [self.masked(value) for value in inputs if len(shape(value)) == 2 and self.c.chance(0.3)]
        vocabularies: dict[int, int] = {}
        if self.c.chance(0.2):  # token ids, embedded (their zeros masked or not): a sequence among the values
            if self.linear:  # the ids are the chain's input
                input_shapes, inputs = [], []
            vocabularies[len(inputs)], length = self.c.integer(2, 6), self.c.integer(2, 7)
            input_shapes.append((length,))
            inputs.append(k.Input((length,), dtype="int32"))
            self.steps.append(f"ids input ({length},) of {vocabularies[len(inputs) - 1]} tokens")
            values.append(self.call("Embedding", inputs[-1], vocabularies[len(inputs) - 1], self.c.integer(1, 4),
                                    mask_zero=self.c.chance(0.5)))
        first = len(values)
        for _ in range(self.c.integer(2, self.max_steps)):
            values.extend(self.step(values))
        produced = values[first:] or values
        outputs = [produced[-1]]
        for _ in range(0 if self.linear else self.c.integer(0, 2)):
            extra = self.c.choice(produced)
            if all(extra is not other for other in outputs):
                outputs.append(extra)
        self.steps.append(f"outputs: {[shape(o) for o in outputs]}")
        model = k.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=self.name())
        chain = self.chain_of_layers(model) if self.linear else None
        if chain:
            model = k.Sequential([k.Input(input_shapes[0], dtype="int32" if vocabularies else "float32"), *chain],
                                 name=self.name())
            self.steps.append(f"as a Sequential of {len(chain)} layers")
        return Built(model, input_shapes, self.steps, self.low_precision, vocabularies)

    def chain_of_layers(self, model: Any) -> list[Any] | None:
        """The layers of `model`, in order, when it is one chain of layers that each take one tensor, give one
        and are called once in it; else None (operations, merges, states, shared layers)."""
        flatten = self.k.tree.flatten if self.keras3 else self.tf.nest.flatten
        chain: list[Any] = []
        tensor = model.outputs[0]
        while True:
            layer, node_index, _ = tensor._keras_history
            if type(layer).__name__ == "InputLayer":
                return chain[::-1] if chain else None
            node = layer._inbound_nodes[node_index]
            inputs = node.input_tensors if self.keras3 else node.keras_inputs
            if not isinstance(layer, self.k.layers.Layer) or "OpLambda" in type(layer).__name__ \
                    or len(inputs) != 1 or len(flatten(node.outputs)) != 1 or any(layer is seen for seen in chain):
                return None
            chain.append(layer)
            tensor = inputs[0]

    def input_shape(self) -> tuple[int, ...]:
        rank = self.c.choice([1, 2, 2, 3, 3, 4])
        return tuple(self.c.integer(2, 7 if rank < 4 else 4) for _ in range(rank))

    def step(self, values: list[Any]) -> list[Any]:
        """One random step on the values so far: its new values (several for states)."""
        if self.linear:
            return self.chain_step(values[-1])
        value = self.c.choice(values[-3:] if self.c.chance(0.6) else values)
        rank = len(shape(value))
        partners = [v for v in values if v is not value and shape(v) == shape(value)]
        menu: list[Callable[[Any], Any]] = [self.elementwise, self.operation, self.normalization, self.more_ops]
        menu += self.layer_menu(rank) + ([self.reduce] if 2 <= rank <= 4 else [])
        if partners:
            menu += [lambda v: self.merge(v, self.c.choice(partners))] * 2
            if 1 <= rank <= 2:
                menu.append(lambda v: self.dot(v, self.c.choice(partners)))
        if self.c.chance(0.08):
            menu = [self.nested]
        result = self.c.choice(menu)(value)
        return list(result) if isinstance(result, (list, tuple)) else [result]

    def layer_menu(self, rank: int) -> list[Callable[[Any], Any]]:
        """The steps that are layers (or mostly: a step may add an operation) on a value of `rank`."""
        return {1: [self.dense, self.dense, self.to_sequence],
                2: [self.recurrent, self.recurrent, self.conv1d, self.sequence_layer, self.dense],
                3: [self.conv2d, self.conv2d, self.image_layer, self.dense, self.conv_lstm],
                4: [self.conv3d, self.conv3d, self.volume_layer, self.dense, self.conv_lstm]}.get(rank, [])

    def chain_step(self, value: Any) -> list[Any]:
        """A layer on the last value (a chain's step); its first output when it gives several."""
        menu = [self.normalization, self.nested] + self.layer_menu(len(shape(value)))
        result = self.c.choice(menu)(value) if shape(value) else self.normalization(value)
        return [result[0] if isinstance(result, (list, tuple)) else result]

    # -- steps --------------------------------------------------------------------------------
    def dense(self, x: Any) -> Any:
        if self.c.chance(0.2):
            return self.einsum_dense(x)
        return self.call("Dense", x, self.c.integer(1, 6), activation=self.c.choice(ACTIVATIONS),
                         use_bias=self.c.chance(0.8))

    def einsum_dense(self, x: Any) -> Any:
        """An EinsumDense that is not a Dense: the last axis split in two, the last two merged, or the last
        axis split under an ellipsis; a bias on some output axes (not the batch's)."""
        c, dims = self.c, shape(x)
        letters = "bcd"[:len(dims)]
        form = c.choice(["split", "merge", "ellipsis"] if len(dims) >= 2 else ["split", "ellipsis"])
        sizes = (c.integer(1, 3), c.integer(1, 4))
        if form == "split":
            equation, out, free = f"a{letters},{letters[-1]}xy->a{letters[:-1]}xy", (*dims[:-1], *sizes), \
                letters[:-1] + "xy"
        elif form == "merge":
            equation, out, free = f"a{letters},{letters[-2:]}x->a{letters[:-2]}x", (*dims[:-2], sizes[1]), \
                letters[:-2] + "x"
        else:
            equation, out, free = f"...{letters[-1]},{letters[-1]}xy->...xy", sizes, "xy"
        bias = "".join(letter for letter in free if c.chance(0.5)) or None
        return self.call("EinsumDense", x, equation, output_shape=out, bias_axes=bias,
                         activation=c.choice(ACTIVATIONS))

    def normalization(self, x: Any) -> Any:
        rank = len(shape(x))
        kind = self.c.choice(["BatchNormalization", "LayerNormalization", "Activation", "Dropout", "PReLU",
                              "LeakyReLU", "Softmax", "GroupNormalization", "ReLU", "ELU", "Rescaling"]
                             + (["RMSNormalization"] if self.keras3 else []))
        if kind == "GroupNormalization":
            channels = shape(x)[-1]
            groups = self.c.choice([g for g in range(1, channels + 1) if channels % g == 0])
            return self.call(kind, x, groups=groups, epsilon=self.c.choice([1e-3, 0.1]), center=self.c.chance(0.8),
                             scale=self.c.chance(0.8))
        if kind == "ReLU":
            return self.call(kind, x, max_value=self.c.choice([None, 1.5]), negative_slope=self.c.choice([0.0, 0.1]),
                             threshold=self.c.choice([0.0, 0.3]))
        if kind == "ELU":
            return self.call(kind, x, alpha=self.c.choice([1.0, 0.5]))
        if kind == "Rescaling":
            return self.call(kind, x, self.c.choice([0.5, 2.0]), offset=self.c.choice([0.0, -1.0]))
        if kind == "RMSNormalization":
            return self.call(kind, x, epsilon=self.c.choice([1e-6, 0.1]))
        if kind == "BatchNormalization":
            axis = self.c.choice([-1, 1]) if rank > 1 else -1
            return self.call(kind, x, axis=axis, epsilon=self.c.choice([1e-3, 1e-5, 0.1]),
                             center=self.c.chance(0.8), scale=self.c.chance(0.8))
        if kind == "LayerNormalization":
            axis = self.c.choice([-1, -1, 1]) if rank > 1 else -1
            axis = axis if self.inner_axis_layer_norms else -1  # the choice made all the same: seeds reproduce
            return self.call(kind, x, axis=axis, epsilon=self.c.choice([1e-3, 1e-6]), center=self.c.chance(0.8))
        if kind == "Activation":
            return self.call(kind, x, self.c.choice([a for a in ACTIVATIONS if a]))
        if kind == "Dropout":
            return self.call(kind, x, 0.3)
        if kind == "PReLU":
            return self.call(kind, x)
        if kind == "LeakyReLU":
            return self.call(kind, x, negative_slope=0.2) if self.keras3 else self.call(kind, x, alpha=0.2)
        return self.call(kind, x, axis=self.c.choice([-1, 1]) if rank > 1 else -1)

    def to_sequence(self, x: Any) -> Any:
        (n,) = shape(x)
        if n > 1 and self.c.chance(0.5):
            for a in range(2, n + 1):
                if n % a == 0:
                    return self.call("Reshape", x, (a, n // a))
        return self.call("RepeatVector", x, self.c.integer(2, 4))

    def recurrent(self, x: Any) -> Any:
        """LSTM, GRU or SimpleRNN (sometimes Bidirectional), sometimes started from a state computed from the
        graph, sometimes returning its states."""
        k, c = self.k, self.c
        kind = c.choice(["LSTM", "GRU", "SimpleRNN"])
        units = c.integer(1, 5)
        bidirectional = c.chance(0.25)
        options: dict[str, Any] = {"return_sequences": c.chance(0.5), "return_state": c.chance(0.4),
                                   "go_backwards": not bidirectional and c.chance(0.2)}
        if kind == "GRU":
            options["reset_after"] = c.chance(0.7)
        if c.chance(0.25):  # other activations need the module's own cell (hard_sigmoid: Keras 2's default)
            options["activation"] = c.choice(["relu", "elu", "tanh"])
            if kind != "SimpleRNN":
                options["recurrent_activation"] = c.choice(["hard_sigmoid", "sigmoid", "tanh"])
        count = 2 if kind == "LSTM" else 1
        initial = None
        if c.chance(0.4):  # states computed from this sequence's mean: Dense(units) each
            summary = k.layers.GlobalAveragePooling1D()(x)
            initial = [k.layers.Dense(units, activation="tanh")(summary)
                       for _ in range(count * (2 if bidirectional else 1))]
        cell = getattr(k.layers, kind)(units, **options)
        if bidirectional:
            layer = self.layer("Bidirectional", cell, merge_mode=c.choice(["concat", "sum", "ave", "mul"]))
        else:
            options["name"] = self.name()
            if options["name"] is None:
                del options["name"]
            layer = getattr(k.layers, kind)(units, **options)
        self.steps.append(f"{'Bidirectional ' if bidirectional else ''}{kind}({units}, {options}) as {layer.name} "
                          f"on {shape(x)}{' with initial_state' if initial else ''}")
        return layer(x, initial_state=initial) if initial else layer(x)

    def conv1d(self, x: Any) -> Any:
        c = self.c
        steps, channels = shape(x)
        kind = c.choice(["Conv1D", "Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose"])
        size = c.integer(1, min(3, steps))
        options: dict[str, Any] = {"padding": c.choice(["valid", "same"] + (["causal"] if kind == "Conv1D" else []))}
        if c.chance(0.3) and options["padding"] != "valid" and kind != "Conv1DTranspose":
            options["dilation_rate"] = 2
        elif c.chance(0.3) and steps > 2:
            options["strides"] = 2
        if kind == "DepthwiseConv1D":
            return self.call(kind, x, size, depth_multiplier=c.integer(1, 2), **options)
        return self.call(kind, x, c.integer(1, 5), size, activation=c.choice(ACTIVATIONS), **options)

    def masked(self, x: Any) -> Any:
        """A sequence with a Keras mask: a narrow ReLU'd one has steps of zeros, which Masking masks."""
        return self.call("Masking", self.call("Dense", x, self.c.integer(1, 2), activation="relu"), mask_value=0.0)

    def sequence_layer(self, x: Any) -> Any:
        c = self.c
        steps, channels = shape(x)
        kind = c.choice(["MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                         "Flatten", "ZeroPadding1D", "Cropping1D", "UpSampling1D", "Permute", "TimeDistributed",
                         "MultiHeadAttention", "Reshape", "Attention", "AdditiveAttention", "UnitNormalization",
                         "Masking"] + (["GroupQueryAttention", "AdaptiveAveragePooling1D", "AdaptiveMaxPooling1D"]
                                       if self.keras3 else []))
        if kind.startswith("Adaptive"):  # TensorFlow dies (SIGFPE) pooling an axis of 1, or to 1: Keras's window
            if steps < 2:                 # is then wider than the axis
                return self.call("GlobalAveragePooling1D", x)
            return self.call(kind, x, c.integer(2, steps))
        if kind == "GroupQueryAttention":
            call = {"use_causal_mask": c.chance(0.4), "return_attention_scores": c.chance(0.3)}
            key_value_heads = c.integer(1, 2)
            options = {"head_dim": c.integer(1, 3), "num_query_heads": key_value_heads * c.integer(1, 2),
                       "num_key_value_heads": key_value_heads, "use_gate": c.chance(0.3)}
            if c.chance(0.3):
                options["dropout"] = 0.1
            layer = self.layer(kind, **options)
            self.steps.append(f"GroupQueryAttention({options}) {call} as {layer.name} on {shape(x)}")
            return layer(x, x, **call)
        if kind == "Masking":
            return self.masked(x)
        if kind in ("MaxPooling1D", "AveragePooling1D"):
            return self.call(kind, x, pool_size=min(2, steps), padding=c.choice(["valid", "same"]))
        if kind == "ZeroPadding1D":
            return self.call(kind, x, (c.integer(0, 2), c.integer(0, 2)))
        if kind == "Cropping1D":
            return self.call(kind, x, (c.integer(0, (steps - 1) // 2), c.integer(0, (steps - 1) // 2)))
        if kind == "UpSampling1D":
            return self.call(kind, x, 2)
        if kind == "Permute":
            return self.call(kind, x, (2, 1))
        if kind == "TimeDistributed":
            wrapped = c.integer(0, 2)
            if wrapped == 0:  # an LSTM per step, over that step's channels as a sequence of one feature
                x = self.call("Reshape", x, (steps, channels, 1))
                inner = self.k.layers.LSTM(c.integer(1, 3))
            elif wrapped == 1:  # a small model per step
                step = self.k.Input((channels,))
                self.steps.append(f"a model per step of {shape(x)}:")
                values = [step]
                for _ in range(c.integer(1, 2)):
                    values.extend(self.step_without_nesting(values))
                inner = self.k.Model(step, values[-1], name=self.name() or f"per_step_{len(self.steps)}")
            else:
                inner = self.k.layers.Dense(c.integer(1, 4))
            layer = self.layer("TimeDistributed", inner)
            self.steps.append(f"TimeDistributed({type(inner).__name__}) as {layer.name} on {shape(x)}")
            return layer(x)
        if kind == "MultiHeadAttention":
            # dropout (0 at inference) and returned scores each make Keras 3 compute the softmax itself
            call = {"use_causal_mask": c.chance(0.4), "return_attention_scores": c.chance(0.3)}
            dropout = {"dropout": 0.1} if c.chance(0.3) else {}
            layer = self.layer(kind, num_heads=c.integer(1, 2), key_dim=c.integer(1, 3), **dropout)
            self.steps.append(f"MultiHeadAttention({dropout}) {call} as {layer.name} on {shape(x)}")
            return layer(x, x, **call)
        if kind in ("Attention", "AdditiveAttention"):
            call = {"use_causal_mask": c.chance(0.4), "return_attention_scores": c.chance(0.3)}
            options = {"use_scale": c.chance(0.5)}
            if kind == "Attention" and c.chance(0.3):
                options["score_mode"] = "concat"
            layer = self.layer(kind, **options)
            self.steps.append(f"{kind}({options}) {call} as {layer.name} on {shape(x)}")
            return layer([x, x], **call)
        if kind == "Reshape":
            return self.call(kind, x, (steps, channels, 1))
        return self.call(kind, x)

    def conv2d(self, x: Any) -> Any:
        c = self.c
        height, width, channels = shape(x)
        data_format = "channels_first" if c.chance(0.2) and self.channels_first_convs else "channels_last"
        kind = c.choice(["Conv2D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"])
        size = c.integer(1, max(1, min(3, height, width, channels if data_format == "channels_first" else 3)))
        options: dict[str, Any] = {"padding": c.choice(["valid", "same"]), "data_format": data_format}
        spatial = (width, channels) if data_format == "channels_first" else (height, width)
        size = min(size, *spatial)
        if c.chance(0.3) and min(spatial) > 2:
            options["strides"] = 2
        if kind == "DepthwiseConv2D":
            return self.call(kind, x, size, depth_multiplier=c.integer(1, 2), **options)
        return self.call(kind, x, c.integer(1, 5), size, activation=c.choice(ACTIVATIONS), **options)

    def image_layer(self, x: Any) -> Any:
        c = self.c
        height, width, channels = shape(x)
        kind = c.choice(["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                         "Flatten", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Permute", "Reshape"]
                        + (["AdaptiveAveragePooling2D", "AdaptiveMaxPooling2D"] if self.keras3 else []))
        data_format = "channels_first" if c.chance(0.2) else "channels_last"
        spatial = (width, channels) if data_format == "channels_first" else (height, width)
        if kind.startswith("Adaptive"):  # not to 1 nor over an axis of 1 (TensorFlow dies: see sequence_layer)
            if min(spatial) < 2:
                return self.call("GlobalAveragePooling2D", x, data_format=data_format)
            return self.call(kind, x, (c.integer(2, spatial[0]), c.integer(2, spatial[1])), data_format=data_format)
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            return self.call(kind, x, pool_size=min(2, *spatial), padding=c.choice(["valid", "same"]),
                             data_format=data_format)
        if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "UpSampling2D", "ZeroPadding2D"):
            return self.call(kind, x, data_format=data_format)
        if kind == "Cropping2D":
            return self.call(kind, x, ((0, (spatial[0] - 1) // 2), ((spatial[1] - 1) // 2, 0)), data_format=data_format)
        if kind == "Flatten":
            return self.call(kind, x, data_format=data_format) if c.chance(0.3) else self.call(kind, x)
        if kind == "Permute":
            return self.call(kind, x, c.choice([(3, 1, 2), (2, 1, 3), (1, 3, 2)]))
        if kind == "Reshape":
            return self.call(kind, x, (height * width, channels))
        return self.call(kind, x)

    def conv3d(self, x: Any) -> Any:
        c = self.c
        spatial = shape(x)[:3]
        kind = c.choice(["Conv3D", "Conv3D", "Conv3DTranspose"])
        size = c.integer(1, min(2, *spatial))
        options: dict[str, Any] = {"padding": c.choice(["valid", "same"])}
        if c.chance(0.3) and min(spatial) > 2:
            options["strides"] = 2
        return self.call(kind, x, c.integer(1, 3), size, activation=c.choice(ACTIVATIONS), **options)

    def volume_layer(self, x: Any) -> Any:
        c = self.c
        depth, height, width, channels = shape(x)
        kind = c.choice(["MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
                         "Flatten", "ZeroPadding3D", "Cropping3D", "UpSampling3D", "Reshape"])
        if kind in ("MaxPooling3D", "AveragePooling3D"):
            return self.call(kind, x, pool_size=min(2, depth, height, width), padding=c.choice(["valid", "same"]))
        if kind == "Cropping3D":
            return self.call(kind, x, ((0, (depth - 1) // 2), ((height - 1) // 2, 0), (0, 0)))
        if kind == "ZeroPadding3D":
            return self.call(kind, x, (c.integer(0, 1), 1, c.integer(0, 1)))
        if kind == "Reshape":
            return self.call(kind, x, (depth * height, width, channels))
        return self.call(kind, x)

    def conv_lstm(self, x: Any) -> Any:
        """A ConvLSTM1D over a sequence of rows (time, width, channels) or a ConvLSTM2D over one of images."""
        c = self.c
        dims = shape(x)
        kind = "ConvLSTM1D" if len(dims) == 3 else "ConvLSTM2D"
        size = c.integer(1, min(2, *dims[1:-1]))
        return self.call(kind, x, c.integer(1, 3), size, padding=c.choice(["valid", "same"]),
                         return_sequences=c.chance(0.5), go_backwards=c.chance(0.2),
                         activation=c.choice(["tanh", "relu"]),
                         recurrent_activation=c.choice(["sigmoid", "hard_sigmoid"]))

    def dot(self, a: Any, b: Any) -> Any:
        """A Dot of two values of one shape, over their last axes or (sequences) their steps."""
        axes = self.c.choice([-1, 1]) if len(shape(a)) == 2 else -1
        layer = self.layer("Dot", axes=axes, normalize=self.c.chance(0.3))
        self.steps.append(f"Dot(axes={axes}, normalize={layer.normalize}) as {layer.name} on two {shape(a)}")
        return layer([a, b])

    def reduce(self, x: Any) -> Any:
        """A reduction or axis-naming operation over a random axis."""
        c = self.c
        rank = len(shape(x))
        axis = c.integer(1, rank)
        keepdims = c.chance(0.5)
        name = c.choice(["mean", "sum", "max", "softmax", "concat_self"])
        self.steps.append(f"op {name} axis={axis} keepdims={keepdims} on {shape(x)}")
        if self.keras3:
            ops = self.k.ops
            if name == "softmax":
                return ops.softmax(x, axis=axis)
            if name == "concat_self":
                return ops.concatenate([x, ops.tanh(x)], axis=axis)
            return getattr(ops, name)(x, axis=axis, keepdims=keepdims)
        tf = self.tf
        if name == "softmax":
            return tf.nn.softmax(x, axis=axis)
        if name == "concat_self":
            return tf.concat([x, tf.math.tanh(x)], axis=axis)
        return getattr(tf, f"reduce_{name}")(x, axis=axis, keepdims=keepdims)

    def more_ops(self, x: Any) -> Any:
        """One of many more operations (tests/random_ops.py)."""
        from random_ops import random_op

        if not shape(x):  # a value per sample: no axis to choose
            return self.elementwise(x)
        return random_op(self.c, self.keras3, self.k.ops if self.keras3 else self.tf, x, self.steps)

    def elementwise(self, x: Any) -> Any:
        """A unary function, or arithmetic with a constant on either side."""
        c = self.c
        if c.chance(0.5):
            name = c.choice(SAFE_UNARY)
            self.steps.append(f"op {name} on {shape(x)}")
            if self.keras3:
                return getattr(self.k.ops, name)(x)
            tf = self.tf
            functions = {"relu": tf.nn.relu, "silu": tf.nn.swish, "elu": tf.nn.elu}
            return (functions.get(name) or getattr(tf.math, name))(x)
        constant: Any = round(c.choice([-1.5, -0.5, 0.25, 2.0, 3.0]), 2)
        if c.chance(0.3):  # an array broadcast along the last axis, or a column along the one before it
            constant = [round(0.5 * (i + 1) * (-1) ** i, 2) for i in range(shape(x)[-1])]
            if len(shape(x)) >= 2 and c.chance(0.3):
                constant = [[round(0.5 - 0.75 * i, 2)] for i in range(shape(x)[-2])]
        operator = c.choice(["+", "-", "*", "maximum", "minimum"])
        left = c.chance(0.5)
        numpy_array = self.keras3 and isinstance(constant, list) and c.chance(0.5)  # saved as __numpy__
        array_dtype = "float64" if numpy_array and c.chance(0.4) else "float32"  # numpy's own: Keras 3 promotes
        self.steps.append(f"op {'c ' + operator + ' x' if left else 'x ' + operator + ' c'} (c={constant}"
                          f"{', numpy ' + array_dtype if numpy_array else ''})")
        if isinstance(constant, list):
            constant = (np.array(constant, array_dtype) if numpy_array else self.k.ops.convert_to_tensor(constant)) \
                if self.keras3 else self.tf.constant(constant)
        if self.keras3:  # functions, not operators: a numpy array on the left would take the operator itself
            function = getattr(self.k.ops, {"+": "add", "-": "subtract", "*": "multiply"}.get(operator, operator))
            return function(constant, x) if left else function(x, constant)
        if operator in ("maximum", "minimum"):
            function = getattr(self.tf.math, operator)
            return function(constant, x) if left else function(x, constant)
        return {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}[operator](
            *((constant, x) if left else (x, constant)))

    def operation(self, x: Any) -> Any:
        """Shape operations: transpose, expand and squeeze, slicing."""
        c = self.c
        rank = len(shape(x))
        name = c.choice(["slice", "transpose", "expand_squeeze", "flip"] if rank > 1 else ["slice", "expand_squeeze"])
        self.steps.append(f"op {name} on {shape(x)}")
        if name == "slice":
            last, form = shape(x)[-1], c.integer(0, 2)
            # backwards: weightport flips the axis (torch has no negative step, and Keras 3 on torch refuses one)
            if form == 2 and not (self.keras3 and self.k.backend.backend() == "torch"):
                return x[:, ::-2] if c.chance(0.5) else x[..., ::-1]
            return x[..., : max(1, last - 1)] if form == 0 else x[:, ::2]
        tensor_ops = self.k.ops if self.keras3 else self.tf
        if name == "transpose":
            axes = [0] + [1 + i for i in reversed(range(rank))]
            return tensor_ops.transpose(x, axes)
        if name == "flip":
            return tensor_ops.flip(x, axis=1) if self.keras3 else self.tf.reverse(x, axis=[1])
        return tensor_ops.squeeze(tensor_ops.expand_dims(x, axis=1), axis=1)

    def merge(self, a: Any, b: Any) -> Any:
        c = self.c
        kind = c.choice(["Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum", "Concatenate", "operator"])
        if kind == "operator":
            self.steps.append(f"op a + b * 0.5 on {shape(a)}")
            return a + b * 0.5
        if kind == "Concatenate":
            layer = self.layer(kind, axis=c.integer(1, len(shape(a))))
        else:
            layer = self.layer(kind)
        self.steps.append(f"{kind} as {layer.name} on two {shape(a)}")
        return layer([a, b])

    def nested(self, x: Any) -> Any:
        """A small functional model, built from random steps, called as a layer; one made before on this
        shape is sometimes called again (each reference must name the right call: Keras numbers a nested
        model's calls differently in a call's arguments and in the model's outputs)."""
        if shape(x) in self.shared_models and self.c.chance(0.5):
            inner = self.shared_models[shape(x)]
            self.steps.append(f"nested model {inner.name} (shared) on {shape(x)}")
            return inner(x)
        inner_input = self.k.Input(shape(x))
        self.steps.append(f"nested model on {shape(x)}:")
        values = [inner_input]
        for _ in range(self.c.integer(1, 2)):
            values.extend(self.step_without_nesting(values))
        inner = self.k.Model(inner_input, values[-1], name=self.name() or f"inner_{len(self.steps)}")
        self.shared_models[shape(x)] = inner
        return inner(x)

    def step_without_nesting(self, values: list[Any]) -> list[Any]:
        value = values[-1]
        rank = len(shape(value))
        menu = [self.elementwise, self.normalization] + {1: [self.dense], 2: [self.conv1d, self.dense],
                                                          3: [self.conv2d, self.dense],
                                                          4: [self.conv3d, self.dense]}.get(rank, [])
        result = self.c.choice(menu)(value)
        return list(result) if isinstance(result, (list, tuple)) else [result]


def shape(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in value.shape[1:])


def generate(keras: Any, chooser: Chooser, writer: str, max_steps: int = 8) -> Built:
    """One random model of `writer`'s Keras ('keras3' or 'keras2')."""
    return Generator(keras, chooser, writer, max_steps).build()


def generate_time_distributed(keras: Any, chooser: Chooser, writer: str, max_steps: int = 8) -> Built:
    """A random small model (a vector's or an image's) applied to every time step: TimeDistributed(model),
    sometimes followed by a recurrent layer over the steps."""
    g = Generator(keras, chooser, writer, max_steps)
    c = g.c
    frame = c.choice([(c.integer(2, 6),), (c.integer(3, 6), c.integer(3, 6), c.integer(1, 4))])
    steps = c.integer(2, 4)
    g.steps.append(f"{writer}: a model per step of {(steps,) + frame}:")
    step = keras.Input(frame)
    values = [step]
    for _ in range(c.integer(1, 3)):
        values.extend(g.step_without_nesting(values))
    inner = keras.Model(step, values[-1], name=g.name() or "per_step")
    sequence = keras.Input((steps,) + frame)
    output = g.layer("TimeDistributed", inner)(sequence)
    if len(shape(output)) == 2 and c.chance(0.5):
        output = g.call("LSTM", output, c.integer(1, 3), return_sequences=c.chance(0.5))
    g.steps.append(f"outputs: {[shape(output)]}")
    return Built(keras.Model(sequence, output), [(steps,) + frame], g.steps, g.low_precision)
