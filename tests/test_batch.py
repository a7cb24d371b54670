"""Many models at once: files, folders and globs into one folder, a summary, failures as rows."""
from __future__ import annotations

import shutil

import numpy as np
from safetensors.numpy import load_file

import converter
from helpers import fixture, run_cli


def _zoo(folder):
    zoo = folder / "zoo"
    zoo.mkdir()
    shutil.copy(fixture("keras3/mlp.keras"), zoo / "a.keras")
    shutil.copy(fixture("keras2/nested.h5"), zoo / "b.h5")
    (zoo / "broken.h5").write_bytes(b"not an HDF5 file at all")
    (zoo / "notes.txt").write_text("not a model")
    return zoo


def test_cli_converts_a_folder_and_reports_each_model(tmp_path):
    zoo, out = _zoo(tmp_path), tmp_path / "out"
    out.mkdir()
    result = run_cli("convert", str(zoo), "--out-dir", str(out), "--jobs", "2")
    assert result.returncode == 2, result.stderr  # one failed; the others are written
    assert sorted(path.name for path in out.iterdir()) == ["a.safetensors", "b.safetensors"]
    table = result.stdout
    assert "broken.h5" in table and "failed:" in table and "2 of 3 converted, 1 failed" in table
    assert "notes.txt" not in table
    for name, source in (("a", "keras3/mlp.keras"), ("b", "keras2/nested.h5")):
        _written_as_converted(out / f"{name}.safetensors", fixture(source))


def _written_as_converted(written_path, source) -> None:
    """A batch's output file holds what converting its source alone gives."""
    written, expected = load_file(str(written_path)), converter.state_dict(str(source))
    assert set(written) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(written[key], value)


def test_python_api_and_options(tmp_path):
    zoo, out = _zoo(tmp_path), tmp_path / "out"
    out.mkdir()
    items = converter.convert_many([str(zoo / "*.keras"), str(zoo / "b.h5")], str(out), suffix=".npz",
                                   dtype="float16")
    assert [item.status for item in items] == ["ok", "ok"]
    assert all(np.load(item.destination)["dense_1.weight"].dtype == np.float16 for item in items[:1])
    assert "2 of 2 converted" in converter.summary_table(items)


def test_single_model_options_are_refused_with_out_dir(tmp_path):
    result = run_cli("convert", fixture("keras3/mlp.keras"), "--out-dir", str(tmp_path), "--dry-run")
    assert result.returncode == 2 and "--dry-run" in result.stderr
    result = run_cli("convert", fixture("keras3/mlp.keras"), fixture("keras3/mlp.h5"), str(tmp_path / "x.pt"))
    assert result.returncode == 2 and "--out-dir" in result.stderr


def test_a_sharded_hugging_face_checkpoint_in_a_folder_is_one_model(tmp_path):
    """Its shards are converted through their index, as one model, not each on its own."""
    out = tmp_path / "out"
    out.mkdir()
    items = converter.convert_many([fixture("hf_tf/gpt2_sharded")], str(out))
    assert [(item.source.rsplit("/", 1)[-1], item.status, item.tensors) for item in items] == \
        [("gpt2_sharded", "ok", 28)]
    written = load_file(str(out / "gpt2_sharded.safetensors"))
    expected = converter.state_dict(fixture("hf_tf/gpt2_sharded"))
    assert set(written) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(written[key], value)


def test_folders_that_are_one_model_convert_as_their_folder(tmp_path):
    """A Keras model folder (config.json beside model.weights.h5: Keras presets, save_model(zipped=False)) converts
    with its config, as `convert FOLDER` does, whether it is the folder named or a subfolder of it (one level); its
    weights file is not converted again alone, and the other files beside it are (a real repository kept two
    .keras files beside such a pair)."""
    import keras

    from random_weights import randomize

    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 2, name="conv"), keras.layers.Flatten(),
                              keras.layers.Dense(2, name="head")])
    randomize(model)
    zoo, root, out = tmp_path / "zoo", tmp_path / "root", tmp_path / "out"
    zoo.mkdir()
    out.mkdir()
    keras.saving.save_model(model, str(zoo / "preset"), zipped=False)
    keras.saving.save_model(model, str(root), zipped=False)
    shutil.copy(fixture("keras3/mlp.keras"), root / "extra.keras")
    items = converter.convert_many([str(zoo), str(root) + "/"], str(out))
    assert sorted((item.destination.rsplit("/", 1)[-1], item.status) for item in items) == \
        [("extra.safetensors", "ok"), ("preset.safetensors", "ok"), ("root.safetensors", "ok")]
    expected = converter.state_dict(str(zoo / "preset"))
    for name in ("preset", "root"):
        written = load_file(str(out / f"{name}.safetensors"))
        assert set(written) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(written[key], value)
    # what converting the weights file alone gives: the Dense after the Flatten left in Keras's row order
    alone = converter.state_dict(str(zoo / "preset" / "model.weights.h5"))
    assert not np.array_equal(alone["head.weight"], expected["head.weight"])


def _model_per_folder(tmp_path):
    """A zoo of one folder per model, each file of one name (`resnet/model.h5`, `bert/model.h5`)."""
    zoo = tmp_path / "zoo"
    for name, source in (("small", "keras3/mlp.keras"), ("nested", "keras2/nested.h5")):
        (zoo / name / "v1").mkdir(parents=True)
        shutil.copy(fixture(source), zoo / name / "v1" / ("model" + source[source.rindex("."):]))
    shutil.copy(fixture("keras3/mlp.h5"), zoo / "small" / "v1" / "model.h5")  # beside its .keras: two formats
    return zoo


def test_models_of_one_name_in_different_folders_take_their_folders_names(tmp_path):
    zoo, out = _model_per_folder(tmp_path), tmp_path / "out"
    out.mkdir()
    items = converter.convert_many([str(zoo / "**" / "*.h5"), str(zoo / "**" / "*.keras")], str(out))
    assert [item.status for item in items] == ["ok"] * 3
    assert sorted(path.name for path in out.iterdir()) == \
        ["nested_v1_model.safetensors", "small_v1_model_h5.safetensors", "small_v1_model_keras.safetensors"]
    for name, source in (("nested_v1_model", zoo / "nested" / "v1" / "model.h5"),
                         ("small_v1_model_keras", zoo / "small" / "v1" / "model.keras")):
        _written_as_converted(out / f"{name}.safetensors", source)


def test_a_folder_whose_models_lie_deeper_says_how_to_name_them(tmp_path):
    zoo, out = _model_per_folder(tmp_path), tmp_path / "out"
    out.mkdir()
    result = run_cli("convert", str(zoo), "--out-dir", str(out))
    assert result.returncode == 2
    assert "its subfolders hold 3" in result.stderr and f"'{zoo}/**/*.h5'" in result.stderr
    assert list(out.iterdir()) == []
