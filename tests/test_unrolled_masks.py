"""Unrolled recurrent layers (unroll=True) given a mask, where they zero the outputs of masked steps
(zero_output_for_mask, which a Bidirectional returning sequences sets on both its layers).

Keras's unrolled loop does not zero step by step as its loop over time does. On TensorFlow (tf.keras too) it
zeroes the sequence afterwards by the mask in the input's order, though a backwards pass made the sequence in
reverse; on JAX it zeroes nothing. Padding at one end of a row shows the difference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import converter
from build_harness import check
from helpers import FIXTURES

#: masked at the end, at the start, in the middle, nowhere
IDS = np.array([[1, 2, 3, 0], [0, 2, 3, 4], [1, 0, 0, 4], [1, 2, 3, 4]], dtype="int32")
KINDS = ("LSTM", "GRU", "SimpleRNN")


def masked(layer):
    def build(keras):
        ids = keras.Input((4,), dtype="int32")
        return keras.Model(ids, layer(keras)(keras.layers.Embedding(7, 3, mask_zero=True)(ids)))
    return build


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("kind, merge_mode", itertools.product(KINDS, ["concat", "ave"]))
def test_an_unrolled_bidirectional_returning_sequences_matches_keras(tmp_path, writer, kind, merge_mode):
    check(tmp_path, writer, masked(lambda keras: keras.layers.Bidirectional(
        getattr(keras.layers, kind)(3, unroll=True, return_sequences=True), merge_mode=merge_mode)), [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("kind, unrolled", itertools.product(KINDS, ["forward", "backward"]))
def test_a_bidirectional_unrolling_one_direction_matches_keras(tmp_path, writer, kind, unrolled):
    """A backward_layer of its own may unroll where the forward layer does not, or the other way round: each
    direction zeroes its masked outputs as its own loop does."""
    def layer(keras):
        def recurrent(unroll, go_backwards=False):
            return getattr(keras.layers, kind)(3, unroll=unroll, go_backwards=go_backwards, return_sequences=True)
        return keras.layers.Bidirectional(recurrent(unrolled == "forward"),
                                          backward_layer=recurrent(unrolled == "backward", go_backwards=True))
    check(tmp_path, writer, masked(layer), [IDS])


@pytest.mark.parametrize("kind, go_backwards, return_sequences",
                         itertools.product(KINDS, [False, True], [False, True]))
def test_an_unrolled_layer_zeroing_masked_outputs_matches_keras(tmp_path, kind, go_backwards, return_sequences):
    """Keras 3's zero_output_for_mask on a layer of its own (tf.keras has no such option)."""
    check(tmp_path, "keras3", masked(lambda keras: getattr(keras.layers, kind)(
        3, unroll=True, go_backwards=go_backwards, return_sequences=return_sequences, zero_output_for_mask=True)),
        [IDS])


def test_unrolled_layers_on_jax_compute_as_that_keras_did():
    """Keras 3.15 on JAX wrote fixtures/keras3.15-jax/unrolled_masks.keras and its outputs (make_keras3_versions.py):
    built for JAX the module gives them; built as TensorFlow computes (a .keras does not record its backend), it
    differs in every output, with a warning that names keras_backend."""
    io = np.load(FIXTURES / "keras3.15-jax" / "io.npz")
    path = str(FIXTURES / "keras3.15-jax" / "unrolled_masks.keras")
    ids = torch.from_numpy(io["unrolled_masks_in0"])
    expected = [io[f"unrolled_masks_out{index}"] for index in range(3)]
    with torch.no_grad():
        on_jax = converter.to_torch(path, keras_backend="jax")(ids)
        with pytest.warns(converter.ConversionWarning, match="unroll=True.*keras_backend"):
            assumed = converter.to_torch(path)(ids)
    for got, want in zip(on_jax, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert all(not np.allclose(got.numpy(), want, atol=1e-3) for got, want in zip(assumed, expected))


def test_masked_steps_before_the_first_real_one_on_jax_output_the_initial_state():
    """Keras 3's loop over time on JAX outputs the state a masked step keeps; TensorFlow's and torch's the previous
    output, zeros before the first step not masked. Keras 3.15 on JAX wrote fixtures/keras3.15-jax/masked_states.keras
    (a mask given as `mask=` with initial states): built for JAX the module gives its outputs, built as TensorFlow
    computes the rows that start with padding differ."""
    io = np.load(FIXTURES / "keras3.15-jax" / "io.npz")
    path = str(FIXTURES / "keras3.15-jax" / "masked_states.keras")
    inputs = [torch.from_numpy(io[f"masked_states_in{index}"]) for index in range(2)]
    expected = [io[f"masked_states_out{index}"] for index in range(2)]
    with torch.no_grad():
        on_jax = converter.to_torch(path, keras_backend="jax")(*inputs)
        assumed = converter.to_torch(path)(*inputs)
    for got, want in zip(on_jax, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert not np.allclose(assumed[0].numpy(), expected[0], atol=1e-3)
