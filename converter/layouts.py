"""Tensor layouts and the one table of transforms between them.

A tensor never changes layout except through a transform defined here: the axis
permutations of `PERMUTATIONS` (both shapes written beside each), and the few
regroupings that are more than a permutation (depthwise kernels, recurrent gate
blocks, Dense rows after a Flatten, attention heads). A missing entry is a
`LayoutError`, never a silent reshape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Callable, Sequence

from .errors import LayoutError
from .transposes import channels_to_front, permuted_bytes, transpose_2d

if TYPE_CHECKING:
    import numpy as np
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none

# Writes rows start:stop (along the first axis) of a transform's result into `out`.
RowFiller = Callable[[int, int, "np.ndarray"], object]


def rows_of(array: np.ndarray) -> RowFiller:
    """The RowFiller of an array already made: its rows copied (never broadcast into a larger `out`)."""

    def fill(start: int, stop: int, out: np.ndarray) -> None:
        if array[start:stop].shape != out.shape:
            raise ValueError(f"rows {start}:{stop} of a {array.shape} array do not fill {out.shape}")
        np.copyto(out, array[start:stop])

    return fill


class Layout(str, Enum):
    """What each axis of a tensor means, in Keras's or PyTorch's convention."""

    UNKNOWN = "unknown"  # a tensor of a layer kind without a rule
    VECTOR = "vector"  # per-unit tensors (biases, norm statistics): the same in both
    SAME = "same"  # a tensor both frameworks store alike (embeddings, PReLU alpha)
    KERAS_DENSE_IO = "keras_dense_io"  # (in, out): Keras computes x @ W
    TORCH_LINEAR_OI = "torch_linear_oi"  # (out, in): torch computes x @ W.T
    KERAS_CONV1D_WIO = "keras_conv1d_wio"  # (k, in/g, out)
    KERAS_CONV2D_HWIO = "keras_conv2d_hwio"  # (kh, kw, in/g, out)
    KERAS_CONV3D_DHWIO = "keras_conv3d_dhwio"  # (kd, kh, kw, in/g, out)
    TORCH_CONV1D_OIW = "torch_conv1d_oiw"  # (out, in/g, k)
    TORCH_CONV2D_OIHW = "torch_conv2d_oihw"  # (out, in/g, kh, kw)
    TORCH_CONV3D_OIDHW = "torch_conv3d_oidhw"  # (out, in/g, kd, kh, kw)
    KERAS_CONV1D_TRANSPOSE_WOI = "keras_conv1d_transpose_woi"  # (k, out, in)
    KERAS_CONV2D_TRANSPOSE_HWOI = "keras_conv2d_transpose_hwoi"  # (kh, kw, out, in)
    KERAS_CONV3D_TRANSPOSE_DHWOI = "keras_conv3d_transpose_dhwoi"  # (kd, kh, kw, out, in)
    TORCH_CONV_TRANSPOSE1D_IOW = "torch_conv_transpose1d_iow"  # (in, out, k)
    TORCH_CONV_TRANSPOSE2D_IOHW = "torch_conv_transpose2d_iohw"  # (in, out, kh, kw)
    TORCH_CONV_TRANSPOSE3D_IODHW = "torch_conv_transpose3d_iodhw"  # (in, out, kd, kh, kw)
    KERAS_DEPTHWISE1D_WIM = "keras_depthwise1d_wim"  # (k, in, multiplier)
    KERAS_DEPTHWISE2D_HWIM = "keras_depthwise2d_hwim"  # (kh, kw, in, multiplier)
    KERAS_RNN_KERNEL_IG = "keras_rnn_kernel_ig"  # (in, gates*units), Keras gate order
    KERAS_RNN_RECURRENT_UG = "keras_rnn_recurrent_ug"  # (units, gates*units), Keras gate order
    KERAS_RNN_BIAS_G = "keras_rnn_bias_g"  # (gates*units,) or GRU's (2, 3*units)
    TORCH_RNN_WEIGHT_GI = "torch_rnn_weight_gi"  # (gates*units, in), torch gate order
    TORCH_RNN_BIAS_G = "torch_rnn_bias_g"  # (gates*units,), torch gate order
    KERAS_EINSUM_DHK = "keras_einsum_dhk"  # MultiHeadAttention q/k/v kernel (d_model, heads, key_dim)
    KERAS_EINSUM_HK = "keras_einsum_hk"  # q/k/v bias (heads, key_dim)
    KERAS_EINSUM_HKD = "keras_einsum_hkd"  # output kernel (heads, key_dim, d_model)


class Transform:
    """A named change of layout: what the record shows, the shape it gives, the array it makes."""

    def describe(self) -> str:
        raise NotImplementedError

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def apply(self, array: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        """apply() on the C-order bytes of a tensor of `shape` (items of `itemsize` bytes), without numpy: a
        small model converts without importing it (transposes.permuted_bytes). None where it cannot."""
        return None

    def rows(self, array: np.ndarray) -> RowFiller:
        """A function that writes rows start:stop of the result into `out`, for streaming writers.

        This default makes the whole result once; a transform that can make a band of rows
        by itself (a transpose) overrides it, so that no full-size result is ever held.
        """
        return rows_of(self.apply(array))


@dataclass(frozen=True)
class Permutation(Transform):
    """An axis permutation from one layout to another."""

    source: Layout
    target: Layout
    axes: tuple[int, ...]
    source_shape: str
    target_shape: str

    def describe(self) -> str:
        return "transpose(" + ",".join(str(axis) for axis in self.axes) + ")"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check(shape)
        return tuple(shape[axis] for axis in self.axes)

    def apply(self, array: np.ndarray) -> np.ndarray:
        self._check(array.shape)
        if self.axes == (1, 0):
            return transpose_2d(array)
        if self._moves_channels_to_front():
            return channels_to_front(array)
        return np.ascontiguousarray(array.transpose(self.axes))

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        self._check(shape)
        return permuted_bytes(data, shape, self.axes, itemsize)

    def rows(self, array: np.ndarray) -> RowFiller:
        self._check(array.shape)
        if self.axes == (1, 0):
            return lambda start, stop, out: transpose_2d(array[:, start:stop], out=out)
        if self._moves_channels_to_front():
            return lambda start, stop, out: channels_to_front(array, out=out, start=start, stop=stop)
        return super().rows(array)

    def _moves_channels_to_front(self) -> bool:
        """(*k, a, b) -> (b, a, *k): every convolution kernel's permutation."""
        spatial = len(self.axes) - 2
        return spatial > 0 and self.axes == (spatial + 1, spatial) + tuple(range(spatial))

    def _check(self, shape: Sequence[int]) -> None:
        if len(shape) != len(self.axes):
            raise LayoutError(
                f"expected a {len(self.axes)}-D tensor {self.source_shape} for "
                f"{self.source.value}, found shape {tuple(shape)}"
            )


