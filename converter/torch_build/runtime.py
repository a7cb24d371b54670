"""Plain-torch helpers that generated models call (the nn.Modules they build are in runtime_modules.py).

`weightport export` copies the source of the helpers a model uses into its model.py, so
the exported file needs torch alone; `to_torch` runs the same source. Each helper is one
Keras semantic that torch has no single call for.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

# copied into exported files beside the helpers
from ..padding import (keras_torch_same_padding, keras_torch_same_paddings, keras_torch_transpose_padding,
                       pad_argument, same_padding, transpose_crop)


def to_cf(x: torch.Tensor) -> torch.Tensor:
    """Channels-last (N, ..., C) -> channels-first (N, C, ...)."""
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def to_cl(x: torch.Tensor) -> torch.Tensor:
    """Channels-first (N, C, ...) -> channels-last (N, ..., C)."""
    return x.permute(0, *range(2, x.ndim), 1)


def torch_layout(x: torch.Tensor, channels_first: bool) -> torch.Tensor:
    """An output whose rank is known only at run time (a squeeze of every axis of 1), in the torch layout:
    images and volumes channels-first, any other rank as Keras has it."""
    if x.ndim in (4, 5):
        return x if channels_first else to_cf(x)
    return to_cl(x) if channels_first and x.ndim > 2 else x


def same_pad(x: torch.Tensor, kernel: tuple, stride: tuple, dilation: tuple, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'same' padding of a channels-first tensor: the odd pixel at the end."""
    pads = [same_padding(size, k, s, d) for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation)]
    return F.pad(x, pad_argument(pads), value=value)


def pool(x: torch.Tensor, kind: str, size: tuple, stride: tuple, padding: str) -> torch.Tensor:
    """Keras max/average pooling of a channels-first tensor, 'valid' or TensorFlow 'same'.

    'same' max pooling pads with -inf; 'same' average pooling leaves padded cells out
    of each average (count_include_pad=False with TensorFlow's asymmetric padding).
    """
    if not x.is_floating_point():  # torch pools floats only; float64 holds every int32 (Keras max-pools integers)
        return pool(x.to(torch.float64), kind, size, stride, padding).to(x.dtype)
    spatial = x.ndim - 2
    max_pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
    avg_pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
    ones = (1,) * spatial
    if kind == "max":
        if padding == "same":
            x = same_pad(x, size, stride, ones, value=-math.inf)
        return max_pool(x, size, stride)
    if padding != "same":
        return avg_pool(x, size, stride)
    total = avg_pool(same_pad(x, size, stride, ones), size, stride)
    count = avg_pool(same_pad(torch.ones_like(x[:1, :1]), size, stride, ones), size, stride)
    return total / count


def keras_torch_same_pad(x: torch.Tensor, kernel: tuple, stride: tuple, dilation: tuple) -> torch.Tensor:
    """Keras 3.0 to 3.8's 'same' padding of a strided convolution on their torch backend, of a channels-first
    tensor: zeros, the odd one after, a negative total crops, and an even padding goes in reverse axis order
    (keras_torch_same_paddings)."""
    pads = keras_torch_same_paddings(tuple(x.shape[2:]), kernel, stride, dilation)
    return F.pad(x, pad_argument(pads))


