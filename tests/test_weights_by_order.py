"""A legacy `.h5` of weights with `--architecture` whose layer names differ from the file's.

Keras's own `load_weights` of an `.h5` pairs the file's layers holding weights with the model's in order, names
aside: the classic `model_from_json(json)` + `load_weights("model.h5")` of two sessions (the JSON's `dense`, the
file's `dense_2`) works so, and a real repository's Keras 2.2.4 weights beside a Keras 3 `model.json` were refused.
Each test compares with Keras itself: the config built, then the file loaded by its load_weights.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import converter
from converter.errors import LayoutError
from random_weights import randomize


def _stack(k, seed: int, kinds: list[str]):
    """A Sequential of `kinds` (auto-named, so the session's counters name them) on (steps, features) inputs."""
    rng = np.random.default_rng(seed)
    layers = [k.Input((5, 6))]
    for kind in kinds:
        units = int(rng.integers(3, 7))
        layers.append({"dense": lambda: k.layers.Dense(units, activation="tanh"),
                       "conv": lambda: k.layers.Conv1D(units, 2, padding="same"),
                       "lstm": lambda: k.layers.LSTM(units, return_sequences=True),
                       "gru": lambda: k.layers.GRU(units, return_sequences=True),
                       "norm": lambda: k.layers.BatchNormalization(),
                       "drop": lambda: k.layers.Dropout(0.2)}[kind]())
    layers += [k.layers.Flatten(), k.layers.Dense(3)]
    return k.Sequential(layers)


def _two_sessions(k, tmp_path, seed: int, kinds: list[str]):
    """The JSON of one model and the weights of the same architecture built again later (names counted on)."""
    k.backend.clear_session()
    described = _stack(k, seed, kinds)
    trained = _stack(k, seed, kinds)
    randomize(trained, seed)
    assert [layer.name for layer in described.layers] != [layer.name for layer in trained.layers]
    architecture = tmp_path / "model.json"
    architecture.write_text(described.to_json())
    weights = tmp_path / "model.h5"
    trained.save_weights(str(weights))
    return architecture, weights


def _keras_loaded(k, architecture, weights):
    model = k.models.model_from_json(architecture.read_text())
    model.load_weights(str(weights))  # by order
    return model


def _module_outputs(weights, architecture, inputs: np.ndarray) -> np.ndarray:
    module = converter.to_torch(str(weights), architecture=str(architecture), input_layout="keras")
    with torch.no_grad():
        return module(torch.from_numpy(inputs)).numpy()


@pytest.mark.parametrize("seed", range(6))
def test_tf_keras_weights_of_another_session_pair_in_order_as_keras_loads_them(tmp_path, seed):
    import tf_keras as k

    rng = np.random.default_rng(seed)
    kinds = list(rng.choice(["dense", "conv", "lstm", "gru", "norm", "drop"], size=4))
    architecture, weights = _two_sessions(k, tmp_path, seed, kinds)
    model = _keras_loaded(k, architecture, weights)
    inputs = rng.normal(0, 1, (4, 5, 6)).astype("float32")
    expected = np.asarray(model(inputs, training=False))
    got = _module_outputs(weights, architecture, inputs)
    np.testing.assert_allclose(got, expected, atol=1e-5 * max(1.0, float(np.abs(expected).max())))
    conversion = converter.convert(str(weights), tmp_path / "out.safetensors", architecture=str(architecture))
    assert any("paired in order" in note for note in conversion.warnings)


def test_the_name_a_file_shares_with_another_layer_of_the_config_does_not_decide(tmp_path):
    """The file's dense_1 is the config's second Dense by name, but its first by order, as Keras loads it: two
    layers of one shape, so only the outputs tell a by-name pairing from Keras's."""
    import tf_keras as k

    k.backend.clear_session()
    first = k.Sequential([k.Input((4,)), k.layers.Dense(4, name="dense"), k.layers.Dense(4, name="dense_1")])
    second = k.Sequential([k.Input((4,)), k.layers.Dense(4, name="dense_1"), k.layers.Dense(4, name="dense_2")])
    randomize(second, 3)
    architecture, weights = tmp_path / "model.json", tmp_path / "model.h5"
    architecture.write_text(first.to_json())
    second.save_weights(str(weights))
    inputs = np.random.default_rng(0).normal(0, 1, (3, 4)).astype("float32")
    expected = np.asarray(_keras_loaded(k, architecture, weights)(inputs))
    np.testing.assert_allclose(_module_outputs(weights, architecture, inputs), expected, atol=1e-5)
    state = converter.state_dict(str(weights), architecture=str(architecture))
    np.testing.assert_array_equal(state["dense.weight"], second.layers[0].kernel.numpy().T)


def test_keras2_weights_with_a_keras3_architecture_build_and_verify_as_keras3(tmp_path):
    """A Keras 3 `model.to_json()` (no version recorded, InputLayer's `batch_shape`) beside tf.keras weights:
    Keras 3 builds it and loads the `.h5` by order; tf_keras cannot build a Keras 3 config."""
    import keras
    import tf_keras as k

    keras.utils.clear_session()
    described = keras.Sequential([keras.Input((5, 6)), keras.layers.LSTM(4, return_sequences=True),
                                  keras.layers.Dropout(0.3), keras.layers.LSTM(3), keras.layers.Dense(2)])
    architecture = tmp_path / "model.json"
    architecture.write_text(described.to_json())
    k.backend.clear_session()
    _ = k.layers.LSTM(1), k.layers.Dense(1)  # the weights' session had named others first
    trained = k.Sequential([k.Input((5, 6)), k.layers.LSTM(4, return_sequences=True), k.layers.Dropout(0.3),
                            k.layers.LSTM(3), k.layers.Dense(2)])
    randomize(trained, 5)
    weights = tmp_path / "model.h5"
    trained.save_weights(str(weights))
    inputs = np.random.default_rng(1).normal(0, 1, (3, 5, 6)).astype("float32")
    expected = np.asarray(_keras_loaded(keras, architecture, weights)(inputs))
    np.testing.assert_allclose(_module_outputs(weights, architecture, inputs), expected, atol=1e-5)
    report = converter.verify(str(weights), architecture=str(architecture), per_layer=True)
    assert report.ok
    graph = converter.read(str(weights), architecture=str(architecture))
    assert graph.keras_version.startswith("unknown")  # built as today's Keras 3 computes


def test_a_pairing_the_names_cannot_tell_is_refused(tmp_path):
    """A TimeDistributed of a Dropout (no weights) and one of a Dense share a name stem: which of the config's two
    the file's one weighted layer is cannot be told without knowing which hold weights."""
    import tf_keras as k

    k.backend.clear_session()

    def model():
        return k.Sequential([k.Input((3, 4)), k.layers.TimeDistributed(k.layers.Dropout(0.1)),
                             k.layers.TimeDistributed(k.layers.Dense(2))])

    described, trained = model(), model()
    architecture, weights = tmp_path / "model.json", tmp_path / "model.h5"
    architecture.write_text(described.to_json())
    trained.save_weights(str(weights))
    with pytest.raises(LayoutError, match="cannot be told from their names"):
        converter.state_dict(str(weights), architecture=str(architecture))


def test_renamed_layers_of_another_kind_are_refused(tmp_path):
    """Names whose stems differ (a user's own names changed) pair with nothing."""
    import tf_keras as k

    k.backend.clear_session()
    trained = k.Sequential([k.Input((4,)), k.layers.Dense(3, name="encoder"), k.layers.Dense(2, name="head")])
    described = json.loads(trained.to_json())
    for entry, name in zip(described["config"]["layers"][1:], ("hidden", "out")):
        entry["config"]["name"] = name
    weights = tmp_path / "model.h5"
    trained.save_weights(str(weights))
    with pytest.raises(LayoutError, match="encoder, head match no layer"):
        converter.state_dict(str(weights), architecture=described)


def _keras3_model(keras, seed: int):
    """A functional model around a nested Sequential, auto-named (recent Keras 3 records each name in the file)."""
    rng = np.random.default_rng(seed)
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(int(rng.integers(3, 7))),
                              keras.layers.BatchNormalization()])
    x = keras.Input((6,))
    y = keras.layers.Dense(4, activation="tanh")(inner(x))
    return keras.Model(x, keras.layers.Dense(3)(keras.layers.Concatenate()([y, x])))


