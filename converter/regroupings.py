"""The transforms between layouts that are more than an axis permutation.

Depthwise kernels regrouped for a grouped convolution, recurrent gate blocks reordered,
a CuDNN layer's gate blocks read as cuDNN's matrices and its bias halves, Dense rows after
a Flatten, attention heads merged, a row of a stacked tensor, and reshapes that only add or
drop axes of size 1. Each says what it does (`describe`), the shape it gives and the array
(or, without numpy, the bytes) it makes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LayoutError
from .layouts import Permutation, Transform
from .transposes import permuted_bytes

if TYPE_CHECKING:
    import numpy as np
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none


@dataclass(frozen=True)
class DepthwiseToGrouped(Transform):
    """Keras depthwise kernel (*k, in, m) -> grouped torch conv weight (in*m, 1, *k).

    Keras's output channel c*m + j comes from input channel c and multiplier j, the
    order that (in, m) flattened gives.
    """

    spatial_dims: int

    @property
    def axes(self) -> tuple[int, ...]:  # (*k, in, m) -> (in, m, *k), which the reshape flattens
        return (self.spatial_dims, self.spatial_dims + 1) + tuple(range(self.spatial_dims))

    def describe(self) -> str:
        return f"transpose({','.join(map(str, self.axes))}).reshape(in*m,1,{','.join('k' * self.spatial_dims)})"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != self.spatial_dims + 2:
            raise LayoutError(f"expected a depthwise kernel (*k, in, multiplier), found shape {shape}")
        return (shape[-2] * shape[-1], 1) + tuple(shape[: self.spatial_dims])

    def apply(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array.transpose(self.axes).reshape(self.shape(array.shape)))

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        self.shape(shape)
        return permuted_bytes(data, shape, self.axes, itemsize)  # the reshape leaves the bytes as they are


@dataclass(frozen=True)
class GateReorder(Transform):
    """Reorder gate blocks along `axis` (Keras GRU z,r,h -> torch r,z,n), then maybe transpose."""

    keras_order: str  # e.g. "zrh"
    torch_order: str  # e.g. "rzn": position i takes the block of keras_order[source[i]]
    source: tuple[int, ...]  # Keras block index for each torch block
    axis: int
    then: Permutation | None = None

    def describe(self) -> str:
        gates = f"gates {','.join(self.keras_order)} -> {','.join(self.torch_order)}"
        return gates + (f"; {self.then.describe()}" if self.then else "")

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if shape[self.axis] % len(self.source):
            raise LayoutError(f"axis {self.axis} of shape {shape} does not split into {len(self.source)} gates")
        return self.then.shape(shape) if self.then else shape

    def apply(self, array: np.ndarray) -> np.ndarray:
        blocks = np.split(array, len(self.source), axis=self.axis)
        reordered = np.concatenate([blocks[index] for index in self.source], axis=self.axis)
        return self.then.apply(reordered) if self.then else np.ascontiguousarray(reordered)

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        self.shape(shape)
        gates = len(self.source)
        # each index before `axis` holds the gate blocks in turn, each `block` contiguous bytes
        block = shape[self.axis] // gates * math.prod(shape[self.axis + 1:]) * itemsize
        reordered = b"".join(data[(row * gates + index) * block:(row * gates + index + 1) * block]
                             for row in range(math.prod(shape[:self.axis])) for index in self.source)
        return self.then.apply_bytes(reordered, shape, itemsize) if self.then else reordered


@dataclass(frozen=True)
class FlattenRowsToChannelsFirst(Transform):
    """Dense kernel rows after a Flatten: (h, w, c) order -> (c, h, w) order, then transpose.

    Keras flattens a channels-last feature map as (h, w, c); torch flattens NCHW as
    (c, h, w). Only the channel count is needed: the spatial axes keep their order.
    """

    channels: int

    def describe(self) -> str:
        return "rows (h,w,c) -> (c,h,w); transpose(1,0)"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[0] % self.channels:
            raise LayoutError(f"Dense kernel {shape} after Flatten does not split into {self.channels} channels")
        return (shape[1], shape[0])

    def apply(self, array: np.ndarray) -> np.ndarray:
        rows, units = array.shape
        regrouped = array.reshape(rows // self.channels, self.channels, units).transpose(1, 0, 2)
        return np.ascontiguousarray(regrouped.reshape(rows, units).T)

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        rows, units = shape[0], self.shape(shape)[0]  # result[u, c, s] = kernel[s, c, u], s along h*w
        return permuted_bytes(data, (rows // self.channels, self.channels, units), (2, 1, 0), itemsize)


@dataclass(frozen=True)
class MergeHeads(Transform):
    """Attention einsum kernels -> Linear weights: merge (heads, dim) axes, then transpose.

    q/k/v kernel (d_model, heads, key_dim) -> (heads*key_dim, d_model); bias (heads,
    key_dim) -> (heads*key_dim,); output kernel (heads, key_dim, d_model) -> (d_model,
    heads*key_dim). Heads stay head-major, as torch splits them.
    """

    kind: str  # "input_kernel", "bias" or "output_kernel"

    def describe(self) -> str:
        return {"input_kernel": "reshape(d,h*k); transpose(1,0)", "bias": "reshape(h*k)",
                "output_kernel": "reshape(h*k,d); transpose(1,0)"}[self.kind]

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        expected = {"input_kernel": 3, "bias": 2, "output_kernel": 3}[self.kind]
        if len(shape) != expected:
            raise LayoutError(f"expected a {expected}-D attention tensor for {self.kind}, found shape {shape}")
        if self.kind == "input_kernel":
            return (shape[1] * shape[2], shape[0])
        if self.kind == "bias":
            return (shape[0] * shape[1],)
        return (shape[2], shape[0] * shape[1])

    def apply(self, array: np.ndarray) -> np.ndarray:
        target = self.shape(array.shape)
        if self.kind == "input_kernel":
            return np.ascontiguousarray(array.reshape(array.shape[0], -1).T)
        if self.kind == "bias":
            return np.ascontiguousarray(array.reshape(target))
        return np.ascontiguousarray(array.reshape(-1, array.shape[-1]).T)

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        target = self.shape(shape)
        if self.kind == "bias":
            return bytes(data)
        return permuted_bytes(data, (target[1], target[0]), (1, 0), itemsize)


@dataclass(frozen=True)
class TakeRow(Transform):
    """Row `index` of a stacked tensor: GRU's (2, 3u) bias holds input and recurrent biases."""

    index: int

    def describe(self) -> str:
        return f"[{self.index}]"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 2 or shape[0] <= self.index:
            raise LayoutError(f"expected a stacked tensor with a row {self.index}, found shape {shape}")
        return shape[1:]

    def apply(self, array: np.ndarray) -> np.ndarray:
        self.shape(array.shape)
        return np.ascontiguousarray(array[self.index])

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        row = math.prod(self.shape(shape)) * itemsize
        return data[self.index * row:(self.index + 1) * row]



