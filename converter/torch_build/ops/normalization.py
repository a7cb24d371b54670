"""BatchNormalization, LayerNormalization, GroupNormalization, Normalization, Rescaling."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, constructor, literal, same

BATCH_NORMS = {2: "nn.BatchNorm1d", 3: "nn.BatchNorm1d", 4: "nn.BatchNorm2d", 5: "nn.BatchNorm3d"}


@op("BatchNormalization")
def batch_norm(e: Emitter) -> Value:
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    axis = axes[0]
    if x.rank is None or len(axes) != 1 or axis not in (-1, x.rank - 1) or x.rank not in BATCH_NORMS:
        raise e.unsupported(f"BatchNormalization over axis {axis} of a rank-{x.rank} tensor is not built yet")
    e.module(constructor(BATCH_NORMS[x.rank], e.result.module_args))
    return same(x, f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)


@op("LayerNormalization")
def layer_norm(e: Emitter) -> Value:
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    if e.result is None:  # scale and center off: no weights, nothing to hold
        count = len(e.config.axes("axis", -1))
        eps = e.config.float("epsilon", 1e-3, minimum=0.0)
        return same(x, f"F.layer_norm({keras}, {keras}.shape[-{count}:], eps={literal(eps)})", layout=KERAS)
    arguments = e.result.module_args
    if e.result.options.get("rms_scaling"):
        e.module(f"{e.helper('Weight')}(*{literal(tuple(arguments['normalized_shape']))})")
        dims = tuple(range(-len(arguments["normalized_shape"]), 0))
        return same(x, f"{keras} * torch.rsqrt({keras}.var(dim={literal(dims)}, unbiased=False, keepdim=True) + "
                       f"{literal(arguments['eps'])}) * {e.attribute}.weight", layout=KERAS)
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
        if e.config.bool("invert", False):
            raise e.unsupported("invert=True with mean and variance given in the config is not built yet")
        mean, variance = e.config.numbers("mean"), e.config.numbers("variance")
        return same(x, f"({keras} - torch.tensor({literal(mean)})) / "
                       f"torch.clamp(torch.sqrt(torch.tensor({literal(variance)})), min=1e-7)", layout=KERAS)
    e.module(f"{e.helper('Normalization')}(*{literal(tuple(e.result.module_args['shape']))})")
    if e.result.options.get("invert"):
        return same(x, f"{keras} * torch.sqrt({e.attribute}.variance) + {e.attribute}.mean", layout=KERAS)
    return same(x, f"{e.attribute}({keras})", layout=KERAS)


@op("Rescaling")
def rescaling(e: Emitter) -> Value:
    scale, offset = e.config.numbers("scale", 1.0), e.config.numbers("offset", 0.0)
    x = e.inputs[0]
    if isinstance(scale, float) and isinstance(offset, float):
        return same(x, f"{x.expr} * {literal(scale)} + {literal(offset)}")
    keras = e.arg(0, KERAS)  # per-channel values broadcast over the last axis
    return same(x, f"{keras} * torch.tensor({literal(scale)}) + torch.tensor({literal(offset)})", layout=KERAS)
