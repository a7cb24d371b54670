"""A Keras layer given as another layer's activation (`Conv2D(activation=LeakyReLU())`), against Keras.

Both Keras serialize such an activation as the layer, config and name included. The name is
the user's (an ELU(alpha=0.5) is named `elu`, a Softmax may be named `relu`): the module
builder reads the class and its options, never the name.
"""
from __future__ import annotations

import numpy as np
import pytest

import converter
from build_harness import check

WRITERS = ["keras3", "keras2"]
FEATURES = np.random.default_rng(3).normal(0, 2, (4, 6)).astype("float32")
IMAGES = np.random.default_rng(4).normal(0, 2, (2, 6, 6, 3)).astype("float32")
SEQUENCES = np.random.default_rng(5).normal(0, 2, (2, 5, 3)).astype("float32")
FRAMES = np.random.default_rng(6).normal(0, 2, (2, 3, 5, 5, 2)).astype("float32")


def dense_layers(keras):
    """Options that differ from the function of the same name, and a name that is another function's."""
    L = keras.layers
    x = keras.Input((6,))
    h = L.Dense(5, activation=L.ELU(alpha=0.5))(x)  # named `elu`: F.elu's alpha is 1
    h = L.Dense(5, activation=L.Softmax(name="relu"))(h)
    if keras.__name__ == "keras":  # tf.keras cannot load an Activation given as one
        h = L.Dense(4, activation=L.Activation("tanh", name="sigmoid"))(h)
    return keras.Model(x, L.Dense(3, activation=L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2))(h))


def conv_layers(keras):
    """LeakyReLU at its default slope (0.3; keras.activations.leaky_relu's is 0.2), and ReLU6."""
    L = keras.layers
    x = keras.Input((6, 6, 3))
    h = L.Conv2D(4, 3, padding="same", activation=L.LeakyReLU())(x)
    return keras.Model(x, L.Conv2D(2, 3, activation=L.ReLU(max_value=6.0))(h))


def recurrent_layers(keras):
    """Inside the cells (keras_rnn(), both directions of a Bidirectional): the options, never the names."""
    L = keras.layers
    x = keras.Input((5, 3))
    h = L.LSTM(4, return_sequences=True, activation=L.ELU(alpha=0.5),
               recurrent_activation=L.ReLU(max_value=1.0, name="sigmoid"))(x)
    h = L.GRU(4, return_sequences=True, activation=L.LeakyReLU(name="tanh"))(h)
    h = L.Bidirectional(L.LSTM(3, return_sequences=True, activation=L.LeakyReLU()))(h)
    return keras.Model(x, L.SimpleRNN(3, activation=L.ELU(alpha=0.3))(h))


def conv_lstm_layers(keras):
    L = keras.layers
    x = keras.Input((3, 5, 5, 2))
    return keras.Model(x, L.ConvLSTM2D(3, 3, padding="same", activation=L.LeakyReLU(),
                                       recurrent_activation=L.ReLU(max_value=1.0))(x))


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("build, inputs", [(dense_layers, FEATURES), (conv_layers, IMAGES),
                                           (recurrent_layers, SEQUENCES), (conv_lstm_layers, FRAMES)],
                         ids=["dense", "conv", "recurrent", "conv_lstm"])
def test_a_layer_given_as_the_activation_computes_as_in_keras(tmp_path, writer, build, inputs):
    """The ELU and the Softmax named `relu` were built by their names, 1.23 off Keras (silently); LeakyReLU
    was refused by its name (`leaky_re_lu`); inside a recurrent cell, every such layer was refused."""
    check(tmp_path, writer, build, [inputs])


@pytest.mark.parametrize("writer", WRITERS)
def test_a_layer_activation_not_built_is_refused_by_its_class(tmp_path, writer):
    """A Softmax over another axis than the last is not built, as a layer's or a recurrent cell's activation;
    nor is an activation layer with weights of its own (PReLU): tf.keras saves its alpha among the Dense's
    tensors, which the Dense's rule then refuses."""
    from layer_harness import keras_module

    keras = keras_module(writer)
    L = keras.layers
    prelu = "a PReLU layer" if writer == "keras3" else r"\['kernel', 'bias', 'alpha'\] do not match"
    for name, layer, shape, refusal in (
            ("lstm", L.LSTM(3, activation=L.Softmax(axis=0)), (4, 2), "a Softmax layer"),
            ("prelu", L.Dense(3, activation=L.PReLU()), (4,), prelu),
            ("softmax", L.Conv1D(3, 1, activation=L.Softmax(axis=1, name="softmax")), (4, 2), "a Softmax layer")):
        x = keras.Input(shape)
        path = str(tmp_path / (name + (".keras" if writer == "keras3" else ".h5")))
        keras.Model(x, layer(x)).save(path)
        with pytest.raises((converter.UnsupportedLayerError, converter.LayoutError), match=refusal):
            converter.to_torch(path)


