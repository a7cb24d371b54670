"""Fast copies for the layout permutations: transposes in cache-friendly tiles, on every core.

numpy's transposed copy of a large matrix walks one side with a large stride; copying
tiles runs about 9 times faster here. A convolution kernel's permutation is the same
tiled transpose with the source's rows taken in another order, so it too is one pass.
Each function equals numpy's plain result (tested).
"""
from __future__ import annotations

import math
import os
import threading
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
else:
    from .lazy_numpy import np  # numpy on first use: reading a file's structure needs none

# A matrix (k = 1) is copied in tiles of 128 float32 source rows by 256 columns (128 KB, in L2):
# each output row gets 512 bytes, whole cache lines, per tile. Measured from a memory-mapped
# file, two cores, best of 3 (GB/s; `benchmarks/bench_transposes.py`): 8192 x 8192 3.6-3.9
# against 1.5-2.2 for the tiles of 16 rows by 2048 columns staged through a small buffer used
# before, and 1x1 kernels (2048, 512) and (1024, 2048) 2.4-3.8 against 1.3-1.9; 64 x 1024
# tiles come close, 256 x 256 falls to 1.5 on 4096 x 4096. A kernel's groups (k > 1) are
# staged: a tile's rows always end on a cache line (for a 3x3 kernel, 16 groups of 9 rows:
# 576 bytes per output row); partial lines would be read and written again by the next tile:
# 0.009-0.012 s against 0.017-0.020 s for 2 groups of 9 rows (a 3x3x1024x1024 float32 kernel
# from a memory-mapped file, two cores).
_CACHE_LINE = 64
_TILE_ROW_BYTES = 512  # of a matrix's tile, per output row: 128 float32 source rows
_TILE_BYTES = 128 << 10
_STAGED_COLUMNS = 1024  # at most; a 16 x 1024 float32 staging tile is 64 KB: it stays in L2
_STAGED_BYTES = 256 << 10  # a taller tile (kernel groups) gets fewer columns
_TILED_BYTES = 2 << 20  # smaller arrays: numpy's own copy (twice as fast as tiles at 1 MB, in cache)

_this_thread = threading.local()


def one_core_in_this_thread() -> None:
    """This thread's transposes run in it alone, not split across a pool: for threads that already run
    side by side, each on a part of the work (the safetensors writer's), where splitting again only adds
    hand-offs."""
    _this_thread.one_core = True


