"""Attention layers' second output (return_attention_scores) and their rows that see nothing, against Keras.

With return_attention_scores=True, Attention and AdditiveAttention also return the softmax of their
scores (batch, T, S), MultiHeadAttention that softmax per head (batch, heads, T, S). A query step
whose every key is masked (a padded query, or padding before the tokens under a causal mask) has
a fully masked row: tf.keras and Keras 3's dot_product_attention leave it uniform, while Keras
3's own softmax (3.10 on; used when the scores are returned or dropout is configured) zeroes it,
so that the step's output is the output projection's bias. Each model returns the attention
layer's outputs directly: a layer after it that skips masked steps would hide those rows.
"""
from __future__ import annotations

import numpy as np
import pytest

from build_harness import check

STEPS = 6
#: padding after, before and between the tokens, none, and all but one step
IDS = np.array([[3, 4, 5, 0, 0, 0], [0, 0, 3, 4, 5, 6], [3, 0, 4, 0, 5, 0], [1, 2, 3, 4, 5, 6],
                [0, 0, 0, 0, 0, 7]], dtype="int32")
FLOATS = np.random.default_rng(7).normal(0, 1, (5, STEPS, 4)).astype("float32")
OTHER = np.random.default_rng(8).normal(0, 1, (5, STEPS, 4)).astype("float32")


def scores_model(keras, layer: str):
    """Float query and value (as many steps: Keras 3 gives a cross attention's scores the query's length twice
    when it builds the graph); the layer's output and its scores."""
    L = keras.layers
    query, value = keras.Input((STEPS, 4), name="query"), keras.Input((STEPS, 4), name="value")
    if layer == "MultiHeadAttention packed":  # widths agree: one nn.MultiheadAttention
        outputs = L.MultiHeadAttention(2, 2, name="under_test")(query, value, return_attention_scores=True)
    elif layer == "MultiHeadAttention projections":
        outputs = L.MultiHeadAttention(2, 3, value_dim=5, name="under_test")(query, value,
                                                                             return_attention_scores=True)
    elif layer == "MultiHeadAttention causal":
        outputs = L.MultiHeadAttention(2, 3, name="under_test")(query, query, use_causal_mask=True,
                                                                return_attention_scores=True)
    elif layer == "Attention":
        outputs = L.Attention(use_scale=True, name="under_test")([query, value], return_attention_scores=True)
    else:
        outputs = L.AdditiveAttention(name="under_test")([query, value], return_attention_scores=True)
    attended, scores = outputs
    # the scores feed another layer too: the second output is a value of the graph like any other
    summary = L.Dense(2, name="after")(L.Flatten(name="flat")(scores))
    return keras.Model([query, value], [attended, scores, summary])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("layer", ["MultiHeadAttention packed", "MultiHeadAttention projections",
                                   "MultiHeadAttention causal", "Attention", "AdditiveAttention"])
def test_returned_attention_scores_match_keras(tmp_path, writer, layer):
    check(tmp_path, writer, lambda keras: scores_model(keras, layer), [FLOATS, OTHER])


def padded_model(keras, heads: int, key_dim: int, scores: bool, **options):
    """Embedding(mask_zero) -> MultiHeadAttention, its output (and scores) returned as they are."""
    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(ids)
    layer = keras.layers.MultiHeadAttention(heads, key_dim, name="under_test", **options)
    if not scores:
        return keras.Model(ids, layer(embedded, embedded))
    attended, weights = layer(embedded, embedded, return_attention_scores=True)
    return keras.Model(ids, [attended, weights])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("key_dim", [2, 3], ids=["packed", "projections"])
@pytest.mark.parametrize("variant", ["plain", "dropout", "scores", "causal scores"])
def test_fully_masked_attention_rows_match_keras(tmp_path, writer, key_dim, variant):
    """Keras 3 zeroes a fully masked row where it computes the softmax itself (dropout configured, scores
    returned); the plain layer, and tf.keras always, leave it uniform. Padded query steps have such rows."""
    options = {"dropout": 0.1} if variant == "dropout" else {}
    if variant == "causal scores":
        def build(keras):
            ids = keras.Input((STEPS,), dtype="int32", name="ids")
            embedded = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding")(ids)
            attended, weights = keras.layers.MultiHeadAttention(2, key_dim, name="under_test")(
                embedded, embedded, use_causal_mask=True, return_attention_scores=True)
            return keras.Model(ids, [attended, weights])
    else:
        def build(keras):
            return padded_model(keras, 2, key_dim, variant.endswith("scores"), **options)
    check(tmp_path, writer, build, [IDS])


