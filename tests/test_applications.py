"""Whole keras.applications architectures convert with no unsupported layer, every tensor as expected.

The expected tensors are computed here from Keras's own get_weights(), independently of
the converter's layout table.
"""
from __future__ import annotations

import numpy as np
import pytest

import converter
from layer_harness import keras_module, randomize


def expected_tensors(layer) -> dict[str, np.ndarray]:
    """What PyTorch holds for one Keras layer, worked out from its class and weights."""
    kind = type(layer).__name__
    weights = layer.get_weights()
    config = layer.get_config()
    if kind == "Conv2D":
        tensors = {"weight": weights[0].transpose(3, 2, 0, 1)}
    elif kind == "DepthwiseConv2D":
        kh, kw, channels, multiplier = weights[0].shape
        tensors = {"weight": weights[0].transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)}
    elif kind == "Dense":
        tensors = {"weight": weights[0].T}
    elif kind == "BatchNormalization":
        names = (["weight"] if config["scale"] else []) + (["bias"] if config["center"] else [])
        names += ["running_mean", "running_var"]
        return dict(zip(names, weights)) | {"num_batches_tracked": np.array(0)}
    else:
        raise AssertionError(f"the test does not know {kind}")
    if len(weights) > 1:
        tensors["bias"] = weights[1]
    return tensors


@pytest.mark.parametrize("writer, suffix", [("keras3", ".keras"), ("keras2", ".h5"), ("keras3", ".h5")])
@pytest.mark.parametrize("architecture", ["MobileNetV2", "ResNet50"])
def test_application_converts_every_tensor(tmp_path, architecture, writer, suffix):
    keras = keras_module(writer)
    model = getattr(keras.applications, architecture)(weights=None)
    randomize(model, seed=3)
    path = str(tmp_path / f"{architecture}{suffix}")
    model.save(path)

    weights = converter.state_dict(path)  # raises on any unsupported layer
    expected = {}
    for layer in model.layers:
        if layer.weights:
            expected |= {f"{layer.name}.{name}": value for name, value in expected_tensors(layer).items()}
    assert sorted(weights) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)
    bn = next(layer for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    assert np.all(np.abs(bn.get_weights()[2]) > 0.01) and not np.allclose(bn.get_weights()[3], 1)
