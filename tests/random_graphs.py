"""Random functional and Sequential Keras models for the differential fuzzer (tests/test_random_graphs.py,
sweeps/random_graphs.py).

A generator builds a model step by step in real Keras, choosing each step from what the
values so far allow: layers of the registry's kinds with random options (on vectors,
sequences, images and volumes; token ids embedded, their zeros masked or not), keras.ops
(Keras 3) or TensorFlow functions (tf.keras, saved as TFOpLambda/SlicingOpLambda) with
constants on either side and many more operations with random axes (tests/random_ops.py),
merges, layers and nested models shared between calls, recurrent layers started from other
values' states and returning theirs, channels_first layers, float64 layers (nested models' Inputs too), and layer names
that collide once sanitised. A quarter of the models grow as one chain of layers, each on the last
value, and are saved as a Sequential of them when the chain holds layers only (the form most user
models have; a chain that does not is kept functional). Every decision goes through a `Chooser`, so one
seed (or one hypothesis draw) is one graph, and `describe` tells what it holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from random_choices import Chooser, shape
from random_layers import LayerSteps

SAFE_UNARY = ["tanh", "sigmoid", "relu", "abs", "negative", "sin", "cos", "softplus", "silu", "square", "elu"]


@dataclass
class Built:
    model: Any
    input_shapes: list[tuple[int, ...]]
    steps: list[str] = field(default_factory=list)
    low_precision: bool = False
    vocabularies: dict[int, int] = field(default_factory=dict)  # input index -> ids drawn from range(size)
    lambdas: dict[str, str] = field(default_factory=dict)  # Lambda layer name -> its expression

    def describe(self) -> str:
        return "\n".join(self.steps)


def draw_inputs(built: Built, chooser: Chooser) -> list[np.ndarray]:
    """A batch of 2 for the graph: ids from each vocabulary, floats from a normal draw, or, for a graph in three, on
    a grid of halves (-2 to 2: values at a threshold, ties and exact zeros that mask, which normal draws never hit).
    Drawn after the graph, so that every seed's graph stays as it was."""
    rng = np.random.default_rng(0)
    on_grid = chooser.chance(1 / 3)
    if on_grid:
        built.steps.append("inputs: on a grid of halves, -2 to 2")

    def floats(s: tuple[int, ...]) -> np.ndarray:
        return (rng.integers(-4, 5, (2,) + s) / 2 if on_grid else rng.normal(0, 1, (2,) + s)).astype("float32")

    return [rng.integers(0, built.vocabularies[i], (2,) + s).astype("int32") if i in built.vocabularies
            else floats(s) for i, s in enumerate(built.input_shapes)]


