"""TimeDistributed(layer) -> the wrapped layer's own rule, applied to every time step.

Keys are the wrapper's: a user writes `self.td = nn.Linear(...)` and applies it per step
(nn.Linear already maps over leading axes; convolutions need the time axis folded into
the batch). A wrapped model is read as that model under the wrapper's name
(`Layer.time_distributed_model`: `time_distributed.conv2d.weight`), and the module builder
calls its class with time folded into the batch.
"""
from __future__ import annotations

from ..config import Config, compute_dtype
from ..graph import Layer
from ..conversion import LayerConversion
from .forward import KERAS, Emitter, Value
from .masks import carried, time_distributed_mask
from .registry import Kind, register, wrapped_kind, wrapped_variables
from .rules import Context, Variable, wrapped


def _inner_kind(config: Config) -> Kind | None:
    return wrapped_kind(config, "TimeDistributed")


def time_distributed_variables(config: Config) -> list[Variable]:
    return wrapped_variables(_inner_kind(config), wrapped(config)[1])


def _wrapped(layer: Layer) -> Layer:
    class_name, inner = wrapped(layer.config)
    shape = layer.input_shape
    return Layer(name=layer.name, class_name=class_name, config=inner, path=layer.path, tensors=layer.tensors,
                 input_shape=(shape[0],) + tuple(shape[2:]) if shape else None,
                 expression=layer.expression)  # a wrapped Lambda's, given by the user


def _unsupported(layer: Layer) -> str | None:
    found = _inner_kind(layer.config)
    if found is None or (found.convert is None and layer.tensors):
        return f"wraps {wrapped(layer.config)[0] or 'no layer'}, which has no rule"
    return found.unsupported(_wrapped(layer))


def convert(layer: Layer, context: Context) -> LayerConversion:
    inner = _wrapped(layer)
    found = _inner_kind(layer.config)
    assert found is not None and found.convert is not None
    result = found.convert(inner, context)
    result.options = {**result.options, "time_distributed": True}
    result.layer = layer
    return result


def forward(e: Emitter) -> Value:
    """The wrapped layer's forward on every time step at once, time folded into the batch."""
    found = _inner_kind(e.config)
    if found is None or found.forward is None:
        raise e.unsupported(f"TimeDistributed({wrapped(e.config)[0][:40]}) is not built yet")
    inner_layer = _wrapped(e.layer)
    x = e.inputs[0]
    given = e.mask()  # Keras hands the wrapped layer every time step's slice of it: (batch * time, ...)
    steps = e.variable("steps")  # every time step of every sample: (batch * time, ...)
    steps_mask = e.variable("steps_mask") if given is not None else None
    step_input = Value(steps, KERAS, x.rank - 1 if x.rank else None, mask=steps_mask, dtype=x.dtype,
                       integer=x.integer, from_integers=x.from_integers)  # integers, where they are, for its layer
    if e.keras_major >= 3:
        # Keras 3 runs the wrapped layer's `call` itself, under the wrapper's dtype policy: it computes in the
        # wrapper's dtype (its weights read in it), whatever its own; tf.keras calls it, in its own dtype
        computed_in = {key: value for key, value in inner_layer.config.items() if key != "dtype"}
        if "dtype" in e.config:
            computed_in["dtype"] = e.config["dtype"]
        inner_layer.config = Config(computed_in, inner_layer.config.where)
    step = e.inner(inner_layer, [step_input], own_policy=e.keras_major < 3)
    value = found.forward(step)
    if isinstance(value, list):
        raise e.unsupported(f"TimeDistributed({inner_layer.class_name}) with several outputs is not built yet")
    value = carried(found.name, e.keras_major, [step_input], [value])[0]
    body = e.convert(value, KERAS)
    rank = value.rank + 1 if value.rank is not None else None  # the inner layer's, and time
    source = e.arg(0, KERAS)
    mask = time_distributed_mask(e.keras_major, x.mask, value.mask, source)
    dtype = value.dtype or compute_dtype(inner_layer.config)  # the dtype the wrapped layer computed in
    if not step.statements and given is None and mask is None:
        return Value(f"{e.helper('time_distributed')}(lambda {steps}: {body}, {source})", KERAS, rank, dtype=dtype,
                     integer=value.integer, from_integers=value.from_integers)
    # a layer written as statements (an LSTM, a nested model), or masked: time folded into the batch around it
    e.statement(f"{steps} = {source}.flatten(0, 1)")
    if steps_mask is not None:
        e.statement(f"{steps_mask} = {given}.flatten(0, 1)")
    for line in step.statements:
        e.statement(line)
    if mask is not None and mask != x.mask:  # tf.keras's, built from the step's mask
        name = e.variable("mask")
        e.statement(f"{name} = {mask}")
        mask = name
    return Value(f"({body}).unflatten(0, ({source}.shape[0], {source}.shape[1]))", KERAS, rank, mask=mask,
                 dtype=dtype, integer=value.integer, from_integers=value.from_integers)


register(Kind(
    "keras.layers.TimeDistributed", module="the wrapped layer's module", variables=time_distributed_variables,
    convert=convert, forward=forward, unsupported=_unsupported,
    description="the wrapped layer's rule, under the wrapper's name; time folded into the batch",
    tested="wrapping Dense, Conv2D, MaxPooling2D, LSTM and GRU (return_sequences), a nested Sequential or "
           "Functional model (read as that model under the wrapper's name, built with time folded into the batch); "
           "of a masked input (an LSTM, a pooling or a model per sentence of padded words)",
))
