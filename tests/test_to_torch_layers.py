"""Each weightless layer kind and each padding case, built by to_torch, against Keras (both layouts)."""
from __future__ import annotations

import numpy as np
import pytest

from build_harness import absolute_difference, keras_outputs, torch_outputs
from layer_harness import LAYER_ATOL, keras_module, randomize

# (id, input shape, layer factory taking the keras module)
SINGLE = [
    ("relu", (5, 4), lambda k: k.layers.ReLU()),
    ("relu6", (5, 4), lambda k: k.layers.ReLU(max_value=6.0)),
    ("relu_all_options", (5, 4), lambda k: k.layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)),
    ("leaky_relu", (5, 4), lambda k: k.layers.LeakyReLU()),
    ("elu", (5, 4), lambda k: k.layers.ELU(alpha=0.7)),
    ("softmax", (5, 4), lambda k: k.layers.Softmax()),
    ("softmax_axis1", (5, 4), lambda k: k.layers.Softmax(axis=1)),
    ("softmax_image", (4, 4, 3), lambda k: k.layers.Softmax()),
    ("dropout", (5, 4), lambda k: k.layers.Dropout(0.5)),
    ("spatial_dropout", (4, 4, 3), lambda k: k.layers.SpatialDropout2D(0.5)),
    ("gaussian_noise", (5, 4), lambda k: k.layers.GaussianNoise(1.0)),
    ("gaussian_dropout", (5, 4), lambda k: k.layers.GaussianDropout(0.5)),
    ("flatten_image", (4, 4, 3), lambda k: k.layers.Flatten()),
    ("reshape", (4, 6), lambda k: k.layers.Reshape((3, 8))),
    ("reshape_to_image", (12,), lambda k: k.layers.Reshape((2, 2, 3))),
    ("permute", (4, 6), lambda k: k.layers.Permute((2, 1))),
    ("permute_image", (2, 3, 4), lambda k: k.layers.Permute((3, 1, 2))),
    ("repeat_vector", (4,), lambda k: k.layers.RepeatVector(3)),
    ("max_pool1d", (9, 3), lambda k: k.layers.MaxPooling1D(2)),
    ("max_pool1d_same", (9, 3), lambda k: k.layers.MaxPooling1D(3, strides=2, padding="same")),
    ("avg_pool1d_same", (9, 3), lambda k: k.layers.AveragePooling1D(2, padding="same")),
    ("max_pool2d", (7, 7, 3), lambda k: k.layers.MaxPooling2D()),
    ("max_pool2d_same", (7, 6, 3), lambda k: k.layers.MaxPooling2D(3, strides=2, padding="same")),
    ("avg_pool2d_valid", (7, 7, 3), lambda k: k.layers.AveragePooling2D(3, strides=2)),
    ("avg_pool2d_same", (7, 6, 3), lambda k: k.layers.AveragePooling2D(3, strides=2, padding="same")),
    ("avg_pool2d_same_s1", (5, 5, 3), lambda k: k.layers.AveragePooling2D(2, strides=1, padding="same")),
    ("max_pool3d_same", (5, 5, 5, 2), lambda k: k.layers.MaxPooling3D(2, padding="same")),
    ("avg_pool3d", (4, 4, 4, 2), lambda k: k.layers.AveragePooling3D(2)),
    ("global_avg1d", (6, 3), lambda k: k.layers.GlobalAveragePooling1D()),
    ("global_max1d", (6, 3), lambda k: k.layers.GlobalMaxPooling1D()),
    ("global_avg2d", (5, 5, 3), lambda k: k.layers.GlobalAveragePooling2D()),
    ("global_max2d_keepdims", (5, 5, 3), lambda k: k.layers.GlobalMaxPooling2D(keepdims=True)),
    ("global_avg3d", (3, 3, 3, 2), lambda k: k.layers.GlobalAveragePooling3D()),
    ("zero_padding1d", (5, 3), lambda k: k.layers.ZeroPadding1D((1, 2))),
    ("zero_padding2d", (4, 4, 3), lambda k: k.layers.ZeroPadding2D(((1, 2), (0, 3)))),
    ("zero_padding3d", (3, 3, 3, 2), lambda k: k.layers.ZeroPadding3D(1)),
    ("cropping1d", (8, 3), lambda k: k.layers.Cropping1D((1, 2))),
    ("cropping2d", (6, 6, 3), lambda k: k.layers.Cropping2D(((1, 2), (2, 0)))),
    ("cropping3d", (5, 5, 5, 2), lambda k: k.layers.Cropping3D(1)),
    ("upsampling1d", (4, 3), lambda k: k.layers.UpSampling1D(2)),
    ("upsampling2d", (3, 4, 3), lambda k: k.layers.UpSampling2D((2, 3))),
    ("upsampling2d_bilinear", (3, 4, 3), lambda k: k.layers.UpSampling2D(2, interpolation="bilinear")),
    ("upsampling3d", (2, 2, 2, 2), lambda k: k.layers.UpSampling3D(2)),
    ("conv2d_same_stride2_odd", (7, 7, 3), lambda k: k.layers.Conv2D(4, 3, strides=2, padding="same")),
    ("conv2d_same_stride2_even", (8, 8, 3), lambda k: k.layers.Conv2D(4, 4, strides=2, padding="same")),
    ("conv2d_same_stride3", (8, 7, 3), lambda k: k.layers.Conv2D(4, (3, 5), strides=3, padding="same")),
    ("conv2d_same_dilated", (8, 8, 3), lambda k: k.layers.Conv2D(4, 3, dilation_rate=2, padding="same")),
    ("conv1d_same_stride2", (9, 3), lambda k: k.layers.Conv1D(4, 4, strides=2, padding="same")),
    ("conv1d_causal", (9, 3), lambda k: k.layers.Conv1D(4, 3, dilation_rate=2, padding="causal")),
    ("conv3d_same_stride2", (5, 5, 5, 2), lambda k: k.layers.Conv3D(3, 3, strides=2, padding="same")),
    ("depthwise_same_stride2", (7, 7, 3), lambda k: k.layers.DepthwiseConv2D(3, strides=2, padding="same")),
    ("separable_same_stride2", (7, 7, 3), lambda k: k.layers.SeparableConv2D(4, 3, strides=2, padding="same")),
    ("conv2d_transpose_same", (4, 5, 3), lambda k: k.layers.Conv2DTranspose(4, 3, strides=2, padding="same")),
    ("conv2d_transpose_valid", (4, 5, 3), lambda k: k.layers.Conv2DTranspose(4, 2, strides=3)),
    ("rescaling", (5, 4), lambda k: k.layers.Rescaling(0.5, offset=-1.0)),
    ("activation_layer", (5, 4), lambda k: k.layers.Activation("softsign")),
    ("batch_norm_image", (4, 4, 3), lambda k: k.layers.BatchNormalization()),
    ("layer_norm_image", (4, 4, 3), lambda k: k.layers.LayerNormalization()),
    ("prelu_image", (4, 4, 3), lambda k: k.layers.PReLU(shared_axes=[1, 2])),
    ("dense_on_image", (3, 3, 4), lambda k: k.layers.Dense(5)),
    ("time_distributed_dense", (4, 3), lambda k: k.layers.TimeDistributed(k.layers.Dense(2))),
]

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "swish",
               "gelu", "exponential", "hard_sigmoid", "relu6", "log_softmax", "leaky_relu", "silu", "mish"]
