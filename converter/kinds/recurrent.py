"""Shared by the LSTM, GRU and SimpleRNN rules and the Bidirectional wrapper.

Keras kernels are (in, gates*units) and recurrent kernels (units, gates*units); torch's
weight_ih/weight_hh are (gates*units, in/units): transposed. LSTM gates are i, f, c, o
in Keras and i, f, g, o in torch (the same order). GRU gates are z, r, h in Keras and
r, z, n in torch: the blocks are reordered. Keras has one bias (GRU reset_after=True:
an input and a recurrent row); torch has bias_ih and bias_hh, the missing one zeros.

Keras 2's CuDNNLSTM and CuDNNGRU (tf.keras 1.x's too) are an LSTM and a GRU with
reset_after=True, tanh and sigmoid, computed by cuDNN: each gate's block of a kernel holds
cuDNN's (units, in) matrix in its C-order values, and their 8u/6u bias is the input biases
then the recurrent ones, torch's bias_ih and bias_hh.
"""
from __future__ import annotations

from typing import Any

from ..config import Config, activation_name
from ..graph import Layer
from ..layouts import Chain, Layout, Transform, permutation
from ..regroupings import CudnnGateBlocks, GateReorder, Half, TakeRow
from ..conversion import LayerConversion, TargetTensor, TorchModule
from .forward import KERAS, Emitter, Value, activation, literal, ran_on_jax, require_weights
from .registry import Kind, register
from .rules import Context, Variable, created, expect_shape, numbered, to_torch
from .stateful import carried_in, carried_out

#: the torch.nn module of each Keras recurrent layer
TORCH_MODULES = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN", "CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "CuDNNLSTM": 4, "CuDNNGRU": 3}
#: the cuDNN-only layers, and the recurrent layer each computes
CUDNN = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
# torch's r, z, n blocks taken from Keras's z, r, h blocks
GRU_GATES: dict[str, Any] = {"keras_order": "zrh", "torch_order": "rzn", "source": (1, 0, 2)}


def rnn_variables(class_name: str, config: Config, store_prefix: str = "cell/",
                  role_prefix: str = "") -> list[Variable]:
    """kernel, recurrent_kernel, bias of a recurrent layer, stored under `store_prefix`."""
    if class_name in CUDNN:  # always with its two biases; no cell: the layer holds its variables itself
        return numbered(store_prefix.removesuffix("cell/"), [("kernel", Layout.CUDNN_RNN_KERNEL_IG),
                                       ("recurrent_kernel", Layout.CUDNN_RNN_KERNEL_IG),
                                       ("bias", Layout.CUDNN_RNN_BIAS_2G)], role_prefix)
    bias_layout = Layout.KERAS_RNN_BIAS_G if class_name == "GRU" else Layout.VECTOR
    entries: list[tuple[str, Layout]] = [("kernel", Layout.KERAS_RNN_KERNEL_IG),
                                         ("recurrent_kernel", Layout.KERAS_RNN_RECURRENT_UG)]
    if config.bool("use_bias", True):
        entries.append(("bias", bias_layout))
    return numbered(store_prefix, entries, role_prefix)


def _reset_after(layer: Layer, class_name: str, config: Config, role_prefix: str = "") -> bool:
    """GRU's reset_after: the (2, 3u) bias says so; else the config, absent before Keras 2.1.3 (False)."""
    if class_name != "GRU":
        return False
    bias = role_prefix + "bias"
    if layer.has(bias):
        return len(layer.tensor(bias).shape) == 2
    # tf.keras 2 and Keras 3 always write it (default True); standalone Keras before 2.1.3 had no such option
    return config.bool("reset_after", False)


def check_shapes(layer: Layer, class_name: str, config: Config, role_prefix: str = "") -> None:
    """Kernel (in, g*u), recurrent kernel (u, g*u) and bias agree with each other and with `units`."""
    gates = GATES[class_name]
    units = config.optional_int("units", minimum=1)
    expect_shape(layer, role_prefix + "recurrent_kernel", (units, gates * units if units else None),
                 f"(units, {gates}*units)")
    units = layer.tensor(role_prefix + "recurrent_kernel").shape[0]
    expect_shape(layer, role_prefix + "recurrent_kernel", (units, gates * units), f"(units, {gates}*units)")
    expect_shape(layer, role_prefix + "kernel", (None, gates * units), f"(in, {gates}*units)")
    bias = role_prefix + "bias"
    if class_name in CUDNN:
        expect_shape(layer, bias, (2 * gates * units,), f"(2*{gates}*units,): input, then recurrent biases")
    elif layer.has(bias) and not (class_name == "GRU" and len(layer.tensor(bias).shape) == 2):
        expect_shape(layer, bias, (gates * units,), f"({gates}*units,)")
    elif layer.has(bias):
        expect_shape(layer, bias, (2, gates * units), "(2, 3*units) with reset_after=True")


