"""Byte ranges copied file to file by the kernel (Linux's copy_file_range), as `cp` copies.

Why: a tensor stored as it will be written (a checkpoint or HDF5 file in Keras layout) needs
no pass through the process; the kernel copies it between page caches, so a 1 GB conversion
costs what a copy of the file costs. Where the kernel refuses (another file system on an
older kernel, a system without the call), the range is read and written in pieces instead.
"""
from __future__ import annotations

import errno
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..graph import Watcher

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

PIECE = 64 << 20  # bytes per call: progress moves, an interrupt is seen between calls
#: a watched copy's reads: each chunk stays in a core's L2 while it is checked and written. 512 KB: on an
#: AMD EPYC with 512 KB of L2 a core, 1 GB copied and checked in one process in 0.43 s with these, 0.57 s
#: with 1 MB chunks, 0.48 s with 384 KB ones (medians of 7 interleaved runs); on an Intel machine 4 MB
#: chunks fell out of L2 (0.57 s against 0.29-0.31 s with 1 MB ones)
CHUNK = 512 << 10
#: errors that mean "not here", not "failed": copied through the process instead
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM, errno.EBADF}


def available() -> bool:
    """Whether this system has the kernel copy at all (Linux)."""
    return hasattr(os, "copy_file_range")


def copy_range(source: int, offset: int, length: int, target: int, at: int,
               progress: Callable[[int], None] | None = None) -> None:
    """Copy `length` bytes at `offset` of descriptor `source` to offset `at` of descriptor `target`."""
    kernel = available()
    while length:
        count = min(PIECE, length)
        copied = 0
        if kernel:
            try:
                copied = os.copy_file_range(source, target, count, offset, at)
            except OSError as error:
                if error.errno not in _UNSUPPORTED:
                    raise
                kernel = False
        if not kernel:
            data = os.pread(source, count, offset)
            write_all(target, data, at)
            copied = len(data)
        if copied == 0:
            raise OSError(errno.EIO, f"the source ended {length} bytes early")
        offset, at, length = offset + copied, at + copied, length - copied
        if progress:
            progress(copied)


def copy_range_watched(source: int, offset: int, length: int, target: int, at: int, watcher: Watcher,
                       progress: Callable[[int], None] | None = None) -> None:
    """Copy as copy_range does, but through the process: `watcher` sees every chunk in order (then finish()).

    A source's check (a checkpoint tensor's CRC-32C) then reads the bytes once, in cache, instead of a
    second pass over the file beside the kernel's copy: a 1 GB checkpoint copied and checked in 0.43 s against
    0.67 s for the kernel's copy with a checking thread (an AMD EPYC; CHUNK says why its size). A range of
    more than 8 chunks is written by a second thread while the next chunk is read and watched.
    """
    chunks = [(offset + start, at + start, min(CHUNK, length - start)) for start in range(0, length, CHUNK)]
    if len(chunks) <= 8:
        buffer = bytearray(CHUNK)
        for chunk_offset, chunk_at, count in chunks:
            watcher.update(_read(source, buffer, count, chunk_offset))
            write_all(target, memoryview(buffer)[:count], chunk_at)
            if progress:
                progress(count)
        watcher.finish()
        return
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(4):
        free.put(bytearray(CHUNK))
    full: queue.SimpleQueue[tuple[bytearray, int, int] | None] = queue.SimpleQueue()
    failed: list[BaseException] = []

    def write() -> None:
        while (item := full.get()) is not None:
            buffer, count, chunk_at = item
            try:
                if not failed:
                    write_all(target, memoryview(buffer)[:count], chunk_at)
            except BaseException as error:  # raised in the caller
                failed.append(error)
            free.put(buffer)

    writer = threading.Thread(target=write, name="weightport-copy", daemon=True)
    writer.start()
    try:
        for chunk_offset, chunk_at, count in chunks:
            buffer = free.get()
            if failed:
                break
            watcher.update(_read(source, buffer, count, chunk_offset))
            full.put((buffer, count, chunk_at))
            if progress:
                progress(count)
    finally:
        full.put(None)
        writer.join()
    if failed:
        raise failed[0]
    watcher.finish()


def _read(source: int, buffer: bytearray, count: int, offset: int) -> np.ndarray:
    """`count` bytes at `offset` read into `buffer`; a read-only array of them."""
    view = memoryview(buffer)
    done = 0
    while done < count:
        read = os.preadv(source, [view[done:count]], offset + done)
        if read == 0:
            raise OSError(errno.EIO, f"the source ended {count - done} bytes early")
        done += read
    chunk = np.frombuffer(buffer, np.uint8, count)
    chunk.flags.writeable = False  # a checksum library may take read-only buffers only
    return chunk


#: where there is no pwrite (Windows), a seek and the write after it must not interleave with another thread's
_SEEK_AND_WRITE = threading.Lock()


def write_all(target: int, data: Any, at: int) -> None:
    """Every byte of `data` (bytes, or a contiguous array) written at offset `at` of descriptor `target`; threads
    may write one file at once."""
    view = memoryview(data).cast("B")
    while len(view):
        if hasattr(os, "pwrite"):
            written = os.pwrite(target, view, at)
        else:
            with _SEEK_AND_WRITE:
                os.lseek(target, at, os.SEEK_SET)
                written = os.write(target, view)
        view, at = view[written:], at + written
