"""TensorFlow.js layers models (model.json and its .bin weight files), as tensorflowjs_converter writes a Keras
model and TensorFlow.js's own model.save writes one.

No converter is installed here; each model is written by the format's rules (TensorFlow.js's weights manifest:
groups of weights, each group's files concatenated, float32 little-endian, or quantized uint8/uint16 with a scale
and a min, or float16) from a tf_keras model, named as the converter names them (the variable's name without
`:0`). The tf_keras model's outputs are the reference. Real files of public repositories were checked by hand
(a model.json beside the .h5 it was converted from converts to the same tensors).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from layer_harness import randomize


def _write(model: Any, folder: Path, shards: int = 1, quantization: str | None = None,
           scoped: bool = False, own_save: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """Write `model` as a TensorFlow.js layers model in `folder`; return model.json and the weights as stored
    (dequantized), by name. `shards` files share the one group's bytes; `scoped` names each weight after the
    nested model holding it too; `own_save` writes TensorFlow.js's own form (the config itself as the topology,
    files named `./...`)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries, chunks, stored = [], [], {}
    for layer, scope in _leaf_layers(model, ""):
        for weight in layer.weights:
            name = weight.name.split(":")[0]
            name = f"{scope}{name}" if scoped and scope and not name.startswith(scope) else name
            value = weight.numpy().astype("float32")
            entry: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": "float32"}
            if quantization in ("uint8", "uint16") and value.size:
                low, high = float(value.min()), float(value.max())
                levels = 255 if quantization == "uint8" else 65535
                scale = (high - low) / levels or 1.0
                q = np.round((value - low) / scale).astype(quantization)
                entry["quantization"] = {"dtype": quantization, "scale": scale, "min": low}
                chunks.append(q.astype(f"<{q.dtype.str[1:]}").tobytes())
                value = q.astype("float32") * np.float32(scale) + np.float32(low)
            elif quantization == "float16":
                half = value.astype("<f2")
                entry["quantization"] = {"dtype": "float16"}
                chunks.append(half.tobytes())
                value = half.astype("float32")
            else:
                chunks.append(value.astype("<f4").tobytes())
            entries.append(entry)
            stored[name] = value
    data = b"".join(chunks)
    cut = [len(data) * i // shards for i in range(shards + 1)]  # (a weight may straddle two files)
    names = [f"group1-shard{i + 1}of{shards}.bin" for i in range(shards)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(data[cut[i]:cut[i + 1]])
    config = json.loads(model.to_json())
    if own_save:
        document = {"modelTopology": {**config, "keras_version": "tfjs-layers 4.22.0", "backend": "tensor_flow.js"},
                    "weightsManifest": [{"paths": [f"./{name}" for name in names], "weights": entries}],
                    "format": "layers-model", "generatedBy": "TensorFlow.js tfjs-layers v4.22.0"}
    else:
        document = {"format": "layers-model", "generatedBy": "keras v2.15.0",
                    "convertedBy": "TensorFlow.js Converter v4.16.0",
                    "modelTopology": {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": config},
                    "weightsManifest": [{"paths": names, "weights": entries}]}
    (folder / "model.json").write_text(json.dumps(document))
    return folder / "model.json", stored


def _leaf_layers(model: Any, scope: str) -> list[tuple[Any, str]]:
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.__class__.__name__ not in ("Bidirectional", "TimeDistributed"):
            found += _leaf_layers(layer, f"{scope}{layer.name}/")
        else:
            found.append((layer, scope))
    return found


def _outputs(path: Path, inputs: list[np.ndarray], layout: str = "keras") -> np.ndarray:
    module = converter.to_torch(str(path), input_layout=layout)
    module.eval()
    given = [np.moveaxis(x, -1, 1).copy() if layout == "torch" and x.ndim == 4 else x for x in inputs]
    with torch.no_grad():
        return module(*[torch.from_numpy(x) for x in given]).numpy()


def _images(k: Any) -> Any:
    return k.Sequential([k.Input((10, 9, 3)), k.layers.Conv2D(4, 3, activation="relu"), k.layers.BatchNormalization(),
                         k.layers.MaxPooling2D(), k.layers.Conv2D(5, 2, padding="same"), k.layers.Flatten(),
                         k.layers.Dense(6, activation="relu"), k.layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("layout", ["keras", "torch"])
def test_an_image_model_converts_to_what_it_computes(tmp_path, shards, layout):
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=1)
    path, _ = _write(model, tmp_path / "web", shards=shards)
    x = np.random.default_rng(0).normal(size=(3, 10, 9, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(path, [x], layout), model(x).numpy(), atol=1e-5)


def test_the_state_dict_equals_that_of_the_keras_file(tmp_path):
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=2)
    path, _ = _write(model, tmp_path / "web", shards=2)
    model.save(str(tmp_path / "model.h5"))
    expected, got = converter.state_dict(str(tmp_path / "model.h5")), converter.state_dict(str(path))
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    text = converter.inspect(str(path)).to_text()
    assert "TensorFlow.js layers model" in text and "keras    2.15.0" in text


@pytest.mark.parametrize("quantization", ["uint8", "uint16", "float16"])
def test_quantized_weights_are_dequantized(tmp_path, quantization):
    """value = q * scale + min (float16: the half float), computed in float32 as TensorFlow.js does."""
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=3)
    path, stored = _write(model, tmp_path / "web", quantization=quantization)
    model.set_weights([stored[weight.name.split(":")[0]] for weight in model.weights])  # the weights it holds
    x = np.random.default_rng(1).normal(size=(2, 10, 9, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(path, [x]), model(x).numpy(), atol=1e-5)


def test_recurrent_and_bidirectional_layers(tmp_path):
    import tf_keras as k

    model = k.Sequential([k.Input((7,)), k.layers.Embedding(12, 4),
                          k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True)), k.layers.GRU(2),
                          k.layers.Dense(2)])
    randomize(model, seed=4)
    path, _ = _write(model, tmp_path / "web")
    ids = np.random.default_rng(2).integers(0, 12, size=(3, 7)).astype("int32")
    np.testing.assert_allclose(_outputs(path, [ids]), model(ids).numpy(), atol=1e-5)


@pytest.mark.parametrize("scoped", [False, True])
def test_a_nested_model_with_or_without_its_scope(tmp_path, scoped):
    """A model inside a model (Teachable Machine's exports: a base model, then a head): weights named after their
    layer, with the nested model's name before it or not."""
    import tf_keras as k

    head = k.Sequential([k.Input((6,)), k.layers.Dense(4, activation="relu", name="hidden"),
                         k.layers.Dense(2, name="out")], name="head")
    inputs = k.Input((5,))
    model = k.Model(inputs, head(k.layers.Dense(6, name="base")(inputs)))
    randomize(model, seed=5)
    path, _ = _write(model, tmp_path / "web", scoped=scoped)
    if scoped:
        assert "head/hidden/kernel" in (tmp_path / "web" / "model.json").read_text()
    x = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(_outputs(path, [x]), model(x).numpy(), atol=1e-5)


def test_tensorflow_js_own_save(tmp_path):
    """model.save of TensorFlow.js: the config itself as the topology, weight files named `./...`."""
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=6)
    path, _ = _write(model, tmp_path / "web", own_save=True)
    x = np.random.default_rng(4).normal(size=(2, 10, 9, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(path, [x]), model(x).numpy(), atol=1e-5)
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(converter.to_torch(str(tmp_path / "web"), input_layout="keras").eval()(
        torch.from_numpy(x)).detach().numpy(), model(x).numpy(), atol=1e-5)  # its folder, as given to a browser


def _edited(path: Path, edit: Any) -> Path:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="graph-model", modelTopology={"node": []}), "graph model"),
    (lambda d: d["weightsManifest"][0].update(paths=["../outside.bin"]), "bare file names"),
    (lambda d: d["weightsManifest"][0].update(paths=["/etc/passwd"]), "bare file names"),
    (lambda d: d["weightsManifest"][0].update(paths=["missing.bin"]), "not beside it"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(dtype="complex64"), "dtype 'complex64'"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[10 ** 6, 10 ** 6]), "past the end"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(quantization={"dtype": "uint8", "scale": "x"}),
     "finite scale"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(name="nowhere/kernel"), "names no layer"),
    (lambda d: d.update(weightsManifest={}), "not a list"),
])
def test_what_is_not_read_is_refused_by_name(tmp_path, edit, message):
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=7)
    path, _ = _write(model, tmp_path / "web")
    _edited(path, edit)
    with pytest.raises(converter.ConverterError, match=message):
        converter.state_dict(str(path))
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("recurrent", [False, True])
def test_verify_gives_keras_the_weights_read(tmp_path, recurrent, monkeypatch):
    """No Keras reads a TensorFlow.js model: verify has Keras build its config and gives each layer the weights
    read for it; a conversion rule gone wrong is still caught."""
    import tf_keras as k

    model = _images(k) if not recurrent else k.Sequential([
        k.Input((5,)), k.layers.Embedding(9, 3), k.layers.Bidirectional(k.layers.GRU(2, return_sequences=True)),
        k.layers.LSTM(2), k.layers.Dense(2)])
    randomize(model, seed=9)
    path, _ = _write(model, tmp_path / "web", shards=2)
    report = converter.verify(str(path), samples=3, per_layer=True)
    assert report.ok and any("TensorFlow.js" in note for note in report.notes), report.to_text()
    if not recurrent:  # the kernel left untransposed: caught
        monkeypatch.setattr(converter.layouts.Permutation, "apply", lambda self, array: array.reshape(
            tuple(array.shape[i] for i in self.axes)))
        monkeypatch.setattr(converter.layouts.Permutation, "apply_bytes", lambda self, data, shape, itemsize: data)
        assert not converter.verify(str(path), samples=3).ok


