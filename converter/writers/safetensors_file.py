"""safetensors, written one tensor at a time; sharded with a Hugging Face index when asked.

The safetensors library serializes from buffers that must all be in memory at once;
a conversion streams instead: the header (names, dtypes, shapes, offsets) is known from
the lazy tensors, then each tensor is written at its place. Up to PAGE_CACHE_BYTES of made
tensors, through the page cache (a tensor stored in its source as it is written, a
checkpoint's or a Keras file's in Keras layout, copied file to file by the kernel; the
others made in bands, by a thread per core); beyond, each is made, piece by piece, inside the buffers of a
`BlockFile` (written directly to the disk by background threads while the next piece is
made) and freed. The bytes are the library's own: the same header (metadata first, tensors ordered by dtype
rank then name, padded with spaces to 8 bytes) and layout, which the tests check against it.
"""
from __future__ import annotations

import json
import math
import os
import queue
import struct
import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..graph import FileRegion
from ..transposes import one_core_in_this_thread
from . import file_copy
from .block_file import BlockFile

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

# safetensors' dtype names, and their rank in its ordering (larger first)
DTYPES = {
    "uint64": ("U64", 20), "int64": ("I64", 19), "float64": ("F64", 18), "float32": ("F32", 16),
    "uint32": ("U32", 15), "int32": ("I32", 14), "bfloat16": ("BF16", 13), "float16": ("F16", 12),
    "uint16": ("U16", 11), "int16": ("I16", 10), "int8": ("I8", 5), "uint8": ("U8", 4), "bool": ("BOOL", 0),
}

