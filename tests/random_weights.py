"""Random weights for a Keras model, without torch or weightport: the older-TensorFlow sweep
(sweeps/older_tf_keras.py) draws them in a TensorFlow of its own, as the tests do here."""
from __future__ import annotations

import numpy as np


def randomize(model, seed: int = 0) -> None:
    """Random weights by variable name: kernels by fan-in, biases non-zero, BatchNorm statistics
    away from their initial 0 and 1 (means of either sign, variances from 0.3 to 3) but not so far
    that a ReLU after them kills every activation."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = (getattr(variable, "path", None) or variable.name).split(":")[0]
        shape = tuple(variable.shape)
        if "moving_variance" in name or name.endswith("variance"):
            value = rng.uniform(0.3, 3.0, shape)
        elif "moving_mean" in name or name.endswith("/mean"):
            value = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
        elif name.endswith("gamma") or name.endswith("/scale"):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 2 else shape[0]
            value = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape)
        else:
            value = rng.normal(0.0, 0.5, shape)
        variable.assign(value.astype(np.dtype(variable.dtype if isinstance(variable.dtype, str)
                                              else variable.dtype.name)))
    # A preprocessing layer (Normalization) computes with a copy of its state made when the state was last set
    # (finalize_state, which loading a file runs too): made again, so that the live model computes with these
    layers = model._flatten_layers(include_self=False) if hasattr(model, "_flatten_layers") else []
    for layer in layers:
        finalize = getattr(layer, "finalize_state", None)
        if callable(finalize):
            finalize()
