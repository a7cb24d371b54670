"""Pieces the op modules share: constructor source, activations, axis mapping."""
from __future__ import annotations

from typing import Any

from ...config import activation_name
from ..codegen import CHANNELS_FIRST, KERAS, Emitter, Value
from ..source import literal


def constructor(module: str, arguments: dict[str, Any]) -> str:
    """`nn.Conv2d(in_channels=3, ...)` from converted module arguments (each a checked literal)."""
    return f"{module}(" + ", ".join(f"{name}={literal(value)}" for name, value in arguments.items()) + ")"


def channel_dim(value: Value) -> int:
    """The torch dim of Keras's last axis (the channels) for a value in its layout."""
    return 1 if value.layout == CHANNELS_FIRST and value.rank != 2 else -1


def activation(emitter: Emitter, name: Any, value: Value) -> str:
    """Keras activation `name` applied to `value`, with the semantics of the Keras that wrote the file."""
    name = activation_name(name)
    x = value.expr
    dim = channel_dim(value)
    simple = {
        "linear": x, "relu": f"F.relu({x})", "sigmoid": f"torch.sigmoid({x})", "tanh": f"torch.tanh({x})",
        "softmax": f"torch.softmax({x}, dim={dim})", "log_softmax": f"torch.log_softmax({x}, dim={dim})",
        "elu": f"F.elu({x})", "selu": f"F.selu({x})", "softplus": f"F.softplus({x})",
        "softsign": f"F.softsign({x})", "swish": f"F.silu({x})", "silu": f"F.silu({x})",
        "gelu": f"F.gelu({x})", "exponential": f"torch.exp({x})", "relu6": f"F.relu6({x})",
        "hard_silu": f"F.hardswish({x})", "hard_swish": f"F.hardswish({x})", "mish": f"F.mish({x})",
        "leaky_relu": f"F.leaky_relu({x}, 0.2)", "celu": f"F.celu({x})", "log_sigmoid": f"F.logsigmoid({x})",
        "tanh_shrink": f"F.tanhshrink({x})",
    }
    if name == "hard_sigmoid":
        if emitter.keras_major < 3:  # Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6
            return f"{emitter.helper('hard_sigmoid_keras2')}({x})"
        return f"F.hardsigmoid({x})"
    if name not in simple:
        raise emitter.unsupported(f"activation {name!r} has no PyTorch equivalent here")
    return simple[name]


def activated(emitter: Emitter, value: Value) -> Value:
    """`value` passed through the activation fused into this layer's config."""
    name = activation_name(emitter.config.get("activation", "linear"))
    return same(value, activation(emitter, name, value))


def keras_axis(axis: int, value: Value) -> int:
    """A Keras axis as the torch dim of `value` in its layout."""
    if value.layout != CHANNELS_FIRST or value.rank == 2:
        return axis
    if value.rank is None:
        raise ValueError("rank unknown")
    axis = axis % value.rank
    return 1 if axis == value.rank - 1 else (axis + 1 if axis > 0 else 0)


def same(value: Value, expr: str, rank: int | None = None, layout: str | None = None) -> Value:
    """A new value like `value` (layout, rank, mask, flattening order) with a new expression."""
    return Value(expr, layout or value.layout, value.rank if rank is None else rank, value.mask,
                 flat_order=value.flat_order)


__all__ = ["CHANNELS_FIRST", "KERAS", "constructor", "activation", "activated", "keras_axis", "same",
           "channel_dim", "activation_name", "literal"]
