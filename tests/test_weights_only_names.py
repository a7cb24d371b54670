"""Weights-only files read without the model's config: each layer's class is told from its name (`dense_3`), and a
layer whose name says a Keras class its variables are not (a user's own `attention` layer, as in a real tf.keras
file of a public repository) is left without a rule: named in the error, its tensors exported as stored."""
from __future__ import annotations

import re

import numpy as np
import pytest

import converter
from helpers import run_cli
from layer_harness import randomize


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import tf_keras as k

    class Scorer(k.layers.Layer):  # a user's own layer, named like Keras's (weightless) Attention
        def build(self, input_shape):
            self.W = self.add_weight(name="attention_W", shape=(int(input_shape[-1]), 1))

        def call(self, x):
            return x * k.backend.sum(x @ self.W)

    inputs = k.Input((5,))
    outputs = k.layers.Dense(3, name="dense_1")(Scorer(name="attention")(k.layers.Dense(5, name="dense")(inputs)))
    model = k.Model(inputs, outputs)
    randomize(model, seed=5)
    path = tmp_path_factory.mktemp("names") / "weights.h5"
    model.save_weights(str(path))
    return path, model


def test_a_layer_named_like_a_keras_class_it_is_not_is_left_without_a_rule(weights_file):
    path, _ = weights_file
    with pytest.raises(converter.UnsupportedLayerError, match=r"attention.*--architecture"):
        converter.state_dict(str(path))
    # the others convert without it, and every tensor exports as stored
    converted = converter.state_dict(str(path), skip_unsupported=True)
    assert sorted(converted) == ["dense.bias", "dense.weight", "dense_1.bias", "dense_1.weight"]


def test_its_tensors_export_as_stored(weights_file, tmp_path):
    path, model = weights_file
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"), "--layout", "keras")
    assert result.returncode == 0, result.stderr
    from safetensors.numpy import load_file

    written = load_file(str(tmp_path / "out.safetensors"))
    key = next(key for key in written if key.endswith("attention_W"))
    np.testing.assert_array_equal(written[key], model.get_layer("attention").weights[0].numpy())


def _without_cells(path) -> None:
    """Rename a tf.keras weights file's `bidirectional/forward_lstm/lstm_cell/kernel:0` as Keras 2.2 wrote it,
    `bidirectional/forward_lstm/kernel:0` (a real Keras 2.1.6 file of a public repository)."""
    import h5py

    with h5py.File(path, "a") as h5:
        for layer in h5.attrs["layer_names"]:
            group = h5[layer]
            names = [name.decode() if isinstance(name, bytes) else name for name in group.attrs["weight_names"]]
            renamed = [re.sub(r"/(lstm|gru)_cell(_\d+)?/", "/", name) for name in names]
            for old, new in zip(names, renamed):
                if old != new:
                    group[new] = group[old][()]
                    del group[old]
            group.attrs["weight_names"] = [name.encode() for name in renamed]


@pytest.mark.parametrize("cells", [True, False], ids=["tf.keras names", "Keras 2.2 names"])
def test_bidirectional_weights_without_the_model(tmp_path, cells):
    """Keras names a Bidirectional's copies `forward_<inner>` and `backward_<inner>`: the wrapped class is told
    from them, and the tensors convert exactly as with the model's config."""
    import tf_keras as k

    model = k.Sequential([k.Input((4, 3)), k.layers.Bidirectional(k.layers.LSTM(5, return_sequences=True)),
                          k.layers.Bidirectional(k.layers.GRU(2), name="rnn"), k.layers.Dense(2)])
    randomize(model, seed=3)
    model.save(str(tmp_path / "model.h5"))
    model.save_weights(str(tmp_path / "weights.h5"))
    if not cells:
        _without_cells(tmp_path / "weights.h5")
    full, weights_only = (converter.state_dict(str(tmp_path / name)) for name in ("model.h5", "weights.h5"))
    assert sorted(full) == sorted(weights_only) and "rnn.weight_hh_l0_reverse" in full
    for key in full:
        np.testing.assert_array_equal(full[key], weights_only[key], err_msg=key)


def test_keras3_bidirectional_weights_without_the_model(tmp_path):
    """A Keras 3 `.weights.h5` records its Bidirectional's copies as `forward_lstm` (and their cells as `lstm_cell`):
    the wrapped class is told from those names, and the tensors convert exactly as with the `.keras` file."""
    import keras

    layers = keras.layers
    model = keras.Sequential([keras.Input((4, 3)), layers.Bidirectional(layers.LSTM(5, return_sequences=True)),
                              layers.Bidirectional(layers.GRU(2), name="summary"), layers.Dense(2)])
    randomize(model, seed=4)
    model.save(str(tmp_path / "model.keras"))
    model.save_weights(str(tmp_path / "model.weights.h5"))
    full, weights_only = (converter.state_dict(str(tmp_path / name)) for name in ("model.keras", "model.weights.h5"))
    # (auto-generated names depend on what the process built before: the second wrapper is named)
    assert sorted(full) == sorted(weights_only) and "summary.weight_hh_l0_reverse" in full
    for key in full:
        np.testing.assert_array_equal(full[key], weights_only[key], err_msg=key)


