"""Files written by earlier Keras 3s, against the outputs that Keras computed (fixtures/make_keras3_versions.py).

Each holds layers that compute differently in the Keras 3 after it: masked merges (3.3), a channels_first
convolution's bias (3.6), MultiHeadAttention's masks (3.7, 3.9: recorded in the config), EinsumDense's bias and a
masked Softmax (3.9, 3.12).
The module follows the Keras that wrote the file. Found by the random-graph fuzzer run with those Keras versions
(sweeps/random_graphs.py with an earlier keras on PYTHONPATH): the masked merges (Keras 3.3) and EinsumDense's bias
(Keras 3.8) were built as later Keras computes them, 0.1 to 0.6 off; the masks Keras 3.8 and 3.9 record for a
MultiHeadAttention's call (it runs with them, whatever an attention before it cleared) were not read, 0.064 off.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from helpers import fixture

CASES = [("3.3", "merges"), ("3.6", "conv_bias"), ("3.7", "attention_masks"), ("3.9", "einsum_bias"),
         ("3.9", "masked_softmax"), ("3.9", "attention_masks"), ("3.12", "masked_softmax")]


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


def test_strided_same_padding_of_keras_before_3_9_on_torch_is_refused(tmp_path):
    """Keras 3.0 to 3.8 on their torch backend padded 'same' with strides by their own rule (a 1x1 convolution of
    stride 2 read the odd rows; pooling padded with edge copies, which an average counts): found by the fuzzer run
    with Keras 3.3 to 3.8 on torch, 0.03 to 1.0 off. Such a model (keras_backend="torch", or an .h5 recording it)
    is refused by name; the same file of a model run on TensorFlow, or of Keras 3.9, builds."""
    from helpers import keras3, with_keras_version

    keras = keras3()
    L = keras.layers
    for name, layer in (("conv", L.Conv2D(2, 1, strides=2, padding="same")),
                        ("transposed", L.Conv2DTranspose(2, 3, strides=2, padding="same")),
                        ("average", L.AveragePooling2D(3, strides=1, padding="same")),
                        ("maximum", L.MaxPooling2D(1, strides=2, padding="same"))):
        inputs = keras.Input((4, 6, 3))
        keras.Model(inputs, layer(inputs)).save(tmp_path / f"{name}.keras")
        early = with_keras_version(tmp_path / f"{name}.keras", tmp_path / f"{name}_38.keras", "3.8.0")
        with pytest.raises(converter.UnsupportedLayerError, match=r"Keras 3\.8 on its torch backend padded it"):
            converter.to_torch(str(early), keras_backend="torch")
        converter.to_torch(str(early), keras_backend="tensorflow")
        later = with_keras_version(tmp_path / f"{name}.keras", tmp_path / f"{name}_39.keras", "3.9.0")
        converter.to_torch(str(later), keras_backend="torch")
    inputs = keras.Input((4, 6, 3))  # stride 1: both rules pad alike
    keras.Model(inputs, L.Conv2D(2, 3, padding="same")(inputs)).save(tmp_path / "unstrided.keras")
    converter.to_torch(str(with_keras_version(tmp_path / "unstrided.keras", tmp_path / "u38.keras", "3.8.0")),
                       keras_backend="torch")
