"""Whole keras.applications architectures and sequence models through to_torch, in both layouts."""
from __future__ import annotations

import numpy as np
import pytest

import converter
from build_harness import MODEL_RTOL, keras_outputs, relative_difference, torch_outputs
from layer_harness import keras_module, randomize

# Small inputs keep the suite quick; the weights do not depend on the input size.
ARCHITECTURES = [("MobileNetV2", (96, 96, 3)), ("ResNet50", (64, 64, 3)), ("EfficientNetB0", (96, 96, 3)),
                 ("DenseNet121", (64, 64, 3))]


@pytest.mark.parametrize("architecture, shape", ARCHITECTURES, ids=[a for a, _ in ARCHITECTURES])
def test_application_matches_keras_in_both_layouts(tmp_path, architecture, shape):
    """Every layer's output, not only the model's: deep random networks lose the input's signal
    by their last layers (their logits barely vary between inputs), so the per-layer outputs
    are what shows each conversion right."""
    import keras

    model = getattr(keras.applications, architecture)(weights=None, input_shape=shape, classifier_activation=None)
    randomize(model, seed=5)
    path = str(tmp_path / f"{architecture}.keras")
    model.save(path)
    for layout in ("torch", "keras"):
        report = converter.verify(path, samples=2, per_layer=True, input_layout=layout, atol=1e-5, rtol=MODEL_RTOL)
        assert report.ok, report.to_text()
        assert not report.skipped_layers
        assert len(report.layers) == len(model.layers) - 1
        failing = [layer.name for layer in report.layers if layer.status != "ok"]
        assert not failing, report.to_text()
        assert max(output.max_rel for output in report.outputs) <= MODEL_RTOL  # relative to the output scale


@pytest.mark.parametrize("architecture", ["MobileNetV2", "ResNet50"])
def test_application_from_keras2_h5_matches(tmp_path, architecture):
    tf_keras = keras_module("keras2")
    model = getattr(tf_keras.applications, architecture)(weights=None, input_shape=(64, 64, 3))
    randomize(model, seed=6)
    path = str(tmp_path / f"{architecture}.h5")
    model.save(path)
    inputs = [np.random.default_rng(1).normal(0, 1, (2, 64, 64, 3)).astype("float32")]
    assert relative_difference(keras_outputs(model, inputs), torch_outputs(path, inputs, "torch")) <= MODEL_RTOL


def text_model(keras, kind: str):
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 8, mask_zero=kind == "masked", name="embed")(tokens)
    if kind == "bilstm":
        x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True), name="bi")(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
    elif kind == "stacked_gru":
        x = keras.layers.GRU(6, return_sequences=True, name="gru_1")(x)
        x = keras.layers.GRU(5, name="gru_2")(x)
    elif kind == "conv1d":
        x = keras.layers.Conv1D(6, 3, padding="same", activation="relu", name="conv")(x)
        x = keras.layers.MaxPooling1D(2, name="pool")(x)
        x = keras.layers.Conv1D(4, 3, strides=2, padding="same", name="conv_2")(x)
        x = keras.layers.Flatten()(x)
    elif kind == "masked":
        x = keras.layers.LSTM(6, return_sequences=True, name="lstm")(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(tokens, outputs)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("kind", ["bilstm", "stacked_gru", "conv1d", "masked"])
def test_sequence_model_matches_keras(tmp_path, writer, kind):
    keras = keras_module(writer)
    model = text_model(keras, kind)
    randomize(model, seed=7)
    path = str(tmp_path / f"{kind}{'.keras' if writer == 'keras3' else '.h5'}")
    model.save(path)
    ids = np.random.default_rng(2).integers(1, 50, (4, 12)).astype("int32")
    ids[:, 8:] = 0  # padding at the end: masked steps when mask_zero is on
    inputs = [ids]
    expected = keras_outputs(model, inputs)
    for layout in ("torch", "keras"):
        assert relative_difference(expected, torch_outputs(path, inputs, layout)) <= MODEL_RTOL, layout
