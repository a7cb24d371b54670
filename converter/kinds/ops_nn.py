"""keras.ops.nn, .math, .core, .linalg and .image operations recorded in a Keras 3 functional graph.

Activations keep their operand's layout (they act elementwise); softmax names an axis and
resize works on images, channels-first in torch. Keras 3's own formulas: hard_sigmoid is
relu6(x + 3) / 6, gelu's `approximate` defaults to True in keras.ops.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from . import operations as op
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, floats, literal, ran_on_jax, ran_on_torch
from .ops_numpy import operands
from .pooling import local_pooling
from .registry import Kind, register
from .resize_dtypes import resized_in_keras_dtype

ACTIVATIONS = {
    "Relu": "F.relu({0})", "Relu6": "F.relu6({0})", "Sigmoid": "torch.sigmoid({0})", "Silu": "F.silu({0})",
    "HardSigmoid": "F.hardsigmoid({0})", "HardSilu": "F.hardswish({0})", "Selu": "F.selu({0})",
    "Softplus": "F.softplus({0})",
    "Softsign": "F.softsign({0})", "LogSigmoid": "F.logsigmoid({0})",
}


def activation(template: str) -> Callable[[Emitter], Value]:
    return lambda e: op.elementwise(e, template, operands(e, 1))


def gelu(e: Emitter) -> Value:
    approximate = "tanh" if e.config.bool("approximate", True) else "none"
    return op.elementwise(e, f"F.gelu({{0}}, approximate={literal(approximate)})", operands(e, 1))


def leaky_relu(e: Emitter) -> Value:
    slope = e.config.float("negative_slope", 0.2)
    return op.elementwise(e, f"F.leaky_relu({{0}}, {literal(slope)})", [floats(operands(e, 1)[0], e)])


def elu(e: Emitter) -> Value:
    return op.elementwise(e, f"F.elu({{0}}, {literal(e.config.float('alpha', 1.0))})", operands(e, 1))


def celu(e: Emitter) -> Value:
    return op.elementwise(e, f"F.celu({{0}}, {literal(e.config.float('alpha', minimum=1e-30))})", operands(e, 1))


def squareplus(e: Emitter) -> Value:
    """(x + sqrt(x^2 + b)) / 2, as Keras computes it (a helper: x is read twice, computed once)."""
    b = literal(e.config.float("b", minimum=0.0))
    return op.elementwise(e, f"{e.helper('squareplus')}({{0}}, {b})", operands(e, 1))


def sparse_plus(e: Emitter) -> Value:
    """0 up to -1, x from 1, (x + 1)^2 / 4 between: Keras's formula (a helper: x is read thrice)."""
    return op.elementwise(e, f"{e.helper('sparse_plus')}({{0}})", operands(e, 1))


def shrink(function: str) -> Callable[[Emitter], Value]:
    """hard_shrink and soft_shrink: their threshold is torch's lambd."""
    return lambda e: op.elementwise(e, f"F.{function}({{0}}, {literal(e.config.float('threshold', minimum=0.0))})",
                                    operands(e, 1))


def threshold(e: Emitter) -> Value:
    """x where x > threshold, else default_value (F.threshold's rule). Keras 3.9 recorded the two as
    threshold_value and value."""
    config = e.config
    level = config.float("threshold_value" if "threshold_value" in config else "threshold")
    value = config.float("value" if "value" in config else "default_value")
    return op.elementwise(e, f"F.threshold({{0}}, {literal(level)}, {literal(value)})", operands(e, 1))


def glu(e: Emitter) -> Value:
    """The first half along `axis` times the sigmoid of the second (F.glu's order)."""
    x, rank = op.keras_value(e, operands(e, 1)[0])
    return Value(f"F.glu({x}, dim={e.config.int('axis', -1)})", KERAS, rank)


def resize(e: Emitter) -> Value:
    """keras.ops.image.resize of images: bilinear (half-pixel centres) or nearest."""
    return resized(e, operands(e, 1)[0], e.config.ints("size", 2, minimum=1))


#: Keras 3's torch backend pads images to an aspect ratio (pad_to_aspect_ratio) by rules of its own: 3.0 to 3.8 onto a
#: canvas of the padded size plus the image's (the image at the margins' offset: not centred), 3.9 to 3.14 centred
#: but with ones to the left (its first width margin lacks `* fill_value`), and from 3.15 as TensorFlow does
TORCH_ASPECT_PAD_CENTRED_FROM = (3, 9)
TORCH_ASPECT_PAD_FILLED_FROM = (3, 15)


