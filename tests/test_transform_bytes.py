"""Every transform's numpy-free path (Transform.apply_bytes, for small models) gives numpy's bytes exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converter.graph import BFLOAT16, Filled
from converter.kinds.recurrent import GRU_GATES
from converter.layouts import PERMUTATIONS, THEANO_KERNELS, Chain, Layout, Transform, transform
from converter.regroupings import (
    CudnnGateBlocks, DepthwiseToGrouped, FlattenRowsToChannelsFirst, GateReorder, Half, MergeHeads, TakeRow, ToVector,
    UnitAxes,
)

LSTM_GATES = {"keras_order": "ifco", "torch_order": "ifgo", "source": (0, 1, 2, 3)}
TO_TORCH_RNN = PERMUTATIONS[(Layout.KERAS_RNN_KERNEL_IG, Layout.TORCH_RNN_WEIGHT_GI)]


def _cases(draw: st.DrawFn) -> tuple[Transform, tuple[int, ...]]:
    """A transform weightport uses, and a shape it takes (sizes drawn small, zero included)."""
    size = st.integers(1, 5)
    kind = draw(st.sampled_from(["permutation", "depthwise", "gates0", "gates1", "flatten", "heads", "row", "chain",
                                 "unit", "vector", "theano", "cudnn", "half"]))
    if kind == "permutation":
        step = draw(st.sampled_from(sorted(PERMUTATIONS.values(), key=lambda p: p.source.value)))
        return step, tuple(draw(st.integers(0, 4)) for _ in step.axes)
    if kind == "depthwise":
        spatial = draw(st.integers(1, 2))
        return DepthwiseToGrouped(spatial), tuple(draw(size) for _ in range(spatial + 2))
    if kind in ("gates0", "gates1"):
        gates = draw(st.sampled_from([GRU_GATES, LSTM_GATES]))
        units = draw(size) * len(gates["source"])
        if kind == "gates0":
            return GateReorder(**gates, axis=0), (units,)
        return GateReorder(**gates, axis=1, then=TO_TORCH_RNN), (draw(size), units)
    if kind == "flatten":
        channels = draw(size)
        return FlattenRowsToChannelsFirst(channels), (channels * draw(size), draw(size))
    if kind == "heads":
        merge = draw(st.sampled_from(["input_kernel", "bias", "output_kernel"]))
        return MergeHeads(merge), tuple(draw(size) for _ in range(2 if merge == "bias" else 3))
    if kind == "row":
        return TakeRow(draw(st.integers(0, 1))), (2, draw(size) * 3)
    if kind == "chain":
        return Chain((TakeRow(1), GateReorder(**GRU_GATES, axis=0))), (2, draw(size) * 3)
    if kind == "theano":  # a Theano-trained kernel: the spatial flip, then the table's permutation
        keras = draw(st.sampled_from(sorted(THEANO_KERNELS, key=lambda layout: layout.value)))
        step = next(p for p in PERMUTATIONS.values() if p.source == keras)
        return transform(THEANO_KERNELS[keras], step.target), tuple(draw(st.integers(0, 4)) for _ in step.axes)
    if kind == "cudnn":  # a CuDNN layer's kernel: each gate's block read as cuDNN's matrix
        gates = draw(st.sampled_from([GRU_GATES, LSTM_GATES]))
        return CudnnGateBlocks(**gates), (draw(st.integers(0, 4)), draw(size) * len(gates["source"]))
    if kind == "half":
        return Half(draw(st.integers(0, 1))), (2 * draw(st.integers(0, 5)),)
    if kind == "unit":
        channels = draw(size)
        return UnitAxes((channels,)), (1, channels)
    return ToVector(), (1, 1, draw(size))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), itemsize=st.sampled_from([1, 2, 4, 8]))
def test_apply_bytes_equals_numpys_apply(data, itemsize):
    step, shape = data.draw(st.composite(lambda draw: _cases(draw))())
    array = np.random.default_rng(len(shape)).integers(0, 255, size=(*shape, itemsize), dtype=np.uint8)
    array = array.view(f"u{itemsize}")[..., 0]
    made = step.apply_bytes(array.tobytes(), shape, itemsize)
    assert made == step.apply(array).tobytes(), (step, shape)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool",
                                   BFLOAT16])
@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
def test_a_created_fill_has_numpys_bytes(dtype, value):
    filled = Filled((3, 4), value, dtype)
    made = filled.tobytes()
    assert made is not None or (value < 0 and dtype.startswith("uint"))  # out of range: numpy's path
    assert made is None or made == filled().tobytes()