def test_a_scope_numbered_twice_is_told_by_its_class(tmp_path):
    """Keras 2 on TensorFlow 1 numbered a layer's weight scope again when the model was built more than once in a
    session (`conv2d_27` saved as `conv2d_27_4`, a real Keras 2.2.2 file of a public repository): still a Conv2D."""
    import tf_keras as k

    cnn = k.Sequential([k.Input((6, 6, 1)), k.layers.Conv2D(3, 3, name="conv2d_27_4"), k.layers.GlobalMaxPooling2D(),
                        k.layers.Dense(4, name="dense_52_4")], name="cnn")
    inputs = k.Input((6, 6, 1))
    model = k.Model(inputs, k.layers.Dense(2, name="dense_3_1")(cnn(inputs)))
    randomize(model, seed=9)
    model.save_weights(str(tmp_path / "weights.h5"))
    (tmp_path / "model.json").write_text(model.to_json())
    guessed = converter.state_dict(str(tmp_path / "weights.h5"))
    known = converter.state_dict(str(tmp_path / "weights.h5"), architecture=str(tmp_path / "model.json"))
    assert sorted(guessed) == sorted(known) and len(known) == 6
    for key in known:
        np.testing.assert_array_equal(guessed[key], known[key], err_msg=key)


def _head_cases(k):
    conv = [k.layers.Conv2D(3, 2, name="conv2d"), k.layers.BatchNormalization(name="batch_normalization")]
    return {  # case: (layers, whether a Dense is named, and what the warning names as evidence)
        "flatten": ([k.Input((5, 5, 2)), *conv, k.layers.Flatten(name="flatten")], True, ["flatten", "conv2d"]),
        "pooled": ([k.Input((5, 5, 2)), *conv, k.layers.GlobalAveragePooling2D(name="pool")], False, []),
        "reshaped": ([k.Input((5, 5, 2)), *conv, k.layers.Reshape((48,), name="reshape")], True, ["conv2d"]),
        "bottleneck": ([k.Input((4, 4, 8)), k.layers.Flatten(name="flatten")], True, ["flatten"]),  # a top model
        "tabular": ([k.Input((6,))], False, []),
    }


@pytest.mark.parametrize("writer", ["tf_keras", "keras"])
@pytest.mark.parametrize("case", ["flatten", "pooled", "reshaped", "bottleneck", "tabular"])
def test_a_dense_that_may_read_a_flattened_map_is_named(tmp_path, writer, case):
    """Without the model's config nothing shows whether a Dense reads a Flatten of a feature map (its rows then in
    Keras's (h, w, c) order, not NCHW's): where it can (no layer's output width, and the file holds a Flatten or
    convolutions whose flattened map it could be), a warning names it; with the architecture it is regrouped or
    known not to need it, and nothing is said."""
    import importlib

    k = importlib.import_module(writer)
    layers, named_expected, evidence = _head_cases(k)[case]
    model = k.Sequential([*layers, k.layers.Dense(4, name="dense"), k.layers.Dense(2, name="dense_1")])
    randomize(model, seed=10)
    path = tmp_path / ("weights.h5" if writer == "tf_keras" else "model.weights.h5")
    model.save_weights(str(path))
    (tmp_path / "model.json").write_text(model.to_json())
    with converter.read(str(path)) as graph:
        warnings = converter.convert_graph(graph).warnings
    named = [warning for warning in warnings if "Flatten of a feature map" in warning]
    if not named_expected:
        assert not named, named
    else:
        assert len(named) == 1 and "whether dense read(s)" in named[0], warnings
        assert all(name in named[0] for name in evidence), named[0]
    with converter.read(str(path), architecture=str(tmp_path / "model.json")) as graph:
        assert not [warning for warning in converter.convert_graph(graph).warnings if "Flatten of a" in warning]


def test_application_weights_without_an_architecture_say_how_to_write_one(tmp_path):
    """keras.applications' weight files (`mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5`) hold weights
    only, under names no class is told from (`Conv1`, `bn_Conv1`): the error says how to write the architecture."""
    import tf_keras as k

    x = k.Input((8, 8, 3))
    model = k.Model(x, k.layers.BatchNormalization(name="bn_Conv1")(k.layers.Conv2D(4, 3, name="Conv1")(x)))
    model.save_weights(str(tmp_path / "weights.h5"))
    result = run_cli("convert", str(tmp_path / "weights.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Conv1 (Conv1)" in result.stderr and "keras.applications.<Model>(weights=None)" in result.stderr
