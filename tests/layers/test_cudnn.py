"""CuDNNLSTM and CuDNNGRU (Keras 2, tf.keras 1.x), in files tf_keras writes: it builds these layers on a CPU but
cannot run them (cuDNN only). What they compute is checked against an LSTM / GRU(reset_after=True) twin given
Keras's own conversion of their weights (tf_keras's `_convert_rnn_weights`, which Keras applies when it loads
CuDNN weights into such a layer), never against weightport's reading of the layout."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from layer_harness import randomize


def _stack(k: Any, cudnn: bool) -> Any:
    """The same model with cuDNN layers, or with the layers they compute."""
    from tf_keras.src import layers as cudnn_layers  # not in tf_keras.layers: tf.compat.v1.keras.layers has them

    def lstm(units: int, **options: Any) -> Any:
        return cudnn_layers.CuDNNLSTM(units, **options) if cudnn else k.layers.LSTM(units, **options)

    def gru(units: int, **options: Any) -> Any:
        return cudnn_layers.CuDNNGRU(units, **options) if cudnn else k.layers.GRU(units, reset_after=True, **options)

    return k.Sequential([
        k.Input((7, 5)), lstm(6, return_sequences=True),
        k.layers.Bidirectional(gru(4, return_sequences=True), merge_mode="sum"),
        gru(4, go_backwards=True, return_sequences=True), k.layers.Bidirectional(lstm(3)), k.layers.Dense(2),
    ], name="stack")


def _twin(k: Any, model: Any) -> Any:
    """`model`'s twin of plain layers, its weights converted from the cuDNN ones by Keras's own function."""
    from tf_keras.src.saving.legacy.hdf5_format import _convert_rnn_weights

    twin = _stack(k, cudnn=False)
    for source, target in zip(model.layers, twin.layers):
        weights = source.get_weights()
        if isinstance(target, k.layers.Bidirectional):
            half = len(weights) // 2
            weights = (_convert_rnn_weights(target.forward_layer, weights[:half])
                       + _convert_rnn_weights(target.backward_layer, weights[half:]))
        elif isinstance(target, (k.layers.LSTM, k.layers.GRU)):
            weights = _convert_rnn_weights(target, weights)
        target.set_weights(weights)
    return twin


@pytest.fixture(scope="module")
def cudnn_model(tmp_path_factory):
    import tf_keras as k

    folder = tmp_path_factory.mktemp("cudnn")
    model = _stack(k, cudnn=True)
    randomize(model, seed=9)
    model.save(str(folder / "cudnn.h5"))
    x = np.random.default_rng(4).normal(size=(5, 7, 5)).astype("float32")
    return _twin(k, model)(x).numpy(), folder, x


def _outputs(path: Path, x: np.ndarray, **options: Any) -> np.ndarray:
    module = converter.to_torch(str(path), input_layout="keras", **options)
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_a_cudnn_model_converts_to_what_it_computes(cudnn_model):
    expected, folder, x = cudnn_model
    np.testing.assert_allclose(_outputs(folder / "cudnn.h5", x), expected, atol=1e-5)


@pytest.mark.parametrize("weights_file", ["weights.h5", "model.weights.h5"])  # tf.keras's legacy and new writers
def test_cudnn_weights_without_the_model_convert_alike(tmp_path, weights_file):
    """save_weights names the layers `cu_dnnlstm`, `cu_dnngru`: their classes are told from those names."""
    import tf_keras as k
    from tf_keras.src import layers as cudnn_layers

    model = k.Sequential([k.Input((4, 3)), cudnn_layers.CuDNNLSTM(5, return_sequences=True),
                          cudnn_layers.CuDNNGRU(2)])
    randomize(model, seed=1)
    model.save(str(tmp_path / "model.h5"))
    model.save_weights(str(tmp_path / weights_file))
    full, weights_only = ({re.sub(r"_\d+\.", ".", key): value for key, value in
                           converter.state_dict(str(tmp_path / name)).items()}  # one layer of each class
                          for name in ("model.h5", weights_file))
    assert sorted(full) == sorted(weights_only) and any(key.endswith(".bias_hh_l0") for key in full)
    for key in full:
        np.testing.assert_array_equal(full[key], weights_only[key], err_msg=key)


def test_the_record_says_how_each_tensor_was_read(cudnn_model, tmp_path):
    _, folder, _ = cudnn_model
    text = converter.inspect(str(folder / "cudnn.h5")).to_text()
    assert "cudnn_rnn_kernel_ig" in text and "read as cuDNN's (u, rows)" in text
    assert "first half; gates z,r,h -> r,z,n" in text
    result = run_cli("convert", str(folder / "cudnn.h5"), str(tmp_path / "out.safetensors"))
    assert result.returncode == 0, result.stderr
    from safetensors.numpy import load_file

    written, expected = load_file(str(tmp_path / "out.safetensors")), converter.state_dict(str(folder / "cudnn.h5"))
    for key in expected:
        np.testing.assert_array_equal(written[key], expected[key], err_msg=key)


def test_verify_runs_a_cudnn_model_on_a_cpu(cudnn_model, monkeypatch):
    """Keras cannot run cuDNN layers without a GPU: verify has Keras build the layers that compute the same and
    convert the weights for them (its own load_weights), and still catches a wrong reading of the layout."""
    _, folder, _ = cudnn_model
    report = converter.verify(str(folder / "cudnn.h5"), samples=3, per_layer=True)
    assert report.ok and "CuDNNLSTM/CuDNNGRU run on NVIDIA GPUs only" in report.notes[0], report.to_text()
    from converter.regroupings import Half

    monkeypatch.setattr(Half, "apply", lambda self, array: array[:len(array) // 2] if self.index else
                        array[len(array) // 2:])  # the two biases swapped: their sum, a GRU's math, differs
    assert not converter.verify(str(folder / "cudnn.h5"), samples=3).ok
