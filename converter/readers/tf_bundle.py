"""TensorFlow's tensor bundle (checkpoints, SavedModel variables) read without TensorFlow.

A bundle is `PREFIX.index`, a sorted table in LevelDB's format (blocks of prefix-compressed
keys, each block followed by its compression type and a masked CRC-32C; a 48-byte footer
pointing at the index block), whose key "" holds the header and every other key one tensor's
BundleEntryProto (dtype, shape, shard, offset, size, CRC-32C of its bytes); and the shards
`PREFIX.data-0000i-of-0000n` holding the bytes. Entries are decoded with `protowire`;
tensors are memory-mapped from their shard when loaded, their checksum checked once.
Sizes and offsets are checked against the files; only files named from the prefix are read.
"""
from __future__ import annotations

import math
import os
import queue
import struct
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..errors import ReadError
from ..graph import FileRegion
from .limits import refuse_lfs_pointer
from .protowire import Fields, all_bytes, first_bytes, first_int, message, signed, varint

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

MAGIC = 0xDB4775248B80FB57
FOOTER = 48
MAX_INDEX_BYTES = 1 << 30  # an index holds names and offsets: a few MB for the largest models
MASK_DELTA = 0xA282EAD8

#: TensorFlow's DataType enum -> numpy dtype name (bfloat16 as weightport holds it: its bits)
DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64", 10: "bool",
          14: "bfloat16", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
SKIPPED_DTYPES = {7: "string", 20: "resource", 21: "variant", 8: "complex64", 18: "complex128"}


@dataclass
class Entry:
    """One tensor of the bundle, as its index describes it."""

    name: str
    dtype: str  # a numpy dtype name, "bfloat16", or a skipped kind ("string", ...)
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int
    sliced: bool


def crc32c(data: bytes) -> int:
    import google_crc32c  # Google's own CRC-32C (C, or its pure-Python fallback)

    return int(google_crc32c.value(data))


def masked(crc: int) -> int:
    """LevelDB's and TensorFlow's masking of stored CRCs."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def scalar_string(data: bytes, expected: int, where: str) -> bytes:
    """The bytes of a scalar string tensor as a bundle stores them, checked: its length as a varint, the
    masked CRC-32C of that length (taken as a little-endian uint32), the bytes; the entry's CRC covers the
    length's uint32, the stored length CRC and the bytes, in that order."""
    import google_crc32c

    length, position = varint(data, 0, where)
    if position + 4 + length != len(data) or length > 0xFFFFFFFF:
        raise ReadError(f"{where}: the string's length does not match its entry; the data file is damaged")
    crc = google_crc32c.extend(0, struct.pack("<I", length))
    stored = data[position:position + 4]
    crc = google_crc32c.extend(google_crc32c.extend(crc, stored), data[position + 4:])
    if masked(int(crc)) != expected:
        raise ReadError(f"{where}: the checksum does not match its bytes; the data file is damaged")
    return data[position + 4:]


def index_path(prefix: str) -> str:
    return prefix + ".index"


def shard_path(prefix: str, shard: int, count: int) -> str:
    return f"{prefix}.data-{shard:05d}-of-{count:05d}"


def read_index(prefix: str) -> tuple[int, list[Entry]]:
    """The number of data shards and every entry of `PREFIX.index`, checked."""
    path = index_path(prefix)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        refuse_lfs_pointer(path, handle.read(200))
    if size < FOOTER:
        raise ReadError(f"{path}: {size} bytes, too short for a TensorFlow checkpoint index")
    if size > MAX_INDEX_BYTES:
        raise ReadError(f"{path}: {size} bytes, more than the {MAX_INDEX_BYTES >> 20} MB an index can hold")
    with open(path, "rb") as handle:
        data = handle.read()
    if struct.unpack_from("<Q", data, size - 8)[0] != MAGIC:
        raise ReadError(f"{path}: no table magic at its end; not a TensorFlow checkpoint index, or truncated")
    _, position = _handle(data, size - FOOTER, path)  # the meta-index block: unused by bundles
    index_block, _ = _handle(data, position, path)
    entries: list[Entry] = []
    shards = 1
    seen_header = False
    for _, block_value in _block_entries(_block(data, index_block, path), path):
        block, _ = _handle(block_value, 0, path)
        for key, value in _block_entries(_block(data, block, path), path):
            if key.startswith(b"\x00"):
                continue  # one slice of a variable saved in slices: its own entry says so (`sliced`)
            if key == b"":
                header = message(value, f"{path}: header")
                shards = first_int(header, 1, 1)
                if first_int(header, 2, 0) != 0:
                    raise ReadError(f"{path}: a big-endian checkpoint; only little-endian ones are read")
                seen_header = True
                continue
            entries.append(_entry(key, value, path))
    if not seen_header:
        raise ReadError(f"{path}: no bundle header; not a TensorFlow checkpoint index")
    if not 1 <= shards <= 100_000:
        raise ReadError(f"{path}: {shards} data shards declared; the index is damaged")
    return shards, entries


