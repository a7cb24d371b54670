"""Keras 1's 3D layers (2016's C3D video models: Convolution3D, 3D pooling, padding, upsampling and cropping) and
TimeDistributedDense, made as Keras 1.2 wrote them (tests/test_keras1_files.py), against the tf_keras model they
describe."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from layer_harness import randomize
from keras1_writer import as_keras1, assert_converts


def _c3d(k, data_format):
    """C3D's shape, small: 3x3x3 convolutions, a first pooling of 1x2x2, zero padding, a dense head."""
    options = {"data_format": data_format}
    shape = (6, 10, 10, 3) if data_format == "channels_last" else (3, 6, 10, 10)
    return k.Sequential([
        k.Input(shape), k.layers.Conv3D(4, 3, padding="same", activation="relu", **options),
        k.layers.MaxPooling3D((1, 2, 2), (1, 2, 2), **options), k.layers.ZeroPadding3D((1, 1, 0), **options),
        k.layers.Conv3D(5, (3, 2, 3), strides=(1, 2, 1), **options),
        k.layers.AveragePooling3D((2, 2, 2), (1, 1, 1), **options), k.layers.UpSampling3D((1, 2, 1), **options),
        k.layers.Cropping3D(((0, 1), (1, 0), (0, 1)), **options), k.layers.Flatten(), k.layers.Dense(3)])


@pytest.mark.parametrize("theano", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_c3d_like_model_converts_to_what_it_computed(tmp_path, data_format, theano):
    """dim_ordering 'tf', and 'th' (C3D's own, trained with Theano): kernels kept as (out, in, d, h, w)."""
    import tf_keras as k

    model = _c3d(k, data_format)
    randomize(model, seed=21)
    path = tmp_path / "c3d.h5"
    model.save(str(path))
    as_keras1(model, path, theano=theano)
    with h5py.File(path, "r") as h5:
        config = h5.attrs["model_config"]
    assert '"class_name": "Convolution3D"' in config
    assert f'"dim_ordering": "{"tf" if data_format == "channels_last" else "th"}"' in config
    x = np.random.default_rng(3).normal(size=(2, *model.input_shape[1:])).astype("float32")
    assert_converts(path, model, x, verified=True)


@pytest.mark.parametrize("theano", [False, True])
def test_time_distributed_dense_is_a_dense_of_each_step(tmp_path, theano):
    """Keras 1.0's TimeDistributedDense (2015-16 sequence taggers and char-level models): a Dense of each step,
    with `output_dim` and weights `W`, `b`, after a masked recurrent layer."""
    import tf_keras as k

    model = k.Sequential([k.Input((7, 4)), k.layers.Masking(0.0), k.layers.LSTM(5, return_sequences=True),
                          k.layers.Dense(3, activation="softmax", name="tagger")])
    randomize(model, seed=23)
    path = tmp_path / "tagger.h5"
    model.save(str(path))
    as_keras1(model, path, theano=theano)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        tagger = next(entry for entry in config["config"] if entry["config"]["name"] == "tagger")
        tagger["class_name"] = "TimeDistributedDense"
        tagger["config"]["input_length"] = None
        h5.attrs["model_config"] = json.dumps(config)
    x = np.random.default_rng(5).normal(size=(3, 7, 4)).astype("float32")
    x[0, 5:] = 0.0  # masked steps
    assert_converts(path, model, x, verified=True)
