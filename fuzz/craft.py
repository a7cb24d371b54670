"""Write Keras-format files by hand (h5py, zipfile, json): the raw material of crafted cases.

No Keras is imported: a case controls every byte Keras would have chosen for it. The
layouts are those weightport reads (see LAYOUTS.md): Keras 3 archives keep a layer's
weights under `layers/<snake_case_class>[_n]/vars/<i>`, legacy files under
`model_weights/<layer>/<layer>/<weight>:0` listed by `weight_names`.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

RNG = np.random.default_rng(20261201)


def tensor(*shape: int) -> np.ndarray:
    return RNG.normal(0.0, 0.5, shape).astype(np.float32)


def layer(class_name: str, name: str, inbound: list[str] | None = None, **config: Any) -> dict[str, Any]:
    """A Keras 3 functional layer entry called once on the outputs of `inbound`."""
    args = [{"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                          "keras_history": [source, 0, 0]}}
            for source in inbound or []]
    nodes = [{"args": args if len(args) == 1 else [args], "kwargs": {}}] if inbound else []  # merges take a list
    return {"module": "keras.layers", "class_name": class_name, "config": {"name": name, **config},
            "registered_name": None, "name": name, "inbound_nodes": nodes}


def input_layer(name: str, shape: list[int | None]) -> dict[str, Any]:
    return layer("InputLayer", name, batch_shape=[None] + list(shape), dtype="float32")


def functional(layers: list[dict[str, Any]], name: str = "model", output: str | None = None) -> dict[str, Any]:
    """A Keras 3 Functional config: the first layer is the input, `output` (or the last) the output."""
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": name, "trainable": True, "layers": layers,
                       "input_layers": [layers[0]["name"], 0, 0],
                       "output_layers": [output or layers[-1]["name"], 0, 0]}}


def dense_model(units: int = 3, features: int = 4, **dense: Any) -> dict[str, Any]:
    """Input(features) -> Dense(units): the smallest model with weights."""
    options = {"units": units, "activation": "linear", "use_bias": True, **dense}
    return functional([input_layer("x", [features]), layer("Dense", "dense", ["x"], **options)])


def dense_weights(units: int = 3, features: int = 4) -> dict[str, list[np.ndarray]]:
    return {"layers/dense": [tensor(features, units), tensor(units)]}


def write_weights_h5(path: Path, groups: dict[str, list[np.ndarray]],
                     hook: Callable[[h5py.File], None] | None = None) -> None:
    """A Keras 3 weights file: `groups` maps a layer group to its vars in order; `hook` edits it after."""
    with h5py.File(path, "w") as h5:
        for group, arrays in groups.items():
            vars_group = h5.require_group(f"{group}/vars")
            for index, array in enumerate(arrays):
                vars_group.create_dataset(str(index), data=array)
        if hook:
            hook(h5)


def write_archive(path: Path, config: Any, groups: dict[str, list[np.ndarray]] | None = None,
                  metadata: Any = None, hook: Callable[[h5py.File], None] | None = None,
                  members: dict[str, bytes] | None = None, config_text: bytes | None = None) -> Path:
    """A `.keras` zip: config.json, metadata.json and model.weights.h5 stored uncompressed, as Keras does."""
    weights = path.with_suffix(".weights.tmp.h5")
    write_weights_h5(weights, groups if groups is not None else dense_weights(), hook)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata if metadata is not None else
                                                     {"keras_version": "3.15.1", "date_saved": "2026-12-01"}))
        archive.writestr("config.json", config_text if config_text is not None else json.dumps(config))
        archive.write(weights, "model.weights.h5")
        for name, data in (members or {}).items():
            archive.writestr(name, data)
    weights.unlink()
    return path


def write_legacy(path: Path, config: Any, layers: dict[str, dict[str, np.ndarray]], keras_version: Any = "2.15.0",
                 hook: Callable[[h5py.File], None] | None = None) -> Path:
    """A legacy full-model `.h5`: model_config, keras_version, and model_weights/<layer>/<layer>/<name>:0."""
    with h5py.File(path, "w") as h5:
        if config is not None:
            h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = keras_version
        h5.attrs["backend"] = "tensorflow"
        weights = h5.create_group("model_weights")
        weights.attrs["layer_names"] = [name.encode() for name in layers]
        for name, arrays in layers.items():
            group = weights.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{role}:0".encode() for role in arrays]
            for role, array in arrays.items():
                group.create_dataset(f"{name}/{role}:0", data=array)
        if hook:
            hook(h5)
    return path


def legacy_dense_config(units: int = 3, features: int = 4, **dense: Any) -> dict[str, Any]:
    """A Keras 2 Sequential config: Dense with batch_input_shape."""
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": units, "activation": "linear",
                                           "use_bias": True, "batch_input_shape": [None, features], **dense}}]}}


def legacy_dense_layers(units: int = 3, features: int = 4) -> dict[str, dict[str, np.ndarray]]:
    return {"dense": {"kernel": tensor(features, units), "bias": tensor(units)}}
