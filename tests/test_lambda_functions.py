"""The functions of the Lambda expression language, each against the live Keras model running the real function
(tf.keras 2.21 and Keras 3.15), in both input layouts and with verify; random expressions of the language.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

import converter
from converter.errors import UnsupportedLayerError
from helpers import keras3, tensorflow
from lambda_models import (
    IMAGE, SEQUENCE, assert_built_and_verified, assert_module_matches, function_of, pixels, random_expression, saved,
)



@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.compat.v1.image.resize_images(x, (9, 4))"),  # TensorFlow 1's mapping: 2017's Udacity models
    ("keras2", "tf.compat.v1.image.resize_images(x, (9, 4), align_corners=True)"),
    ("keras2", "tf.image.resize(x[:, 1:, :, :], (3, 8))"),
    ("keras3", "ops.image.resize(x, (9, 4)) / 255.0"),
])
def test_lambdas_resize_images(tmp_path, flavor, text):
    def build(keras: Any) -> Any:
        image = keras.Input(IMAGE)
        resized = keras.layers.Lambda(function_of(flavor, text), name="resize")(image)
        return keras.Model(image, keras.layers.Conv2D(2, 3)(resized))

    path, model = saved(tmp_path, flavor, build)
    assert_built_and_verified(path, model, {"resize": text}, [pixels()])


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.nn.depth_to_space(x, 2)"),  # the sub-pixel upsampling of super-resolution models
    ("keras2", "tf.nn.space_to_depth(x, 2)"),
    ("keras2", "tf.pad(x, [[0, 0], [2, 1], [1, 1], [0, 0]], 'REFLECT')"),  # style transfer's reflection padding
    ("keras2", "tf.pad(x, [[0, 0], [1, 1], [0, 2], [0, 0]], mode='SYMMETRIC')"),
    ("keras2", "tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 3]], constant_values=0.5)"),
    ("keras2", "K.resize_images(x, 2, 3, 'channels_last')"),
    ("keras2", "K.resize_images(x, 2, 1, data_format='channels_first')"),
    ("keras3", "tf.nn.depth_to_space(x, 2) * 2.0"),
    ("keras3", "tf.nn.space_to_depth(x, 2)"),
    ("keras3", "ops.pad(x, ((0, 0), (2, 1), (1, 1), (0, 0)), mode='reflect')"),
    ("keras3", "ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 3]], constant_values=-1.0)"),
])
def test_lambdas_move_pixels(tmp_path, flavor, text):
    """Images rearranged by a Lambda between convolutions: each as the function it names computed it in Keras."""
    def build(keras: Any) -> Any:
        image = keras.Input((6, 4, 3))
        features = keras.layers.Conv2D(8, 1)(image)
        moved = keras.layers.Lambda(function_of(flavor, text), name="move")(features)
        return keras.Model(image, [moved, keras.layers.Conv2D(2, 1)(moved)])

    path, model = saved(tmp_path, flavor, build)
    inputs = np.random.default_rng(4).normal(size=(3, 6, 4, 3)).astype("float32")
    assert_built_and_verified(path, model, {"move": text}, [inputs])


@pytest.mark.parametrize("flavor, text, given", [
    ("keras2", "K.softmax(tf.matmul(x[0], x[1], transpose_b=True) / 2.0)", None),  # attention written as Lambdas
    ("keras2", "tf.matmul(x[0], x[1], transpose_a=True)", None),
    ("keras3", "ops.matmul(x[0], ops.transpose(x[1], (0, 2, 1)))", None),
    ("keras3", "tf.matmul(x[1], x[0], transpose_a=True, transpose_b=False) - 1.0", None),
    ("keras2", "K.batch_dot(x[0], x[1], axes=[2, 2])", None),  # tf.keras's K.batch_dot, every rank it takes here
    ("keras2", "K.batch_dot(x[0], x[1], axes=(1, 1))", None),
    ("keras2", "K.batch_dot(x[0], K.permute_dimensions(x[1], (0, 2, 1)))", None),
    ("keras2", "K.batch_dot(K.mean(x[0], axis=1), K.mean(x[1], axis=1), axes=1)", None),
    ("keras2", "K.batch_dot(K.mean(x[0], axis=1), x[1], axes=[1, 2])", None),
    ("keras2", "K.batch_dot(x[0], K.mean(x[1], axis=2), axes=[-2, 1])", None),
    ("keras2", "K.batch_dot(K.expand_dims(x[0], 1), x[1], axes=(3, 2))", None),
    ("keras2", "K.batch_dot(K.expand_dims(x[0], 2), K.expand_dims(x[1], 1), axes=[1, 2])", None),
    # Keras 3 has no batch_dot: the same product written as the user's Keras 3 function computed it
    ("keras3", "ops.matmul(x[0], ops.transpose(x[1], (0, 2, 1)))", "K.batch_dot(x[0], x[1], axes=[2, 2])"),
])
def test_lambdas_multiply_matrices(tmp_path, flavor, text, given):
    def build(keras: Any) -> Any:
        sequence = keras.Input(SEQUENCE)
        queries, keys = keras.layers.Dense(3)(sequence), keras.layers.Dense(3)(sequence)
        scores = keras.layers.Lambda(function_of(flavor, text), name="scores")([queries, keys])
        return keras.Model(sequence, [scores, keras.layers.Dense(2)(scores)])

    path, model = saved(tmp_path, flavor, build)
    given = given or text
    inputs = np.random.default_rng(5).normal(size=(3, *SEQUENCE)).astype("float32")
    assert_built_and_verified(path, model, {"scores": given}, [inputs])


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "K.softplus(x) - K.softsign(x) + tf.math.log1p(K.abs(x)) * tf.math.expm1(x * 0.1)"),
    ("keras2", "K.round(x * 2.0) + tf.floor(x) - tf.math.ceil(x * 3.0)"),
    ("keras2", "K.std(x, axis=1, keepdims=True) + K.var(x, axis=-1, keepdims=True)"),
    ("keras2", "K.prod(x, axis=1) - tf.reduce_logsumexp(x, axis=1)"),
    ("keras2", "tf.reduce_logsumexp(x, axis=[1, 2], keepdims=True) + tf.math.reduce_std(x) * 0.0 + x"),
    ("keras2", "K.batch_flatten(x[:, 1:, :])"),
    ("keras2", "K.reverse(x, axes=1) - K.reverse(x, 2) + tf.reverse(x, axis=[1, 2]) * 2.0"),
    ("keras3", "ops.flip(x, axis=1) + ops.flip(x, axis=(1, 2)) * 2.0"),
    ("keras3", "ops.softplus(x) * ops.round(x) + ops.softsign(ops.expm1(x))"),
    ("keras3", "ops.std(x, axis=1) - ops.logsumexp(x, axis=1) + ops.var(x, axis=1)"),
    ("keras3", "ops.prod(x, axis=-1, keepdims=True) * ops.log1p(ops.abs(x))"),
])
def test_lambdas_of_more_functions(tmp_path, flavor, text):
    """Activations, roundings and reductions K. and keras.ops give, each against the live Keras model."""
    def build(keras: Any) -> Any:
        x = keras.Input(SEQUENCE)
        y = keras.layers.Lambda(function_of(flavor, text), name="more")(x)
        if "batch_flatten" in text:  # tf.keras gives it no static size: no Dense after it
            return keras.Model(x, y)
        return keras.Model(x, [y, keras.layers.Dense(2)(keras.layers.Flatten()(y))])

    path, model = saved(tmp_path, flavor, build)
    inputs = np.random.default_rng(8).normal(0, 1.5, (4, *SEQUENCE)).astype("float32")
    assert_built_and_verified(path, model, {"more": text}, [inputs])


@pytest.mark.parametrize("flavor, text, ids", [
    ("keras2", "K.cast(K.not_equal(x, 0), 'float32')", True),  # a mask of the ids that are not padding
    ("keras2", "K.cast(x > 3, K.floatx()) * 2.0 - 1.0", True),
    ("keras2", "tf.where(x > 0.0, x, 0.1 * x)", False),
    ("keras2", "K.switch(K.greater_equal(x, 0.5), K.square(x), -x)", False),
    ("keras2", "K.cast(K.equal(K.argmax(x, axis=-1), 2), 'float32')", False),
    ("keras3", "ops.cast(ops.not_equal(x, 0), 'float32')", True),
    ("keras3", "ops.where(x > 0.0, x, 0.1 * x) + ops.cast(0.5 < x, 'float32')", False),
    ("keras3", "ops.cast(x <= 2, 'float32') + ops.cast(ops.less(2, x), 'float32') * 3.0", True),
    ("keras2", "K.one_hot(x, 7)", True),  # ids out of range (negative, 7 and more) give rows of zeros
    ("keras2", "K.cast(x, 'float32') / 4.0 - 1.0", True),
    ("keras2", "tf.one_hot(tf.cast(x, tf.int64), depth=7)", True),
    ("keras2", "K.one_hot(K.argmax(x, axis=-1), 5)", False),
    ("keras2", "K.cast(K.argmin(x, axis=1), K.floatx()) * 0.5", False),
    ("keras3", "ops.one_hot(x, 7)", True),
    ("keras3", "ops.cast(ops.argmax(x, axis=1), 'float32') * 0.5 + x[:, 0, :]", False),
    ("keras3", "ops.one_hot(ops.argmin(x, axis=-1), 5)", False),
])
def test_lambdas_of_ids(tmp_path, flavor, text, ids):
    """Ids one-hot encoded, indices of the largest entries, casts: the functions of integer tensors."""
    def build(keras: Any) -> Any:
        x = keras.Input((5,), dtype="int32") if ids else keras.Input(SEQUENCE)
        y = keras.layers.Lambda(function_of(flavor, text), name="ids")(x)
        return keras.Model(x, [y, keras.layers.Dense(2)(y)])

    path, model = saved(tmp_path, flavor, build)
    rng = np.random.default_rng(6)
    inputs = rng.integers(-2, 9, (4, 5)).astype("int32") if ids else rng.normal(size=(4, *SEQUENCE)).astype("float32")
    assert_built_and_verified(path, model, {"ids": text}, [inputs])


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.compat.v1.image.resize_images(x, (4, 3))"),  # each video frame resized, as C3D models did
    ("keras2", "K.mean(x, axis=[1, 2], keepdims=True) * 2.0"),
    ("keras3", "ops.image.resize(x, (4, 3))"),
    ("keras3", "lambda frame: frame[:, 1:, ::-1, :] - 0.5"),
])
def test_time_distributed_lambdas(tmp_path, flavor, text):
    """TimeDistributed(Lambda): the expression, given by the Lambda's own name or its wrapper's, on every frame."""
    def build(keras: Any) -> Any:
        video = keras.Input((3, 6, 5, 2))
        frames = keras.layers.TimeDistributed(keras.layers.Lambda(function_of(flavor, text), name="per_frame"),
                                              name="frames")(video)
        return keras.Model(video, [frames, keras.layers.TimeDistributed(keras.layers.Conv2D(2, 1))(frames)])

    path, model = saved(tmp_path, flavor, build)
    listed = converter.inspect(path).to_text()
    assert "Lambda layers: frames" in listed and "their functions are code" in listed
    with pytest.raises(UnsupportedLayerError, match="--lambda frames="):
        converter.to_torch(path)
    inputs = np.random.default_rng(7).normal(size=(2, 3, 6, 5, 2)).astype("float32")
    for name in ("per_frame", "frames"):
        assert_built_and_verified(path, model, {name: text}, [inputs])


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_random_expressions_build_what_keras_computes(tmp_path, flavor):
    """Random expressions of the language, each a Lambda between the input and a layer with weights, against the
    live Keras model running them as Python functions with Keras's own backend functions."""
    rng = random.Random(20261205)
    for index in range(12):
        image = index % 2 == 0
        text = random_expression(rng, flavor, image)

        def build(keras: Any) -> Any:
            x = keras.Input(IMAGE if image else SEQUENCE)
            y = keras.layers.Lambda(function_of(flavor, text), name="expression")(x)
            return keras.Model(x, [y, keras.layers.Dense(2)(keras.layers.Flatten()(y))])

        path, model = saved(tmp_path, flavor, build, name=f"random_{index}")
        inputs = np.random.default_rng(index).normal(0, 1.5, (3, *(IMAGE if image else SEQUENCE))).astype("float32")
        assert_module_matches(path, model, {"expression": text}, [inputs])


