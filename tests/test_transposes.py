"""Fast transposes: blocked 2-D and kernel permutations equal numpy's, from memory and memory maps, band by band and
in a forked child; the numpy-free permutation of small tensors."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converter.layouts import PERMUTATIONS
from converter.transposes import transpose_2d


def random_array(folder, shape: tuple[int, ...], dtype: str, mapped: bool, seed: int):
    """Random values in the process's memory, or memory-mapped from a file (the map read in place)."""
    array = (np.random.default_rng(seed).random(shape) * 1000).astype(dtype)
    if not mapped:
        return array
    array.tofile(folder / "array.bin")
    return np.memmap(folder / "array.bin", dtype=dtype, mode="r", shape=shape)


@pytest.mark.parametrize("mapped", [False, True], ids=["memory", "memmap"])
@pytest.mark.parametrize("shape", [(3, 5), (300, 7), (1000, 4097), (4099, 1000), (2048, 2048), (9, 300_001)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_blocked_transpose_equals_numpy(tmp_path, shape, dtype, mapped):
    """Tiles from the process's memory and from a memory-mapped file (the map read in place)."""
    array = random_array(tmp_path, shape, dtype, mapped, seed=0)
    result = transpose_2d(array)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, np.ascontiguousarray(array.T))
    into = np.zeros(array.T.shape, dtype)
    assert transpose_2d(array, out=into) is into
    np.testing.assert_array_equal(into, result)
    band = np.zeros((shape[1] - shape[1] // 3, shape[0]), dtype)  # a band of rows, from a strided view
    transpose_2d(array[:, shape[1] // 3:], out=band)
    np.testing.assert_array_equal(band, result[shape[1] // 3:])


FORKED = """
import os, signal, sys
import numpy as np
from converter.transposes import transpose_2d
array = np.arange(2048 * 2048, dtype=np.float32).reshape(2048, 2048)  # 16 MB: copied by the thread pool
transpose_2d(array)  # the parent's pool now exists
pid = os.fork()
if pid == 0:
    signal.alarm(30)  # a child that hangs dies instead of lingering
    os._exit(0 if np.array_equal(transpose_2d(array), array.T) else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_transposes_work_in_a_forked_child():
    """A forked child has none of its parent's threads: it must not wait on the parent's pool."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", FORKED], cwd=root, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("permutation", list(PERMUTATIONS.values()), ids=lambda p: p.source.value)
def test_rows_of_a_transform_equal_its_result(permutation):
    """What streaming writers ask of a transform: any band of rows, made alone, equals the result's."""
    shape = tuple(range(5, 5 + len(permutation.axes)))
    array = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    result = permutation.apply(array)
    fill = permutation.rows(array)
    for start, stop in [(0, 1), (1, 4), (0, result.shape[0]), (result.shape[0] - 1, result.shape[0])]:
        out = np.empty((stop - start,) + result.shape[1:], np.float32)
        fill(start, stop, out)
        np.testing.assert_array_equal(out, result[start:stop])


@pytest.mark.parametrize("mapped", [False, True], ids=["memory", "memmap"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 3, 16, 8), (1, 1, 64, 32), (5, 1, 7, 3), (2, 3, 3, 4, 6),
                                   (3, 3, 300, 700), (3, 3, 512, 1024), (5, 5, 160, 1030), (1, 1, 2048, 2048),
                                   (3, 3, 3, 4000, 50)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_kernel_permutation_equals_numpy(tmp_path, shape, dtype, mapped):
    """Small kernels, and kernels large enough for tiles on every core (k = 1, 9, 25 and 27 rows per group)."""
    from converter.transposes import channels_to_front

    array = random_array(tmp_path, shape, dtype, mapped, seed=1)
    spatial = len(shape) - 2
    expected = np.ascontiguousarray(array.transpose((spatial + 1, spatial) + tuple(range(spatial))))
    result = channels_to_front(array)
    assert result.shape == expected.shape and result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)
    start = shape[-1] // 3  # a band of the result's rows, into an existing array
    band = np.zeros_like(expected[start:])
    assert channels_to_front(array, out=band, start=start) is band
    np.testing.assert_array_equal(band, expected[start:])


@settings(max_examples=300, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=5), itemsize=st.sampled_from([1, 2, 4, 8]),
       data=st.data())
def test_permuted_bytes_equal_numpys_transpose(shape, itemsize, data):
    """The numpy-free permutation of a small model's tensors gives numpy's bytes, for any shape and axes."""
    from converter.transposes import permuted_bytes

    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    array = np.random.default_rng(len(shape)).integers(0, 255, size=(*shape, itemsize), dtype=np.uint8)
    array = array.view(f"u{itemsize}")[..., 0]
    expected = np.ascontiguousarray(array.transpose(axes)).tobytes()
    assert permuted_bytes(array.tobytes(), tuple(shape), axes, itemsize) == expected
    assert permuted_bytes(array.tobytes() + b"x", tuple(shape), axes, itemsize) is None  # a size that is not its own
