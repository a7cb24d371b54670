"""The layer steps of the random-graph generator (tests/random_graphs.py): layers of the registry's kinds
with random options on vectors and sequences, and on images and volumes (tests/random_image_layers.py; recurrent
layers started from other values' states and returning theirs, channels_first layers, attention, TimeDistributed
of a small model per step),
named at random from names that collide once sanitised, sometimes in float64, sometimes called again."""
from __future__ import annotations

import inspect
from typing import Any

from random_choices import Chooser, shape
from random_image_layers import ACTIVATIONS, ImageSteps

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


class LayerSteps(ImageSteps):
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

    def to_sequence(self, x: Any) -> Any:
        (n,) = shape(x)
        if n > 1 and self.c.chance(0.5):
            for a in range(2, n + 1):
                if n % a == 0:
                    return self.call("Reshape", x, (a, n // a))
        return self.call("RepeatVector", x, self.c.integer(2, 4))

    def recurrent(self, x: Any) -> Any:
        """LSTM, GRU or SimpleRNN (sometimes Bidirectional, sometimes an RNN of its cell), sometimes started from
        a state computed from the graph, sometimes returning its states."""
        k, c = self.k, self.c
        kind = c.choice(["LSTM", "GRU", "SimpleRNN"])
        units = c.integer(1, 5)
        bidirectional = c.chance(0.25)
        of_cell = c.chance(0.25)  # RNN(LSTMCell(...)): what LSTM(...) computes, written with a generic RNN
        options: dict[str, Any] = {"return_sequences": c.chance(0.5), "return_state": c.chance(0.4),
                                   "go_backwards": not bidirectional and c.chance(0.2)}
        if kind == "GRU":
            options["reset_after"] = c.chance(0.7)
        if c.chance(0.2):  # Keras's unrolled loop zeroes masked outputs otherwise (recurrent.unrolled_zeros)
            options["unroll"] = True
            if self.keras3 and c.chance(0.5):
                options["zero_output_for_mask"] = True
        if c.chance(0.25):  # other activations need the module's own cell (hard_sigmoid: Keras 2's default)
            options["activation"] = c.choice(["relu", "elu", "tanh"])
            if c.chance(0.2):  # a layer as the cell's activation (both directions' copies of it, in a Bidirectional)
                options["activation"] = self.activation_layer()
            if kind != "SimpleRNN":
                options["recurrent_activation"] = c.choice(["hard_sigmoid", "sigmoid", "tanh"])
        count = 2 if kind == "LSTM" else 1
        initial = None
        if c.chance(0.4):  # states computed from this sequence's mean: Dense(units) each
            summary = k.layers.GlobalAveragePooling1D()(x)
            initial = [k.layers.Dense(units, activation="tanh")(summary)
                       for _ in range(count * (2 if bidirectional else 1))]
        own_dtype = {"dtype": "float64"} if bidirectional and c.chance(0.15) else {}  # computed in, not the wrapper's

        def recurrent_layer(**name: Any) -> Any:
            if not of_cell:
                return getattr(k.layers, kind)(units, **options, **name, **own_dtype)
            outer = ("return_sequences", "return_state", "go_backwards", "unroll", "zero_output_for_mask")
            cell = getattr(k.layers, f"{kind}Cell")(units, **{key: v for key, v in options.items() if key not in outer})
            return k.layers.RNN(cell, **{key: options[key] for key in outer if key in options}, **name)

        if bidirectional:
            layer = self.layer("Bidirectional", recurrent_layer(), merge_mode=c.choice(["concat", "sum", "ave", "mul"]))
        else:
            chosen = self.name()
            layer = recurrent_layer(**({"name": chosen} if chosen else {}))
        self.steps.append(f"{'Bidirectional ' if bidirectional else ''}{'RNN of ' if of_cell else ''}{kind}({units}, "
                          f"{options}) as {layer.name} on {shape(x)}{' with initial_state' if initial else ''}")
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
                         "Masking"] + self.newer(["GroupQueryAttention", "AdaptiveAveragePooling1D",
                                                  "AdaptiveMaxPooling1D", "STFTSpectrogram"]))
        if kind.startswith("Adaptive"):  # TensorFlow dies (SIGFPE) pooling an axis of 1, or to 1: Keras's window
            if steps < 2:                 # is then wider than the axis
                return self.call("GlobalAveragePooling1D", x)
            return self.call(kind, x, c.integer(2, steps))
        if kind == "STFTSpectrogram":  # window=None: Keras needs scipy for a named one (the kernels hold it)
            data_format = c.choice(["channels_last", "channels_first"])
            length = c.integer(1, min(8, steps if data_format == "channels_last" else channels))
            options = {"mode": c.choice(["log", "magnitude", "psd", "real", "imag", "angle", "stft"]),
                       "frame_length": length, "frame_step": c.integer(1, length), "window": None,
                       "fft_length": c.choice([None, 16]), "padding": c.choice(["valid", "same"]),
                       "expand_dims": c.chance(0.3), "data_format": data_format}
            return self.call(kind, x, **options)
        if kind == "GroupQueryAttention":
            call = {"use_causal_mask": c.chance(0.4), "return_attention_scores": c.chance(0.3)}
            key_value_heads = c.integer(1, 2)
            options = {"head_dim": c.integer(1, 3), "num_query_heads": key_value_heads * c.integer(1, 2),
                       "num_key_value_heads": key_value_heads, "use_gate": c.chance(0.3)}
            if "use_gate" not in inspect.signature(self.k.layers.GroupQueryAttention).parameters:
                del options["use_gate"]  # Keras 3.14 and earlier have no gate (drawn all the same: seeds keep)
            if c.chance(0.3):
                options["dropout"] = 0.1
            layer = self.layer(kind, **options)
            self.steps.append(f"GroupQueryAttention({options}) {call} as {layer.name} on {shape(x)}")
            return layer(x, x, **call)
        if kind == "Masking":
            return self.masked(x)
        if kind in ("MaxPooling1D", "AveragePooling1D"):
            # windows of 1 to 3 and strides that make 'same' pad unevenly or crop (Keras's torch backend)
            return self.call(kind, x, pool_size=c.integer(1, min(3, steps)), strides=c.choice([None, 1, 2]),
                             padding=c.choice(["valid", "same"]))
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
            masked = False
            if wrapped == 0:  # an LSTM per step, over that step's channels as a sequence of one feature
                x = self.call("Reshape", x, (steps, channels, 1))
                masked = c.chance(0.4)
                if masked:  # each step's sequence masked: the recurrent layer skips its masked entries
                    x = self.masked(x)
                units = c.integer(1, 3)
                inner = getattr(self.k.layers, c.choice(["LSTM", "GRU"]))(units)
            elif wrapped == 1:  # a small model per step
                step = self.k.Input((channels,))
                self.steps.append(f"a model per step of {shape(x)}:")
                values = [step]
                for _ in range(c.integer(1, 2)):
                    values.extend(self.step_without_nesting(values))
                inner = self.k.Model(step, values[-1], name=self.name() or f"per_step_{len(self.steps)}")
            else:  # sometimes of another dtype than its wrapper: Keras 3 computes it in the wrapper's
                inner = self.k.layers.Dense(c.integer(1, 4), **({"dtype": "float64"} if c.chance(0.15) else {}))
            layer = self.layer("TimeDistributed", inner)
            self.steps.append(f"TimeDistributed({type(inner).__name__}) as {layer.name} on {shape(x)}")
            if masked and self.keras3:  # Keras 3 passes the (steps, channels) mask on, which no layer after takes
                return self.call("Reshape", layer(x), (steps, units))
            return layer(x)
        if kind == "MultiHeadAttention":
            # dropout (0 at inference) and returned scores each make Keras 3 compute the softmax itself
            call = {"use_causal_mask": c.chance(0.4), "return_attention_scores": c.chance(0.3)}
            dropout = {"dropout": 0.1} if c.chance(0.3) else {}
            layer = self.layer(kind, num_heads=c.integer(1, 2), key_dim=c.integer(1, 3), **dropout)
            self.steps.append(f"MultiHeadAttention({dropout}) {call} as {layer.name} on {shape(x)}")
            query = x
            if self.keras3 and c.chance(0.3):  # the same tensor object at inference: Keras 3.8+ clears both masks
                through = c.choice(["Dropout", "Identity", "Activation"])
                query = self.call(through, x, *{"Dropout": (0.2,), "Identity": (), "Activation": ("linear",)}[through])
            if not call["return_attention_scores"] and c.chance(0.3):  # a transformer block: added back, normalized
                add = self.layer("Add")
                self.steps.append(f"  added back to its input by {add.name}, then normalized")
                return self.call("LayerNormalization", add([x, layer(query, query, **call)]))
            return layer(query, query, **call)
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
        if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D") and c.chance(0.25):  # a sequence of one step
            return self.call(kind, x, keepdims=True)
        return self.call(kind, x)

    def dot(self, a: Any, b: Any) -> Any:
        """A Dot of two values of one shape, over their last axes or (sequences) their steps."""
        axes = self.c.choice([-1, 1]) if len(shape(a)) == 2 else -1
        layer = self.layer("Dot", axes=axes, normalize=self.c.chance(0.3))
        self.steps.append(f"Dot(axes={axes}, normalize={layer.normalize}) as {layer.name} on two {shape(a)}")
        return layer([a, b])
