"""TimeDistributed(layer) -> the wrapped layer's own rule, applied to every time step.

Keys are the wrapper's: a user writes `self.td = nn.Linear(...)` and applies it per step
(nn.Linear already maps over leading axes; convolutions need the time axis folded into
the batch).
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from .registry import RULES, Context, LayerConversion, Variable, rule, wrapped


def time_distributed_variables(config: Config) -> list[Variable]:
    class_name, inner = wrapped(config)
    if class_name not in RULES:
        return []
    return [Variable(v.role, v.layout, "layer/" + v.store_path, v.names) for v in RULES[class_name].variables(inner)]


def _wrapped(layer: Layer) -> Layer:
    class_name, inner = wrapped(layer.config)
    shape = layer.input_shape
    return Layer(name=layer.name, class_name=class_name, config=inner, path=layer.path, tensors=layer.tensors,
                 input_shape=(shape[0],) + tuple(shape[2:]) if shape else None)


def _unsupported(layer: Layer) -> str | None:
    class_name, _ = wrapped(layer.config)
    if class_name not in RULES:
        return f"wraps {class_name or 'no layer'}, which has no rule"
    return RULES[class_name].unsupported(_wrapped(layer))


@rule("TimeDistributed", torch_module="the wrapped layer's module", variables=time_distributed_variables,
      unsupported=_unsupported,
      description="the wrapped layer's rule, under the wrapper's name",
      tested="wrapping Dense and Conv2D")
def convert_time_distributed(layer: Layer, context: Context) -> LayerConversion:
    wrapped = _wrapped(layer)
    result = RULES[wrapped.class_name].convert(wrapped, context)
    result.options = {**result.options, "time_distributed": True}
    result.layer = layer
    return result
