"""verify of a Keras 3 file written by another Keras 3 than the one installed (running_keras.py).

Where the two compute a layer differently (EinsumDense's bias before and after 3.7, MultiHeadAttention's
mask clearing before and after 3.8), the module that `to_torch` builds follows the file's Keras, and Keras
here computes as today's: verify reported FAILED for a correct conversion. It checks the module built as the
running Keras computes, and names the layers so built; the rest is checked as it is.
"""
from __future__ import annotations

import numpy as np

import converter
from helpers import keras3, with_keras_version
from layer_harness import randomize
from test_attention_clears_masks import IDS, transformer_blocks
from test_keras_tf_bias import einsum_model


def _saved(tmp_path, model, version):
    model.save(tmp_path / "new.keras")
    return with_keras_version(tmp_path / "new.keras", tmp_path / "old.keras", version)


def test_a_file_of_keras_before_3_7_verifies_with_the_bias_layer_named(tmp_path):
    """The module to_torch builds for it broadcasts the bias as Keras 3.6 did (test_keras_tf_bias.py), which Keras
    3.15 on TensorFlow does not: verify gave 1.46 off and FAILED."""
    model = einsum_model(keras3())
    old = _saved(tmp_path, model, "3.6.0")
    x = [np.random.default_rng(0).normal(0, 1, (4, 5)).astype("float32")]
    for per_layer in (False, True):
        report = converter.verify(str(old), inputs=x, per_layer=per_layer)
        assert report.ok, report
        note = [note for note in report.notes if "Keras 3.6.0 on tensorflow (assumed" in note]
        assert len(note) == 1 and f"1 layer differently ({model.layers[-1].name})" in note[0], report.notes


def test_a_file_of_keras_before_3_8_verifies_with_the_layers_after_the_attention_named(tmp_path):
    """Keras 3.7's MultiHeadAttention leaves its inputs' masks, 3.8's clears them: what reads them after it (the
    second block's attention) is built as the running Keras computes it; and the masked average pooling, which
    zeroes the masked steps by a multiply before Keras 3.15 (a NaN there stays) and by a where from it."""
    keras = keras3()
    model = transformer_blocks(keras)
    randomize(model, seed=4)
    report = converter.verify(str(_saved(tmp_path, model, "3.7.0")), inputs=[IDS])
    assert report.ok, report
    (note,) = [note for note in report.notes if "Keras 3.7.0 on tensorflow (assumed" in note]
    assert "2 layers differently (attention_1, pool)" in note, note


def test_no_note_where_the_versions_compute_alike(tmp_path):
    """A file of today's Keras, and one of Keras 3.6 whose layers compute as today's: checked as built."""
    keras = keras3()
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(4, activation="relu")(inputs)))
    randomize(model, seed=1)
    x = [np.random.default_rng(1).normal(0, 1, (4, 5)).astype("float32")]
    for path in (_saved(tmp_path, model, "3.6.0"), tmp_path / "new.keras"):
        report = converter.verify(str(path), inputs=x)
        assert report.ok and not any("wrote this file" in note for note in report.notes), report.notes