def resized(e: Emitter, x: Any, size: Sequence[int]) -> Value:
    """Images resized as Keras resizes them, the config's interpolation, flags and data_format read from
    `e.config`."""
    config = e.config
    interpolation = config.choice("interpolation", ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5",
                                                    "area"), "bilinear")
    flags = ["antialias"] if config.bool("antialias", False) else []
    data_format = config.choice("data_format", ("channels_last", "channels_first"), "channels_last")
    crop, pad = config.bool("crop_to_aspect_ratio", False), config.bool("pad_to_aspect_ratio", False)
    if crop and pad:
        raise e.unsupported("crop_to_aspect_ratio and pad_to_aspect_ratio together (Keras refuses them)")
    if pad and config.get("fill_mode", "constant") != "constant":
        raise e.unsupported(f"pad_to_aspect_ratio with fill_mode {str(config.get('fill_mode'))[:20]!r} is not "
                            "built (constant is)")
    window = "crop" if crop else "pad" if pad else None
    if pad and ran_on_torch(e) and e.keras_version < TORCH_ASPECT_PAD_CENTRED_FROM:
        raise e.unsupported(f"pad_to_aspect_ratio as Keras {e.keras_version[0]}.{e.keras_version[1]} on torch pads: "
                            "onto a canvas larger than the aspect ratio, the image not centred (3.0 to 3.8), is not "
                            "built")
    return resized_images(e, x, size, interpolation, flags, window=window, fill=config.float("fill_value", 0.0),
                          channels_first=data_format == "channels_first")


def resized_images(e: Emitter, x: Any, size: Sequence[int], interpolation: str, flags: Sequence[str],
                   align_corners: bool = False, window: str | None = None, fill: float = 0.0,
                   channels_first: bool = False) -> Value:
    """Channels-last images resized as TensorFlow resizes them (half-pixel centres, or bilinear with the corner
    pixels aligned; no antialiasing): bilinear or nearest; other methods and `flags` (antialias, ...) are refused
    by name. `window` "crop" first takes the largest centred window of the target's aspect ratio (Keras's
    crop_to_aspect_ratio, TensorFlow's smart_resize), "pad" pads to that ratio with `fill` (pad_to_aspect_ratio).
    `channels_first`: Keras's own tensor is (N, C, H, W) (data_format="channels_first"), resized as it is. In the
    dtype the file's Keras resizes in (resize_dtypes.py)."""
    if interpolation not in ("bilinear", "nearest") or flags:
        raise e.unsupported(f"resize with {interpolation} {' '.join(flags)} is not built (bilinear and nearest are)")
    if not isinstance(x, Value) or x.rank != 4:
        raise e.unsupported("resize of something other than a batch of images")
    layout = KERAS if channels_first else CHANNELS_FIRST  # F.interpolate's (N, C, H, W), either way
    mode = f"'bilinear', align_corners={align_corners}" if interpolation == "bilinear" else "'nearest-exact'"

    def resize(images: Value) -> Value:
        source = e.convert(images, layout)
        if window == "crop":  # Keras 3 keeps a window of at least one pixel, tf.keras's may be empty
            source = f"{e.helper('aspect_crop')}({source}, {size[0]}, {size[1]}, {literal(e.keras_major >= 3)})"
        elif window == "pad":
            ones_left = ran_on_torch(e) and e.keras_version < TORCH_ASPECT_PAD_FILLED_FROM
            source = (f"{e.helper('aspect_pad')}({source}, {size[0]}, {size[1]}, {literal(fill)}, "
                      f"{literal(ones_left)})")
        return Value(f"F.interpolate({source}, size={literal(size)}, mode={mode})", layout, 4)

    return resized_in_keras_dtype(e, x, interpolation, resize)


def tf1_resized_images(e: Emitter, x: Any, size: Sequence[int]) -> Value:
    """Channels-last images resized as TensorFlow 1's resize_bilinear and resize_images did by default (neither
    align_corners nor half-pixel centres; tf.compat.v1 keeps it): float32, as TensorFlow returns it."""
    if not isinstance(x, Value) or x.rank != 4:
        raise e.unsupported("resize of something other than a batch of images")
    source = e.convert(x, CHANNELS_FIRST)
    return Value(f"{e.helper('tf1_resize_bilinear')}({source}, {int(size[0])}, {int(size[1])})", CHANNELS_FIRST, 4)


