"""Keras 1 files written as Keras 1.2 wrote its `.h5`, for the tests of reading them (no Keras here writes them): a
tf_keras model saved, then its config rewritten with Keras 1's class and argument names, each weight renamed
`<layer>_W:0` (Theano's without `:0`, its convolution kernels flipped), `keras_version` 1.2.1 and no `backend`; and
the checks that a converted file computes what the tf_keras model does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

import converter

REGULARIZED = {"init": "glorot_uniform", "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
                "W_constraint": None, "b_constraint": None}


def keras1_config(layer: Any) -> tuple[str, dict[str, Any]]:
    """Keras 1.2's class name and config of the layer, as Keras 1 wrote them."""
    c = layer.get_config()
    kind = type(layer).__name__
    base = {"name": c["name"], "trainable": True}
    ordering = "th" if c.get("data_format") == "channels_first" else "tf"
    if kind == "Dense":
        return "Dense", {**base, **REGULARIZED, "output_dim": c["units"], "activation": c["activation"],
                         "bias": c["use_bias"], "input_dim": None}
    if kind == "Conv2D":
        return "Convolution2D", {**base, **REGULARIZED, "nb_filter": c["filters"], "nb_row": c["kernel_size"][0],
                                 "nb_col": c["kernel_size"][1], "subsample": list(c["strides"]),
                                 "border_mode": c["padding"], "dim_ordering": ordering, "activation": c["activation"],
                                 "bias": c["use_bias"]}
    if kind == "Conv3D":
        return "Convolution3D", {**base, **REGULARIZED, "nb_filter": c["filters"],
                                 **{f"kernel_dim{axis + 1}": size for axis, size in enumerate(c["kernel_size"])},
                                 "subsample": list(c["strides"]), "border_mode": c["padding"],
                                 "dim_ordering": ordering, "activation": c["activation"], "bias": c["use_bias"]}
    if kind in ("MaxPooling3D", "AveragePooling3D"):
        return kind, {**base, "pool_size": list(c["pool_size"]), "strides": list(c["strides"]),
                      "border_mode": c["padding"], "dim_ordering": ordering}
    if kind == "ZeroPadding3D":
        assert all(before == after for before, after in c["padding"])
        return kind, {**base, "padding": [before for before, _ in c["padding"]], "dim_ordering": ordering}
    if kind in ("UpSampling3D", "Cropping3D"):
        key = "size" if kind == "UpSampling3D" else "cropping"
        return kind, {**base, key: [list(v) if isinstance(v, (list, tuple)) else v for v in c[key]],
                      "dim_ordering": ordering}
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return kind, {**base, "pool_size": list(c["pool_size"]), "strides": list(c["strides"]),
                      "border_mode": c["padding"], "dim_ordering": ordering}
    if kind in ("MaxPooling1D", "AveragePooling1D"):
        return kind, {**base, "pool_length": c["pool_size"][0], "stride": c["strides"][0],
                      "border_mode": c["padding"]}
    if kind == "BatchNormalization":
        return kind, {**base, "epsilon": c["epsilon"], "mode": 0, "axis": c["axis"] if isinstance(c["axis"], int)
                      else c["axis"][0], "momentum": c["momentum"], "gamma_regularizer": None,
                      "beta_regularizer": None}
    if kind == "Dropout":
        return kind, {**base, "p": c["rate"]}
    if kind == "Activation":
        return kind, {**base, "activation": c["activation"]}
    if kind in ("ELU", "LeakyReLU"):
        return kind, {**base, "alpha": float(c["alpha"])}
    if kind == "Cropping2D":
        return kind, {**base, "cropping": [list(pair) for pair in c["cropping"]], "dim_ordering": ordering}
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = c["padding"]
        assert top == bottom and left == right
        return kind, {**base, "padding": [top, left], "dim_ordering": ordering}
    if kind == "UpSampling2D":
        return kind, {**base, "size": list(c["size"]), "dim_ordering": ordering}
    if kind == "Embedding":
        return kind, {**base, "input_dim": c["input_dim"], "output_dim": c["output_dim"], "mask_zero": c["mask_zero"],
                      "input_length": None, "dropout": 0.0, "init": "uniform", "W_regularizer": None,
                      "activity_regularizer": None, "W_constraint": None}
    if kind == "Conv1D":
        return "Convolution1D", {**base, **REGULARIZED, "nb_filter": c["filters"],
                                 "filter_length": c["kernel_size"][0], "subsample_length": c["strides"][0],
                                 "border_mode": c["padding"],
                                 "activation": c["activation"], "bias": c["use_bias"], "input_dim": None,
                                 "input_length": None}
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        config = {**base, "output_dim": c["units"], "init": "glorot_uniform", "inner_init": "orthogonal",
                  "activation": c["activation"], "W_regularizer": None, "U_regularizer": None,
                  "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0, "consume_less": "cpu",
                  **{key: c[key] for key in ("return_sequences", "go_backwards", "stateful", "unroll")},
                  "input_dim": None, "input_length": None}
        if kind != "SimpleRNN":
            config["inner_activation"] = c["recurrent_activation"]
        if kind == "LSTM":
            config["forget_bias_init"] = "one"
        return kind, config
    if kind in ("TimeDistributed", "Bidirectional"):
        inner_class, inner = keras1_config(layer.layer)
        merge_mode = {"merge_mode": c["merge_mode"]} if kind == "Bidirectional" else {}
        return kind, {**base, "layer": {"class_name": inner_class, "config": inner}, **merge_mode}
    if kind == "PReLU":
        return kind, {**base, "init": "zero", "shared_axes": c["shared_axes"]}
    if kind == "GaussianNoise":
        return kind, {**base, "sigma": c["stddev"]}
    if kind == "GaussianDropout":
        return kind, {**base, "p": c["rate"]}
    if kind in ("ActivityRegularization", "Masking", "Cropping1D"):
        return kind, {**base, **{key: c[key] for key in ("l1", "l2", "mask_value", "cropping") if key in c}}
    if kind == "ZeroPadding1D":
        return kind, {**base, "padding": list(c["padding"])}
    if kind == "UpSampling1D":
        return kind, {**base, "length": c["size"]}
    if kind in ("Flatten", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return kind, base
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return kind, {**base, "dim_ordering": ordering}
    if kind == "Lambda":
        return kind, {**base, **{key: c[key] for key in ("function", "function_type", "output_shape",
                                                         "output_shape_type", "arguments")}}
    if kind == "Concatenate":  # Keras 1's functional merge(mode='concat')
        return "Merge", {**base, "mode": "concat", "mode_type": "raw", "concat_axis": c["axis"], "dot_axes": -1,
                         "output_shape": None, "output_shape_type": "raw", "output_mask": None,
                         "output_mask_type": "raw", "arguments": {}}
    raise AssertionError(f"no Keras 1 form written for {kind}")


WEIGHT_NAMES = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
                 "moving_variance": "running_std", "embeddings": "W", "recurrent_kernel": "U", "alpha": "alphas"}