KERAS3_ONLY = {"relu6", "log_softmax", "leaky_relu", "mish", "softmax_image", "global_max2d_keepdims",
               "conv1d_same_stride2", "relu_all_options"}


def check(tmp_path, writer: str, build, inputs: list[np.ndarray]) -> None:
    keras = keras_module(writer)
    model = build(keras)
    randomize(model, seed=11)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    expected = keras_outputs(model, inputs)
    for layout in ("torch", "keras"):
        assert absolute_difference(expected, torch_outputs(path, inputs, layout)) <= LAYER_ATOL, layout


def sequential(shape, factory):
    return lambda keras: keras.Sequential([keras.Input(shape), factory(keras)])


def random(shape, seed=3):
    return np.random.default_rng(seed).normal(0, 1, (3,) + tuple(shape)).astype("float32")


def writers(names: list[str]) -> list[tuple[str, str]]:
    """(writer, name) pairs: every case with Keras 3, and with tf.keras 2 where it has the layer."""
    return [(writer, name) for name in names for writer in ("keras3", "keras2")
            if writer == "keras3" or name not in KERAS3_ONLY]


@pytest.mark.parametrize("writer, name", writers([case[0] for case in SINGLE]))
def test_layer_matches_keras(tmp_path, writer, name):
    shape, factory = next((shape, factory) for case_name, shape, factory in SINGLE if case_name == name)
    check(tmp_path, writer, sequential(shape, factory), [random(shape)])


