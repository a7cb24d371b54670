"""safetensors, written one tensor at a time; sharded with a Hugging Face index when asked.

The safetensors library serializes from buffers that must all be in memory at once;
a conversion streams instead: the header (names, dtypes, shapes, offsets) is known from
the lazy tensors, then each tensor is loaded, written and freed. The bytes are the
library's own: the same header (metadata first, tensors ordered by dtype rank then name,
padded with spaces to 8 bytes) and layout, which the tests check against it.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Any, Callable, Sequence

import numpy as np

# safetensors' dtype names, and their rank in its ordering (larger first)
DTYPES = {
    "uint64": ("U64", 20), "int64": ("I64", 19), "float64": ("F64", 18), "float32": ("F32", 16),
    "uint32": ("U32", 15), "int32": ("I32", 14), "bfloat16": ("BF16", 13), "float16": ("F16", 12),
    "uint16": ("U16", 11), "int16": ("I16", 10), "int8": ("I8", 5), "uint8": ("U8", 4), "bool": ("BOOL", 0),
}

Progress = Callable[[int], None]  # called with the bytes just written


def ordered(tensors: Sequence[Any]) -> list[Any]:
    """The library's order: dtype rank descending, then name."""
    return sorted(tensors, key=lambda tensor: (-DTYPES[tensor.dtype][1], tensor.key))


def nbytes(tensor: Any) -> int:
    itemsize = 2 if tensor.dtype == "bfloat16" else np.dtype(tensor.dtype).itemsize
    return int(np.prod(tensor.shape, dtype=np.int64)) * itemsize


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
    with DirectFile(path) as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for tensor in tensors:
            array = _load(tensor)
            handle.write(memoryview(array).cast("B"))
            if progress:
                progress(array.nbytes)
            del array  # free it (and unmap its source) before the next one


def _load(tensor: Any) -> np.ndarray:
    """The tensor's bytes as a C-contiguous little-endian array, checked against the header."""
    array = np.asarray(tensor.load())
    array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.nbytes != nbytes(tensor):
        raise ValueError(f"{tensor.key}: loaded {array.shape} {array.dtype}, header says {tensor.shape}")
    return array


class DirectFile:
    """A write-only file that bypasses the page cache (O_DIRECT) where the system allows it.

    Buffered writes of more than a few hundred MB are throttled by the kernel to its
    estimate of the disk's speed; direct writes go at the disk's own speed (measured on
    the development machine: 1.4 GB/s against 0.44 GB/s). Data goes through a page-aligned
    staging buffer in whole blocks; the last block is padded, then the file truncated to
    its true length. Where O_DIRECT is refused, this is a plain buffered file.
    """

    CHUNK = 16 << 20  # a multiple of every block size

    def __init__(self, path: str) -> None:
        self.path = path
        self.size = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        direct = getattr(os, "O_DIRECT", 0)
        try:
            self.fd = os.open(path, flags | direct, 0o644) if direct else os.open(path, flags, 0o644)
            self.direct = bool(direct)
        except OSError:  # tmpfs and others refuse O_DIRECT
            self.fd, self.direct = os.open(path, flags, 0o644), False
        self.buffer = mmap.mmap(-1, self.CHUNK) if self.direct else None
        self.fill = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            if not self.direct:
                self._write_all(view)
                return
            count = min(self.CHUNK - self.fill, len(view))
            self.buffer[self.fill:self.fill + count] = view[:count]  # type: ignore[index]
            self.fill += count
            view = view[count:]
            if self.fill == self.CHUNK:
                self._flush()

    def _flush(self) -> None:
        """Write the staged bytes as whole blocks (the padding is truncated away at the end)."""
        length = self.fill + (-self.fill % 4096)
        self.buffer[self.fill:length] = bytes(length - self.fill)  # type: ignore[index]
        try:
            self._write_all(memoryview(self.buffer)[:length])  # type: ignore[arg-type]
        except OSError:  # O_DIRECT accepted at open, refused on write: go on buffered
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY)
            os.lseek(self.fd, self.size, os.SEEK_SET)
            self.direct = False
            self._write_all(memoryview(self.buffer)[:self.fill])  # type: ignore[arg-type]
        self.size += self.fill
        self.fill = 0

    def _write_all(self, view: memoryview) -> None:
        while len(view):
            view = view[os.write(self.fd, view):]

    def close(self) -> None:
        if self.direct:
            self._flush()
        if self.direct:  # still: cut the last block's padding
            os.ftruncate(self.fd, self.size)
        os.close(self.fd)
        if self.buffer is not None:
            self.buffer.close()

    def __enter__(self) -> DirectFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
