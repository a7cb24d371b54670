"""Bidirectional(LSTM/GRU/SimpleRNN) -> one torch RNN with bidirectional=True.

The forward layer's tensors become `weight_ih_l0`, ..., the backward layer's
`weight_ih_l0_reverse`, ... Keras re-reverses the backward sequence before merging, as
torch does; merge_mode (concat, sum, mul, ave, None) is carried for the module to apply.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..conversion import LayerConversion, TorchModule
from .forward import KERAS, Emitter, Value, require_weights
from .recurrent import (
    TORCH_MODULES, direction, needs_own_cell, rnn_arguments, rnn_tensors, rnn_variables, rnn_warnings,
)
from .registry import Kind, register
from .rules import Context, Variable, wrapped


MERGE_MODES = ("concat", "sum", "mul", "ave")


def bidirectional_variables(config: Config) -> list[Variable]:
    class_name, inner = wrapped(config)
    if class_name not in TORCH_MODULES:
        return []
    backward_class, backward = wrapped(config, "backward_layer")
    backward = backward if backward_class == class_name else inner
    return (rnn_variables(class_name, inner, "forward_layer/cell/", "forward/")
            + rnn_variables(class_name, backward, "backward_layer/cell/", "backward/"))


def _unsupported(layer: Layer) -> str | None:
    class_name, _ = wrapped(layer.config)
    if class_name not in TORCH_MODULES:
        return f"wraps {class_name or 'no layer'}; only LSTM, GRU and SimpleRNN have a bidirectional torch module"
    backward_class, _ = wrapped(layer.config, "backward_layer")
    if backward_class not in ("", class_name):
        return f"its backward layer is a {backward_class}, its forward one a {class_name}"
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    class_name, inner = wrapped(layer.config)
    tensors = (rnn_tensors(layer, class_name, inner, "forward/")
               + rnn_tensors(layer, class_name, inner, "backward/", "_reverse"))
    arguments, options = rnn_arguments(layer, class_name, inner, "forward/")
    arguments["bidirectional"] = True
    merge_mode = layer.config.get("merge_mode", "concat")
    options["merge_mode"] = None if merge_mode is None else layer.config.choice("merge_mode", MERGE_MODES)
    return LayerConversion(layer, TorchModule(TORCH_MODULES[class_name], arguments), tensors,
                           warnings=rnn_warnings(layer, class_name, options), options=options)


def _merge(mode: str, forward: str, backward: str) -> str:
    return {"concat": f"torch.cat([{forward}, {backward}], dim=-1)", "sum": f"{forward} + {backward}",
            "mul": f"{forward} * {backward}", "ave": f"({forward} + {backward}) / 2"}[mode]


def forward(e: Emitter) -> Value | list[Value]:
    """One bidirectional torch module (or keras_rnn() per direction), the backward pass re-aligned, merged."""
    require_weights(e)
    kind = wrapped(e.config)[0]
    options = e.result.options
    e.module(e.result.module)
    x = e.arg(0, KERAS)
    mask = e.mask()
    units = e.result.module.arguments["hidden_size"]
    forward_values, backward_values = e.variable("forward"), e.variable("backward")
    if needs_own_cell(kind, options, mask):
        e.statement(f"{forward_values}, _, _ = {direction(e, kind, x, '', options, mask)}")
        reversed_mask = f"{mask}.flip(1)" if mask else None
        backward = direction(e, kind, f"{x}.flip(1)", "_reverse", options, reversed_mask)
        e.statement(f"{backward_values}, _, _ = {backward}")
        e.statement(f"{backward_values} = {backward_values}.flip(1)")  # Keras re-aligns the backward sequence
    else:
        both = e.variable("both")
        e.statement(f"{both}, _ = {e.attribute}({x})")
        e.statement(f"{forward_values}, {backward_values} = {both}[..., :{int(units)}], {both}[..., {int(units)}:]")
    if options["return_sequences"]:
        pair, rank = (forward_values, backward_values), 3
    else:  # the forward pass ends at the last step, the backward pass at the first
        pair, rank = (f"{forward_values}[:, -1]", f"{backward_values}[:, 0]"), 2
    mode = options["merge_mode"]
    if mode is None:
        return [Value(pair[0], KERAS, rank), Value(pair[1], KERAS, rank)]
    return Value(_merge(mode, *pair), KERAS, rank)


register(Kind(
    "keras.layers.Bidirectional", module="nn.LSTM/GRU/RNN(bidirectional=True)", variables=bidirectional_variables,
    convert=convert, forward=forward, unsupported=_unsupported,
    description="forward -> *_l0, backward -> *_l0_reverse, each as its recurrent layer; merge_mode carried",
    tested="LSTM and GRU, merge_mode concat/sum/mul/ave/None, return_sequences",
))
