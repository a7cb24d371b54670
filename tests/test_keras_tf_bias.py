"""A bias on an output axis that is not the last: Keras 3.7 and later on TensorFlow add it with tf.nn.bias_add
along the output's last axis (or axis 1) where that axis has its size; JAX, PyTorch, earlier Keras and tf.keras
broadcast it. The built module computes as the file's Keras and backend did (the kind cases compare EinsumDense,
channels_first convolutions and attention with key_dim 1 with real Keras); these check the choice for files
Keras 3.15 on TensorFlow cannot write, and what cannot be built.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import converter
from helpers import keras3, with_keras_version

KERNEL_AND_BIAS = ("...b,bxy->...xy", (3, 3), "x")


def einsum_model(keras, seed: int = 3):
    equation, output_shape, bias_axes = KERNEL_AND_BIAS
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.EinsumDense(equation, output_shape=output_shape,
                                                         bias_axes=bias_axes)(inputs))
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0, 1, weight.shape).astype("float32"))
    return model


def broadcast(x: np.ndarray, model) -> np.ndarray:
    """What JAX, PyTorch and Keras before 3.7 compute: the einsum, the (3, 1) bias broadcast along x."""
    kernel, bias = (np.asarray(w) for w in model.weights)
    return np.einsum("nb,bxy->nxy", x, kernel) + bias


def outputs(path: Path, x: np.ndarray) -> np.ndarray:
    module = converter.to_torch(str(path), input_layout="keras")
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_keras_3_on_tensorflow_matches_keras_and_differs_from_broadcast(tmp_path):
    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(0, 1, (4, 5)).astype("float32")
    with pytest.warns(converter.ConversionWarning, match=r"bias_add = 'broadcast'"):
        got = outputs(tmp_path / "m.keras", x)
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-5)
    assert np.abs(got - broadcast(x, model)).max() > 1e-2  # the case tells the two apart


def test_keras_before_3_7_broadcasts(tmp_path):
    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.keras")
    older = with_keras_version(tmp_path / "m.keras", tmp_path / "old.keras", "3.6.0")
    x = np.random.default_rng(1).normal(0, 1, (4, 5)).astype("float32")
    np.testing.assert_allclose(outputs(older, x), broadcast(x, model), atol=1e-5)


def test_legacy_h5_of_another_backend_broadcasts(tmp_path):
    """A Keras 3 .h5 records its backend: as written on TensorFlow it computes as Keras; one run on JAX
    broadcasts."""
    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        assert h5.attrs["backend"] in ("tensorflow", b"tensorflow")
    x = np.random.default_rng(2).normal(0, 1, (4, 5)).astype("float32")
    np.testing.assert_allclose(outputs(tmp_path / "m.h5", x), np.asarray(model(x)), atol=1e-5)
    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["backend"] = "jax"
    np.testing.assert_allclose(outputs(tmp_path / "m.h5", x), broadcast(x, model), atol=1e-5)


def test_the_attribute_the_warning_names_switches_to_broadcast(tmp_path):
    """A .keras file does not record its backend: for a model run on JAX or PyTorch, the warning's switch."""
    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(3).normal(0, 1, (4, 5)).astype("float32")
    with pytest.warns(converter.ConversionWarning) as caught:
        module = converter.to_torch(str(tmp_path / "m.keras"), input_layout="keras")
    layer = model.layers[-1].name
    assert f"layer {layer}:" in str(caught[0].message) and "set bias_add = 'broadcast'" in str(caught[0].message)
    getattr(module, layer).bias_add = "broadcast"
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), broadcast(x, model), atol=1e-5)