def norm(e: Emitter) -> Value:
    """numpy's norm over one axis (a vector norm of any order) or two (a matrix norm: 'fro', 'nuc', +-1, +-2,
    +-inf), as torch.linalg defines them alike."""
    order = e.config.get("ord")
    operand = floats(operands(e, 1)[0], e)
    x, rank = op.keras_value(e, operand)
    axes = op.axes_of(e, e.config.get("axis"))
    keep = e.config.bool("keepdims", False)
    if axes is None or len(axes) not in (1, 2):
        raise e.unsupported("norm over other than one or two axes is not built yet")
    if len(axes) == 1 and (order is None or op.is_number(order) and not isinstance(order, bool)):
        return op.vector_norm(e, operand, None if order is None else _order(order), axes[0], keep)
    result_rank = None if rank is None else rank - (0 if keep else len(axes))
    if len(axes) == 2 and (order in (None, "fro", "nuc") or order in (1, -1, 2, -2, math.inf, -math.inf)):
        return Value(f"torch.linalg.matrix_norm({x}, ord={_order('fro' if order is None else order)}, "
                     f"dim={literal(axes)}, keepdim={literal(keep)})", "keras", result_rank)
    raise e.unsupported(f"norm of order {str(order)[:10]} over {len(axes)} axes is not built")


def _order(order: Any) -> str:
    """An order as source: infinities as math.inf (a literal cannot spell them)."""
    if isinstance(order, float) and math.isinf(order):
        return "math.inf" if order > 0 else "-math.inf"
    return literal(order)


def moments(e: Emitter) -> list[Value]:
    """(mean, variance) over `axes`: the variance as the backend that ran the model computes it, TensorFlow's
    tf.nn.moments the mean of the squared deviations, Keras's torch and JAX backends E[x^2] - E[x]^2."""
    operand = floats(operands(e, 1)[0], e)
    if isinstance(operand, Value) and operand.dtype in ("float16", "bfloat16"):
        raise e.unsupported("moments of float16 or bfloat16 (Keras computes them in float32) is not built")
    x, rank = op.keras_value(e, operand)
    axes = op.distinct_axes(e, "moments", op.axes_of(e, e.config.get("axes"), allow_none=False) or (), rank)
    assert rank is not None  # (distinct_axes refuses an unknown rank)
    keep, dims = e.config.bool("keepdims", False), literal(list(axes))
    values, mean = e.variable("x"), e.variable("mean")
    e.statement(f"{values} = {x}")
    e.statement(f"{mean} = torch.mean({values}, dim={dims}, keepdim=True)")
    if ran_on_torch(e) or ran_on_jax(e):
        variance = f"(torch.mean(torch.square({values}), dim={dims}, keepdim=True) - torch.square({mean}))"
    else:
        variance = f"torch.mean(torch.square({values} - {mean}), dim={dims}, keepdim=True)"
    if not keep:
        squeezed = literal(tuple(axes))
        mean, variance = f"{mean}.squeeze({squeezed})", f"{variance}.squeeze({squeezed})"
    result_rank = rank if keep else rank - len(axes)
    return [Value(mean, KERAS, result_rank), Value(variance, KERAS, result_rank)]


def pooling(kind: str) -> Callable[[Emitter], Value]:
    """keras.ops max_pool and average_pool: the pooling layer of the input's rank, which calls them (data_format
    None: channels_last, Keras's default)."""
    def forward(e: Emitter) -> Value:
        x = operands(e, 1)[0]
        rank = x.rank if isinstance(x, Value) else None
        if rank not in (3, 4, 5):
            raise e.unsupported(f"pooling of a tensor of rank {rank} (of rank 3 to 5 is built)")
        assert rank is not None
        return local_pooling(kind, rank - 2)(e)
    return forward


def space_depth(helper: str) -> Callable[[Emitter], Value]:
    return lambda e: op.space_depth(e, helper, operands(e, 1)[0], e.config.get("block_size"),
                                    e.config.get("data_format") in (None, "channels_last"))


