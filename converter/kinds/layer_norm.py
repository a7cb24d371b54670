"""LayerNormalization -> nn.LayerNorm over the same trailing axes.

Keras's epsilon defaults to 1e-3 (PyTorch 1e-5): carried. Over other axes (tf.keras's
axis=1 of a sequence), nn.LayerNorm holds the weights and forward writes the
normalization out over those axes, from the input's rank. center=False becomes
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
                        "not record the input rank: nn.LayerNorm computes it only if they are the trailing "
                        "axes (the generated module decides from the graph)")
    elif _trailing(layer) is False:
        warnings.append(f"layer {layer.key}: normalizes over axes {_axes(config)}, not the trailing ones: "
                        "nn.LayerNorm holds the weights, but computes over the last axes; the generated module "
                        "writes the normalization out over these axes")
    if config.bool("rms_scaling", False):
        warnings.append(f"layer {layer.key}: rms_scaling=True computes x * rsqrt(var(x) + eps) * gamma "
                        "(Keras's deprecated formula, centred variance): neither nn.LayerNorm nor "
                        "nn.RMSNorm computes it; write it out with this weight")
    if config.bool("rms_scaling", False):  # Keras's own formula: a bare weight, written out in forward
        module = TorchModule("Weight", {"shape": tuple(shape)})
        return LayerConversion(layer, module, tensors, warnings=warnings,
                               options={"rms_scaling": True, "eps": arguments["eps"]})
    return LayerConversion(layer, TorchModule("LayerNorm", arguments), tensors, warnings=warnings)


def normalized_dims(e: Emitter, rank: int | None) -> tuple[int, ...]:
    """The normalized axes as non-negative dims of the Keras-layout input."""
    axes = _axes(e.config)
    if rank is None:
        if sorted(axes) == list(range(-len(axes), 0)):
            return tuple(range(-len(axes), 0))
        raise e.unsupported(f"normalizes over axes {axes} of an input whose rank the graph does not tell")
    if any(not -rank <= axis < rank for axis in axes):
        raise e.unsupported(f"axes {axes} do not fit an input of rank {rank}")
    return tuple(sorted(axis % rank for axis in axes))


def _written_out(e: Emitter, x: str, dims: tuple[int, ...], rank: int, eps: float) -> str:
    """Keras's (x - mean) * rsqrt(var + eps) * gamma + beta over `dims`, the weights broadcast to them."""
    mean = f"{x}.mean(dim={literal(dims)}, keepdim=True)"
    variance = f"{x}.var(dim={literal(dims)}, unbiased=False, keepdim=True)"
    result = f"({x} - {mean}) * torch.rsqrt({variance} + {literal(eps)})"
    if e.result is not None:
        shape = ", ".join(f"{x}.shape[{d}]" if d in dims else "1" for d in range(rank))
        module = e.attribute
        result = f"{result} * {module}.weight.reshape({shape})"
        if e.result.module.arguments.get("bias"):
            result = f"{result} + {module}.bias.reshape({shape})"
    return result


def forward(e: Emitter) -> Value:
    """nn.LayerNorm over the trailing axes, channels-last; other axes and Keras's rms_scaling formula written out."""
    x = e.inputs[0]
    keras = e.arg(0, KERAS)
    dims = normalized_dims(e, x.rank)
    trailing = x.rank is None or dims == tuple(range(x.rank - len(dims), x.rank))
    eps = e.config.float("epsilon", 1e-3, minimum=0.0)
    if not trailing and e.config.bool("rms_scaling", False):
        raise e.unsupported(f"rms_scaling over axes {list(dims)}, not the trailing ones, is not built")
    if not trailing:
        if e.result is not None:
            e.module(e.result.module)
        return same(x, _written_out(e, keras, dims, int(x.rank or 0), eps), layout=KERAS)
    if e.result is None:  # scale and center off: no weights, nothing to hold
        count = len(dims)
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
    forward=forward,
    description="gamma, beta -> weight, bias (same shape); eps carried (Keras 1e-3); other axes than the "
                "trailing ones written out",
    tested="axis -1, (-2, -1), 1 of a sequence, (1, 2) and 1 of an image, epsilon, center/scale off, rms_scaling",
))
