"""TensorFlow's padding arithmetic, in plain Python: one place for the record and the models.

The layer rules use it to write explicit paddings into the record; the module builder's
runtime helpers use it on each input's size. `weightport export` copies these functions'
source into model.py beside the helpers, so this module imports nothing (no torch, no
weightport).
"""
from __future__ import annotations

import math


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis, (before, after): the odd pixel after.

    total = max((ceil(n/s) - 1)*s + (k - 1)*d + 1 - n, 0).
    """
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


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