@pytest.mark.parametrize("seed", range(3))
def test_keras3_weights_of_another_session_read_from_their_places(tmp_path, seed):
    """Keras 3's `.weights.h5` places weights by path; the names the file records differ as a second session's."""
    import keras

    keras.utils.clear_session()
    described = _keras3_model(keras, seed)
    for _ in range(seed):
        _keras3_model(keras, seed)  # more sessions' worth of layers named before
    trained = _keras3_model(keras, seed)
    randomize(trained, seed)
    architecture, weights = tmp_path / "model.json", tmp_path / "model.weights.h5"
    architecture.write_text(described.to_json())
    trained.save_weights(str(weights))
    inputs = np.random.default_rng(seed).normal(0, 1, (4, 6)).astype("float32")
    expected = np.asarray(_keras_loaded(keras, architecture, weights)(inputs))
    np.testing.assert_allclose(_module_outputs(weights, architecture, inputs), expected, atol=1e-5)
    conversion = converter.convert(str(weights), tmp_path / "out.safetensors", architecture=str(architecture))
    assert any("another session" in note for note in conversion.warnings)


@pytest.mark.parametrize("edit", ["renamed", "swapped"])
def test_keras3_names_that_differ_otherwise_are_refused(tmp_path, edit):
    """A layer renamed by its user, or two of a class whose numbers run against the file's: not another session's
    numbering, so the architecture is taken not to be these weights'."""
    import keras

    keras.utils.clear_session()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.Dense(4)])
    weights = tmp_path / "model.weights.h5"
    model.save_weights(str(weights))
    described = json.loads(model.to_json())
    first, second = described["config"]["layers"][1:]
    if edit == "renamed":
        first["config"]["name"] = "encoder"
    else:
        first["config"]["name"], second["config"]["name"] = second["config"]["name"], first["config"]["name"]
    with pytest.raises(LayoutError, match="names its layers otherwise than the architecture"):
        converter.state_dict(str(weights), architecture=described)


