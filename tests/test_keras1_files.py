"""Keras 1 files (Keras 1.0 to 1.2: 2016 and early 2017, Udacity's self-driving car course among many).

No Keras here writes them, so each is made as Keras 1.2 wrote its `.h5` (keras/engine/topology.py and the layers
of Keras 1.2; the argument names as a real Keras 1.2.1 file of a behavioural-cloning model holds them): a tf_keras
model saved, then its config rewritten with Keras 1's class and argument names, each weight renamed
`<layer>_W:0` (Theano's without `:0`, its convolution kernels flipped), `keras_version` 1.2.1 and no `backend`.
The tf_keras model's outputs are the reference.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from layer_harness import randomize

_REGULARIZED = {"init": "glorot_uniform", "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
                "W_constraint": None, "b_constraint": None}


def _keras1_config(layer: Any) -> tuple[str, dict[str, Any]]:
    """Keras 1.2's class name and config of the layer, as Keras 1 wrote them."""
    c = layer.get_config()
    kind = type(layer).__name__
    base = {"name": c["name"], "trainable": True}
    ordering = "th" if c.get("data_format") == "channels_first" else "tf"
    if kind == "Dense":
        return "Dense", {**base, **_REGULARIZED, "output_dim": c["units"], "activation": c["activation"],
                         "bias": c["use_bias"], "input_dim": None}
    if kind == "Conv2D":
        return "Convolution2D", {**base, **_REGULARIZED, "nb_filter": c["filters"], "nb_row": c["kernel_size"][0],
                                 "nb_col": c["kernel_size"][1], "subsample": list(c["strides"]),
                                 "border_mode": c["padding"], "dim_ordering": ordering, "activation": c["activation"],
                                 "bias": c["use_bias"]}
    if kind == "Conv3D":
        return "Convolution3D", {**base, **_REGULARIZED, "nb_filter": c["filters"],
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
        return "Convolution1D", {**base, **_REGULARIZED, "nb_filter": c["filters"],
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
        inner_class, inner = _keras1_config(layer.layer)
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


_WEIGHT_NAMES = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
                 "moving_variance": "running_std", "embeddings": "W", "recurrent_kernel": "U", "alpha": "alphas"}

#: the gates of Keras 2's joined recurrent weights, in its order, and the order Keras 1 stored them one by one
_GATES = {"LSTM": ("ifco", "icfo"), "GRU": ("zrh", "zrh")}


def _keras1_weights(kind: str, arrays: dict[str, np.ndarray], gates: str, conv1d: str, theano: bool,
                    channels_first: bool = False) -> list[tuple[str, np.ndarray]]:
    """(Keras 1 name after the layer's, array) of one layer's Keras 2 weights, in the order Keras 1 listed them."""
    if kind in _GATES and gates == "cpu":  # consume_less 'cpu'/'mem': one W, U, b per gate
        order, stored = _GATES[kind]
        split = {role: dict(zip(order, np.split(arrays[role], len(order), axis=-1))) for role in arrays}
        return [(f"{_WEIGHT_NAMES[role]}_{gate}", split[role][gate]) for gate in stored
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
        named.append((_WEIGHT_NAMES[role], array))
    return named


def _as_keras1(model: Any, path: Path, theano: bool = False, gates: str = "cpu", conv1d: str = "1.2") -> None:
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
                entry["class_name"], entry["config"] = _keras1_config(by_name[entry["config"]["name"]])
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
                for short, array in _keras1_weights(type(layer).__name__, arrays, gates, conv1d, theano,
                                                    channels_first):
                    new = f"{prefixes[direction]}_{short}" + ("" if theano else ":0")
                    group.create_dataset(new, data=array)
                    renamed.append(new.encode())
            for child in list(group):  # the emptied `<layer>/` scopes tf_keras wrote
                if isinstance(group[child], h5py.Group):
                    del group[child]
            group.attrs["weight_names"] = np.array(renamed, dtype="S64") if renamed else np.array([], dtype="float64")


def _assert_converts(path: Path, model: Any, inputs: Any, verified: bool = False, **options: Any) -> None:
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


def _assert_same_state(path: Path, keras2: Path) -> None:
    """The Keras 1 file converts tensor for tensor to what the same model saved by Keras 2 (tf_keras) does."""
    expected, got = converter.state_dict(str(keras2)), converter.state_dict(str(path))
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{path.name}: {key}")


def _driving(k: Any) -> Any:
    """The shape of 2017's behavioural-cloning models: crop, scale, strided convolutions, dense head."""
    return k.Sequential([
        k.Input((24, 20, 3)), k.layers.Cropping2D(((4, 2), (0, 0))),
        k.layers.Lambda(lambda x: x / 255.0 - 0.5, name="scale"),
        k.layers.Conv2D(6, (5, 5), strides=(2, 2), activation="relu"), k.layers.BatchNormalization(),
        k.layers.Conv2D(8, (3, 3), padding="same"), k.layers.ELU(alpha=0.7), k.layers.ZeroPadding2D((1, 2)),
        k.layers.MaxPooling2D((2, 2)), k.layers.UpSampling2D((2, 1)), k.layers.AveragePooling2D((2, 2), (1, 1)),
        k.layers.Dropout(0.3), k.layers.Flatten(), k.layers.Dense(10, activation="relu"),
        k.layers.LeakyReLU(alpha=0.2), k.layers.Activation("tanh"), k.layers.Dense(1)])


LAMBDA = {"scale": "x / 255.0 - 0.5"}  # named: a default name counts the Lambdas built before in the process


@pytest.fixture(scope="module")
def driving(tmp_path_factory):
    import tf_keras as k

    folder = tmp_path_factory.mktemp("keras1")
    model = _driving(k)
    randomize(model, seed=11)
    for theano in (False, True):
        path = folder / f"{'theano' if theano else 'tensorflow'}.h5"
        model.save(str(path))
        _as_keras1(model, path, theano)
    x = np.random.default_rng(2).uniform(0, 255, size=(3, 24, 20, 3)).astype("float32")
    return model, folder, x


@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
@pytest.mark.parametrize("layout", ["keras", "torch"])
def test_a_keras1_model_converts_to_what_it_computed(driving, backend, layout):
    model, folder, x = driving
    module = converter.to_torch(str(folder / f"{backend}.h5"), input_layout=layout, lambdas=LAMBDA)
    module.eval()
    given = torch.from_numpy(x if layout == "keras" else np.moveaxis(x, -1, 1).copy())
    with torch.no_grad():
        got = module(given).numpy()
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5, rtol=1e-5)


def test_the_state_dict_is_that_of_the_same_model_saved_by_keras_2(driving):
    model, folder, _ = driving
    model.save(str(folder / "keras2.h5"))
    for backend in ("tensorflow", "theano"):
        _assert_same_state(folder / f"{backend}.h5", folder / "keras2.h5")


def test_inspect_and_the_cli(driving, tmp_path):
    _, folder, _ = driving
    text = converter.inspect(str(folder / "theano.h5")).to_text()
    assert "keras    1.2.1" in text and "backend  theano" in text and "Conv2D" in text and "flip(0,1)" in text
    assert "backend  theano" not in converter.inspect(str(folder / "tensorflow.h5")).to_text()
    result = run_cli("convert", str(folder / "tensorflow.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 0, result.stderr


def test_verify_builds_the_keras2_model_it_describes(driving):
    _, folder, _ = driving
    for backend in ("tensorflow", "theano"):
        report = converter.verify(str(folder / f"{backend}.h5"), samples=3, per_layer=True, lambdas=LAMBDA)
        assert report.ok, report.to_text()
        assert any("Keras 1" in note for note in report.notes), report.notes


def test_a_functional_keras1_model_with_a_merge(tmp_path):
    """Keras 1's functional API: inputs, an Embedding, merge(mode='concat') of two branches."""
    import tf_keras as k

    words, numbers = k.Input((5,), name="input_1"), k.Input((6, 4), name="input_2")
    a = k.layers.GlobalAveragePooling1D(name="pool_1")(k.layers.Embedding(12, 4, name="embedding_1")(words))
    b = k.layers.Flatten(name="flatten_1")(k.layers.MaxPooling1D(2, name="pool_2")(numbers))
    merged = k.layers.Concatenate(name="merge_1")([a, k.layers.Dense(3, name="dense_1")(b)])
    model = k.Model([words, numbers], k.layers.Dense(2, activation="softmax", name="dense_2")(merged))
    randomize(model, seed=12)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5")
    rng = np.random.default_rng(4)
    arrays = [rng.integers(0, 12, size=(4, 5)).astype("int32"), rng.normal(size=(4, 6, 4)).astype("float32")]
    _assert_converts(tmp_path / "m.h5", model, arrays, verified=True)


def _edited(source: Path, target: Path, edit: Any) -> Path:
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config["config"])
        h5.attrs["model_config"] = json.dumps(config)
    return target


def _entry(layers: list[dict[str, Any]], class_name: str) -> dict[str, Any]:
    return next(entry for entry in layers if entry["class_name"] == class_name)


@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
def test_batch_normalization_mode_2_normalizes_by_the_batch(driving, tmp_path, backend):
    """Keras 1's BatchNormalization(mode=2) (2016's GAN and driving models; datlife/behavioral-cloning's real files)
    normalizes by the statistics of the batch it is given, at inference too, as Keras 2's does in training:
    converted to nn.BatchNorm(track_running_stats=False), against tf_keras running each layer with the
    BatchNormalization in training (the model's moving statistics are random, not the batch's); verify has Keras run
    it so. Refused before."""
    import tf_keras as k

    shared, folder, x = driving
    model = k.models.clone_model(shared)  # running a BatchNormalization in training moves its moving statistics
    model.set_weights(shared.get_weights())
    path = _edited(folder / f"{backend}.h5", tmp_path / "m.h5",
                   lambda layers: _entry(layers, "BatchNormalization")["config"].update(mode=2))

    def by_the_batch(inputs: Any) -> Any:
        for layer in model.layers:
            inputs = layer(inputs, training=isinstance(layer, k.layers.BatchNormalization))
        return inputs

    assert np.abs(by_the_batch(x).numpy() - model(x).numpy()).max() > 1e-3  # the moving statistics differ
    _assert_converts(path, by_the_batch, x, verified=True, lambdas=LAMBDA)
    state = converter.state_dict(str(path))
    assert not any("running" in key or "num_batches" in key for key in state), sorted(state)  # torch's has none


def test_sizes_written_as_whole_floats(driving, tmp_path):
    """Python 2's arithmetic left some sizes as whole floats (a real file's `pool_size` [23.0, 23.0], its backend
    ran them as the whole numbers they are): read as ints; a size of 2.5 is refused by name."""
    model, folder, x = driving

    def pool(size: Any) -> Any:
        return lambda layers: _entry(layers, "MaxPooling2D")["config"].update(pool_size=size, strides=[2.0, 2.0])

    _assert_converts(_edited(folder / "tensorflow.h5", tmp_path / "whole.h5", pool([2.0, 2.0])), model, x,
                     lambdas=LAMBDA)
    with pytest.raises(converter.ConverterError, match="pool_size"):
        converter.to_torch(str(_edited(folder / "tensorflow.h5", tmp_path / "half.h5", pool([2.5, 2.0]))),
                           lambdas=LAMBDA)


@pytest.mark.parametrize("edit, message", [
    (lambda layers: _entry(layers, "Convolution2D")["config"].update(dim_ordering="default"), "dim_ordering"),
    (lambda layers: _entry(layers, "Convolution2D")["config"].update(border_mode="full"), "border_mode 'full'"),
    (lambda layers: _entry(layers, "BatchNormalization")["config"].update(mode=1), "mode 1"),
    (lambda layers: _entry(layers, "Dense")["config"].update(W_learning_rate_multiplier=2),
     "argument 'W_learning_rate_multiplier' is not read"),
    (lambda layers: _entry(layers, "Dense").update(class_name="MaxoutDense"), "MaxoutDense.*not read yet"),
    (lambda layers: _entry(layers, "Activation").update(class_name="Highway"), "Highway.*Keras 2.0-2.3"),
    (lambda layers: _entry(layers, "Dense").update(config=[1, 2]), "a list for its config"),
])
def test_what_is_not_read_is_refused_by_name(driving, tmp_path, edit, message):
    _, folder, _ = driving
    path = _edited(folder / "tensorflow.h5", tmp_path / "edited.h5", edit)
    with pytest.raises(converter.ConverterError, match=message):
        converter.state_dict(str(path))
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Keras 1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def test_weights_of_two_backends_or_none_are_refused(driving, tmp_path):
    _, folder, _ = driving
    path = tmp_path / "mixed.h5"
    path.write_bytes((folder / "tensorflow.h5").read_bytes())
    with h5py.File(path, "a") as h5:
        weights = h5["model_weights"]
        group = weights[[name for name in weights.attrs["layer_names"] if len(weights[name].attrs["weight_names"])][-1]]
        stored = [n.decode() for n in group.attrs["weight_names"]]
        for old in stored:
            group.move(old, old[:-2])
        group.attrs["weight_names"] = np.array([n[:-2].encode() for n in stored])
    with pytest.raises(converter.ConverterError, match="cannot be told"):
        converter.state_dict(str(path))


def test_weights_saved_alone_with_their_to_json(driving, tmp_path):
    """2017's common pair: model.save_weights('model.h5') (Keras 1.1 wrote no keras_version in it) and
    json.dump(model.to_json(), f), the config's JSON text as a JSON string, which records keras_version."""
    model, folder, x = driving
    with h5py.File(folder / "tensorflow.h5", "r") as full, h5py.File(tmp_path / "model.h5", "w") as weights:
        for name in full["model_weights"]:
            full.copy(full["model_weights"][name], weights, name)
        weights.attrs["layer_names"] = full["model_weights"].attrs["layer_names"]
        config = json.loads(full.attrs["model_config"])
    (tmp_path / "model.json").write_text(json.dumps(json.dumps({**config, "keras_version": "1.1.2"})))
    _assert_converts(tmp_path / "model.h5", model, x, verified=True, architecture=str(tmp_path / "model.json"),
                     lambdas=LAMBDA)
    assert "keras    1.1.2" in converter.inspect(str(tmp_path / "model.h5"),
                                               architecture=str(tmp_path / "model.json")).to_text()
    # without its JSON, the hint says what these names are
    with pytest.raises(converter.ConverterError, match="Keras 1's weight names"):
        converter.state_dict(str(tmp_path / "model.h5"))


def _text(k: Any) -> Any:
    """2016's text models: masked ids, stacked recurrent layers of each kind (Keras 1's hard sigmoid gates)."""
    return k.Sequential([
        k.Input((7,)), k.layers.Embedding(20, 6, mask_zero=True),
        k.layers.LSTM(5, return_sequences=True, recurrent_activation="hard_sigmoid"),
        k.layers.GRU(4, return_sequences=True, reset_after=False, recurrent_activation="hard_sigmoid"),
        k.layers.SimpleRNN(3, activation="relu", go_backwards=True), k.layers.Dense(2)])


@pytest.mark.parametrize("gates", ["cpu", "gpu"])
def test_recurrent_layers_of_either_weight_form(tmp_path, gates):
    import tf_keras as k

    model = _text(k)
    randomize(model, seed=13)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5", gates=gates)
    ids = np.random.default_rng(5).integers(1, 20, size=(4, 7)).astype("int32")
    ids[1, 4:] = 0
    ids[3, :2] = 0
    _assert_converts(tmp_path / "m.h5", model, ids, verified=True)
    model.save(str(tmp_path / "keras2.h5"))
    _assert_same_state(tmp_path / "m.h5", tmp_path / "keras2.h5")


@pytest.mark.parametrize("conv1d", ["1.2", "1.1"])
@pytest.mark.parametrize("theano", [False, True])
def test_conv1d_kernels_of_either_keras1_form(tmp_path, conv1d, theano):
    import tf_keras as k

    model = k.Sequential([k.Input((10, 3)), k.layers.Conv1D(4, 3, activation="relu"), k.layers.MaxPooling1D(2),
                          k.layers.Conv1D(2, 2, strides=2), k.layers.Flatten(), k.layers.Dense(1)])
    randomize(model, seed=14)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5", theano=theano, conv1d=conv1d)
    x = np.random.default_rng(6).normal(size=(3, 10, 3)).astype("float32")
    _assert_converts(tmp_path / "m.h5", model, x)


@pytest.mark.parametrize("theano", [False, True])
def test_channels_first_th_ordering(tmp_path, theano):
    """dim_ordering 'th' (Theano's default): channels-first layers, kernels kept as (out, in, rows, cols)."""
    import tf_keras as k

    model = k.Sequential([k.Input((2, 9, 8)), k.layers.Conv2D(3, (3, 2), data_format="channels_first"),
                          k.layers.BatchNormalization(axis=1),
                          k.layers.MaxPooling2D((2, 2), data_format="channels_first"),
                          k.layers.Conv2D(4, 2, activation="relu", data_format="channels_first"),
                          k.layers.Flatten(), k.layers.Dense(2)])
    randomize(model, seed=15)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5", theano=theano)
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        assert '"dim_ordering": "th"' in h5.attrs["model_config"]
    x = np.random.default_rng(7).normal(size=(3, 2, 9, 8)).astype("float32")
    _assert_converts(tmp_path / "m.h5", model, x, verified=True)


def test_a_sequential_of_a_merge_of_branches(tmp_path):
    """Keras 1's multi-input models: Sequential([Merge([left, right], mode='concat'), Dense]), branches of their own
    Sequentials, weights stored branch by branch (legacy_merge)."""
    import tf_keras as k

    left = [k.layers.Dense(4, activation="tanh", name="dense_1"), k.layers.Dropout(0.2, name="dropout_1")]
    right = [k.layers.Conv2D(2, 3, name="convolution2d_1"), k.layers.Flatten(name="flatten_1")]
    a, b = k.Input((5,), name="dense_1_input"), k.Input((6, 5, 1), name="convolution2d_1_input")
    xa, xb = a, b
    for layer in left:
        xa = layer(xa)
    for layer in right:
        xb = layer(xb)
    head = k.layers.Dense(2, name="dense_2")
    model = k.Model([a, b], head(k.layers.Concatenate(name="merge_1")([xa, xb])))
    randomize(model, seed=16)
    model.save(str(tmp_path / "m.h5"))

    def branch(layers: list[Any], shape: tuple) -> dict[str, Any]:
        entries = [dict(zip(("class_name", "config"), _keras1_config(layer))) for layer in layers]
        entries[0]["config"]["batch_input_shape"] = [None, *shape]
        return {"class_name": "Sequential", "config": entries}

    merge = {"name": "merge_1", "mode": "concat", "mode_type": "raw", "concat_axis": -1, "dot_axes": -1,
             "output_shape": None, "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw",
             "arguments": {}, "layers": [branch(left, (5,)), branch(right, (6, 5, 1))]}
    stored = ["dense_1", "dropout_1", "convolution2d_1", "flatten_1", "dense_2"]
    with h5py.File(tmp_path / "m.h5", "a") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": [
            {"class_name": "Merge", "config": merge}, dict(zip(("class_name", "config"), _keras1_config(head)))]})
        h5.attrs["keras_version"] = "1.2.1"
        del h5.attrs["backend"]
        weights = h5["model_weights"]
        for name in list(weights):
            if name not in stored:
                del weights[name]
                continue
            group = weights[name]
            arrays = {}
            for old in group.attrs["weight_names"]:
                old = old.decode() if isinstance(old, bytes) else old
                arrays[old.rsplit("/", 1)[-1].split(":")[0]] = group[old][()]
                del group[old]
            for child in list(group):
                del group[child]
            kind = type(model.get_layer(name)).__name__
            names = [f"{name}_{short}:0" for short, _ in _keras1_weights(kind, arrays, "cpu", "1.2", False)]
            for new, (_, array) in zip(names, _keras1_weights(kind, arrays, "cpu", "1.2", False)):
                group.create_dataset(new, data=array)
            group.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S64") if names else \
                np.array([], dtype="float64")
        weights.attrs["layer_names"] = np.array([n.encode() for n in stored])
    rng = np.random.default_rng(8)
    arrays = [rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 6, 5, 1)).astype("float32")]
    _assert_converts(tmp_path / "m.h5", model, arrays, verified=True)


