"""Activation layers: Activation, ReLU, LeakyReLU, ELU, ThresholdedReLU, Softmax (no weights)."""
from __future__ import annotations

from dataclasses import replace

from ..config import Config
from .forward import (KERAS, Emitter, Value, activation, channel_dim, floats, literal, same, softmax_large_negative,
                      softmax_zeroes_masked, torch_changes_input)
from .registry import Kind, register


def activation_layer(e: Emitter) -> Value:
    # Keras 3's linear activation returns the tensor object it is given (its Keras mask stays on it)
    e.returns_input = e.keras_major >= 3 and e.config.get("activation") in (None, "linear") and not e.first_input_cast
    return same(e.inputs[0], activation(e, e.config.get("activation"), e.inputs[0]))


def relu(e: Emitter) -> Value:
    return same(e.inputs[0], _relu(e, e.config, e.inputs[0].expr))


#: from Keras 3.15, a threshold keeps x by a where, not a multiplication (which makes NaN of NaN and -inf)
RELU_WHERE_FROM = (3, 15)
#: from Keras 3.13, a masked Softmax puts its large negative where the mask is False, not adds it to the scores
SOFTMAX_WHERE_FROM = (3, 13)


def _relu(e: Emitter, config: Config, x: str) -> str:
    """Keras's ReLU layer: F.relu or relu6 when it can be, keras_relu() with a slope or threshold."""
    max_value = config.optional_float("max_value", minimum=0.0)
    slope = config.float("negative_slope", 0.0) if config.get("negative_slope") is not None else 0.0
    threshold = config.float("threshold", 0.0) if config.get("threshold") is not None else 0.0
    if slope == 0 and threshold == 0:
        return f"F.relu({x})" if max_value is None else (
            f"F.relu6({x})" if max_value == 6 else f"torch.clamp({x}, 0.0, {literal(max_value)})")
    multiply = ", True" if threshold != 0 and e.keras_version < RELU_WHERE_FROM else ""
    return f"{e.helper('keras_relu')}({x}, {literal(max_value)}, {literal(slope)}, {literal(threshold)}{multiply})"


def leaky_relu(e: Emitter) -> Value:
    x = floats(e.inputs[0], e)  # an integer tensor's leaky ReLU is float32 (TensorFlow's casts it; Keras 3's too)
    return same(x, _leaky_relu(e.config, x.expr))


def _leaky_relu(config: Config, x: str) -> str:
    slope = config.float("negative_slope" if "negative_slope" in config else "alpha", 0.3)  # Keras 2: alpha
    return f"F.leaky_relu({x}, {literal(slope)})"


def elu(e: Emitter) -> Value:
    return same(e.inputs[0], _elu(e.config, e.inputs[0].expr))


def _elu(config: Config, x: str) -> str:
    return f"F.elu({x}, {literal(config.float('alpha', 1.0))})"


def layer_as_activation(e: Emitter, class_name: str, config: Config, value: Value) -> str:
    """A Keras activation layer given as a layer's activation (`Conv2D(activation=LeakyReLU())`), with its own
    options (its slope, alpha, bounds): the expression of `value` through it."""
    x = value.expr
    if class_name == "Activation":
        return activation(e, config.get("activation"), value)
    if class_name == "ReLU":
        return _relu(e, config, x)
    if class_name == "LeakyReLU":
        return _leaky_relu(config, x)
    if class_name == "ELU":
        return _elu(config, x)
    if class_name == "Softmax" and config.axes("axis", -1) in ((-1,), (value.rank - 1,) if value.rank else (-1,)):
        return f"torch.softmax({x}, dim={channel_dim(value)})"
    raise e.unsupported(f"a {class_name[:40]} layer given as the activation is not built (one of Activation, "
                        "ReLU, LeakyReLU, ELU, or Softmax over the last axis is)")


