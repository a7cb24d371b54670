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