def test_the_other_layers_read(tmp_path):
    """PReLU (its alphas), noise and regularization layers (inference no-ops), masking, 1-D padding, cropping and
    upsampling, each from Keras 1's arguments."""
    import tf_keras as k

    model = k.Sequential([k.Input((9, 3)), k.layers.Masking(0.0), k.layers.ZeroPadding1D((1, 2)),
                          k.layers.Cropping1D((2, 1)), k.layers.UpSampling1D(2), k.layers.Conv1D(4, 3),
                          k.layers.PReLU(shared_axes=[1]), k.layers.GaussianNoise(0.3), k.layers.GaussianDropout(0.2),
                          k.layers.ActivityRegularization(0.01, 0.02), k.layers.Flatten(), k.layers.Dense(3),
                          k.layers.PReLU()])
    randomize(model, seed=17)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5")
    x = np.random.default_rng(9).normal(size=(4, 9, 3)).astype("float32")
    _assert_converts(tmp_path / "m.h5", model, x)


def test_time_distributed_layers(tmp_path):
    """Keras 1's TimeDistributed (2016's sequence labelling and video models): its inner layer's arguments and
    weights, which Keras 1 named after that layer."""
    import tf_keras as k

    frames = k.Input((3, 8, 7, 2), name="input_1")
    x = k.layers.TimeDistributed(k.layers.Conv2D(3, 3, activation="relu"), name="timedistributed_1")(frames)
    x = k.layers.TimeDistributed(k.layers.Flatten(), name="timedistributed_2")(x)
    x = k.layers.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid", name="lstm_1")(x)
    x = k.layers.TimeDistributed(k.layers.Dense(2, activation="softmax"), name="timedistributed_3")(x)
    model = k.Model(frames, x)
    randomize(model, seed=18)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5")
    x = np.random.default_rng(10).normal(size=(2, 3, 8, 7, 2)).astype("float32")
    _assert_converts(tmp_path / "m.h5", model, x, verified=True)


