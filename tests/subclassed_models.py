"""Subclassed Keras models (Keras 3 and tf.keras) and their hand-written PyTorch twins, for
tests/test_subclassed.py and the CLI's `--import subclassed_models:FACTORY`.

The twins use the Keras models' attribute names, as a user porting a model would; nothing
here is generated from the Keras side.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: (batch, time, features) of the inputs
TIME, FEATURES = 5, 6


def net_class(keras):
    """Net for `keras` (Keras 3 or tf_keras): a nested layer class, a list of blocks, BatchNorm, an LSTM.
    Registered with Keras, so that `--import subclassed_models` lets Keras load a `.keras` of it."""
    register = keras.saving.register_keras_serializable(package=f"weightport_tests_{keras.__name__}")

    @register
    class Encoder(keras.layers.Layer):
        def __init__(self, units=8, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.proj = keras.layers.Dense(units)
            self.norm = keras.layers.BatchNormalization()

        def call(self, x, training=False):
            return self.norm(self.proj(x), training=training)

        def get_config(self):
            return dict(super().get_config(), units=self.units)

    @register
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = Encoder(8)
            self.blocks = [keras.layers.Dense(8, activation="relu") for _ in range(2)]
            self.lstm = keras.layers.LSTM(4)
            self.head = keras.layers.Dense(3)

        def call(self, x, training=False):
            h = self.encoder(x, training=training)
            for block in self.blocks:
                h = block(h)
            return self.head(self.lstm(h))

    return Net


try:
    import keras as _keras3

    Net = net_class(_keras3)
except ImportError:
    Net = None


def build_keras3():
    """A built Keras 3 Net (the factory for --import)."""
    model = Net()
    model(np.zeros((1, TIME, FEATURES), "float32"))
    return model


def build_tf_keras():
    """A built tf.keras Net (Keras 2: layers in lists tracked by ListWrapper)."""
    import tf_keras

    model = net_class(tf_keras)()
    model(np.zeros((1, TIME, FEATURES), "float32"))
    return model


class TorchEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(FEATURES, 8)
        self.norm = nn.BatchNorm1d(8, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).transpose(1, 2)).transpose(1, 2)  # BatchNorm1d wants channels second


class TorchNet(nn.Module):
    """The PyTorch twin, attribute for attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = TorchEncoder()
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
        self.lstm = nn.LSTM(8, 4, batch_first=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        for block in self.blocks:
            h = torch.relu(block(h))
        sequence, _ = self.lstm(h)
        return self.head(sequence[:, -1])


def randomize(model, seed: int = 5) -> None:
    """Random values for every variable: non-zero biases, non-trivial BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.name.split("/")[-1].split(":")[0]
        shape = tuple(variable.shape)
        if name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.normal(0, 0.5, shape)
        variable.assign(value.astype("float32"))
