"""Shared test helpers: fixture paths, tolerances, Keras loaders, a hand-written torch model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

#: float32 outputs of Keras and the converted PyTorch model, for models of Dense layers.
FLOAT32_ATOL = 1e-6


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def keras3():
    import keras

    return keras


def tf_keras():
    import tf_keras as module

    return module


def tensorflow():
    import tensorflow as module

    return module


def same_tensors(first: dict, second: dict) -> None:
    """Two state dicts with the same keys and bit-identical tensors."""
    assert set(first) == set(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def load_keras_model(path: str, writer: str):
    """Load `path` with the Keras that wrote it ('keras3' or 'keras2')."""
    if writer == "keras3":
        return keras3().saving.load_model(path, compile=False)
    return tf_keras().models.load_model(path, compile=False)


def keras_outputs(model, inputs: np.ndarray) -> np.ndarray:
    return np.asarray(model(inputs, training=False))


def random_inputs(model, seed: int = 0, batch: int = 16) -> np.ndarray:
    shape = tuple(model.inputs[0].shape)[1:]
    return np.random.default_rng(seed).normal(0.0, 1.0, (batch,) + shape).astype("float32")


def torch_model_for(graph):
    """The nn.Module a user would write for a chain of Dense layers: one attribute per layer.

    Attribute names follow the Keras layer names (nested models become sub-modules), so
    the converted keys load with load_state_dict(strict=True).
    """
    import torch
    from torch import nn

    from converter.keras_names import key_name

    activations = {
        "linear": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
    }

    class KerasChain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[tuple[nn.Module, nn.Module]] = []
            for layer in graph.walk():
                if layer.class_name in ("InputLayer", "Dropout"):
                    continue
                assert layer.class_name == "Dense", f"test model handles Dense only, not {layer.class_name}"
                kernel = layer.tensor("kernel")
                linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=layer.config.get("use_bias", True))
                parent: nn.Module = self
                for part in layer.path[:-1]:
                    name = key_name(part)
                    if not hasattr(parent, name):
                        parent.add_module(name, nn.Module())
                    parent = getattr(parent, name)
                parent.add_module(key_name(layer.path[-1]), linear)
                self.steps.append((linear, activations[layer.config.get("activation", "linear")]()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for linear, activation in self.steps:
                x = activation(linear(x))
            return x

    return KerasChain()


def load_converted(module, weights: dict[str, np.ndarray]) -> None:
    import torch

    module.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in weights.items()}, strict=True)


def run_cli(*arguments: str, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run `python cli.py ...` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *arguments],
        capture_output=True, text=True, cwd=cwd or ROOT, timeout=300,
    )


def with_config(source: Path | str, destination: Path, edit: Callable[[dict], dict]) -> Path:
    """The .keras archive with its config.json replaced by `edit(config)` (the rest as written): a crafted or
    relabelled file."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(destination, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            new.writestr(item, data)
    return destination


def with_keras_version(source: Path, destination: Path, version: str) -> Path:
    """The .keras archive with metadata.json claiming another Keras version (the rest as written): what an
    earlier Keras's file of the same model holds, for behaviour that depends on the version."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(destination, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "metadata.json":
                data = json.dumps(dict(json.loads(data), keras_version=version)).encode()
            new.writestr(item, data)
    return destination
