"""The block writer: exact bytes from awkward pieces, packed writes, the fallbacks, errors raised in the caller with no
file left, bands made while written, and watched copies."""
from __future__ import annotations

import mmap
import os

import numpy as np
import pytest

import converter
from helpers import fixture


def payload() -> bytes:
    return bytes(range(256)) * (3 * (1 << 16) + 7)  # not a whole number of blocks


def write_pieces(path: str, data: bytes, buffer: int) -> None:
    """`data` through a BlockFile in pieces of awkward sizes, each made inside the file's buffer."""
    from converter.writers.block_file import BlockFile

    with BlockFile(path, buffer=buffer) as handle:
        handle.append_bytes(data[:10])
        start, sizes = 10, [1, 4095, 4097, buffer, 3, buffer - 1]
        while start < len(data):
            piece = np.frombuffer(data, np.uint8, min(sizes[start % len(sizes)], len(data) - start), start)
            handle.append(np.dtype(np.uint8), piece.shape, lambda out: np.copyto(out, piece))
            start += piece.size


@pytest.mark.parametrize("buffer", [4096, 3 * 4096 + 100, 1 << 20])
@pytest.mark.parametrize("folder", ["tmp", "/dev/shm"])
def test_block_file_writes_exactly_what_it_is_given(tmp_path, folder, buffer):
    """On a disk O_DIRECT is used (whole blocks, the last padded then truncated); on tmpfs it is
    refused and the same buffers are written through the page cache. Either way the bytes are
    the same, whatever the pieces' sizes and however the writer threads interleave."""
    base = tmp_path if folder == "tmp" else folder
    if not os.path.isdir(base):
        pytest.skip("no /dev/shm here")
    path = os.path.join(base, f"direct_{os.getpid()}.bin")
    data = payload()
    try:
        write_pieces(path, data, buffer)
        with open(path, "rb") as check:
            assert check.read() == data
    finally:
        os.remove(path)


def test_block_file_packs_small_pieces_into_large_writes(tmp_path, monkeypatch):
    """A model of many small tensors: a buffer is written when the next piece does not fit, not per piece."""
    from converter.writers import block_file

    writes: list[int] = []
    real = block_file._pwrite_all
    monkeypatch.setattr(block_file, "_pwrite_all", lambda fd, view, offset: writes.append(len(view)) or
                        real(fd, view, offset))
    path, data = str(tmp_path / "small.bin"), payload()[:1000 * 999]
    with block_file.BlockFile(path, buffer=1 << 18) as handle:
        for start in range(0, len(data), 999):
            piece = np.frombuffer(data, np.uint8, 999, start)
            handle.append(np.dtype(np.uint8), piece.shape, lambda out: np.copyto(out, piece))
    assert open(path, "rb").read() == data
    assert len(writes) == 4 and all(size % 4096 == 0 for size in writes)  # 999,000 bytes in 256 KB buffers


