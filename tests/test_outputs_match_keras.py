"""Truth is real Keras: each fixture, loaded by the Keras that wrote it, against a PyTorch
module loaded with weightport's converted state_dict, on the same random inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from helpers import (
    FLOAT32_ATOL, fixture, keras_outputs, load_converted, load_keras_model, random_inputs, torch_model_for,
)

# (file to convert, Keras that wrote it, file Keras loads for the reference, weights to load into it,
#  architecture given to weightport)
CASES = [
    ("keras3/mlp.keras", "keras3", "keras3/mlp.keras", None, None),
    ("keras3/mlp.h5", "keras3", "keras3/mlp.h5", None, None),
    ("keras3/mlp.weights.h5", "keras3", "keras3/mlp.keras", "keras3/mlp.weights.h5", None),
    ("keras3/mlp.weights.h5", "keras3", "keras3/mlp.keras", "keras3/mlp.weights.h5", "keras3/mlp.keras"),
    ("keras3/nested.keras", "keras3", "keras3/nested.keras", None, None),
    ("keras3/nested.h5", "keras3", "keras3/nested.h5", None, None),
    ("keras2/mlp.h5", "keras2", "keras2/mlp.h5", None, None),
    ("keras2/mlp.keras", "keras2", "keras2/mlp.keras", None, None),
    ("keras2/mlp_weights.h5", "keras2", "keras2/mlp.h5", "keras2/mlp_weights.h5", None),
    ("keras2/mlp_keras20.h5", "keras2", "keras2/mlp.h5", None, None),
    ("keras2/nested.h5", "keras2", "keras2/nested.h5", None, None),
    ("keras2/nested_weights.h5", "keras2", "keras2/nested.h5", "keras2/nested_weights.h5", "keras2/nested.h5"),
]


@pytest.mark.parametrize("source, writer, reference, weights, architecture", CASES,
                         ids=[f"{case[0]}{'+arch' if case[4] else ''}" for case in CASES])
def test_converted_model_matches_keras(source, writer, reference, weights, architecture):
    keras_model = load_keras_model(fixture(reference), writer)
    if weights is not None:
        keras_model.load_weights(fixture(weights))
    inputs = random_inputs(keras_model)
    expected = keras_outputs(keras_model, inputs)

    # The module is the user's: written from the model's architecture (weights-only files have none).
    with converter.read(fixture(reference)) as graph:
        module = torch_model_for(graph)
    architecture_path = fixture(architecture) if architecture else None
    load_converted(module, converter.state_dict(fixture(source), architecture=architecture_path))
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs)).numpy()

    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= FLOAT32_ATOL


def test_the_classic_question_dense_1_kernel_is_transposed():
    """get_layer('dense_1') has a (2000, 32) kernel; nn.Linear wants (32, 2000) = kernel.T."""
    keras_model = load_keras_model(fixture("keras2/mlp.h5"), "keras2")
    keras_kernel, keras_bias = keras_model.get_layer("dense_1").get_weights()
    assert keras_kernel.shape == (2000, 32)
    weights = converter.state_dict(fixture("keras2/mlp.h5"))
    assert weights["dense_1.weight"].shape == (32, 2000)
    np.testing.assert_array_equal(weights["dense_1.weight"], keras_kernel.T)
    np.testing.assert_array_equal(weights["dense_1.bias"], keras_bias)
    assert np.all(keras_bias != 0)  # the fixture's biases are random, so a mix-up would show


def test_wrong_convention_would_be_caught():
    """The comparison is sharp enough: the kernel loaded without its transpose fails it."""
    keras_model = load_keras_model(fixture("keras3/nested.keras"), "keras3")
    inputs = random_inputs(keras_model)
    expected = keras_outputs(keras_model, inputs)
    with converter.read(fixture("keras3/nested.keras")) as graph:
        module = torch_model_for(graph)
    weights = converter.state_dict(fixture("keras3/nested.keras"))
    weights["encoder.dense_1.weight"] = weights["encoder.dense_1.weight"].T.copy()  # square (8, 8)
    load_converted(module, weights)
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs)).numpy()
    assert np.max(np.abs(actual - expected)) > 1e-3


@pytest.mark.parametrize("source, writer", [("keras3/nested.keras", "keras3"), ("keras2/nested.h5", "keras2")])
def test_live_model_gives_the_same_state_dict_as_its_file(source, writer):
    keras_model = load_keras_model(fixture(source), writer)
    from_live = converter.state_dict(keras_model)
    from_file = converter.state_dict(fixture(source))
    assert list(from_live) == list(from_file)
    for key in from_file:
        np.testing.assert_array_equal(from_live[key], from_file[key])
    with converter.read(keras_model) as graph:
        assert graph.format == "live"
