"""GroupNormalization -> nn.GroupNorm (channels-first in torch, channels-last in Keras).

Both split the channels into contiguous groups. Keras's epsilon defaults to 1e-3
(PyTorch 1e-5): carried. A missing gamma or beta is created (torch's affine has both); with
neither (scale and center off) there are no weights: F.group_norm alone.

TensorFlow Addons' GroupNormalization is the one Keras ported (the same moments, the same
tf.nn.batch_normalization); its InstanceNormalization is that with a group per channel
(nn.GroupNorm of as many groups as channels; F.instance_norm without weights).
"""
from __future__ import annotations

from ..config import Config
from ..errors import LayoutError
from ..graph import Layer
from .affine import affine_tensors, scale_and_center
from ..conversion import LayerConversion, TorchModule
from .forward import CHANNELS_FIRST, Emitter, Value, literal, require_weights, same
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered


def group_norm_variables(config: Config) -> list[Variable]:
    return numbered("", scale_and_center(config))


def _unsupported(layer: Layer) -> str | None:
    axes = layer.config.axes("axis", -1)
    rank = len(layer.input_shape) if layer.input_shape else None
    if axes == (-1,) or (rank is not None and axes == (rank - 1,)):
        return None
    return f"channel axis {list(axes) if len(axes) > 1 else axes[0]} is not the last"


def _epsilon(config: Config) -> float:
    """Keras's epsilon, 1e-3 by default (PyTorch's is 1e-5)."""
    return config.float("epsilon", 1e-3, minimum=0.0)


def _groups_and_eps(config: Config) -> tuple[int, float]:
    """The groups and epsilon, with Keras's defaults (32; 1e-3)."""
    return config.int("groups", 32, minimum=1), _epsilon(config)


def _instance(layer: Layer) -> bool:
    """TensorFlow Addons' InstanceNormalization: a group per channel, whatever its config's `groups` says (-1 before
    it was built)."""
    return layer.kind == INSTANCE_NORMALIZATION


def convert(layer: Layer, context: Context) -> LayerConversion:
    role = "gamma" if layer.has("gamma") else "beta"
    expect_shape(layer, role, (None,), "one value per channel")  # a crafted scalar has no channel count
    channels = layer.tensor(role).shape[0]
    tensors = affine_tensors(layer, channels, role)
    groups, eps = (channels, _epsilon(layer.config)) if _instance(layer) else _groups_and_eps(layer.config)
    if channels % groups:
        raise LayoutError(f"{layer.config.where}: {channels} channels do not split into {groups} groups")
    arguments = {"num_groups": groups, "num_channels": channels, "eps": eps, "affine": True}
    return LayerConversion(layer, TorchModule("GroupNorm", arguments), tensors)


def forward(e: Emitter) -> Value:
    """nn.GroupNorm over the channels, channels-first: both split the channels into contiguous groups."""
    if e.keras_major < 3 and e.mask() is not None:  # tf.keras takes its statistics over the unmasked values
        raise e.unsupported("a masked input is not built yet (tf.keras normalizes over its unmasked values)")
    x = e.arg(0, CHANNELS_FIRST)
    if not scale_and_center(e.config) and _instance(e.layer):  # over each channel alone
        return same(e.inputs[0], f"F.instance_norm({x}, eps={literal(_epsilon(e.config))})", layout=CHANNELS_FIRST)
    if not scale_and_center(e.config):  # no weights to hold
        groups, eps = _groups_and_eps(e.config)
        return same(e.inputs[0], f"F.group_norm({x}, {groups}, eps={literal(eps)})", layout=CHANNELS_FIRST)
    e.module(require_weights(e).module)
    return same(e.inputs[0], f"{e.attribute}({x})", layout=CHANNELS_FIRST)


#: TensorFlow Addons' InstanceNormalization (keras_names.qualified_name)
INSTANCE_NORMALIZATION = "tensorflow_addons.layers.InstanceNormalization"

register(Kind(
    "keras.layers.GroupNormalization", module="nn.GroupNorm", variables=group_norm_variables, convert=convert,
    forward=forward, unsupported=_unsupported, aliases=("tensorflow_addons.layers.GroupNormalization",),
    description="gamma, beta -> weight, bias; groups and eps carried (Keras 1e-3); TensorFlow Addons' too",
    tested="groups, epsilon, center/scale off (both: no weights), 3-D and 4-D inputs; tfa 0.21's, saved by "
           "TensorFlow 2.13",
))
register(Kind(
    INSTANCE_NORMALIZATION, module="nn.GroupNorm", variables=group_norm_variables, convert=convert,
    forward=forward, unsupported=_unsupported,
    description="gamma, beta -> weight, bias; a group per channel; eps carried (1e-3)",
    tested="TensorFlow Addons 0.21's, saved by TensorFlow 2.13 (.h5 and .keras): epsilon, center/scale off, 3-D "
           "and 4-D inputs",
))
