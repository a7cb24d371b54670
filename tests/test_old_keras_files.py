"""Files of early Keras: configs holding Keras 2.0's encoding of numpy values, Keras 2 configs and weights named as
Keras 1 named them, nested models of Keras 2.3, files recording no version (Theano's: tests/test_theano_files.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import converter
from build_harness import torch_outputs
from helpers import run_cli
from layer_harness import randomize


def test_keras_2_0_numpy_values_in_a_config_are_read(tmp_path):
    """Keras 2.0 and 2.1 wrote a numpy value of a config as {"type": "ndarray", "value": ...} (LeakyReLU's and ELU's
    alpha are 0-d arrays); no later Keras reads it back, so verify builds the model from the config read so."""
    import json

    import tf_keras as k

    model = k.Sequential([k.Input((5,)), k.layers.Dense(4), k.layers.LeakyReLU(alpha=0.3), k.layers.Dense(3),
                          k.layers.ELU(alpha=0.7), k.layers.Dense(2)])
    randomize(model, seed=4)
    model.save(str(tmp_path / "model.h5"))
    with h5py.File(tmp_path / "model.h5", "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if "alpha" in layer["config"]:
                layer["config"]["alpha"] = {"type": "ndarray", "value": layer["config"]["alpha"]}
        h5.attrs["model_config"] = json.dumps(config)
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    np.testing.assert_allclose(torch_outputs(str(tmp_path / "model.h5"), [x], "keras")[0], model(x).numpy(), atol=1e-5)
    report = converter.verify(str(tmp_path / "model.h5"), samples=4)
    assert report.ok and "numpy values" in report.notes[0], report.to_text()
    # the same config as an architecture (model.to_json() of Keras 2.0 wrote them alike) for a weights-only file
    model.save_weights(str(tmp_path / "weights.h5"))
    with h5py.File(tmp_path / "model.h5", "r") as h5:
        (tmp_path / "model.json").write_text(h5.attrs["model_config"])
    built = converter.to_torch(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"),
                               input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(built(torch.from_numpy(x)).numpy(), model(x).numpy(), atol=1e-5)
    assert converter.verify(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"), samples=4).ok


def test_a_gru_of_keras_before_2_1_3_verifies(tmp_path):
    """Keras before 2.1.3 had no GRU reset_after and wrote none: it computed as reset_after=False, which later
    Keras (tf_keras) would build as True and refuse to load the weights into; verify builds it as meant."""
    import json

    import tf_keras as k

    model = k.Sequential([k.Input((6, 3)), k.layers.Bidirectional(k.layers.GRU(4, reset_after=False,
                                                                                 return_sequences=True)),
                          k.layers.GRU(2, reset_after=False)])
    randomize(model, seed=6)
    model.save(str(tmp_path / "model.h5"))

    def without_reset_after(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: without_reset_after(item) for key, item in value.items() if key != "reset_after"}
        return [without_reset_after(item) for item in value] if isinstance(value, list) else value

    with h5py.File(tmp_path / "model.h5", "a") as h5:
        h5.attrs["model_config"] = json.dumps(without_reset_after(json.loads(h5.attrs["model_config"])))
    x = np.random.default_rng(2).normal(size=(3, 6, 3)).astype("float32")
    np.testing.assert_allclose(torch_outputs(str(tmp_path / "model.h5"), [x], "keras")[0], model(x).numpy(), atol=1e-5)
    report = converter.verify(str(tmp_path / "model.h5"), samples=3)
    assert report.ok and "reset_after=False" in " ".join(report.notes), report.to_text()


def _dense_file(folder: Path) -> Path:
    import tf_keras as k

    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, name="dense_1")])
    randomize(model, seed=2)
    model.save(str(folder / "dense.h5"))
    return folder / "dense.h5"


def test_a_keras_2_config_said_to_be_keras_1_is_refused_by_name(tmp_path):
    """Keras 1 files are read with Keras 1's argument names (tests/test_keras1_files.py); Keras 2's are not
    guessed at in a file whose version says 1.x."""
    path = _dense_file(tmp_path)
    with h5py.File(path, "a") as h5:
        h5.attrs["keras_version"] = "1.2.1"
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "dense_1 (Dense) of a Keras 1 file: argument" in result.stderr and "is not read" in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def _with_keras1_names(layer: h5py.Group, suffix: str) -> None:
    """dense_1's weights named as Keras 1 named them: after the layer (`dense_1_W`)."""
    kernel, bias = layer["dense_1/kernel:0"][()], layer["dense_1/bias:0"][()]
    del layer["dense_1"]
    layer[f"dense_1_W{suffix}"], layer[f"dense_1_b{suffix}"] = kernel, bias
    layer.attrs["weight_names"] = [f"dense_1_W{suffix}".encode(), f"dense_1_b{suffix}".encode()]


