"""`.keras` files that tf.keras 2.13-2.15 wrote on Windows: each layer's group one root-level link named with
backslashes (`layers\\lstm\\cell`, holding `vars/0`...), as two public repositories' real files are. Made here
from a tf_keras file by renaming its groups so, the one difference between the two writers."""
from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from layer_harness import randomize


def _windows_copy(source: Path, target: Path, conflict: bool = False) -> None:
    """`source` (a tf_keras `.keras`) with each layer's `vars` under a root group named by its path joined with
    backslashes; `conflict` also stores a layer's `vars` a second time under a name that spells the same path."""
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    original, converted = target.with_suffix(".orig.h5"), target.with_suffix(".win.h5")
    original.write_bytes(members["model.weights.h5"])
    with h5py.File(original, "r") as old, h5py.File(converted, "w") as new:
        paths: list[str] = []
        old.visit(lambda name: paths.append(name) if name.endswith("/vars") and name.startswith("layers/") else None)
        assert paths, "tf_keras wrote no layers/ groups"
        for name in paths:
            parent = name.rsplit("/", 1)[0].replace("/", "\\")
            old.copy(old[name], new.require_group(parent), "vars")
        if conflict:
            old.copy(old["layers/dense/vars"], new, "layers\\dense\\vars")  # beside `layers\dense` with its vars
        for name in old:
            if name != "layers":
                old.copy(old[name], new, name)
    members["model.weights.h5"] = converted.read_bytes()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    import tf_keras as k

    folder = tmp_path_factory.mktemp("windows")
    model = k.Sequential([k.Input((7, 5)), k.layers.LSTM(4), k.layers.BatchNormalization(), k.layers.Dense(3),
                          k.layers.Dense(2)])
    randomize(model, seed=11)
    model.save(str(folder / "linux.keras"))
    _windows_copy(folder / "linux.keras", folder / "windows.keras")
    return model, folder


def test_backslash_paths_read_as_the_tree_they_spell(model_files):
    model, folder = model_files
    with h5py.File(folder / "windows.win.h5", "r") as h5:
        assert "layers" not in h5 and "layers\\lstm\\cell" in h5  # the shape of the real files
    windows, linux = (converter.state_dict(str(folder / f"{name}.keras")) for name in ("windows", "linux"))
    assert sorted(windows) == sorted(linux) and len(windows) > 10
    for key in linux:
        np.testing.assert_array_equal(windows[key], linux[key], err_msg=key)
    x = np.random.default_rng(3).normal(size=(4, 7, 5)).astype("float32")
    module = converter.to_torch(str(folder / "windows.keras"), input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(actual, model(x).numpy(), atol=1e-5)


def test_inspect_and_verify_say_the_file_was_written_on_windows(model_files):
    _, folder = model_files
    report = converter.inspect(str(folder / "windows.keras")).to_text()
    assert "written on Windows" in report
    assert "written on Windows" not in converter.inspect(str(folder / "linux.keras")).to_text()
    result = run_cli("verify", str(folder / "windows.keras"), "--per-layer")  # Keras given the weights read
    assert result.returncode == 0, result.stderr
    assert "on Windows" in result.stdout and "every layer matches" in result.stdout


def test_verify_places_each_weight_where_keras_keeps_it(tmp_path):
    """Keras loads the weights read, each written where its own save_weights keeps the variable: a layer whose
    weights lie in several groups (MultiHeadAttention's four projections, which the file lists key, output, query,
    value; Bidirectional's two directions) verifies. Given in the order read, query's weights went to key (and
    Keras stopped on the shapes)."""
    import tf_keras as k

    x = k.Input((4, 6))
    h = k.layers.Bidirectional(k.layers.GRU(3, return_sequences=True))(x)
    model = k.Model(x, k.layers.MultiHeadAttention(2, 3, value_dim=4)(h, h))
    randomize(model, seed=4)
    model.save(str(tmp_path / "linux.keras"))
    _windows_copy(tmp_path / "linux.keras", tmp_path / "windows.keras")
    with converter.read(str(tmp_path / "windows.keras")) as graph:
        attention = next(layer for layer in graph.walk() if layer.class_name == "MultiHeadAttention")
        assert "query" not in attention.tensors[0].source  # not Keras's order: placing them in order would fail
    report = converter.verify(str(tmp_path / "windows.keras"), samples=3, per_layer=True)
    assert report.ok and any("save_weights" in note for note in report.notes), report.to_text()


def test_two_links_spelling_one_path_are_refused(model_files, tmp_path):
    _, folder = model_files
    _windows_copy(folder / "linux.keras", tmp_path / "twice.keras", conflict=True)
    with pytest.raises(converter.ReadError, match="names two objects"):
        converter.state_dict(str(tmp_path / "twice.keras"))
