"""Keras 1's other layers (recurrent layers of either weight form, Conv1D kernels of either form, Theano's 'th'
ordering, merges of branches, TimeDistributed, Bidirectional, random image models), each written as Keras 1.2 wrote
its `.h5` (keras1_writer) and converted to what the tf_keras model computes.
"""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import pytest

from keras1_writer import as_keras1, assert_converts, assert_same_state, keras1_config, keras1_weights
from layer_harness import randomize


def _text(k: Any) -> Any:
    """2016's text models: masked ids, stacked recurrent layers of each kind (Keras 1's hard sigmoid gates)."""
    return k.Sequential([
        k.Input((7,)), k.layers.Embedding(20, 6, mask_zero=True),
        k.layers.LSTM(5, return_sequences=True, recurrent_activation="hard_sigmoid"),
        k.layers.GRU(4, return_sequences=True, reset_after=False, recurrent_activation="hard_sigmoid"),
        k.layers.SimpleRNN(3, activation="relu", go_backwards=True), k.layers.Dense(2)])


@pytest.mark.parametrize("gates", ["cpu", "gpu"])
def test_recurrent_layers_of_either_weight_form(tmp_path, gates):
    import tf_keras as k

    model = _text(k)
    randomize(model, seed=13)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5", gates=gates)
    ids = np.random.default_rng(5).integers(1, 20, size=(4, 7)).astype("int32")
    ids[1, 4:] = 0
    ids[3, :2] = 0
    assert_converts(tmp_path / "m.h5", model, ids, verified=True)
    model.save(str(tmp_path / "keras2.h5"))
    assert_same_state(tmp_path / "m.h5", tmp_path / "keras2.h5")


@pytest.mark.parametrize("conv1d", ["1.2", "1.1"])
@pytest.mark.parametrize("theano", [False, True])
def test_conv1d_kernels_of_either_keras1_form(tmp_path, conv1d, theano):
    import tf_keras as k

    model = k.Sequential([k.Input((10, 3)), k.layers.Conv1D(4, 3, activation="relu"), k.layers.MaxPooling1D(2),
                          k.layers.Conv1D(2, 2, strides=2), k.layers.Flatten(), k.layers.Dense(1)])
    randomize(model, seed=14)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5", theano=theano, conv1d=conv1d)
    x = np.random.default_rng(6).normal(size=(3, 10, 3)).astype("float32")
    assert_converts(tmp_path / "m.h5", model, x)


@pytest.mark.parametrize("theano", [False, True])
def test_channels_first_th_ordering(tmp_path, theano):
    """dim_ordering 'th' (Theano's default): channels-first layers, kernels kept as (out, in, rows, cols)."""
    import tf_keras as k

    model = k.Sequential([k.Input((2, 9, 8)), k.layers.Conv2D(3, (3, 2), data_format="channels_first"),
                          k.layers.BatchNormalization(axis=1),
                          k.layers.MaxPooling2D((2, 2), data_format="channels_first"),
                          k.layers.Conv2D(4, 2, activation="relu", data_format="channels_first"),
                          k.layers.Flatten(), k.layers.Dense(2)])
    randomize(model, seed=15)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5", theano=theano)
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        assert '"dim_ordering": "th"' in h5.attrs["model_config"]
    x = np.random.default_rng(7).normal(size=(3, 2, 9, 8)).astype("float32")
    assert_converts(tmp_path / "m.h5", model, x, verified=True)