def test_keras_1_weight_names_without_a_version_get_a_hint(tmp_path):
    """Keras 1 named a layer's weights after it (`dense_1_W`), and early versions wrote no keras_version."""
    path = _dense_file(tmp_path)
    with h5py.File(path, "a") as h5:
        for group in (h5, h5["model_weights"]):
            del group.attrs["keras_version"]
        _with_keras1_names(h5["model_weights/dense_1"], "")
    with pytest.raises(converter.LayoutError, match="Keras 1's weight names"):
        converter.state_dict(str(path))


def test_keras_1_weights_only_get_the_hint(tmp_path):
    """The same in a weights-only file (real ones of Keras 1.2: `convolution2d_1_W:0`): its layers have no rule, and
    the error says why, and to give the model's to_json() (Keras 1 weights convert with it: test_keras1_files)."""
    import tf_keras as k

    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, name="dense_1")])
    model.save_weights(str(tmp_path / "weights.h5"))
    with h5py.File(tmp_path / "weights.h5", "a") as h5:
        del h5.attrs["keras_version"]
        _with_keras1_names(h5["dense_1"], ":0")
    result = run_cli("convert", str(tmp_path / "weights.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Keras 1's weight names" in result.stderr and "pass --architecture with the model's to_json()" in \
        result.stderr
    assert "guessed from names" not in result.stderr  # the Keras 1 hint in its place


def test_a_nested_sequential_of_keras_2_3_numbers_its_calls_from_1(tmp_path):
    """Keras 2.0-2.3 numbered the saved calls of every nested model from 1 (its node 0, linking its own input to
    its output, is not saved), a Sequential included, whose config starts with the layer carrying
    batch_input_shape; tf.keras 2.4+ does so only for one that starts with an InputLayer. The file here is a
    tf_keras file whose Sequential is written as Keras 2.3 writes it; the Sequential, called on two inputs, also
    gives an output of the model."""
    import json

    import tf_keras as k

    tower = k.Sequential([k.Input((6,)), k.layers.Dense(5, name="d1"), k.layers.BatchNormalization(name="bn"),
                          k.layers.Dense(4, name="d2")], name="tower")
    left, right = k.Input((6,), name="left"), k.Input((6,), name="right")
    joined = k.layers.Concatenate(name="joined")([tower(left), tower(right)])
    model = k.Model([left, right], [k.layers.Dense(2, name="head")(joined), tower(right)])
    randomize(model, seed=8)
    model.save(str(tmp_path / "model.h5"))
    with h5py.File(tmp_path / "model.h5", "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        (nested,) = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Sequential"]
        first, *layers = nested["config"]["layers"]
        assert first["class_name"] == "InputLayer"
        layers[0]["config"]["batch_input_shape"] = first["config"]["batch_input_shape"]
        nested["config"]["layers"] = layers
        assert [ref[1] for ref in config["config"]["output_layers"]] == [0, 3]  # tower's calls are 1, 2, 3
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = "2.3.1"
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(4, 6)).astype("float32") for _ in range(2)]
    module = converter.to_torch(str(tmp_path / "model.h5"), input_layout="keras")
    with torch.no_grad():
        outputs = module(*(torch.from_numpy(value) for value in x))
    for got, expected in zip(outputs, model(x), strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    assert converter.verify(str(tmp_path / "model.h5"), samples=3).ok


def test_a_file_without_a_keras_version_computes_as_keras_2(tmp_path):
    """Keras 2.0 on record their version in the file; one without it (Keras 1, another writer of this layout) was
    built as the newest Keras 3 computes: an LSTM's hard_sigmoid as relu6(x + 3) / 6 where Keras 2's is
    clip(0.2x + 0.5, 0, 1), 0.019 off. It is built as Keras 2 computes now."""
    import tf_keras as k

    x = k.Input((5, 3))
    model = k.Model(x, k.layers.LSTM(4, recurrent_activation="hard_sigmoid")(x))
    randomize(model)
    path = tmp_path / "unversioned.h5"
    model.save(path)
    with h5py.File(path, "a") as h5:
        for group in (h5, h5["model_weights"]):
            del group.attrs["keras_version"]
    inputs = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    with pytest.warns(converter.ConversionWarning, match="hard_sigmoid"):
        module = converter.to_torch(str(path), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(inputs)).numpy(), model(inputs).numpy(), atol=1e-5)


