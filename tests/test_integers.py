"""Integer tensors and integer dtype policies: Inputs of ids or counts that layers with weights and operations
compute on as Keras does (as floats where Keras promotes them), and layers computing in an integer policy, refused
by name."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from layer_harness import keras_module, randomize


def test_a_layer_with_weights_computing_in_integers_is_refused_by_name(tmp_path):
    """A Dense of dtype int32: Keras casts its inputs and weights to int32. Found by mutating saved configs (a
    Dense's policy set to int32, which Keras loads: built as a float32 Dense it was 0.97 off); its weights still
    convert."""
    import keras

    inputs = keras.Input((4,))
    counts = keras.layers.Dense(3, dtype="int32", kernel_initializer="ones", name="counts")  # (glorot has no int32)
    outputs = counts(keras.layers.Dense(4)(inputs) * 4.0)
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "int.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="counts.*dtype policy is int32"):
        converter.to_torch(path)
    assert "counts.kernel" in converter.state_dict(path, layout="keras")


@pytest.mark.parametrize("layer", ["Concatenate", "Flatten"])
def test_a_layer_without_weights_computing_in_integers_is_refused_by_name(tmp_path, layer):
    """A Concatenate or Flatten of dtype int32 on floating inputs: Keras 3 casts them to int32 (truncates). Built as
    float32 layers they were 0.99 off. Found by mutating saved configs (a Concatenate's policy set to int32)."""
    import keras

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inputs) * 4.0
    integer = keras.layers.Concatenate(dtype="int32", name="counts")([hidden, hidden]) if layer == "Concatenate" \
        else keras.layers.Flatten(dtype="int32", name="counts")(hidden)
    model = keras.Model(inputs, integer)
    assert "int32" in str(model.outputs[0].dtype)  # the layer computes in int32, not float32
    path = str(tmp_path / "int.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="counts .its dtype policy is int32.*weights convert"):
        converter.to_torch(path)
    assert "hidden.kernel" in converter.state_dict(path, layout="keras")


def integer_input_model(keras, case: str):
    """A model of an integer Input (int32 or int64) read by a layer with weights, directly or through a layer
    that only moves its elements; named layers (Keras numbers default names per process)."""
    layers = keras.layers
    dtype = "int64" if case.endswith("64") else "int32"
    sequence = case.startswith(("lstm", "gru", "rnn", "attention"))
    inputs = keras.Input((4, 3) if sequence else (6,), dtype=dtype, name="ids")
    x = inputs
    if case.startswith("dense"):
        x = layers.Dense(3, name="head")(x)
    elif case.startswith("concat_dense"):
        x = layers.Dense(3, name="head")(layers.Concatenate(name="both")([x, x]))
    elif case.startswith("reshape_batch_norm"):
        x = layers.BatchNormalization(name="head")(layers.Reshape((3, 2), name="moved")(x))
    elif case.startswith("lstm"):
        x = layers.LSTM(3, name="head")(x)
    elif case.startswith("gru"):
        x = layers.GRU(3, return_sequences=True, name="head")(x)
    elif case.startswith("rnn"):
        x = layers.SimpleRNN(3, name="head")(x)
    elif case.startswith("attention"):
        x = layers.MultiHeadAttention(2, 2, name="head")(x, x)
    elif case.startswith("einsum"):
        x = layers.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", name="head")(x)
    elif case.startswith("layer_norm"):  # tf.keras's casts its input to floats (Keras 3's is refused)
        x = layers.LayerNormalization(name="head")(x)
    elif case.startswith("normalization"):  # adapted: its mean and variance are weights
        normalization = layers.Normalization(name="head")
        normalization.adapt(np.random.default_rng(5).normal(3.0, 2.0, (16, 6)).astype("float32"))
        x = normalization(x)
    return keras.Model(inputs, x)


# Keras 3 on all; tf.keras's recurrent, attention and EinsumDense layers cannot run on integers (Keras refuses)
INTEGER_CASES = [("keras3", case) for case in ("dense", "dense64", "concat_dense", "reshape_batch_norm64", "lstm",
                                               "gru64", "rnn", "attention", "einsum64", "normalization")] + [
    ("keras2", case) for case in ("dense", "dense64", "concat_dense64", "reshape_batch_norm", "normalization64",
                                  "layer_norm", "layer_norm64")]


@pytest.mark.parametrize("writer,case", INTEGER_CASES)
def test_an_integer_input_of_a_layer_with_weights_is_computed_as_floats(tmp_path, writer, case):
    """Keras computes a Dense (BatchNormalization, LSTM, ...) on an integer input in floats: Keras 3 promotes the
    integers with its float weights, tf.keras casts them to its compute dtype. The module passed the integers to
    nn.Linear, which stopped with "mat1 and mat2 must have the same dtype". Also through a Concatenate or
    Reshape of the integers."""
    keras = keras_module(writer)
    model = integer_input_model(keras, case)
    randomize(model, 3)
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    shape = (2,) + tuple(model.inputs[0].shape[1:])
    ids = np.random.default_rng(4).integers(0, 9, shape).astype("int64" if case.endswith("64") else "int32")
    expected = np.asarray(model(ids))
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(ids)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_an_integer_attention_mask_stays_a_mask(tmp_path):
    """An integer Input given to a MultiHeadAttention as its attention_mask is a mask, read as booleans: it is not
    cast to floats as the integer data a layer with weights computes on are."""
    import keras

    data = keras.Input((4, 3), name="x")
    mask = keras.Input((4, 4), dtype="int32", name="m")
    model = keras.Model([data, mask], keras.layers.MultiHeadAttention(2, 2, name="mha")(data, data,
                                                                                        attention_mask=mask))
    randomize(model, 2)
    path = str(tmp_path / "mask.keras")
    model.save(path)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    m = np.random.default_rng(1).integers(0, 2, (2, 4, 4)).astype("int32")
    m[:, :, 0] = 1
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(x), torch.from_numpy(m)).numpy()
    np.testing.assert_allclose(got, np.asarray(model([x, m])), rtol=0, atol=1e-5)
    converter.export(path, tmp_path / "mask.py")
    assert "x_m.to(torch.float32)" not in (tmp_path / "mask.py").read_text()


def test_a_keras3_layer_normalization_of_an_integer_input_is_refused_by_name(tmp_path):
    """Keras 3's LayerNormalization gives an integer input back truncated to its integer dtype: a float LayerNorm
    was 0.93 off (tf.keras's computes floats: tested with the others above)."""
    writer = "keras3"
    keras = keras_module(writer)
    inputs = keras.Input((6,), dtype="int32", name="ids")
    model = keras.Model(inputs, keras.layers.LayerNormalization(name="norm")(inputs))
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    refusal = "layer norm .LayerNormalization.: it takes an integer tensor.*truncates"
    with pytest.raises(converter.UnsupportedLayerError, match=refusal):
        converter.to_torch(path)


def assert_module_computes_as_keras(model, path: str, inputs: np.ndarray) -> None:
    """The module built from `path` gives what `model` gives on `inputs` (in Keras's layout): the same dtype, and
    values within 1e-5 of the largest."""
    expected = np.asarray(model(inputs))
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(inputs)).numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def integer_layer_model(keras, case: str, dtype: str):
    """An integer Input (ids of either sign) through a layer without weights that Keras computes on integers, and
    for the max poolings, a Dense after them (their output is still integers, which the Dense computes as floats)."""
    layers = keras.layers
    inputs = keras.Input((6, 4), dtype=dtype, name="ids")
    if case == "average":
        x = layers.GlobalAveragePooling1D(name="average")(inputs)
    elif case == "average_first":
        x = layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=True, name="average")(inputs)
    elif case == "max_same":
        x = layers.Dense(3, name="head")(layers.MaxPooling1D(4, padding="same", name="pool")(inputs))
    elif case == "max_global":
        x = layers.Dense(3, name="head")(layers.GlobalMaxPooling1D(name="pool")(inputs))
    elif case == "leaky":
        x = layers.LeakyReLU(0.25, name="leaky")(inputs)
    elif case == "average_dense":  # tf.keras's mean of integers is integers, which the Dense computes as floats
        x = layers.Dense(3, name="head")(layers.GlobalAveragePooling1D(name="average")(inputs))
    elif case == "additive_attention":
        x = layers.AdditiveAttention(name="attention")([inputs, inputs])
    return keras.Model(inputs, x)