@pytest.mark.parametrize("use_gate", [False, True])
def test_a_group_query_attention_in_a_keras3_h5_file_matches_keras(tmp_path, use_gate):
    """Keras 3's legacy .h5 writer records GroupQueryAttention by its Python class (GroupedQueryAttention) and names
    its weights `kernel` and `bias` alone, in the order it creates them: query, key, the gate's, value, output.
    Found by the random-graph fuzzer (seeds 62066 and 62296: refused, 'no rule')."""
    from build_harness import absolute_difference, keras_outputs, torch_outputs
    from layer_harness import LAYER_ATOL, keras_module, randomize

    keras = keras_module("keras3")
    query = keras.Input((STEPS, 4), name="query")
    layer = keras.layers.GroupQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=2, use_gate=use_gate,
                                             name="attention")
    model = keras.Model(query, layer(query, query, use_causal_mask=True))
    randomize(model, seed=5)
    path = str(tmp_path / "model.h5")
    model.save(path)
    expected = keras_outputs(keras.saving.load_model(path, compile=False), [FLOATS])
    assert absolute_difference(expected, torch_outputs(path, [FLOATS], "keras")) <= LAYER_ATOL


FLOAT16_CASES = [(writer, layer) for writer in ("keras3", "keras2")
                 for layer in ("packed", "projections", "projections scores", "group query", "Attention",
                               "AdditiveAttention")
                 if (writer, layer) != ("keras2", "group query")]  # tf.keras has no GroupQueryAttention


@pytest.mark.parametrize("writer, layer", FLOAT16_CASES, ids=[f"{w}-{lay}" for w, lay in FLOAT16_CASES])
def test_padded_float16_attention_matches_keras(tmp_path, writer, layer):
    """In float16, -1e9 is -inf: a padded query step (a row masked throughout) came out NaN where Keras gives a
    uniform or zeroed row (2.6 off at the outputs of a padded sample). Keras masks float16 scores with -0.7 *
    65500 (Keras 3.7+'s dot_product_attention, which computes them in float32), -3e4 (Keras 3's softmax) or
    float16's lowest (tf.keras); Attention and AdditiveAttention subtract float16's largest."""
    from layer_harness import keras_module, randomize

    keras = keras_module(writer)
    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(10, 8, mask_zero=True, name="embedding")(ids)
    if layer == "group query":
        attention = keras.layers.GroupQueryAttention(2, 4, 2, dtype="mixed_float16", name="under_test")
    elif layer.endswith("Attention"):  # Luong and Bahdanau: Keras subtracts float16's largest where masked
        model = keras.Model(ids, getattr(keras.layers, layer)(dtype="mixed_float16", name="under_test")(
            [embedded, embedded], use_causal_mask=True))  # padding before the tokens: rows masked throughout
        attention = None
    else:
        attention = keras.layers.MultiHeadAttention(2, 4 if layer == "packed" else 3, dtype="mixed_float16",
                                                    name="under_test")
    if attention is not None:
        model = keras.Model(ids, attention(embedded, embedded, return_attention_scores=layer.endswith("scores")))
    randomize(model, seed=3)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    assert_float16_matches(model, path)


def assert_float16_matches(model, path: str) -> None:
    """The module, in both input layouts, computes the model's outputs on IDS within float16's tolerance."""
    import converter
    from build_harness import keras_outputs, module_outputs
    from converter.precision import TOLERANCES

    expected = keras_outputs(model, [IDS])
    atol, rtol = TOLERANCES["float16"]
    for layout in ("keras", "torch"):
        actual = module_outputs(converter.to_torch(path, input_layout=layout), [IDS], layout)
        for e, a in zip(expected, actual):
            e, a = np.asarray(e, np.float64), np.asarray(a, np.float64)
            assert np.isfinite(a).all() and np.max(np.abs(e - a)) <= atol + rtol * np.max(np.abs(e)), layout


def test_a_keras_3_9_file_leaves_fully_masked_score_rows_uniform(tmp_path):
    """Keras 3 zeroes the rows of the returned scores that are masked throughout from 3.10 on (its Softmax);
    a file of Keras 3.9 leaves them uniform, and the module follows the version in the file."""
    import torch

    import converter
    from helpers import with_keras_version
    from layer_harness import keras_module, randomize

    keras = keras_module("keras3")
    model = padded_model(keras, 2, 3, True)
    randomize(model, seed=4)
    model.save(str(tmp_path / "m.keras"))
    with_keras_version(tmp_path / "m.keras", tmp_path / "old.keras", "3.9.2")
    with torch.no_grad():
        _, current = converter.to_torch(str(tmp_path / "m.keras"), input_layout="keras")(torch.from_numpy(IDS))
        _, old = converter.to_torch(str(tmp_path / "old.keras"), input_layout="keras")(torch.from_numpy(IDS))
    padded = IDS == 0  # (batch, T): the query steps whose rows are masked throughout
    np.testing.assert_allclose(current.numpy().transpose(0, 2, 1, 3)[padded], 0.0)
    np.testing.assert_allclose(old.numpy().transpose(0, 2, 1, 3)[padded], 1.0 / STEPS, atol=1e-6)
    kept = ~padded
    np.testing.assert_allclose(old.numpy().transpose(0, 2, 1, 3)[kept], current.numpy().transpose(0, 2, 1, 3)[kept])


