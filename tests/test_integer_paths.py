"""Integers through layers and operations the module builder does not follow value by value (an Add, a ReLU, an
UpSampling, a wrapper, TensorFlow functions in tf.keras op layers), into a layer with weights: Keras computes them
as floats there, and so must the module. It stopped at run time before ("mat1 and mat2 must have the same dtype")."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from layer_harness import keras_module, randomize
from test_integers import assert_module_computes_as_keras, signed_ids


def keras_path(keras, case: str, x):
    """An integer Input `x` through a layer without weights, then a layer with weights (or a mean)."""
    layers = keras.layers
    head = layers.Dense(3, name="head")
    if case == "relu_dense":
        return head(layers.Activation("relu", name="relu")(x))
    if case == "add_dense":
        return head(layers.Add(name="add")([x, x]))
    if case == "multiply_dense":
        return head(layers.Multiply(name="multiply")([x, x]))
    if case == "maximum_dense":
        return head(layers.Maximum(name="maximum")([x, layers.Activation("linear", name="same")(x)]))
    if case == "masking_dense":
        return head(layers.Masking(0, name="masking")(x))
    if case == "upsampling_dense":
        return head(layers.UpSampling1D(2, name="upsampling")(x))
    if case == "time_distributed_dense":
        return layers.TimeDistributed(layers.Dense(3), name="steps")(x)
    if case == "bidirectional_lstm":  # tf.keras's LSTM refuses an integer input
        return layers.Bidirectional(layers.LSTM(2), name="both")(x)
    if case == "dropout_average":  # a Dropout keeps integers: the mean after it is Keras's mean of integers
        return layers.GlobalAveragePooling1D(name="average")(layers.Dropout(0.5, name="dropout")(x))
    if case == "upsampling_max_dense":
        return head(layers.GlobalMaxPooling1D(name="pool")(layers.UpSampling1D(2, name="upsampling")(x)))
    raise ValueError(case)


LAYER_CASES = [(writer, case) for writer in ("keras3", "keras2") for case in (
    "relu_dense", "add_dense", "multiply_dense", "maximum_dense", "masking_dense", "upsampling_dense",
    "time_distributed_dense", "dropout_average", "upsampling_max_dense")] + [("keras3", "bidirectional_lstm")]


@pytest.mark.parametrize("writer,case", LAYER_CASES)
def test_integers_through_layers_without_weights_are_computed_as_keras_does(tmp_path, writer, case):
    keras = keras_module(writer)
    inputs = keras.Input((6, 4), dtype="int32", name="ids")
    model = keras.Model(inputs, keras_path(keras, case, inputs))
    randomize(model, 3)
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    assert_module_computes_as_keras(model, path, signed_ids((3, 6, 4), "int32", seed=9))


def tensorflow_path(tf, case: str, x):
    """An integer tensor through TensorFlow functions (tf.keras records each as an op layer)."""
    if case == "add":
        return tf.math.add(x, 1)
    if case == "absolute":
        return tf.abs(x)
    if case == "sum":
        return tf.reduce_sum(x, axis=1)
    if case == "tile":
        return tf.tile(x, [1, 2, 1])
    if case == "gather":
        return tf.gather(x, [0, 2], axis=1)
    if case == "floor_divide":
        return x // 2
    if case == "transpose":
        return tf.transpose(x, (0, 2, 1))
    raise ValueError(case)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("case", ["add", "absolute", "sum", "tile", "gather", "floor_divide", "transpose"])
def test_integers_through_tensorflow_functions_are_computed_as_keras_does(tmp_path, case, dtype):
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((6, 4), dtype=dtype, name="ids")
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, name="head")(tensorflow_path(tf, case, inputs)))
    randomize(model, 3)
    path = str(tmp_path / "int.h5")
    model.save(path)
    assert_module_computes_as_keras(model, path, signed_ids((3, 6, 4), dtype, seed=10))


def test_floats_are_not_given_the_integer_cast(tmp_path):
    """Only what may be integers is checked for them when the module runs: a float Input's path is left as it was,
    and a model with both casts only what comes of the integer one."""
    import keras

    layers = keras.layers
    ids = keras.Input((4,), dtype="int32", name="ids")
    x = keras.Input((4,), name="x")
    outputs = [layers.Dense(2, name="from_x")(layers.Add(name="twice_x")([x, x])),
               layers.Dense(2, name="from_ids")(layers.Add(name="twice_ids")([ids, ids]))]
    model = keras.Model([ids, x], outputs)
    randomize(model, 3)
    path = str(tmp_path / "both.keras")
    model.save(path)
    module = converter.to_torch(path)
    assert module.source.count("integers_as_floats(") == 2  # the helper's definition and its one call
    counts, values = signed_ids((3, 4), "int32", seed=11), np.random.default_rng(11).normal(size=(3, 4))
    values = values.astype("float32")
    with torch.no_grad():
        got = module(torch.from_numpy(counts), torch.from_numpy(values))
    for expected, result in zip(model([counts, values]), got):
        np.testing.assert_allclose(result.numpy(), np.asarray(expected), rtol=0, atol=1e-5)


def mean_path(keras, case: str, x):
    """An integer Input through what the builder does not follow, then a mean: TensorFlow's of integers truncated
    (tf.keras), Keras 3's float32."""
    layers = keras.layers
    if case in ("maximum_mean", "where_mean", "minimum_average"):
        import tensorflow as tf

        if case == "maximum_mean":
            return tf.reduce_mean(tf.maximum(x, 1), axis=1)
        if case == "where_mean":
            return tf.reduce_mean(tf.where(x > 0, x, 0), axis=1)
        return layers.GlobalAveragePooling1D(name="average")(tf.minimum(x, 2))
    if case == "add_average":
        return layers.GlobalAveragePooling1D(name="average")(layers.Add(name="add")([x, x]))
    if case == "upsampling_average":
        return layers.GlobalAveragePooling1D(name="average")(layers.UpSampling1D(2, name="upsampling")(x))
    if case == "relu_mean":
        return keras.ops.mean(layers.Activation("relu", name="relu")(x), axis=1)
    if case == "add_leaky":
        return layers.LeakyReLU(0.3, name="leaky")(layers.Add(name="add")([x, x]))
    raise ValueError(case)