def signed_ids(shape: tuple, dtype: str, seed: int = 4) -> np.ndarray:
    """Integers of either sign: a mean of them is often not whole, so truncating it towards zero (TensorFlow)
    and flooring it differ."""
    return np.random.default_rng(seed).integers(-9, 10, shape).astype(dtype)


LAYER_CASES = [(writer, case, dtype) for writer in ("keras3", "keras2") for case in (
    "average", "average_first", "average_dense", "max_same", "max_global", "leaky") for dtype in ("int32", "int64")] + [
    ("keras3", "additive_attention", "int32")]  # tf.keras's refuses an integer input


@pytest.mark.parametrize("writer,case,dtype", LAYER_CASES)
def test_a_layer_without_weights_on_integers_computes_what_keras_does(tmp_path, writer, case, dtype):
    """Keras 3's GlobalAveragePooling is a float32 mean of integers, tf.keras's an integer mean truncated towards
    zero; a max pooling gives integers; a LeakyReLU float32. The module stopped at run time on each ("mean():
    could not infer output dtype", "max_pool1d_impl not implemented for 'Int'")."""
    keras = keras_module(writer)
    model = integer_layer_model(keras, case, dtype)
    randomize(model, 3)
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    ids = signed_ids((3, 6, 4), dtype)
    assert_module_computes_as_keras(model, path, ids)


