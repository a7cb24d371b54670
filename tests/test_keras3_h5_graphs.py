"""Keras 3's legacy .h5 files of functional graphs: operations saved without their module (like layers, some
holding a dtype), and layers whose config records no `trainable` (Keras's own, the user's), each read as what it
is and built against Keras's outputs.
"""
from __future__ import annotations

import numpy as np
import pytest

from random_weights import randomize
from test_to_torch_graphs import random


def test_keras3_h5_operations_that_hold_a_dtype_match_keras(tmp_path):
    """Keras 3's legacy .h5 writer saves an operation without its module, like a layer; `cast` and `zeros_like`
    hold a dtype as layers do, but never `trainable`. (Keras cannot load the file back: its in-memory outputs are
    the reference.)"""
    import keras
    import torch

    import converter

    inputs = keras.Input((5, 4), name="values")
    mask = keras.ops.logical_or(inputs > 0.2, keras.ops.zeros_like(inputs, dtype="bool"))
    outputs = keras.ops.cast(mask, "float32") * inputs + keras.ops.full_like(inputs, 0.5)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(outputs))
    path = str(tmp_path / "operations.h5")
    model.save(path)
    values = random((5, 4))
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(got, np.asarray(model(values)), atol=1e-5)


@pytest.mark.parametrize("kind", ["Discretization", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"])
def test_keras3_h5_layers_without_trainable_are_layers(tmp_path, kind):
    """Keras 3's Discretization and SpatialDropout1D/2D/3D (and HashedCrossing, Pipeline) record no `trainable`, as
    an operation does: their legacy .h5 file is read as holding that layer, not an operation of that name (they
    were refused as keras.ops.Discretization, keras.ops.SpatialDropout1D, ...). The model is the one Keras loads."""
    import keras
    import torch

    import converter

    rank = {"Discretization": 1, "SpatialDropout1D": 2, "SpatialDropout2D": 3, "SpatialDropout3D": 4}[kind]
    inputs = keras.Input((3,) * (rank - 1) + (4,), name="values")
    if kind == "Discretization":
        outputs = keras.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5], name="bins")(inputs)
    else:  # a layer of weights after it: its input is the dropout's output
        dropped = getattr(keras.layers, kind)(0.4, name="drop")(keras.layers.Dense(4, name="before")(inputs))
        outputs = keras.layers.Dense(2, name="after")(dropped)
    model = keras.Model(inputs, outputs)
    randomize(model)
    path = str(tmp_path / "model.h5")
    model.save(path)
    values = random(inputs.shape[1:])
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(values)).numpy()
    np.testing.assert_allclose(got, np.asarray(keras.models.load_model(path)(values)), atol=1e-5)


@pytest.mark.parametrize("registered", [True, False])
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_keras3_own_layers_without_trainable_are_not_operations(tmp_path, suffix, registered):
    """A layer class of the user's, defined in a notebook or a script (`__main__`: written without a module) and
    registered as `package>Name` or not, whose config holds no `trainable` (its get_config leaves out the base
    config), is named as the user's own layer. It was read as an operation: the `.h5` refused as
    `keras.ops.weightport_tests>Affine` or `keras.ops.Affine`, the `.keras` with "weights under /layers/affine match
    no layer"."""
    import keras

    import converter

    class Affine(keras.layers.Layer):
        def __init__(self, units: int = 2, **options):
            super().__init__(**options)
            self.units = units

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], self.units), name="w")

        def call(self, x):
            return x @ self.w

        def get_config(self):
            return {"units": self.units, "name": self.name}

    Affine.__module__ = "__main__"
    if registered:
        keras.saving.register_keras_serializable(package="weightport_tests")(Affine)
    inputs = keras.Input((4,), name="values")
    model = keras.Model(inputs, Affine(3, name="affine")(keras.layers.Dense(4, name="before")(inputs)))
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    refusal = r"affine \((weightport_tests>)?Affine\); affine: your own"
    with pytest.raises(converter.UnsupportedLayerError, match=refusal):
        converter.convert(path, str(tmp_path / "out.safetensors"))
    kept = converter.convert(path, str(tmp_path / "out.safetensors"), keep_unsupported=True)
    assert {"before.weight", "before.bias"} < {tensor.key for tensor in kept.tensors}