MEAN_CASES = [("keras2", case) for case in ("maximum_mean", "where_mean", "minimum_average", "add_average",
                                            "upsampling_average", "add_leaky")] + [
    ("keras3", case) for case in ("add_average", "upsampling_average", "relu_mean", "add_leaky")]


@pytest.mark.parametrize("writer,case", MEAN_CASES)
def test_a_mean_of_integers_the_builder_does_not_follow_is_the_mean_keras_computes(tmp_path, writer, case):
    """tf.maximum(x, 1), tf.where(c, x, 0) and tf.minimum keep integers in TensorFlow, whose mean of them is
    truncated: the module computed them as floats and gave the mean of floats (0.83 off), or stopped at run time
    on a mean of integers ("mean(): could not infer output dtype")."""
    keras = keras_module(writer)
    inputs = keras.Input((6, 4), dtype="int32", name="ids")
    model = keras.Model(inputs, mean_path(keras, case, inputs))
    path = str(tmp_path / ("int.keras" if writer == "keras3" else "int.h5"))
    model.save(path)
    assert_module_computes_as_keras(model, path, signed_ids((3, 6, 4), "int32", seed=12))


@pytest.mark.parametrize("writer,output_type", [("keras3", None), ("keras2", None), ("keras2", "int32"),
                                                ("keras2", "int64")])