@pytest.mark.parametrize("writer, activation", writers(ACTIVATIONS))
def test_activation_matches_keras(tmp_path, writer, activation):
    """Each activation with the semantics of the Keras that wrote the file (hard_sigmoid differs)."""
    scale = 1 if activation == "exponential" else 3  # exp of large values outgrows an absolute tolerance
    check(tmp_path, writer, sequential((6,), lambda k: k.layers.Dense(5, activation=activation)),
          [scale * random((6,))])


def merge_model(keras, kind):
    a, b = keras.Input((4, 4, 3), name="a"), keras.Input((4, 4, 3), name="b")
    conv = keras.layers.Conv2D(3, 1, name="conv")(b)
    if kind == "Concatenate":
        merged = keras.layers.Concatenate()([a, conv])
    elif kind == "Concatenate_axis1":
        merged = keras.layers.Concatenate(axis=1)([a, conv])
    else:
        merged = getattr(keras.layers, kind)()([a, conv])
    pooled = keras.layers.GlobalAveragePooling2D()(merged)
    return keras.Model([a, b], [merged, keras.layers.Dense(2, name="head")(pooled)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("kind", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                                  "Concatenate_axis1"])
def test_merge_with_two_inputs_and_outputs_matches_keras(tmp_path, writer, kind):
    check(tmp_path, writer, lambda keras: merge_model(keras, kind), [random((4, 4, 3)), random((4, 4, 3), 4)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("axes, normalize, shape", [(1, False, (5,)), (1, True, (5,)), ((2, 2), False, (3, 4)),
                                                     ((1, 1), False, (3, 4))])
def test_dot_matches_keras(tmp_path, writer, axes, normalize, shape):
    def build(keras):
        a, b = keras.Input(shape), keras.Input(shape)
        return keras.Model([a, b], keras.layers.Dot(axes=axes, normalize=normalize)([a, b]))

    check(tmp_path, writer, build, [random(shape), random(shape, 4)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_residual_branches_and_shared_layer_match_keras(tmp_path, writer):
    def build(keras):
        inputs = keras.Input((6, 6, 4))
        shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")
        x = shared(inputs)
        y = shared(keras.layers.ReLU()(x))  # the same layer called twice
        z = keras.layers.Add()([inputs, y])
        z = keras.layers.BatchNormalization()(z)
        return keras.Model(inputs, keras.layers.Flatten()(z))

    check(tmp_path, writer, build, [random((6, 6, 4))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_masking_propagates_to_recurrent_layers(tmp_path, writer):
    def build(keras):
        inputs = keras.Input((7, 3))
        x = keras.layers.Masking(mask_value=0.0)(inputs)
        x = keras.layers.GRU(4, return_sequences=True)(x)
        x = keras.layers.LSTM(3)(x)
        return keras.Model(inputs, x)

    values = random((7, 3))
    values[0, 4:] = 0.0
    values[2, :2] = 0.0
    check(tmp_path, writer, build, [values])


def test_lambda_layer_fails_naming_it(tmp_path):
    import converter
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2, name="double"),
                              keras.layers.Dense(2, name="head")])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"double \(Lambda\)"):
        converter.to_torch(path)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_flatten_feeding_a_dense_and_the_output_matches_keras(tmp_path, writer):
    """The Dense's rows are regrouped for (c, h, w); the Flatten's own output stays (h, w, c)."""
    def build(keras):
        inputs = keras.Input((5, 5, 2))
        flat = keras.layers.Flatten()(keras.layers.Conv2D(3, 2, name="conv")(inputs))
        dense = keras.layers.Dense(4, name="via_activation")(keras.layers.Activation("relu")(flat))
        return keras.Model(inputs, [flat, keras.layers.Dense(2, name="head")(flat), dense])

    check(tmp_path, writer, build, [random((5, 5, 2))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_layer_norm_without_weights_matches_keras(tmp_path, writer):
    check(tmp_path, writer, sequential((4, 6), lambda k: k.layers.LayerNormalization(center=False, scale=False)),
          [random((4, 6))])
