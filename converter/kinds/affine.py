"""The scale (gamma) and offset (beta) that Keras normalization layers may leave out.

torch's affine normalization modules hold both a weight and a bias: when Keras has only
one, the other is created (ones for a missing scale, zeros for a missing offset).
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..conversion import TargetTensor
from .rules import created, expect_shape, to_torch


def scale_and_center(config: Config) -> list[tuple[str, Layout]]:
    """gamma and beta entries, as Keras creates them for `scale` and `center`."""
    return ([("gamma", Layout.VECTOR)] if config.bool("scale", True) else []) + (
        [("beta", Layout.VECTOR)] if config.bool("center", True) else [])


def affine_tensors(layer: Layer, channels: int, like: str) -> list[TargetTensor]:
    """weight and bias from gamma and beta, the missing one created in the dtype of `like`."""
    tensors = []
    for role in ("gamma", "beta"):
        if layer.has(role):
            expect_shape(layer, role, (channels,), f"one value per channel, {channels} channels")
    for role, torch_param, fill in (("gamma", "weight", 1.0), ("beta", "bias", 0.0)):
        if layer.has(role):
            tensors.append(to_torch(layer, role, torch_param, Layout.VECTOR))
        else:
            tensors.append(created(layer, torch_param, fill, (channels,), like,
                                   f"{'ones' if fill else 'zeros'} (Keras {'scale' if fill else 'center'}=False)"))
    return tensors