def test_indices_of_an_argmax_have_the_dtype_keras_gives(tmp_path, writer, output_type):
    """Keras 3's argmax gives int32 indices (torch's are int64); tf.argmax int64, or the output_type it is given
    (refused by name before)."""
    keras = keras_module(writer)
    inputs = keras.Input((6, 4), name="x")
    if writer == "keras3":
        indices = keras.ops.argmax(inputs, axis=-1)
    else:
        import tensorflow as tf

        indices = tf.argmax(inputs, axis=-1, **({"output_type": output_type} if output_type else {}))
    model = keras.Model(inputs, [indices, keras.layers.Dense(2, name="head")(keras.layers.Reshape((6, 1))(indices))])
    randomize(model, 3)
    path = str(tmp_path / ("argmax.keras" if writer == "keras3" else "argmax.h5"))
    model.save(path)
    x = np.random.default_rng(13).normal(size=(3, 6, 4)).astype("float32")
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(x))
    for expected, result in zip(model(x), got):
        assert result.numpy().dtype == np.asarray(expected).dtype
        np.testing.assert_allclose(result.numpy(), np.asarray(expected), rtol=0, atol=1e-5)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case", ["float_inner_dense", "float_inner_average", "add_float_inner_dense",
                                  "int_inner_average"])
def test_integers_into_a_nested_model_take_its_input_dtype(tmp_path, writer, case):
    """Keras converts an integer tensor to the dtype of the nested model's Input: floats for a float32 Input (the
    module stopped at its Dense, "mat1 and mat2 must have the same dtype"; a mean inside is of floats), integers
    kept for an integer Input (tf.keras's mean of them truncated)."""
    keras = keras_module(writer)
    layers = keras.layers
    inner_input = keras.Input((6, 4), dtype="int32" if case == "int_inner_average" else "float32", name="inner_x")
    inner_output = (layers.Dense(3, name="head")(inner_input) if case.endswith("dense")
                    else layers.GlobalAveragePooling1D(name="average")(inner_input))
    inner = keras.Model(inner_input, inner_output, name="inner")
    ids = keras.Input((6, 4), dtype="int32", name="ids")
    model = keras.Model(ids, inner(layers.Add(name="add")([ids, ids]) if case.startswith("add") else ids))
    randomize(model, 3)
    path = str(tmp_path / ("nested.keras" if writer == "keras3" else "nested.h5"))
    model.save(path)
    assert_module_computes_as_keras(model, path, signed_ids((3, 6, 4), "int32", seed=17))


def small_integer_path(keras, case: str, x):
    """8- and 16-bit integers whose sum leaves their range: TensorFlow's mean sums them wider (tf.keras), Keras 3's
    sum and product give int32."""
    if case == "average":
        return keras.layers.GlobalAveragePooling1D(name="average")(x)
    if case == "tf_mean":
        import tensorflow as tf

        return tf.reduce_mean(x, axis=1)
    if case == "tf_mean_empty":  # TensorFlow's mean of integers over an empty axis is 0 (the module divided by 0)
        import tensorflow as tf

        return tf.reduce_mean(x[:, 36:], axis=1)
    if case == "tf_sum":  # TensorFlow's sum stays in the dtype: it wraps, and so must the module's
        import tensorflow as tf

        return tf.reduce_sum(x, axis=1)
    if case == "sum":
        return keras.ops.sum(x, axis=1)
    if case == "sum_all":
        return keras.ops.sum(x)
    if case == "prod":
        return keras.ops.prod(x, axis=-1)
    raise ValueError(case)


@pytest.mark.parametrize("writer,case,dtype", [
    ("keras2", "average", "uint8"), ("keras2", "average", "int8"), ("keras2", "tf_mean", "int16"),
    ("keras2", "tf_sum", "uint8"), ("keras2", "tf_mean_empty", "int32"), ("keras3", "sum", "int8"),
    ("keras3", "sum_all", "int16"), ("keras3", "prod", "int8")])
def test_sums_and_means_of_small_integers_wrap_only_where_keras_s_do(tmp_path, writer, case, dtype):
    """A mean of uint8 pixels in tf.keras (GlobalAveragePooling, tf.reduce_mean) wrapped around in the module, which
    summed in uint8: 64 off (TensorFlow sums wider for a mean, and wraps a sum); Keras 3 sums and multiplies int8
    and int16 in int32, the module in their dtype."""
    keras = keras_module(writer)
    inputs = keras.Input((36, 3), dtype=dtype, name="pixels")
    model = keras.Model(inputs, small_integer_path(keras, case, inputs))
    path = str(tmp_path / ("small.keras" if writer == "keras3" else "small.h5"))
    model.save(path)
    low, high = (0 if dtype.startswith("u") else -100), (2000 if dtype == "int16" else 120)  # sums leave the range
    pixels = np.random.default_rng(21).integers(low, high, (2, 36, 3)).astype(dtype)
    assert_module_computes_as_keras(model, path, pixels)