def test_block_file_falls_back_when_a_direct_write_is_refused(tmp_path, monkeypatch):
    from converter.writers import block_file

    real_pwrite, refused = os.pwrite, []

    def refuse_direct(fd, data, offset):
        if not refused:
            refused.append(fd)
            raise OSError(22, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(block_file.os, "pwrite", refuse_direct)
    path, data = str(tmp_path / "fallback.bin"), payload()
    write_pieces(path, data, 1 << 16)
    assert refused and open(path, "rb").read() == data


def test_block_file_without_pwrite_seeks_and_writes(tmp_path, monkeypatch):
    """Windows has no os.pwrite: the writer threads seek and write under a lock instead."""
    monkeypatch.delattr(os, "pwrite")
    path, data = str(tmp_path / "seek.bin"), payload()
    write_pieces(path, data, 3 * 4096 + 100)
    assert open(path, "rb").read() == data


def test_block_file_without_map_populate_makes_the_same_file(tmp_path, monkeypatch):
    """Where mmap has no MAP_POPULATE (not Linux), the buffers are plain anonymous maps."""

    monkeypatch.delattr(mmap, "MAP_POPULATE", raising=False)
    path, data = str(tmp_path / "plain.bin"), payload()
    write_pieces(path, data, 1 << 16)
    assert open(path, "rb").read() == data


def test_a_failed_write_is_raised_in_the_caller_and_leaves_no_file(tmp_path, monkeypatch):
    from converter.writers import block_file

    def disk_full(fd, data, offset):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(block_file.os, "pwrite", disk_full)
    with pytest.raises(converter.WriteError, match="No space left on device"):
        converter.convert(fixture("keras3/mlp.keras"), tmp_path / "out.safetensors")
    assert list(tmp_path.iterdir()) == []


class _Made:
    """A tensor made on demand (as a transpose is), failing at `fail_at` rows when asked to."""

    def __init__(self, key: str, rows: int, fail: BaseException | None = None):
        self.key, self.dtype, self.shape, self.fail = key, "float32", (rows, 4096), fail
        self.array = np.random.default_rng(rows).random(self.shape, dtype=np.float32)

    def load(self) -> np.ndarray:
        return self.array

    def rows(self):
        self.made = getattr(self, "made", 0) + 1
        if self.fail is not None:
            raise self.fail
        return lambda start, stop, out: np.copyto(out, self.array[start:stop])


def _band_threads() -> list:
    import threading

    return [thread for thread in threading.enumerate() if thread.name == "weightport-bands"]


@pytest.mark.parametrize("writers", [1, 2, 4])
def test_page_cache_writer_makes_bands_while_it_writes_and_equals_the_library(tmp_path, monkeypatch, writers):
    """Tensors made band by band in threads that each write their bands at their places, out of order:
    the library's bytes, every byte reported to progress, each tensor's rows made once."""
    from safetensors.numpy import load_file

    from converter.writers import safetensors_file

    monkeypatch.setattr(safetensors_file, "BAND", 1 << 16)  # 4 rows of 16 KB per band: many pieces
    monkeypatch.setattr(safetensors_file._BandWriters, "WRITERS", writers)
    monkeypatch.setattr(safetensors_file.os, "cpu_count", lambda: writers)
    tensors = [_Made(f"t{i}", rows) for i, rows in enumerate([1, 3, 4, 5, 17, 64, 2, 33])]
    reported: list[int] = []
    safetensors_file.write(str(tmp_path / "made.safetensors"), tensors, {}, progress=reported.append)
    loaded = load_file(str(tmp_path / "made.safetensors"))
    for tensor in tensors:
        np.testing.assert_array_equal(loaded[tensor.key], tensor.array)
        assert tensor.made == 1
    assert sum(reported) == sum(tensor.array.nbytes for tensor in tensors)
    assert _band_threads() == []


def test_page_cache_writer_without_pwrite_seeks_and_writes_one_thread_at_a_time(tmp_path, monkeypatch):
    """Windows has no os.pwrite: the band writers (four here, on many bands) seek and write under one lock."""
    from safetensors.numpy import load_file

    from converter.writers import safetensors_file

    monkeypatch.delattr(os, "pwrite")
    monkeypatch.setattr(safetensors_file, "BAND", 1 << 14)  # one row of 16 KB per band
    monkeypatch.setattr(safetensors_file._BandWriters, "WRITERS", 4)
    monkeypatch.setattr(safetensors_file.os, "cpu_count", lambda: 4)
    tensors = [_Made(f"t{i}", rows) for i, rows in enumerate([64, 17, 40, 3, 64])]
    safetensors_file.write(str(tmp_path / "seek.safetensors"), tensors, {})
    loaded = load_file(str(tmp_path / "seek.safetensors"))
    for tensor in tensors:
        np.testing.assert_array_equal(loaded[tensor.key], tensor.array)


@pytest.mark.parametrize("where", ["making", "writing"])
def test_page_cache_writer_raises_in_the_caller_and_stops_making(tmp_path, monkeypatch, where):
    from converter.writers import file_copy, safetensors_file

    monkeypatch.setattr(safetensors_file, "BAND", 1 << 16)
    tensors = [_Made(f"t{i}", 40) for i in range(6)]
    if where == "making":
        tensors[3] = _Made("t3", 40, converter.ReadError("t3: cannot read the tensor"))
        expected: type[BaseException] = converter.ReadError
    else:
        calls = []
        real = file_copy.write_all

        def disk_full(target, data, at):
            calls.append(at)
            if len(calls) > 3:
                raise OSError(28, "No space left on device")
            real(target, data, at)

        monkeypatch.setattr(file_copy, "write_all", disk_full)
        expected = OSError
    with pytest.raises(expected):
        safetensors_file.write(str(tmp_path / "out.safetensors"), tensors, {})
    assert _band_threads() == []


class _Seen:
    """A Watcher keeping what it was shown."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.finished = False

    def update(self, chunk: np.ndarray) -> None:
        assert not chunk.flags.writeable  # checksum libraries take read-only buffers
        self.chunks.append(chunk.tobytes())

    def finish(self) -> None:
        self.finished = True


def _copy_threads() -> list:
    import threading

    return [thread for thread in threading.enumerate() if thread.name == "weightport-copy"]


# in chunks of file_copy.CHUNK (512 KB): none, part of one, several in one thread, and more than 8 (the writes
# then go to a second thread)
@pytest.mark.parametrize("length", [0, 5, 100_000, (3 << 19) + 17, (9 << 19) + 12_345, (20 << 20) + 3])
def test_a_watched_copy_shows_every_byte_in_order_and_copies_them(tmp_path, length):
    import os

    from converter.writers import file_copy

    assert file_copy.CHUNK == 1 << 19  # the lengths above are chosen around it
    data = np.random.default_rng(length).integers(0, 256, length + 300, dtype=np.uint8).tobytes()
    (tmp_path / "source").write_bytes(data)
    seen, moved = _Seen(), []
    source = os.open(tmp_path / "source", os.O_RDONLY)
    target = os.open(tmp_path / "target", os.O_WRONLY | os.O_CREAT)
    try:
        file_copy.copy_range_watched(source, 100, length, target, 7, seen, moved.append)
    finally:
        os.close(source)
        os.close(target)
    assert b"".join(seen.chunks) == data[100:100 + length] and seen.finished
    assert (tmp_path / "target").read_bytes()[7:] == data[100:100 + length] and sum(moved) == length
    assert _copy_threads() == []


@pytest.mark.parametrize("length", [100_000, 12 << 20])
def test_a_watched_copy_that_fails_raises_and_never_finishes_the_watcher(tmp_path, monkeypatch, length):
    import os

    from converter.writers import file_copy

    (tmp_path / "source").write_bytes(bytes(length))
    real = file_copy.write_all

    def disk_full(target, data, at):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_copy, "write_all", disk_full)
    seen = _Seen()
    source = os.open(tmp_path / "source", os.O_RDONLY)
    target = os.open(tmp_path / "target", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            file_copy.copy_range_watched(source, 0, length, target, 0, seen)
        monkeypatch.setattr(file_copy, "write_all", real)
        with pytest.raises(OSError, match="ended"):  # a source shorter than the range
            file_copy.copy_range_watched(source, 0, length + 10, target, 0, _Seen())
    finally:
        os.close(source)
        os.close(target)
    assert not seen.finished and _copy_threads() == []


def test_a_failing_piece_stops_the_writers_and_raises_its_own_error(tmp_path):
    from converter.writers.block_file import BlockFile

    def broken(out: np.ndarray) -> None:
        out[:] = 1
        raise ValueError("cannot make this piece")

    with pytest.raises(ValueError, match="cannot make this piece"):
        with BlockFile(str(tmp_path / "broken.bin"), buffer=8192) as handle:
            handle.append_bytes(payload()[:100_000])
            handle.append(np.dtype(np.uint8), (100,), broken)
    assert all(not thread.is_alive() for thread in handle.threads)
