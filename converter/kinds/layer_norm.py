"""LayerNormalization -> nn.LayerNorm over the same trailing axes.

Keras's epsilon defaults to 1e-3 (PyTorch 1e-5): carried. center=False becomes
bias=False; scale=False with center=True gets a created weight of ones. Keras's
deprecated rms_scaling=True computes x * rsqrt(var(x) + eps) * gamma, which neither
nn.LayerNorm nor nn.RMSNorm computes: the weight is converted and a warning says so.
"""
from __future__ import annotations

from ..config import Config
from ..graph import Layer
from ..layouts import Layout
from ..conversion import LayerConversion, TorchModule
from .forward import KERAS, Emitter, Value, literal, same
from .registry import Kind, register
from .rules import Context, Variable, created, expect_shape, numbered, to_torch


def layer_norm_variables(config: Config) -> list[Variable]:
    rms = config.bool("rms_scaling", False)
    entries: list[tuple[str, Layout]] = []
    if config.bool("scale", True) or rms:
        entries.append(("gamma", Layout.SAME))
    if config.bool("center", True) and not rms:
        entries.append(("beta", Layout.SAME))
    return numbered("", entries)


def _axes(config: Config) -> list[int]:
    return list(config.axes("axis", -1))


def _trailing(layer: Layer) -> bool | None:
    """Whether the normalized axes are the trailing ones; None when the rank is unknown."""
    axes = sorted(_axes(layer.config))
    if layer.input_shape:
        rank = len(layer.input_shape)
        axes = sorted(a % rank for a in axes)
        return axes == list(range(rank - len(axes), rank))
    if all(a < 0 for a in axes):
        return axes == list(range(-len(axes), 0))
    return None if axes == list(range(axes[0], axes[0] + len(axes))) else False


def _unsupported(layer: Layer) -> str | None:
    if _trailing(layer) is False:
        return (f"normalizes over axes {_axes(layer.config)}, not the trailing ones; nn.LayerNorm "
                "normalizes the last axes")
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    config = layer.config
    shape = (layer.tensor("gamma") if layer.has("gamma") else layer.tensor("beta")).shape
    if layer.has("gamma") and layer.has("beta"):
        expect_shape(layer, "beta", shape, "the shape of gamma")
    if len(shape) != len(_axes(config)):
        expect_shape(layer, "gamma" if layer.has("gamma") else "beta", (None,) * len(_axes(config)),
                     f"one axis per normalized axis {_axes(config)}")
    tensors = []
    warnings = []
    if layer.has("gamma"):
        tensors.append(to_torch(layer, "gamma", "weight", Layout.SAME))
    elif layer.has("beta"):
        tensors.append(created(layer, "weight", 1.0, shape, "beta", "ones (Keras scale=False)"))
    if layer.has("beta"):
        tensors.append(to_torch(layer, "beta", "bias", Layout.SAME))
    arguments = {"normalized_shape": shape, "eps": config.float("epsilon", 1e-3, minimum=0.0),
                 "elementwise_affine": bool(tensors), "bias": layer.has("beta")}
    if _trailing(layer) is None:
        warnings.append(f"layer {layer.key}: axes {_axes(config)} are positive indices and the config does "
                        "not record the input rank: taken to be the trailing axes")
    if config.bool("rms_scaling", False):
        warnings.append(f"layer {layer.key}: rms_scaling=True computes x * rsqrt(var(x) + eps) * gamma "
                        "(Keras's deprecated formula, centred variance): neither nn.LayerNorm nor "
                        "nn.RMSNorm computes it; write it out with this weight")
    if config.bool("rms_scaling", False):  # Keras's own formula: a bare weight, written out in forward
        module = TorchModule("Weight", {"shape": tuple(shape)})
        return LayerConversion(layer, module, tensors, warnings=warnings,
                               options={"rms_scaling": True, "eps": arguments["eps"]})
    return LayerConversion(layer, TorchModule("LayerNorm", arguments), tensors, warnings=warnings)


def forward(e: Emitter) -> Value:
    """nn.LayerNorm over the trailing axes, channels-last; Keras's rms_scaling formula written out."""
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    if e.result is None:  # scale and center off: no weights, nothing to hold
        count = len(e.config.axes("axis", -1))
        eps = e.config.float("epsilon", 1e-3, minimum=0.0)
        return same(x, f"F.layer_norm({keras}, {keras}.shape[-{count}:], eps={literal(eps)})", layout=KERAS)
    if e.result.options.get("rms_scaling"):
        e.module(e.result.module)
        dims = tuple(range(-len(e.result.module.arguments["shape"]), 0))
        return same(x, f"{keras} * torch.rsqrt({keras}.var(dim={literal(dims)}, unbiased=False, keepdim=True) + "
                       f"{literal(e.result.options['eps'])}) * {e.attribute}.weight", layout=KERAS)
    e.module(e.result.module)
    return same(x, f"{e.attribute}({keras})", layout=KERAS)


register(Kind(
    "keras.layers.LayerNormalization", module="nn.LayerNorm", variables=layer_norm_variables, convert=convert,
    forward=forward, unsupported=_unsupported,
    description="gamma, beta -> weight, bias (same shape); eps carried (Keras 1e-3)",
    tested="axis -1 and (-2, -1), epsilon, center/scale off, rms_scaling",
))