#: the gates of Keras 2's joined recurrent weights, in its order, and the order Keras 1 stored them one by one
GATES = {"LSTM": ("ifco", "icfo"), "GRU": ("zrh", "zrh")}


def keras1_weights(kind: str, arrays: dict[str, np.ndarray], gates: str, conv1d: str, theano: bool,
                    channels_first: bool = False) -> list[tuple[str, np.ndarray]]:
    """(Keras 1 name after the layer's, array) of one layer's Keras 2 weights, in the order Keras 1 listed them."""
    if kind in GATES and gates == "cpu":  # consume_less 'cpu'/'mem': one W, U, b per gate
        order, stored = GATES[kind]
        split = {role: dict(zip(order, np.split(arrays[role], len(order), axis=-1))) for role in arrays}
        return [(f"{WEIGHT_NAMES[role]}_{gate}", split[role][gate]) for gate in stored
                for role in ("kernel", "recurrent_kernel", "bias")]
    named = []
    for role, array in arrays.items():
        spatial = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}.get(kind, 0)
        if theano and role == "kernel" and spatial:  # Theano convolved: kernels flipped along every spatial axis
            array = array[(slice(None, None, -1),) * spatial]
        if kind in ("Conv2D", "Conv3D") and role == "kernel" and channels_first:  # 'th': (out, in, *spatial)
            array = np.transpose(array, (spatial + 1, spatial, *range(spatial)))
        if kind == "Conv1D" and role == "kernel":  # Keras 1 ran it as a one-column Conv2D
            array = array[:, None] if conv1d == "1.2" else np.transpose(array[:, None], (3, 2, 0, 1))
        named.append((WEIGHT_NAMES[role], array))
    return named