def test_a_truncated_weight_file_is_refused(tmp_path):
    import tf_keras as k

    model = _images(k)
    randomize(model, seed=8)
    path, _ = _write(model, tmp_path / "web")
    shard = tmp_path / "web" / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-8])
    with pytest.raises(converter.ConverterError, match="past the end.* a .bin file is truncated"):
        converter.state_dict(str(path))
    shard.write_bytes(b"")  # what a repository's snapshot holds of a file too large for it, an unfinished download
    with pytest.raises(converter.ConverterError, match="group1-shard1of1.bin is empty .*fetch the .bin files again"):
        converter.state_dict(str(path))


def test_a_teachable_machine_export(tmp_path):
    """Teachable Machine's image exports: a Sequential of a Sequential holding a truncated MobileNet (a functional
    model, the only one recording an input shape) and a Sequential head, saved by TensorFlow.js (its Sequentials
    list no InputLayer). The inputs are the first nested model's."""
    import tf_keras as k

    inputs = k.Input((12, 12, 3), name="input_1")
    x = k.layers.Conv2D(4, 3, strides=2, name="Conv1")(inputs)
    x = k.layers.BatchNormalization(name="bn_Conv1")(x)
    x = k.layers.DepthwiseConv2D(3, name="expanded_conv_depthwise")(k.layers.ReLU(6.0, name="Conv1_relu")(x))
    base = k.Model(inputs, k.layers.GlobalAveragePooling2D(name="pool")(x), name="model1")
    model = k.Sequential([k.Sequential([base], name="sequential_1"),
                          k.Sequential([k.layers.Dense(5, activation="relu", name="dense_Dense1"),
                                        k.layers.Dense(2, activation="softmax", name="dense_Dense2")],
                                       name="sequential_3")], name="sequential_4")
    model.build((None, 12, 12, 3))
    randomize(model, seed=10)
    path, _ = _write(model, tmp_path / "my_model", own_save=True)
    document = json.loads(path.read_text())

    def without_input_layers(config: Any) -> None:  # as TensorFlow.js writes its Sequentials
        if isinstance(config, dict):
            if config.get("class_name") == "Sequential":
                layers = config["config"]["layers"]
                layers[:] = [layer for layer in layers if layer["class_name"] != "InputLayer"]
            for value in config.values():
                without_input_layers(value)
        elif isinstance(config, list):
            for value in config:
                without_input_layers(value)

    without_input_layers(document["modelTopology"])
    path.write_text(json.dumps(document))
    assert converter.inspect(str(path)).to_dict()["inputs"][0]["shape"] == [None, 12, 12, 3]
    x = np.random.default_rng(5).normal(size=(2, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(path, [x]), model(x).numpy(), atol=1e-5)
    report = converter.verify(str(path), samples=3, per_layer=True)
    assert report.ok, report.to_text()


def _named_images(k: Any) -> Any:
    return k.Sequential([k.Input((10, 9, 3)), k.layers.Conv2D(4, 3, activation="relu", name="c1"),
                         k.layers.BatchNormalization(name="bn"), k.layers.Flatten(name="flat"),
                         k.layers.Dense(3, name="fc")], name="images")


@pytest.mark.parametrize("keras_major", [2, 3])
def test_an_input_shape_named_as_tensorflow_js_reads_it(tmp_path, keras_major):
    """TensorFlow.js reads an InputLayer's shape as `batchInputShape` only (not Keras 3's `batch_shape`), so Keras 3
    models' model.json files hold it so (a real Keras 3.15.1 export's): read as the input's shape, and verify, which
    asked for inputs ("records no input shapes"), has Keras build the model."""
    import keras
    import tf_keras as k

    model = _named_images(k)
    randomize(model, seed=12)
    path, _ = _write(model, tmp_path / "web")
    document = json.loads(path.read_text())
    if keras_major == 3:  # the same model as Keras 3 configures it, its weights by the same layer names
        document["modelTopology"] = {"keras_version": "3.15.1", "backend": "tensorflow",
                                     "model_config": json.loads(_named_images(keras).to_json())}
    layers = document["modelTopology"]["model_config"]["config"]["layers"]
    shape_key = "batch_shape" if keras_major == 3 else "batch_input_shape"
    entry = next(layer["config"] for layer in layers if layer["class_name"] == "InputLayer")
    entry["batchInputShape"] = entry.pop(shape_key)
    path.write_text(json.dumps(document))
    with converter.read(str(path)) as graph:
        assert [spec.shape for spec in graph.inputs] == [(None, 10, 9, 3)]
    x = np.random.default_rng(3).normal(size=(2, 10, 9, 3)).astype("float32")
    module = converter.to_torch(str(path), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), model(x).numpy(), atol=1e-5)
    report = converter.verify(str(path), samples=3, per_layer=True)
    assert report.ok, report.to_text()


def test_a_json_file_of_another_kind_is_refused_saying_what_it_is_not(tmp_path):
    """A model.json of some app's own (labels, normalization; a real repository's) is neither a Keras shard index nor
    a TensorFlow.js model: the message names both, exit 2 (it named the index alone)."""
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "handglow_mlp_v1", "labels": ["BAD", "GOOD"], "normalization": {}}))
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a Keras sharded-weights index, nor a TensorFlow.js model.json" in result.stderr
