"""Activation layers: Activation, ReLU, LeakyReLU, ELU, ThresholdedReLU, Softmax (no weights)."""
from __future__ import annotations

from .forward import KERAS, Emitter, Value, activation, channel_dim, literal, same
from .registry import Kind, register


def activation_layer(e: Emitter) -> Value:
    return same(e.inputs[0], activation(e, e.config.get("activation"), e.inputs[0]))


def relu(e: Emitter) -> Value:
    """Keras's ReLU layer: F.relu or relu6 when it can be, keras_relu() with a slope or threshold."""
    x = e.inputs[0]
    max_value = e.config.optional_float("max_value", minimum=0.0)
    slope = e.config.float("negative_slope", 0.0) if e.config.get("negative_slope") is not None else 0.0
    threshold = e.config.float("threshold", 0.0) if e.config.get("threshold") is not None else 0.0
    if slope == 0 and threshold == 0:
        expr = f"F.relu({x.expr})" if max_value is None else (
            f"F.relu6({x.expr})" if max_value == 6 else f"torch.clamp({x.expr}, 0.0, {literal(max_value)})")
    else:
        expr = (f"{e.helper('keras_relu')}({x.expr}, {literal(max_value)}, {literal(slope)}, "
                f"{literal(threshold)})")
    return same(x, expr)


def leaky_relu(e: Emitter) -> Value:
    # Keras 2 calls it alpha, Keras 3 negative_slope; both default 0.3
    slope = e.config.float("negative_slope" if "negative_slope" in e.config else "alpha", 0.3)
    return same(e.inputs[0], f"F.leaky_relu({e.inputs[0].expr}, {literal(slope)})")


def elu(e: Emitter) -> Value:
    return same(e.inputs[0], f"F.elu({e.inputs[0].expr}, {literal(e.config.float('alpha', 1.0))})")


def thresholded_relu(e: Emitter) -> Value:
    x = e.inputs[0].expr
    theta = literal(e.config.float("theta", 1.0))
    return same(e.inputs[0], f"torch.where({x} > {theta}, {x}, torch.zeros_like({x}))")


def softmax(e: Emitter) -> Value:
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    if len(axes) != 1:
        raise e.unsupported(f"softmax over several axes {axes} is not built yet")
    if e.mask() is not None:  # Keras adds a large negative number where its mask, broadcast to the input, is 0
        raise e.unsupported("softmax of a masked input is not built yet")
    if axes[0] == -1 or (x.rank is not None and axes[0] == x.rank - 1):
        return same(x, f"torch.softmax({x.expr}, dim={channel_dim(x)})")
    return same(x, f"torch.softmax({e.arg(0, KERAS)}, dim={axes[0]})", layout=KERAS)


for _name, _forward, _tested in (
        ("Activation", activation_layer, "softsign (every activation is tested through Dense)"),
        ("ReLU", relu, "max_value, negative_slope, threshold"), ("LeakyReLU", leaky_relu, "the default slope"),
        ("ELU", elu, "alpha"), ("ThresholdedReLU", thresholded_relu, "theta"), ("Softmax", softmax, "axis")):
    register(Kind(f"keras.layers.{_name}", forward=_forward, description="no weights", tested=_tested))
