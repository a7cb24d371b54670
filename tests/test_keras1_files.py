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
from keras1_writer import as_keras1, assert_converts, assert_same_state
from layer_harness import randomize


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
        as_keras1(model, path, theano)
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
        assert_same_state(folder / f"{backend}.h5", folder / "keras2.h5")


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
    as_keras1(model, tmp_path / "m.h5")
    rng = np.random.default_rng(4)
    arrays = [rng.integers(0, 12, size=(4, 5)).astype("int32"), rng.normal(size=(4, 6, 4)).astype("float32")]
    assert_converts(tmp_path / "m.h5", model, arrays, verified=True)


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
    assert_converts(path, by_the_batch, x, verified=True, lambdas=LAMBDA)
    state = converter.state_dict(str(path))
    assert not any("running" in key or "num_batches" in key for key in state), sorted(state)  # torch's has none


def test_sizes_written_as_whole_floats(driving, tmp_path):
    """Python 2's arithmetic left some sizes as whole floats (a real file's `pool_size` [23.0, 23.0], its backend
    ran them as the whole numbers they are): read as ints; a size of 2.5 is refused by name."""
    model, folder, x = driving

    def pool(size: Any) -> Any:
        return lambda layers: _entry(layers, "MaxPooling2D")["config"].update(pool_size=size, strides=[2.0, 2.0])

    assert_converts(_edited(folder / "tensorflow.h5", tmp_path / "whole.h5", pool([2.0, 2.0])), model, x,
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
    assert_converts(tmp_path / "model.h5", model, x, verified=True, architecture=str(tmp_path / "model.json"),
                     lambdas=LAMBDA)
    assert "keras    1.1.2" in converter.inspect(str(tmp_path / "model.h5"),
                                               architecture=str(tmp_path / "model.json")).to_text()
    # without its JSON, the hint says what these names are
    with pytest.raises(converter.ConverterError, match="Keras 1's weight names"):
        converter.state_dict(str(tmp_path / "model.h5"))


def test_a_keras1_file_that_records_no_version(driving, tmp_path):
    """Keras 1.0 and 1.1 wrote no keras_version: a config of Keras 1's classes or argument names says it."""
    model, folder, x = driving
    path = tmp_path / "m.h5"
    path.write_bytes((folder / "tensorflow.h5").read_bytes())
    with h5py.File(path, "a") as h5:
        del h5.attrs["keras_version"]
    assert "keras    1.x (not stored: its config is Keras 1's)" in converter.inspect(str(path)).to_text()
    assert_converts(path, model, x, verified=True, lambdas=LAMBDA)
