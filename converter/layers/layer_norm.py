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
from .registry import Context, LayerConversion, Variable, created, expect_shape, numbered, rule, to_torch


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


@rule("LayerNormalization", torch_module="nn.LayerNorm", variables=layer_norm_variables, unsupported=_unsupported,
      description="gamma, beta -> weight, bias (same shape); eps carried (Keras 1e-3)",
      tested="axis -1 and (-2, -1), epsilon, center/scale off, rms_scaling")
def convert_layer_norm(layer: Layer, context: Context) -> LayerConversion:
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
    options = {"rms_scaling": True} if config.bool("rms_scaling", False) else {}
    return LayerConversion(layer, "nn.LayerNorm", arguments, tensors, warnings=warnings, options=options)
