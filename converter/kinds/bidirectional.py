"""Bidirectional(LSTM/GRU/SimpleRNN) -> one torch RNN with bidirectional=True.

The forward layer's tensors become `weight_ih_l0`, ..., the backward layer's
`weight_ih_l0_reverse`, ... Keras re-reverses the backward sequence before merging, as
torch does; merge_mode (concat, sum, mul, ave, None) is carried for the module to apply.
An RNN of one built-in cell (`RNN(LSTMCell(u))`) is the layer that runs that cell, as
rnn.py builds it alone: Keras stores its variables where that layer's are.
"""
from __future__ import annotations

from typing import Any

from ..config import Config, activation_identity, compute_dtype
from ..graph import Layer
from ..conversion import LayerConversion, TorchModule
from .forward import KERAS, Emitter, Value, require_weights
from .recurrent import (
    CUDNN, TORCH_MODULES, direction, initial_states, needs_own_cell, refuse_unbuilt_state, rnn_arguments, rnn_tensors,
    rnn_variables, rnn_warnings, torch_states, unrolled_zeros, zero_by_input_order,
)
from .registry import Kind, register
from .rnn import CELLS, as_layer
from .stateful import carried_in, carried_out
from .rules import Context, Variable, wrapped


MERGE_MODES = ("concat", "sum", "mul", "ave")
#: options of a `backward_layer` that change what it computes: they must be the forward layer's
COMPUTING_OPTIONS = ("units", "activation", "recurrent_activation", "use_bias", "reset_after")


def recurrent(config: Config, key: str = "layer") -> tuple[str, Config]:
    """The class and config of the layer the wrapper holds at `key`; an RNN of one built-in cell as the layer
    that runs that cell (LSTM for an LSTMCell), with the RNN's options over the cell's."""
    class_name, inner = wrapped(config, key)
    if class_name == "RNN" and wrapped(inner, "cell")[0] in CELLS:
        return as_layer(inner)
    return class_name, inner


def bidirectional_variables(config: Config) -> list[Variable]:
    class_name, inner = recurrent(config)
    if class_name not in TORCH_MODULES:
        return []
    backward_class, backward = recurrent(config, "backward_layer")
    backward = backward if backward_class == class_name else inner
    return (rnn_variables(class_name, inner, "forward_layer/cell/", "forward/")
            + rnn_variables(class_name, backward, "backward_layer/cell/", "backward/"))


def forward_first(layer: Layer) -> None:
    """A legacy file (and a live model) lists a Bidirectional's weights in its variables' order, trainable ones
    first: with its forward layer frozen (trainable=False), the backward layer's come first, and matching them in
    order swapped the directions. Its tensors forward layer's first, told by the `forward_<name>` scope Keras gives
    its forward copy; left as they are where the names do not tell (half the tensors in that scope)."""
    def in_forward(tensor: Any) -> bool:
        return any(part.startswith("forward_") for part in tensor.source.split("/"))

    forward = [tensor for tensor in layer.tensors if in_forward(tensor)]
    if 2 * len(forward) == len(layer.tensors):
        layer.tensors = forward + [tensor for tensor in layer.tensors if not in_forward(tensor)]


def _unsupported(layer: Layer) -> str | None:
    class_name, inner = recurrent(layer.config)
    if class_name not in TORCH_MODULES:
        return (f"wraps {class_name or 'no layer'}; only LSTM, GRU and SimpleRNN (or an RNN of one of their cells) "
                "have a bidirectional torch module")
    backward_class, backward = recurrent(layer.config, "backward_layer")
    if backward_class not in ("", class_name):
        return f"its backward layer is a {backward_class}, its forward one a {class_name}"
    differing = [key for key in COMPUTING_OPTIONS if _computes(backward, key) != _computes(inner, key)] \
        if backward_class else []
    if differing:  # a bidirectional torch module computes both directions alike
        return (f"its backward layer has another {' and '.join(differing)} than its forward one; a bidirectional "
                "torch module computes both directions alike")
    if inner.bool("go_backwards", False):  # Keras then runs its "forward" layer backwards, its "backward" forwards
        return (f"its {class_name} has go_backwards=True, so the two directions swap roles and orders, which a "
                f"bidirectional torch module does not; wrap a {class_name} with go_backwards=False")
    return None


def _computes(config: Config, key: str) -> Any:
    value = config.get(key)
    return activation_identity(value) if key.endswith("activation") else value


def convert(layer: Layer, context: Context) -> LayerConversion:
    class_name, inner = recurrent(layer.config)
    tensors = (rnn_tensors(layer, class_name, inner, "forward/")
               + rnn_tensors(layer, class_name, inner, "backward/", "_reverse"))
    arguments, options = rnn_arguments(layer, class_name, inner, "forward/")
    arguments["bidirectional"] = True
    merge_mode = layer.config.get("merge_mode", "concat")
    options["merge_mode"] = None if merge_mode is None else layer.config.choice("merge_mode", MERGE_MODES)
    options["return_state"] = inner.bool("return_state", False)
    backward_unroll = _backward_unroll(layer.config, options)
    if backward_unroll != bool(options.get("unroll")):  # shown where it differs: each direction zeroes as its loop does
        options["backward_unroll"] = backward_unroll
    warned = dict(options, unroll=bool(options.get("unroll")) or backward_unroll)
    return LayerConversion(layer, TorchModule(TORCH_MODULES[class_name], arguments), tensors,
                           warnings=rnn_warnings(layer, class_name, warned), options=options)


