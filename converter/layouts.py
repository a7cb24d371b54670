"""Tensor layouts and the one table of axis permutations between them.

A tensor never changes layout except through an entry of `PERMUTATIONS`; a missing
entry is a `LayoutError`, never a silent reshape. Each entry writes both shapes beside
the axes so that the table can be checked by reading it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import LayoutError


class Layout(str, Enum):
    """What each axis of a tensor means, in Keras's or PyTorch's convention."""

    UNKNOWN = "unknown"  # a tensor of a layer kind without a rule
    VECTOR = "vector"  # 1-D per-unit tensors (biases, BatchNorm statistics): same in both
    KERAS_DENSE_IO = "keras_dense_io"  # Dense kernel (in, out): Keras computes x @ W
    TORCH_LINEAR_OI = "torch_linear_oi"  # nn.Linear weight (out, in): torch computes x @ W.T


@dataclass(frozen=True)
class Permutation:
    """A named axis permutation from one layout to another."""

    source: Layout
    target: Layout
    axes: tuple[int, ...]
    source_shape: str
    target_shape: str

    @property
    def transform(self) -> str:
        """How the record describes it, e.g. `transpose(1,0)`."""
        return "transpose(" + ",".join(str(axis) for axis in self.axes) + ")"

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Permute `array`, returning a C-contiguous copy ready to write."""
        if array.ndim != len(self.axes):
            raise LayoutError(
                f"expected a {len(self.axes)}-D tensor {self.source_shape} for "
                f"{self.source.value}, found shape {tuple(array.shape)}"
            )
        return np.ascontiguousarray(array.transpose(self.axes))


PERMUTATIONS: dict[tuple[Layout, Layout], Permutation] = {
    (p.source, p.target): p
    for p in (
        # Dense kernel (in, out) -> nn.Linear weight (out, in)
        Permutation(Layout.KERAS_DENSE_IO, Layout.TORCH_LINEAR_OI, (1, 0), "(in, out)", "(out, in)"),
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
