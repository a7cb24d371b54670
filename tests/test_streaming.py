"""Streaming conversion: identical bytes to the plain path, shards through their index, fast transposes."""
from __future__ import annotations

import io
import json
import mmap
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

import converter
from converter.layouts import PERMUTATIONS
from converter.transposes import transpose_2d
from converter.progress import ProgressBar
from helpers import fixture, run_cli


def plain_state_dict(source: str, layout: str = "torch") -> dict[str, np.ndarray]:
    return converter.state_dict(source, layout=layout)


@pytest.fixture(params=["small", "page-cache", "direct"])
def writes(request, monkeypatch) -> str:
    """Every way a safetensors file is written: made without numpy (up to SMALL_BYTES of permuted tensors,
    most fixtures), through the page cache (up to PAGE_CACHE_BYTES of made tensors, every fixture, forced
    by a SMALL_BYTES of 0) and in a BlockFile's direct writes (forced by a limit of 0)."""
    from converter.writers import safetensors_file

    if request.param == "page-cache":
        monkeypatch.setattr(safetensors_file, "SMALL_BYTES", 0)

    if request.param == "direct":
        monkeypatch.setattr(safetensors_file, "PAGE_CACHE_BYTES", 0)
        monkeypatch.setattr(safetensors_file.file_copy, "available", lambda: False)
    return request.param


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("source", ["keras3/dtypes.keras", "keras3/nested.keras", "keras2/mlp.h5"])
def test_streamed_safetensors_is_bit_identical_to_the_library(tmp_path, source, layout, writes):
    """The plain path: every tensor in memory, written by safetensors itself. The data bytes are
    identical and so is the header's content (the library orders __metadata__ as a hash map)."""
    streamed, plain = tmp_path / "streamed.safetensors", tmp_path / "plain.safetensors"
    conversion = converter.convert(fixture(source), streamed, layout=layout)
    save_file(plain_state_dict(fixture(source), layout), str(plain), metadata=conversion.metadata())
    (streamed_header, streamed_data), (plain_header, plain_data) = split(streamed), split(plain)
    assert streamed_header == plain_header
    assert list(streamed_header) == list(plain_header)  # the same tensor order
    assert streamed_data == plain_data


@pytest.mark.parametrize("copying", ["kernel", "refused", "absent"])
@pytest.mark.parametrize("source", ["keras3/dtypes.keras", "keras3/nested.keras", "keras2/dtypes.h5"])
def test_tensors_stored_as_written_are_copied_file_to_file(tmp_path, monkeypatch, source, copying):
    """In Keras layout every tensor is a range of the source: copied by the kernel (or, where it
    refuses, through the process; where it has no such call, through the direct-write buffers),
    and the file is the library's, byte for byte."""
    from converter.writers import file_copy

    calls = []
    real_copy = os.copy_file_range

    def copy_file_range(*arguments):
        calls.append(arguments[2])
        if copying == "refused":
            raise OSError(18, "Invalid cross-device link")  # EXDEV
        return real_copy(*arguments)

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    if copying == "absent":  # the made tensors of the page-cache path
        monkeypatch.setattr(file_copy, "available", lambda: False)
    streamed, plain = tmp_path / "streamed.safetensors", tmp_path / "plain.safetensors"
    conversion = converter.convert(fixture(source), streamed, layout="keras")
    save_file(plain_state_dict(fixture(source), "keras"), str(plain), metadata=conversion.metadata())
    assert split(streamed) == split(plain)
    assert (len(calls) >= len(conversion.tensors)) == (copying != "absent")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_a_damaged_member_copied_file_to_file_is_still_refused(tmp_path):
    """The zip CRC of a .keras member starts when its first tensor is copied, as when one is loaded."""
    import zipfile

    source = tmp_path / "damaged.keras"
    with zipfile.ZipFile(fixture("keras3/mlp.keras")) as archive:
        info = archive.getinfo("model.weights.h5")
        assert info.compress_type == zipfile.ZIP_STORED
        offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw = bytearray(open(fixture("keras3/mlp.keras"), "rb").read())
    raw[offset + info.file_size - 64] ^= 0xFF  # inside the last tensor's bytes
    source.write_bytes(bytes(raw))
    result = run_cli("convert", str(source), str(tmp_path / "out.safetensors"), "--layout", "keras")
    assert result.returncode == 2 and "CRC" in result.stderr, result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def split(path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def test_sharded_output_reads_back_through_its_index(tmp_path):
    destination = tmp_path / "model.safetensors"
    conversion = converter.convert(fixture("keras3/nested.keras"), destination, max_shard_size=600)
    index_path = tmp_path / "model.safetensors.index.json"
    assert conversion.files[-1] == str(index_path) and not destination.exists()
    index = json.loads(index_path.read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    expected = plain_state_dict(fixture("keras3/nested.keras"))
    assert sorted(index["weight_map"]) == sorted(expected)
    assert index["metadata"]["total_size"] == sum(array.nbytes for array in expected.values())
    assert index["metadata"]["weightport_layout"] == "torch"
    for key, shard in index["weight_map"].items():
        with safe_open(str(tmp_path / shard), "np") as handle:
            np.testing.assert_array_equal(handle.get_tensor(key), expected[key])
            assert handle.metadata()["weightport_format"] == "keras-archive"


def test_a_small_output_is_not_sharded(tmp_path):
    conversion = converter.convert(fixture("keras3/nested.keras"), tmp_path / "m.safetensors", max_shard_size="5GB")
    assert conversion.files == [str(tmp_path / "m.safetensors")]


def test_cli_max_shard_size(tmp_path):
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "mlp.safetensors"),
                     "--max-shard-size", "200KB")
    assert result.returncode == 0, result.stderr
    assert "indexed by" in result.stdout
    assert (tmp_path / "mlp.safetensors.index.json").exists()
    bad = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "x.safetensors"), "--max-shard-size", "lots")
    assert bad.returncode == 2 and "500MB" in bad.stderr


