"""verify --per-layer of the layers between a Flatten and the Dense whose rows weightport regrouped.

Such a Flatten writes torch's (c, h, w) order (the Dense's rows follow it); an elementwise layer after it (ELU,
Dropout, an activation) computes in that order too. Its per-layer check compares it in Keras's (h, w, c) order:
it was compared as it is, and a correct conversion (the Dense after it, the outputs: all within 1e-7) was
reported FAILED at the ELU of a real 2016 steering model (comma.ai's, Keras 1).
"""
from __future__ import annotations

import numpy as np
import pytest

import converter
from random_weights import randomize

ELEMENTWISE_AFTER_FLATTEN = {
    "elu": lambda k: k.layers.ELU(),
    "leaky_relu": lambda k: k.layers.LeakyReLU(0.2),
    "tanh": lambda k: k.layers.Activation("tanh"),
    "dropout": lambda k: k.layers.Dropout(0.3),
    "softmax": lambda k: k.layers.Softmax(),
}


@pytest.mark.parametrize("writer", ["keras3", "tf_keras"])
@pytest.mark.parametrize("kind", sorted(ELEMENTWISE_AFTER_FLATTEN))
def test_elementwise_layers_after_a_regrouped_flatten_are_compared_in_keras_order(tmp_path, writer, kind):
    if writer == "keras3":
        import keras as k
    else:
        import tf_keras as k
    made = ELEMENTWISE_AFTER_FLATTEN[kind]
    model = k.Sequential([k.Input((6, 5, 3)), k.layers.Conv2D(4, 3, strides=2, padding="same", name="conv"),
                          k.layers.Flatten(name="flat"), made(k), made(k), k.layers.Dense(7, name="dense"),
                          k.layers.ELU(name="after"), k.layers.Dense(2, name="head")])
    randomize(model, 3)
    path = tmp_path / ("model.keras" if writer == "keras3" else "model.h5")
    model.save(str(path))
    report = converter.verify(str(path), per_layer=True)
    compared = {check.name: check for check in report.layers}
    between = [layer.name for layer in model.layers[2:4]]
    assert set(between) <= set(compared), report
    for name in between:
        assert compared[name].max_abs <= 1e-5 * max(1.0, compared[name].scale), report
    assert report.ok, report
    # the module computes them in torch's order indeed: the Dense's rows were regrouped for it
    kernel = model.get_layer("dense").get_weights()[0]
    assert not np.array_equal(converter.state_dict(str(path))["dense.weight"], kernel.T)