def dot_product_attention(e: Emitter) -> Value:
    """keras.ops.dot_product_attention of (batch, steps, heads, head size) tensors, with a bias, a mask, a scale
    and causality as the call and config give them, as Keras's backends compute it (runtime_ops.py)."""
    tensors = operands(e, 3)
    if not all(isinstance(item, Value) for item in tensors):
        raise e.unsupported("dot_product_attention of constants is not built (of tensors is)")
    if e.config.get("flash_attention") or e.config.get("attn_logits_soft_cap") is not None:
        raise e.unsupported("dot_product_attention with flash attention or a soft cap of its logits is not built")

    def argument(index: int, name: str) -> Any:
        return e.positional(index) if len(e.call.positional) > index else e.named(name)

    bias, mask, scale = argument(3, "bias"), argument(4, "mask"), argument(5, "scale")
    if not (scale is None or op.is_number(scale)) or any(item is not None and not isinstance(item, Value)
                                                         for item in (bias, mask)):
        raise e.unsupported("dot_product_attention with a constant bias or mask, or a tensor scale, is not built")
    converted = [op.keras_value(e, item) for item in tensors]
    if any(rank != 4 for _, rank in converted):
        raise e.unsupported("dot_product_attention of tensors of other than rank 4 is not built")
    extras = ["None" if item is None else op.keras_value(e, item)[0] for item in (bias, mask)]
    arguments = ", ".join([x for x, _ in converted] + extras + [literal(None if scale is None else float(scale)),
                                                               literal(e.config.bool("is_causal", False))])
    return Value(f"{e.helper('dot_product_attention')}({arguments})", KERAS, 4)


def convert_to_tensor(e: Emitter) -> Value:
    """keras.ops.convert_to_tensor of a tensor (Keras 3's Attention passes on its query's mask through it): the
    tensor itself (its Keras mask stays on it), cast where a dtype is given."""
    if e.config.get("sparse") or e.config.get("ragged"):
        raise e.unsupported("a sparse or ragged tensor is not built")
    x = operands(e, 1)[0]
    dtype = e.config.get("dtype")
    if dtype is None:
        e.returns_input = True
        return op.elementwise(e, "{0}", [x])
    return op.cast(e, x, dtype)


FORWARDS: dict[str, Callable[[Emitter], Any]] = {
    **{f"nn.{name}": activation(template) for name, template in ACTIVATIONS.items()},
    "nn.Gelu": gelu, "nn.LeakyRelu": leaky_relu, "nn.Elu": elu,
    "nn.Celu": celu, "nn.Squareplus": squareplus, "nn.HardShrink": shrink("hardshrink"),
    "nn.SoftShrink": shrink("softshrink"), "nn.Threshold": threshold, "nn.Glu": glu,
    "nn.HardTanh": activation("F.hardtanh({0})"), "nn.TanhShrink": activation("F.tanhshrink({0})"),
    "nn.SparsePlus": sparse_plus,
    "math.Erfinv": activation("torch.erfinv({0})"), "math.Erfc": activation("torch.erfc({0})"),
    "nn.SparseSigmoid": activation("torch.clamp(0.5 * ({0} + 1), 0.0, 1.0)"), "nn.Moments": moments,
    # (adaptive_max_pool and adaptive_average_pool stay refused: Keras 3.15 cannot load a model of them back)
    "nn.MaxPool": pooling("max"), "nn.AveragePool": pooling("average"), "nn.DotProductAttention": dot_product_attention,
    "nn.DepthToSpace": space_depth("depth_to_space"), "nn.SpaceToDepth": space_depth("space_to_depth"),
    "core.StopGradient": activation("{0}.detach()"),  # the value itself: gradients stop in the module too
    "nn.Softmax": lambda e: op.softmax(e, "softmax", operands(e, 1)[0], e.config.get("axis", -1)),
    "nn.LogSoftmax": lambda e: op.softmax(e, "log_softmax", operands(e, 1)[0], e.config.get("axis", -1)),
    "math.Erf": activation("torch.erf({0})"), "math.Rsqrt": activation("torch.rsqrt({0})"),
    "math.Logsumexp": lambda e: op.reduce(e, "logsumexp", operands(e, 1)[0], e.config.get("axis"),
                                          e.config.bool("keepdims", False)),
    "core.Cast": lambda e: op.cast(e, operands(e, 1)[0], e.config.get("dtype")),
    "core.ConvertToTensor": convert_to_tensor,
    "linalg.Norm": norm, "image.Resize": resize,
}

for _name, _forward in FORWARDS.items():
    register(Kind(f"keras.ops.{_name}", forward=_forward, description="an operation, no weights",
                  tested="on sequences and images, options as Keras 3 records them"))