PERMUTATIONS: dict[tuple[Layout, Layout], Permutation] = {
    (p.source, p.target): p
    for p in (
        Permutation(Layout.KERAS_DENSE_IO, Layout.TORCH_LINEAR_OI, (1, 0), "(in, out)", "(out, in)"),
        Permutation(Layout.KERAS_CONV1D_WIO, Layout.TORCH_CONV1D_OIW, (2, 1, 0), "(k, in/g, out)", "(out, in/g, k)"),
        Permutation(Layout.KERAS_CONV2D_HWIO, Layout.TORCH_CONV2D_OIHW, (3, 2, 0, 1),
                    "(kh, kw, in/g, out)", "(out, in/g, kh, kw)"),
        Permutation(Layout.KERAS_CONV3D_DHWIO, Layout.TORCH_CONV3D_OIDHW, (4, 3, 0, 1, 2),
                    "(kd, kh, kw, in/g, out)", "(out, in/g, kd, kh, kw)"),
        # Transposed convolutions: no spatial flip, Keras (..., out, in) -> torch (in, out, ...).
        Permutation(Layout.KERAS_CONV1D_TRANSPOSE_WOI, Layout.TORCH_CONV_TRANSPOSE1D_IOW, (2, 1, 0),
                    "(k, out, in)", "(in, out, k)"),
        Permutation(Layout.KERAS_CONV2D_TRANSPOSE_HWOI, Layout.TORCH_CONV_TRANSPOSE2D_IOHW, (3, 2, 0, 1),
                    "(kh, kw, out, in)", "(in, out, kh, kw)"),
        Permutation(Layout.KERAS_CONV3D_TRANSPOSE_DHWOI, Layout.TORCH_CONV_TRANSPOSE3D_IODHW, (4, 3, 0, 1, 2),
                    "(kd, kh, kw, out, in)", "(in, out, kd, kh, kw)"),
        Permutation(Layout.KERAS_RNN_KERNEL_IG, Layout.TORCH_RNN_WEIGHT_GI, (1, 0), "(in, gates*u)", "(gates*u, in)"),
        Permutation(Layout.KERAS_RNN_RECURRENT_UG, Layout.TORCH_RNN_WEIGHT_GI, (1, 0), "(u, gates*u)", "(gates*u, u)"),
    )
}


def permutation(source: Layout, target: Layout) -> Permutation | None:
    """The permutation from `source` to `target`; None when both are the same layout."""
    if source == target:
        return None
    try:
        return PERMUTATIONS[(source, target)]
    except KeyError:
        raise LayoutError(
            f"no permutation from layout {source.value} to {target.value}; "
            "add one to converter/layouts.py"
        ) from None


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


@dataclass(frozen=True)
class Chain(Transform):
    """Transforms applied one after the other."""

    steps: tuple[Transform, ...]

    def describe(self) -> str:
        return "; ".join(step.describe() for step in self.steps)

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        for step in self.steps:
            shape = step.shape(shape)
        return shape

    def apply(self, array: np.ndarray) -> np.ndarray:
        for step in self.steps:
            array = step.apply(array)
        return array

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        made: bytes | None = data
        for step in self.steps:
            made = step.apply_bytes(made, shape, itemsize) if made is not None else None
            shape = step.shape(shape)
        return made


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
