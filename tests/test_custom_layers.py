"""A functional model with the user's own layer classes (tests/custom_layer_models.py): read live (or a file
with `--import`), the built-in layers each holds convert by attribute path under it, load strictly into a
hand-written twin, which computes what Keras does; building a module of it is refused by name."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import converter
import custom_layer_models as models
from helpers import ROOT, run_cli

TESTS = str(ROOT / "tests")


@pytest.fixture(params=["keras", "tf_keras"])
def model(request):
    keras = pytest.importorskip(request.param)
    built = models.build(keras)
    models.randomize(built)
    return built


def assert_twin_matches(weights: dict, model) -> None:
    twin = models.TorchNet().eval()
    tensors = {key: torch.as_tensor(value) for key, value in weights.items()}
    twin.load_state_dict(tensors, strict=True)  # every key paired, every shape right
    ids = models.inputs()
    expected = np.asarray(model(ids, training=False))
    with torch.no_grad():
        got = twin(torch.from_numpy(ids).long()).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_layers_inside_custom_layers_convert_by_attribute_path(model):
    with pytest.warns(converter.ConversionWarning) as caught:
        weights = converter.state_dict(model)
    messages = [str(warning.message) for warning in caught]
    assert any("block.att" in message for message in messages)  # four Linear projections, said so
    assert not any("layernorm" in message for message in messages)  # its axis resolved by the rank it was built at
    assert {"embedding.token_emb.weight", "block.att.query.weight", "block.ffn.expand.weight",
            "block.layernorm2.bias", "block._gate.weight", "head.bias"} <= set(weights)
    assert_twin_matches(weights, model)


@pytest.mark.parametrize("package, suffix", [("keras", ".keras"), ("keras", ".h5"), ("tf_keras", ".h5")])
def test_a_keras_file_with_custom_layers_converts_with_import(tmp_path, package, suffix):
    keras = pytest.importorskip(package)
    model = models.build(keras)
    models.randomize(model)
    path, out = str(tmp_path / f"net{suffix}"), str(tmp_path / "net.safetensors")
    model.save(path)
    result = run_cli("convert", path, out, "--import", "custom_layer_models", cwd=TESTS)
    assert result.returncode == 0, result.stderr
    assert_twin_matches(load_file(out), model)


def test_verify_compares_your_twin_per_layer_with_import(tmp_path, monkeypatch):
    """The migration end to end on the command line: Keras loads the file with your classes (--import), your
    twin gets its weights (load_into), and verify compares it per output and per layer."""
    keras = pytest.importorskip("keras")
    model = models.build(keras)
    models.randomize(model)
    path = str(tmp_path / "net.keras")
    model.save(path)
    monkeypatch.setenv("WEIGHTPORT_TEST_MODEL", path)
    result = run_cli("verify", path, "--import", "custom_layer_models", "--module", "custom_layer_models:loaded_twin",
                     "--per-layer", cwd=TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every layer matches" in result.stdout
    compared = [line.split()[0] for line in result.stdout.split("layers:")[1].splitlines()[2:] if line.strip()]
    assert compared[:4] == ["embedding", "block", "hidden", "head"]  # your layers at your modules of their names


@pytest.mark.parametrize("package, suffix", [("keras", ".keras"), ("keras", ".h5"), ("tf_keras", ".h5")])
def test_without_import_the_refusal_names_the_custom_layers_and_import(tmp_path, package, suffix):
    keras = pytest.importorskip(package)
    path, out = str(tmp_path / f"net{suffix}"), str(tmp_path / "net.safetensors")
    models.build(keras).save(path)
    result = run_cli("convert", path, out, cwd=TESTS)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "embedding, block: your own layer classes" in result.stderr and "--import MODULE" in result.stderr
    assert not (tmp_path / "net.safetensors").exists()


def test_building_a_module_refuses_the_custom_layers_by_name(model):
    with pytest.raises(converter.UnsupportedLayerError) as refused:
        converter.to_torch(model)
    message = str(refused.value)
    assert "embedding (TokenAndPositionEmbedding), block (TransformerBlock)" in message
    assert "the built-in layers inside embedding, block convert" in message


def test_a_custom_layer_with_variables_of_its_own_is_refused_by_name():
    """Its add_weight variables have no rule: refused, as before, naming the layer; its sublayers still convert
    with --skip-unsupported."""
    keras = pytest.importorskip("keras")

    class Scaled(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(3)

        def build(self, shape):
            self.scale = self.add_weight(shape=(3,), name="scale")

        def call(self, x):
            return self.dense(x) * self.scale

    inputs = keras.Input((4,))
    model = keras.Model(inputs, Scaled(name="scaled")(inputs))
    with pytest.raises(converter.UnsupportedLayerError, match=r"scaled \(Scaled\)"):
        converter.state_dict(model)
    with pytest.warns(converter.ConversionWarning, match="scaled"):
        weights = converter.state_dict(model, skip_unsupported=True)
    assert set(weights) == {"scaled.dense.weight", "scaled.dense.bias"}


def test_a_notebooks_custom_layer_is_named_as_yours(tmp_path):
    """A class defined in a notebook (module __main__, unregistered): Keras 3 records its module as null and its
    class name as registered_name (a real file: a SelfAttention of two Dense layers); the refusal says --import."""
    keras = pytest.importorskip("keras")

    class SelfAttention(keras.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.W = keras.layers.Dense(units, activation="tanh")
            self.v = keras.layers.Dense(1)

        def call(self, x):
            return x * keras.ops.softmax(self.v(self.W(x)), axis=1)

    SelfAttention.__module__ = "__main__"
    inputs = keras.Input((5, 3))
    path, out = str(tmp_path / "attention.keras"), str(tmp_path / "attention.safetensors")
    keras.Model(inputs, SelfAttention(name="self_attention")(inputs)).save(path)
    result = run_cli("convert", path, out, cwd=TESTS)
    assert result.returncode == 2 and "self_attention: your own layer classes" in result.stderr, result.stderr


@pytest.mark.parametrize("package", ["keras", "tf_keras"])
def test_an_unregistered_class_in_an_h5_file_is_named_as_yours(tmp_path, package):
    """An `.h5` file records no module, and an unregistered class by its bare name: a class that is none of
    Keras's is the user's, and the refusal says how to bring it (--import)."""
    keras = pytest.importorskip(package)

    class AttentionLayer(keras.layers.Layer):
        def build(self, input_shape):
            self.W = self.add_weight(name="att_weight", shape=(input_shape[-1], 1))

        def call(self, x):
            return x * self.W[0, 0]

    inputs = keras.Input((5, 3))
    path = str(tmp_path / "attention.h5")
    keras.Model(inputs, AttentionLayer(name="attention_layer_4")(inputs)).save(path)
    result = run_cli("convert", path, str(tmp_path / "attention.safetensors"), cwd=TESTS)
    assert result.returncode == 2 and "attention_layer_4 (AttentionLayer)" in result.stderr, result.stderr
    assert "attention_layer_4: your own layer classes" in result.stderr and "--import MODULE" in result.stderr


UNREGISTERED = '''
import {package} as keras


class AttentionLayer(keras.layers.Layer):
    """Not registered with Keras: a file names it by its bare class name."""

    def build(self, input_shape):
        self.score = self.add_weight(name="score", shape=(input_shape[-1], 1))
        self.project = keras.layers.Dense(4, name="project")
        self.project.build(input_shape)

    def call(self, x):
        return self.project(x) * self.score[0, 0]
'''


@pytest.mark.parametrize("package, suffix", [("keras", ".keras"), ("keras", ".h5"), ("tf_keras", ".h5")])
def test_import_gives_keras_an_unregistered_class_by_its_name(tmp_path, package, suffix):
    """--import MODULE hands the module's classes to Keras as custom objects: a class never registered loads,
    its Dense converts by attribute path and, with --keep-unsupported, its own variable is kept as stored."""
    keras = pytest.importorskip(package)
    (tmp_path / "attention_module.py").write_text(UNREGISTERED.format(package=package))
    sys.path.insert(0, str(tmp_path))
    try:
        import attention_module
    finally:
        sys.path.pop(0)
        sys.modules.pop("attention_module", None)
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, attention_module.AttentionLayer(name="att")(inputs))
    for weight in model.weights:
        weight.assign(np.random.default_rng(1).normal(size=weight.shape).astype("float32"))
    path, out = str(tmp_path / f"net{suffix}"), tmp_path / "net.safetensors"
    model.save(path)
    refused = run_cli("convert", path, str(out), cwd=tmp_path)
    assert refused.returncode == 2 and "--import MODULE" in refused.stderr, refused.stderr
    result = run_cli("convert", path, str(out), "--import", "attention_module", "--keep-unsupported", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = {key: value.numpy() for key, value in load_file(str(out)).items()}
    kernel = next(weight for weight in model.weights if weight.shape == (3, 4))
    np.testing.assert_array_equal(written["att.project.weight"], np.asarray(kernel).T)
    score = next(weight for weight in model.weights if weight.shape == (3, 1))
    assert any(np.array_equal(value, np.asarray(score)) for value in written.values())


UNBUILT = '''
import keras


class Block(keras.layers.Layer):
    """As the Keras tutorials' TransformerBlock: sub-layers made in __init__, no build() (built when called), and
    compute_output_shape."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x)

    def compute_output_shape(self, input_shape):  # Keras then never calls it symbolically: nothing builds dense
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def build():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Block(4, name="block")(inputs))
    model(keras.ops.zeros((1, 3)))
    return model
