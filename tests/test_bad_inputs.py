"""Bad input gives one line on stderr, exit code 2, no traceback and no output file."""
from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers import fixture, run_cli


def make_empty(folder: Path) -> Path:
    path = folder / "empty.h5"
    path.write_bytes(b"")
    return path


def make_truncated_h5(folder: Path) -> Path:
    path = folder / "truncated.h5"
    path.write_bytes(Path(fixture("keras2/mlp.h5")).read_bytes()[:4000])
    return path


def make_truncated_tail_h5(folder: Path) -> Path:
    """The header survives, the weights do not: fails while reading a tensor."""
    path = folder / "truncated_tail.h5"
    data = Path(fixture("keras2/mlp.h5")).read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def make_truncated_keras(folder: Path) -> Path:
    path = folder / "truncated.keras"
    data = Path(fixture("keras3/mlp.keras")).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_not_hdf5(folder: Path) -> Path:
    path = folder / "model.h5"
    path.write_text("this is a text file, not a model\n")
    return path


def make_foreign_hdf5(folder: Path) -> Path:
    path = folder / "data.h5"
    with h5py.File(path, "w") as h5:
        h5["images"] = np.zeros((2, 3))
    return path


def make_zip_without_config(folder: Path) -> Path:
    path = folder / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", b"")
    return path


def make_directory(folder: Path) -> Path:
    path = folder / "saved_model"
    path.mkdir()
    return path


def make_missing(folder: Path) -> Path:
    return folder / "missing.keras"


LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:92d6207eedd0c3de4cf64f23c8746aa90c385820405e489757a32dfb00e7802a\nsize 487203636\n")


def make_lfs_pointer(folder: Path) -> Path:
    """A clone without `git lfs pull`: the pointer file stands where the model should be."""
    path = folder / "tf_model.h5"
    path.write_text(LFS_POINTER)
    return path


def make_lfs_checkpoint(folder: Path) -> Path:
    (folder / "ckpt.index").write_text(LFS_POINTER)
    (folder / "ckpt.data-00000-of-00001").write_text(LFS_POINTER)
    return folder / "ckpt.index"


def make_torch_checkpoint(folder: Path) -> Path:
    """A PyTorch checkpoint saved under a Keras name (found in a public repository as model.hdf5)."""
    import torch

    path = folder / "model.hdf5"
    torch.save({"fc.weight": torch.ones(2, 3)}, path)
    return path


def make_torch_legacy_checkpoint(folder: Path) -> Path:
    import torch

    path = folder / "model.h5"
    torch.save({"fc.weight": torch.ones(2, 3)}, path, _use_new_zipfile_serialization=False)
    return path


def make_pickle(folder: Path) -> Path:
    import pickle

    path = folder / "model.h5"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    return path


def make_npy(folder: Path) -> Path:
    path = folder / "weights.h5"
    with open(path, "wb") as handle:
        np.save(handle, np.ones((2, 3), np.float32))
    return path


def make_npz(folder: Path) -> Path:
    path = folder / "model.keras"
    with open(path, "wb") as handle:
        np.savez(handle, kernel=np.ones((2, 3), np.float32))
    return path


def make_safetensors(folder: Path) -> Path:
    from safetensors.numpy import save_file

    path = folder / "model.h5"
    save_file({"dense.weight": np.ones((2, 3), np.float32)}, str(path))
    return path


def make_gzip(folder: Path) -> Path:
    import gzip

    path = folder / "model.h5"
    path.write_bytes(gzip.compress(Path(fixture("keras2/mlp.h5")).read_bytes()))
    return path


def make_web_page(folder: Path) -> Path:
    """What `wget https://github.com/OWNER/REPO/blob/main/model.h5` saves."""
    path = folder / "model.h5"
    path.write_text('\n\n<!DOCTYPE html>\n<html lang="en" data-color-mode="auto">\n<head><meta charset="utf-8">')
    return path


def make_jpeg(folder: Path) -> Path:
    """A JPEG's start (SOI and the JFIF segment) under a model's name (found in a public repository)."""
    path = folder / "generator.h5"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64))
    return path