#: bytes per element as written (bfloat16 as its uint16 bits): cheaper than a numpy dtype per tensor
ITEMSIZES = {name: 1 if code == "BOOL" else int(code.lstrip("BFIU")) // 8 for name, (code, _) in DTYPES.items()}

Progress = Callable[[int], None]  # called with the bytes just written
#: the most bytes (besides those the kernel copies) written through the page cache: faster than direct
#: writes for a small output (ResNet50's 100 MB: 0.52 s against 0.72 s for the whole conversion), but
#: throttled by the kernel to its estimate of the disk's speed as they grow (a 256 MB conversion took
#: 0.44 to 1.0 s through it against 0.48 to 0.54 s by direct writes; 1 GB with dd 1.8 to 2.8 s against
#: 1.0 s), where a BlockFile's direct writes take over
PAGE_CACHE_BYTES = 128 << 20
BAND = 4 << 20  # bytes of a transposed tensor made at a time on the page-cache path, by each writer thread
#: made tensors of at most this many bytes in all are made without numpy (transposes.permuted_bytes: 20 to
#: 40 ms for 8 MB, where importing numpy costs 0.15 to 0.2 s)
SMALL_BYTES = 8 << 20


def ordered(tensors: Sequence[Any]) -> list[Any]:
    """The library's order: dtype rank descending, then name."""
    return sorted(tensors, key=lambda tensor: (-DTYPES[tensor.dtype][1], tensor.key))


def stored_dtype(name: str) -> np.dtype:
    """The little-endian numpy dtype a tensor's bytes are written as (bfloat16 as its uint16 bits)."""
    return np.dtype(np.uint16) if name == "bfloat16" else np.dtype(name).newbyteorder("<")


def nbytes(tensor: Any) -> int:
    itemsize = ITEMSIZES.get(tensor.dtype)
    return math.prod(tensor.shape) * (stored_dtype(tensor.dtype).itemsize if itemsize is None else itemsize)


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str], progress: Progress | None = None) -> None:
    tensors = ordered(tensors)
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for tensor in tensors:
        size = nbytes(tensor)
        header[tensor.key] = {"dtype": DTYPES[tensor.dtype][0], "shape": list(tensor.shape),
                              "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    total = 8 + len(encoded) + offset
    head = struct.pack("<Q", len(encoded)) + encoded
    copying = file_copy.available()
    copied = sum(nbytes(tensor) for tensor in tensors if _region(tensor) is not None) if copying else 0
    if offset - copied <= PAGE_CACHE_BYTES:
        _write_through_page_cache(path, head, tensors, copying, progress)
        return
    # buffers no larger than the file: a small model costs kilobytes of buffers, not 4 x 32 MB
    with BlockFile(path, buffer=min(BlockFile.BUFFER, max(total, 1 << 16))) as handle:
        handle.append_bytes(head)
        for tensor in tensors:
            _write_tensor(handle, tensor, progress)


def _region(tensor: Any) -> FileRegion | None:
    return getattr(tensor, "region", None)


def _write_through_page_cache(path: str, head: bytes, tensors: Sequence[Any], copying: bool,
                              progress: Progress | None) -> None:
    """The file written through the page cache: each tensor stored as it is written copied by the kernel from
    its source file (when `copying`), the others (PAGE_CACHE_BYTES at most) made in bands of BAND bytes by
    `_BandWriters`, each band written at its place as soon as it is made."""
    # No O_TRUNC: ext4 flushes a file truncated to nothing when it is closed (its auto_da_alloc guard
    # for rewrite-in-place): 0.7 s measured at close for 1 GB, which the kernel otherwise writes later.
    # The file is cut to its length at the end instead.
    regions = [_region(tensor) if copying else None for tensor in tensors]
    places, at = [], len(head)
    for tensor in tensors:
        places.append(at)
        at += nbytes(tensor)
    made = [(tensor, place) for tensor, region, place in zip(tensors, regions, places) if region is None]
    small = _small_pieces([tensor for tensor, _ in made])
    target = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    sources: dict[str, int] = {}
    writers = _BandWriters(target, [] if small is not None else made)
    try:
        file_copy.write_all(target, head, 0)
        for tensor, region, place in zip(tensors, regions, places):
            size = nbytes(tensor)
            if region is not None:
                if region.path not in sources:
                    sources[region.path] = os.open(region.path, os.O_RDONLY)
                watcher = region.watch() if region.watch is not None else None
                if watcher is None:
                    region.touch()
                    file_copy.copy_range(sources[region.path], region.offset, size, target, place, progress)
                else:  # the source checks the bytes as they pass: one read of them, not two
                    file_copy.copy_range_watched(sources[region.path], region.offset, size, target, place, watcher,
                                                 progress)
            elif small is not None:  # made already, without numpy
                file_copy.write_all(target, small[id(tensor)], place)
                if progress:
                    progress(size)
        writers.wait(progress)
        os.ftruncate(target, at)
    finally:
        writers.close()
        for descriptor in [target, *sources.values()]:
            os.close(descriptor)


def _small_pieces(tensors: Sequence[Any]) -> dict[int, bytes] | None:
    """The bytes of every tensor (by id) when together they are at most SMALL_BYTES and each can be made without
    numpy (TargetTensor.small_bytes: a file range or a created fill, through its transform's apply_bytes), else
    None: a small model converts without importing numpy, which would cost more than the rest of its conversion
    (0.15 to 0.2 s)."""
    if sum(nbytes(tensor) for tensor in tensors) > SMALL_BYTES:
        return None
    pieces: dict[int, bytes] = {}
    for tensor in tensors:
        make = getattr(tensor, "small_bytes", None)
        piece = make(ITEMSIZES[tensor.dtype]) if make is not None and tensor.dtype in ITEMSIZES else None
        if piece is None or len(piece) != nbytes(tensor):
            return None
        pieces[id(tensor)] = piece
    return pieces


class _Rows:
    """A made tensor shared by its bands: its RowFiller made once, by the first band to need it, and dropped
    after the last (it may hold a whole result: a transform without bands of its own)."""

    def __init__(self, tensor: Any, bands: int) -> None:
        self.tensor, self.left = tensor, bands
        self.lock = threading.Lock()
        self.fill: Callable[[int, int, np.ndarray], object] | None = None

    def filler(self) -> Callable[[int, int, np.ndarray], object]:
        with self.lock:
            if self.fill is None:
                self.fill = self.tensor.rows()
            return self.fill

    def band_done(self) -> None:
        with self.lock:
            self.left -= 1
            if not self.left:
                self.fill = None


# a band: the tensor's rows start:stop, written at a place in the file; (tensor, None, 0, 0, place): loaded whole
_Job = tuple[Any, "_Rows | None", int, int, int]


class _BandWriters:
    """Makes the bands of the made tensors and writes each at its place in the file, in threads of their own
    (one per core, up to WRITERS), each taking the next band in file order: making one band (a transpose)
    overlaps writing another, and every core makes and writes. ResNet50's 102 MB of kernels, after numpy's
    import: 0.05 s (medians of 12 alternated runs, 2 cores) against 0.10 s when one thread made the bands,
    each split across the cores, for the caller to write in order. `wait` reports each band as it is written
    and raises the first error; `close` stops the threads."""

    WRITERS = 4  # at most: each holds a band of up to BAND bytes

    def __init__(self, target: int, made: list[tuple[Any, int]]) -> None:
        self.target = target
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
        self.count = 0
        self.stopped = False
        for tensor, place in made:
            for job in _jobs(tensor, place):
                self.jobs.put(job)
                self.count += 1
        workers = min(self.count, os.cpu_count() or 1, self.WRITERS)
        # The buffers (and numpy, on first use) made here: an import in a thread beside others waits for the
        # GIL at each file it reads (0.115 against 0.149 s for numpy and ResNet50's bands, medians of 16 runs)
        self.threads = [threading.Thread(target=self._work, args=(_Band(),), name="weightport-bands", daemon=True)
                        for _ in range(workers)]
        for thread in self.threads:
            thread.start()

    def _work(self, band: _Band) -> None:
        one_core_in_this_thread()  # the bands are the split: a band's transpose takes one core
        try:
            while not self.stopped:
                try:
                    tensor, rows, start, stop, place = self.jobs.get_nowait()
                except queue.Empty:
                    return
                if rows is None:
                    piece = _load(tensor).reshape(-1).view(np.uint8)
                else:
                    shape = tuple(tensor.shape)
                    out = band.rows(stored_dtype(tensor.dtype), (stop - start,) + shape[1:])
                    rows.filler()(start, stop, out)
                    rows.band_done()
                    piece = out.reshape(-1).view(np.uint8)
                file_copy.write_all(self.target, piece, place)
                self.done.put(len(piece))
        except BaseException as error:  # raised in the caller's thread, by wait()
            self.stopped = True
            self.done.put(error)

    def wait(self, progress: Progress | None) -> None:
        """Until every band is written; each reported to `progress` as it is."""
        for _ in range(self.count):
            item = self.done.get()
            if isinstance(item, BaseException):
                raise item
            if progress:
                progress(item)

    def close(self) -> None:
        """Stop (after the bands in hand, when the caller stopped early) and wait for the threads."""
        self.stopped = True
        for thread in self.threads:
            thread.join()
        self.threads = []


def _jobs(tensor: Any, place: int) -> list[_Job]:
    """A tensor's bands, in order: of at most BAND bytes each when it can make its rows on demand (a
    transpose), else the tensor loaded whole."""
    shape, size = tuple(tensor.shape), nbytes(tensor)
    row_bytes = size // shape[0] if shape and shape[0] else 0
    if not (0 < row_bytes <= BAND and hasattr(tensor, "rows")):
        return [(tensor, None, 0, 0, place)]
    count = BAND // row_bytes
    starts = range(0, shape[0], count)
    rows = _Rows(tensor, len(starts))
    return [(tensor, rows, start, min(shape[0], start + count), place + start * row_bytes) for start in starts]


class _Band:
    """One buffer of at most BAND bytes for the tensors made on the page-cache path, grown as needed and
    reused: its pages are faulted in once, not once per tensor (ResNet50: about 10 ms less)."""

    def __init__(self) -> None:
        self.buffer = np.empty(0, np.uint8)

    def rows(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape) * dtype.itemsize
        if self.buffer.size < size:
            self.buffer = np.empty(min(BAND, max(size, 2 * self.buffer.size)), np.uint8)
        return self.buffer[:size].view(dtype).reshape(shape)


def _write_tensor(handle: BlockFile, tensor: Any, progress: Progress | None) -> None:
    """Append one tensor in pieces that fit the file's buffers, made straight into them.

    A tensor that can make its rows on demand (`rows()`: a transpose writes a band of its
    result) is made band by band; any other is loaded, then copied in pieces.
    """
    dtype = stored_dtype(tensor.dtype)
    shape, size = tuple(tensor.shape), nbytes(tensor)
    row_bytes = size // shape[0] if shape and shape[0] else 0
    if size > handle.capacity and 0 < row_bytes <= handle.capacity and hasattr(tensor, "rows"):
        fill_rows = tensor.rows()
        start = 0
        while start < shape[0]:
            # Fill what is left of the current buffer (whole writes), unless that is a sliver or
            # holds no row: then a band the size of a whole new buffer.
            room = handle.room()
            fitting = room // row_bytes if room >= handle.capacity // 8 else 0
            stop = min(shape[0], start + (fitting or handle.capacity // row_bytes))
            handle.append(dtype, (stop - start,) + shape[1:], lambda out: fill_rows(start, stop, out))
            if progress:
                progress((stop - start) * row_bytes)
            start = stop
        return
    array = _load(tensor)
    if size <= handle.capacity:
        handle.append(dtype, shape, lambda out: np.copyto(out, array.reshape(shape)))
    else:
        flat = array.reshape(-1).view(np.uint8)
        for start in range(0, size, handle.capacity):
            piece = flat[start:start + handle.capacity]
            handle.append(np.dtype(np.uint8), piece.shape, lambda out: np.copyto(out, piece))
    if progress:
        progress(size)


def _load(tensor: Any) -> np.ndarray:
    """The tensor's bytes as a C-contiguous little-endian array, checked against the header."""
    array = np.asarray(tensor.load())
    array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.nbytes != nbytes(tensor):
        raise ValueError(f"{tensor.key}: loaded {array.shape} {array.dtype}, header says {tensor.shape}")
    return array


def shard_names(path: str, count: int) -> list[str]:
    """`model.safetensors` -> model-00001-of-00003.safetensors, ... (Hugging Face's naming)."""
    stem = path[: -len(".safetensors")]
    return [f"{stem}-{index:05d}-of-{count:05d}.safetensors" for index in range(1, count + 1)]


def plan_shards(tensors: Sequence[Any], max_shard_size: int) -> list[list[Any]]:
    """Tensors in order, cut into shards of at most `max_shard_size` bytes (a bigger tensor alone)."""
    shards: list[list[Any]] = [[]]
    size = 0
    for tensor in tensors:
        if shards[-1] and size + nbytes(tensor) > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += nbytes(tensor)
    return shards


def index(path: str, shards: list[list[Any]], metadata: dict[str, str]) -> dict[str, Any]:
    """The `model.safetensors.index.json` that Hugging Face tooling reads."""
    names = shard_names(path, len(shards))
    total = sum(nbytes(tensor) for shard in shards for tensor in shard)
    return {
        "metadata": {**metadata, "total_size": total},
        "weight_map": {tensor.key: os.path.basename(name) for name, shard in zip(names, shards) for tensor in shard},
    }
