"""GroupNormalization -> nn.GroupNorm (channels-first in torch, channels-last in Keras).

Both split the channels into contiguous groups. Keras's epsilon defaults to 1e-3
(PyTorch 1e-5): carried. A missing gamma or beta is created (torch's affine has both).
"""
from __future__ import annotations

from typing import Any

from ..graph import Layer
from .affine import affine_tensors, scale_and_center
from .registry import Context, LayerConversion, Variable, numbered, rule


def group_norm_variables(config: dict[str, Any]) -> list[Variable]:
    return numbered("", scale_and_center(config))


def _unsupported(layer: Layer) -> str | None:
    axis = layer.config.get("axis", -1)
    rank = len(layer.input_shape) if layer.input_shape else None
    if axis in (-1, [-1]) or (rank is not None and axis in (rank - 1, [rank - 1])):
        return None
    return f"channel axis {axis} is not the last"


@rule("GroupNormalization", torch_module="nn.GroupNorm", variables=group_norm_variables, unsupported=_unsupported,
      description="gamma, beta -> weight, bias; groups and eps carried (Keras 1e-3)",
      tested="groups, epsilon, center/scale off, 3-D and 4-D inputs")
def convert_group_norm(layer: Layer, context: Context) -> LayerConversion:
    channels = (layer.tensor("gamma") if layer.has("gamma") else layer.tensor("beta")).shape[0]
    tensors = affine_tensors(layer, channels, "gamma" if layer.has("gamma") else "beta")
    arguments = {"num_groups": int(layer.config.get("groups", 32)), "num_channels": channels,
                 "eps": float(layer.config.get("epsilon", 1e-3)), "affine": True}
    return LayerConversion(layer, "nn.GroupNorm", arguments, tensors)
