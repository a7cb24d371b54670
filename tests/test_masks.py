"""Keras masks through every kind of layer, against Keras, on padded sequences.

A mask (Embedding(mask_zero=True), Masking) passes through the layers that support masking
and is dropped by the others (a Conv1D, a pooling, a padding, an EinsumDense); merges and
Concatenate combine their inputs' masks, differently in tf.keras (the steps every masked
input keeps) and Keras 3 (those any input keeps); Bidirectional and TimeDistributed pass it
on. Each case feeds an LSTM after the layer: it skips the masked steps, so a mask carried or
dropped wrongly changes its output. Inputs: padding after, before and between the tokens,
and none.
"""
from __future__ import annotations

import numpy as np
import pytest

from build_harness import check

STEPS = 7
IDS = np.array([[0, 0, 0, 5, 6, 7, 8], [5, 6, 7, 8, 0, 0, 0], [3, 0, 4, 0, 5, 0, 6], [1, 2, 3, 4, 5, 6, 7],
                [0, 0, 0, 0, 0, 0, 9], [4, 4, 0, 0, 4, 4, 0]], dtype="int32")
OTHER_IDS = np.array([[1, 2, 3, 4, 0, 0, 0], [0, 0, 5, 6, 7, 8, 9], [3, 3, 0, 0, 5, 5, 6], [0, 0, 0, 0, 0, 0, 7],
                      [1, 0, 0, 0, 0, 0, 9], [4, 4, 4, 4, 4, 4, 4]], dtype="int32")
FLOATS = np.random.default_rng(5).normal(0, 1, (6, STEPS, 4)).astype("float32")

#: the layer under test, given (keras.layers, masked embedding, other masked embedding, unmasked float input)
LAYERS = {
    "Dense": lambda L, e, e2, r: L.Dense(4, name="under_test")(e),
    "LayerNormalization": lambda L, e, e2, r: L.LayerNormalization(name="under_test")(e),
    "SpatialDropout1D": lambda L, e, e2, r: L.SpatialDropout1D(0.2, name="under_test")(e),
    "Conv1D": lambda L, e, e2, r: L.Conv1D(4, 3, padding="same", name="under_test")(e),
    "SeparableConv1D": lambda L, e, e2, r: L.SeparableConv1D(4, 3, padding="same", name="under_test")(e),
    "Conv1DTranspose": lambda L, e, e2, r: L.Conv1DTranspose(4, 3, padding="same", name="under_test")(e),
    "ZeroPadding1D": lambda L, e, e2, r: L.ZeroPadding1D(1, name="under_test")(e),
    "Cropping1D": lambda L, e, e2, r: L.Cropping1D((1, 0), name="under_test")(e),
    "UpSampling1D": lambda L, e, e2, r: L.UpSampling1D(2, name="under_test")(e),
    "MaxPooling1D": lambda L, e, e2, r: L.MaxPooling1D(1, name="under_test")(e),
    "EinsumDense": lambda L, e, e2, r: L.EinsumDense("abc,cd->abd", (None, 4), name="under_test")(e),
    "TimeDistributed": lambda L, e, e2, r: L.TimeDistributed(L.Dense(3, name="inner"), name="under_test")(e),
    "Bidirectional": lambda L, e, e2, r: L.Bidirectional(L.GRU(3, return_sequences=True, name="inner"),
                                                         name="under_test")(e),
    "Attention": lambda L, e, e2, r: L.Attention(name="under_test")([e, e]),
    "MultiHeadAttention": lambda L, e, e2, r: L.MultiHeadAttention(2, 2, name="under_test")(e, e),
    "Concatenate masked and unmasked": lambda L, e, e2, r: L.Concatenate(name="under_test")([r, e]),
    "Concatenate two masks": lambda L, e, e2, r: L.Concatenate(name="under_test")([e, e2]),
    "Concatenate along time": lambda L, e, e2, r: L.Concatenate(axis=1, name="under_test")([e, e2]),
    "Add two masks": lambda L, e, e2, r: L.Add(name="under_test")([e, e2]),
    "Add unmasked first": lambda L, e, e2, r: L.Add(name="under_test")([r, e]),
    "Average two masks": lambda L, e, e2, r: L.Average(name="under_test")([e, e2]),
    # random augmentation, identity at inference: tf.keras keeps the mask, Keras 3.6 on drops it (a new tensor)
    "RandomFlip": lambda L, e, e2, r: L.RandomFlip(name="under_test")(e),
    "RandomContrast": lambda L, e, e2, r: L.RandomContrast(0.3, name="under_test")(e),
    "RandomZoom": lambda L, e, e2, r: L.RandomZoom(0.3, name="under_test")(e),
}
#: Keras 3 only: SpectralNormalization (not supports_masking) returns its wrapped layer's output tensor itself, with
#: the mask that layer's call gave it (a Dense passes its input's on, a Conv1D none): tf_keras cannot build it
KERAS3_LAYERS = {
    "SpectralNormalization(Dense)": lambda L, e, e2, r: L.SpectralNormalization(L.Dense(4), name="under_test")(e),
    "SpectralNormalization(Conv1D)": lambda L, e, e2, r: L.SpectralNormalization(
        L.Conv1D(4, 3, padding="same"), name="under_test")(e),
}
#: merges that fill masked steps in Keras 3 before merging (ones, or the merge so far): their own output is
#: compared too, below, where the LSTM after them would skip those steps
FILLING_MERGES = {
    f"{kind} {which}": (kind, which) for kind in ("Multiply", "Maximum", "Minimum")
    for which in ("two masks", "unmasked first", "masked first", "three inputs")
}


