"""Casting converted tensors between floating dtypes (`--dtype`), bfloat16 included, without ml_dtypes.

bfloat16 is held as its uint16 bit pattern, as the readers and writers hold it: the upper half
of a float32. float32 -> bfloat16 rounds to nearest, ties to even (as torch's .to(bfloat16)
does), and keeps NaN a NaN.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import COMPUTE_DTYPES
from .graph import BFLOAT16

if TYPE_CHECKING:
    import numpy as np
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none

#: what `--dtype` accepts
OUTPUT_DTYPES = ("float32", "float16", "bfloat16")
FLOATING = COMPUTE_DTYPES  # the tensors --dtype casts


def _to_float32(array: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == BFLOAT16:
        return (np.asarray(array, np.uint16).astype(np.uint32) << 16).view(np.float32)
    return np.asarray(array).astype(np.float32)


def _bfloat16_bits(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    nan = np.isnan(values)
    return np.where(nan, (bits >> 16) | np.uint32(0x0040), rounded).astype(np.uint16)


def cast_array(array: np.ndarray, source: str, target: str) -> np.ndarray:
    """`array` (of dtype `source`, bfloat16 as bits) as `target`."""
    if source == target:
        return array
    if target == BFLOAT16:
        return _bfloat16_bits(_to_float32(array, source))  # float64 via float32: torch's .to() rounds once
    if source == BFLOAT16:
        return _to_float32(array, source).astype(target)
    return np.asarray(array).astype(target)
