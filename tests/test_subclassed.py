"""Subclassed Keras models (Keras 3 and tf.keras): layers keyed by attribute path, loaded into a
hand-written PyTorch twin with the same attribute names (tests/subclassed_models.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import converter
import subclassed_models as models
from helpers import ROOT, run_cli

BUILDERS = {"keras3": models.build_keras3, "tf_keras": models.build_tf_keras}
TESTS = str(ROOT / "tests")


def inputs() -> np.ndarray:
    return np.random.default_rng(11).normal(0, 1, (3, models.TIME, models.FEATURES)).astype("float32")


def assert_twin_matches(twin: torch.nn.Module, model) -> None:
    x = inputs()
    expected = np.asarray(model(x, training=False))
    with torch.no_grad():
        got = twin.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def assert_output_matches(result, out: str, model) -> None:
    """The CLI succeeded, and its output loads strictly into the twin, which computes what Keras does."""
    assert result.returncode == 0, result.stderr
    twin = models.TorchNet()
    twin.load_state_dict(load_file(out), strict=True)
    assert_twin_matches(twin, model)


@pytest.fixture(params=sorted(BUILDERS))
def flavour(request):
    return request.param


@pytest.fixture
def model(flavour):
    built = BUILDERS[flavour]()
    models.randomize(built)
    return built


def test_a_live_model_loads_into_its_twin_strictly(model):
    twin = models.TorchNet().eval()
    plan = converter.load_into(twin, model)  # strict: every key paired, every shape right
    assert plan.ok
    assert_twin_matches(twin, model)


def test_keys_are_attribute_paths(model):
    weights = converter.state_dict(model)
    assert set(weights) == set(models.TorchNet().state_dict())
    with converter.read(model) as graph:
        assert graph.format == "live-subclassed"
    assert "encoder.proj" in converter.inspect(model).to_text()


def test_a_weights_file_converts_with_import(tmp_path, flavour, model):
    path = str(tmp_path / ("net.weights.h5" if flavour == "keras3" else "net.h5"))
    model.save_weights(path)
    out = str(tmp_path / "net.safetensors")
    assert_output_matches(run_cli("convert", path, out, "--import", f"subclassed_models:build_{flavour}", cwd=TESTS),
                          out, model)


def test_a_keras_archive_converts_with_import_of_its_classes(tmp_path):
    model = models.build_keras3()
    models.randomize(model)
    path = str(tmp_path / "net.keras")
    model.save(path)
    out = str(tmp_path / "net.safetensors")
    assert_output_matches(run_cli("convert", path, out, "--import", "subclassed_models", cwd=TESTS), out, model)


def saved(tmp_path, flavour: str, model) -> str:
    if flavour == "keras3":
        path = str(tmp_path / "net.keras")
        model.save(path)
    else:
        path = str(tmp_path / "net.h5")
        model.save_weights(path)
    return path


def test_a_file_without_its_class_converts_like_the_twin(tmp_path, flavour, model):
    """No class, no --import: the twin's state_dict (--like) decides what each saved variable is."""
    path = saved(tmp_path, flavour, model)
    template = str(tmp_path / "twin.pt")
    torch.save(models.TorchNet().state_dict(), template)
    out = str(tmp_path / "net.safetensors")
    # Keras 3 saves by attribute path (paired by path); tf.keras by layer name (paired in order)
    order = [] if flavour == "keras3" else ["--map", "order"]
    assert_output_matches(run_cli("convert", path, out, "--like", template, *order), out, model)


def test_load_into_pairs_a_keras3_weights_file_by_attribute_path(tmp_path):
    model = models.build_keras3()
    models.randomize(model)
    path = str(tmp_path / "net.weights.h5")
    model.save_weights(path)  # encoder/proj/vars/0, blocks/dense_1/vars/0, layers/lstm/cell/vars/0 ...
    twin = models.TorchNet().eval()
    plan = converter.load_into(twin, path)
    assert plan.ok
    assert_twin_matches(twin, model)


