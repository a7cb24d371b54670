"""Dense, activations, identity-at-inference layers, Embedding, Masking, PReLU."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, activated, activation, channel_dim, constructor, same


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
    max_value = e.config.get("max_value")
    slope = float(e.config.get("negative_slope", 0.0) or 0.0)
    threshold = float(e.config.get("threshold", 0.0) or 0.0)
    if slope == 0 and threshold == 0:
        expr = f"F.relu({x.expr})" if max_value is None else (
            f"F.relu6({x.expr})" if float(max_value) == 6 else f"torch.clamp({x.expr}, 0.0, {float(max_value)!r})")
    else:
        expr = f"{e.helper('keras_relu')}({x.expr}, {max_value!r}, {slope!r}, {threshold!r})"
    return same(x, expr)


@op("LeakyReLU")
def leaky_relu(e: Emitter) -> Value:
    # Keras 2 calls it alpha, Keras 3 negative_slope; both default 0.3
    slope = e.config.get("negative_slope", e.config.get("alpha", 0.3))
    return same(e.inputs[0], f"F.leaky_relu({e.inputs[0].expr}, {float(slope)!r})")


@op("ELU")
def elu(e: Emitter) -> Value:
    return same(e.inputs[0], f"F.elu({e.inputs[0].expr}, {float(e.config.get('alpha', 1.0))!r})")


@op("ThresholdedReLU")
def thresholded_relu(e: Emitter) -> Value:
    x = e.inputs[0].expr
    return same(e.inputs[0], f"torch.where({x} > {float(e.config.get('theta', 1.0))!r}, {x}, torch.zeros_like({x}))")


@op("Softmax")
def softmax(e: Emitter) -> Value:
    x = e.inputs[0]
    axis = e.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis == -1:
        return same(x, f"torch.softmax({x.expr}, dim={channel_dim(x)})")
    return same(x, f"torch.softmax({e.arg(0, KERAS)}, dim={int(axis)})", layout=KERAS)


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
    mask = f"({x.expr} != 0)" if e.config.get("mask_zero") else None
    return Value(f"{e.attribute}({x.expr}.long())", KERAS, rank, mask)


@op("Masking")
def masking(e: Emitter) -> Value:
    x = e.inputs[0]
    value = float(e.config.get("mask_value", 0.0))
    keras = e.arg(0, KERAS)
    mask = e.variable("mask")
    e.statement(f"{mask} = ({keras} != {value!r}).any(dim=-1)")
    return Value(f"{keras} * {mask}.unsqueeze(-1)", KERAS, x.rank, mask)


@op("PReLU")
def prelu(e: Emitter) -> Value:
    x = e.inputs[0]
    if e.result.torch_module == "nn.PReLU":
        e.module(constructor("nn.PReLU", e.result.module_args))
        return same(x, f"{e.attribute}({e.arg(0, CHANNELS_FIRST)})", layout=CHANNELS_FIRST)
    e.module(f"{e.helper('Weight')}(*{tuple(e.result.options['alpha_shape'])!r})")
    keras = e.arg(0, KERAS)
    return same(x, f"torch.where({keras} >= 0, {keras}, {e.attribute}.weight * {keras})", layout=KERAS)

