"""Normalization (the preprocessing layer) -> buffers `mean` and `variance`.

Keras computes (x - mean) / max(sqrt(variance), 1e-7), or mean + x * max(sqrt(variance), 1e-7)
with invert=True, channels-last. Its `axis` are the kept axes, each with a mean per position:
an adapted mean holds their sizes and is reshaped to 1 on every other axis, so that it lines up
with its axes wherever they are (axis=1 of a sequence is not its last). A mean given in the
config lines up its axes right to left with the kept ones (Keras 3.14 and later, tf.keras; Keras
3.0 to 3.7 reshaped it, which is the same where their number agrees), or, in Keras 3.8 to 3.13,
as numpy broadcasts it against the input. PyTorch has no such module: weightport's generated
models give it one with these two buffers. `count` only serves adapt() and is left out, as the
record says.
"""
from __future__ import annotations

import math
from typing import Any

from ..config import Config, compute_dtype
from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from .forward import KERAS, Emitter, Value, constant_tensor, same
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch

#: the Keras 3 versions whose build broadcast a given mean against the input as numpy does (ops.broadcast_to)
_BROADCASTS_GIVEN = ((3, 8), (3, 14))


def normalization_variables(config: Config) -> list[Variable]:
    if config.get("mean") is not None:
        return []  # mean and variance given in the config: constants, no weights
    # Keras 3 keeps them as attributes `adapt_mean` and `adapt_variance` (a TF checkpoint names them so)
    return numbered("", [("mean", Layout.SAME, ("adapt_mean",)), ("variance", Layout.SAME, ("adapt_variance",)),
                         ("count", Layout.SAME)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    expect_shape(layer, "variance", layer.tensor("mean").shape, "the shape of mean")
    tensors = [to_torch(layer, "mean", "mean", Layout.SAME), to_torch(layer, "variance", "variance", Layout.SAME)]
    return LayerConversion(
        layer, TorchModule("Normalization", {"shape": layer.tensor("mean").shape}), tensors,
        options={"invert": layer.config.bool("invert", False),
                 "left_out": ["count: only adapt() uses it"] if layer.has("count") else []},
    )


def forward(e: Emitter) -> Value:
    """(x - mean) / max(sqrt(variance), 1e-7) over the kept axes, channels-last; the inverse with invert=True."""
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    kept = _kept_axes(e, x.rank)
    invert = e.config.bool("invert", False)
    if e.result is None:  # mean and variance given in the config
        mean, variance = (_given(e, key, kept, x.rank) for key in ("mean", "variance"))
    else:
        e.module(e.result.module)
        stored = tuple(e.result.module.arguments["shape"])
        if len(stored) != len(kept):
            raise e.unsupported(f"its mean of shape {stored} does not hold one value per position of its axis "
                                f"{list(kept)}")
        lined_up = kept == _last_axes(kept, x.rank)
        if lined_up and not invert:  # the module's own forward: the mean's axes are the input's last
            return same(x, f"{e.attribute}({keras})", layout=KERAS)
        view = "" if lined_up else f".reshape({_placed(stored, kept, x.rank)})"
        mean, variance = f"{e.attribute}.mean{view}", f"{e.attribute}.variance{view}"
    scale = f"torch.clamp(torch.sqrt({variance}), min=1e-7)"
    return same(x, f"{mean} + {keras} * {scale}" if invert else f"({keras} - {mean}) / {scale}", layout=KERAS)


def _kept_axes(e: Emitter, rank: int | None) -> tuple[int, ...]:
    """Keras's kept axes, as non-negative axes of the input (batch 0) in order; () for axis=None (one mean).
    Axes counted from the end stand as they are where the rank is unknown."""
    if e.config.get("axis", -1) in (None, []):
        return ()
    axes = e.config.axes("axis")
    if rank is None:
        if sorted(axes) != list(range(-len(axes), 0)):
            raise e.unsupported(f"axis {list(axes)} of an input of unknown rank")
        return tuple(sorted(axes))
    if len(set(a % rank for a in axes)) != len(axes) or not all(-rank < a < rank and a % rank for a in axes):
        raise e.unsupported(f"axis {list(axes)} for an input of rank {rank} (the batch axis, or one twice)")
    return tuple(sorted(a % rank for a in axes))


def _last_axes(kept: tuple[int, ...], rank: int | None) -> tuple[int, ...]:
    """The input's last len(kept) axes, as `kept` writes them."""
    if rank is None or any(axis < 0 for axis in kept):
        return tuple(range(-len(kept), 0))
    return tuple(range(rank - len(kept), rank))


def _placed(shape: tuple[int, ...], kept: tuple[int, ...], rank: int | None) -> tuple[int, ...]:
    """The shape that puts a mean's axes on the kept axes, right to left, and 1 on every other axis."""
    assert rank is not None  # (kept axes that are not the last ones were checked against a known rank)
    placed = [1] * rank
    for size, axis in zip(reversed(shape), reversed(kept)):
        placed[axis] = size
    return tuple(placed)


def _given(e: Emitter, key: str, kept: tuple[int, ...], rank: int | None) -> str:
    """A mean or variance given in the config, as a buffer lined up with the input as Keras lined it up."""
    values: Any = e.config.numbers(key)
    shape = _nested_shape(values)
    dtype = compute_dtype(e.config)  # Keras casts it to the dtype the layer computes in (float16: mixed_float16)
    if e.keras_major == 3 and _BROADCASTS_GIVEN[0] <= e.keras_version < _BROADCASTS_GIVEN[1]:
        return constant_tensor(e, values, dtype=dtype)  # torch broadcasts it against the input as Keras did
    while len(shape) > len(kept) and shape[0] == 1:  # (tf.keras broadcast it against the kept axes' sizes)
        shape, values = shape[1:], values[0]
    if len(shape) > len(kept):
        raise e.unsupported(f"its {key} of shape {shape} has more axes than its axis {list(kept)}")
    if not shape or kept == _last_axes(kept, rank):
        # its axes right to left are the input's last ones: as torch broadcasts
        return constant_tensor(e, values, dtype=dtype)
    if e.keras_major == 3 and e.keras_version < _BROADCASTS_GIVEN[0] and len(shape) < len(kept) \
            and math.prod(shape) > 1:
        raise e.unsupported(f"its {key} of shape {shape} for axis {list(kept)}: Keras 3.0 to 3.7 reshaped it to "
                            "the input's sizes on those axes, which is not built")
    return constant_tensor(e, values, _placed(shape, kept, rank), dtype)


def _nested_shape(values: Any) -> tuple[int, ...]:
    """The shape of a number (()) or of nested lists of numbers."""
    shape: list[int] = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


register(Kind(
    "keras.layers.Normalization", module="buffers mean, variance", variables=normalization_variables,
    convert=convert, forward=forward,
    description="mean, variance -> buffers of the same shape; count (adapt bookkeeping) left out",
    tested="per-channel statistics of an image model (EfficientNetB0); adapted and given, invert, axis None, "
           "last, middle and several (Keras 3 and tf.keras); a given mean as Keras 3.12 broadcast it",
))
