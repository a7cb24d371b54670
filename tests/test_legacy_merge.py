"""Keras 2.0 and 2.1's legacy `Merge` layer: a Sequential whose first layer merges Sequential branches.

No Keras here writes such a file, so each is made as Keras 2.0 wrote it (keras/legacy/layers.py and
legacy_models.py of Keras 2.0.x): the model built in tf_keras as the functional model it computes (one input per
branch, the merge layer of its mode), saved, and its `.h5` rewritten: the model config as Keras 2.0's
`legacy_get_config` (a list whose first entry is the Merge, its branches' configs in its `layers`), the weights'
`layer_names` in `legacy_sequential_layers` order (each branch's layers, a shared branch once, then the layers after
the Merge), no group for the inputs nor the Merge. The functional model's outputs are the reference.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from layer_harness import randomize

MERGES = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum",
          "dot": "Dot"}


def _legacy_file(k: Any, branches: list[list[Any]], shapes: list[tuple], mode: str, after: list[Any],
                 path: Path, concat_axis: int = -1, dot_axes: Any = None, seed: int = 0) -> tuple[Any, list]:
    """Write `path` as Keras 2.0 wrote Sequential([Merge([Sequential(branch) ...], mode), *after]); return the
    functional tf_keras model computing the same, and random inputs for it. Branches given as the same list
    object are one branch used twice (a siamese network)."""
    inputs, ends, seen = [], [], {}
    for branch, shape in zip(branches, shapes):
        name = f"{branch[0].name}_input" + (f"_{len(inputs)}" if id(branch) in seen else "")
        x = inputs_i = k.Input(shape, name=name)
        for layer in branch:
            x = layer(x)
        inputs.append(inputs_i)
        ends.append(x)
        seen[id(branch)] = shape
    options = {"concat": {"axis": concat_axis}, "dot": {"axes": dot_axes}}.get(mode, {})
    x = getattr(k.layers, MERGES[mode])(name="merge_1", **options)(ends)
    for layer in after:
        x = layer(x)
    model = k.Model(inputs, x)
    randomize(model, seed=seed)
    model.save(str(path))

    def entry(layer: Any, shape: tuple | None = None) -> dict[str, Any]:
        config = layer.get_config()
        if shape is not None:
            config["batch_input_shape"] = [None, *shape]
        return {"class_name": type(layer).__name__, "config": config}

    merge = {"name": "merge_1", "mode": mode, "mode_type": "raw", "concat_axis": concat_axis,
             "dot_axes": dot_axes if dot_axes is not None else -1, "output_shape": None, "output_shape_type": "raw",
             "output_mask": None, "output_mask_type": "raw", "arguments": {},
             "layers": [{"class_name": "Sequential",
                         "config": [entry(layer, shape if i == 0 else None) for i, layer in enumerate(branch)]}
                        for branch, shape in zip(branches, shapes)]}
    stored = [*dict.fromkeys(layer.name for branch in branches for layer in branch), *(layer.name for layer in after)]
    with h5py.File(path, "a") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                               "config": [{"class_name": "Merge", "config": merge},
                                                          *[entry(layer) for layer in after]]})
        h5.attrs["keras_version"] = "2.0.6"
        weights = h5["model_weights"]
        for name in list(weights):
            if name not in stored:
                del weights[name]
        weights.attrs["layer_names"] = np.array([name.encode() for name in stored])
    rng = np.random.default_rng(seed + 1)
    arrays = [rng.normal(size=(4, *shape)).astype("float32") if len(shape) != 1 or not isinstance(
        branch[0], k.layers.Embedding) else rng.integers(0, 9, size=(4, *shape)).astype("float32")
        for branch, shape in zip(branches, shapes)]
    return model, arrays


def _outputs(path: Path, arrays: list[np.ndarray], layout: str = "keras") -> np.ndarray:
    module = converter.to_torch(str(path), input_layout=layout)
    module.eval()
    inputs = [torch.from_numpy(np.moveaxis(a, -1, 1).copy() if layout == "torch" and a.ndim == 4 else a)
              for a in arrays]
    with torch.no_grad():
        return module(*inputs).numpy()


def _images_and_vectors(k: Any) -> tuple[list[list[Any]], list[tuple]]:
    images = [k.layers.Conv2D(3, (3, 2), activation="relu", name="conv2d_1"),
              k.layers.BatchNormalization(name="batch_normalization_1"), k.layers.Flatten(name="flatten_1")]
    vectors = [k.layers.Dense(5, activation="tanh", name="dense_1")]
    return [images, vectors], [(6, 5, 2), (7,)]


@pytest.mark.parametrize("mode", sorted(MERGES))
def test_each_merge_mode_converts_to_what_keras_2_computed(tmp_path, mode):
    import tf_keras as k

    left = [k.layers.Dense(6, activation="relu", name="dense_1"), k.layers.Dense(4, name="dense_2")]
    right = [k.layers.Dense(4, activation="sigmoid", name="dense_3")]
    after = [k.layers.Dense(3, name="dense_4")]
    model, arrays = _legacy_file(k, [left, right], [(5,), (3,)], mode, after, tmp_path / "merged.h5",
                                 dot_axes=[1, 1] if mode == "dot" else None)
    np.testing.assert_allclose(_outputs(tmp_path / "merged.h5", arrays), model(arrays).numpy(), atol=1e-5)


@pytest.mark.parametrize("layout", ["keras", "torch"])
def test_images_and_vectors_concatenated(tmp_path, layout):
    import tf_keras as k

    branches, shapes = _images_and_vectors(k)
    model, arrays = _legacy_file(k, branches, shapes, "concat", [k.layers.Dense(2, name="dense_2")],
                                 tmp_path / "merged.h5", seed=3)
    np.testing.assert_allclose(_outputs(tmp_path / "merged.h5", arrays, layout), model(arrays).numpy(), atol=1e-5)


def test_image_branches_concatenated_along_channels_in_torch_layout(tmp_path):
    import tf_keras as k

    left = [k.layers.Conv2D(2, 3, padding="same", name="conv2d_1")]
    right = [k.layers.Conv2D(3, 1, name="conv2d_2"), k.layers.BatchNormalization(name="batch_normalization_1")]
    after = [k.layers.Conv2D(2, 2, name="conv2d_3"), k.layers.Flatten(name="flatten_1"),
             k.layers.Dense(3, name="dense_1")]
    model, arrays = _legacy_file(k, [left, right], [(5, 6, 2), (5, 6, 1)], "concat", after, tmp_path / "m.h5",
                                 seed=5)
    for layout in ("keras", "torch"):
        np.testing.assert_allclose(_outputs(tmp_path / "m.h5", arrays, layout), model(arrays).numpy(), atol=1e-5)


def test_sequences_concatenated(tmp_path):
    import tf_keras as k

    words = [k.layers.Embedding(9, 4, name="embedding_1"), k.layers.LSTM(3, name="lstm_1")]
    signal = [k.layers.Conv1D(2, 3, name="conv1d_1"), k.layers.GlobalMaxPooling1D(name="global_max_pooling1d_1")]
    model, arrays = _legacy_file(k, [words, signal], [(6,), (7, 2)], "concat", [k.layers.Dense(2, name="dense_1")],
                                 tmp_path / "m.h5", seed=2)
    np.testing.assert_allclose(_outputs(tmp_path / "m.h5", arrays), model(arrays).numpy(), atol=1e-5)


def test_a_branch_merged_with_itself_shares_its_weights(tmp_path):
    """Merge([encoder, encoder]): Keras stored the encoder's layers once; both inputs run through them."""
    import tf_keras as k

    encoder = [k.layers.Dense(5, activation="relu", name="dense_1"), k.layers.Dense(3, name="dense_2")]
    model, arrays = _legacy_file(k, [encoder, encoder], [(4,), (4,)], "concat", [k.layers.Dense(1, name="dense_3")],
                                 tmp_path / "siamese.h5", seed=8)
    with h5py.File(tmp_path / "siamese.h5", "r") as h5:
        assert sorted(h5["model_weights"]) == ["dense_1", "dense_2", "dense_3"]
    assert not np.allclose(arrays[0], arrays[1])
    np.testing.assert_allclose(_outputs(tmp_path / "siamese.h5", arrays), model(arrays).numpy(), atol=1e-5)
    assert sorted(converter.state_dict(str(tmp_path / "siamese.h5"))) == [
        f"dense_{i}.{kind}" for i in (1, 2, 3) for kind in ("bias", "weight")]


