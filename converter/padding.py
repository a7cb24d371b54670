"""TensorFlow's padding arithmetic, in plain Python: one place for the record and the models.

The layer rules use it to write explicit paddings into the record; the module builder's
runtime helpers use it on each input's size. `weightport export` copies these functions'
source into model.py beside the helpers, so this module imports nothing (no torch, no
weightport).
"""
from __future__ import annotations

import math


def pad_argument(pads: list[tuple[int, int]]) -> list[int]:
    """torch's F.pad argument for (before, after) pairs given first axis first: F.pad takes the last axis first."""
    return [int(p) for pair in reversed(pads) for p in pair]


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis, (before, after): the odd pixel after.

    total = max((ceil(n/s) - 1)*s + (k - 1)*d + 1 - n, 0).
    """
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def keras_torch_same_padding(size: int, kernel: int, stride: int, dilation: int, crops: bool) -> tuple[int, int]:
    """Keras 3's 'same' padding of one axis on its torch backend, (before, after).

    The total is TensorFlow's, d*(k-1) - (n-1) % s, split the same way (the odd one after); Keras 3.0 to 3.8
    (`crops`) did not clamp it at 0, so a negative total crops: a 1x1 window of stride 2 over an even size
    reads the odd positions.
    """
    total = dilation * (kernel - 1) - (size - 1) % stride
    if not crops:
        total = max(total, 0)
    return total // 2, (total + 1) // 2


def keras_torch_same_paddings(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                              dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """Keras 3.0 to 3.8's 'same' padding of a strided convolution on their torch backend, (before, after) per
    spatial axis: keras_torch_same_padding's, cropping where the total is negative. Where every axis pads evenly,
    those Keras gave torch's convolution the paddings in reverse axis order; a negative one there: ValueError,
    as Keras failed."""
    pads = [keras_torch_same_padding(n, k, s, d, True) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
    if all(before == after for before, after in pads):
        pads = pads[::-1]
        if any(before < 0 for before, _ in pads):
            raise ValueError(f"padding {[before for before, _ in pads]}: Keras's torch backend cannot convolve an "
                             f"input of size {tuple(sizes)} either (negative padding)")
    return pads


def keras_torch_transpose_padding(kernel: int, stride: int, dilation: int, output_padding: int | None,
                                  clamps: bool) -> tuple[int, int]:
    """One axis of a 'same' transposed convolution of Keras 3.0 to 3.14 on its torch backend: torch's
    (padding, output_padding), a symmetric crop and an extension at the end (Keras 3.15 crops as TensorFlow
    does). An output padding of at least the stride: Keras 3.13 and 3.14 (`clamps`) make it stride - 1, earlier
    Keras fail.
    """
    effective = dilation * (kernel - 1) + 1
    if output_padding is None:
        output_padding = stride - effective % 2
    pad = max(-((effective % 2 - effective + output_padding) // 2), 0)
    extra = 2 * pad + effective % 2 - effective + output_padding
    if extra >= stride:
        if not clamps:
            raise ValueError(f"output padding {extra} at least the stride {stride}: Keras's torch backend cannot "
                             "compute this transposed convolution either")
        extra = stride - 1
    return pad, extra


def transpose_crop(size: int, kernel: int, stride: int, dilation: int, padding: str,
                   output_padding: int | None) -> tuple[int, int, int]:
    """One axis of a transposed convolution: (crop start, output size, output_padding for torch).

    TensorFlow computes the full transposed output, (n-1)*s + d*(k-1) + 1 long, and keeps
    Keras's output length from an offset that 'same' puts asymmetrically; torch's
    symmetric `padding` cannot always say that, so: padding=0, this output_padding, then
    slice [start:start + size].
    """
    effective = dilation * (kernel - 1) + 1
    full = (size - 1) * stride + effective
    if output_padding is None:
        length = size * stride + max(effective - stride, 0) if padding == "valid" else size * stride
    else:
        pad = 0 if padding == "valid" else effective // 2
        length = (size - 1) * stride + effective - 2 * pad + output_padding
    start = 0
    if padding == "same":
        start = max((math.ceil(length / stride) - 1) * stride + effective - length, 0) // 2
    return start, length, max(start + length - full, 0)
