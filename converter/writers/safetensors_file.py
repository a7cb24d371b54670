"""safetensors, written one tensor at a time; sharded with a Hugging Face index when asked.

The safetensors library serializes from buffers that must all be in memory at once;
a conversion streams instead: the header (names, dtypes, shapes, offsets) is known from
the lazy tensors, then each tensor is written in order. Up to PAGE_CACHE_BYTES of made
tensors, through the page cache (a tensor stored in its source as it is written, a
checkpoint's or a Keras file's in Keras layout, copied file to file by the kernel; the
others made in bands); beyond, each is made, piece by piece, inside the buffers of a
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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ..graph import FileRegion
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
BAND = 16 << 20  # bytes of a transposed tensor made at a time on the page-cache path
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
    """The file written in order through the page cache: each tensor stored as it is written copied by
    the kernel from its source file (when `copying`), the others (PAGE_CACHE_BYTES at most) made in
    bands of BAND bytes and written."""
    # No O_TRUNC: ext4 flushes a file truncated to nothing when it is closed (its auto_da_alloc guard
    # for rewrite-in-place): 0.7 s measured at close for 1 GB, which the kernel otherwise writes later.
    # The file is cut to its length at the end instead.
    regions = [_region(tensor) if copying else None for tensor in tensors]
    made = [tensor for tensor, region in zip(tensors, regions) if region is None]
    small = _small_pieces(made)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    sources: dict[str, int] = {}
    maker = _Maker([] if small is not None else made)
    try:
        file_copy.write_all(target, head, 0)
        at = len(head)
        for tensor, region in zip(tensors, regions):
            size = nbytes(tensor)
            if region is not None:
                if region.path not in sources:
                    sources[region.path] = os.open(region.path, os.O_RDONLY)
                watcher = region.watch() if region.watch is not None else None
                if watcher is None:
                    region.touch()
                    file_copy.copy_range(sources[region.path], region.offset, size, target, at, progress)
                else:  # the source checks the bytes as they pass: one read of them, not two
                    file_copy.copy_range_watched(sources[region.path], region.offset, size, target, at, watcher,
                                                 progress)
                at += size
                continue
            if small is not None:  # made already, without numpy
                file_copy.write_all(target, small[id(tensor)], at)
                at += size
                if progress:
                    progress(size)
                continue
            end = at + size
            while at < end:  # the maker's pieces of this tensor, in order
                piece, band = maker.next_piece()
                file_copy.write_all(target, piece, at)
                maker.release(band)
                at += len(piece)
                if progress:
                    progress(len(piece))
        os.ftruncate(target, at)
    finally:
        maker.close()
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


class _Maker:
    """Makes the bands of `tensors`, in order, in a background thread while the caller writes the previous
    ones: two buffers, so that making one overlaps writing the other (ResNet50: transposes 0.065 s, writes
    0.025 s, about 0.02 s less in all). Errors are raised in the caller, by `next_piece`."""

    def __init__(self, tensors: list[Any]) -> None:
        self.pieces: queue.SimpleQueue[tuple[np.ndarray, _Band | None] | BaseException] = queue.SimpleQueue()
        self.free: queue.SimpleQueue[_Band | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        if tensors:  # (none when every tensor is copied or made without numpy: no buffers then)
            for _ in range(2):
                self.free.put(_Band())
            self.thread = threading.Thread(target=self._make, args=(tensors,), name="weightport-bands", daemon=True)
            self.thread.start()

    def _make(self, tensors: list[Any]) -> None:
        try:
            for tensor in tensors:
                for piece in _bands(tensor, self._take):
                    self.pieces.put(piece)
        except _Stopped:
            pass
        except BaseException as error:  # raised in the caller's thread
            self.pieces.put(error)

    def _take(self) -> _Band:
        band = self.free.get()
        if band is None:
            raise _Stopped
        return band

    def next_piece(self) -> tuple[np.ndarray, _Band | None]:
        item = self.pieces.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def release(self, band: _Band | None) -> None:
        if band is not None:
            self.free.put(band)

    def close(self) -> None:
        """Stop making (after the piece in hand, if the caller stopped early) and wait for the thread."""
        if self.thread is not None:
            self.free.put(None)
            self.thread.join()
            self.thread = None


class _Stopped(Exception):
    """The writer stopped before every band was made."""


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


def _bands(tensor: Any, take: Callable[[], _Band]) -> Iterator[tuple[np.ndarray, _Band | None]]:
    """A tensor's bytes in order, with the buffer holding them: band by band (of at most BAND bytes, each in
    a buffer from `take`) when it can make its rows on demand (a transpose), else loaded whole (no buffer)."""
    dtype = stored_dtype(tensor.dtype)
    shape, size = tuple(tensor.shape), nbytes(tensor)
    row_bytes = size // shape[0] if shape and shape[0] else 0
    if 0 < row_bytes <= BAND and hasattr(tensor, "rows"):
        fill_rows, count = tensor.rows(), BAND // row_bytes
        for start in range(0, shape[0], count):
            stop = min(shape[0], start + count)
            band = take()
            rows = band.rows(dtype, (stop - start,) + shape[1:])
            fill_rows(start, stop, rows)
            yield rows.reshape(-1).view(np.uint8), band
        return
    yield _load(tensor).reshape(-1).view(np.uint8), None


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
