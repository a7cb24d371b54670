"""Dense -> nn.Linear.

Keras computes `x @ kernel` with the kernel stored (in, out); nn.Linear stores its
weight (out, in) and computes `x @ weight.T`: the kernel is transposed. On inputs of
rank > 2 both apply to the last axis, so nothing else changes.
"""
from __future__ import annotations

from typing import Any

from ..graph import Layer
from ..layouts import Layout
from .registry import LayerConversion, Variable, rule, to_torch


def dense_variables(config: dict[str, Any]) -> list[Variable]:
    variables = [Variable("kernel", Layout.KERAS_DENSE_IO)]
    if config.get("use_bias", True):
        variables.append(Variable("bias", Layout.VECTOR))
    return variables


@rule("Dense", torch_module="nn.Linear", variables=dense_variables,
      description="kernel (in, out) -> weight (out, in) by transpose(1,0); bias unchanged")
def convert_dense(layer: Layer) -> LayerConversion:
    tensors = [to_torch(layer, "kernel", "weight", Layout.TORCH_LINEAR_OI)]
    if layer.has("bias"):
        tensors.append(to_torch(layer, "bias", "bias", Layout.VECTOR))
    in_features, out_features = layer.tensor("kernel").shape
    return LayerConversion(
        layer, "nn.Linear",
        {"in_features": in_features, "out_features": out_features, "bias": layer.has("bias")},
        tensors,
        activation=layer.config.get("activation") if layer.has_config else None,
    )