def test_attention_of_key_dim_one_that_fits_nn_multihead_attention_is_refused_in_keras_3(tmp_path):
    """nn.MultiheadAttention adds its (heads, 1) biases per head: a Keras 3.7+ file is refused by name (its weights
    convert); the tf.keras one, which adds them per head, builds and matches."""
    from helpers import tf_keras

    x = np.random.default_rng(4).normal(0, 1, (3, 2, 2)).astype("float32")
    for keras, suffix in ((keras3(), ".keras"), (tf_keras(), ".h5")):
        inputs = keras.Input((2, 2))
        model = keras.Model(inputs, keras.layers.MultiHeadAttention(2, 1)(inputs, inputs))
        rng = np.random.default_rng(5)
        model.set_weights([rng.normal(0, 1, w.shape).astype("float32") for w in model.get_weights()])
        path = tmp_path / f"m{suffix}"
        model.save(str(path))
        assert converter.state_dict(str(path))  # the weights convert either way
        if suffix == ".keras":
            with pytest.raises(converter.ConverterError, match="key_dim=1 with biases"):
                converter.to_torch(str(path), input_layout="keras")
        else:
            np.testing.assert_allclose(outputs(path, x), np.asarray(model(x)), atol=1e-5)


def test_a_live_model_is_built_for_the_backend_it_runs_on(monkeypatch):
    """A live model's backend is known (keras.backend.backend()): TensorFlow's rule there, broadcast elsewhere."""
    keras = keras3()
    model = einsum_model(keras)
    x = np.random.default_rng(6).normal(0, 1, (4, 5)).astype("float32")
    with pytest.warns(converter.ConversionWarning):
        module = converter.to_torch(model, input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), np.asarray(model(x)), atol=1e-5)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # as keras.backend.backend() says on JAX
    with pytest.warns(converter.ConversionWarning):
        module = converter.to_torch(model, input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), broadcast(x, model), atol=1e-5)


def test_a_keras_file_is_built_for_the_backend_named(tmp_path):
    """A .keras file does not record its backend: keras_backend (--keras-backend) names it, and the module
    broadcasts as JAX and PyTorch do; TensorFlow's rule stays the default. A backend the file contradicts
    (a .h5 records its own) is refused in one line."""
    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    x = np.random.default_rng(4).normal(0, 1, (4, 5)).astype("float32")
    for backend in ("jax", "torch"):
        module = converter.to_torch(str(tmp_path / "m.keras"), input_layout="keras", keras_backend=backend)
        with torch.no_grad():
            np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), broadcast(x, model), atol=1e-5)
    module = converter.to_torch(str(tmp_path / "m.keras"), input_layout="keras", keras_backend="tensorflow")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), np.asarray(model(x)), atol=1e-5)
    source, _ = converter.export(tmp_path / "m.keras", tmp_path / "model.py", keras_backend="jax")
    assert "bias_add='tensorflow'" not in Path(source).read_text()
    with pytest.raises(converter.ArgumentError, match=r"records the backend 'tensorflow'"):
        converter.to_torch(str(tmp_path / "m.h5"), keras_backend="jax")
    with pytest.raises(converter.ArgumentError, match=r"expected one of tensorflow, jax, torch"):
        converter.to_torch(str(tmp_path / "m.keras"), keras_backend="theano")


def test_the_cli_takes_the_backend(tmp_path):
    """`export --keras-backend jax` builds the module as JAX computes it; a contradiction or an unknown backend is
    one line, exit 2."""
    from helpers import run_cli

    keras = keras3()
    model = einsum_model(keras)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    result = run_cli("export", str(tmp_path / "m.keras"), str(tmp_path / "model.py"), "--keras-backend", "jax")
    assert result.returncode == 0, result.stderr
    assert "bias_add='tensorflow'" not in (tmp_path / "model.py").read_text()
    result = run_cli("export", str(tmp_path / "m.h5"), str(tmp_path / "other.py"), "--keras-backend", "torch")
    assert result.returncode == 2 and "records the backend 'tensorflow'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "other.py").exists()
    result = run_cli("verify", str(tmp_path / "m.keras"), "--keras-backend", "theano")
    assert result.returncode == 2 and "--keras-backend" in result.stderr
