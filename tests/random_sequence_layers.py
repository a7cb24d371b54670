"""The sequence steps of the random-graph generator (tests/random_layers.py's LayerSteps takes them in): a vector
made a sequence, recurrent layers (wrapped, of a cell, started from states, returning theirs), Conv1D of either
data format, masks, and the layers on sequences (pooling, padding, cropping, attention, reshapes)."""
from __future__ import annotations

import inspect
from typing import Any

from random_choices import Chooser, shape
from random_image_layers import ACTIVATIONS


class SequenceSteps:
    """Steps on sequences (steps, channels); the layer helpers (`call`, `layer`, `name`, `newer`) and state (`c`,
    `k`, `keras3`, `steps`) are LayerSteps'."""

    c: Chooser
    k: Any
    keras3: bool
    steps: list[str]

    def call(self, kind: str, value: Any, *args: Any, **options: Any) -> Any:
        raise NotImplementedError

    def layer(self, kind: str, *args: Any, **options: Any) -> Any:
        raise NotImplementedError

    def name(self) -> str | None:
        raise NotImplementedError

    def newer(self, kinds: list[str]) -> list[str]:
        raise NotImplementedError

    def step_without_nesting(self, values: list[Any]) -> list[Any]:
        raise NotImplementedError

    def activation_layer(self) -> Any:
        raise NotImplementedError

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
