"""UnitNormalization: x scaled to unit L2 norm over `axis` (no weights).

Keras computes x * rsqrt(max(sum(x**2, axis), 1e-12)); the same expression is written.
"""
from __future__ import annotations

from .forward import KERAS, Emitter, Value, channel_dim, same
from .registry import Kind, register


def unit_normalization(e: Emitter) -> Value:
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    if axes == (-1,) or (x.rank is not None and axes == (x.rank - 1,)):
        dims, expr = str(channel_dim(x)), x.expr
        layout = x.layout
    else:
        dims, expr, layout = "(" + ", ".join(str(axis) for axis in axes) + ",)", e.arg(0, KERAS), KERAS
    return same(x, f"{expr} * torch.rsqrt({expr}.square().sum(dim={dims}, keepdim=True).clamp_min(1e-12))",
                layout=layout)


register(Kind("keras.layers.UnitNormalization", forward=unit_normalization, description="no weights",
              tested="the last axis, several axes"))
