"""Dense, activations, identity-at-inference layers, Embedding, Masking, PReLU."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, activated, activation, channel_dim, constructor, literal, same


@op("Dense", "EinsumDense")
def dense(e: Emitter) -> Value:
    e.module(constructor("nn.Linear", e.result.module_args))
    x = e.inputs[0]
    channels = e.result.options.get("flattened_channels")
    if channels and x.flat_order != "chw":  # rows regrouped for (c, h, w): reorder Keras's (h, w, c)
        reordered = f"{x.expr}.unflatten(1, (-1, {channels})).transpose(1, 2).flatten(1)"
        return activated(e, Value(f"{e.attribute}({reordered})", KERAS, 2))
    # Dense reads the last (channels) axis: channels-last, whatever layout comes in
    return activated(e, Value(f"{e.attribute}({e.arg(0, KERAS)})", KERAS, x.rank, x.mask))


@op("Activation")
def activation_layer(e: Emitter) -> Value:
    return same(e.inputs[0], activation(e, e.config.get("activation"), e.inputs[0]))


@op("ReLU")
def relu(e: Emitter) -> Value:
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


@op("LeakyReLU")
def leaky_relu(e: Emitter) -> Value:
    # Keras 2 calls it alpha, Keras 3 negative_slope; both default 0.3
    slope = e.config.float("negative_slope" if "negative_slope" in e.config else "alpha", 0.3)
    return same(e.inputs[0], f"F.leaky_relu({e.inputs[0].expr}, {literal(slope)})")


@op("ELU")
def elu(e: Emitter) -> Value:
    return same(e.inputs[0], f"F.elu({e.inputs[0].expr}, {literal(e.config.float('alpha', 1.0))})")


@op("ThresholdedReLU")
def thresholded_relu(e: Emitter) -> Value:
    x = e.inputs[0].expr
    theta = literal(e.config.float("theta", 1.0))
    return same(e.inputs[0], f"torch.where({x} > {theta}, {x}, torch.zeros_like({x}))")


@op("Softmax")
def softmax(e: Emitter) -> Value:
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    if len(axes) != 1:
        raise e.unsupported(f"softmax over several axes {axes} is not built yet")
    if axes[0] == -1 or (x.rank is not None and axes[0] == x.rank - 1):
        return same(x, f"torch.softmax({x.expr}, dim={channel_dim(x)})")
    return same(x, f"torch.softmax({e.arg(0, KERAS)}, dim={axes[0]})", layout=KERAS)


@op("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization", "Identity")
def identity(e: Emitter) -> Value:
    """Dropout and noise layers do nothing at inference."""
    return e.inputs[0]


@op("Embedding")
def embedding(e: Emitter) -> Value:
    e.module(constructor("nn.Embedding", e.result.module_args))
    x = e.inputs[0]
    rank = x.rank + 1 if x.rank else None
    mask = f"({x.expr} != 0)" if e.config.bool("mask_zero", False) else None
    return Value(f"{e.attribute}({x.expr}.long())", KERAS, rank, mask)


@op("Masking")
def masking(e: Emitter) -> Value:
    x = e.inputs[0]
    value = e.config.float("mask_value", 0.0)
    keras = e.arg(0, KERAS)
    mask = e.variable("mask")
    e.statement(f"{mask} = ({keras} != {literal(value)}).any(dim=-1)")
    return Value(f"{keras} * {mask}.unsqueeze(-1)", KERAS, x.rank, mask)


@op("PReLU")
def prelu(e: Emitter) -> Value:
    x = e.inputs[0]
    if e.result.torch_module == "nn.PReLU":
        e.module(constructor("nn.PReLU", e.result.module_args))
        return same(x, f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)
    e.module(f"{e.helper('Weight')}(*{literal(tuple(e.result.options['alpha_shape']))})")
    keras = e.arg(0, KERAS)
    return same(x, f"torch.where({keras} >= 0, {keras}, {e.attribute}.weight * {keras})", layout=KERAS)

