"""Keras 2 files trained on Theano (their `backend` attribute says 'theano'), and CNTK's.

Theano convolves, TensorFlow and PyTorch cross-correlate: Theano's Keras holds each convolution kernel spatially
flipped for the same function, and Keras 2's own loader flipped such kernels to load a Theano file on TensorFlow
(saving.py, _need_convert_kernel). The files here are made from a tf_keras model: every convolution kernel flipped
and the backend set to Theano, which is what Keras 2 on Theano writes for that model. tf_keras itself loads them
unflipped (it dropped the conversion), so its outputs are not those of the model the file describes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest

import converter
from build_harness import torch_outputs
from helpers import run_cli
from layer_harness import randomize


def _images(k: Any) -> Any:
    # (padding 'valid': Theano placed 'same' padding otherwise, refused; see test_theano_same_padding_is_refused)
    return k.Sequential([k.Input((12, 10, 3)), k.layers.Conv2D(4, (3, 2)),
                         k.layers.Conv2DTranspose(3, (2, 3), strides=2), k.layers.BatchNormalization(),
                         k.layers.Reshape((20 * 19, 3)), k.layers.Conv1D(5, 3, strides=2), k.layers.Flatten(),
                         k.layers.Dense(2)])


def _videos(k: Any) -> Any:
    inputs = k.Input((3, 6, 5, 2))
    x = k.layers.ConvLSTM2D(3, (3, 2), padding="same", return_sequences=True)(inputs)
    x = k.layers.TimeDistributed(k.layers.Conv2D(2, (2, 3)))(x)
    y = k.layers.Conv3D(2, (2, 3, 2))(inputs)
    outputs = k.layers.Concatenate()([k.layers.Flatten()(x), k.layers.Flatten()(y)])
    return k.Model(inputs, k.layers.Dense(3)(outputs))


BUILDERS: dict[str, Callable[[Any], Any]] = {"images": _images, "videos": _videos}


def _as_theano(source: Path, target: Path, flip: bool = True) -> None:
    """`source` (a tf_keras .h5) as Keras 2 on Theano would have written the same model: each convolution kernel
    (a dataset named kernel of 3 or more axes) reversed along its spatial axes, the backend attributes 'theano'."""
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "a") as h5:
        for group in (h5, h5["model_weights"]):
            assert group.attrs["backend"] in (b"tensorflow", "tensorflow")
            group.attrs["backend"] = "theano"
        kernels: list[str] = []
        h5["model_weights"].visititems(lambda name, item: kernels.append(name) if isinstance(item, h5py.Dataset)
                                       and "kernel" in name.rsplit("/", 1)[-1] and item.ndim >= 3 else None)
        assert kernels
        for name in kernels if flip else []:
            dataset = h5["model_weights"][name]
            dataset[...] = dataset[()][(slice(None, None, -1),) * (dataset.ndim - 2)]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def theano_model(request, tmp_path_factory):
    import tf_keras as k

    folder = tmp_path_factory.mktemp("theano")
    model = BUILDERS[request.param](k)
    randomize(model, seed=7)
    model.save(str(folder / "tensorflow.h5"))
    _as_theano(folder / "tensorflow.h5", folder / "theano.h5")
    x = np.random.default_rng(1).normal(size=(3,) + tuple(model.input_shape[1:])).astype("float32")
    return model, folder, x


def test_a_theano_file_converts_to_the_model_it_was_trained_as(theano_model):
    model, folder, x = theano_model
    expected = model(x).numpy()
    np.testing.assert_allclose(torch_outputs(str(folder / "theano.h5"), [x], "keras")[0], expected, atol=1e-5)
    # the state_dict is the TensorFlow-trained file's, tensor for tensor: the flip undone exactly
    theano, tensorflow = (converter.state_dict(str(folder / f"{name}.h5")) for name in ("theano", "tensorflow"))
    assert sorted(theano) == sorted(tensorflow)
    for key in tensorflow:
        np.testing.assert_array_equal(theano[key], tensorflow[key], err_msg=key)


def test_the_cli_writes_the_flipped_kernels(theano_model, tmp_path):
    _, folder, _ = theano_model
    result = run_cli("convert", str(folder / "theano.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 0, result.stderr
    from safetensors.numpy import load_file

    written, expected = load_file(str(tmp_path / "out.safetensors")), converter.state_dict(str(folder / "theano.h5"))
    assert sorted(written) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(written[key], expected[key], err_msg=key)


def test_the_backend_decides_the_flip(theano_model, tmp_path):
    """The same kernels said to be Theano's but not flipped: the converted model must differ (the flip is
    real), and the TensorFlow-written file converts as before."""
    model, folder, x = theano_model
    _as_theano(folder / "tensorflow.h5", tmp_path / "unflipped.h5", flip=False)
    expected = model(x).numpy()
    assert np.abs(torch_outputs(str(tmp_path / "unflipped.h5"), [x], "keras")[0] - expected).max() > 1e-2
    np.testing.assert_allclose(torch_outputs(str(folder / "tensorflow.h5"), [x], "keras")[0], expected, atol=1e-5)


def test_inspect_shows_the_flip(theano_model):
    _, folder, _ = theano_model
    text = converter.inspect(str(folder / "theano.h5")).to_text()
    assert "backend  theano" in text and "theano_conv" in text
    assert "flip(0,1); transpose(3,2,0,1)" in text or "flip(0,1,2); transpose(4,3,0,1,2)" in text
    text = converter.inspect(str(folder / "tensorflow.h5")).to_text()
    assert "backend  theano" not in text and "theano_conv" not in text and "flip(" not in text


def test_verify_loads_a_theano_file_as_keras_2_did(theano_model, monkeypatch):
    _, folder, _ = theano_model
    report = converter.verify(str(folder / "theano.h5"), samples=3)
    assert report.ok, report.to_text()
    assert report.notes and "Theano" in report.notes[0] and "note: trained with Theano" in report.to_text()
    # a rule that forgot the flip is caught (the Keras side is flipped by verify, not by the rule)
    monkeypatch.setattr(converter.layouts.FlipSpatial, "apply", lambda self, array: array)
    monkeypatch.setattr(converter.layouts.FlipSpatial, "apply_bytes", lambda self, data, shape, itemsize: data)
    assert not converter.verify(str(folder / "theano.h5"), samples=3).ok


def test_a_theano_depthwise_kernel_is_refused(tmp_path):
    import tf_keras as k

    model = k.Sequential([k.Input((6, 6, 2)), k.layers.DepthwiseConv2D(3), k.layers.Flatten(), k.layers.Dense(2)])
    randomize(model, seed=3)
    model.save(str(tmp_path / "tensorflow.h5"))
    _as_theano(tmp_path / "tensorflow.h5", tmp_path / "theano.h5")
    with pytest.raises(converter.LayoutError, match="Theano backend.*depthwise"):
        converter.state_dict(str(tmp_path / "theano.h5"))


@pytest.mark.parametrize("layer", ["conv_stride", "conv_even", "conv_dilated", "pool"])
def test_theano_same_padding_is_refused(tmp_path, layer):
    """Keras's Theano backend padded 'same' by k // 2 on both sides (a pooling window - 1), then cut the end:
    otherwise than TensorFlow and PyTorch for a stride above 1, an even window or a dilation. A stride-1 odd
    kernel pads alike, and converts."""
    import tf_keras as k

    made = {"conv_stride": k.layers.Conv2D(2, 3, strides=2, padding="same"),
            "conv_even": k.layers.Conv2D(2, (3, 2), padding="same"),
            "conv_dilated": k.layers.Conv2D(2, 3, dilation_rate=2, padding="same"),
            "pool": k.layers.MaxPooling2D(2, padding="same")}[layer]
    model = k.Sequential([k.Input((8, 8, 2)), k.layers.Conv2D(2, 3, padding="same"), made, k.layers.Flatten()])
    randomize(model, seed=1)
    model.save(str(tmp_path / "tensorflow.h5"))
    _as_theano(tmp_path / "tensorflow.h5", tmp_path / "theano.h5")
    with pytest.raises(converter.LayoutError, match="Theano backend, whose 'same' padding"):
        converter.state_dict(str(tmp_path / "theano.h5"))
    converter.state_dict(str(tmp_path / "tensorflow.h5"))


@pytest.mark.parametrize("same", [True, False])
def test_cntk_same_padding_is_refused_as_theanos(tmp_path, same):
    """Keras 2's CNTK backend padded 'same' as Theano did (keras-team/keras-applications#27: MobileNetV2 and NASNet
    gave Theano's outputs under CNTK, not TensorFlow's): a CNTK-trained file's strided 'same' convolution is refused
    so too; CNTK correlated as TensorFlow does, so its kernels are not flipped, and the rest converts as stored."""
    import tf_keras as k

    padding = "same" if same else "valid"
    model = k.Sequential([k.Input((8, 8, 2)), k.layers.Conv2D(2, 3, padding="same"),
                          k.layers.Conv2D(2, 3, strides=2, padding=padding), k.layers.Flatten()])
    randomize(model, seed=1)
    model.save(str(tmp_path / "tensorflow.h5"))
    (tmp_path / "cntk.h5").write_bytes((tmp_path / "tensorflow.h5").read_bytes())
    with h5py.File(tmp_path / "cntk.h5", "a") as h5:
        h5.attrs["backend"] = "cntk"
        h5["model_weights"].attrs["backend"] = "cntk"
    if same:
        with pytest.raises(converter.LayoutError, match="CNTK backend, whose 'same' padding"):
            converter.state_dict(str(tmp_path / "cntk.h5"))
    else:
        expected = converter.state_dict(str(tmp_path / "tensorflow.h5"))
        got = converter.state_dict(str(tmp_path / "cntk.h5"))
        assert sorted(got) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value)