def masked_model(keras, layer):
    L = keras.layers
    a = keras.Input((STEPS,), dtype="int32", name="a")
    b = keras.Input((STEPS,), dtype="int32", name="b")
    r = keras.Input((STEPS, 4), name="r")
    e = L.Embedding(20, 4, mask_zero=True, name="embedding_a")(a)
    e2 = L.Embedding(20, 4, mask_zero=True, name="embedding_b")(b)
    return keras.Model([a, b, r], L.LSTM(3, name="lstm")(layer(L, e, e2, r)))


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_a_mask_through_a_layer_matches_keras(tmp_path, writer, case):
    check(tmp_path, writer, lambda keras: masked_model(keras, LAYERS[case]), [IDS, OTHER_IDS, FLOATS])


@pytest.mark.parametrize("case", sorted(KERAS3_LAYERS))
def test_a_mask_through_a_keras3_layer_matches_keras(tmp_path, case):
    check(tmp_path, "keras3", lambda keras: masked_model(keras, KERAS3_LAYERS[case]), [IDS, OTHER_IDS, FLOATS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_the_classic_padded_text_classifier_matches_keras(tmp_path, writer):
    """Sequential Embedding(mask_zero) -> Bidirectional(LSTM) returning sequences -> Dropout -> Bidirectional(LSTM)
    -> Dense, as text tutorials write it: the second LSTM skips the padded steps only if the first passes the
    mask on (tf.keras files lost it there before)."""
    def build(keras):
        L = keras.layers
        return keras.Sequential([
            keras.Input((STEPS,), dtype="int32"), L.Embedding(20, 6, mask_zero=True, name="embedding"),
            L.Bidirectional(L.LSTM(4, return_sequences=True, name="first"), name="bidirectional_first"),
            L.Dropout(0.3, name="dropout"),
            L.Bidirectional(L.LSTM(3, name="second"), name="bidirectional_second"),
            L.Dense(2, activation="softmax", name="classes")])

    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("wrapper", ["plain", "bidirectional"])
def test_sequences_of_a_layer_given_initial_state_carry_its_input_mask(tmp_path, writer, wrapper):
    """Keras 3 runs a recurrent layer called with `initial_state=` unmasked, yet its sequences carry its input's
    mask (its compute_mask gets the first input's; tf.keras masks both). The attention after it reads that mask
    (a layer with a `mask` argument is handed one Keras 3 records in the config; MultiHeadAttention and the merges
    read what the tensor carries): it was dropped there, so the attention saw the padded steps."""
    def build(keras):
        L = keras.layers
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = L.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
        summary = L.GlobalAveragePooling1D(name="summary")(embedded)
        states = [L.Dense(3, activation="tanh", name=f"state_{index}")(summary) for index in range(4)]
        if wrapper == "plain":
            first = L.LSTM(3, return_sequences=True, name="first")(embedded, initial_state=states[:2])
        else:
            first = L.Bidirectional(L.LSTM(3, return_sequences=True, name="inner"), name="first")(
                embedded, initial_state=states)
        return keras.Model(ids, [L.LSTM(2, name="second")(first),
                                 L.MultiHeadAttention(2, 2, name="attention")(first, first)])

    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_an_attention_query_of_another_dtype_keeps_its_mask_as_keras_does(tmp_path, writer):
    """tf.keras's MultiHeadAttention reads the mask its query tensor carries, and casting a float64 query to the
    layer's float32 makes one that carries none: the padded query steps attend as any other there (Keras 3
    hands the mask on). Found by the random-graph fuzzer (seed 56969)."""
    def build(keras):
        L = keras.layers
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = L.Embedding(20, 4, mask_zero=True, dtype="float64", name="embedding")(ids)
        attended, scores = L.MultiHeadAttention(2, 2, name="attention")(embedded, embedded,
                                                                         return_attention_scores=True)
        return keras.Model(ids, [attended, scores])

    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case", sorted(FILLING_MERGES))
def test_a_merge_that_fills_masked_steps_matches_keras(tmp_path, writer, case):
    """Keras 3's Multiply fills masked steps with ones (and zeroes those every input masks), its Maximum and
    Minimum with the merge of the inputs before (where those are masked, this input's values); tf.keras merges
    as they are. The merge's own output and an LSTM after it, against Keras."""
    kind, which = FILLING_MERGES[case]

    def build(keras):
        L = keras.layers
        a, b = keras.Input((STEPS,), dtype="int32", name="a"), keras.Input((STEPS,), dtype="int32", name="b")
        r = keras.Input((STEPS, 4), name="r")
        e = L.Embedding(20, 4, mask_zero=True, name="embedding_a")(a)
        e2 = L.Embedding(20, 4, mask_zero=True, name="embedding_b")(b)
        inputs = {"two masks": [e, e2], "unmasked first": [r, e], "masked first": [e, r],
                  "three inputs": [e, r, e2]}[which]
        merged = getattr(L, kind)(name="under_test")(inputs)
        return keras.Model([a, b, r], [merged, L.LSTM(3, name="lstm")(merged)])

    check(tmp_path, writer, build, [IDS, OTHER_IDS, FLOATS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_a_softmax_of_a_masked_input_matches_keras(tmp_path, writer):
    """Keras's Softmax puts a large negative number where the mask, broadcast to its input, is False (as many
    steps as features: it runs); Keras 3.10 on zeroes the masked outputs. An explicit mask too (Keras 3), with a
    row masked throughout, and a float one (Keras 3.13 on keep where it is above 0.5)."""
    ids = np.array([[0, 0, 5, 6], [5, 6, 7, 8], [3, 0, 4, 0], [0, 0, 0, 0]], dtype="int32")

    def embedded(keras):
        tokens = keras.Input((4,), dtype="int32", name="ids")
        values = keras.layers.Embedding(20, 4, mask_zero=True, name="embedding")(tokens)
        return keras.Model(tokens, keras.layers.Softmax(name="softmax")(values))

    check(tmp_path, writer, embedded, [ids])
    if writer == "keras3":
        scores = np.random.default_rng(7).normal(0, 1, (5, 6)).astype("float32")
        scores[0] = -np.abs(scores[0])

        def explicit(keras):
            x = keras.Input((6,))
            return keras.Model(x, keras.layers.Softmax()(x, mask=keras.ops.greater(x, 0.0)))

        check(tmp_path, writer, explicit, [scores])

        def explicit_float(keras):
            x = keras.Input((6,))
            return keras.Model(x, keras.layers.Softmax()(x, mask=keras.ops.sigmoid(x * 3.0)))

        check(tmp_path, writer, explicit_float, [scores])


@pytest.mark.parametrize("version, zeroed", [("3.9.2", False), ("3.11.0", True)])
def test_a_masked_softmax_of_an_earlier_keras_3(tmp_path, version, zeroed):
    """Keras 3 up to 3.12 added (1 - mask) * -1e9 to the scores (float32: a row masked throughout comes out
    even), and zeroed the masked outputs from 3.10; the file's keras_version says which (Keras 3.15 writes the
    file, its metadata is given the earlier version)."""
    import torch

    import converter
    from helpers import with_keras_version
    from layer_harness import keras_module

    keras = keras_module("keras3")
    x = keras.Input((6,))
    keras.Model(x, keras.layers.Softmax()(x, mask=keras.ops.greater(x, 0.0))).save(str(tmp_path / "m.keras"))
    with_keras_version(tmp_path / "m.keras", tmp_path / "old.keras", version)
    scores = np.random.default_rng(8).normal(0, 1, (5, 6)).astype("float32")
    scores[0] = -np.abs(scores[0])
    mask = scores > 0
    shifted = scores + (1.0 - mask.astype("float32")) * np.float32(-1e9)
    expected = np.exp(shifted - shifted.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    if zeroed:
        expected *= mask
    module = converter.to_torch(str(tmp_path / "old.keras"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(scores)).numpy(), expected, atol=1e-6)
    assert abs(expected[0].sum() - (0.0 if zeroed else 1.0)) < 1e-6  # the row masked throughout tells them apart


@pytest.mark.parametrize("version, kept", [("3.5.0", True), ("3.6.0", False)])
def test_a_mask_through_an_augmentation_layer_of_an_earlier_keras_3(tmp_path, version, kept):
    """Keras 3.0 to 3.5's augmentation layers return the tensor they are called on at inference, and its mask stays
    on it for the LSTM after them; 3.6 on return a new tensor, without it (tf.keras keeps it: the cases above). The
    module kept the mask for every Keras 3 (0.91 off against 3.15), and dropped it for tf.keras (0.88 off). The
    file's keras_version says which (Keras 3.15 writes the file; its metadata is given the earlier version)."""
    import torch

    import converter
    from helpers import with_keras_version
    from layer_harness import keras_module, randomize

    keras = keras_module("keras3")
    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    embedding, lstm = keras.layers.Embedding(20, 4, mask_zero=True), keras.layers.LSTM(3)
    model = keras.Model(ids, lstm(keras.layers.RandomContrast(0.3)(embedding(ids))))
    randomize(model, seed=11)
    model.save(str(tmp_path / "m.keras"))
    with_keras_version(tmp_path / "m.keras", tmp_path / "old.keras", version)
    if kept:
        expected = np.asarray(keras.Model(ids, lstm(embedding(ids)))(IDS, training=False))
    else:
        expected = np.asarray(model(IDS, training=False))
    module = converter.to_torch(str(tmp_path / "old.keras"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(IDS)).numpy(), expected, atol=1e-5)


def test_verify_pads_the_inputs_that_masks_read():
    """Random ids of a large vocabulary are almost never 0: verify's inputs pad the sequences a mask_zero Embedding
    or a Masking layer reads (after, before, between the steps, or not), so that their masks are exercised."""
    from converter.graph import InputSpec, Layer, ModelGraph
    from converter.verification import random_inputs

    def layer(name, class_name, config, inbound):
        return Layer(name, class_name, config, (name,), inbound=[inbound])

    graph = ModelGraph(layers=[layer("embedding", "Embedding", {"input_dim": 1000, "mask_zero": True}, "ids"),
                               layer("masking", "Masking", {"mask_value": -1.0}, "values"),
                               layer("other", "Embedding", {"input_dim": 1000}, "plain")],
                       inputs=[InputSpec("ids", (None, 12), "int32"), InputSpec("values", (None, 12, 3), "float32"),
                               InputSpec("plain", (None, 12), "int32")], source="model", format="keras-h5",
                       keras_version="2.15.0")
    ids, values, plain = random_inputs(graph, 8)
    padded = ids == 0
    assert padded[0, -1] and padded[1, 0] and padded[2].any() and padded[4, -1] and padded[5, 0]
    assert not padded.all(axis=1).any()  # every sample keeps a token
    steps = (values == -1.0).all(axis=-1)
    assert steps[0, -1] and steps[1, 0] and steps[2].any() and not steps.all(axis=1).any()
    assert (plain == 0).sum() <= 2  # no mask reads it: left as drawn


def test_a_group_query_attention_passes_its_query_mask_on(tmp_path):
    """Keras 3's GroupQueryAttention supports masking: the attention after it reads the query's mask from the tensor
    (an LSTM gets it recorded in the config), and it masks padded keys itself and zeroes padded query rows where
    its dropout is set."""
    def build(keras):
        L = keras.layers
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = L.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
        attended = L.GroupQueryAttention(2, 4, 2, dropout=0.2, name="attention")(embedded, embedded)
        after = L.MultiHeadAttention(2, 2, name="after")(attended, attended)
        return keras.Model(ids, [attended, L.LSTM(3, name="lstm")(attended), after])

    check(tmp_path, "keras3", build, [IDS])


SAME_TENSOR_OPERATIONS = {
    "keras3": {"cast to its own dtype": lambda k, x: k.ops.cast(x, "float32"),
               "convert_to_tensor": lambda k, x: k.ops.convert_to_tensor(x),
               "moveaxis to where it is": lambda k, x: k.ops.moveaxis(x, -1, 2),
               "swapaxes of one axis": lambda k, x: k.ops.swapaxes(x, 1, -2),
               "cast away and back": lambda k, x: k.ops.cast(k.ops.cast(x, "float16"), "float32"),
               "moveaxis twice": lambda k, x: k.ops.moveaxis(k.ops.moveaxis(x, 1, 2), 1, 2)},
    "keras2": {"cast to its own dtype": lambda tf, x: tf.cast(x, tf.float32),
               "cast away and back": lambda tf, x: tf.cast(tf.cast(x, tf.float16), tf.float32)},
}
SAME_TENSOR_CASES = [(writer, name) for writer, cases in SAME_TENSOR_OPERATIONS.items() for name in cases]


@pytest.mark.parametrize("writer, operation", SAME_TENSOR_CASES, ids=[f"{w}-{o}" for w, o in SAME_TENSOR_CASES])
def test_an_operation_returning_its_input_keeps_the_mask(tmp_path, writer, operation):
    """Keras keeps a mask as an attribute of the tensor object, and an operation that returns its input itself (a
    cast to the dtype it has, a move of an axis to where it is) leaves the mask on it: the LSTM after it skips
    the padding (the module ran it unmasked: 0.17 off, found by fuzzer seed 240528). One that makes a new
    tensor drops it, as any operation does."""
    def build(keras):
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = keras.layers.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
        if writer == "keras3":
            value = SAME_TENSOR_OPERATIONS[writer][operation](keras, embedded)
        else:
            import tensorflow as tf

            value = SAME_TENSOR_OPERATIONS[writer][operation](tf, embedded)
        return keras.Model(ids, keras.layers.LSTM(3, name="lstm")(value))

    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_masked_global_average_keeps_dims_and_takes_either_format_as_keras_does(tmp_path, writer, keepdims,
                                                                                   data_format):
    """A masked GlobalAveragePooling1D averages the unmasked steps with keepdims=True too (the module averaged
    every step there: 0.58 off in a probe model), and channels_first averages the last axis, with the mask
    multiplied along it as Keras broadcasts it (it was refused). Embedded as wide as the sequence is long, so
    that Keras's broadcast of the mask over a channels_first tensor runs."""
    def build(keras):
        L = keras.layers
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = L.Embedding(20, STEPS, mask_zero=True, name="embedding")(ids)
        pooled = L.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims, name="pooling")(embedded)
        return keras.Model(ids, L.Dense(3, name="dense")(L.Flatten(name="flatten")(pooled)))

    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("version,refused", [("3.13.2", True), ("3.14.0", False)])
def test_a_masked_reversible_embedding_called_in_reverse_is_built_where_keras_gives_its_logits_no_mask(
        tmp_path, version, refused):
    """Keras 3.12 and 3.13 give ReversibleEmbedding(mask_zero=True) Embedding's compute_mask for both calls, so the
    reverse call's logits carry the mask `hidden != 0`: refused by name there; from 3.14 its call sets the ids' mask
    and the logits carry none (built)."""
    import keras

    import converter
    from converter.errors import UnsupportedLayerError
    from helpers import with_keras_version

    tokens = keras.Input((6,), dtype="int32")
    embedding = keras.layers.ReversibleEmbedding(7, 4, mask_zero=True)
    logits = embedding(keras.layers.Dense(4)(embedding(tokens)), reverse=True)
    path = tmp_path / "m.keras"
    keras.Model(tokens, logits).save(str(path))
    relabelled = with_keras_version(path, tmp_path / "old.keras", version)
    if refused:
        with pytest.raises(UnsupportedLayerError, match="mask_zero ReversibleEmbedding called with reverse=True"):
            converter.to_torch(str(relabelled))
    else:
        converter.to_torch(str(relabelled))