def _backward_unroll(config: Config, options: dict[str, Any]) -> bool:
    """Whether the backward direction unrolls: the backward_layer's own unroll where it has a config of its own
    (the one option it may set otherwise that changes what the module computes, given a mask), else the forward's."""
    backward_class, backward = recurrent(config, "backward_layer")
    return backward.bool("unroll", False) if backward_class else bool(options.get("unroll"))


def _merge(mode: str, forward: str, backward: str) -> str:
    return {"concat": f"torch.cat([{forward}, {backward}], dim=-1)", "sum": f"{forward} + {backward}",
            "mul": f"{forward} * {backward}", "ave": f"({forward} + {backward}) / 2"}[mode]


def forward(e: Emitter) -> Value | list[Value]:
    """One bidirectional torch module (or keras_rnn() per direction), the backward pass re-aligned, merged.

    Initial states are the forward layer's then the backward layer's (h, c each for an LSTM);
    with return_state the outputs are followed by the final states in the same order.
    """
    result = require_weights(e)
    kind, inner = recurrent(e.config)
    refuse_unbuilt_state(e, inner, stateful_built=True)
    options = result.options
    e.module(result.module, policy=inner)  # the recurrent layer computes in its own policy's dtype, not the wrapper's
    x = e.convert(e.cast_for(inner, e.inputs[0]), KERAS)
    dtype = compute_dtype(inner)  # the dtype Keras passes the outputs on in
    mask = e.mask()
    units = result.module.arguments["hidden_size"]
    kind = CUDNN.get(kind, kind)  # a CuDNN layer computes as the layer it stands for
    per_direction = 2 if kind == "LSTM" else 1
    states = initial_states(e, f"Bidirectional({kind})", 2 * per_direction, policy=inner)
    store = None  # the dict a stateful layer keeps its states in: each direction's, the forward's first
    if inner.bool("stateful", False):
        store, states = carried_in(e, x, [int(units)] * 2 * per_direction, states)
    forward_states, backward_states = states[:per_direction], states[per_direction:]
    forward_values, backward_values = e.variable("forward"), e.variable("backward")
    final = [e.variable(name) for name in ("forward_h", "forward_c", "backward_h", "backward_c")]
    if needs_own_cell(kind, options, mask):
        # Keras's Bidirectional sets zero_output_for_mask on both layers when it returns sequences: masked
        # steps are zeros in both halves, so that the re-aligned backward sequence lines up
        zero_masked = bool(options["return_sequences"])
        forward_zeros = unrolled_zeros(e, options, zero_masked, backwards=False)
        e.statement(f"{forward_values}, {final[0]}, {final[1]} = "
                    f"{direction(e, kind, x, '', options, inner, mask, forward_states, forward_zeros == 'steps')}")
        reversed_mask = f"{mask}.flip(1)" if mask else None
        backward_options = dict(options, unroll=options.get("backward_unroll", options.get("unroll")))
        backward_zeros = unrolled_zeros(e, backward_options, zero_masked, backwards=True)
        backward = direction(e, kind, f"{x}.flip(1)", "_reverse", backward_options, inner, reversed_mask,
                             backward_states, backward_zeros == "steps")
        e.statement(f"{backward_values}, {final[2]}, {final[3]} = {backward}")
        if backward_zeros == "input_order" and mask is not None:
            zero_by_input_order(e, backward_values, mask)
        e.statement(f"{backward_values} = {backward_values}.flip(1)")  # Keras re-aligns the backward sequence
    else:
        both, h, c = e.variable("both"), e.variable("h"), e.variable("c")
        hx = f", {torch_states(kind, [forward_states, backward_states])}" if states else ""
        e.statement(f"{both}, {f'({h}, {c})' if kind == 'LSTM' else h} = {e.attribute}({x}{hx})")
        final = [f"{h}[0]", f"{c}[0]", f"{h}[1]", f"{c}[1]"]
        e.statement(f"{forward_values}, {backward_values} = {both}[..., :{int(units)}], {both}[..., {int(units)}:]")
    finals = [final[index] for index in ((0, 1, 2, 3) if kind == "LSTM" else (0, 2))]
    if store is not None:
        carried_out(e, store, finals)
    returned_states = [Value(state, KERAS, 2, dtype=dtype) for state in finals]
    returned_states = returned_states if options["return_state"] else []
    if options["return_sequences"]:
        pair, rank = (forward_values, backward_values), 3
    else:  # the forward pass ends at the last step, the backward pass at the first
        pair, rank = (f"{forward_values}[:, -1]", f"{backward_values}[:, 0]"), 2
    mode = options["merge_mode"]
    # Keras's compute_mask: the sequences keep the mask (their input's, even where the call ran unmasked)
    carried = e.previous_mask() if options["return_sequences"] else None
    if mode is None:
        return [Value(pair[0], KERAS, rank, carried, dtype=dtype),
                Value(pair[1], KERAS, rank, carried, dtype=dtype)] + returned_states
    merged = Value(_merge(mode, *pair), KERAS, rank, carried, dtype=dtype)
    return [merged] + returned_states if returned_states else merged


register(Kind(
    "keras.layers.Bidirectional", module="nn.LSTM/GRU/RNN(bidirectional=True)", variables=bidirectional_variables,
    convert=convert, forward=forward, unsupported=_unsupported, stored_order=forward_first,
    description="forward -> *_l0, backward -> *_l0_reverse, each as its recurrent layer; merge_mode carried",
    tested="LSTM and GRU, merge_mode concat/sum/mul/ave/None, return_sequences, a backward_layer like the forward "
           "one (another activation, units or use_bias is refused), RNN of an LSTMCell, GRUCell or SimpleRNNCell",
))
