"""Plain-torch helpers that generated models call for dtypes: a layer's autocast, integer tensors computed as
Keras computes them (as floats, or in their own dtype), a resize of integer images.

Copied into exported files as runtime.py's helpers are.
"""
from __future__ import annotations

import math

import torch


def autocast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A floating tensor in the dtype its layer computes in, as Keras casts a layer's inputs."""
    return x.to(dtype) if x.is_floating_point() else x


def integers_as_floats(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An integer tensor in `dtype`, a floating one as it is: the input of a layer with weights that the module
    cannot tell is integers before it runs (an Add of integer Inputs), as Keras computes it."""
    return x if x.is_floating_point() else x.to(dtype)


def integer_total(x: torch.Tensor, kind: str, dim: int | tuple | None = None, keepdim: bool = False,
                  widen: bool = False) -> torch.Tensor:
    """A sum, product or running sum (`kind` "sum", "prod", "cumsum") in the dtype Keras gives: integers' own
    (TensorFlow's; torch's is int64), booleans' int32 (Keras 3's), and with `widen` (Keras 3's sum and product)
    int32 of 8- and 16-bit integers (its torch backend's; its others give uint32 of unsigned ones, of the same
    values); floats' as torch's (a tensor the builder could not tell is integers)."""
    small = (torch.bool, torch.int8, torch.int16, torch.uint8, torch.uint16) if widen else (torch.bool,)
    dtype = None if x.is_floating_point() else torch.int32 if x.dtype in small else x.dtype
    if dim is None:
        return (torch.sum if kind == "sum" else torch.prod)(x, dtype=dtype)
    if kind == "sum":
        return torch.sum(x, dim, keepdim=keepdim, dtype=dtype)
    assert isinstance(dim, int)  # a product and a running sum go along one axis
    return torch.cumsum(x, dim, dtype=dtype) if kind == "cumsum" else torch.prod(x, dim, keepdim=keepdim, dtype=dtype)


def integer_mean(x: torch.Tensor, dim: int | tuple | None = None, keepdim: bool = False) -> torch.Tensor:
    """TensorFlow's mean of integers (tf.reduce_mean, tf.keras's GlobalAveragePooling): their sum (in int64: a
    uint8 sum does not wrap) over the count, truncated towards zero, in their dtype (0 over an empty axis, as
    TensorFlow gives); of floats, their mean (a tensor the builder could not tell is integers: an Add of integer
    Inputs)."""
    dims = tuple(range(x.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
    if x.is_floating_point():
        return x.mean(dim=dims, keepdim=keepdim)
    total = x.sum(dim=dims, keepdim=keepdim, dtype=torch.int64)
    return torch.div(total, max(1, math.prod(x.shape[d] for d in dims)), rounding_mode="trunc").to(x.dtype)


def image_as_floats(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """TensorFlow's convert_image_dtype to a floating `dtype`: integers cast and scaled by 1 / their dtype's maximum
    (uint8 255 -> 1.0), floats cast."""
    if x.is_floating_point():
        return x.to(dtype)
    # the scale in `dtype`, as TensorFlow multiplies (a Python float would multiply unrounded in float16)
    return x.to(dtype) * torch.tensor(1.0 / torch.iinfo(x.dtype).max, dtype=dtype, device=x.device)


def rounded_as(resized: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Keras 3's resize of integer images (resized in float32): rounded half to even and cast back to their dtype;
    of floating ones (a tensor the builder could not tell is integers), as it is."""
    return resized if images.is_floating_point() else resized.round().to(images.dtype)
