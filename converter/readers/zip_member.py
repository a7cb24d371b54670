"""Read a member of a zip archive in place, without extracting it.

Keras stores `model.weights.h5` uncompressed inside a `.keras` archive, so h5py can read
it through a file object that is a window onto the archive's bytes.
"""
from __future__ import annotations

import io
import struct
import zipfile
from typing import IO

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of `length` bytes of a file starting at `start`."""

    def __init__(self, path: str, start: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")
        self.start = start
        self._length = length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self._length - self._position))
        if count == 0:
            return 0
        self._file.seek(self.start + self._position)
        read = self._file.readinto(memoryview(buffer)[:count])  # type: ignore[arg-type]
        self._position += read or 0
        return read or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def open_member(archive: zipfile.ZipFile, path: str, member: str) -> IO[bytes]:
    """A seekable binary file object over `member`, in place when it is stored uncompressed."""
    info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return archive.open(info)  # seekable, but decompresses: slower
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {member}")
    name_length, extra_length = fields[-2], fields[-1]
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return FileWindow(path, start, info.file_size)
