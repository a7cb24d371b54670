"""Attention (Luong, dot or concat scores) and AdditiveAttention (Bahdanau): softmax-weighted values.

Keras computes scores (batch, Tq, Tv) from the query and key (the value when no key is given):
`q k^T`, times the `scale` weight with use_scale (Attention, score_mode="dot");
`concat_score_weight * sum(tanh(scale * (q + k)))` (Attention, score_mode="concat");
`sum(scale * tanh(q + k))` (AdditiveAttention, `scale` one weight per feature). Positions the
value's Keras mask or the causal mask hide get scores - 1e9 (as Keras subtracts), the softmax
weights the values, and the query's Keras mask zeroes its padded rows. The weights are scalars
(or AdditiveAttention's per-feature vector), kept as they are.
"""
from __future__ import annotations

from typing import Callable

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from .forward import KERAS, Emitter, Value, literal, require_weights
from .registry import Kind, register
from .rules import Context, Variable, numbered, to_torch


def _weights(class_name: str, config: Config) -> list[str]:
    """The layer's weights in creation order."""
    names = ["scale"] if config.bool("use_scale", class_name == "AdditiveAttention") else []
    if class_name == "Attention" and config.choice("score_mode", ("dot", "concat"), "dot") == "concat":
        names.append("concat_score_weight")
    return names


def _variables(class_name: str) -> Callable[[Config], list[Variable]]:
    def variables(config: Config) -> list[Variable]:
        return numbered("", [(name, Layout.VECTOR) for name in _weights(class_name, config)])
    return variables


def convert(layer: Layer, context: Context) -> LayerConversion:
    parts = tuple((name, TorchModule("Weight", {"shape": layer.tensor(name).shape}))
                  for name in _weights(layer.class_name, layer.config))
    tensors = [to_torch(layer, name, f"{name}.weight", Layout.VECTOR) for name, _ in parts]
    return LayerConversion(layer, TorchModule("ModuleDict", parts=parts), tensors)


def forward(e: Emitter) -> Value | list[Value]:
    """The attended values; with return_attention_scores, also the softmax of the scores (batch, T, S), which
    Keras returns unmasked by the query's mask."""
    if len(e.inputs) not in (2, 3) or any(value.rank != 3 for value in e.inputs):
        raise e.unsupported("inputs other than [query, value(, key)] of rank 3 are not built yet")
    names = _weights(e.layer.class_name, e.config)
    if names:
        e.module(require_weights(e).module)
    weight = {name: f"{e.attribute}[{name!r}].weight" for name in names}
    query, value = e.arg(0, KERAS), e.arg(1, KERAS)
    key = e.arg(2, KERAS) if len(e.inputs) > 2 else value
    scores = e.variable("scores")
    if e.layer.class_name == "AdditiveAttention":
        tanh = f"torch.tanh({query}.unsqueeze(-2) + {key}.unsqueeze(-3))"
        e.statement(f"{scores} = ({weight['scale']} * {tanh}).sum(-1)" if names else f"{scores} = {tanh}.sum(-1)")
    elif "concat_score_weight" in weight:
        summed = f"{query}.unsqueeze(-2) + {key}.unsqueeze(-3)"
        summed = f"{weight['scale']} * ({summed})" if "scale" in weight else summed
        e.statement(f"{scores} = {weight['concat_score_weight']} * torch.tanh({summed}).sum(-1)")
    else:
        scaled = f" * {weight['scale']}" if "scale" in weight else ""
        e.statement(f"{scores} = ({query} @ {key}.transpose(-1, -2)){scaled}")
    hidden = []
    if e.inputs[1].mask is not None:
        hidden.append(f"{e.inputs[1].mask}.bool().unsqueeze(-2)")
    if e.config.bool("causal", False) or e.named("use_causal_mask") or e.kwargs.get("use_causal_mask"):
        hidden.append(f"torch.ones({scores}.shape[-2], {scores}.shape[-1], dtype=torch.bool, "
                      f"device={scores}.device).tril()")
    if hidden:  # Keras subtracts float16's largest there (1e9 would be inf, and a row masked throughout NaN)
        large = 65504.0 if e.inputs[0].dtype == "float16" else 1e9
        e.statement(f"{scores} = {scores} - {literal(large)} * (~({' & '.join(hidden)})).to({scores}.dtype)")
    distribution = e.variable("distribution")
    e.statement(f"{distribution} = torch.softmax({scores}, dim=-1)")
    result = f"{distribution} @ {value}"
    if e.inputs[0].mask is not None:
        result = f"({result}) * {e.inputs[0].mask}.unsqueeze(-1).to({scores}.dtype)"
    attended = Value(result, KERAS, 3, e.inputs[0].mask)
    if e.named("return_attention_scores") or e.kwargs.get("return_attention_scores"):
        return [attended, Value(distribution, KERAS, 3)]
    return attended


for _name, _description in (
        ("Attention", "scale and concat_score_weight (scalars) kept; softmax(q k^T * scale) v, or concat scores"),
        ("AdditiveAttention", "scale (one per feature) kept; softmax(sum(scale * tanh(q + k))) v")):
    register(Kind(f"keras.layers.{_name}", module="ModuleDict of Weight", variables=_variables(_name),
                  convert=convert, forward=forward, description=_description,
                  tested="use_scale, score_mode dot/concat, key given or not, causal, Keras masks of query and value, "
                         "return_attention_scores"))