def _handle(data: bytes, position: int, where: str) -> tuple[tuple[int, int], int]:
    offset, position = varint(data, position, where)
    length, position = varint(data, position, where)
    return (offset, length), position


def _block(data: bytes, handle: tuple[int, int], where: str) -> bytes:
    offset, length = handle
    if offset + length + 5 > len(data):
        raise ReadError(f"{where}: a block runs past the end of the index; it is truncated or damaged")
    contents = data[offset:offset + length]
    kind, stored = data[offset + length], struct.unpack_from("<I", data, offset + length + 1)[0]
    if masked(crc32c(data[offset:offset + length + 1])) != stored:
        raise ReadError(f"{where}: a block's checksum does not match; the index is damaged")
    if kind == 1:
        try:
            import snappy
        except ImportError:
            raise ReadError(f"{where}: snappy-compressed index blocks need python-snappy: pip install "
                            "python-snappy") from None
        return bytes(snappy.uncompress(contents))
    if kind != 0:
        raise ReadError(f"{where}: block compression {kind} is not one LevelDB tables use")
    return contents


def _block_entries(block: bytes, where: str) -> list[tuple[bytes, bytes]]:
    """Keys (prefix-compressed against the previous) and values of one block, up to its restart array."""
    if len(block) < 4:
        raise ReadError(f"{where}: a block too short to hold its restart count")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise ReadError(f"{where}: a block's restart array is larger than the block")
    entries, key, position = [], b"", 0
    while position < end:
        shared, position = varint(block, position, where)
        unshared, position = varint(block, position, where)
        length, position = varint(block, position, where)
        if shared > len(key) or position + unshared + length > end:
            raise ReadError(f"{where}: a block entry runs past its block; the index is damaged")
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        entries.append((key, block[position:position + length]))
        position += length
    return entries


def _entry(key: bytes, value: bytes, where: str) -> Entry:
    try:
        name = key.decode("utf-8")
    except UnicodeDecodeError:
        raise ReadError(f"{where}: a tensor name that is not UTF-8") from None
    fields = message(value, f"{where}: entry {name[:80]}")
    dtype_code = first_int(fields, 1)
    dtype = DTYPES.get(dtype_code) or SKIPPED_DTYPES.get(dtype_code) or f"dtype {dtype_code}"
    shape = _shape(message(first_bytes(fields, 2), f"{where}: shape of {name[:80]}"), f"{where}: {name[:80]}")
    return Entry(name=name, dtype=dtype, shape=shape, shard=first_int(fields, 3), offset=signed(first_int(fields, 4)),
                 size=signed(first_int(fields, 5)), crc32c=first_int(fields, 6), sliced=bool(all_bytes(fields, 7)))


def _shape(fields: Fields, where: str) -> tuple[int, ...]:
    if first_int(fields, 3):
        raise ReadError(f"{where}: a tensor of unknown rank")
    sizes = [signed(first_int(message(dim, where), 1)) for dim in all_bytes(fields, 2)]
    if any(size < 0 for size in sizes) or len(sizes) > 32:
        raise ReadError(f"{where}: shape {sizes[:8]} is not a stored tensor's")
    return tuple(sizes)


