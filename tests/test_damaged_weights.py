"""Every stored tensor of small real models damaged in turn (a scalar, flattened, an extra axis, emptied, integers,
strings): converting and building end in a conversion or a ConverterError, never another exception.

A weight-file mutation sweep found three such crashes (exit 70): a scalar recurrent kernel or GroupNormalization
gamma (IndexError), an emptied attention kernel ("cannot reshape array of size 0"), an int32 query kernel packed
with float32 key and value kernels ("Cannot cast array data")."""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import converter

CHANGES = ("scalar", "flattened", "extra_axis", "emptied", "int32", "strings")


def build(keras):
    """Convolution, GroupNormalization, BatchNormalization, LSTM, GRU, MultiHeadAttention, Dense: the kinds whose
    rules read their tensors' axes."""
    layers = keras.layers
    inputs = keras.Input((6, 4))
    x = layers.Conv1D(4, 2, padding="same", name="conv")(inputs)
    x = layers.GroupNormalization(2, name="group_norm")(x)
    x = layers.BatchNormalization(name="batch_norm")(x)
    x = layers.MultiHeadAttention(2, 2, name="attention")(x, x)  # fits nn.MultiheadAttention: q, k, v packed
    x = layers.GRU(3, return_sequences=True, name="gru")(x)
    x = layers.LSTM(3, name="lstm")(x)
    return keras.Model(inputs, layers.Dense(2, name="head")(x))


def damaged(data: np.ndarray, change: str) -> np.ndarray:
    if change == "scalar":
        return np.asarray(np.float32(1.5))
    if change == "flattened":
        return data.reshape(-1)
    if change == "extra_axis":
        return data[None]
    if change == "emptied":
        return data.reshape(-1)[:0].reshape((0,) + data.shape[1:]) if data.ndim else np.zeros((0,), np.float32)
    if change == "int32":
        return (data * 10).astype(np.int32)
    return np.array([b"abc"] * max(1, data.size))


def datasets(file: h5py.File) -> list[str]:
    names: list[str] = []
    file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return [name for name in names if "optimizer" not in name]


def write_damaged(base: Path, weights: bytes | None, name: str, change: str, path: Path) -> None:
    """`base` with dataset `name` changed: in the file itself (.h5), or in its model.weights.h5 (.keras)."""
    if weights is None:
        path.write_bytes(base.read_bytes())
        with h5py.File(path, "r+") as file:
            stored = np.asarray(file[name][()])
            del file[name]
            file[name] = damaged(stored, change)
        return
    inner = path.with_suffix(".inner.h5")
    inner.write_bytes(weights)
    with h5py.File(inner, "r+") as file:
        stored = np.asarray(file[name][()])
        del file[name]
        file[name] = damaged(stored, change)
    with zipfile.ZipFile(base) as archive, zipfile.ZipFile(path, "w") as out:
        for item in archive.infolist():
            out.writestr(item, inner.read_bytes() if item.filename == "model.weights.h5" else archive.read(item))


@pytest.mark.parametrize("writer", ["keras2", "keras3"])
def test_every_damaged_tensor_converts_or_is_refused(tmp_path, writer):
    if writer == "keras3":
        import keras
    else:
        import tf_keras as keras
    base = tmp_path / ("base.keras" if writer == "keras3" else "base.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(keras).save(base)
    weights = zipfile.ZipFile(base).read("model.weights.h5") if writer == "keras3" else None
    listed = base
    if weights is not None:
        listed = tmp_path / "weights.h5"
        listed.write_bytes(weights)
    with h5py.File(listed, "r") as file:
        names = datasets(file)
    assert len(names) >= 20
    crashes = []
    for name in names:
        for change in CHANGES:
            path = tmp_path / f"damaged{base.suffix}"
            write_damaged(base, weights, name, change, path)
            try:
                converter.convert(str(path), tmp_path / "out.safetensors", force=True)
                converter.to_torch(str(path))
            except converter.ConverterError:
                continue
            except Exception as error:  # noqa: BLE001 - any other exception is the bug this test finds
                crashes.append(f"{name} {change}: {type(error).__name__}: {str(error)[:80]}")
    assert not crashes, "\n".join(crashes)