@pytest.mark.parametrize("key_dim", [2, 3], ids=["packed", "projections"])
@pytest.mark.parametrize("causal", [False, True], ids=["padding", "causal"])
def test_fully_masked_rows_of_float64_attention_match_keras(tmp_path, key_dim, causal):
    """Keras 3.7+'s dot_product_attention masks with -0.7 x float32's largest, which leaves a fully masked row
    uniform in float64 too; -1e9 added to float64 scores does not swamp them, and such a row came out a softmax
    of its scores (3.3e-3 off; fuzzer seed 270490)."""
    def build(keras):
        ids = keras.Input((STEPS,), dtype="int32", name="ids")
        embedded = keras.layers.Embedding(10, 4, mask_zero=True, name="embedding", dtype="float64")(ids)
        attention = keras.layers.MultiHeadAttention(2, key_dim, name="under_test", dtype="float64")
        return keras.Model(ids, attention(embedded, embedded, use_causal_mask=causal))

    check(tmp_path, "keras3", build, [IDS])


def softmax_after_scores(keras, layer: str, causal: bool):
    """Softmax layers over the scores a padded attention returns: the scores carry the attention mask their own
    softmax was called with (MultiHeadAttention from Keras 3.11, GroupQueryAttention from 3.15, tf.keras's), and
    a masked Softmax after them reads it."""
    L = keras.layers
    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    embedded = L.Embedding(10, 4, mask_zero=True, name="embedding")(ids)
    if layer == "GroupQueryAttention":
        attention = L.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1, name="under_test")
    else:
        attention = L.MultiHeadAttention(2, 2 if layer.endswith("packed") else 3, name="under_test")
    _, scores = attention(embedded, embedded, use_causal_mask=causal, return_attention_scores=True)
    return keras.Model(ids, [L.Softmax(axis=-1, name="over_keys")(scores),
                             L.Softmax(axis=2, name="over_queries")(scores)])


@pytest.mark.parametrize("writer, layer", [("keras3", "MultiHeadAttention packed"),
                                           ("keras3", "MultiHeadAttention projections"),
                                           ("keras3", "GroupQueryAttention"), ("keras2", "MultiHeadAttention packed"),
                                           ("keras2", "MultiHeadAttention projections")])
@pytest.mark.parametrize("causal", [False, True], ids=["padded", "causal"])
def test_a_softmax_after_returned_scores_reads_their_mask(tmp_path, writer, layer, causal):
    check(tmp_path, writer, lambda keras: softmax_after_scores(keras, layer, causal), [IDS])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("width", [4, 3])  # 4: all widths agree, nn.MultiheadAttention; 3: four nn.Linear
def test_an_integer_attention_mask_of_other_values_than_0_and_1(tmp_path, writer, width):
    """An attention_mask from an integer Input holding 2s and 3s. tf.keras's MultiHeadAttention hands a mask no
    other mask joins to its Softmax as it is, which adds (1 - mask) * -1e9 to the scores; the module read it as
    booleans, as Keras 3 does (1.28 off; verify's random integers found it). Keras 3 reads it as booleans."""
    import torch

    import converter
    from layer_harness import keras_module, randomize

    keras = keras_module(writer)
    data = keras.Input((4, width), name="x")
    mask = keras.Input((4, 4), dtype="int32", name="m")
    attention = keras.layers.MultiHeadAttention(2, 2, name="mha")(data, data, attention_mask=mask)
    model = keras.Model([data, mask], attention)
    randomize(model, 2)
    path = str(tmp_path / ("mask.keras" if writer == "keras3" else "mask.h5"))
    model.save(path)
    x = np.random.default_rng(0).normal(size=(3, 4, width)).astype("float32")
    m = np.random.default_rng(1).integers(0, 4, (3, 4, 4)).astype("int32")
    m[:, :, 0] = 1
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(x), torch.from_numpy(m)).numpy()
    np.testing.assert_allclose(got, np.asarray(model([x, m])), rtol=0, atol=1e-5)


@pytest.mark.parametrize("layer", ["packed", "projections"])
def test_float16_rows_masked_whole_weigh_their_keys_equally_however_large_the_scores(tmp_path, layer):
    """Keras 3.7+'s dot_product_attention weighs the keys of a row masked whole equally (it masks in float32); the
    module's float16 scores plus -0.7 * 65500 stayed uneven where they differ by more than float16's spacing there
    (32): 0.29 off on the padded queries of a mixed_float16 model with large query and key kernels (found through
    KerasHub's TransformerDecoder, 1.5 off)."""
    import keras

    from layer_harness import randomize

    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(10, 8, mask_zero=True, name="embedding")(ids)
    attention = keras.layers.MultiHeadAttention(1 if layer == "packed" else 2, 8 if layer == "packed" else 3,
                                                dtype="mixed_float16", name="under_test")
    model = keras.Model(ids, attention(embedded, embedded, use_causal_mask=True))
    randomize(model, seed=2)
    for weight in attention._query_dense.weights + attention._key_dense.weights:
        weight.assign(weight.numpy() * 10)  # scores in the tens: float16's spacing at -45850 is 32
    path = str(tmp_path / "model.keras")
    model.save(path)
    assert_float16_matches(model, path)
