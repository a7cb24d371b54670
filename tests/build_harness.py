"""Compare a Keras model with converter.to_torch's module, in both input layouts."""
from __future__ import annotations

import numpy as np
import torch

import converter

#: whole models: max abs diff relative to the largest Keras output value
MODEL_RTOL = 1e-4


def to_channels_first(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(array, -1, 1)) if array.ndim in (4, 5) else array


def to_channels_last(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(array, 1, -1)) if array.ndim in (4, 5) else array


def keras_outputs(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from converter.verification import keras_call

    return keras_call(model, inputs)


def torch_outputs(path: str, inputs: list[np.ndarray], input_layout: str) -> list[np.ndarray]:
    """Run to_torch's module as its users would: channels-first images in the torch layout."""
    return module_outputs(converter.to_torch(path, input_layout=input_layout), inputs, input_layout)


def module_outputs(module, inputs: list[np.ndarray], input_layout: str) -> list[np.ndarray]:
    """A module's outputs for Keras-layout `inputs`, in Keras's layout (bfloat16 as float32: numpy has none)."""
    feed = [to_channels_first(a) if input_layout == "torch" else a for a in inputs]
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(a) for a in feed])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    arrays = [(o.float() if o.dtype == torch.bfloat16 else o).numpy() for o in outputs]
    return [to_channels_last(a) if input_layout == "torch" else a for a in arrays]


def relative_difference(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    assert len(expected) == len(actual)
    worst = 0.0
    for e, a in zip(expected, actual):
        assert e.shape == a.shape, (e.shape, a.shape)
        e, a = np.asarray(e, np.float64), np.asarray(a, np.float64)
        worst = max(worst, float(np.max(np.abs(e - a)) / max(np.max(np.abs(e)), 1e-12)))
    return worst


def absolute_difference(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert e.shape == a.shape, (e.shape, a.shape)
    return max(float(np.max(np.abs(np.asarray(e, np.float64) - np.asarray(a, np.float64)))) if e.size else 0.0
               for e, a in zip(expected, actual))


def check(tmp_path, writer: str, build, inputs: list[np.ndarray]) -> str:
    """Build with the writer's Keras ('keras3' or 'keras2'), randomize, save, and compare the saved model's
    outputs (as Keras loads it back) with to_torch's module in both input layouts; returns the saved file."""
    from layer_harness import LAYER_ATOL, keras_module, randomize

    keras = keras_module(writer)
    model = build(keras)
    randomize(model, seed=11)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False) if writer == "keras3" else \
        keras.models.load_model(path, compile=False)
    expected = keras_outputs(loaded, inputs)
    for layout in ("torch", "keras"):
        assert absolute_difference(expected, torch_outputs(path, inputs, layout)) <= LAYER_ATOL, layout
    return path
