"""The forms a model's architecture comes in beside its weights: `json.dump(model.get_config(), f)` as well as
`model.to_json()` (tested elsewhere), for tf.keras and Keras 3, Sequential and functional, as a file or a dict.

get_config() holds the layers without the model's class around them (Sequential.from_config and
Model.from_config take it); it was refused as "not a Keras model config (no class_name)", or for Keras 3 weights
read as a subclassed model's ("named variables without a Keras model (no architecture)").
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import converter
from converter.errors import ReadError
from random_weights import randomize


def _model(k, functional: bool):
    inputs = k.Input((6,))
    hidden = k.layers.Dense(5, activation="tanh", name="hidden")(inputs)
    hidden = k.layers.BatchNormalization(name="norm")(hidden)
    outputs = k.layers.Dense(3, name="head")(hidden)
    if functional:
        return k.Model(inputs, outputs)
    return k.Sequential([inputs, k.layers.Dense(5, activation="tanh", name="hidden"),
                         k.layers.BatchNormalization(name="norm"), k.layers.Dense(3, name="head")])


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
def test_get_config_as_the_architecture_converts_and_verifies(tmp_path, writer, functional):
    if writer == "keras3":
        import keras as k
    else:
        import tf_keras as k
    model = _model(k, functional)
    randomize(model, 4)
    weights = tmp_path / ("model.weights.h5" if writer == "keras3" else "weights.h5")
    model.save_weights(str(weights))
    architecture = tmp_path / "config.json"
    architecture.write_text(json.dumps(model.get_config()))
    inputs = np.random.default_rng(0).normal(0, 1, (5, 6)).astype("float32")
    expected = np.asarray(model(inputs, training=False))
    for given in (str(architecture), json.loads(architecture.read_text())):
        module = converter.to_torch(str(weights), architecture=given, input_layout="keras")
        with torch.no_grad():
            np.testing.assert_allclose(module(torch.from_numpy(inputs)).numpy(), expected, atol=1e-5)
        assert converter.verify(str(weights), architecture=given, per_layer=True).ok


def test_a_json_that_is_no_model_config_is_named_as_such(tmp_path):
    import keras

    model = _model(keras, False)
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))  # a transformers config
    with pytest.raises(ReadError, match="not a Keras model config"):
        converter.state_dict(str(weights), architecture=str(other))


@pytest.mark.parametrize("name, content, message", [
    ("model.h5", b"", "the architecture file is empty"),  # a checkout or download that failed
    ("model.json", b"\xff\xd8\xff\xe0 an image", "as the architecture: a JPEG image"),
    ("arch.h5", b"\x80\x04\x95 a pickle", "as the architecture: a Python pickle"),
])
def test_an_architecture_that_is_no_config_file_is_named_as_what_it_is(tmp_path, name, content, message):
    """An empty file or another kind of file given as --architecture is named so, not as "not valid JSON"."""
    import keras

    weights = tmp_path / "model.weights.h5"
    _model(keras, False).save_weights(str(weights))
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ReadError, match=message):
        converter.state_dict(str(weights), architecture=str(tmp_path / name))


def test_the_architecture_beside_weights_is_named_when_it_is_missing(tmp_path):
    """Keras 2 code saved model.to_json() beside save_weights("model.h5"): converted alone, the refusal names the
    JSON to pass (it is never read in its place); a JSON beside that is no model config is not named."""
    import tf_keras as k

    from helpers import run_cli

    model = _model(k, False)
    weights = tmp_path / "model.h5"
    model.save_weights(str(weights))
    (tmp_path / "model.json").write_text(json.dumps({"loss": [0.3, 0.2]}))  # a training history
    (tmp_path / "model_architecture.json").write_text(model.to_json())
    hint = f"{tmp_path / 'model_architecture.json'}, beside it, holds a Keras model config: pass --architecture"
    for command in ("convert", "verify"):
        arguments = [command, str(weights)] + ([str(tmp_path / "out.safetensors")] if command == "convert" else [])
        result = run_cli(*arguments)
        assert result.returncode == 2 and hint in result.stderr, result.stderr
        assert "model.json," not in result.stderr
        assert not (tmp_path / "out.safetensors").exists()
    given = converter.state_dict(str(weights), architecture=str(tmp_path / "model_architecture.json"))
    assert set(given) == {"hidden.weight", "hidden.bias", "norm.weight", "norm.bias", "norm.running_mean",
                          "norm.running_var", "norm.num_batches_tracked", "head.weight", "head.bias"}


def test_a_conversion_from_names_alone_says_which_architecture_lies_beside(tmp_path):
    """Weights whose layer names tell their classes convert without a config (Keras's defaults for the rest); the
    warning names the model.json beside them, which would give the model's own options."""
    import tf_keras as k

    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="relu"), k.layers.Dense(2)])
    model.save_weights(str(tmp_path / "model.h5"))
    (tmp_path / "model.json").write_text(model.to_json())
    conversion = converter.convert(str(tmp_path / "model.h5"), tmp_path / "out.safetensors")
    assert any(f"{tmp_path / 'model.json'}, beside it, holds a Keras model config" in warning
               for warning in conversion.warnings), conversion.warnings
    given = converter.convert(str(tmp_path / "model.h5"), tmp_path / "given.safetensors",
                              architecture=str(tmp_path / "model.json"))
    assert not any("beside it" in warning for warning in given.warnings)