def make_png(folder: Path) -> Path:
    """A 1x1 grey PNG, built chunk by chunk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = folder / "model.h5"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))
    return path


def make_model_config_json(folder: Path) -> Path:
    """model.to_json() written alone, as a real repository's model.json beside its weights.best.hdf5."""
    path = folder / "model.json"
    with h5py.File(fixture("keras2/mlp.h5"), "r") as h5:
        path.write_text(h5.attrs["model_config"])
    return path


CASES = {
    "empty": (make_empty, "empty"),
    "truncated_h5": (make_truncated_h5, "truncated"),
    "truncated_tail_h5": (make_truncated_tail_h5, "truncated"),
    "truncated_keras": (make_truncated_keras, "truncated"),
    "not_hdf5": (make_not_hdf5, "neither a zip archive nor an HDF5 file"),
    "foreign_hdf5": (make_foreign_hdf5, "not one Keras wrote"),
    "zip_without_config": (make_zip_without_config, "without config.json"),
    "directory": (make_directory, "is a directory"),
    "missing": (make_missing, "no such file"),
    "lfs_pointer": (make_lfs_pointer, "a Git LFS pointer to a 487.2 MB file"),
    "lfs_checkpoint": (make_lfs_checkpoint, "a Git LFS pointer to a 487.2 MB file"),
    # files that are not Keras's, named for what they are
    "torch_checkpoint": (make_torch_checkpoint, "a PyTorch checkpoint (torch.save), not a Keras file"),
    "torch_legacy_checkpoint": (make_torch_legacy_checkpoint, "a PyTorch checkpoint (torch.save before PyTorch 1.6)"),
    "pickle": (make_pickle, "a Python pickle"),
    "npy": (make_npy, "a NumPy array (.npy"),
    "npz": (make_npz, "a NumPy archive (.npz"),
    "safetensors": (make_safetensors, "a safetensors file"),
    "gzip": (make_gzip, "gzip-compressed: decompress it"),
    "web_page": (make_web_page, "a web page, not a model"),
    "png": (make_png, "a PNG image, not a model file"),
    "jpeg": (make_jpeg, "a JPEG image, not a model file"),
    "model_config_json": (make_model_config_json, "a Keras model config (model.to_json()), which holds no weights"),
}


# inspect reads no tensor data, so a file truncated after its header only fails convert.
RUNS = [(case, command) for case in sorted(CASES) for command in ("convert", "inspect")
        if (case, command) != ("truncated_tail_h5", "inspect")]


@pytest.mark.parametrize("case, command", RUNS)
def test_bad_input_is_one_line_exit_2_no_output(tmp_path, case, command):
    make, expected_words = CASES[case]
    bad = make(tmp_path)
    destination = tmp_path / "out" / "weights.safetensors"
    destination.parent.mkdir()
    arguments = ["convert", str(bad), str(destination)] if command == "convert" else ["inspect", str(bad)]
    result = run_cli(*arguments)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("weightport: error: ")
    assert str(bad) in lines[0] and expected_words in lines[0]
    assert "Traceback" not in result.stderr
    assert list(destination.parent.iterdir()) == []


def test_usage_error_exits_2():
    result = run_cli("convert", fixture("keras3/mlp.keras"))
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_unknown_layout_exits_2(tmp_path):
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "o.npz"), "--layout", "tf")
    assert result.returncode == 2
    assert not (tmp_path / "o.npz").exists()


