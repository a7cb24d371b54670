"""Build a Keras model around one layer, save it for real, convert the file, compare with torch.

Random weights are non-trivial: biases far from zero, BatchNorm moving statistics far
from 0 and 1, so that a layout or epsilon mistake shows in the outputs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import converter
from random_weights import randomize

#: float32, per layer: a wrong BatchNorm epsilon is ~1e-3 off, far above this.
LAYER_ATOL = 1e-5

WRITERS = {
    "keras3.keras": ("keras3", ".keras"),
    "keras3.h5": ("keras3", ".h5"),
    "keras2.h5": ("keras2", ".h5"),
}


def keras_module(writer: str):
    if writer.startswith("keras3"):
        import keras

        return keras
    import tf_keras

    return tf_keras


def saved_model(build: Callable[[Any], Any], writer: str, folder: Path, seed: int = 0):
    """Build with the writer's Keras, randomize, save to a real file, load it back.

    Returns (the loaded Keras model, the file's path).
    """
    keras = keras_module(writer)
    model = build(keras)
    randomize(model, seed)
    _, suffix = WRITERS[writer]
    path = folder / f"model_{writer.replace('.', '_')}{suffix}"
    model.save(str(path))
    if writer.startswith("keras3"):
        loaded = keras.saving.load_model(str(path), compile=False)
    else:
        loaded = keras.models.load_model(str(path), compile=False)
    return loaded, str(path)


def convert_file(path: str) -> tuple[dict[str, torch.Tensor], dict[str, converter.LayerConversion]]:
    """The converted state_dict as torch tensors, and each layer's conversion by Keras name."""
    weights = converter.state_dict(path)
    with converter.read(path) as graph:
        conversion = converter.convert_graph(graph)
    layers = {result.layer.name: result for result in conversion.layers}
    return {key: torch.from_numpy(np.array(value)) for key, value in weights.items()}, layers


def load(module: torch.nn.Module, weights: dict[str, torch.Tensor], prefix: str) -> None:
    """Load the keys under `prefix.` into `module`, strictly: every key and shape must fit."""
    own = {key[len(prefix) + 1:]: value for key, value in weights.items() if key.startswith(prefix + ".")}
    module.load_state_dict(own, strict=True)


def max_diff(keras_output: Any, torch_output: torch.Tensor) -> float:
    return float(np.max(np.abs(np.asarray(keras_output) - torch_output.detach().numpy())))


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """NHWC (or NLC, NDHWC) -> NCHW."""
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, *range(2, x.ndim), 1)


def random_input(shape: tuple[int, ...], seed: int = 1, batch: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (batch,) + tuple(shape)).astype(np.float32)


def saved_module_output(model, writer: str, folder: Path, inputs: np.ndarray) -> torch.Tensor | None:
    """`model` saved as its Keras writes it by default (.keras, tf.keras .h5) into `folder`, built by `to_torch`
    and run on `inputs` (Keras's layout); None where the converter refuses it by name."""
    path = str(folder / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    try:
        module = converter.to_torch(path, input_layout="keras")
    except converter.UnsupportedLayerError:
        return None
    with torch.no_grad():
        return module(torch.from_numpy(inputs))
