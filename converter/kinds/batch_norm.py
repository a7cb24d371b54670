"""BatchNormalization -> nn.BatchNorm1d/2d/3d.

Keras's epsilon defaults to 1e-3 (PyTorch 1e-5) and its momentum is the weight of the
old moving value (0.99), PyTorch's the weight of the new batch (0.1): eps is carried and
momentum becomes 1 - momentum. PyTorch's module always has weight and bias (affine) and a
`num_batches_tracked` counter; the ones Keras lacks (center/scale off) are created.
"""
from __future__ import annotations

from ..config import Config
from ..graph import BATCH_STATISTICS, Layer
from ..layouts import Layout
from .affine import affine_tensors, scale_and_center
from ..conversion import LayerConversion, TorchModule
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, require_weights, same
from .registry import Kind, register
from .rules import Context, Variable, created, expect_shape, numbered, to_torch

#: nn.BatchNorm class by the rank of the input (batch axis included)
BATCH_NORMS = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}


#: tf.keras's batch renormalization statistics: used in training only (inference uses the moving ones)
RENORM = ("moving_stddev", "renorm_mean", "renorm_stddev")


def batch_norm_variables(config: Config) -> list[Variable]:
    renorm = [(name, Layout.VECTOR) for name in RENORM] if config.bool("renorm", False) else []
    return numbered("", scale_and_center(config) + [("moving_mean", Layout.VECTOR), ("moving_variance", Layout.VECTOR)]
                    + renorm)


def _unsupported(layer: Layer) -> str | None:
    axes = layer.config.axes("axis", -1)
    if len(axes) != 1:
        return f"normalizes over several axes {list(axes)}; nn.BatchNorm normalizes over one channel axis"
    return None


def convert(layer: Layer, context: Context) -> LayerConversion:
    expect_shape(layer, "moving_mean", (None,), "one value per channel")
    channels = layer.tensor("moving_mean").shape[0]
    expect_shape(layer, "moving_variance", (channels,), f"one value per channel, {channels} channels")
    affine = layer.has("gamma") or layer.has("beta")  # torch's module has both or neither
    tensors = affine_tensors(layer, channels, "moving_mean") if affine else []
    batch_statistics = layer.config.bool(BATCH_STATISTICS, False)
    if not batch_statistics:
        tensors += [to_torch(layer, "moving_mean", "running_mean", Layout.VECTOR),
                    to_torch(layer, "moving_variance", "running_var", Layout.VECTOR),
                    created(layer, "num_batches_tracked", 0, (), "int64", "0 (PyTorch's batch counter)")]
    rank = len(layer.input_shape) if layer.input_shape else None
    momentum = layer.config.float("momentum", 0.99)
    arguments = {
        "num_features": channels, "eps": layer.config.float("epsilon", 1e-3, minimum=0.0),
        "momentum": round(1.0 - momentum, 12), "affine": affine,
    }
    left_out = [name for name in RENORM if layer.has(name)]
    warnings = [f"layer {layer.key}: renorm=True: left out {', '.join(left_out)}, which batch renormalization uses "
                "in training only (inference normalizes with the moving mean and variance, as converted)"] \
        if left_out else []
    if batch_statistics:  # nn.BatchNorm without running statistics normalizes by the batch's in eval mode too
        arguments["track_running_stats"] = False
        warnings.append(f"layer {layer.key}: Keras 1's mode 2 normalizes by the statistics of the batch it is given, "
                        "at inference too: nn.BatchNorm(track_running_stats=False) does; its moving mean and "
                        "variance, which it never uses, are left out (each output depends on the whole batch)")
    return LayerConversion(layer, TorchModule(BATCH_NORMS.get(rank or 0, "BatchNorm"), arguments), tensors,
                           warnings=warnings)


def forward(e: Emitter) -> Value:
    """nn.BatchNorm of the input's rank over the channels, channels-first: the last axis moved
    first, or axis 1 (a channels_first model's channels) on Keras's own tensor. Another axis (a
    spectrogram's frequencies), or a tensor of rank 6 or more: that axis moved to 1 and the
    others after it flattened into one, for an nn.BatchNorm1d."""
    result = require_weights(e)
    x = e.inputs[0]
    axes = e.config.axes("axis", -1)
    axis = axes[0]
    if x.rank is None or len(axes) != 1 or not -x.rank < axis < x.rank or axis in (0, -x.rank):
        raise e.unsupported(f"BatchNormalization over axis {axis} of a rank-{x.rank} tensor is not built yet")
    axis %= x.rank
    if axis not in (1, x.rank - 1) or x.rank not in BATCH_NORMS:
        e.module(TorchModule("BatchNorm1d", result.module.arguments))
        moved = e.variable("moved")  # (batch, channels, the other axes in order)
        e.statement(f"{moved} = {e.arg(0, KERAS)}.movedim({axis}, 1)")
        normalized = f"{e.attribute}({moved}.flatten(2)).unflatten(2, {moved}.shape[2:])"
        return same(x, f"{normalized}.movedim(1, {axis})", layout=KERAS)
    layout = KERAS if axis == 1 and x.rank > 2 else CHANNELS_FIRST
    e.module(TorchModule(BATCH_NORMS[x.rank], result.module.arguments))
    return same(x, f"{e.attribute}({e.arg(0, layout)})", layout=layout)


# tf.keras's experimental SyncBatchNormalization (TF 2.2 on; multi-GPU training of EfficientDet-era detectors)
# gathers its statistics across replicas in training only; at inference it is BatchNormalization, with its
# variables and config
for class_name, description, tested in (
    ("BatchNormalization",
     "gamma, beta, moving_mean, moving_variance -> weight, bias, running_mean, running_var; eps carried (Keras 1e-3), "
     "momentum -> 1 - momentum",
     "center/scale off, epsilon, momentum, 2-D/3-D/4-D inputs, over a middle axis, a rank-6 input"),
    ("SyncBatchNormalization",
     "as BatchNormalization (the replicas' statistics are gathered in training only): gamma, beta, moving_mean, "
     "moving_variance -> weight, bias, running_mean, running_var; eps carried",
     "dense and image inputs, center/scale off (tf.keras; Keras 3 has BatchNormalization(synchronized=True))"),
):
    register(Kind(f"keras.layers.{class_name}", module="nn.BatchNorm1d/2d/3d", variables=batch_norm_variables,
                  convert=convert, forward=forward, unsupported=_unsupported, description=description, tested=tested))
