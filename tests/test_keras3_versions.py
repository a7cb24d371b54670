"""Files written by earlier Keras 3s, against the outputs that Keras computed (fixtures/make_keras3_versions.py).

Each holds layers that compute differently in the Keras 3 after it: masked merges (3.3), a channels_first
convolution's bias (3.6), MultiHeadAttention's masks (3.7, 3.9: recorded in the config), EinsumDense's bias and a
masked Softmax (3.9, 3.12), and a layer of another dtype that drops its input's mask when it casts it (3.13: Keras
3.0 to 3.13 cast to a new tensor without the mask; 3.14 keeps it; 3.3: where no mask is recorded for the call, and
nested models whose Inputs those Keras built as the dtype of the layer reading them; a list's masks recorded for
the call, which it runs with after a cast), and Keras 3.0.5's normalize, whose axis and order a model swapped.
The module follows the Keras that wrote the file. Found by the random-graph fuzzer run with those Keras versions
(sweeps/random_graphs.py with an earlier keras on PYTHONPATH): the masked merges (Keras 3.3) and EinsumDense's bias
(Keras 3.8) were built as later Keras computes them, 0.1 to 0.6 off; the masks Keras 3.8 and 3.9 record for a
MultiHeadAttention's call (it runs with them, whatever an attention before it cleared) were not read, 0.064 off;
the masks Keras 3.10 to 3.13 drop on a cast were kept (seed 672108: a float64 Dense before a Bidirectional LSTM).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from helpers import fixture

CASES = [("3.3", "merges"), ("3.6", "conv_bias"), ("3.7", "attention_masks"), ("3.9", "einsum_bias"),
         ("3.9", "masked_softmax"), ("3.9", "attention_masks"), ("3.12", "masked_softmax"), ("3.13", "cast_masks"),
         ("3.3", "nested_casts"), ("3.3", "cast_list_masks"), ("3.0", "normalize_swapped")]


@pytest.mark.parametrize("version, name", CASES, ids=[f"{version}-{name}" for version, name in CASES])
def test_a_file_of_an_earlier_keras_3_computes_as_that_keras_did(version, name):
    io = np.load(fixture(f"keras{version}/io.npz"))
    inputs = [io[f"{name}_in{i}"] for i in range(sum(key.startswith(f"{name}_in") for key in io.files))]
    expected = [io[f"{name}_out{i}"] for i in range(sum(key.startswith(f"{name}_out") for key in io.files))]
    module = converter.to_torch(fixture(f"keras{version}/{name}.keras"), input_layout="keras")
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(array) for array in inputs])
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)


TORCH_VERSIONS = ["3.3", "3.8", "3.14", "3.15"]


@pytest.mark.parametrize("version", TORCH_VERSIONS)
def test_same_padding_on_the_torch_backend_computes_as_that_keras_did(version, tmp_path):
    """Keras 3's torch backend pads 'same' by rules of its own, which changed from version to version: an average
    pooling padded unevenly counts edge copies (every version; Keras 3.0 to 3.4 padded a zero, on the wrong axis),
    Keras 3.0 to 3.8 crop where the total is negative (a 1x1 convolution of stride 2 reads the odd rows) and
    give an even padding in reverse axis order, and Keras 3.0 to 3.14 pad transposed convolutions by torch's
    symmetric rule. Found by the fuzzer with Keras 3.3 to 3.8 on torch (0.03 to 1.0 off), and by a sweep of
    pool and stride sizes with each Keras 3 from 3.0.5 to 3.15 (`fixtures/keras3.N-torch`, one output per
    layer). A model that ran there (keras_backend="torch", or an .h5 recording it) is built as that Keras
    computed; the module built and the exported model.py match its outputs, and the same file built as
    TensorFlow pads differs."""
    from graph_fuzz import run_exported

    io = np.load(fixture(f"keras{version}-torch/io.npz"))
    inputs = [io[f"torch_same_in{i}"] for i in range(sum(key.startswith("torch_same_in") for key in io.files))]
    expected = [io[f"torch_same_out{i}"] for i in range(sum(key.startswith("torch_same_out") for key in io.files))]
    path = fixture(f"keras{version}-torch/torch_same.keras")
    module = converter.to_torch(path, input_layout="keras", keras_backend="torch")
    tensorflow_rule = converter.to_torch(path, input_layout="keras")  # what a .keras is taken for by default
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(array) for array in inputs])
        assumed = tensorflow_rule(*[torch.from_numpy(array) for array in inputs])
    assert len(outputs) == len(expected) >= 70
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)
    differing = sum(got.shape != want.shape or not np.allclose(got.numpy(), want, atol=1e-3)
                    for got, want in zip(assumed, expected))
    assert differing >= 5
    for got, want in zip(run_exported(path, inputs, tmp_path, "torch"), expected):  # torch layout, Keras's back
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_a_masked_input_read_in_two_dtypes_is_refused_for_keras_3_0_to_3_4(tmp_path):
    """Keras 3.0 to 3.4 convert a nested model's input to the dtype of the layer built last on it, and a layer of
    another dtype runs without the mask: with layers of two dtypes on a masked input, which one that was is not in
    the file. Refused by name there; built for later Keras, which keep the Input's dtype."""
    import keras

    from helpers import with_keras_version

    ids = keras.Input((6,), dtype="int32")
    x = keras.Input((6, 3), dtype="float64")
    both = keras.layers.Concatenate()([keras.layers.LSTM(2, return_sequences=True)(x),
                                       keras.layers.LSTM(2, return_sequences=True, dtype="float64")(x)])
    inner = keras.Model(x, both, name="inner")
    model = keras.Model(ids, keras.layers.LSTM(2)(inner(keras.layers.Embedding(5, 3, mask_zero=True)(ids))))
    model.save(tmp_path / "new.keras")
    old = with_keras_version(tmp_path / "new.keras", tmp_path / "old.keras", "3.4.1")
    with pytest.raises(converter.UnsupportedLayerError, match="inner: its masked input .* several dtypes"):
        converter.to_torch(old)
    ids_in = np.array([[1, 2, 0, 0, 0, 0], [3, 4, 1, 2, 3, 4]], dtype="int32")
    with torch.no_grad():
        got = converter.to_torch(tmp_path / "new.keras", input_layout="keras")(torch.from_numpy(ids_in))
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(model(ids_in)), atol=1e-5, rtol=1e-5)


def test_keras_torch_padding_equals_tensorflows_where_it_clamps():
    """From Keras 3.9 the torch backend's 'same' padding of a convolution is TensorFlow's, for every size, kernel,
    stride and dilation; before, only where the total is not negative."""
    from converter.padding import keras_torch_same_padding, same_padding

    for size in range(1, 12):
        for kernel in range(1, 6):
            for stride in range(1, 5):
                for dilation in range(1, 3):
                    tensorflow = same_padding(size, kernel, stride, dilation)
                    assert keras_torch_same_padding(size, kernel, stride, dilation, False) == tensorflow
                    early = keras_torch_same_padding(size, kernel, stride, dilation, True)
                    assert early == tensorflow or sum(early) < 0