def test_a_sequential_of_a_merge_of_branches(tmp_path):
    """Keras 1's multi-input models: Sequential([Merge([left, right], mode='concat'), Dense]), branches of their own
    Sequentials, weights stored branch by branch (legacy_merge)."""
    import tf_keras as k

    left = [k.layers.Dense(4, activation="tanh", name="dense_1"), k.layers.Dropout(0.2, name="dropout_1")]
    right = [k.layers.Conv2D(2, 3, name="convolution2d_1"), k.layers.Flatten(name="flatten_1")]
    a, b = k.Input((5,), name="dense_1_input"), k.Input((6, 5, 1), name="convolution2d_1_input")
    xa, xb = a, b
    for layer in left:
        xa = layer(xa)
    for layer in right:
        xb = layer(xb)
    head = k.layers.Dense(2, name="dense_2")
    model = k.Model([a, b], head(k.layers.Concatenate(name="merge_1")([xa, xb])))
    randomize(model, seed=16)
    model.save(str(tmp_path / "m.h5"))

    def branch(layers: list[Any], shape: tuple) -> dict[str, Any]:
        entries = [dict(zip(("class_name", "config"), keras1_config(layer))) for layer in layers]
        entries[0]["config"]["batch_input_shape"] = [None, *shape]
        return {"class_name": "Sequential", "config": entries}

    merge = {"name": "merge_1", "mode": "concat", "mode_type": "raw", "concat_axis": -1, "dot_axes": -1,
             "output_shape": None, "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw",
             "arguments": {}, "layers": [branch(left, (5,)), branch(right, (6, 5, 1))]}
    stored = ["dense_1", "dropout_1", "convolution2d_1", "flatten_1", "dense_2"]
    with h5py.File(tmp_path / "m.h5", "a") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": [
            {"class_name": "Merge", "config": merge}, dict(zip(("class_name", "config"), keras1_config(head)))]})
        h5.attrs["keras_version"] = "1.2.1"
        del h5.attrs["backend"]
        weights = h5["model_weights"]
        for name in list(weights):
            if name not in stored:
                del weights[name]
                continue
            group = weights[name]
            arrays = {}
            for old in group.attrs["weight_names"]:
                old = old.decode() if isinstance(old, bytes) else old
                arrays[old.rsplit("/", 1)[-1].split(":")[0]] = group[old][()]
                del group[old]
            for child in list(group):
                del group[child]
            kind = type(model.get_layer(name)).__name__
            names = [f"{name}_{short}:0" for short, _ in keras1_weights(kind, arrays, "cpu", "1.2", False)]
            for new, (_, array) in zip(names, keras1_weights(kind, arrays, "cpu", "1.2", False)):
                group.create_dataset(new, data=array)
            group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S64") if names else \
                np.array([], dtype="float64")
        weights.attrs["layer_names"] = np.array([n.encode() for n in stored])
    rng = np.random.default_rng(8)
    arrays = [rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 6, 5, 1)).astype("float32")]
    assert_converts(tmp_path / "m.h5", model, arrays, verified=True)


def test_the_other_layers_read(tmp_path):
    """PReLU (its alphas), noise and regularization layers (inference no-ops), masking, 1-D padding, cropping and
    upsampling, each from Keras 1's arguments."""
    import tf_keras as k

    model = k.Sequential([k.Input((9, 3)), k.layers.Masking(0.0), k.layers.ZeroPadding1D((1, 2)),
                          k.layers.Cropping1D((2, 1)), k.layers.UpSampling1D(2), k.layers.Conv1D(4, 3),
                          k.layers.PReLU(shared_axes=[1]), k.layers.GaussianNoise(0.3), k.layers.GaussianDropout(0.2),
                          k.layers.ActivityRegularization(0.01, 0.02), k.layers.Flatten(), k.layers.Dense(3),
                          k.layers.PReLU()])
    randomize(model, seed=17)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5")
    x = np.random.default_rng(9).normal(size=(4, 9, 3)).astype("float32")
    assert_converts(tmp_path / "m.h5", model, x)


def test_time_distributed_layers(tmp_path):
    """Keras 1's TimeDistributed (2016's sequence labelling and video models): its inner layer's arguments and
    weights, which Keras 1 named after that layer."""
    import tf_keras as k

    frames = k.Input((3, 8, 7, 2), name="input_1")
    x = k.layers.TimeDistributed(k.layers.Conv2D(3, 3, activation="relu"), name="timedistributed_1")(frames)
    x = k.layers.TimeDistributed(k.layers.Flatten(), name="timedistributed_2")(x)
    x = k.layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm_1")(x)
    x = k.layers.TimeDistributed(k.layers.Dense(2, activation="softmax"), name="timedistributed_3")(x)
    model = k.Model(frames, x)
    randomize(model, seed=18)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5")
    x = np.random.default_rng(10).normal(size=(2, 3, 8, 7, 2)).astype("float32")
    assert_converts(tmp_path / "m.h5", model, x, verified=True)


