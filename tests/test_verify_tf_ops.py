"""verify of tf.keras models that call TensorFlow functions (TFOpLambda layers): Keras rebuilds those that only
compute, by TensorFlow 1's names too, and never one that reaches outside its tensors."""
from __future__ import annotations

import json

import h5py
import pytest

import converter
from helpers import run_cli
from random_weights import randomize


@pytest.fixture(scope="module")
def tf_ops_model(tmp_path_factory):
    """Functions tf.keras records under TensorFlow 1's names (`tf.compat.v1.pad`), as older code called them."""
    import tensorflow as tf
    import tf_keras as k

    folder = tmp_path_factory.mktemp("tf_ops")
    x = k.Input((6, 5, 3))
    h = k.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    h = tf.compat.v1.pad(h, [[0, 0], [1, 2], [0, 1], [0, 0]], mode="REFLECT")
    h = tf.compat.v1.image.resize_bilinear(h, (7, 9), align_corners=True)
    h = tf.compat.v1.transpose(h, [0, 2, 1, 3])
    y = tf.compat.v1.norm(k.layers.Dense(2, name="head")(h), axis=-1, keepdims=True)
    model = k.Model(x, [y, k.layers.Flatten()(h)])
    randomize(model, seed=7)
    path = folder / "ops.h5"
    model.save(str(path))
    return path


def test_tensorflow_1_names_of_pure_functions_verify_per_layer(tf_ops_model):
    with h5py.File(tf_ops_model, "r") as h5:
        layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    functions = {layer["config"].get("function") for layer in layers}
    assert {"compat.v1.pad", "compat.v1.image.resize_bilinear", "compat.v1.norm"} <= functions
    report = converter.verify(str(tf_ops_model), per_layer=True)
    assert report.ok and len(report.layers) >= 6


def test_every_function_converted_is_one_keras_may_rebuild_for_verify():
    """A TFOpLambda weightport converts is one verify lets Keras build (else verify refuses a file it converts)."""
    from converter.code_check import code_carrying
    from converter.kinds.tf_ops import FUNCTIONS

    entries = [{"class_name": "TFOpLambda", "config": {"name": name, "function": name}} for name in FUNCTIONS]
    assert code_carrying(entries) == []


@pytest.mark.parametrize("function", ["io.write_file", "compat.v1.io.write_file", "compat.v1.py_func",
                                      "compat.v1.math.py_function", "compat.v1.gfile.GFile"])
def test_a_function_beyond_computing_is_refused_before_keras_loads(tf_ops_model, tmp_path, function):
    """The same file with one TFOpLambda's function replaced: refused by name, the file never given to Keras."""
    crafted = tmp_path / "crafted.h5"
    crafted.write_bytes(tf_ops_model.read_bytes())
    with h5py.File(crafted, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        layer = next(layer for layer in config["config"]["layers"]
                     if layer["config"].get("function") == "compat.v1.norm")
        layer["config"]["function"] = function
        h5.attrs["model_config"] = json.dumps(config)
    result = run_cli("verify", str(crafted))
    assert result.returncode == 2, result.stderr
    assert f"calling TensorFlow's {function!r}" in result.stderr and "Traceback" not in result.stderr