def keras3_operation(ops, name: str, x):
    if name in ("hypot", "logaddexp", "logaddexp2"):
        return getattr(ops, name)(x, ops.flip(x, axis=1))
    if name in ("mean", "var", "std", "norm"):
        return getattr(ops, name)(x, axis=1)
    if name == "average":
        return ops.average(x, axis=-1)
    return getattr(ops, name)(x)


OPERATIONS = ["mean", "var", "std", "average", "norm", "hypot", "logaddexp", "logaddexp2", "leaky_relu", "floor",
              "ceil"]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("name", OPERATIONS)
def test_a_keras3_operation_on_integers_computes_floats(tmp_path, name, dtype):
    """Keras 3 computes these operations on integers as floats (result_type(x, float)). The module stopped at run
    time on most (torch computes a mean, a norm, a hypot of floats only) and kept integers for floor and ceil."""
    import keras

    inputs = keras.Input((6, 4), dtype=dtype, name="ids")
    model = keras.Model(inputs, keras3_operation(keras.ops, name, inputs))
    path = str(tmp_path / "int.keras")
    model.save(path)
    ids = signed_ids((3, 6, 4), dtype, seed=5)
    expected = np.asarray(model(ids))
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(ids)).numpy()
    assert got.dtype == np.float32  # Keras's too, but for hypot of int64 (float64; float32 holds it to 6e-8)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("name", ["reduce_mean", "reduce_mean_dense", "leaky_relu"])
def test_a_tensorflow_operation_on_integers_computes_what_tensorflow_does(tmp_path, name):
    """tf.keras records tf.reduce_mean and tf.nn.leaky_relu as op layers: TensorFlow's mean of integers is an
    integer, truncated towards zero; its leaky_relu casts them to float32. The module stopped at run time."""
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((6, 4), dtype="int32", name="ids")
    outputs = tf.reduce_mean(inputs, axis=1) if name != "leaky_relu" else tf.nn.leaky_relu(inputs, alpha=0.3)
    if name == "reduce_mean_dense":  # the integer mean read by a Dense, which computes it as floats
        outputs = tf_keras.layers.Dense(3, name="head")(outputs)
    model = tf_keras.Model(inputs, outputs)
    path = str(tmp_path / "int.h5")
    model.save(path)
    ids = signed_ids((3, 6, 4), "int32", seed=6)
    assert_module_computes_as_keras(model, path, ids)


