"""Layers that do nothing at inference: dropout, noise, regularization (no weights)."""
from __future__ import annotations

from .forward import Emitter, Value
from .registry import Kind, register

NAMES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
         "AlphaDropout", "ActivityRegularization", "Identity")


def identity(e: Emitter) -> Value:
    """The input, unchanged: these layers act only in training."""
    return e.inputs[0]


for _name in NAMES:
    register(Kind(f"keras.layers.{_name}", forward=identity, description="no weights; identity at inference",
                  tested="identity at inference"))