'''


def test_a_file_keras_cannot_rebuild_converts_with_a_factory(tmp_path):
    """A layer class without build() but with compute_output_shape leaves its sub-layers unbuilt when Keras
    rebuilds the model from a .keras file: load_model fails, and the refusal (one line, Keras's warnings kept
    quiet) offers --import MODULE:FACTORY, which builds the model with the user's own code and converts it (each
    weight as the trained model holds it)."""
    keras = pytest.importorskip("keras")
    (tmp_path / "unbuilt_module.py").write_text(UNBUILT)
    sys.path.insert(0, str(tmp_path))
    try:
        import unbuilt_module
    finally:
        sys.path.pop(0)
        sys.modules.pop("unbuilt_module", None)
    model = unbuilt_module.build()
    for weight in model.weights:
        weight.assign(np.random.default_rng(3).normal(size=weight.shape).astype("float32"))
    path, out = str(tmp_path / "net.keras"), tmp_path / "net.safetensors"
    model.save(path)
    with pytest.raises(ValueError):
        keras.saving.load_model(path, custom_objects={"Block": unbuilt_module.Block})  # Keras's own failure
    refused = run_cli("convert", path, str(out), "--import", "unbuilt_module", cwd=tmp_path)
    assert refused.returncode == 2 and "--import unbuilt_module:FACTORY builds the model" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    result = run_cli("convert", path, str(out), "--import", "unbuilt_module:build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = {key: value.numpy() for key, value in load_file(str(out)).items()}
    dense = model.get_layer("block").dense
    np.testing.assert_array_equal(written["block.dense.weight"], np.asarray(dense.kernel).T)
    np.testing.assert_array_equal(written["block.dense.bias"], np.asarray(dense.bias))