class _Reshape(Transform):
    """A transform that keeps the values and their order: only the shape changes."""

    def apply(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array.reshape(self.shape(array.shape)))

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        self.shape(shape)
        return bytes(data)


@dataclass(frozen=True)
class UnitAxes(_Reshape):
    """Axes of size 1 added or removed, the values and their order unchanged: (1, c) -> (c,)."""

    to_shape: tuple[int, ...]

    def describe(self) -> str:
        return f"reshape({','.join(str(size) for size in self.to_shape)})"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if [size for size in shape if size != 1] != [size for size in self.to_shape if size != 1]:
            raise LayoutError(f"{shape} -> {self.to_shape} changes more than axes of size 1")
        return self.to_shape


@dataclass(frozen=True)
class ToVector(_Reshape):
    """A tensor with one non-trivial axis, (1, ..., 1, c) -> (c,): PReLU's shared alpha."""

    def describe(self) -> str:
        return "reshape(-1)"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if sum(1 for size in shape if size != 1) > 1:
            raise LayoutError(f"expected one axis longer than 1, found shape {shape}")
        return (math.prod(shape),)


@dataclass(frozen=True)
class CudnnGateBlocks(Transform):
    """A CuDNN layer's kernel (rows, gates*u) -> torch's (gates*u, rows): each gate's (rows, u) block of columns
    is the (u, rows) matrix cuDNN multiplies by, in its C-order values; torch's block i is Keras's block
    `source[i]` (GRU's z, r, h -> r, z, n; an LSTM's i, f, c, o stay)."""

    keras_order: str  # e.g. "zrh"
    torch_order: str  # e.g. "rzn"
    source: tuple[int, ...]

    def describe(self) -> str:
        reordered = self.source != tuple(range(len(self.source)))
        gates = f"gates {','.join(self.keras_order)} -> {','.join(self.torch_order)}; " if reordered else ""
        return f"{gates}each gate's (rows, u) block read as cuDNN's (u, rows)"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 2 or shape[1] % len(self.source):
            raise LayoutError(f"expected a kernel (rows, {len(self.source)}*units), found shape {shape}")
        return (shape[1], shape[0])

    def apply(self, array: np.ndarray) -> np.ndarray:
        rows, units = array.shape[0], self.shape(array.shape)[0] // len(self.source)
        blocks = np.split(array, len(self.source), axis=1)
        return np.ascontiguousarray(np.concatenate(
            [np.ascontiguousarray(blocks[index]).reshape(units, rows) for index in self.source], axis=0))

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        gates = len(self.source)
        rows, units = shape[0], self.shape(shape)[0] // gates
        # (rows, gates, u) -> (gates, rows, u): each gate's block then lies in its C-order values
        by_gate = permuted_bytes(data, (rows, gates, units), (1, 0, 2), itemsize)
        if by_gate is None:
            return None
        block = rows * units * itemsize
        return b"".join(by_gate[index * block:(index + 1) * block] for index in self.source)


@dataclass(frozen=True)
class Half(Transform):
    """The first (0) or second (1) half of a vector: a CuDNN layer's input or recurrent biases."""

    index: int

    def describe(self) -> str:
        return "first half" if self.index == 0 else "second half"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 1 or shape[0] % 2:
            raise LayoutError(f"expected a vector of an even length, found shape {shape}")
        return (shape[0] // 2,)

    def apply(self, array: np.ndarray) -> np.ndarray:
        half = self.shape(array.shape)[0]
        return np.ascontiguousarray(array[self.index * half:(self.index + 1) * half])

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        half = self.shape(shape)[0] * itemsize
        return data[self.index * half:(self.index + 1) * half]