@pytest.mark.parametrize("mapped", [False, True], ids=["memory", "memmap"])
@pytest.mark.parametrize("shape", [(3, 5), (300, 7), (1000, 4097), (4099, 1000), (2048, 2048), (9, 300_001)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_blocked_transpose_equals_numpy(tmp_path, shape, dtype, mapped):
    """Tiles from the process's memory and from a memory-mapped file (the map read in place)."""
    array = (np.random.default_rng(0).random(shape) * 1000).astype(dtype)
    if mapped:
        array.tofile(tmp_path / "array.bin")
        array = np.memmap(tmp_path / "array.bin", dtype=dtype, mode="r", shape=shape)
    result = transpose_2d(array)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, np.ascontiguousarray(array.T))
    into = np.zeros(array.T.shape, dtype)
    assert transpose_2d(array, out=into) is into
    np.testing.assert_array_equal(into, result)
    band = np.zeros((shape[1] - shape[1] // 3, shape[0]), dtype)  # a band of rows, from a strided view
    transpose_2d(array[:, shape[1] // 3:], out=band)
    np.testing.assert_array_equal(band, result[shape[1] // 3:])


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras2/mlp.h5", "keras3/mlp.weights.h5"])
def test_tensors_are_memory_mapped_not_read(source):
    with converter.read(fixture(source)) as graph:
        kernels = [tensor for _, tensor in graph.tensors() if tensor.role == "kernel"]
        assert kernels and all(mapped(tensor.load()) for tensor in kernels)


def mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap)


def test_keras_sharded_weights_are_read_as_one(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, name="a"), keras.layers.Dense(256, name="b"),
                              keras.layers.Dense(256, name="c")])
    path = str(tmp_path / "sharded.weights.json")
    model.save_weights(path, max_shard_size=0.0003)  # GB: one layer a shard
    assert len([name for name in os.listdir(tmp_path) if name.endswith(".weights.h5")]) >= 3
    weights = converter.state_dict(path)
    for layer in model.layers:
        kernel, bias = layer.get_weights()
        np.testing.assert_array_equal(weights[f"{layer.name}.weight"], kernel.T)
        np.testing.assert_array_equal(weights[f"{layer.name}.bias"], bias)
    assert converter.inspect(path).to_dict()["format"] == "keras-weights-sharded"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only():
    terminal, pipe = FakeTerminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(1000, "converting", stream=stream, delay=0)
        bar(400)
        bar(600)
        bar.close()
    assert "100%" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == ""


def test_cli_convert_prints_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    result = run_cli("convert", fixture("keras2/mlp.h5"), str(tmp_path / "m.safetensors"))
    assert result.returncode == 0 and result.stderr == ""


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
    import mmap

    monkeypatch.delattr(mmap, "MAP_POPULATE", raising=False)
    path, data = str(tmp_path / "plain.bin"), payload()
    write_pieces(path, data, 1 << 16)
    assert open(path, "rb").read() == data


FORKED = """
import os, signal, sys
import numpy as np
from converter.transposes import transpose_2d
array = np.arange(2048 * 2048, dtype=np.float32).reshape(2048, 2048)  # 16 MB: copied by the thread pool
transpose_2d(array)  # the parent's pool now exists
pid = os.fork()
if pid == 0:
    signal.alarm(30)  # a child that hangs dies instead of lingering
    os._exit(0 if np.array_equal(transpose_2d(array), array.T) else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_transposes_work_in_a_forked_child():
    """A forked child has none of its parent's threads: it must not wait on the parent's pool."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", FORKED], cwd=root, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr


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
        if self.fail is not None:
            raise self.fail
        return lambda start, stop, out: np.copyto(out, self.array[start:stop])


def _band_threads() -> list:
    import threading

    return [thread for thread in threading.enumerate() if thread.name == "weightport-bands"]


def test_page_cache_writer_makes_bands_while_it_writes_and_equals_the_library(tmp_path, monkeypatch):
    """Tensors made in a background thread, two buffers ahead, several bands each: the library's bytes."""
    from safetensors.numpy import load_file

    from converter.writers import safetensors_file

    monkeypatch.setattr(safetensors_file, "BAND", 1 << 16)  # 4 rows of 16 KB per band: many pieces
    tensors = [_Made(f"t{i}", rows) for i, rows in enumerate([1, 3, 4, 5, 17, 64])]
    safetensors_file.write(str(tmp_path / "made.safetensors"), tensors, {})
    loaded = load_file(str(tmp_path / "made.safetensors"))
    for tensor in tensors:
        np.testing.assert_array_equal(loaded[tensor.key], tensor.array)
    assert _band_threads() == []


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


@pytest.mark.parametrize("buffer", [4096, 16384])
@pytest.mark.parametrize("source", ["keras3/dtypes.keras", "keras3/nested.keras", "keras2/dtypes.h5"])
def test_tensors_larger_than_a_buffer_are_written_in_pieces(tmp_path, monkeypatch, source, buffer, writes):
    """Small buffers (and bands) force every path: tensors made band by band (transposes write their
    rows straight into the buffer), tensors loaded then copied in pieces, and rows wider than a buffer."""
    from converter.writers import safetensors_file
    from converter.writers.block_file import BlockFile

    streamed, plain = tmp_path / "streamed.safetensors", tmp_path / "plain.safetensors"
    monkeypatch.setattr(BlockFile, "BUFFER", buffer)
    monkeypatch.setattr(safetensors_file, "BAND", buffer)
    conversion = converter.convert(fixture(source), streamed)
    save_file(plain_state_dict(fixture(source)), str(plain), metadata=conversion.metadata())
    assert split(streamed) == split(plain)


@pytest.mark.parametrize("permutation", list(PERMUTATIONS.values()), ids=lambda p: p.source.value)
def test_rows_of_a_transform_equal_its_result(permutation):
    """What streaming writers ask of a transform: any band of rows, made alone, equals the result's."""
    shape = tuple(range(5, 5 + len(permutation.axes)))
    array = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    result = permutation.apply(array)
    fill = permutation.rows(array)
    for start, stop in [(0, 1), (1, 4), (0, result.shape[0]), (result.shape[0] - 1, result.shape[0])]:
        out = np.empty((stop - start,) + result.shape[1:], np.float32)
        fill(start, stop, out)
        np.testing.assert_array_equal(out, result[start:stop])


@pytest.mark.parametrize("mapped", [False, True], ids=["memory", "memmap"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 3, 16, 8), (1, 1, 64, 32), (5, 1, 7, 3), (2, 3, 3, 4, 6),
                                   (3, 3, 300, 700), (3, 3, 512, 1024), (5, 5, 160, 1030), (1, 1, 2048, 2048),
                                   (3, 3, 3, 4000, 50)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_kernel_permutation_equals_numpy(tmp_path, shape, dtype, mapped):
    """Small kernels, and kernels large enough for tiles on every core (k = 1, 9, 25 and 27 rows per group)."""
    from converter.transposes import channels_to_front

    array = (np.random.default_rng(1).random(shape) * 1000).astype(dtype)
    if mapped:
        array.tofile(tmp_path / "kernel.bin")
        array = np.memmap(tmp_path / "kernel.bin", dtype=dtype, mode="r", shape=shape)
    spatial = len(shape) - 2
    expected = np.ascontiguousarray(array.transpose((spatial + 1, spatial) + tuple(range(spatial))))
    result = channels_to_front(array)
    assert result.shape == expected.shape and result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)
    start = shape[-1] // 3  # a band of the result's rows, into an existing array
    band = np.zeros_like(expected[start:])
    assert channels_to_front(array, out=band, start=start) is band
    np.testing.assert_array_equal(band, expected[start:])


@settings(max_examples=300, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=5), itemsize=st.sampled_from([1, 2, 4, 8]),
       data=st.data())
def test_permuted_bytes_equal_numpys_transpose(shape, itemsize, data):
    """The numpy-free permutation of a small model's tensors gives numpy's bytes, for any shape and axes."""
    from converter.transposes import permuted_bytes

    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    array = np.random.default_rng(len(shape)).integers(0, 255, size=(*shape, itemsize), dtype=np.uint8)
    array = array.view(f"u{itemsize}")[..., 0]
    expected = np.ascontiguousarray(array.transpose(axes)).tobytes()
    assert permuted_bytes(array.tobytes(), tuple(shape), axes, itemsize) == expected
    assert permuted_bytes(array.tobytes() + b"x", tuple(shape), axes, itemsize) is None  # a size that is not its own