def rnn_tensors(layer: Layer, class_name: str, config: Config, role_prefix: str = "",
                suffix: str = "", layer_index: int = 0) -> list[TargetTensor]:
    """The torch tensors `weight_ih_l{layer_index}{suffix}`, ... of one direction of a recurrent layer."""
    check_shapes(layer, class_name, config, role_prefix)
    if class_name in CUDNN:
        return _cudnn_tensors(layer, class_name, role_prefix, f"_l{layer_index}{suffix}")
    kernel_steps: dict[str, Transform | None] = {"kernel": None, "recurrent_kernel": None}
    if class_name == "GRU":
        for role, source in (("kernel", Layout.KERAS_RNN_KERNEL_IG),
                             ("recurrent_kernel", Layout.KERAS_RNN_RECURRENT_UG)):
            kernel_steps[role] = GateReorder(**GRU_GATES, axis=1, then=permutation(source, Layout.TORCH_RNN_WEIGHT_GI))
    tensors = [
        to_torch(layer, role_prefix + "kernel", f"weight_ih_l{layer_index}{suffix}", Layout.TORCH_RNN_WEIGHT_GI,
                 kernel_steps["kernel"]),
        to_torch(layer, role_prefix + "recurrent_kernel", f"weight_hh_l{layer_index}{suffix}",
                 Layout.TORCH_RNN_WEIGHT_GI,
                 kernel_steps["recurrent_kernel"]),
    ]
    bias = role_prefix + "bias"
    if not layer.has(bias):
        return tensors
    units = layer.tensor(role_prefix + "recurrent_kernel").shape[0]
    if class_name != "GRU":
        tensors.append(to_torch(layer, bias, f"bias_ih_l{layer_index}{suffix}", Layout.VECTOR))
        tensors.append(created(layer, f"bias_hh_l{layer_index}{suffix}", 0.0, (GATES[class_name] * units,), bias,
                               "zeros (Keras has one bias, torch two that add up)"))
    elif _reset_after(layer, class_name, config, role_prefix):
        for row, name in ((0, "ih"), (1, "hh")):
            step = Chain((TakeRow(row), GateReorder(**GRU_GATES, axis=0)))
            tensors.append(to_torch(layer, bias, f"bias_{name}_l{layer_index}{suffix}", Layout.TORCH_RNN_BIAS_G,
                                    step))
    else:
        tensors.append(to_torch(layer, bias, f"bias_ih_l{layer_index}{suffix}", Layout.TORCH_RNN_BIAS_G,
                                GateReorder(**GRU_GATES, axis=0)))
        tensors.append(created(layer, f"bias_hh_l{layer_index}{suffix}", 0.0, (3 * units,), bias,
                               "zeros (reset_after=False has one bias)"))
    return tensors


def _cudnn_tensors(layer: Layer, class_name: str, role_prefix: str, ending: str) -> list[TargetTensor]:
    """weight_ih, weight_hh, bias_ih, bias_hh (names ending in `ending`) of a CuDNNLSTM or CuDNNGRU."""
    gru = CUDNN[class_name] == "GRU"
    gates = GRU_GATES if gru else {"keras_order": "ifco", "torch_order": "ifgo", "source": (0, 1, 2, 3)}
    tensors = [to_torch(layer, role_prefix + role, f"weight_{name}{ending}", Layout.TORCH_RNN_WEIGHT_GI,
                        CudnnGateBlocks(**gates)) for role, name in (("kernel", "ih"), ("recurrent_kernel", "hh"))]
    for index, name in ((0, "ih"), (1, "hh")):
        step: Transform = Chain((Half(index), GateReorder(**GRU_GATES, axis=0))) if gru else Half(index)
        tensors.append(to_torch(layer, role_prefix + "bias", f"bias_{name}{ending}", Layout.TORCH_RNN_BIAS_G, step))
    return tensors