def transpose_2d(array: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`array.T` as a new C-contiguous array (or into C-contiguous `out`), copied tile by tile.

    Equal to np.ascontiguousarray(array.T); `array` may be any strided view (a band of columns).
    """
    rows, columns = array.shape
    result = np.empty((columns, rows), dtype=array.dtype) if out is None else out
    _transpose_groups(array[:, None, :], _flat(result, (columns, rows)))
    return result


def channels_to_front(array: np.ndarray, out: np.ndarray | None = None,
                      start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows start:stop of (*k, a, b) -> (b, a, *k), as a new array or into C-contiguous `out`.

    Seen as a matrix, the result (b, a*k) is the transpose of the (a*k, b) matrix whose row
    (i, s) is the source's row (s, i): one tiled transpose whose staging copy gathers each
    tile's rows in that order. Equal to np.ascontiguousarray(array.transpose(n-1, n-2, 0, ..., n-3))[start:stop].
    """
    *kernel, a, b = array.shape
    stop = b if stop is None else stop
    k = math.prod(kernel)
    result = np.empty((stop - start, a, *kernel), dtype=array.dtype) if out is None else out
    if result.size:
        groups = array.reshape(k, a, b).transpose(1, 0, 2)[:, :, start:stop]  # (a, k, band): row (i, s)
        _transpose_groups(groups, _flat(result, (stop - start, a * k)))
    return result


#: array/memoryview codes of unsigned integers by size: a permutation moves items, whatever they hold
_ITEM_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


def permuted_bytes(data: bytes, shape: tuple[int, ...], axes: tuple[int, ...], itemsize: int) -> bytes | None:
    """The bytes of `data` (C order, `shape`, items of `itemsize` bytes) with its axes permuted, made without
    numpy, by strided slices of Python arrays (0.2 to 0.4 GB/s here: a few MB take less than importing numpy,
    0.15 to 0.2 s); None for an item size it cannot move. Equal to
    np.ascontiguousarray(array.transpose(axes)).tobytes() (tested)."""
    code = _ITEM_CODES.get(itemsize)
    if code is None or array(code).itemsize != itemsize or len(data) != math.prod(shape) * itemsize:
        return None
    if not shape or not data:
        return bytes(data)
    items = array(code)
    items.frombytes(data)
    rank = len(shape)
    source_strides = [math.prod(shape[axis + 1:]) for axis in range(rank)]
    result_shape = [shape[axis] for axis in axes]
    result_strides = [0] * rank  # where a step along each source axis lands in the result
    for position, axis in enumerate(axes):
        result_strides[axis] = math.prod(result_shape[position + 1:])
    # One slice per line along the longer of the source's last axis (contiguous reads) and the axis that
    # becomes the result's last (contiguous writes): the fewest Python-level steps.
    along = rank - 1 if shape[rank - 1] >= shape[axes[-1]] else axes[-1]
    size, read_step, write_step = shape[along], source_strides[along], result_strides[along]
    reads, writes = [0], [0]
    for axis in range(rank):
        if axis != along:
            reads = [start + k * source_strides[axis] for start in reads for k in range(shape[axis])]
            writes = [start + k * result_strides[axis] for start in writes for k in range(shape[axis])]
    result = array(code, [0]) * len(items)
    read_span, write_span = read_step * (size - 1) + 1, write_step * (size - 1) + 1
    for read, write in zip(reads, writes):
        result[write:write + write_span:write_step] = items[read:read + read_span:read_step]
    return result.tobytes()


def _flat(out: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`out` seen as a matrix of `shape`: a view, so that writing it writes `out`."""
    if not out.flags.c_contiguous or out.size != shape[0] * shape[1]:
        raise ValueError(f"out must be a C-contiguous array of {shape[0] * shape[1]} elements")
    return out.reshape(shape)


def _transpose_groups(groups: np.ndarray, result: np.ndarray) -> None:
    """result (c, g*k) = the transpose of the (g*k, c) matrix whose row (i, s) is groups[i, s].

    A 2-D transpose has k = 1. Tiles hold whole groups, and rows of whole cache lines.
    """
    count, k, columns = groups.shape
    if groups.nbytes < _TILED_BYTES:
        np.copyto(result.reshape(columns, count, k), groups.transpose(2, 0, 1))
        return

    # Groups of several rows (k > 1) are staged: each tile is first copied, group by group, into a
    # small buffer that puts its rows in order, then transposed from cache.
    staged = k > 1
    groups = groups.view(np.ndarray)  # a memmap's slices each run Python code (__array_finalize__)
    group_bytes = k * groups.dtype.itemsize
    per_tile = _CACHE_LINE // math.gcd(_CACHE_LINE, group_bytes)  # groups in a tile: whole lines per output row
    if staged:
        width = max(64, min(_STAGED_COLUMNS, _STAGED_BYTES // (per_tile * group_bytes)) // 64 * 64)
    else:
        per_tile *= max(1, _TILE_ROW_BYTES // (per_tile * group_bytes))
        width = max(64, _TILE_BYTES // (per_tile * group_bytes))

    def copy_tiles(group_start: int, group_stop: int, column_start: int, column_stop: int) -> None:
        staging = np.empty((per_tile, k, width), dtype=groups.dtype) if staged else None
        for i in range(group_start, group_stop, per_tile):
            n = min(per_tile, group_stop - i)
            rows_i = slice(i * k, (i + n) * k)
            for j in range(column_start, column_stop, width):
                columns_j = slice(j, min(j + width, column_stop))
                if staging is None:
                    result[columns_j, rows_i] = groups[i:i + n, 0, columns_j].T
                else:
                    tile = staging[:n, :, :columns_j.stop - j]
                    np.copyto(tile, groups[i:i + n, :, columns_j])
                    result[columns_j, rows_i] = tile.reshape(n * k, -1).T

    workers = 1 if getattr(_this_thread, "one_core", False) else min(os.cpu_count() or 1, 8)
    if workers == 1:
        copy_tiles(0, count, 0, columns)
    elif count * k >= columns:
        step = -(-count // (workers * per_tile)) * per_tile
        list(_pool(workers).map(lambda start: copy_tiles(start, min(start + step, count), 0, columns),
                                range(0, count, step)))
    else:  # a wide matrix (fewer rows than columns): split the columns
        step = -(-columns // (workers * width)) * width
        list(_pool(workers).map(lambda start: copy_tiles(0, count, start, min(start + step, columns)),
                                range(0, columns, step)))


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool per size and process, kept: a tensor written band by band asks for it many times.

    Keyed by process id too: a forked child has none of its parent's threads, and a pool
    copied from the parent would never run what it is given.
    """
    from concurrent.futures import ThreadPoolExecutor  # here: with logging, a few ms of every start-up otherwise

    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="weightport-transpose")
    return _POOLS[key]