def as_keras1(model: Any, path: Path, theano: bool = False, gates: str = "cpu", conv1d: str = "1.2") -> None:
    """The tf_keras `.h5` at `path` rewritten as Keras 1.2 saved the same model (module docstring): a recurrent
    layer's `gates` one by one ('cpu') or joined ('gpu'), a Conv1D kernel as Keras `conv1d` (1.2 or 1.1) kept it."""
    import tf_keras

    k_time_distributed, k_bidirectional = tf_keras.layers.TimeDistributed, tf_keras.layers.Bidirectional
    with h5py.File(path, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        by_name = {layer.name: layer for layer in model.layers}
        entries = config["config"]["layers"]
        kept = []
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                if config["class_name"] == "Sequential":
                    continue  # Keras 1's Sequential listed no InputLayer: its first layer held the shape
                c = entry["config"]
                entry["config"] = {"batch_input_shape": c["batch_input_shape"], "input_dtype": c["dtype"],
                                   "sparse": False, "name": c["name"]}
            else:
                entry["class_name"], entry["config"] = keras1_config(by_name[entry["config"]["name"]])
                if "inbound_nodes" in entry:  # Keras 1: [layer, node, tensor] without kwargs
                    entry["inbound_nodes"] = [[ref[:3] for ref in node] for node in entry["inbound_nodes"]]
            kept.append(entry)
        if config["class_name"] == "Sequential":
            kept[0]["config"]["batch_input_shape"] = [None, *model.input_shape[1:]]
            kept[0]["config"]["input_dtype"] = "int32" if kept[0]["class_name"] == "Embedding" else "float32"
            config = {"class_name": "Sequential", "config": kept}
        else:
            config = {"class_name": "Model", "config": {**config["config"], "layers": kept}}
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = "1.2.1"
        del h5.attrs["backend"]
        weights = h5["model_weights"]
        for attribute in ("backend", "keras_version"):
            if attribute in weights.attrs:
                del weights.attrs[attribute]
        for name in weights.attrs["layer_names"]:
            group = weights[name]
            layer_name = name.decode() if isinstance(name, bytes) else name
            directions: dict[str, dict[str, np.ndarray]] = {}  # (a Bidirectional: its two copies' weights)
            for stored in group.attrs["weight_names"]:
                stored = stored.decode() if isinstance(stored, bytes) else stored
                direction = "backward" if "/backward_" in stored else "forward" if "/forward_" in stored else ""
                directions.setdefault(direction, {})[stored.rsplit("/", 1)[-1].split(":")[0]] = group[stored][()]
                del group[stored]
            renamed = []
            layer = by_name[layer_name]
            prefixes = {"": layer_name}
            if isinstance(layer, (k_time_distributed, k_bidirectional)):  # Keras 1 named them after the inner layer
                layer = layer.layer
                prefixes = {"": layer.name, "forward": f"forward_{layer.name}", "backward": f"backward_{layer.name}"}
            channels_first = getattr(layer, "data_format", None) == "channels_first"
            for direction, arrays in directions.items():
                for short, array in keras1_weights(type(layer).__name__, arrays, gates, conv1d, theano,
                                                    channels_first):
                    new = f"{prefixes[direction]}_{short}" + ("" if theano else ":0")
                    group.create_dataset(new, data=array)
                    renamed.append(new.encode())
            for child in list(group):  # the emptied `<layer>/` scopes tf_keras wrote
                if isinstance(group[child], h5py.Group):
                    del group[child]
            group.attrs["weight_names"] = np.array(renamed, dtype="S64") if renamed else np.array([], dtype="float64")


def assert_converts(path: Path, model: Any, inputs: Any, verified: bool = False, **options: Any) -> None:
    """The module converted from `path` (to_torch `options`) computes what the tf_keras `model` does on `inputs`
    (Keras layout: one array or a list), to 1e-5; with `verified`, verify per layer also passes, noting Keras 1."""
    arrays = inputs if isinstance(inputs, list) else [inputs]
    module = converter.to_torch(str(path), **{"input_layout": "keras", **options})
    module.eval()
    with torch.no_grad():
        got = module(*[torch.from_numpy(array) for array in arrays]).numpy()
    np.testing.assert_allclose(got, model(inputs).numpy(), atol=1e-5, rtol=1e-5)
    if verified:
        report = converter.verify(str(path), samples=3, per_layer=True, lambdas=options.get("lambdas"),
                                  architecture=options.get("architecture"))
        assert report.ok and any("Keras 1" in note for note in report.notes), report.to_text()


def assert_same_state(path: Path, keras2: Path) -> None:
    """The Keras 1 file converts tensor for tensor to what the same model saved by Keras 2 (tf_keras) does."""
    expected, got = converter.state_dict(str(keras2)), converter.state_dict(str(path))
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{path.name}: {key}")
