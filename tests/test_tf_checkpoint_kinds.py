"""The kinds with sublayers or several alike-named variables, saved as TF checkpoints (tf.keras `save_weights`,
Keras 3 `tf.train.Checkpoint(model=...)`) and read with their model file as the architecture: the same tensors as
the file gives, or refused by name; never others. A checkpoint lists its variables alphabetically, so a
Bidirectional's backward copy comes before its forward one and a MultiHeadAttention's key before its query:
they are told apart by their sublayers' paths."""
from __future__ import annotations

import numpy as np
import pytest

import converter
from kind_cases import CASES
from layer_harness import keras_module, randomize

KINDS = ("Bidirectional", "MultiHeadAttention", "LSTM", "GRU", "ConvLSTM2D", "BatchNormalization", "TimeDistributed",
         "RNN", "SeparableConv2D", "Conv2DTranspose", "SimpleRNN", "EinsumDense", "LayerNormalization")
#: read whole (each case of these kinds once refused for their alike-named variables, or swapped by them)
READ = ("Bidirectional", "MultiHeadAttention")
RUNS = [(case, writer) for case in CASES if case.kind.removeprefix("keras.layers.") in KINDS
        for writer in ("keras2", "keras3") if getattr(case, writer)]


@pytest.mark.parametrize("case, writer", RUNS, ids=[f"{case.name}-{writer}" for case, writer in RUNS])
def test_a_checkpoint_gives_the_files_tensors_or_is_refused(tmp_path, case, writer):
    import tensorflow as tf

    keras = keras_module(writer)
    model = case.build(keras)
    randomize(model, seed=11)
    architecture = str(tmp_path / ("model.h5" if writer == "keras2" else "model.keras"))
    model.save(architecture)
    if writer == "keras2":
        model.save_weights(str(tmp_path / "checkpoint" / "weights"))
    else:
        tf.train.Checkpoint(model=model).save(str(tmp_path / "checkpoint" / "ckpt"))
    expected = converter.state_dict(architecture)
    try:
        got = converter.state_dict(str(tmp_path / "checkpoint"), architecture=architecture)
    except converter.ConverterError:
        assert case.kind.removeprefix("keras.layers.") not in READ, case.name
        return
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