def _random_image_model(k: Any, rng: np.random.Generator, channels_first: bool, theano: bool) -> Any:
    """A random Sequential of the image layers Keras 1 files are read with (sizes kept valid)."""
    data_format = "channels_first" if channels_first else "channels_last"
    size, layers = 12, []
    for _ in range(int(rng.integers(2, 6))):
        kind = rng.choice(["conv", "conv", "bn", "pool", "pad", "up", "crop", "act", "dropout"])
        if kind == "conv" and size >= 4:
            kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            stride = int(rng.integers(1, 3))
            # (Theano's 'same' of a stride or even window is refused: tested apart)
            odd = kernel[0] % 2 == 1 and kernel[1] % 2 == 1 and stride == 1
            padding = "same" if rng.random() < 0.5 and (odd or not theano) else "valid"
            layers.append(k.layers.Conv2D(int(rng.integers(1, 5)), kernel, strides=stride, padding=padding,
                                          data_format=data_format, activation=str(rng.choice(["linear", "relu"]))))
            size = -(-size // stride) if padding == "same" else (size - max(kernel)) // stride + 1
        elif kind == "bn":
            layers.append(k.layers.BatchNormalization(axis=1 if channels_first else -1,
                                                      epsilon=float(rng.choice([1e-3, 1e-5]))))
        elif kind == "pool" and size >= 4:
            pool = (k.layers.MaxPooling2D if rng.random() < 0.5 else k.layers.AveragePooling2D)
            layers.append(pool(2, data_format=data_format))
            size //= 2
        elif kind == "pad":
            layers.append(k.layers.ZeroPadding2D((1, 2), data_format=data_format))
            size += 2
        elif kind == "up" and size <= 12:
            layers.append(k.layers.UpSampling2D((2, 1), data_format=data_format))
            size *= 1  # (the smaller side grows too little to matter for the bounds kept here)
        elif kind == "crop" and size >= 6:
            layers.append(k.layers.Cropping2D(((1, 0), (0, 1)), data_format=data_format))
            size -= 1
        elif kind == "act":
            layers.append(rng.choice([k.layers.ELU(alpha=0.8), k.layers.LeakyReLU(alpha=0.3),
                                      k.layers.Activation("tanh")]))
        elif kind == "dropout":
            layers.append(k.layers.Dropout(0.3))
    shape = (2, 12, 12) if channels_first else (12, 12, 2)
    return k.Sequential([k.Input(shape), *layers, k.layers.Flatten(), k.layers.Dense(3)])


@pytest.mark.parametrize("seed", range(24))
def test_random_keras1_image_models(tmp_path, seed):
    """Random stacks of the image layers read, in either dim_ordering and either backend's naming."""
    import tf_keras as k

    rng = np.random.default_rng(1_900_000 + seed)
    channels_first, theano = bool(seed % 2), bool(seed // 2 % 2)
    model = _random_image_model(k, rng, channels_first, theano)
    randomize(model, seed=seed)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5", theano=theano)
    x = rng.normal(size=(2, *model.input_shape[1:])).astype("float32")
    assert_converts(tmp_path / "m.h5", model, x)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("gates", ["cpu", "gpu"])
def test_bidirectional_layers(tmp_path, merge_mode, gates):
    """Keras 1's Bidirectional: its forward and backward copies' weights, named `forward_<layer>_W_i`, ...; masked
    ids, as 2016's taggers ran it."""
    import tf_keras as k

    model = k.Sequential([
        k.Input((6,)), k.layers.Embedding(15, 4, mask_zero=True),
        k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid",
                                             name="lstm_1"), merge_mode=merge_mode, name="bidirectional_1"),
        k.layers.Bidirectional(k.layers.GRU(2, reset_after=False, recurrent_activation="hard_sigmoid",
                                            name="gru_1"), name="bidirectional_2"),
        k.layers.Dense(2)])
    randomize(model, seed=19)
    model.save(str(tmp_path / "m.h5"))
    as_keras1(model, tmp_path / "m.h5", gates=gates)
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        names = [n.decode() for n in h5["model_weights/bidirectional_1"].attrs["weight_names"]]
    assert names[0].startswith("forward_lstm_1_W") and any(n.startswith("backward_lstm_1_") for n in names)
    ids = np.random.default_rng(11).integers(1, 15, size=(4, 6)).astype("int32")
    ids[0, 3:] = 0
    ids[2, :2] = 0
    assert_converts(tmp_path / "m.h5", model, ids, verified=True)