MADE_IN_GRAPH = [(writer, case) for writer in ("keras3", "keras2") for case in (
    "cast_dense", "cast_bool_dense", "cast_average", "cast_mean", "argmax_dense")]


@pytest.mark.parametrize("writer,case", MADE_IN_GRAPH)
def test_integers_made_in_the_graph_are_computed_as_keras_does(tmp_path, writer, case):
    """An integer (or boolean) tensor a cast or an argmax makes, read by a Dense, a GlobalAveragePooling or a
    mean: Keras computes them as it does an integer Input's (floats; TensorFlow's mean of integers truncated).
    The module stopped at run time ("mat1 and mat2 must have the same dtype")."""
    keras = keras_module(writer)
    if writer == "keras3":
        cast, argmax, mean = keras.ops.cast, lambda x: keras.ops.argmax(x, axis=-1), keras.ops.mean
    else:
        import tensorflow as tf

        cast, argmax, mean = tf.cast, lambda x: tf.argmax(x, axis=-1), tf.reduce_mean
    layers = keras.layers
    inputs = keras.Input((3, 4), name="x")
    counts = cast(inputs * 4.0, "bool" if case == "cast_bool_dense" else "int32")
    if case in ("cast_dense", "cast_bool_dense"):
        outputs = layers.Dense(3, name="head")(counts)
    elif case == "cast_average":
        outputs = layers.GlobalAveragePooling1D(name="average")(counts)
    elif case == "cast_mean":
        outputs = mean(counts, axis=1)
    else:
        outputs = layers.Dense(2, name="head")(layers.Reshape((3, 1), name="steps")(argmax(inputs)))
    model = keras.Model(inputs, outputs)
    randomize(model, 3)
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    x = np.random.default_rng(7).normal(0, 1, (3, 3, 4)).astype("float32")
    assert_module_computes_as_keras(model, path, x)


def keras3_integer_path(keras, case: str, x):
    """Integers through Keras 3 operations that keep them integers (or make booleans), then a layer or an
    operation that computes them as floats; and two that make floats of them (`+ 0.5`, a where with 0.5)."""
    layers, ops = keras.layers, keras.ops
    if case == "add_average":
        return layers.GlobalAveragePooling1D(name="average")(ops.add(x, 1))
    if case == "multiply_dense":
        return layers.Dense(3, name="head")(x * 2)
    if case == "greater_mean":
        return ops.mean(ops.greater(x, 3), axis=1)
    if case == "reshape_mean":
        return ops.mean(ops.reshape(x, (-1, 24)), axis=1)
    if case == "slice_average":
        return layers.GlobalAveragePooling1D(name="average")(x[:, 1:])
    if case == "absolute_lstm":
        return layers.LSTM(2, name="lstm")(ops.abs(x - 4))
    if case == "stack_std":
        return ops.std(ops.stack([x, -x], axis=1), axis=1)
    if case == "plus_half_average":
        return layers.GlobalAveragePooling1D(name="average")(x + 0.5)
    return layers.GlobalAveragePooling1D(name="average")(ops.where(x > 2, x, 0.5))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("case", ["add_average", "multiply_dense", "greater_mean", "reshape_mean", "slice_average",
                                  "absolute_lstm", "stack_std", "plus_half_average", "where_average"])
def test_integers_through_keras3_operations_are_computed_as_keras_does(tmp_path, case, dtype):
    """Keras 3 keeps integers through +, *, a reshape, a slice (and makes booleans of a comparison): a Dense, a
    mean or a GlobalAveragePooling after them computes floats of them. The module stopped at run time ("mean():
    could not infer output dtype"); `+ 0.5` makes floats, which stay as they were."""
    import keras

    inputs = keras.Input((6, 4), dtype=dtype, name="ids")
    model = keras.Model(inputs, keras3_integer_path(keras, case, inputs))
    randomize(model, 3)
    path = str(tmp_path / "int.keras")
    model.save(path)
    ids = signed_ids((3, 6, 4), dtype, seed=8)
    assert_module_computes_as_keras(model, path, ids)
