"""MultiHeadAttention: nn.MultiheadAttention, or its four projections written out."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import KERAS, constructor, literal


@op("MultiHeadAttention")
def multi_head_attention(e: Emitter) -> Value:
    query = e.arg(0, KERAS)
    value_input = e.kwargs.get("value")
    if len(e.inputs) > 1:
        value = e.arg(1, KERAS)
        key = e.arg(2, KERAS) if len(e.inputs) > 2 else value
    elif isinstance(value_input, Value):
        value = e.convert(value_input, KERAS)
        key_input = e.kwargs.get("key")
        key = e.convert(key_input, KERAS) if isinstance(key_input, Value) else value
    else:
        raise e.unsupported("cannot find the value input of this call")
    if e.kwargs.get("attention_mask") is not None or e.config.bool("use_causal_mask", False) \
            or e.kwargs.get("use_causal_mask"):
        raise e.unsupported("attention masks are not built yet")
    rank = e.inputs[0].rank
    if e.result.torch_module == "nn.MultiheadAttention":
        e.module(constructor("nn.MultiheadAttention", e.result.module_args))
        return Value(f"{e.attribute}({query}, {key}, {value}, need_weights=False)[0]", KERAS, rank)
    arguments = e.result.module_args
    modules = ", ".join(f"{role}={constructor('nn.Linear', arguments[role])}"
                        for role in ("query", "key", "value", "output"))
    e.module(f"nn.ModuleDict(dict({modules}))")
    options = e.result.options
    heads = options["num_heads"]
    q, k, v, w = e.variable("q"), e.variable("k"), e.variable("v"), e.variable("weights")
    m = e.attribute
    e.statement(f"{q} = {m}['query']({query}).unflatten(-1, ({heads}, -1)).transpose(1, 2)")
    e.statement(f"{k} = {m}['key']({key}).unflatten(-1, ({heads}, -1)).transpose(1, 2)")
    e.statement(f"{v} = {m}['value']({value}).unflatten(-1, ({heads}, -1)).transpose(1, 2)")
    e.statement(f"{w} = torch.softmax({q} @ {k}.transpose(-1, -2) / {literal(float(options['key_dim']) ** 0.5)}, "
                "dim=-1)")
    return Value(f"{m}['output'](({w} @ {v}).transpose(1, 2).flatten(2))", KERAS, rank)
