"""The kinds with sublayers or several alike-named variables, saved as TF checkpoints (tf.keras `save_weights`,
Keras 3 `tf.train.Checkpoint(model=...)`) and read with their model file as the architecture, or as tf.keras
SavedModels: the same tensors as the file gives, or refused by name; never others. A checkpoint lists its
variables alphabetically, so a Bidirectional's backward copy comes before its forward one and a
MultiHeadAttention's key before its query: they are told apart by their sublayers' paths (a SavedModel reaches
them by a second, longer way too: `keras_api/layers/0`)."""
from __future__ import annotations

import numpy as np
import pytest

import converter
from kind_cases import CASES
from layer_harness import keras_module, randomize

KINDS = ("Bidirectional", "MultiHeadAttention", "LSTM", "GRU", "ConvLSTM2D", "BatchNormalization", "TimeDistributed",
         "RNN", "SeparableConv2D", "Conv2DTranspose", "SimpleRNN", "EinsumDense", "LayerNormalization",
         "Normalization", "GroupQueryAttention")
#: read whole (each case of these kinds once refused for their alike-named variables, or a Normalization's
#: Keras 3 attribute names, `adapt_mean`); tf.keras's stacked cells too (`cell/cells/0/kernel`: Keras 3 leaves a
#: stack's cells out of a checkpoint altogether, which is refused as holding no weights)
READ = ("Bidirectional", "MultiHeadAttention", "Normalization", "GroupQueryAttention", "TimeDistributed")
READ_TF_KERAS = ("RNN",)
#: SavedModels (a second or so each to write) of the kinds whose variables sit deepest
SAVED_MODELS = ("Bidirectional", "MultiHeadAttention", "RNN", "TimeDistributed", "ConvLSTM2D")
RUNS = [(case, writer, saved) for case in CASES if (kind := case.kind.removeprefix("keras.layers.")) in KINDS
        for writer, saved in (("keras2", "checkpoint"), ("keras2", "saved_model"), ("keras3", "checkpoint"))
        if getattr(case, writer) and (saved == "checkpoint" or kind in SAVED_MODELS)]


@pytest.mark.parametrize("case, writer, saved", RUNS, ids=[f"{case.name}-{writer}-{saved}" for case, writer, saved
                                                           in RUNS])
def test_a_checkpoint_gives_the_files_tensors_or_is_refused(tmp_path, case, writer, saved):
    import tensorflow as tf

    keras = keras_module(writer)
    model = case.build(keras)
    randomize(model, seed=11)
    architecture = str(tmp_path / ("model.h5" if writer == "keras2" else "model.keras"))
    model.save(architecture)
    if saved == "saved_model":  # its own architecture: keras_metadata.pb
        model.save(str(tmp_path / "saved"), save_format="tf")
        source, architecture_given = str(tmp_path / "saved"), None
    else:
        if writer == "keras2":
            model.save_weights(str(tmp_path / "checkpoint" / "weights"))
        else:
            tf.train.Checkpoint(model=model).save(str(tmp_path / "checkpoint" / "ckpt"))
        source, architecture_given = str(tmp_path / "checkpoint"), architecture
    expected = converter.state_dict(architecture)
    try:
        got = converter.state_dict(source, architecture=architecture_given)
    except converter.ConverterError:
        kind = case.kind.removeprefix("keras.layers.")
        assert kind not in READ and (writer == "keras3" or kind not in READ_TF_KERAS), case.name
        return
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_a_time_distributed_sequential_of_alike_layers_keeps_each_its_own(tmp_path):
    """tf.keras numbers a wrapped Sequential's layers without its InputLayer: two Dense layers of one shape, where
    an off-by-one would give the first the second's weights and no error."""
    import tf_keras as k

    inner = k.Sequential([k.Input((3,)), k.layers.Dense(3), k.layers.Dense(3)])
    model = k.Sequential([k.Input((5, 3)), k.layers.TimeDistributed(inner)])
    randomize(model, seed=4)
    model.save(str(tmp_path / "model.h5"))
    model.save_weights(str(tmp_path / "checkpoint" / "weights"))
    expected = converter.state_dict(str(tmp_path / "model.h5"))
    got = converter.state_dict(str(tmp_path / "checkpoint"), architecture=str(tmp_path / "model.h5"))
    assert sorted(got) == sorted(expected) and len(expected) == 4
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