def _random_image_model(k: Any, rng: np.random.Generator, channels_first: bool, theano: bool) -> Any:
    """A random Sequential of the image layers Keras 1 files are read with (sizes kept valid)."""
    data_format = "channels_first" if channels_first else "channels_last"
    size, layers = 12, []
    for _ in range(int(rng.integers(2, 6))):
        kind = rng.choice(["conv", "conv", "bn", "pool", "pad", "up", "crop", "act", "dropout"])
        if kind == "conv" and size >= 4:
            kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            stride = int(rng.integers(1, 3))
            # (Theano's 'same' of a stride or even window is refused: tested apart)
            odd = kernel[0] % 2 == 1 and kernel[1] % 2 == 1 and stride == 1
            padding = "same" if rng.random() < 0.5 and (odd or not theano) else "valid"
            layers.append(k.layers.Conv2D(int(rng.integers(1, 5)), kernel, strides=stride, padding=padding,
                                          data_format=data_format, activation=str(rng.choice(["linear", "relu"]))))
            size = -(-size // stride) if padding == "same" else (size - max(kernel)) // stride + 1
        elif kind == "bn":
            layers.append(k.layers.BatchNormalization(axis=1 if channels_first else -1,
                                                      epsilon=float(rng.choice([1e-3, 1e-5]))))
        elif kind == "pool" and size >= 4:
            pool = (k.layers.MaxPooling2D if rng.random() < 0.5 else k.layers.AveragePooling2D)
            layers.append(pool(2, data_format=data_format))
            size //= 2
        elif kind == "pad":
            layers.append(k.layers.ZeroPadding2D((1, 2), data_format=data_format))
            size += 2
        elif kind == "up" and size <= 12:
            layers.append(k.layers.UpSampling2D((2, 1), data_format=data_format))
            size *= 1  # (the smaller side grows too little to matter for the bounds kept here)
        elif kind == "crop" and size >= 6:
            layers.append(k.layers.Cropping2D(((1, 0), (0, 1)), data_format=data_format))
            size -= 1
        elif kind == "act":
            layers.append(rng.choice([k.layers.ELU(alpha=0.8), k.layers.LeakyReLU(alpha=0.3),
                                      k.layers.Activation("tanh")]))
        elif kind == "dropout":
            layers.append(k.layers.Dropout(0.3))
    shape = (2, 12, 12) if channels_first else (12, 12, 2)
    return k.Sequential([k.Input(shape), *layers, k.layers.Flatten(), k.layers.Dense(3)])


@pytest.mark.parametrize("seed", range(24))
def test_random_keras1_image_models(tmp_path, seed):
    """Random stacks of the image layers read, in either dim_ordering and either backend's naming."""
    import tf_keras as k

    rng = np.random.default_rng(1_900_000 + seed)
    channels_first, theano = bool(seed % 2), bool(seed // 2 % 2)
    model = _random_image_model(k, rng, channels_first, theano)
    randomize(model, seed=seed)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5", theano=theano)
    x = rng.normal(size=(2, *model.input_shape[1:])).astype("float32")
    _assert_converts(tmp_path / "m.h5", model, x)


def test_a_keras1_file_that_records_no_version(driving, tmp_path):
    """Keras 1.0 and 1.1 wrote no keras_version: a config of Keras 1's classes or argument names says it."""
    model, folder, x = driving
    path = tmp_path / "m.h5"
    path.write_bytes((folder / "tensorflow.h5").read_bytes())
    with h5py.File(path, "a") as h5:
        del h5.attrs["keras_version"]
    assert "keras    1.x (not stored: its config is Keras 1's)" in converter.inspect(str(path)).to_text()
    _assert_converts(path, model, x, verified=True, lambdas=LAMBDA)


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("gates", ["cpu", "gpu"])
def test_bidirectional_layers(tmp_path, merge_mode, gates):
    """Keras 1's Bidirectional: its forward and backward copies' weights, named `forward_<layer>_W_i`, ...; masked
    ids, as 2016's taggers ran it."""
    import tf_keras as k

    model = k.Sequential([
        k.Input((6,)), k.layers.Embedding(15, 4, mask_zero=True),
        k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True, recurrent_activation="hard_sigmoid",
                                             name="lstm_1"), merge_mode=merge_mode, name="bidirectional_1"),
        k.layers.Bidirectional(k.layers.GRU(2, reset_after=False, recurrent_activation="hard_sigmoid",
                                            name="gru_1"), name="bidirectional_2"),
        k.layers.Dense(2)])
    randomize(model, seed=19)
    model.save(str(tmp_path / "m.h5"))
    _as_keras1(model, tmp_path / "m.h5", gates=gates)
    with h5py.File(tmp_path / "m.h5", "r") as h5:
        names = [n.decode() for n in h5["model_weights/bidirectional_1"].attrs["weight_names"]]
    assert names[0].startswith("forward_lstm_1_W") and any(n.startswith("backward_lstm_1_") for n in names)
    ids = np.random.default_rng(11).integers(1, 15, size=(4, 6)).astype("int32")
    ids[0, 3:] = 0
    ids[2, :2] = 0
    _assert_converts(tmp_path / "m.h5", model, ids, verified=True)