def test_inspect_names_a_layer_activation_by_its_class(tmp_path):
    """The record's options name the activation (`ELU layer`), not the layer's serialized config."""
    from layer_harness import keras_module

    keras = keras_module("keras3")
    L = keras.layers
    x = keras.Input((4, 2))
    path = str(tmp_path / "cells.keras")
    keras.Model(x, L.LSTM(3, activation=L.ELU(alpha=0.5))(x)).save(path)
    (options,) = [layer["options"] for layer in converter.inspect(path).to_dict()["layers"] if layer["options"]]
    assert options["activation"] == "ELU layer" and set(options) == {
        "return_sequences", "go_backwards", "activation", "recurrent_activation"}, options


RELU_OPTIONS = [dict(threshold=0.5), dict(threshold=0.5, negative_slope=0.1), dict(threshold=0.5, max_value=1.0),
                dict(threshold=0.5, max_value=6.0), dict(threshold=0.5, max_value=1.0, negative_slope=0.1),
                dict(max_value=1.0, negative_slope=0.1), dict(max_value=6.0, negative_slope=0.2)]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("options", RELU_OPTIONS, ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()))
def test_relu_at_its_threshold_and_on_nan_computes_as_keras(tmp_path, writer, options):
    """Keras keeps x strictly above the threshold: at it, a ReLU(threshold=0.5) gives 0 (the module gave 0.5, off by
    the threshold wherever an input sits on it, as counts and quantized values do). Keras 3.15 keeps x there by a
    where, so a NaN gives 0; tf.keras and earlier Keras 3s multiply by the comparison (NaN, and -inf, give NaN).
    Found by the fuzzer (seed 700292: a GlobalAveragePooling1D of a fully masked sequence gave NaN, which the ReLU
    after it made 0)."""
    import torch

    from layer_harness import keras_module

    keras = keras_module(writer)
    x = keras.Input((10,))
    model = keras.Model(x, keras.layers.ReLU(**options)(x))
    path = str(tmp_path / ("relu.keras" if writer == "keras3" else "relu.h5"))
    model.save(path)
    values = np.array([[0.5, 0.5 + 1e-7, 0.5 - 1e-7, -0.2, 0.0, 1.0, 7.0, np.nan, -np.inf, np.inf]], dtype="float32")
    expected = np.asarray(keras.ops.convert_to_numpy(model(values)) if writer == "keras3" else model(values))
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)  # NaN where Keras has NaN, and only there
    if writer == "keras3" and "threshold" in options:  # the same file from Keras 3.14, which multiplied
        from helpers import with_keras_version

        earlier = with_keras_version(tmp_path / "relu.keras", tmp_path / "relu_3.14.keras", "3.14.0")
        with torch.no_grad():
            got = converter.to_torch(earlier)(torch.from_numpy(values)).numpy()
        assert np.isnan(got[0, 7]) and np.isnan(got[0, 8]), got  # -inf * 0
        np.testing.assert_allclose(got[:, :7], expected[:, :7], rtol=0, atol=1e-7)


def test_thresholded_relu_at_theta_and_on_nan_computes_as_tf_keras(tmp_path):
    """tf.keras's ThresholdedReLU multiplies x by x > theta: 0 at theta, NaN from NaN and -inf."""
    import torch

    from layer_harness import keras_module

    keras = keras_module("keras2")
    x = keras.Input((6,))
    model = keras.Model(x, keras.layers.ThresholdedReLU(theta=0.5)(x))
    model.save(tmp_path / "thresholded.h5")
    values = np.array([[0.5, 0.6, -0.2, np.nan, -np.inf, np.inf]], dtype="float32")
    with torch.no_grad():
        got = converter.to_torch(str(tmp_path / "thresholded.h5"))(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(got, np.asarray(model(values)), rtol=0, atol=1e-7)
