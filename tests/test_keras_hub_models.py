"""KerasHub's own models (a Backbone saved as `.keras`): their file records the model's arguments, no layers, so
weightport names the package whose classes build it; with `--import keras_hub`, Keras builds it and its layers
convert by attribute path."""
from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file

from helpers import run_cli
from random_weights import randomize


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    keras_hub = pytest.importorskip("keras_hub")
    model = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
                                          intermediate_dim=16, max_sequence_length=12)
    randomize(model, seed=3)
    path = tmp_path_factory.mktemp("hub") / "bert_backbone.keras"
    model.save(str(path))
    return model, path


def test_a_keras_hub_backbone_names_keras_hub_to_import(backbone, tmp_path):
    _, path = backbone
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "a KerasHub model (BertBackbone)" in result.stderr and "--import keras_hub" in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def test_with_import_keras_hub_it_converts_by_attribute_path(backbone, tmp_path):
    model, path = backbone
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"), "--import", "keras_hub", "-q")
    assert result.returncode == 0, result.stderr
    written = load_file(str(tmp_path / "out.safetensors"))
    dense = model.transformer_layers[1]._feedforward_intermediate_dense
    np.testing.assert_array_equal(written["transformer_layers.1._feedforward_intermediate_dense.weight"],
                                  np.asarray(dense.kernel).T)
    np.testing.assert_array_equal(written["transformer_layers.1._feedforward_intermediate_dense.bias"],
                                  np.asarray(dense.bias))
    assert len(written) == len(model.weights) - 2 * 4  # per layer, query, key and value joined: in_proj weight, bias
