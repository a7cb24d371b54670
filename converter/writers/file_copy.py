"""Byte ranges copied file to file by the kernel (Linux's copy_file_range), as `cp` copies.

Why: a tensor stored as it will be written (a checkpoint or HDF5 file in Keras layout) needs
no pass through the process; the kernel copies it between page caches, so a 1 GB conversion
costs what a copy of the file costs. Where the kernel refuses (another file system on an
older kernel, a system without the call), the range is read and written in pieces instead.
"""
from __future__ import annotations

import errno
import os
from typing import Any, Callable

PIECE = 64 << 20  # bytes per call: progress moves, an interrupt is seen between calls
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


def write_all(target: int, data: Any, at: int) -> None:
    """Every byte of `data` (bytes, or a contiguous array) written at offset `at` of descriptor `target`."""
    view = memoryview(data).cast("B")
    while len(view):
        if hasattr(os, "pwrite"):
            written = os.pwrite(target, view, at)
        else:  # Windows: one thread writes this file, so a seek and a write do
            os.lseek(target, at, os.SEEK_SET)
            written = os.write(target, view)
        view, at = view[written:], at + written
