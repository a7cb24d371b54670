"""Keras 2's `model.to_yaml()` as the architecture of a weights file (the `model.yaml` + `model.h5` of tutorials).

TensorFlow 2.6 removed to_yaml; it was `yaml.dump(model._updated_config())`, which tf_keras still has: the
tests write YAML so, tuples as `!!python/tuple` (nested in ZeroPadding2D's padding). Keras's own
model_from_yaml ran `yaml.load`, which executes Python tags; weightport reads data only.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import converter
from converter.errors import MissingDependencyError, ReadError
from random_weights import randomize


def _saved(tmp_path, seed: int = 0):
    """A tf.keras model's weights and its to_yaml() text, as Keras 2 wrote them."""
    import tf_keras as k
    import yaml

    k.backend.clear_session()
    model = k.Sequential([k.Input((9, 9, 3)), k.layers.ZeroPadding2D(((1, 0), (0, 2))),
                          k.layers.Conv2D(4, (3, 2), strides=(2, 1), activation="relu"),
                          k.layers.BatchNormalization(), k.layers.Flatten(), k.layers.Dense(5),
                          k.layers.Activation("softmax")])
    randomize(model, seed)
    weights = tmp_path / "model.h5"
    model.save_weights(str(weights))
    architecture = tmp_path / "model.yaml"
    architecture.write_text(yaml.dump(model._updated_config()))
    return model, weights, architecture


def test_a_to_yaml_architecture_converts_as_keras_computes(tmp_path):
    model, weights, architecture = _saved(tmp_path)
    assert "!!python/tuple" in architecture.read_text()
    inputs = np.random.default_rng(1).normal(0, 1, (4, 9, 9, 3)).astype("float32")
    expected = np.asarray(model(inputs, training=False))
    module = converter.to_torch(str(weights), architecture=str(architecture), input_layout="keras")
    with torch.no_grad():
        got = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    as_json = tmp_path / "model.json"
    as_json.write_text(model.to_json())
    from_yaml = converter.state_dict(str(weights), architecture=str(architecture))
    from_json = converter.state_dict(str(weights), architecture=str(as_json))
    assert set(from_yaml) == set(from_json)
    for key in from_json:
        np.testing.assert_array_equal(from_yaml[key], from_json[key], err_msg=key)


def test_verify_builds_the_yaml_architecture(tmp_path):
    _, weights, architecture = _saved(tmp_path, seed=2)
    report = converter.verify(str(weights), architecture=str(architecture), per_layer=True)
    assert report.ok


def test_a_yaml_file_named_otherwise_is_told_by_its_first_key(tmp_path):
    _, weights, architecture = _saved(tmp_path, seed=3)
    renamed = tmp_path / "model_arch.txt"
    renamed.write_text(architecture.read_text())
    assert set(converter.state_dict(str(weights), architecture=str(renamed))) == \
        set(converter.state_dict(str(weights), architecture=str(architecture)))


def test_python_tags_are_refused_and_never_run(tmp_path):
    sentinel = tmp_path / "ran"
    crafted = tmp_path / "crafted.yaml"
    crafted.write_text(f"class_name: !!python/object/apply:os.system ['touch {sentinel}']\nconfig: []\n")
    _, weights, _ = _saved(tmp_path)
    with pytest.raises(ReadError, match="not a YAML model config Keras wrote"):
        converter.state_dict(str(weights), architecture=str(crafted))
    assert not sentinel.exists()


def test_aliases_standing_for_billions_of_values_are_refused(tmp_path):
    lines = ["class_name: Sequential", 'l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append(f"config: [{', '.join(['*l8'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    _, weights, _ = _saved(tmp_path)
    with pytest.raises(ReadError, match="once its aliases are expanded"):
        converter.state_dict(str(weights), architecture=str(bomb))


def test_aliases_a_config_may_hold_are_read_as_copies(tmp_path):
    """yaml.dump writes an anchor where one object appears twice; each place gets its own copy."""
    import yaml

    model, weights, architecture = _saved(tmp_path, seed=4)
    config = json.loads(model.to_json())
    shared = config["config"]["layers"][2]["config"]["kernel_initializer"]
    config["config"]["layers"][5]["config"]["kernel_initializer"] = shared
    text = yaml.dump(config)
    assert "&id001" in text
    architecture.write_text(text)
    reference = converter.state_dict(str(weights), architecture=json.loads(model.to_json()))
    assert set(converter.state_dict(str(weights), architecture=str(architecture))) == set(reference)


def test_a_yaml_config_given_as_the_source_names_what_to_do(tmp_path):
    _, _, architecture = _saved(tmp_path)
    with pytest.raises(ReadError, match="model.to_yaml\\(\\)\\), which holds no weights"):
        converter.state_dict(str(architecture))


def test_without_pyyaml_a_yaml_architecture_says_what_to_install(tmp_path, monkeypatch):
    _, weights, architecture = _saved(tmp_path)
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install pyyaml"):
        converter.state_dict(str(weights), architecture=str(architecture))


@pytest.mark.parametrize("seed", range(3))
def test_damaged_yaml_is_a_read_error_or_a_config(tmp_path, seed):
    """Bytes of a real to_yaml() text changed at random: refused as ReadError, never another exception."""
    _, weights, architecture = _saved(tmp_path, seed)
    text = bytearray(architecture.read_bytes())
    rng = np.random.default_rng(seed)
    for trial in range(40):
        damaged = bytearray(text)
        for at in rng.integers(0, len(damaged), int(rng.integers(1, 6))):
            damaged[at] = int(rng.choice(list(b"[]{}:&*!|>-#'\"\n\t \x00\xff")))
        path = tmp_path / f"damaged{trial}.yaml"
        path.write_bytes(bytes(damaged))
        try:
            converter.state_dict(str(weights), architecture=str(path))
        except converter.errors.ConverterError:
            pass
