"""Members of a zip archive read safely: in place when stored, CRC-checked, within fixed bounds.

Keras stores `model.weights.h5` uncompressed inside a `.keras` archive, so h5py reads it
through a file object that is a window onto the archive's bytes, and tensors are mapped
from there. zipfile checks a member's CRC-32 only when it reads the whole member itself,
so for a window the CRC is computed by `MemberCheck` in a background thread from the
first time a tensor's bytes are used, and checked before any output is committed.
"""
from __future__ import annotations

import io
import mmap
import os
import shutil
import struct
import tempfile
import threading
import zipfile
import zlib
from typing import IO, Any

try:  # ISA-L's CRC-32 runs at ~13 GB/s here, zlib's at ~4: the check then hides behind the conversion
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency where it has wheels
    from zlib import crc32

from ..errors import ReadError
from .limits import MAX_JSON_BYTES, compression_ok, parse_json

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of `length` bytes of a file starting at `start`."""

    def __init__(self, path: str, start: int, length: int) -> None:
        super().__init__()
        self._file = open(path, "rb")
        self.start = start
        self.length = length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = max(0, min(len(buffer), self.length - self._position))
        if count == 0:
            return 0
        self._file.seek(self.start + self._position)
        read = self._file.readinto(memoryview(buffer)[:count])
        self._position += read or 0
        return read or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class MemberCheck:
    """The CRC-32 of a member read in place, computed in a background thread once started."""

    CHUNK = 8 << 20

    def __init__(self, path: str, start: int, info: zipfile.ZipInfo) -> None:
        self.path, self.start, self.info = path, start, info
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.cancelled = False
        self.crc: int | None = None
        self.error: BaseException | None = None

    def start_once(self) -> None:
        """Start computing (idempotent): called when a tensor's bytes are first used."""
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="weightport-crc", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        try:  # Linux: this thread alone at the lowest priority, so the conversion's own threads come first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        try:
            crc, size = 0, self.info.file_size
            with open(self.path, "rb") as handle:
                if handle.seek(0, os.SEEK_END) < self.start + size:
                    self.crc = None  # truncated
                    return
                # mapped, not read: the pages the conversion reads are already in memory, no copy
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    view = memoryview(mapped)
                    try:
                        for start in range(self.start, self.start + size, self.CHUNK):
                            if self.cancelled:
                                return
                            crc = crc32(view[start:min(start + self.CHUNK, self.start + size)], crc)
                    finally:
                        view.release()
            self.crc = crc
        except (OSError, ValueError) as error:
            self.error = error

    def check(self) -> None:
        """Wait for the CRC if it was started and raise ReadError when it differs from the archive's."""
        with self.lock:
            thread = self.thread
        if thread is None:
            return  # no tensor bytes were used: nothing read can be wrong
        thread.join()
        where = f"{self.path}:{self.info.filename}"
        if self.error is not None:
            raise ReadError(f"{where}: cannot read the member to check its CRC ({self.error})")
        if self.crc != self.info.CRC:
            found = "the member is truncated" if self.crc is None else f"computed {self.crc:08x}"
            raise ReadError(f"{where}: fails its CRC-32 check (stored {self.info.CRC:08x}, {found}); the archive "
                            "is corrupted: download or copy it again")

    def cancel(self) -> None:
        self.cancelled = True


def open_archive(path: str) -> zipfile.ZipFile:
    """A zip archive whose member names are unique (two members of one name let readers disagree)."""
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        raise ReadError(f"{path}: damaged, truncated or unsupported zip archive ({error})") from None
    seen: set[str] = set()
    for name in names:
        if name in seen:
            archive.close()
            raise ReadError(f"{path}: the archive holds two members named {name!r}; it is crafted or damaged")
        seen.add(name)
    return archive


def _checked_info(archive: zipfile.ZipFile, path: str, member: str) -> zipfile.ZipInfo:
    info = archive.getinfo(member)
    where = f"{path}:{member}"
    if info.flag_bits & 0x1:
        raise ReadError(f"{where}: the member is encrypted; Keras writes no encrypted archives")
    if info.compress_type not in _READABLE:
        raise ReadError(f"{where}: compressed with zip method {info.compress_type}, which weightport does not read")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ReadError(f"{where}: a stored member whose sizes disagree ({info.compress_size} and {info.file_size})")
    if not compression_ok(info.file_size, info.compress_size):
        raise ReadError(f"{where}: {info.compress_size} bytes that decompress to {info.file_size}, beyond the "
                        "compression ratio weightport accepts; the archive is crafted")
    return info


def read_json_member(archive: zipfile.ZipFile, path: str, member: str) -> Any:
    """A JSON member, read within the caps (its declared size first, then what it really holds)."""
    return parse_json(read_small_member(archive, path, member, "JSON"), f"{path}:{member}")


def read_small_member(archive: zipfile.ZipFile, path: str, member: str, what: str) -> bytes:
    """The bytes of a member Keras writes small (a config, a vocabulary), within MAX_JSON_BYTES, CRC checked."""
    info = _checked_info(archive, path, member)
    where = f"{path}:{member}"
    if info.file_size > MAX_JSON_BYTES:
        raise ReadError(f"{where}: {info.file_size} bytes of {what}, more than the {MAX_JSON_BYTES >> 20} MB "
                        "weightport reads; this is not what Keras writes there")
    try:
        with archive.open(info) as handle:
            data = handle.read(MAX_JSON_BYTES + 1)  # to the end: zipfile checks the CRC there
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, NotImplementedError) as error:
        raise ReadError(f"{where}: cannot read the member ({error}); the archive is damaged") from None
    return data  # MAX_JSON_BYTES + 1 bytes when it holds more than it declares: the caller's check refuses it


def open_member(archive: zipfile.ZipFile, path: str, member: str) -> tuple[IO[bytes] | FileWindow,
                                                                         MemberCheck | None]:
    """A seekable binary file object over `member`, and the check of its CRC when read in place.

    A stored member is a window onto the archive (checked later, by MemberCheck); a
    compressed one is decompressed into an anonymous temporary file, which checks its CRC.
    """
    info = _checked_info(archive, path, member)
    where = f"{path}:{member}"
    if info.compress_type != zipfile.ZIP_STORED:
        return _decompressed(archive, info, where), None
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
        fields = _LOCAL_HEADER.unpack(header) if len(header) == _LOCAL_HEADER.size else None
        if fields is None or fields[0] != b"PK\x03\x04":
            raise ReadError(f"{where}: bad local header; the archive is damaged")
        name_length, extra_length = fields[-2], fields[-1]
        name = raw.read(name_length)
        raw.seek(0, io.SEEK_END)
        size = raw.tell()
    if name.decode("utf-8", "replace") != member and name.decode("cp437", "replace") != member:
        raise ReadError(f"{where}: the local header names another member; the archive is crafted or damaged")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if start + info.file_size > size:
        raise ReadError(f"{where}: the member runs past the end of the archive; it is truncated")
    return FileWindow(path, start, info.file_size), MemberCheck(path, start, info)


def _decompressed(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> IO[bytes]:
    copy = tempfile.TemporaryFile(prefix="weightport-")
    try:
        with archive.open(info) as source:
            shutil.copyfileobj(source, copy, 8 << 20)  # zipfile checks the CRC at the end
        if copy.tell() != info.file_size:
            raise ReadError(f"{where}: decompressed to {copy.tell()} bytes, not the {info.file_size} declared")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as error:
        copy.close()
        raise ReadError(f"{where}: cannot decompress the member ({error}); the archive is damaged") from None
    except BaseException:
        copy.close()
        raise
    copy.seek(0)
    return copy