def test_a_twin_with_other_attribute_names_is_refused_by_name(tmp_path):
    model = models.build_keras3()
    path = str(tmp_path / "net.weights.h5")
    model.save_weights(path)
    twin = models.TorchNet()
    twin.decoder = twin.head  # renamed: `head` is no longer an attribute of the twin
    del twin.head
    with pytest.raises(converter.LoadError, match="head"):
        converter.load_into(twin, path)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_a_file_without_its_class_says_what_to_use(tmp_path, suffix):
    path = str(tmp_path / f"net{suffix}")
    model = models.build_keras3()
    model.save(path) if suffix == ".keras" else model.save_weights(path)
    out = tmp_path / "net.safetensors"
    result = run_cli("convert", path, str(out))
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.count("\n") == 1
    assert "subclassed" in result.stderr and "--import" in result.stderr and "--like" in result.stderr


def test_import_of_a_missing_module_is_one_line(tmp_path):
    result = run_cli("convert", str(tmp_path / "x.keras"), str(tmp_path / "o.safetensors"), "--import",
                     "no_such_module_here", cwd=TESTS)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no_such_module_here" in result.stderr


def test_building_a_module_of_a_subclassed_model_points_to_load_into(model):
    with pytest.raises(converter.ConverterError, match="load_into"):
        converter.to_torch(model)


def test_variables_no_attribute_path_reaches_are_refused_by_name():
    """The model's own add_weight: no rule names it, so converting refuses it by name instead of writing the rest.
    A private sublayer (`self._hidden`, as KerasHub keeps its layers) converts under its attribute name."""
    keras = pytest.importorskip("keras")

    class Scaled(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)
            self._hidden = keras.layers.Dense(2)
            self.scale = self.add_weight(shape=(2,), name="scale")

        def call(self, x):
            return self._hidden(self.dense(x)) * self.scale

    model = Scaled()
    model(np.zeros((1, 4), "float32"))
    with pytest.raises(converter.UnsupportedLayerError, match=r"\(Scaled\)"):
        converter.state_dict(model)
    with pytest.warns(converter.ConversionWarning, match="Scaled"):
        weights = converter.state_dict(model, skip_unsupported=True)
    assert set(weights) == {"dense.weight", "dense.bias", "_hidden.weight", "_hidden.bias"}


def test_dict_attributes_key_like_a_module_dict(tmp_path):
    keras = pytest.importorskip("keras")

    class Heads(keras.Model):
        def __init__(self):
            super().__init__()
            self.trunk = keras.layers.Dense(3)
            self.heads = {"x": keras.layers.Dense(2), "y": keras.layers.Dense(2)}

        def call(self, x):
            h = self.trunk(x)
            return self.heads["x"](h) - self.heads["y"](h)

    class TorchHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = torch.nn.Linear(4, 3)
            self.heads = torch.nn.ModuleDict({"x": torch.nn.Linear(3, 2), "y": torch.nn.Linear(3, 2)})

        def forward(self, x):
            h = self.trunk(x)
            return self.heads["x"](h) - self.heads["y"](h)

    model = Heads()
    model(np.zeros((1, 4), "float32"))
    models.randomize(model)
    x = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
    path = str(tmp_path / "heads.weights.h5")
    model.save_weights(path)  # no `layers` group at all: trunk/vars, heads/dense/vars, heads/dense_1/vars
    for source in (model, path):
        twin = TorchHeads()
        converter.load_into(twin, source)
        with torch.no_grad():
            np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_a_dataset_outside_any_objects_vars_is_refused(tmp_path):
    """What a class's own save_own_variables wrote has no known meaning: refused by name, never paired."""
    import h5py

    path = str(tmp_path / "net.weights.h5")
    models.build_keras3().save_weights(path)
    with h5py.File(path, "a") as h5:
        h5["encoder"].create_dataset("table", data=np.arange(4, dtype="float32"))
    with pytest.raises(converter.ReadError, match="encoder/table"):
        converter.load_into(models.TorchNet(), path)


def test_verify_compares_your_twin_with_a_subclassed_model(model):
    """No graph to build a module from, but your twin's outputs compare with the Keras model's on your inputs."""
    twin = models.TorchNet().eval()
    converter.load_into(twin, model)
    report = converter.verify(model, module=twin, inputs=[inputs()])
    assert report.ok and report.outputs[0].max_abs < 1e-5, report.to_text()
    with torch.no_grad():
        twin.head.bias.add_(0.01)  # a wrong weight is found
    assert not converter.verify(model, module=twin, inputs=[inputs()]).ok
    with pytest.raises(converter.ArgumentError, match="records no input shapes"):
        converter.verify(model, module=twin)
