"""LSTM, GRU, SimpleRNN, Bidirectional and TimeDistributed.

torch's nn.LSTM/GRU/RNN run the layer when they can compute it; Keras 2's hard_sigmoid,
GRU reset_after=False, other activations and masks run step by step in keras_rnn(), on
the same parameters.
"""
from __future__ import annotations

from typing import Any

from ..codegen import OPS, Call, Emitter, Value, op
from .common import KERAS, activation, constructor, literal

MODULES = {"LSTM": "nn.LSTM", "GRU": "nn.GRU", "SimpleRNN": "nn.RNN"}

def _needs_own_cell(kind: str, options: dict[str, Any], mask: str | None) -> bool:
    if mask is not None:
        return True
    if kind == "SimpleRNN":
        return options["activation"] not in ("tanh", "relu")
    return (options["activation"] != "tanh" or options["recurrent_activation"] != "sigmoid"
            or (kind == "GRU" and not options["reset_after"]))


def _function(e: Emitter, name: str) -> str:
    """An activation as a one-argument function for keras_rnn()."""
    return "lambda t: " + activation(e, name, Value("t", KERAS, 2))


def _direction(e: Emitter, kind: str, x: str, suffix: str, options: dict[str, Any], mask: str | None) -> str:
    """keras_rnn() over one direction's parameters; returns (outputs, h, c)."""
    module = e.attribute
    bias = f"{module}.bias_ih_l0{suffix}" if e.result.module_args["bias"] else "None"
    bias_hh = f"{module}.bias_hh_l0{suffix}" if e.result.module_args["bias"] else "None"
    recurrent = options.get("recurrent_activation", "sigmoid")
    return (f"{e.helper('keras_rnn')}({x}, {literal(kind)}, {module}.weight_ih_l0{suffix}, "
            f"{module}.weight_hh_l0{suffix}, {bias}, {bias_hh}, {_function(e, options['activation'])}, "
            f"{_function(e, recurrent)}, {literal(bool(options.get('reset_after', True)))}, {mask or 'None'})")


@op("LSTM", "GRU", "SimpleRNN")
def recurrent(e: Emitter) -> Value | list[Value]:
    kind = e.layer.class_name
    options = e.result.options
    e.module(constructor(MODULES[kind], e.result.module_args))
    x = e.arg(0, KERAS)
    mask = e.mask()
    if options["go_backwards"]:
        x = f"{x}.flip(1)"
        mask = f"{mask}.flip(1)" if mask else None
    outputs, h, c = e.variable("outputs"), e.variable("h"), e.variable("c")
    if _needs_own_cell(kind, options, mask):
        e.statement(f"{outputs}, {h}, {c} = {_direction(e, kind, x, '', options, mask)}")
    elif kind == "LSTM":
        e.statement(f"{outputs}, ({h}, {c}) = {e.attribute}({x})")
        h, c = f"{h}[-1]", f"{c}[-1]"
    else:
        e.statement(f"{outputs}, {h} = {e.attribute}({x})")
        h = f"{h}[-1]"
    result = Value(outputs, KERAS, 3, e.mask()) if options["return_sequences"] else Value(h, KERAS, 2)
    if e.config.bool("return_state", False):
        states = [Value(h, KERAS, 2)] + ([Value(c, KERAS, 2)] if kind == "LSTM" else [])
        return [result] + states
    return result


def _merge(mode: Any, forward: str, backward: str) -> str:
    if mode == "concat":
        return f"torch.cat([{forward}, {backward}], dim=-1)"
    if mode == "sum":
        return f"{forward} + {backward}"
    if mode == "mul":
        return f"{forward} * {backward}"
    if mode == "ave":
        return f"({forward} + {backward}) / 2"
    raise ValueError(mode)


@op("Bidirectional")
def bidirectional(e: Emitter) -> Value | list[Value]:
    kind = e.result.options["kind"] if e.result else None
    if kind not in MODULES:
        raise e.unsupported("Bidirectional around a layer other than LSTM, GRU or SimpleRNN is not built")
    options = e.result.options
    e.module(constructor(MODULES[kind], e.result.module_args))
    x = e.arg(0, KERAS)
    mask = e.mask()
    units = e.result.module_args["hidden_size"]
    forward, backward = e.variable("forward"), e.variable("backward")
    if _needs_own_cell(kind, options, mask):
        e.statement(f"{forward}, _, _ = {_direction(e, kind, x, '', options, mask)}")
        reversed_mask = f"{mask}.flip(1)" if mask else None
        e.statement(f"{backward}, _, _ = {_direction(e, kind, f'{x}.flip(1)', '_reverse', options, reversed_mask)}")
        e.statement(f"{backward} = {backward}.flip(1)")  # Keras re-aligns the backward sequence
    else:
        both = e.variable("both")
        e.statement(f"{both}, _ = {e.attribute}({x})")
        e.statement(f"{forward}, {backward} = {both}[..., :{units}], {both}[..., {units}:]")
    if options["return_sequences"]:
        pair, rank = (forward, backward), 3
    else:  # the forward pass ends at the last step, the backward pass at the first
        pair, rank = (f"{forward}[:, -1]", f"{backward}[:, 0]"), 2
    mode = options["merge_mode"]
    if mode is None:
        return [Value(pair[0], KERAS, rank), Value(pair[1], KERAS, rank)]
    return Value(_merge(mode, *pair), KERAS, rank)


@op("TimeDistributed")
def time_distributed(e: Emitter) -> Value:
    inner = e.config.section("layer")
    inner_class = inner.get("class_name")
    if not isinstance(inner_class, str) or inner_class not in OPS or inner_class in ("TimeDistributed", "Bidirectional"):
        raise e.unsupported(f"TimeDistributed({str(inner_class)[:40]}) is not built yet")
    inner_layer = e.layer.__class__(name=e.layer.name, class_name=inner_class, config=inner.section("config"),
                                    path=e.layer.path)
    x = e.inputs[0]
    step = Value("t", KERAS, x.rank - 1 if x.rank else None)
    emitter = Emitter(e.generator, e.source, Call(inner_layer, e.call.node, [], {}), [step], {})
    emitter.result = e.result
    value = OPS[inner_class](emitter)
    if emitter.statements or isinstance(value, list):
        raise e.unsupported(f"TimeDistributed({inner_class}) is not built yet")
    body = e.generator.convert(value, KERAS)
    return Value(f"{e.helper('time_distributed')}(lambda t: {body}, {e.arg(0, KERAS)})", KERAS, x.rank)
