"""The scale (gamma) and offset (beta) that Keras normalization layers may leave out.

torch's affine normalization modules hold both a weight and a bias: when Keras has only
one, the other is created (ones for a missing scale, zeros for a missing offset).
"""
from __future__ import annotations

from typing import Any

from ..graph import Layer
from ..layouts import Layout
from .registry import TargetTensor, created, to_torch


def scale_and_center(config: dict[str, Any]) -> list[tuple[str, Layout]]:
    """gamma and beta entries, as Keras creates them for `scale` and `center`."""
    return ([("gamma", Layout.VECTOR)] if config.get("scale", True) else []) + (
        [("beta", Layout.VECTOR)] if config.get("center", True) else [])


def affine_tensors(layer: Layer, channels: int, like: str) -> list[TargetTensor]:
    """weight and bias from gamma and beta, the missing one created in the dtype of `like`."""
    tensors = []
    for role, torch_param, fill in (("gamma", "weight", 1.0), ("beta", "bias", 0.0)):
        if layer.has(role):
            tensors.append(to_torch(layer, role, torch_param, Layout.VECTOR))
        else:
            tensors.append(created(layer, torch_param, fill, (channels,), like,
                                   f"{'ones' if fill else 'zeros'} (Keras {'scale' if fill else 'center'}=False)"))
    return tensors
