"""BatchNormalization, LayerNormalization, GroupNormalization, Normalization, Rescaling."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, constructor, same

BATCH_NORMS = {2: "nn.BatchNorm1d", 3: "nn.BatchNorm1d", 4: "nn.BatchNorm2d", 5: "nn.BatchNorm3d"}


@op("BatchNormalization")
def batch_norm(e: Emitter) -> Value:
    x = e.inputs[0]
    axis = e.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) else axis
    if x.rank is None or axis not in (-1, x.rank - 1):
        raise e.unsupported(f"BatchNormalization over axis {axis} of a rank-{x.rank} tensor is not built yet")
    e.module(constructor(BATCH_NORMS[x.rank], e.result.module_args))
    return same(x, f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)


@op("LayerNormalization")
def layer_norm(e: Emitter) -> Value:
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    if e.result is None:  # scale and center off: no weights, nothing to hold
        axes = e.config.get("axis", -1)
        count = len(axes) if isinstance(axes, list) else 1
        eps = float(e.config.get("epsilon", 1e-3))
        return same(x, f"F.layer_norm({keras}, {keras}.shape[-{count}:], eps={eps!r})", layout=KERAS)
    arguments = e.result.module_args
    if e.result.options.get("rms_scaling"):
        e.module(f"{e.helper('Weight')}(*{tuple(arguments['normalized_shape'])!r})")
        dims = tuple(range(-len(arguments["normalized_shape"]), 0))
        return same(x, f"{keras} * torch.rsqrt({keras}.var(dim={dims!r}, unbiased=False, keepdim=True) + "
                       f"{arguments['eps']!r}) * {e.attribute}.weight", layout=KERAS)
    e.module(constructor("nn.LayerNorm", arguments))
    return same(x, f"{e.attribute}({keras})", layout=KERAS)


@op("GroupNormalization")
def group_norm(e: Emitter) -> Value:
    e.module(constructor("nn.GroupNorm", e.result.module_args))
    return same(e.inputs[0], f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)


@op("Normalization")
def normalization(e: Emitter) -> Value:
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    if e.result is None:  # mean and variance given in the config
        if e.config.get("invert"):
            raise e.unsupported("invert=True with mean and variance given in the config is not built yet")
        mean, variance = e.config["mean"], e.config["variance"]
        return same(x, f"({keras} - torch.tensor({mean!r})) / "
                       f"torch.clamp(torch.sqrt(torch.tensor({variance!r})), min=1e-7)", layout=KERAS)
    e.module(f"{e.helper('Normalization')}(*{tuple(e.result.module_args['shape'])!r})")
    if e.result.options.get("invert"):
        return same(x, f"{keras} * torch.sqrt({e.attribute}.variance) + {e.attribute}.mean", layout=KERAS)
    return same(x, f"{e.attribute}({keras})", layout=KERAS)


@op("Rescaling")
def rescaling(e: Emitter) -> Value:
    scale, offset = e.config.get("scale", 1.0), e.config.get("offset", 0.0)
    x = e.inputs[0]
    if isinstance(scale, (int, float)) and isinstance(offset, (int, float)):
        return same(x, f"{x.expr} * {float(scale)!r} + {float(offset)!r}")
    keras = e.arg(0, KERAS)  # per-channel values broadcast over the last axis
    return same(x, f"{keras} * torch.tensor({scale!r}) + torch.tensor({offset!r})", layout=KERAS)
