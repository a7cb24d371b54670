"""--keep-unsupported: the tensors of layers without a rule written as stored, the rest converted.

A file's own layer class (an attention, a gain) has variables only its code gives a meaning:
kept, they come out exactly as Keras holds them, under the layer's key and Keras's variable
names, each recorded as kept; the layers around them are converted as always.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import converter
from helpers import run_cli
from layer_harness import keras_module, randomize


def _model_with_own_layer(writer: str):
    keras = keras_module(writer)

    class Gain(keras.layers.Layer):
        def build(self, input_shape):
            self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")
            self.shift = self.add_weight(shape=(2, input_shape[-1]), initializer="zeros", name="shift")

        def call(self, inputs):
            return inputs * self.gain + self.shift[0]

    registered = keras.saving.register_keras_serializable(package=f"keep_{writer}")(Gain)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"), registered(name="gain"),
                              keras.layers.Dense(2, name="out")])
    randomize(model, seed=7)
    return model


@pytest.mark.parametrize("writer, suffix", [("keras3", ".keras"), ("keras3", ".h5"), ("keras2", ".h5")])
def test_kept_tensors_are_kerass_and_the_rest_converted(tmp_path, writer, suffix):
    model = _model_with_own_layer(writer)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    gain = model.get_layer("gain")
    with pytest.raises(converter.UnsupportedLayerError, match="--keep-unsupported"):
        converter.state_dict(path)
    with pytest.warns(converter.ConversionWarning, match="kept layer gain"):
        weights = converter.state_dict(path, keep_unsupported=True)
    kept = {key: value for key, value in weights.items() if key.startswith("gain.")}
    # a .keras archive numbers a layer's own variables (vars/0, vars/1); an .h5 file names them
    names = ["gain.vars.0", "gain.vars.1"] if suffix == ".keras" else ["gain.gain", "gain.shift"]
    assert sorted(kept) == names
    for name, variable in zip(names, (gain.gain, gain.shift)):
        np.testing.assert_array_equal(kept[name], np.asarray(variable))
    np.testing.assert_array_equal(weights["hidden.weight"], np.asarray(model.get_layer("hidden").kernel).T)
    np.testing.assert_array_equal(weights["out.bias"], np.asarray(model.get_layer("out").bias))


def test_the_cli_records_each_kept_tensor_and_refuses_both_options(tmp_path):
    model = _model_with_own_layer("keras3")
    path = str(tmp_path / "model.keras")
    model.save(path)
    out, record = tmp_path / "out.safetensors", tmp_path / "record.json"
    result = run_cli("convert", path, str(out), "--keep-unsupported", "--record", str(record))
    assert result.returncode == 0, result.stderr
    assert "kept layer gain" in result.stderr and "your code for the layer decides" in result.stderr
    assert sorted(load_file(out)) == ["gain.vars.0", "gain.vars.1", "hidden.bias", "hidden.weight", "out.bias",
                                      "out.weight"]
    entries = json.loads(record.read_text())
    entries = entries["tensors"] if isinstance(entries, dict) else entries
    transforms = {entry["key"]: entry["transform"] for entry in entries}
    assert transforms["gain.vars.1"] == "none (kept as stored: no rule for Gain)"
    assert transforms["hidden.weight"] == "transpose(1,0)"
    both = run_cli("convert", path, str(tmp_path / "both.safetensors"), "--keep-unsupported", "--skip-unsupported")
    assert both.returncode == 2 and "choose one" in both.stderr and not (tmp_path / "both.safetensors").exists()
    like = tmp_path / "like.safetensors"
    like.write_bytes(out.read_bytes())
    with_like = run_cli("convert", path, str(tmp_path / "liked.safetensors"), "--keep-unsupported", "--like",
                        str(like))
    assert with_like.returncode == 2 and "--keep-unsupported does not apply" in with_like.stderr


def test_many_models_at_once_keep_them_too(tmp_path):
    model = _model_with_own_layer("keras3")
    path = str(tmp_path / "model.keras")
    model.save(path)
    out = tmp_path / "out"
    out.mkdir()
    refused, = converter.convert_many([path], str(out))
    assert refused.status == "failed" and "--keep-unsupported" in refused.error
    kept, = converter.convert_many([path], str(out), keep_unsupported=True)
    assert kept.status == "ok" and any("kept layer gain" in warning for warning in kept.warnings), kept
    assert "gain.vars.0" in load_file(kept.destination)


def test_a_live_layers_own_variable_is_kept_and_the_layers_it_holds_converted():
    """Your layer class in a live model: the Dense it holds converts by attribute path (its kernel transposed), the
    variable it made itself (add_weight: KerasHub's PositionEmbedding, a LayerNorm scale) is kept as stored."""
    import keras

    class Scaled(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = keras.layers.Dense(3)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")
            self.proj.build(input_shape)

        def call(self, inputs):
            return self.proj(inputs) * self.scale

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(Scaled(name="block")(inputs)))
    randomize(model, seed=3)
    block = model.get_layer("block")
    with pytest.raises(converter.UnsupportedLayerError, match="add_weight"):
        converter.state_dict(model)
    with pytest.warns(converter.ConversionWarning, match="kept layer block"):
        weights = converter.state_dict(model, keep_unsupported=True)
    assert sorted(weights) == ["block.proj.bias", "block.proj.weight", "block.scale", "out.bias", "out.weight"]
    np.testing.assert_array_equal(weights["block.scale"], np.asarray(block.scale))
    np.testing.assert_array_equal(weights["block.proj.weight"], np.asarray(block.proj.kernel).T)


def test_a_tensorflow_hub_layer_is_named_with_its_handle_and_kept(tmp_path):
    """TensorFlow Hub's KerasLayer (transfer-learning tutorials: a hub module, then a Dense head) records its
    handle, not the layers of the SavedModel it loads: named as such, and --keep-unsupported writes its variables."""
    import h5py

    k = keras_module("keras2")
    model = k.Sequential([k.Input((6,)), k.layers.Dense(4, name="keras_layer"), k.layers.Dense(5, name="head")])
    randomize(model, seed=3)
    path = tmp_path / "hub.h5"
    model.save(str(path))
    handle = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        entry = next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "keras_layer")
        entry["class_name"], entry["config"] = "KerasLayer", {"name": "keras_layer", "trainable": False,
                                                              "dtype": "float32", "handle": handle}
        h5.attrs["model_config"] = json.dumps(config)
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"TensorFlow Hub's KerasLayer, a SavedModel loaded from its handle ({handle})" in result.stderr
    assert "your own layer classes" not in result.stderr
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"), "--keep-unsupported", "-q")
    assert result.returncode == 0, result.stderr
    written = load_file(str(tmp_path / "out.safetensors"))
    np.testing.assert_array_equal(written["keras_layer.kernel"], model.get_layer("keras_layer").get_weights()[0])
    np.testing.assert_array_equal(written["head.weight"], model.get_layer("head").get_weights()[0].T)


def test_a_keras_layer_without_a_rule_is_named_as_keras_own(tmp_path):
    """tf.keras's RandomFourierFeatures: Keras's, not the user's (an `.h5` names no module); --import cannot
    help, and the message does not say it could. --keep-unsupported still writes its tensors as stored."""
    k = keras_module("keras2")
    model = k.Sequential([k.Input((4,)), k.layers.experimental.RandomFourierFeatures(8, name="features"),
                          k.layers.Dense(2, name="head")])
    path = tmp_path / "rff.h5"
    model.save(str(path))
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "features: Keras's own layers, which no rule of weightport converts yet" in result.stderr
    assert "your own layer classes" not in result.stderr
    kept = converter.state_dict(str(path), keep_unsupported=True)
    np.testing.assert_array_equal(kept["features.unscaled_kernel"], model.layers[0].unscaled_kernel.numpy())