def test_verify_builds_the_functional_model_keras_2_meant(tmp_path):
    import tf_keras as k

    branches, shapes = _images_and_vectors(k)
    _legacy_file(k, branches, shapes, "concat", [k.layers.Dense(2, name="dense_2")], tmp_path / "m.h5", seed=4)
    report = converter.verify(str(tmp_path / "m.h5"), samples=3, per_layer=True)
    assert report.ok, report.to_text()
    assert any("legacy Merge" in note for note in report.notes)
    assert not any("CuDNN" in note or "reset_after" in note for note in report.notes)
    result = run_cli("verify", str(tmp_path / "m.h5"), "--samples", "2")
    assert result.returncode == 0, result.stderr


def _config_edited(path: Path, edit: Any) -> None:
    with h5py.File(path, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config["config"][0]["config"])
        h5.attrs["model_config"] = json.dumps(config)


@pytest.mark.parametrize("edit, message", [
    (lambda merge: merge.update(mode="cos"), "mode 'cos'"),
    (lambda merge: merge.update(mode="...lambda bytes...", mode_type="lambda"), "Python function"),
    (lambda merge: merge.update(mode="stack"), "unknown merge mode 'stack'"),
    (lambda merge: merge["layers"][0].update(class_name="Model", config={"name": "m", "layers": []}),
     "is a model of class Model"),
    (lambda merge: merge["layers"][1]["config"].insert(0, {"class_name": "Merge", "config": {"name": "merge_0"}}),
     "legacy Merge of its own"),
    (lambda merge: merge.update(layers=merge["layers"][:1]), "has 1 branch, where"),
])
def test_what_is_not_read_is_refused_by_name(tmp_path, edit, message):
    import tf_keras as k

    left, right = [k.layers.Dense(2, name="dense_1")], [k.layers.Dense(2, name="dense_2")]
    _legacy_file(k, [left, right], [(3,), (3,)], "sum", [], tmp_path / "m.h5")
    _config_edited(tmp_path / "m.h5", edit)
    with pytest.raises(converter.ConverterError, match=message):
        converter.to_torch(str(tmp_path / "m.h5"))
    result = run_cli("convert", str(tmp_path / "m.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "legacy Merge" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def test_weights_saved_alone_convert_and_verify_with_the_architecture(tmp_path):
    """Keras 2.0's save_weights stored the same layers (legacy_sequential_layers) at the file's root, and to_json
    the same config: given as --architecture, the functional model it stands for is built."""
    import tf_keras as k

    branches, shapes = _images_and_vectors(k)
    model, arrays = _legacy_file(k, branches, shapes, "concat", [k.layers.Dense(2, name="dense_2")],
                                 tmp_path / "m.h5", seed=6)
    with h5py.File(tmp_path / "m.h5", "r") as full, h5py.File(tmp_path / "weights.h5", "w") as weights:
        for name in full["model_weights"]:
            full.copy(full["model_weights"][name], weights, name)
        for key, value in full["model_weights"].attrs.items():
            weights.attrs[key] = value
        (tmp_path / "model.json").write_text(full.attrs["model_config"])
    module = converter.to_torch(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"),
                                input_layout="keras")
    module.eval()
    with torch.no_grad():
        got = module(*[torch.from_numpy(a) for a in arrays]).numpy()
    np.testing.assert_allclose(got, model(arrays).numpy(), atol=1e-5)
    report = converter.verify(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"), samples=3)
    assert report.ok and any("legacy Merge" in note for note in report.notes), report.to_text()


@pytest.mark.parametrize("mode", ["concat", "mul", "dot"])
def test_a_functional_merge_call_converts_and_verifies(tmp_path, mode):
    """Keras 2.0's functional `merge([a, b], mode=...)` made a Merge layer in a functional model, given the merged
    layers: its dot_axes recorded as two axes counted from the front."""
    import tf_keras as k

    first, second = k.Input((3, 4), name="first"), k.Input((3, 4), name="second")
    a = k.layers.Dense(4, activation="relu", name="dense_1")(first)
    b = k.layers.LSTM(4, return_sequences=True, name="lstm_1")(second)
    layer = {"concat": k.layers.Concatenate(axis=1, name="merge_1"), "mul": k.layers.Multiply(name="merge_1"),
             "dot": k.layers.Dot(axes=[2, 2], name="merge_1")}[mode]
    model = k.Model([first, second], k.layers.Dense(2, name="dense_2")(k.layers.Flatten(name="flatten_1")(
        layer([a, b]))))
    randomize(model, seed=9)
    model.save(str(tmp_path / "m.h5"))
    with h5py.File(tmp_path / "m.h5", "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        (entry,) = [entry for entry in config["config"]["layers"] if entry["name"] == "merge_1"]
        entry["class_name"] = "Merge"
        entry["config"] = {"name": "merge_1", "mode": mode, "mode_type": "raw", "concat_axis": 1,
                           "dot_axes": [2, 2] if mode == "dot" else -1, "output_shape": None,
                           "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw",
                           "arguments": {}}
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = "2.0.8"
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(4, 3, 4)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(_outputs(tmp_path / "m.h5", arrays), model(arrays).numpy(), atol=1e-5)
    report = converter.verify(str(tmp_path / "m.h5"), samples=3, per_layer=True)
    assert report.ok and any("legacy Merge" in note for note in report.notes), report.to_text()
    if mode == "dot":  # axes Keras did not count from the front: K.batch_dot read them otherwise than Dot does
        for axes in (-1, [-1, -1], [2]):
            with h5py.File(tmp_path / "m.h5", "a") as h5:
                config = json.loads(h5.attrs["model_config"])
                (entry,) = [entry for entry in config["config"]["layers"] if entry["name"] == "merge_1"]
                entry["config"]["dot_axes"] = axes
                h5.attrs["model_config"] = json.dumps(config)
            with pytest.raises(converter.ConverterError, match="mode 'dot' along dot_axes"):
                converter.to_torch(str(tmp_path / "m.h5"))
