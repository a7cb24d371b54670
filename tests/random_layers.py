"""The layer steps of the random-graph generator (tests/random_graphs.py): layers of the registry's kinds
with random options on vectors and sequences, and on images and volumes (tests/random_image_layers.py; recurrent
layers started from other values' states and returning theirs, channels_first layers, attention, TimeDistributed
of a small model per step),
named at random from names that collide once sanitised, sometimes in float64, sometimes called again."""
from __future__ import annotations

from typing import Any

from random_choices import Chooser, shape
from random_image_layers import ACTIVATIONS, ImageSteps
from random_sequence_layers import SequenceSteps

#: names that stay distinct for Keras but meet once sanitised for Python (`act-1`, `act_1`, `act.1`)
#: (Keras's auto names, `dense`, `dense_1`, collide with the second call of a shared `dense` on their own),
#: and names of (nested) models whose class would take a name the generated file defines (`einsum_dense`)
#: Lambda layers' functions, shape-preserving, as users wrote them with Keras's backend (`K`: tf_keras.backend, or
#: keras.ops); each Lambda is given its text as its expression (converter's lambdas=)
LAMBDA_TEXTS = ["x / 127.5 - 1.0", "K.relu(x) * 2.0 - 0.5", "K.square(x) + x", "K.maximum(x, 0.1)",
                "K.clip(x, -0.5, 0.5)", "x - K.mean(x, axis=-1, keepdims=True)", "K.sigmoid(x) * x", "x[..., ::-1]",
                "K.tanh(x) ** 2", "K.abs(x) + K.exp(-x)", "K.softplus(x) - K.softsign(x)", "K.round(x * 4.0) / 4.0",
                "x - K.std(x, axis=-1, keepdims=True)"]
#: the globals of those functions (a closure would not save: Keras copies a Lambda's closure)
LAMBDA_GLOBALS: dict[str, Any] = {}

NAME_POOL = ["act-1", "act_1", "act.1", "x", "x_1", "x-1", "1st", "class", "forward", "self", "torch",
             "Dense", "dense-1", "dense.2", "lstm-1", "in0-", "F", "nn", "x__1", "x-", "einsum_dense",
             "locally_connected", "normalization", "weight", "ordered_dict", "warnings", "autocast"]