def test_tflite_file_is_named(tmp_path):
    """A TensorFlow Lite flatbuffer made by TensorFlow's own converter: named, and the Keras model asked for."""
    tf = pytest.importorskip("tensorflow")
    double = tf.function(lambda x: x * 2.0 + 1.0, input_signature=[tf.TensorSpec([1, 3], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([double.get_concrete_function()], double)
    path = tmp_path / "model.h5"
    path.write_bytes(converter.convert())
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "a TensorFlow Lite model (.tflite)" in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def test_tensorflow_protobufs_are_named(tmp_path):
    """A frozen graph (GraphDef, as tf.compat.v1's freeze_graph wrote; seen as a real repository's `model.pb`)
    and a SavedModel's saved_model.pb under another name, both written by TensorFlow."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    module = tf.Module()
    module.kernel = tf.Variable(np.arange(6, dtype="float32").reshape(3, 2))
    module.call = tf.function(lambda x: tf.matmul(x, module.kernel), input_signature=[tf.TensorSpec([None, 3])])
    frozen = convert_variables_to_constants_v2(module.call.get_concrete_function())
    (tmp_path / "frozen.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())
    tf.saved_model.save(module, str(tmp_path / "saved"))
    (tmp_path / "model.pb").write_bytes((tmp_path / "saved" / "saved_model.pb").read_bytes())
    for name, words in [("frozen.pb", "a TensorFlow frozen graph (a GraphDef .pb)"),
                        ("model.pb", "a TensorFlow SavedModel's saved_model.pb under another name")]:
        result = run_cli("convert", str(tmp_path / name), str(tmp_path / "out.safetensors"))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
        assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("layer, change", [("lstm", "scalar"), ("lstm", "flattened"), ("conv", "scalar"),
                                           ("conv", "flattened"), ("head", "scalar"), ("norm", "scalar"),
                                           ("head", "empty"), ("lstm", "empty")])
def test_a_kernel_of_another_rank_than_keras_stores_is_refused_by_name(tmp_path, layer, change):
    """A kernel (a GroupNormalization's gamma) stored as a scalar, flattened or empty (a damaged or crafted file):
    an LSTM's and a GroupNormalization's scalar stopped with "IndexError: tuple index out of range", an empty
    attention kernel with "cannot reshape array of size 0" (exit 70, found by mutating saved weights). A kernel's
    rank and sizes are checked where tensors get their layout, for every kind."""
    import tf_keras

    inputs = tf_keras.Input((6, 3))
    x = tf_keras.layers.Conv1D(4, 2, name="conv")(inputs)
    x = tf_keras.layers.GroupNormalization(2, name="norm")(x)
    x = tf_keras.layers.LSTM(5, name="lstm")(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="head")(x))
    path = tmp_path / "model.h5"
    model.save(path)
    stored_as = {"lstm": "lstm_cell/kernel:0", "norm": "gamma:0"}.get(layer, "kernel:0")
    kernel = f"model_weights/{layer}/{layer}/{stored_as}"
    with h5py.File(path, "r+") as file:
        stored = file[kernel][()]
        del file[kernel]
        file[kernel] = np.float32(1.5) if change == "scalar" else stored[:0] if change == "empty" else \
            stored.reshape(-1)
    destination = tmp_path / "out" / "weights.safetensors"
    destination.parent.mkdir()
    result = run_cli("convert", str(path), str(destination))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    role = "gamma" if layer == "norm" else "kernel"
    assert f"{role} of layer {layer} " in result.stderr and ("axes" in result.stderr or "per channel" in result.stderr)
    assert list(destination.parent.iterdir()) == []


def test_attention_kernels_of_different_dtypes_are_refused_by_name(tmp_path):
    """A crafted file whose MultiHeadAttention query kernel is int32 beside float32 key and value kernels: packed
    into one in_proj_weight, the writer stopped with "Cannot cast array data from dtype('float64')" (exit 70,
    found by mutating saved weights)."""
    import tf_keras

    inputs = tf_keras.Input((4, 6))
    model = tf_keras.Model(inputs, tf_keras.layers.MultiHeadAttention(2, 3, name="mha")(inputs, inputs))
    path = tmp_path / "model.h5"
    model.save(path)
    kernel = "model_weights/mha/mha/query/kernel:0"
    with h5py.File(path, "r+") as file:
        stored = file[kernel][()]
        del file[kernel]
        file[kernel] = (stored * 10).astype("int32")
    destination = tmp_path / "out" / "weights.safetensors"
    destination.parent.mkdir()
    result = run_cli("convert", str(path), str(destination))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "layer mha (MultiHeadAttention)" in result.stderr and "different dtypes (float32, int32)" in result.stderr
    assert list(destination.parent.iterdir()) == []