def bins_path(keras, case: str, x):
    """Float values into a layer that gives integers whatever its input (bins, vocabulary indices), then a layer that
    computes them as floats."""
    layers = keras.layers
    if case == "discretization_dense":
        return layers.Dense(2, name="head")(layers.Discretization(bin_boundaries=[2.0, 5.5, 9.0], name="bins")(x))
    if case == "discretization_average":
        bins = layers.Discretization(bin_boundaries=[2.0, 5.5, 9.0], name="bins")(x)
        return layers.GlobalAveragePooling1D(name="average")(layers.Reshape((4, 1), name="steps")(bins))
    if case == "lookup_dense":
        return layers.Dense(2, name="head")(layers.IntegerLookup(vocabulary=[3, 5, 7, 11], name="lookup")(x))
    raise ValueError(case)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case", ["discretization_dense", "discretization_average", "lookup_dense"])
def test_integers_a_layer_makes_of_floats_are_computed_as_keras_does(tmp_path, writer, case):
    """A Discretization or IntegerLookup of float values gives integers: the module did not flag them, and a Dense
    or a mean after it stopped at run time ("mat1 and mat2 must have the same dtype")."""
    keras = keras_module(writer)
    inputs = keras.Input((4,), name="values")
    model = keras.Model(inputs, bins_path(keras, case, inputs))
    randomize(model, 3)
    path = str(tmp_path / ("bins.keras" if writer == "keras3" else "bins.h5"))
    model.save(path)
    values = np.random.default_rng(23).integers(0, 13, (3, 4)).astype("float32")
    assert_module_computes_as_keras(model, path, values)


@pytest.mark.parametrize("version,dtype", [("3.11.3", torch.int64), ("3.12.0", torch.int32)])
def test_a_discretization_gives_the_dtype_its_keras_gives(tmp_path, version, dtype):
    """Keras 3.12 made a Discretization's bins int32 (int64 before, and in tf.keras): probed on every minor version
    from 3.3 to 3.15. The module gave int64 always."""
    from helpers import with_keras_version

    keras = keras_module("keras3")
    inputs = keras.Input((4,), name="values")
    keras.Model(inputs, keras.layers.Discretization(bin_boundaries=[2.0, 5.5], name="bins")(inputs)).save(
        str(tmp_path / "bins.keras"))
    path = with_keras_version(tmp_path / "bins.keras", tmp_path / "versioned.keras", version)
    with torch.no_grad():
        got = converter.to_torch(str(path), input_layout="keras")(torch.tensor([[1.0, 2.0, 5.5, 9.0]]))
    assert got.dtype == dtype
    assert got.tolist() == [[0, 1, 2, 2]]


def test_a_one_hot_encoding_of_an_id_out_of_range_is_zeros_as_in_keras(tmp_path):
    """Keras 3's CategoryEncoding(output_mode="one_hot") of an id outside [0, num_tokens) gives a row of zeros
    (TensorFlow's one_hot; tf.keras stops on it); the module's F.one_hot stopped there ("Class values must be
    smaller than num_classes")."""
    writer = "keras3"
    keras = keras_module(writer)
    ids = keras.Input((1,), dtype="int32")
    model = keras.Model(ids, keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(ids))
    path = str(tmp_path / ("m.keras" if writer == "keras3" else "m.h5"))
    model.save(path)
    x = np.array([[1], [5], [-1], [3]], dtype=np.int32)
    expected = np.asarray(model(x))
    module = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(x)).numpy()
    assert expected[1].sum() == 0 and expected[2].sum() == 0  # Keras's own answer: zeros
    np.testing.assert_array_equal(actual, expected)