def keras_torch_pool(x: torch.Tensor, kind: str, size: tuple, stride: tuple, rule: str) -> torch.Tensor:
    """Keras 3's 'same' max or average pooling on its torch backend, of a channels-first tensor.

    The padding is keras_torch_same_padding's, unclamped (a negative total crops) but for rule 'clamped' (Keras
    3.9 on). Where every axis pads evenly, torch's own padding (left out of averages, as TensorFlow does; rule
    'crops', Keras 3.0 to 3.8, gave it in reverse axis order); else the input is padded with copies of its edge,
    which an average counts. Rule 'zeros' (Keras 3.0 to 3.4's average): torch's padding of the shorter side, and
    for each uneven axis a zero at the end of one of the last axes (they listed only the uneven ones), counted.
    """
    if not x.is_floating_point():  # as pool() does
        return keras_torch_pool(x.to(torch.float64), kind, size, stride, rule).to(x.dtype)
    spatial = x.ndim - 2
    max_pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
    avg_pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
    pads = [keras_torch_same_padding(n, k, s, 1, rule != "clamped") for n, k, s in zip(x.shape[2:], size, stride)]
    padding = [before for before, _ in pads]
    if rule == "zeros":
        x = F.pad(x, [0, 1] * sum(before != after for before, after in pads))
    elif rule == "crops" and all(before == after for before, after in pads):
        padding = padding[::-1]
    elif any(before != after for before, after in pads):
        x = F.pad(x, pad_argument(pads), mode="replicate")
        padding = [0] * spatial
    if kind == "max":
        return max_pool(x, size, stride, padding=padding)
    return avg_pool(x, size, stride, padding=padding, count_include_pad=False)


def keras_torch_conv_transpose(module: nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d,
                               x: torch.Tensor, output_padding, clamps: bool) -> torch.Tensor:
    """Keras 3.0 to 3.14's 'same' transposed convolution on their torch backend, of a channels-first tensor:
    torch's symmetric padding and output padding as keras_torch_transpose_padding says."""
    paddings, extras = [], []
    for axis in range(x.ndim - 2):
        extra_in = output_padding[axis] if isinstance(output_padding, (list, tuple)) else output_padding
        padding, extra = keras_torch_transpose_padding(module.kernel_size[axis], module.stride[axis],
                                                       module.dilation[axis], extra_in, clamps)
        paddings.append(padding)
        extras.append(extra)
    function = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[x.ndim - 3]
    return function(x, module.weight, module.bias, module.stride, tuple(paddings), tuple(extras), module.groups,
                    module.dilation)


def conv_transpose(module: nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d, x: torch.Tensor,
                   padding: str, output_padding) -> torch.Tensor:
    """Keras's transposed convolution of a channels-first tensor: torch's, cropped as TensorFlow crops."""
    spatial = x.ndim - 2
    starts, sizes, extras = [], [], []
    for axis, size in enumerate(x.shape[2:]):
        extra_in = output_padding[axis] if isinstance(output_padding, (list, tuple)) else output_padding
        start, length, extra = transpose_crop(size, module.kernel_size[axis], module.stride[axis],
                                              module.dilation[axis], padding, extra_in)
        starts.append(start)
        sizes.append(length)
        extras.append(extra)
    function = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[spatial - 1]
    y = function(x, module.weight, module.bias, module.stride, 0, tuple(extras), module.groups, module.dilation)
    index = (slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in zip(starts, sizes))
    return y[index]