def test_an_architecture_with_a_layer_more_than_the_weights_names_the_architecture(tmp_path):
    """A real repository's `model_weights.h5` of two LSTMs beside a `model.json` of three: the third has no
    weights, and the architecture (not an unbuilt model) is what to doubt."""
    import tf_keras as k

    k.backend.clear_session()
    trained = k.Sequential([k.Input((5, 3)), k.layers.LSTM(4, return_sequences=True, name="lstm"),
                            k.layers.LSTM(2, name="lstm_1"), k.layers.Dense(2, name="dense")])
    described = k.Sequential([k.Input((5, 3)), k.layers.LSTM(4, return_sequences=True, name="lstm"),
                              k.layers.LSTM(4, return_sequences=True, name="lstm_1"),
                              k.layers.LSTM(2, name="lstm_2"), k.layers.Dense(2, name="dense")])
    weights = tmp_path / "model_weights.h5"
    trained.save_weights(str(weights))
    with pytest.raises(LayoutError, match="is the architecture given the model these weights were saved from"):
        converter.state_dict(str(weights), architecture=json.loads(described.to_json()))


def test_a_nested_model_of_another_session_pairs_its_layers_in_order(tmp_path):
    """A nested Sequential's group names its layers' scopes as the weights' session did (`dense_8/kernel:0` where
    the JSON's nested model holds `dense_2`): paired by order within each stem, as Keras loads them by position;
    two Dense of one shape, so only the outputs tell a wrong pairing."""
    import tf_keras as k

    def model():
        inner = k.Sequential([k.layers.Dense(4), k.layers.Dropout(0.1), k.layers.Dense(4),
                              k.layers.BatchNormalization()])
        return k.Sequential([k.Input((4,)), k.layers.Dense(4), inner, k.layers.Dense(2)])

    k.backend.clear_session()
    described = model()
    model()
    trained = model()
    randomize(trained, 9)
    architecture, weights = tmp_path / "model.json", tmp_path / "model.h5"
    architecture.write_text(described.to_json())
    trained.save_weights(str(weights))
    inputs = np.random.default_rng(2).normal(0, 1, (5, 4)).astype("float32")
    expected = np.asarray(_keras_loaded(k, architecture, weights)(inputs, training=False))
    np.testing.assert_allclose(_module_outputs(weights, architecture, inputs), expected, atol=1e-5)
