"""Tensor layouts and the one table of transforms between them.

A tensor never changes layout except through a transform defined here or in
regroupings.py: the axis permutations of `PERMUTATIONS` (both shapes written beside
each), the spatial flip of kernels trained on Theano, and the few regroupings that are
more than a permutation (depthwise kernels, recurrent gate blocks, Dense rows after a
Flatten, attention heads). A missing entry is a `LayoutError`, never a silent reshape.
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
    # Keras 2 on Theano computed a true convolution (Theano's conv2d flips its filters), TensorFlow and
    # PyTorch a cross-correlation: the same kernels, spatial axes reversed
    THEANO_CONV1D_WIO = "theano_conv1d_wio"  # (k, in/g, out), k reversed
    THEANO_CONV2D_HWIO = "theano_conv2d_hwio"  # (kh, kw, in/g, out), kh and kw reversed
    THEANO_CONV3D_DHWIO = "theano_conv3d_dhwio"  # (kd, kh, kw, in/g, out), kd, kh and kw reversed
    THEANO_CONV1D_TRANSPOSE_WOI = "theano_conv1d_transpose_woi"  # (k, out, in), k reversed
    THEANO_CONV2D_TRANSPOSE_HWOI = "theano_conv2d_transpose_hwoi"  # (kh, kw, out, in), kh and kw reversed
    THEANO_CONV3D_TRANSPOSE_DHWOI = "theano_conv3d_transpose_dhwoi"  # (kd, kh, kw, out, in), spatial reversed
    KERAS_RNN_KERNEL_IG = "keras_rnn_kernel_ig"  # (in, gates*units), Keras gate order
    KERAS_RNN_RECURRENT_UG = "keras_rnn_recurrent_ug"  # (units, gates*units), Keras gate order
    KERAS_RNN_BIAS_G = "keras_rnn_bias_g"  # (gates*units,) or GRU's (2, 3*units)
    TORCH_RNN_WEIGHT_GI = "torch_rnn_weight_gi"  # (gates*units, in), torch gate order
    # CuDNNLSTM/CuDNNGRU (Keras 2, tf.keras 1.x): each gate's (in, units) block of columns holds, in its C-order
    # values, the (units, in) matrix cuDNN multiplies by (canonical_to_params reshapes each block so)
    CUDNN_RNN_KERNEL_IG = "cudnn_rnn_kernel_ig"  # (in or units, gates*units), Keras gate order
    CUDNN_RNN_BIAS_2G = "cudnn_rnn_bias_2g"  # (2*gates*units,): the input biases, then the recurrent ones
    TORCH_RNN_BIAS_G = "torch_rnn_bias_g"  # (gates*units,), torch gate order
    KERAS_EINSUM_DHK = "keras_einsum_dhk"  # MultiHeadAttention q/k/v kernel (d_model, heads, key_dim)
    KERAS_EINSUM_HK = "keras_einsum_hk"  # q/k/v bias (heads, key_dim)
    KERAS_EINSUM_HKD = "keras_einsum_hkd"  # output kernel (heads, key_dim, d_model)


#: how many axes a tensor of each layout has; VECTOR, SAME and UNKNOWN tensors take any. Tagging checks it, so
#: that a crafted file's tensor of another rank (a scalar kernel) is refused there, before a rule reads its axes
RANKS: dict[Layout, tuple[int, ...]] = {
    Layout.KERAS_DENSE_IO: (2,), Layout.TORCH_LINEAR_OI: (2,),
    Layout.KERAS_CONV1D_WIO: (3,), Layout.KERAS_CONV2D_HWIO: (4,), Layout.KERAS_CONV3D_DHWIO: (5,),
    Layout.TORCH_CONV1D_OIW: (3,), Layout.TORCH_CONV2D_OIHW: (4,), Layout.TORCH_CONV3D_OIDHW: (5,),
    Layout.KERAS_CONV1D_TRANSPOSE_WOI: (3,), Layout.KERAS_CONV2D_TRANSPOSE_HWOI: (4,),
    Layout.KERAS_CONV3D_TRANSPOSE_DHWOI: (5,), Layout.TORCH_CONV_TRANSPOSE1D_IOW: (3,),
    Layout.TORCH_CONV_TRANSPOSE2D_IOHW: (4,), Layout.TORCH_CONV_TRANSPOSE3D_IODHW: (5,),
    Layout.KERAS_DEPTHWISE1D_WIM: (3,), Layout.KERAS_DEPTHWISE2D_HWIM: (4,),
    Layout.THEANO_CONV1D_WIO: (3,), Layout.THEANO_CONV2D_HWIO: (4,), Layout.THEANO_CONV3D_DHWIO: (5,),
    Layout.THEANO_CONV1D_TRANSPOSE_WOI: (3,), Layout.THEANO_CONV2D_TRANSPOSE_HWOI: (4,),
    Layout.THEANO_CONV3D_TRANSPOSE_DHWOI: (5,),
    Layout.KERAS_RNN_KERNEL_IG: (2,), Layout.KERAS_RNN_RECURRENT_UG: (2,), Layout.KERAS_RNN_BIAS_G: (1, 2),
    Layout.TORCH_RNN_WEIGHT_GI: (2,), Layout.CUDNN_RNN_KERNEL_IG: (2,), Layout.CUDNN_RNN_BIAS_2G: (1,),
    Layout.TORCH_RNN_BIAS_G: (1,), Layout.KERAS_EINSUM_DHK: (3,), Layout.KERAS_EINSUM_HK: (2,),
    Layout.KERAS_EINSUM_HKD: (3,),
}


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


@dataclass(frozen=True)
class FlipSpatial(Transform):
    """The first `spatial_dims` axes reversed: a Theano-trained kernel as TensorFlow would hold it (Keras 2.2's
    loader did the same, conv_utils.convert_kernel, when it loaded a Theano file on TensorFlow)."""

    spatial_dims: int

    def describe(self) -> str:
        return "flip(" + ",".join(str(axis) for axis in range(self.spatial_dims)) + ")"

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != self.spatial_dims + 2:
            raise LayoutError(f"expected a {self.spatial_dims + 2}-D convolution kernel, found shape {shape}")
        return shape

    def apply(self, array: np.ndarray) -> np.ndarray:
        self.shape(array.shape)
        return np.ascontiguousarray(array[(slice(None, None, -1),) * self.spatial_dims])

    def apply_bytes(self, data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes | None:
        # reversing every leading axis reverses the order of the C-order blocks they index
        positions = math.prod(self.shape(shape)[:self.spatial_dims])
        block = len(data) // positions if positions else 0
        return b"".join(data[index * block:(index + 1) * block] for index in reversed(range(positions)))


#: each convolution layout of TensorFlow's Keras, the same kernel trained on Theano (flipped), its spatial axes
_THEANO = (
    (Layout.KERAS_CONV1D_WIO, Layout.THEANO_CONV1D_WIO, 1),
    (Layout.KERAS_CONV2D_HWIO, Layout.THEANO_CONV2D_HWIO, 2),
    (Layout.KERAS_CONV3D_DHWIO, Layout.THEANO_CONV3D_DHWIO, 3),
    (Layout.KERAS_CONV1D_TRANSPOSE_WOI, Layout.THEANO_CONV1D_TRANSPOSE_WOI, 1),
    (Layout.KERAS_CONV2D_TRANSPOSE_HWOI, Layout.THEANO_CONV2D_TRANSPOSE_HWOI, 2),
    (Layout.KERAS_CONV3D_TRANSPOSE_DHWOI, Layout.THEANO_CONV3D_TRANSPOSE_DHWOI, 3),
)
THEANO_KERNELS: dict[Layout, Layout] = {keras: theano for keras, theano, _ in _THEANO}
_UNFLIPPED = {theano: (keras, spatial) for keras, theano, spatial in _THEANO}


def transform(source: Layout, target: Layout) -> Transform | None:
    """The transform from `source` to `target`: the table's permutation, after a flip for a Theano kernel;
    None when both are the same layout."""
    if source not in _UNFLIPPED:
        return permutation(source, target)
    keras, spatial = _UNFLIPPED[source]
    flip = FlipSpatial(spatial)
    step = permutation(keras, target)
    return Chain((flip, step)) if step is not None else flip


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