def test_a_rank_4_batch_dot_of_keras_before_2_3_is_refused(tmp_path):
    """Keras before 2.3 padded and squeezed products of rank-4 tensors otherwise: refused where the file says it."""
    import h5py

    path, _ = saved(tmp_path, "keras2", lambda keras: keras.Sequential(
        [keras.Input(SEQUENCE), keras.layers.Lambda(function_of("keras2", "x * 1.0"), name="lam")]))
    text = "K.batch_dot(K.expand_dims(x, 1), x, axes=(3, 2))"
    assert converter.to_torch(path, lambdas={"lam": text}) is not None
    with h5py.File(path, "r+") as handle:
        handle.attrs["keras_version"] = "2.2.4"
    with pytest.raises(UnsupportedLayerError, match="rank 4 as Keras before 2.3"):
        converter.to_torch(path, lambdas={"lam": text})


def test_each_function_is_computed_by_each_side():
    """Every function of the language has its PyTorch code, and its tf.keras and Keras 3 computations (verify's
    Keras side)."""
    from converter.keras_lambdas import keras_ops_functions, tensorflow_functions
    from converter.kinds.lambda_layer import FUNCTIONS as TORCH
    from converter.lambda_functions import FUNCTIONS

    names = set(FUNCTIONS) - {"epsilon", "floatx"}  # constants, given by the walk itself
    assert set(TORCH) == names
    assert set(tensorflow_functions(tensorflow())) == names
    assert set(keras_ops_functions(keras3().ops)) == names