def thresholded_relu(e: Emitter) -> Value:
    x = e.inputs[0].expr
    theta = literal(e.config.float("theta", 1.0))
    # tf.keras multiplies by the comparison: NaN, and -inf, give NaN, as a where would not
    return same(e.inputs[0], f"{x} * ({x} > {theta}).to({x}.dtype)")


def softmax(e: Emitter) -> Value:
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    mask = e.mask()
    if len(axes) > 1:
        if mask is not None:
            raise e.unsupported(f"softmax of a masked input over several axes {axes} is not built")
        # Keras (3, and tf.keras) computes it as exp(x - logsumexp(x, axes))
        scores = e.variable("scores")
        e.statement(f"{scores} = {e.arg(0, KERAS)}")
        return same(x, f"torch.exp({scores} - torch.logsumexp({scores}, dim={axes}, keepdim=True))", layout=KERAS)
    if mask is not None:
        return _masked_softmax(e, axes[0], mask)
    if axes[0] == -1 or (x.rank is not None and axes[0] == x.rank - 1):
        return same(x, f"torch.softmax({x.expr}, dim={channel_dim(x)})")
    return same(x, f"torch.softmax({e.arg(0, KERAS)}, dim={axes[0]})", layout=KERAS)


def _masked_softmax(e: Emitter, axis: int, mask: str) -> Value:
    """A masked softmax as the file's Keras computes it, the mask broadcast against the input as numpy does:
    Keras 3 up to 3.12 and tf.keras add (1 - mask) * -1e9 to the scores (-3e4 in float16 for Keras 3, float16's
    lowest for tf.keras), Keras 3.13 on and tf.keras's robust_masking put -1e9 where the mask is False (a float
    mask given explicitly: where it is not above 0.5); Keras 3.10 on then zero the masked outputs (a row masked
    throughout gives zeros, not a spread)."""
    x = e.inputs[0]
    if x.rank is None or x.rank > 4:  # rank 4: attention scores, masked by the attention mask they carry
        raise e.unsupported("softmax of a masked input is built for vectors, sequences and attention scores "
                            "(rank 2 to 4)")
    scores = e.arg(0, KERAS)
    kept = e.variable("kept")  # the mask, computed once for the two or three uses below
    e.statement(f"{kept} = {mask}")
    low = softmax_large_negative(e, x.dtype)
    dtype = f"torch.{x.dtype or 'float32'}"
    if e.keras_version >= SOFTMAX_WHERE_FROM or (e.keras_major < 3 and e.config.bool("robust_masking", False)):
        if isinstance(e.kwargs.get("mask"), Value):  # only an explicit mask can be float: its dtype is known late
            e.statement(f"{kept} = {kept} if {kept}.dtype == torch.bool else {kept} > 0.5")
        scores = f"torch.where({kept}, {scores}, {literal(low)})"
    else:
        scores = f"({scores} + (1.0 - {kept}.to({dtype})) * {literal(low)})"
        if torch_changes_input(e, SOFTMAX_WHERE_FROM):  # `inputs += adder`: the masked scores pushed down
            added = e.variable("added")
            e.statement(f"{added} = {scores}")
            scores = added
            e.changed_input = replace(x, expr=added, layout=KERAS)
    output = f"torch.softmax({scores}, dim={axis})"
    if softmax_zeroes_masked(e):
        output = f"({output} * {kept}.to({dtype}))"
    return Value(output, KERAS, x.rank, dtype=x.dtype)


for _name, _forward, _tested in (
        ("Activation", activation_layer, "softsign (every activation is tested through Dense)"),
        ("ReLU", relu, "max_value, negative_slope, threshold"), ("LeakyReLU", leaky_relu, "the default slope"),
        ("ELU", elu, "alpha"), ("ThresholdedReLU", thresholded_relu, "theta"),
        ("Softmax", softmax, "axis, several axes; a masked input (rank 2 to 4: attention scores too) as each Keras "
                             "masks it")):
    register(Kind(f"keras.layers.{_name}", forward=_forward, description="no weights", tested=_tested))