class Checksums:
    """Each loaded tensor's CRC-32C, computed from its file in a background thread while the conversion goes
    on, or from its bytes as a writer copies them (`watch`); `check()` (the graph's integrity check, run
    before any output is published) waits and compares."""

    CHUNK = 64 << 20  # mapped a piece at a time: its pages are let go before the next

    def __init__(self) -> None:
        # one thread and a queue, not concurrent.futures: that imports logging, a few ms of every start-up
        self.jobs: queue.SimpleQueue[tuple[tuple[str, int, int], list[int | BaseException]] | None] = \
            queue.SimpleQueue()
        # (where, expected CRC, the result once known: the worker's or a watcher's), in the order asked
        self.pending: list[tuple[str, int, list[int | BaseException]]] = []
        self.worker: threading.Thread | None = None
        self.cancelled = False

    def submit(self, where: str, path: str, offset: int, size: int, expected: int) -> None:
        if self.worker is None:
            self.worker = threading.Thread(target=self._work, name="weightport-crc32c", daemon=True)
            self.worker.start()
        result: list[int | BaseException] = []
        self.pending.append((where, expected, result))
        self.jobs.put(((path, offset, size), result))

    def watch(self, where: str, expected: int) -> CrcWatcher:
        """A watcher the writer hands the tensor's bytes as it copies them: one pass over them, not two."""
        result: list[int | BaseException] = []
        self.pending.append((where, expected, result))
        return CrcWatcher(result)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None and not self.cancelled:
            arguments, result = job
            try:
                result.append(self._crc(*arguments))
            except BaseException as error:  # raised in check(), on the converting thread
                result.append(error)

    def _crc(self, path: str, offset: int, size: int) -> int:
        import google_crc32c

        crc = 0
        end = offset + size
        while offset < end:  # mapped, not read: the CRC reads the page cache with no copy
            length = min(self.CHUNK, end - offset)
            try:
                chunk = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(length,))
            except (OSError, ValueError):
                raise ReadError(f"{path}: the data file ended early") from None
            crc = google_crc32c.extend(crc, chunk)
            del chunk
            offset += length
        return int(crc)

    def check(self) -> None:
        pending, self.pending = self.pending, []
        if self.worker is not None:
            self.jobs.put(None)
            self.worker.join()
            self.worker = None
        for where, expected, result in pending:
            if not result:  # a watcher the writer never finished: the bytes were not all seen
                raise RuntimeError(f"{where}: the tensor's checksum was never computed")
            if isinstance(result[0], BaseException):
                raise result[0]
            if masked(result[0]) != expected:
                raise ReadError(f"{where}: the tensor's checksum does not match its bytes; the data file is damaged")

    def close(self) -> None:
        # the worker stops after the tensor it is on (a daemon thread: it never holds up the exit)
        self.cancelled = True
        self.jobs.put(None)


class CrcWatcher:
    """The CRC-32C of the bytes a writer copies (a graph.Watcher): chunks in order, then finish()."""

    def __init__(self, result: list[int | BaseException]) -> None:
        import google_crc32c

        self.extend = google_crc32c.extend
        self.crc = 0
        self.result = result

    def update(self, chunk: np.ndarray) -> None:
        self.crc = self.extend(self.crc, chunk)

    def finish(self) -> None:
        self.result.append(int(self.crc))


def loader(prefix: str, shards: int, entry: Entry, checksums: Checksums) -> tuple[str, Callable[[], np.ndarray]]:
    """The shard file of `entry`, checked to hold its bytes, and a function mapping them (its checksum is
    computed by `checksums` the first time, in the background)."""
    path = shard_path(prefix, entry.shard, shards)
    where = f"{path}:{entry.name}"
    itemsize = 2 if entry.dtype == "bfloat16" else np.dtype(entry.dtype).itemsize
    expected = math.prod(entry.shape) * itemsize
    if entry.size != expected:
        raise ReadError(f"{where}: {entry.size} bytes stored for a {entry.dtype} tensor of shape {entry.shape} "
                        f"({expected} bytes); the index is damaged")
    if not 0 <= entry.shard < shards:
        raise ReadError(f"{where}: shard {entry.shard} of {shards}; the index is damaged")
    if not os.path.isfile(path):
        raise ReadError(f"{index_path(prefix)}: its data file {os.path.basename(path)} (holding {entry.name}) is "
                        "missing beside it; copy it too (a checkpoint is its .index and every .data-* file)")
    if entry.offset < 0 or entry.offset + entry.size > os.path.getsize(path):
        with open(path, "rb") as handle:
            refuse_lfs_pointer(path, handle.read(200))
        if os.path.getsize(path) == 0:  # committed or copied without its content
            raise ReadError(f"{path}: the data file is empty, where the index places {entry.name} and the other "
                            "weights; copy the data file itself (a checkpoint is its .index and every .data-* file)")
        raise ReadError(f"{where}: bytes {entry.offset}..{entry.offset + entry.size} lie past the end of the data "
                        "file; it is truncated or the index is damaged")
    stored = np.dtype(np.uint16) if entry.dtype == "bfloat16" else np.dtype(entry.dtype)
    checked: list[bool] = []

    def touch() -> None:
        if not checked:  # once: the bytes are the file's, read in place
            checksums.submit(where, path, entry.offset, entry.size, entry.crc32c)
            checked.append(True)

    def watch() -> CrcWatcher | None:
        if checked:  # already being checked
            return None
        checked.append(True)
        return checksums.watch(where, entry.crc32c)

    def load() -> np.ndarray:
        touch()
        if entry.size == 0:
            return np.zeros(entry.shape, stored)
        return np.memmap(path, dtype=stored, mode="r", offset=entry.offset, shape=entry.shape)

    # TensorFlow writes the host's byte order: a little-endian machine's bytes are the output's
    if entry.size == 0 or sys.byteorder != "little":
        return path, load
    return path, FileRegion(path, entry.offset, load, touch, watch)