def test_verify_gives_ids_to_a_sequential_that_starts_with_an_embedding(tmp_path):
    """Keras 2.0 to 2.3 wrote a Sequential without an InputLayer, its first layer holding the input shape: an
    Embedding there reads the model's input, which no layer lists as inbound; verify gives it ids below its
    vocabulary (with padding, for mask_zero), not normal floats Keras cannot look up."""
    import json

    import tf_keras as k

    model = k.Sequential([k.Input((6,)), k.layers.Embedding(9, 4, mask_zero=True), k.layers.LSTM(3),
                          k.layers.Dense(2)])
    randomize(model, seed=3)
    model.save(str(tmp_path / "model.h5"))
    with h5py.File(tmp_path / "model.h5", "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        layers = config["config"]["layers"]
        assert layers[0]["class_name"] == "InputLayer"
        layers[1]["config"]["batch_input_shape"] = layers.pop(0)["config"]["batch_input_shape"]
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = "2.2.4"
    report = converter.verify(str(tmp_path / "model.h5"), samples=4)
    assert report.ok, report.to_text()


def test_an_architecture_json_written_as_a_json_string(tmp_path):
    """json.dump(model.to_json(), f), common in 2017's scripts, writes the config's JSON text as a JSON string:
    read as the config it holds."""
    import json

    import tf_keras as k

    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, name="dense_1"), k.layers.Dense(2, name="dense_2")])
    randomize(model, seed=5)
    model.save_weights(str(tmp_path / "weights.h5"))
    (tmp_path / "model.json").write_text(json.dumps(model.to_json()))
    x = np.random.default_rng(3).normal(size=(2, 4)).astype("float32")
    module = converter.to_torch(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"))
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), model(x).numpy(), atol=1e-5)


def test_a_model_whose_input_shape_is_all_none(tmp_path):
    """A Sequential fed data of unknown shape before it was saved records its input as (None, None, None, None):
    Keras cannot build it again, weightport converts it; verify says why it stops."""
    import json

    import tf_keras as k

    model = k.Sequential([k.Input((10, 10, 3)), k.layers.Conv2D(2, 3), k.layers.Flatten(), k.layers.Dense(1)])
    randomize(model, seed=6)
    model.save(str(tmp_path / "model.h5"))
    with h5py.File(tmp_path / "model.h5", "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, None, None, None]
        h5.attrs["model_config"] = json.dumps(config)
    x = np.random.default_rng(4).normal(size=(2, 10, 10, 3)).astype("float32")
    np.testing.assert_allclose(torch_outputs(str(tmp_path / "model.h5"), [x], "keras")[0], model(x).numpy(), atol=1e-5)
    with pytest.raises(converter.ConverterError, match="input shape as all None"):
        converter.verify(str(tmp_path / "model.h5"), inputs=[x])
