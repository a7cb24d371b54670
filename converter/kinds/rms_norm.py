"""RMSNormalization (Keras 3) -> nn.RMSNorm over the same trailing axes.

Keras computes x * rsqrt(mean(x^2 over the axes) + epsilon) * scale, in float32 at least
(a float16 layer's input is upcast, its output cast back), epsilon 1e-6 by default:
nn.RMSNorm's formula, with `scale` as its weight, unchanged. Over other axes than the
trailing ones Keras's backends disagree (TensorFlow's multiplies by `scale` broadcast over the
last axes, torch's normalizes the last ones): refused by name.
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from .forward import KERAS, Emitter, Value, literal, require_weights, same
from .layer_norm import normalized_dims
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch


def rms_norm_variables(config: Config) -> list[Variable]:
    return numbered("", [("scale", Layout.SAME)])


def _epsilon(config: Config) -> float:
    return config.float("epsilon", 1e-6, minimum=0.0)


def convert(layer: Layer, context: Context) -> LayerConversion:
    axes = layer.config.axes("axis", -1)
    shape = layer.tensor("scale").shape
    expect_shape(layer, "scale", (None,) * len(axes), f"one axis per normalized axis {list(axes)}")
    arguments = {"normalized_shape": tuple(shape), "eps": _epsilon(layer.config), "elementwise_affine": True}
    return LayerConversion(layer, TorchModule("RMSNorm", arguments), [to_torch(layer, "scale", "weight", Layout.SAME)])


def forward(e: Emitter) -> Value:
    """nn.RMSNorm over the trailing axes, channels-last; in half precision written out in float32, as Keras
    computes it."""
    result = require_weights(e)
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    e.module(result.module)
    dims = normalized_dims(e, x.rank)  # the axis config is LayerNormalization's
    if x.rank is not None and dims != tuple(range(x.rank - len(dims), x.rank)):
        axes = list(e.config.axes("axis", -1))
        raise e.unsupported(f"RMSNormalization over axes {axes}, not the trailing ones: Keras's backends compute it "
                            "differently (TensorFlow multiplies by scale broadcast over the last axes, torch "
                            "normalizes the last ones)")
    if x.dtype not in ("float16", "bfloat16"):
        return same(x, f"{e.attribute}({keras})", layout=KERAS)
    computed, weight = f"{keras}.float()", f"{e.attribute}.weight.float()"
    normalized = (f"{computed} * torch.rsqrt({computed}.square().mean(dim={literal(dims)}, keepdim=True) + "
                  f"{literal(_epsilon(e.config))}) * {weight}")
    return same(x, f"({normalized}).to({keras}.dtype)", layout=KERAS)


register(Kind(
    "keras.layers.RMSNormalization", module="nn.RMSNorm", variables=rms_norm_variables, convert=convert,
    forward=forward,
    description="scale -> weight (same shape); eps carried (Keras 1e-6); float16 computed in float32 as Keras does",
    tested="axis -1, (-2, -1), epsilon, float16; other axes refused",
))