def rnn_arguments(layer: Layer, class_name: str, config: Config,
                  role_prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """nn.LSTM/GRU/RNN arguments, and the Keras options the code around it must honour."""
    arguments: dict[str, Any] = {
        "input_size": layer.tensor(role_prefix + "kernel").shape[0],
        "hidden_size": layer.tensor(role_prefix + "recurrent_kernel").shape[0],
        "num_layers": 1, "bias": layer.has(role_prefix + "bias"), "batch_first": True,
    }
    options: dict[str, Any] = {
        "return_sequences": config.bool("return_sequences", False),
        "go_backwards": config.bool("go_backwards", False),
        "activation": activation_name(config.get("activation", "tanh")),
    }
    if class_name == "SimpleRNN":  # nn.RNN has tanh or relu; for another, keras_rnn() runs on its parameters
        arguments["nonlinearity"] = options["activation"] if options["activation"] in ("tanh", "relu") else "tanh"
    else:
        options["recurrent_activation"] = activation_name(config.get("recurrent_activation", "sigmoid"))
    if class_name == "GRU":
        options["reset_after"] = _reset_after(layer, class_name, config, role_prefix)
    elif class_name == "CuDNNGRU":
        options["reset_after"] = True  # cuDNN's GRU applies the reset gate after the recurrent matmul
    for name in ("unroll", "stateful"):  # shown where set: each changes what the module computes
        if config.bool(name, False):
            options[name] = True
    return arguments, options


def rnn_warnings(layer: Layer, class_name: str, options: dict[str, Any]) -> list[str]:
    """What torch's built-in module cannot do of this layer: it needs its own cell then."""
    warnings = []
    module = f"nn.{TORCH_MODULES[class_name]}"
    if class_name == "SimpleRNN" and options["activation"] not in ("tanh", "relu"):
        warnings.append(f"layer {layer.key}: activation {options['activation']!r}: nn.RNN has tanh or relu only")
    if class_name != "SimpleRNN":
        if options["activation"] != "tanh":
            warnings.append(f"layer {layer.key}: activation {options['activation']!r}: {module} uses tanh; "
                            "it needs its own cell")
        if options["recurrent_activation"] != "sigmoid":
            hint = " (Keras 2's clip(0.2x + 0.5, 0, 1))" if options["recurrent_activation"] == "hard_sigmoid" else ""
            warnings.append(f"layer {layer.key}: recurrent_activation {options['recurrent_activation']!r}{hint}: "
                            f"{module} uses sigmoid; it needs its own cell")
    if class_name == "GRU" and not options["reset_after"]:
        warnings.append(f"layer {layer.key}: GRU reset_after=False applies the reset gate before the recurrent "
                        "matmul; nn.GRU applies it after: it needs its own cell (weights are in nn.GRU layout)")
    zeroes = layer.class_name == "Bidirectional" and options["return_sequences"] or \
        layer.config.bool("zero_output_for_mask", False)
    if options.get("unroll") and zeroes and layer.module is not None:  # a Keras 3 config records its module
        warnings.append(f"layer {layer.key}: unroll=True: given a mask, Keras's unrolled loop zeroes the outputs of "
                        "masked steps on TensorFlow and not on JAX; the module computes as the Keras that wrote the "
                        "file did on its backend, TensorFlow unless the file or keras_backend (--keras-backend) names "
                        "another")
    return warnings


def needs_own_cell(kind: str, options: dict[str, Any], mask: str | None) -> bool:
    """Whether torch's nn.LSTM/GRU/RNN cannot compute this Keras layer: then keras_rnn() runs it."""
    if mask is not None:
        return True
    if kind == "SimpleRNN":
        return options["activation"] not in ("tanh", "relu")
    return (options["activation"] != "tanh" or options["recurrent_activation"] != "sigmoid"
            or (kind == "GRU" and not options["reset_after"]))


def _function(e: Emitter, entry: Any) -> str:
    """An activation (a name, or its entry as written: a layer given as one) as a one-argument function for
    keras_rnn()."""
    return "lambda t: " + activation(e, entry, Value("t", KERAS, 2))


def refuse_unbuilt_state(e: Emitter, config: Config, stateful_built: bool = False) -> None:
    """A stateful layer carries its state from one call to the next (built where `stateful_built`: stateful.py). A
    time_major layer (tf.keras) reads its input's first axis as time, which the generated forward would take for
    the batch."""
    if config.bool("stateful", False) and not stateful_built:
        raise e.unsupported("stateful=True carries its state from one call to the next, which is not built for this "
                            "layer; rebuild the model with stateful=False")
    if config.bool("time_major", False):
        raise e.unsupported("time_major=True (inputs (time, batch, features)) is not built yet")


def initial_states(e: Emitter, kind: str, count: int, policy: Config | None = None) -> list[str]:
    """The states a call starts from, as expressions (none: zeros), cast as the layer of `policy` casts them (a
    wrapper's recurrent layer of its own dtype policy).

    Keras 3 records `initial_state=` as a keyword argument; Keras 2 and tf.keras append the
    states to the call's inputs (x, h, c). `count` is how many the layer takes.
    """
    if e.call.kwargs.get("constants") is not None:
        raise e.unsupported("called with constants (a custom cell's extra inputs); no torch module takes them")
    named = e.named("initial_state")
    if named is None:
        values: list[Any] = list(e.inputs[1:])
    else:
        values = named if isinstance(named, list) else [named]
    if not values:
        return []
    if len(values) != count or not all(isinstance(value, Value) for value in values):
        raise e.unsupported(f"called with {len(values)} initial state value(s); a {kind} here takes {count} tensors")
    for value in values:
        if value.rank not in (None, 2):
            raise e.unsupported(f"an initial state of rank {value.rank}; Keras states are (batch, units)")
    return [e.convert(value if policy is None else e.cast_for(policy, value), KERAS) for value in values]


def direction(e: Emitter, kind: str, x: str, suffix: str, options: dict[str, Any], config: Config,
              mask: str | None, states: list[str] | None = None, zero_masked: bool = False) -> str:
    """keras_rnn() over one direction's parameters (`suffix` '' or '_reverse'); returns (outputs, h, c).

    The cell's activations are the entries of the recurrent layer's `config` as written: a Keras layer given as
    one (ELU(alpha=0.5)) is built from its options. `states` are its initial h (and c for an LSTM), or none for
    zeros; `zero_masked`: masked steps output zeros (Keras's zero_output_for_mask), not the previous output.
    """
    result = require_weights(e)
    module = e.attribute
    biased = result.module.arguments["bias"]
    bias = f"{module}.bias_ih_l0{suffix}" if biased else "None"
    bias_hh = f"{module}.bias_hh_l0{suffix}" if biased else "None"
    activation = config.get("activation", "tanh")
    recurrent = config.get("recurrent_activation", "sigmoid")
    # Keras 3's loop over time on JAX outputs the state a masked step keeps, where the others output the previous
    # output: the same after the first step not masked, the initial state (not zeros) before it
    from_state = bool(mask and states and ran_on_jax(e) and not options.get("unroll"))
    return (f"{e.helper('keras_rnn')}({x}, {literal(kind)}, {module}.weight_ih_l0{suffix}, "
            f"{module}.weight_hh_l0{suffix}, {bias}, {bias_hh}, {_function(e, activation)}, "
            f"{_function(e, recurrent)}, {literal(bool(options.get('reset_after', True)))}, {mask or 'None'}"
            + "".join(f", {state}" for state in states or []) + (", zero_masked=True" if zero_masked else "")
            + (", masked_state_out=True" if from_state else "") + ")")


def unrolled_zeros(e: Emitter, options: dict[str, Any], zero_masked: bool, backwards: bool) -> str:
    """How Keras zeroes the outputs of masked steps (`zero_masked`: zero_output_for_mask) for a sequence it returns.

    "none": at no step (a masked step repeats the previous output); "steps": at each masked step. Keras's unrolled
    loop (unroll=True) differs: on JAX it zeroes none (its unrolled code never reads zero_output_for_mask); on
    TensorFlow (tf.keras too) it zeroes the sequence afterwards by the mask in the input's order, though a backwards
    pass (go_backwards, a Bidirectional's backward layer) made it in reverse: "input_order", the outputs of the steps
    the reversed mask drops repeating the previous one (Keras's torch backend refuses that unrolled pass).
    """
    if not zero_masked:
        return "none"
    if not options.get("unroll"):
        return "steps"
    if ran_on_jax(e):
        return "none"
    return "input_order" if backwards and options["return_sequences"] else "steps"


def zero_by_input_order(e: Emitter, outputs: str, mask: str) -> None:
    """Zero `outputs` (in the order a backwards pass made them) where `mask`, in the input's order, is False."""
    e.statement(f"{outputs} = torch.where({mask}.unsqueeze(-1), {outputs}, torch.zeros_like({outputs}))")


def torch_states(kind: str, directions: list[list[str]]) -> str:
    """The hx argument of nn.LSTM/GRU/RNN from each direction's states: (layers*directions, batch, units)."""
    stacked = [f"torch.stack([{', '.join(states[index] for states in directions)}])"
               for index in range(len(directions[0]))]
    return f"({stacked[0]}, {stacked[1]})" if kind == "LSTM" else stacked[0]


def recurrent_convert(layer: Layer, class_name: str, config: Config, role_prefix: str = "") -> LayerConversion:
    """One direction of a recurrent layer (LSTM, GRU, SimpleRNN, or RNN of their cell) as the module's l0."""
    arguments, options = rnn_arguments(layer, class_name, config, role_prefix)
    return LayerConversion(layer, TorchModule(TORCH_MODULES[class_name], arguments),
                           rnn_tensors(layer, class_name, config, role_prefix),
                           warnings=rnn_warnings(layer, class_name, options), options=options)


def recurrent_forward(e: Emitter, class_name: str, config: Config) -> Value | list[Value]:
    """torch's module where it computes Keras's layer, else keras_rnn() step by step on its parameters."""
    conversion = require_weights(e)
    refuse_unbuilt_state(e, config, stateful_built=True)
    class_name = CUDNN.get(class_name, class_name)  # a CuDNN layer computes as the layer it stands for
    options = conversion.options
    e.module(conversion.module)
    x = e.arg(0, KERAS)
    mask = e.mask()
    count = 2 if class_name == "LSTM" else 1
    states = initial_states(e, class_name, count)
    store = None  # the dict a stateful layer keeps its states in
    if config.bool("stateful", False):
        store, states = carried_in(e, x, [int(conversion.module.arguments["hidden_size"])] * count, states)
    input_mask = mask
    if options["go_backwards"]:
        x = f"{x}.flip(1)"
        mask = f"{mask}.flip(1)" if mask else None
    outputs, h, c = e.variable("outputs"), e.variable("h"), e.variable("c")
    if needs_own_cell(class_name, options, mask):
        # Keras 3 records zero_output_for_mask; tf.keras's is False
        zeros = unrolled_zeros(e, options, config.bool("zero_output_for_mask", False), options["go_backwards"])
        steps = direction(e, class_name, x, '', options, config, mask, states, zeros == "steps")
        e.statement(f"{outputs}, {h}, {c} = {steps}")
        if zeros == "input_order" and input_mask is not None:
            zero_by_input_order(e, outputs, input_mask)
        last = f"{outputs}[:, -1]"  # Keras's last output: zeros, not the initial state, if every step is masked
    else:
        hx = f", {torch_states(class_name, [states])}" if states else ""
        if class_name == "LSTM":
            e.statement(f"{outputs}, ({h}, {c}) = {e.attribute}({x}{hx})")
            h, c = f"{h}[-1]", f"{c}[-1]"
        else:
            e.statement(f"{outputs}, {h} = {e.attribute}({x}{hx})")
            h = f"{h}[-1]"
        last = h
    if store is not None:
        carried_out(e, store, [h, c] if class_name == "LSTM" else [h])
    result = Value(outputs, KERAS, 3, e.previous_mask()) if options["return_sequences"] else Value(last, KERAS, 2)
    if config.bool("return_state", False):
        returned = [Value(h, KERAS, 2)] + ([Value(c, KERAS, 2)] if class_name == "LSTM" else [])
        return [result] + returned
    return result


def register_recurrent(class_name: str, description: str, tested: str) -> None:
    """Register a plain recurrent layer: its one direction as the torch module's l0."""

    def variables(config: Config) -> list[Variable]:
        return rnn_variables(class_name, config)

    def convert(layer: Layer, context: Context) -> LayerConversion:
        return recurrent_convert(layer, class_name, layer.config)

    def forward(e: Emitter) -> Value | list[Value]:
        return recurrent_forward(e, class_name, e.config)

    register(Kind(f"keras.layers.{class_name}", module=f"nn.{TORCH_MODULES[class_name]}(batch_first=True)",
                  variables=variables, convert=convert, forward=forward, description=description, tested=tested))
