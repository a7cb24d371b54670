"""Keras masks into, through and out of nested models (one masked input of two, two outputs, a model called twice,
siamese, float64, attention), and a nested model called with and without a mask, against Keras (the inputs of
tests/test_masks.py).
"""
from __future__ import annotations

import pytest

from build_harness import check
from test_masks import IDS, OTHER_IDS, STEPS


def _masked_ids(L, ids, name="embedding"):
    return L.Embedding(20, 4, mask_zero=True, name=name)(ids)


def _nested_into(keras, L, ids, other):
    inner_input = keras.Input((STEPS, 4), name="inner_input")
    inner = keras.Model(inner_input, L.LSTM(3, name="lstm")(inner_input), name="inner")
    return [inner(_masked_ids(L, ids))]


def _nested_out_of(keras, L, ids, other):
    inner_ids = keras.Input((STEPS,), dtype="int32", name="inner_ids")
    inner = keras.Model(inner_ids, _masked_ids(L, inner_ids), name="inner")
    return [L.LSTM(3, name="lstm")(inner(ids))]


def _nested_through(keras, L, ids, other):
    inner = keras.Sequential([keras.Input((STEPS, 4)), L.Dense(5, name="dense"),
                              L.GRU(3, return_sequences=True, name="gru")], name="inner")
    return [L.LSTM(2, name="lstm")(inner(_masked_ids(L, ids)))]


def _nested_two_inputs(keras, L, ids, other):
    p, q = keras.Input((STEPS, 4), name="p"), keras.Input((STEPS, 4), name="q")
    inner = keras.Model([p, q], L.LSTM(3, name="lstm")(L.Add(name="add")([p, q])), name="inner")
    return [inner([_masked_ids(L, ids), _masked_ids(L, other, "embedding_other")])]


def _nested_one_masked_of_two(keras, L, ids, other):
    p, q = keras.Input((STEPS, 4), name="p"), keras.Input((STEPS, 4), name="q")
    inner = keras.Model([p, q], L.GRU(3, name="gru")(L.Concatenate(name="concatenate")([p, q])), name="inner")
    unmasked = L.Embedding(20, 4, name="embedding_other")(other)
    return [inner([_masked_ids(L, ids), unmasked])]


def _nested_two_outputs(keras, L, ids, other):
    p = keras.Input((STEPS, 4), name="p")
    sequences, state, _ = L.LSTM(3, return_sequences=True, return_state=True, name="lstm")(p)
    inner = keras.Model(p, [sequences, state], name="inner")
    sequences, state = inner(_masked_ids(L, ids))
    return [L.GRU(2, name="gru")(sequences), state]


def _nested_siamese(keras, L, ids, other):
    """A shared encoder returning masked sequences, called on two inputs."""
    inner_ids = keras.Input((STEPS,), dtype="int32", name="inner_ids")
    inner = keras.Model(inner_ids, L.LSTM(3, return_sequences=True, name="lstm")(_masked_ids(L, inner_ids)),
                        name="encoder")
    return [L.LSTM(2, name="after")(L.Add(name="add")([inner(ids), inner(other)]))]


def _nested_twice(keras, L, ids, other):
    """A model inside a model inside the model, the mask through both."""
    p = keras.Input((STEPS, 4), name="p")
    innermost = keras.Model(p, L.Dense(5, name="dense")(p), name="innermost")
    q = keras.Input((STEPS, 4), name="q")
    middle = keras.Model(q, L.SimpleRNN(3, return_sequences=True, name="rnn")(innermost(q)), name="middle")
    return [L.GRU(2, name="gru")(middle(_masked_ids(L, ids)))]


def _nested_float64(keras, L, ids, other):
    """tf.keras casts the input to the nested model's float64 Input, and the cast tensor carries no mask."""
    p = keras.Input((STEPS, 4), dtype="float64", name="p")
    inner = keras.Model(p, L.LSTM(3, dtype="float64", name="lstm")(p), name="inner")
    return [inner(_masked_ids(L, ids))]


def _nested_attention(keras, L, ids, other):
    p = keras.Input((STEPS, 4), name="p")
    inner = keras.Model(p, L.MultiHeadAttention(2, 3, name="attention")(p, p), name="inner")
    return [L.GlobalAveragePooling1D(name="pooling")(inner(_masked_ids(L, ids)))]


NESTED = {"into": _nested_into, "out of": _nested_out_of, "through": _nested_through,
          "two masked inputs": _nested_two_inputs, "one masked input of two": _nested_one_masked_of_two,
          "two outputs, one masked": _nested_two_outputs, "shared, called twice": _nested_siamese,
          "nested twice": _nested_twice, "cast to float64": _nested_float64, "into an attention": _nested_attention}


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case", sorted(NESTED))
def test_a_mask_into_through_and_out_of_a_nested_model_matches_keras(tmp_path, writer, case):
    """Keras hands a nested model's layers the masks of its inputs (Keras 3 records the mask it passes, tf.keras
    drops one where the model casts its input to another dtype) and the layers after it the masks its layers
    computed for its outputs: a nested class takes and returns them after its tensors (refused before)."""
    def build(keras):
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        other = keras.Input((STEPS,), dtype="int32", name="other")
        return keras.Model([ids, other], NESTED[case](keras, keras.layers, ids, other))

    check(tmp_path, writer, build, [IDS, OTHER_IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("masked_first", [True, False])
@pytest.mark.parametrize("depth", ["nested", "nested twice"])
def test_a_nested_model_called_with_and_without_a_mask_matches_keras(tmp_path, writer, masked_first, depth):
    """A shared model called on a masked sequence and on an unmasked one: its layers skip the padding in the one
    call and not in the other. Its class takes masks for the inputs masked at its first call; the other call
    runs a class of its own on the same modules (it was refused; found by the fuzzer, seeds 310194, 330148).
    Nested twice, the model inside it is called masked or not by each."""
    def build(keras):
        L = keras.layers
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        inner_input = keras.Input((STEPS, 4), name="inner_input")
        if depth == "nested":
            inner = keras.Model(inner_input, L.LSTM(3, name="lstm")(inner_input), name="inner")
        else:
            p = keras.Input((STEPS, 4), name="p")
            innermost = keras.Model(p, L.GRU(4, return_sequences=True, name="gru")(p), name="innermost")
            inner = keras.Model(inner_input, L.LSTM(3, name="lstm")(innermost(inner_input)), name="inner")
        calls = [_masked_ids(L, ids), L.Embedding(20, 4, name="unmasked")(ids)]
        return keras.Model(ids, [inner(tensor) for tensor in (calls if masked_first else calls[::-1])])

    check(tmp_path, writer, build, [IDS])
