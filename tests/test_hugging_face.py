"""Output folders follow Hugging Face's conventions: its own loader finds and accepts them."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

import converter
from helpers import fixture

serialization = pytest.importorskip("huggingface_hub.serialization")


@pytest.mark.parametrize("max_shard_size", [None, 300])
def test_a_folder_gets_model_safetensors_that_huggingface_hub_loads(tmp_path, max_shard_size):
    source = fixture("keras3/mlp.keras")
    conversion = converter.convert(source, str(tmp_path) + "/", max_shard_size=max_shard_size)
    names = sorted(path.name for path in tmp_path.iterdir())
    if max_shard_size is None:
        assert names == ["model.safetensors"]
    else:
        count = len(names) - 1
        assert count > 1 and "model.safetensors.index.json" in names
        assert names[:-1] == [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
        index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
        assert set(index["weight_map"]) == {target.key for target in conversion.tensors}
    for name in names:
        if name.endswith(".safetensors"):
            with safe_open(str(tmp_path / name), "pt") as handle:
                assert handle.metadata()["format"] == "pt"
    module = converter.to_torch(source)
    expected = {key: value.clone() for key, value in module.state_dict().items()}
    for parameter in module.parameters():
        parameter.data.zero_()
    serialization.load_torch_model(module, tmp_path, strict=True)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_keras_layout_is_not_labelled_pytorch(tmp_path):
    converter.convert(fixture("keras3/mlp.keras"), tmp_path / "w.safetensors", layout="keras")
    with safe_open(str(tmp_path / "w.safetensors"), "np") as handle:
        assert handle.metadata()["format"] == "tf"


def test_a_keras_model_folder_is_a_source(tmp_path):
    """config.json + model.weights.h5, as Keras and KerasHub presets are laid out on the Hub."""
    import keras
    import numpy as np

    model = keras.saving.load_model(fixture("keras3/nested.keras"), compile=False)
    (tmp_path / "config.json").write_text(model.to_json())
    model.save_weights(str(tmp_path / "model.weights.h5"))
    reference = converter.state_dict(fixture("keras3/nested.keras"))
    weights = converter.state_dict(str(tmp_path))
    assert set(weights) == set(reference)
    assert all(np.array_equal(weights[key], reference[key]) for key in reference)
    module = converter.to_torch(str(tmp_path), input_layout="keras")
    expected = converter.to_torch(fixture("keras3/nested.keras"), input_layout="keras")
    shape = tuple(model.inputs[0].shape[1:])
    inputs = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(module(inputs), expected(inputs), rtol=0, atol=0)


def test_a_keras_model_folder_is_verified(tmp_path):
    """verify of a Keras model folder (keras.saving.save_model(..., zipped=False), a KerasHub-style preset) has
    Keras build its config.json and load its model.weights.h5; it asked for --architecture before, though
    convert and to_torch read the folder whole."""
    import keras

    model = keras.saving.load_model(fixture("keras3/nested.keras"), compile=False)
    folder = tmp_path / "unzipped"
    keras.saving.save_model(model, str(folder), zipped=False)
    report = converter.verify(str(folder), per_layer=True)
    assert report.ok and report.layers
