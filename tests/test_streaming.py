"""Streaming conversion: identical bytes to the plain path, shards through their index, fast transposes."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import converter
from converter.layouts import transpose_2d
from converter.progress import ProgressBar
from helpers import fixture, run_cli


def plain_state_dict(source: str, layout: str = "torch") -> dict[str, np.ndarray]:
    return converter.state_dict(source, layout=layout)


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("source", ["keras3/dtypes.keras", "keras3/nested.keras", "keras2/mlp.h5"])
def test_streamed_safetensors_is_bit_identical_to_the_library(tmp_path, source, layout):
    """The plain path: every tensor in memory, written by safetensors itself. The data bytes are
    identical and so is the header's content (the library orders __metadata__ as a hash map)."""
    streamed, plain = tmp_path / "streamed.safetensors", tmp_path / "plain.safetensors"
    conversion = converter.convert(fixture(source), streamed, layout=layout)
    save_file(plain_state_dict(fixture(source), layout), str(plain), metadata=conversion.metadata())
    (streamed_header, streamed_data), (plain_header, plain_data) = split(streamed), split(plain)
    assert streamed_header == plain_header
    assert list(streamed_header) == list(plain_header)  # the same tensor order
    assert streamed_data == plain_data


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


@pytest.mark.parametrize("shape", [(3, 5), (300, 7), (1000, 4097), (4099, 1000), (2048, 2048)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_blocked_transpose_equals_numpy(shape, dtype):
    array = (np.random.default_rng(0).random(shape) * 1000).astype(dtype)
    result = transpose_2d(array)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, np.ascontiguousarray(array.T))


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras2/mlp.h5", "keras3/mlp.weights.h5"])
def test_tensors_are_memory_mapped_not_read(source):
    with converter.read(fixture(source)) as graph:
        kernels = [tensor for _, tensor in graph.tensors() if tensor.role == "kernel"]
        assert kernels and all(isinstance(tensor.load(), np.memmap) for tensor in kernels)


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


@pytest.mark.parametrize("folder", ["tmp", "/dev/shm"])
def test_direct_file_writes_exactly_what_it_is_given(tmp_path, folder):
    """On a disk O_DIRECT is used (padded blocks, then truncated); on tmpfs it is refused and
    the file is written buffered. Either way the bytes are the same."""
    from converter.writers.safetensors_file import DirectFile

    base = tmp_path if folder == "tmp" else folder
    if not os.path.isdir(base):
        pytest.skip("no /dev/shm here")
    path = os.path.join(base, f"direct_{os.getpid()}.bin")
    data = payload()
    try:
        with DirectFile(path) as handle:
            handle.write(data[:10])
            handle.write(data[10:])
        with open(path, "rb") as check:
            assert check.read() == data
    finally:
        os.remove(path)


def test_direct_file_falls_back_when_a_direct_write_is_refused(tmp_path, monkeypatch):
    from converter.writers import safetensors_file

    real_write, refused = os.write, []

    def refuse_direct(fd, data):
        if not refused and len(data) % 4096 == 0:
            refused.append(True)
            raise OSError(22, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(safetensors_file.os, "write", refuse_direct)
    path, data = str(tmp_path / "fallback.bin"), payload()
    with safetensors_file.DirectFile(path) as handle:
        handle.write(data)
    assert refused and open(path, "rb").read() == data


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 3, 16, 8), (1, 1, 64, 32), (5, 1, 7, 3), (2, 3, 3, 4, 6),
                                   (3, 3, 300, 700)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint16"])
def test_kernel_permutation_equals_numpy(shape, dtype):
    from converter.layouts import channels_to_front

    array = (np.random.default_rng(1).random(shape) * 1000).astype(dtype)
    spatial = len(shape) - 2
    expected = np.ascontiguousarray(array.transpose((spatial + 1, spatial) + tuple(range(spatial))))
    result = channels_to_front(array)
    assert result.shape == expected.shape and result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)