class LayerSteps(SequenceSteps, ImageSteps):
    """Steps that call layers on a value, and the state they share with the graph around them (the
    generator, tests/random_graphs.py, adds operations, merges and nested models)."""

    def __init__(self, keras: Any, chooser: Chooser, writer: str) -> None:
        self.k, self.c, self.writer = keras, chooser, writer
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
        self.low_precision = False
        self.lambdas: dict[str, str] = {}  # Lambda layer name -> the expression its function computes
        if not self.keras3:
            import tensorflow as tf

            self.tf = tf

    def newer(self, kinds: list[str]) -> list[str]:
        """Of these Keras 3 layer kinds, those the running Keras has (an earlier Keras 3 lacks some: the graph is
        drawn from the others instead of failing; today's Keras has them all, so its graphs stay as they were)."""
        return [kind for kind in kinds if self.keras3 and hasattr(self.k.layers, kind)]

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
        if self.c.chance(0.06) and kind not in ("Bidirectional", "TimeDistributed", "SpectralNormalization"):
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

    def step_without_nesting(self, values: list[Any]) -> list[Any]:
        """A step on the last value that nests no model (the generator's: a model per time step takes them)."""
        raise NotImplementedError

    # -- steps --------------------------------------------------------------------------------
    def dense(self, x: Any) -> Any:
        if self.c.chance(0.2):
            return self.einsum_dense(x)
        activation = self.c.choice(ACTIVATIONS)
        if self.c.chance(0.1):  # a layer as the activation: built by its options, not its name (ELU is `elu`)
            activation = self.activation_layer()
        if self.keras3 and self.c.chance(0.1):  # its kernel as it was last normalized (the one saved) at inference
            dense = self.k.layers.Dense(self.c.integer(1, 6), activation=activation)
            layer = self.layer("SpectralNormalization", dense, power_iterations=self.c.integer(1, 2))
            self.steps.append(f"SpectralNormalization(Dense) as {layer.name} on {shape(x)}")
            return layer(x)
        return self.call("Dense", x, self.c.integer(1, 6), activation=activation, use_bias=self.c.chance(0.8))

    def activation_layer(self) -> Any:
        c, layers = self.c, self.k.layers
        kind = c.choice(["ELU", "LeakyReLU", "ReLU"])
        if kind == "ELU":
            return layers.ELU(alpha=c.choice([0.5, 1.5]))
        if kind == "LeakyReLU":
            return layers.LeakyReLU()  # 0.3, where keras.activations.leaky_relu's slope is 0.2
        return layers.ReLU(max_value=c.choice([None, 6.0]), negative_slope=c.choice([0.0, 0.1]),
                           threshold=c.choice([0.0, 0.3]))

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
                              "LeakyReLU", "Softmax", "GroupNormalization", "ReLU", "ELU", "Rescaling",
                              "Normalization", "InferenceOnly", "Lambda"] + self.newer(["RMSNormalization"])
                             + ([] if self.keras3 else ["ThresholdedReLU"]))
        if kind == "GroupNormalization" and not rank:  # a scalar per sample has no channels to group
            kind = "Activation"
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
        if kind == "Normalization":
            return self.preprocessing_normalization(x)
        if kind == "Lambda":
            return self.lambda_layer(x)
        if kind == "InferenceOnly":
            return self.inference_only(x)
        if kind == "ThresholdedReLU":
            return self.call(kind, x, theta=self.c.choice([0.0, 0.5, 1.0]))
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

    def lambda_layer(self, x: Any) -> Any:
        """A Lambda computing one of LAMBDA_TEXTS, its text recorded as the layer's expression."""
        text = self.c.choice(LAMBDA_TEXTS)
        LAMBDA_GLOBALS["K"] = self.k.ops if self.keras3 else self.k.backend
        layer = self.layer("Lambda", eval(f"lambda x: {text}", LAMBDA_GLOBALS))  # noqa: S307 - our own texts
        self.lambdas[layer.name] = text
        self.steps.append(f"Lambda {text!r} as {layer.name} on {shape(x)}")
        return layer(x)

    def inference_only(self, x: Any) -> Any:
        """A layer that is the identity at inference: a dropout or noise (they pass a mask on), or a random
        augmentation (not marked to support masks: a mask stays on the tensor or is dropped, as each Keras does;
        on a sequence, Keras takes it for one image)."""
        c, rank = self.c, len(shape(x))
        kinds = ["GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"]
        if 2 <= rank <= 4:
            kinds.append(f"SpatialDropout{rank - 1}D")
        if rank in (2, 3):
            kinds += ["RandomFlip", "RandomContrast", "RandomZoom", "RandomTranslation", "RandomRotation",
                      "RandomBrightness"]
        kind = c.choice(kinds)
        if kind == "ActivityRegularization":
            return self.call(kind, x, l1=0.01)
        if kind == "GaussianNoise":
            return self.call(kind, x, 0.5)
        if kind in ("RandomFlip", "RandomContrast", "RandomZoom", "RandomRotation", "RandomBrightness"):
            return self.call(kind, x, *(() if kind == "RandomFlip" else (0.2,)))
        if kind == "RandomTranslation":
            return self.call(kind, x, 0.2, 0.2)
        return self.call(kind, x, 0.3)

    def preprocessing_normalization(self, x: Any) -> Any:
        """Normalization over the last axis, the first, the first and last, or none (one mean); its mean and
        variance adapted (randomize draws them) or, for one axis, given in the config; sometimes inverted."""
        c, dims = self.c, shape(x)
        axis = c.choice([-1, None] + ([1, (1, len(dims))] if len(dims) > 1 else [])) if dims else None
        options: dict[str, Any] = {"axis": axis, "invert": c.chance(0.3)}
        if isinstance(axis, int) and c.chance(0.3):
            size = dims[axis - 1] if axis > 0 else dims[-1]
            options["mean"] = [c.choice([-1.0, 0.5, 2.0]) for _ in range(size)]
            options["variance"] = [c.choice([0.25, 1.0, 4.0]) for _ in range(size)]
        return self.call("Normalization", x, **options)

    def dot(self, a: Any, b: Any) -> Any:
        """A Dot of two values of one shape, over their last axes or (sequences) their steps."""
        axes = self.c.choice([-1, 1]) if len(shape(a)) == 2 else -1
        layer = self.layer("Dot", axes=axes, normalize=self.c.chance(0.3))
        self.steps.append(f"Dot(axes={axes}, normalize={layer.normalize}) as {layer.name} on two {shape(a)}")
        return layer([a, b])
