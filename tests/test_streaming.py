"""Streaming conversion: identical bytes to the plain path, shards through their index, memory-mapped reads,
progress, tensors written in pieces (the transposes: test_transposes.py; the block writer: test_block_writes.py)."""
from __future__ import annotations

import io
import json
import mmap
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import converter
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