def keras_tf_bias(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`y`, with `bias` added as broadcasting adds it (aligned to y's trailing axes), as Keras 3.7+ on TensorFlow
    adds it instead: a bias with one axis longer than 1 goes along y's last axis when that axis has its size,
    else along axis 1 when that one has it (tf.nn.bias_add), whichever axis the bias was shaped for."""
    longer = [axis for axis, size in enumerate(bias.shape) if size > 1]
    if len(longer) != 1:
        return y
    size = bias.shape[longer[0]]
    axis = y.dim() - 1 if y.shape[-1] == size else 1 if y.shape[1] == size else None
    if axis is None or axis == y.dim() - bias.dim() + longer[0]:
        return y  # added where the bias was shaped for
    shape = [1] * y.dim()
    shape[axis] = size
    return y - bias + bias.reshape(shape)


def keras_tf_channels_first_bias(y: torch.Tensor, bias: torch.Tensor | None, layer: str) -> torch.Tensor:
    """A channels_first convolution's output, its bias added per channel, as Keras 3.7+ on TensorFlow adds it:
    along the last axis instead when that axis has as many entries as channels (tf.nn.bias_add's NHWC)."""
    if bias is None or y.shape[-1] != bias.shape[0]:
        return y
    warnings.warn(f"layer {layer}: its output's last axis has as many entries as its channels, and Keras 3.7+ on "
                  "TensorFlow adds the bias along that axis then (tf.nn.bias_add), as this module does; "
                  "other backends (build with keras_backend=, --keras-backend), and Keras's own traced graphs of a "
                  "Conv1D/2D/3D, add it per channel", stacklevel=2)
    return keras_tf_bias(y, bias.reshape([-1] + [1] * (y.dim() - 2)))  # shaped per channel, as Keras reshapes it


def hard_sigmoid_keras2(x: torch.Tensor) -> torch.Tensor:
    """Keras 2's hard_sigmoid: clip(0.2x + 0.5, 0, 1) (Keras 3's is relu6(x + 3) / 6)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def squareplus(x: torch.Tensor, b: float = 4.0) -> torch.Tensor:
    """Keras 3's squareplus (the activation's b is 4): (x + sqrt(x^2 + b)) / 2."""
    return (x + torch.sqrt(torch.square(x) + b)) / 2


def sparse_plus(x: torch.Tensor) -> torch.Tensor:
    """Keras 3's sparse_plus: 0 up to -1, x from 1, (x + 1)^2 / 4 between."""
    return torch.where(x <= -1, 0.0, torch.where(x >= 1, x, torch.square(x + 1) / 4))


def keras_relu(x: torch.Tensor, max_value, negative_slope: float, threshold: float, multiply: bool = False
               ) -> torch.Tensor:
    """Keras's ReLU layer, in Keras's steps: x above the threshold (strictly: 0 at it), else 0, clipped to
    [0, max_value], less the slope times how far x lies below the threshold. Keras 3.15 keeps x above the threshold
    with a where (NaN gives 0); tf.keras and earlier Keras 3s multiply x by the comparison (`multiply`: NaN and -inf
    give NaN)."""
    if negative_slope != 0 and max_value is None and threshold == 0:
        return F.leaky_relu(x, negative_slope)
    if threshold != 0:
        above = x > threshold
        y = x * above.to(x.dtype) if multiply else torch.where(above, x, torch.zeros_like(x))
    elif max_value == 6:
        y, max_value = F.relu6(x), None
    else:
        y = F.relu(x)
    if max_value is not None:
        y = torch.clamp(y, 0.0, max_value)
    return y - negative_slope * F.relu(threshold - x) if negative_slope != 0 else y


def keras_int8_inputs(x: torch.Tensor, low: float, high: float, epsilon: float) -> torch.Tensor:
    """An int8 Dense's inputs as Keras quantizes them (AbsMaxQuantizer on the last axis), scaled back:
    round(x * s) clipped to [low, high], divided by s = high / (max|x| + epsilon); round half to even."""
    scale = high / (x.abs().amax(-1, keepdim=True) + epsilon)
    return torch.clamp(torch.round(x * scale), low, high) / scale


def time_distributed(function, x: torch.Tensor) -> torch.Tensor:
    """Apply `function` to every time step by folding time into the batch."""
    y = function(x.flatten(0, 1))
    return y.unflatten(0, (x.shape[0], x.shape[1]))


def integer_lookup(x: torch.Tensor, vocabulary: list, start: int, oov_start: int, oov_count: int,
                   mask_token, masked: int = 0) -> torch.Tensor:
    """Keras's IntegerLookup: vocabulary ids -> start + position; others -> their out-of-vocabulary index
    (oov_start + id mod oov_count); the mask token -> `masked` (0 in 'int' mode; -1, no index, in the others)."""
    keys = torch.tensor(vocabulary, dtype=torch.int64, device=x.device)
    order = keys.argsort()
    ordered = keys[order]
    ids = x.long()
    position = torch.searchsorted(ordered, ids).clamp(max=len(vocabulary) - 1)
    result = torch.where(ordered[position] == ids, order[position] + start, torch.remainder(ids, oov_count) + oov_start)
    if mask_token is not None:
        result = torch.where(ids == mask_token, torch.full_like(result, masked), result)
    return result


def encoded(indices: torch.Tensor, depth: int, mode: str, dtype: torch.dtype, squeeze: bool) -> torch.Tensor:
    """Keras's encoding of category indices (a lookup's or a Discretization's output_mode): one_hot vectors of
    `depth` (a trailing axis of 1 dropped first with `squeeze`), or over the last axis each index's presence
    (multi_hot) or count; an index outside [0, depth) encodes as zeros."""
    if mode == "one_hot" and squeeze and indices.ndim > 1 and indices.shape[-1] == 1:
        indices = indices.squeeze(-1)
    hot = indices.long().unsqueeze(-1) == torch.arange(depth, device=indices.device)
    if mode == "one_hot":
        return hot.to(dtype)
    return (hot.any(dim=-2) if mode == "multi_hot" else hot.sum(dim=-2)).to(dtype)


def center_crop(x: torch.Tensor, height: int, width: int, at_least_one: bool) -> torch.Tensor:
    """Keras's CenterCrop of channels-first images: the centred window; images smaller than it on either axis are
    resized to it instead, from the largest centred window of its aspect ratio (smart_resize, bilinear)."""
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    if top < 0 or left < 0:
        window = aspect_crop(x, height, width, at_least_one)
        return F.interpolate(window, size=(height, width), mode="bilinear", align_corners=False)
    return x[..., top:top + height, left:left + width]


def float32_quotient(a: int, b: int) -> int:
    """a / b as TensorFlow computes an image window's size: in float32, truncated to an int."""
    return int(torch.tensor(a, dtype=torch.float32) / torch.tensor(b, dtype=torch.float32))


def aspect_crop(x: torch.Tensor, height: int, width: int, at_least_one: bool) -> torch.Tensor:
    """The largest centred window of channels-first images with the aspect ratio height:width, as TensorFlow's
    smart_resize and Keras's crop_to_aspect_ratio take it (Keras 3 keeps a pixel at least)."""
    quotient = float32_quotient
    rows, columns = x.shape[-2], x.shape[-1]
    kept_rows, kept_columns = min(rows, quotient(columns * height, width)), min(columns, quotient(rows * width, height))
    if at_least_one:
        kept_rows, kept_columns = max(kept_rows, 1), max(kept_columns, 1)
    top, left = quotient(rows - kept_rows, 2), quotient(columns - kept_columns, 2)
    return x[..., top:top + kept_rows, left:left + kept_columns]


def aspect_pad(x: torch.Tensor, height: int, width: int, fill: float, ones_left: bool = False) -> torch.Tensor:
    """Channels-first images padded with `fill` to the aspect ratio height:width, as Keras 3's pad_to_aspect_ratio
    pads them: the same margin on both sides; the left one with ones where `ones_left` (Keras 3.9 to 3.14 on
    torch)."""
    quotient = float32_quotient
    rows, columns = x.shape[-2], x.shape[-1]
    top = quotient(max(rows, quotient(columns * height, width)) - rows, 2)
    left = quotient(max(columns, quotient(rows * width, height)) - columns, 2)
    if ones_left:
        x = F.pad(x, (left, 0, 0, 0), value=1.0)
        return F.pad(x, (0, left, top, top), value=fill)
    return F.pad(x, (left, left, top, top), value=fill)


def keras3_masked_merge(kind: str, values: list, masks: list) -> torch.Tensor:
    """Keras 3's Multiply, Maximum or Minimum of sequences (batch, steps, features) with Keras masks (batch,
    steps), or None: a masked step of an input is filled before merging, with ones (Multiply) or the merge of
    the inputs before it (Maximum, Minimum: where those are masked, this input's values); a Multiply of masked
    inputs only is zeroed where every one is masked."""
    keeps = [None if mask is None else mask.bool().unsqueeze(-1).expand_as(x) for x, mask in zip(values, masks)]
    if kind == "Multiply":
        filled = [x if keep is None else torch.where(keep, x, torch.ones_like(x)) for x, keep in zip(values, keeps)]
        product = filled[0]
        for x in filled[1:]:
            product = product * x
        present = [keep for keep in keeps if keep is not None]
        if len(present) < len(keeps):
            return product
        return torch.where(torch.stack(present).any(0), product, torch.zeros_like(product))
    function = torch.maximum if kind == "Maximum" else torch.minimum
    merged, kept = values[0], keeps[0]
    for x, keep in zip(values[1:], keeps[1:]):
        if keep is not None:
            x = torch.where(keep, x, merged)
        if kept is not None:
            merged = torch.where(kept, merged, x)
        kept = kept | keep if keep is not None and kept is not None else None
        merged = function(merged, x)
    return merged


def mirror_pad(x: torch.Tensor, pads: tuple, symmetric: bool) -> torch.Tensor:
    """TensorFlow's REFLECT padding (the edge not repeated: c b | a b c d | c b) or SYMMETRIC (repeated:
    b a | a b c d | d c); `pads` holds (before, after) for every axis."""
    skip = 0 if symmetric else 1
    for axis, (before, after) in enumerate(pads):
        if before or after:
            size = x.shape[axis]
            x = torch.cat([x.narrow(axis, skip, before).flip(axis), x,
                           x.narrow(axis, size - after - skip, after).flip(axis)], axis)
    return x


def edge_pad(x: torch.Tensor, pads: tuple) -> torch.Tensor:
    """torch's 'replicate' padding (numpy's 'edge': a a | a b c d | d d) of every axis; `pads` holds (before, after)
    for every axis."""
    for axis, (before, after) in enumerate(pads):
        if before or after:
            size = x.shape[axis]
            x = torch.cat([x.narrow(axis, 0, 1)] * before + [x] + [x.narrow(axis, size - 1, 1)] * after, axis)
    return x


def depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """TensorFlow's depth_to_space of channels-last images: channel (i * block + j) * c + k of a pixel goes to
    offset (i, j) of its block, channel k (torch's pixel_shuffle orders channels the other way)."""
    n, h, w, c = x.shape
    x = x.reshape(n, h, w, block, block, c // (block * block)).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h * block, w * block, c // (block * block))


def space_to_depth(x: torch.Tensor, block: int) -> torch.Tensor:
    """TensorFlow's space_to_depth of channels-last images: the inverse of depth_to_space."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // block, block, w // block, block, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // block, w // block, block * block * c)


def keras_dot(a: torch.Tensor, b: torch.Tensor, axes, normalize: bool) -> torch.Tensor:
    """Keras's Dot layer (batch_dot) of inputs of rank 2 to 4: per sample, a's axis axes[0] contracted with b's
    axes[1]; the result's axes are a's others, then b's ((batch, 1) for two vectors per sample)."""
    if isinstance(axes, int):
        axes = (axes, axes)
    axes = [axis % tensor.ndim for axis, tensor in zip(axes, (a, b))]
    if normalize:
        a = F.normalize(a, dim=axes[0])
        b = F.normalize(b, dim=axes[1])
    a_letters = ["z" if axis == axes[0] else "bcd"[axis - 1] for axis in range(1, a.ndim)]
    b_letters = ["z" if axis == axes[1] else "efg"[axis - 1] for axis in range(1, b.ndim)]
    kept = "".join(letter for letter in a_letters + b_letters if letter != "z")
    product = torch.einsum(f"a{''.join(a_letters)},a{''.join(b_letters)}->a{kept}", a, b)
    return product.unsqueeze(-1) if a.ndim == b.ndim == 2 else product


def masked_mean(x: torch.Tensor, mask, steps_axis: int = 1, keepdims: bool = False,
                where: bool = False) -> torch.Tensor:
    """GlobalAveragePooling1D over the unmasked steps of (N, T, C) (steps_axis 1; (N, C, T): 2), as Keras does
    with a mask: the masked steps zeroed by a where (Keras 3.15; else multiplied by the mask, as earlier Keras did:
    a NaN there stays), summed, over the count of unmasked steps."""
    if mask is None:
        return x.mean(steps_axis, keepdim=keepdims)
    weights = mask.to(x.dtype).unsqueeze(3 - steps_axis)
    kept = torch.where(weights != 0, x, torch.zeros((), dtype=x.dtype, device=x.device)) if where else x * weights
    return kept.sum(steps_axis, keepdim=keepdims) / weights.sum(steps_axis, keepdim=keepdims)