class Generator(LayerSteps):
    """Grows one random model in one Keras ('keras3' or 'keras2')."""

    def __init__(self, keras: Any, chooser: Chooser, writer: str, max_steps: int = 8) -> None:
        super().__init__(keras, chooser, writer)
        self.max_steps = max_steps
        self.shared_models: dict[tuple[int, ...], Any] = {}  # input shape -> a nested model called before
        self.linear = False  # one chain of layers, each on the last value: a Sequential when it can be

    # -- the graph ------------------------------------------------------------------------------
    def build(self) -> Built:
        k = self.k
        self.linear = self.c.chance(0.3)
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
        name = self.name()
        try:
            model = k.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)
        except ValueError as error:  # Keras 3 before 3.12 (about) wants every input to reach an output
            if not self.keras3 or "not connected" not in str(error):
                raise
            reached = self.reached(outputs)
            used = [index for index, value in enumerate(inputs) if id(value) in reached]
            self.steps.append(f"inputs {[input_shapes[i] for i in used]} only: the others reach no output")
            vocabularies = {position: vocabularies[i] for position, i in enumerate(used) if i in vocabularies}
            inputs, input_shapes = [inputs[i] for i in used], [input_shapes[i] for i in used]
            model = k.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)
        chain = self.chain_of_layers(model) if self.linear else None
        if chain:
            model = k.Sequential([k.Input(input_shapes[0], dtype="int32" if vocabularies else "float32"), *chain],
                                 name=self.name())
            self.steps.append(f"as a Sequential of {len(chain)} layers")
        return Built(model, input_shapes, self.steps, self.low_precision, vocabularies, in_model(model, self.lambdas))

    @staticmethod
    def reached(outputs: list[Any]) -> set[int]:
        """The ids of the Keras 3 symbolic tensors that `outputs` are computed from, themselves included."""
        seen: set[int] = set()
        pending = list(outputs)
        while pending:
            tensor = pending.pop()
            if id(tensor) not in seen:
                seen.add(id(tensor))
                operation, node_index, _ = tensor._keras_history
                pending.extend(operation._inbound_nodes[node_index].input_tensors)
        return seen

    def chain_of_layers(self, model: Any) -> list[Any] | None:
        """The layers of `model`, in order, when it is one chain of layers that each take one tensor, give one
        and are called once in it; else None (operations, merges, states, shared layers)."""
        flatten = (self.k.tree.flatten if hasattr(self.k, "tree") else _flattened) if self.keras3 \
            else self.tf.nest.flatten  # (Keras 3.0 has no keras.tree)
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


    # -- operations, merges and nested models ----------------------------------------------------
    def reduce(self, x: Any) -> Any:
        """A reduction or axis-naming operation over a random axis."""
        c = self.c
        rank = len(shape(x))
        axis = c.integer(1, rank)
        keepdims = c.chance(0.5)
        name = c.choice(["mean", "sum", "max", "softmax", "concat_self"])
        # x with itself: the only operations a Keras 3 .h5 can hold and load (as the Concatenate layer, masks on)
        twice = name == "concat_self" and c.chance(0.5)
        self.steps.append(f"op {name} axis={axis} keepdims={keepdims}{' twice' if twice else ''} on {shape(x)}")
        if self.keras3:
            ops = self.k.ops
            if name == "softmax":
                return ops.softmax(x, axis=axis)
            if name == "concat_self":
                return ops.concatenate([x, x if twice else ops.tanh(x)], axis=axis)
            return getattr(ops, name)(x, axis=axis, keepdims=keepdims)
        tf = self.tf
        if name == "softmax":
            return tf.nn.softmax(x, axis=axis)
        if name == "concat_self":
            return tf.concat([x, x if twice else tf.math.tanh(x)], axis=axis)
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
        if shape(x) and c.chance(0.3):  # an array broadcast along the last axis, or a column along the one before it
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
        name = c.choice(["slice", "transpose", "expand_squeeze", "flip"] if rank > 1 else
                        ["slice", "expand_squeeze"] if rank else ["expand_squeeze"])  # rank 0: one value a sample
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
        if kind == "Concatenate" and not shape(a):  # one value per sample (a reduction's): no axis to join on
            kind = "Add"
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
        # a float64 Input: the model converts what it is called on (Keras 3.0 to 3.4: to its first layer's dtype),
        # and the masks of the layers after a cast are Keras's own per version (fixtures/keras3.3/nested_casts)
        dtype = "float64" if self.c.chance(0.15) else "float32"
        inner_input = self.k.Input(shape(x), dtype=dtype)
        self.steps.append(f"nested model on {shape(x)}{' (float64 Input)' if dtype == 'float64' else ''}:")
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
    model = keras.Model(sequence, output)
    return Built(model, [(steps,) + frame], g.steps, g.low_precision, lambdas=in_model(model, g.lambdas))


def in_model(model: Any, lambdas: dict[str, str]) -> dict[str, str]:
    """The Lambda layers' expressions of those the model holds (a step may reach no output: left out of it; another
    layer may then have its name, an EinsumDense auto-named `einsum_dense` after a left-out Lambda of that name)."""
    names, pending = set(), list(model.layers)
    while pending:
        layer = pending.pop()
        if type(layer).__name__ == "Lambda":
            names.add(layer.name)
        pending += list(getattr(layer, "layers", [])) + ([layer.layer] if hasattr(layer, "layer") else [])
    return {name: text for name, text in lambdas.items() if name in names}


def _flattened(value: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts (keras.tree.flatten, for a Keras without it)."""
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flattened(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _flattened(item)]
    return [value]
