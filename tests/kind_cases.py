"""One table of test cases, each building one Keras kind in real Keras: a new kind needs one row here.

tests/test_kinds.py runs every row with each Keras that has the kind (Keras 3 `.keras`,
tf.keras 2 `.h5`), in both input layouts, against Keras's own outputs, and fails when a
registered kind has no row. Options a kind's rule covers in more depth (weights against a
hand-written module) are in tests/layers/.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Build = Callable[[Any], Any]  # the keras module -> a model


@dataclass(frozen=True)
class Case:
    kind: str  # the qualified kind the model holds, e.g. keras.layers.Dense
    name: str  # the test id
    build: Build
    inputs: tuple[tuple[int, ...], ...]  # input shapes without the batch axis
    keras2: bool = True  # tf.keras 2 has the kind (its .h5 file is tested too)
    keras3: bool = True  # Keras 3 has it (ThresholdedReLU is tf.keras only)
    vocabulary: int | None = None  # integer inputs below this (token ids)
    scale: float = 1.0  # inputs ~ N(0, scale)


def single(kind: str, name: str, shape: tuple[int, ...], factory: Callable[[Any], Any], keras2: bool = True,
           **options: Any) -> Case:
    """A Sequential of one layer on one input."""
    def build(keras: Any) -> Any:
        return keras.Sequential([keras.Input(shape), factory(keras)])

    return Case(f"keras.layers.{kind}" if "." not in kind else kind, name, build, (shape,), keras2, **options)


def two_inputs(kind: str, name: str, shape: tuple[int, ...], combine: Callable[[Any, Any, Any], Any],
               keras2: bool = True) -> Case:
    """A model of two inputs of `shape` combined by `combine(keras, a, b)`."""
    def build(keras: Any) -> Any:
        a, b = keras.Input(shape, name="a"), keras.Input(shape, name="b")
        return keras.Model([a, b], combine(keras, a, b))

    return Case(f"keras.layers.{kind}", name, build, (shape, shape), keras2)


def operation(kind: str, name: str, shape: tuple[int, ...], combine: Callable[[Any, Any], Any]) -> Case:
    """A Keras 3 functional model whose graph records `combine(keras, x)` as operations."""
    def build(keras: Any) -> Any:
        x = keras.Input(shape)
        return keras.Model(x, combine(keras, x))

    return Case(f"keras.ops.numpy.{kind}", name, build, (shape,), keras2=False)


ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "swish",
               "gelu", "exponential", "hard_sigmoid", "relu6", "log_softmax", "leaky_relu", "silu", "mish"]
KERAS3_ACTIVATIONS = {"relu6", "log_softmax", "leaky_relu", "mish"}

CASES: list[Case] = [
    # activations (no weights) and Dense with each activation of the Keras that wrote it
    single("ReLU", "relu", (5, 4), lambda k: k.layers.ReLU()),
    single("ReLU", "relu6", (5, 4), lambda k: k.layers.ReLU(max_value=6.0), keras2=False),
    single("ReLU", "relu_all_options", (5, 4), lambda k: k.layers.ReLU(max_value=1.5, negative_slope=0.1,
                                                                      threshold=0.2), keras2=False),
    single("LeakyReLU", "leaky_relu", (5, 4), lambda k: k.layers.LeakyReLU()),
    single("ELU", "elu", (5, 4), lambda k: k.layers.ELU(alpha=0.7)),
    single("ThresholdedReLU", "thresholded_relu", (5, 4), lambda k: k.layers.ThresholdedReLU(theta=0.3),
           keras3=False),
    single("Softmax", "softmax", (5, 4), lambda k: k.layers.Softmax()),
    single("Softmax", "softmax_axis1", (5, 4), lambda k: k.layers.Softmax(axis=1)),
    single("Softmax", "softmax_image", (4, 4, 3), lambda k: k.layers.Softmax(), keras2=False),
    single("Activation", "activation_layer", (5, 4), lambda k: k.layers.Activation("softsign")),
    *[single("Dense", f"dense_{name}", (6,), lambda k, name=name: k.layers.Dense(5, activation=name),
             keras2=name not in KERAS3_ACTIVATIONS, scale=1.0 if name == "exponential" else 3.0)
      for name in ACTIVATIONS],
    single("Dense", "dense_on_image", (3, 3, 4), lambda k: k.layers.Dense(5)),
    single("EinsumDense", "einsum_dense", (3, 6), lambda k: k.layers.EinsumDense("abc,cd->abd", output_shape=(3, 4),
                                                                                  bias_axes="d"), keras2=False),
    # identity at inference
    *[single(name, name.lower(), (5, 4), lambda k, name=name, argument=argument: getattr(k.layers, name)(argument))
      for name, argument in (("Dropout", 0.5), ("GaussianNoise", 1.0), ("GaussianDropout", 0.5),
                             ("AlphaDropout", 0.5), ("ActivityRegularization", 0.01))],
    single("SpatialDropout1D", "spatial_dropout1d", (5, 3), lambda k: k.layers.SpatialDropout1D(0.5)),
    single("SpatialDropout2D", "spatial_dropout2d", (4, 4, 3), lambda k: k.layers.SpatialDropout2D(0.5)),
    single("SpatialDropout3D", "spatial_dropout3d", (3, 3, 3, 2), lambda k: k.layers.SpatialDropout3D(0.5)),
    single("Identity", "identity", (5, 4), lambda k: k.layers.Identity(), keras2=False),
    # reshaping
    single("Flatten", "flatten_image", (4, 4, 3), lambda k: k.layers.Flatten()),
    single("Reshape", "reshape", (4, 6), lambda k: k.layers.Reshape((3, 8))),
    single("Reshape", "reshape_to_image", (12,), lambda k: k.layers.Reshape((2, 2, 3))),
    single("Permute", "permute", (4, 6), lambda k: k.layers.Permute((2, 1))),
    single("Permute", "permute_image", (2, 3, 4), lambda k: k.layers.Permute((3, 1, 2))),
    single("RepeatVector", "repeat_vector", (4,), lambda k: k.layers.RepeatVector(3)),
    # pooling
    single("MaxPooling1D", "max_pool1d", (9, 3), lambda k: k.layers.MaxPooling1D(2)),
    single("MaxPooling1D", "max_pool1d_same", (9, 3), lambda k: k.layers.MaxPooling1D(3, strides=2, padding="same")),
    single("AveragePooling1D", "avg_pool1d_same", (9, 3), lambda k: k.layers.AveragePooling1D(2, padding="same")),
    single("MaxPooling2D", "max_pool2d", (7, 7, 3), lambda k: k.layers.MaxPooling2D()),
    single("MaxPooling2D", "max_pool2d_same", (7, 6, 3), lambda k: k.layers.MaxPooling2D(3, strides=2,
                                                                                         padding="same")),
    single("AveragePooling2D", "avg_pool2d_valid", (7, 7, 3), lambda k: k.layers.AveragePooling2D(3, strides=2)),
    single("AveragePooling2D", "avg_pool2d_same", (7, 6, 3), lambda k: k.layers.AveragePooling2D(3, strides=2,
                                                                                                 padding="same")),
    single("AveragePooling2D", "avg_pool2d_same_s1", (5, 5, 3), lambda k: k.layers.AveragePooling2D(
        2, strides=1, padding="same")),
    single("MaxPooling3D", "max_pool3d_same", (5, 5, 5, 2), lambda k: k.layers.MaxPooling3D(2, padding="same")),
    single("AveragePooling3D", "avg_pool3d", (4, 4, 4, 2), lambda k: k.layers.AveragePooling3D(2)),
    single("GlobalAveragePooling1D", "global_avg1d", (6, 3), lambda k: k.layers.GlobalAveragePooling1D()),
    single("GlobalMaxPooling1D", "global_max1d", (6, 3), lambda k: k.layers.GlobalMaxPooling1D()),
    single("GlobalAveragePooling2D", "global_avg2d", (5, 5, 3), lambda k: k.layers.GlobalAveragePooling2D()),
    single("GlobalMaxPooling2D", "global_max2d_keepdims", (5, 5, 3), lambda k: k.layers.GlobalMaxPooling2D(
        keepdims=True), keras2=False),
    single("GlobalAveragePooling3D", "global_avg3d", (3, 3, 3, 2), lambda k: k.layers.GlobalAveragePooling3D()),
    single("GlobalMaxPooling3D", "global_max3d", (3, 3, 3, 2), lambda k: k.layers.GlobalMaxPooling3D()),
    # padding, cropping, upsampling
    single("ZeroPadding1D", "zero_padding1d", (5, 3), lambda k: k.layers.ZeroPadding1D((1, 2))),
    single("ZeroPadding2D", "zero_padding2d", (4, 4, 3), lambda k: k.layers.ZeroPadding2D(((1, 2), (0, 3)))),
    single("ZeroPadding3D", "zero_padding3d", (3, 3, 3, 2), lambda k: k.layers.ZeroPadding3D(1)),
    single("Cropping1D", "cropping1d", (8, 3), lambda k: k.layers.Cropping1D((1, 2))),
    single("Cropping2D", "cropping2d", (6, 6, 3), lambda k: k.layers.Cropping2D(((1, 2), (2, 0)))),
    single("Cropping3D", "cropping3d", (5, 5, 5, 2), lambda k: k.layers.Cropping3D(1)),
    single("UpSampling1D", "upsampling1d", (4, 3), lambda k: k.layers.UpSampling1D(2)),
    single("UpSampling2D", "upsampling2d", (3, 4, 3), lambda k: k.layers.UpSampling2D((2, 3))),
    single("UpSampling2D", "upsampling2d_bilinear", (3, 4, 3), lambda k: k.layers.UpSampling2D(
        2, interpolation="bilinear")),
    single("UpSampling3D", "upsampling3d", (2, 2, 2, 2), lambda k: k.layers.UpSampling3D(2)),
    # convolutions and their padding
    single("Conv1D", "conv1d", (9, 3), lambda k: k.layers.Conv1D(4, 3)),
    single("Conv1D", "conv1d_same_stride2", (9, 3), lambda k: k.layers.Conv1D(4, 4, strides=2, padding="same"),
           keras2=False),
    single("Conv1D", "conv1d_causal", (9, 3), lambda k: k.layers.Conv1D(4, 3, dilation_rate=2, padding="causal")),
    single("Conv2D", "conv2d_same_stride2_odd", (7, 7, 3), lambda k: k.layers.Conv2D(4, 3, strides=2,
                                                                                     padding="same")),
    single("Conv2D", "conv2d_same_stride2_even", (8, 8, 3), lambda k: k.layers.Conv2D(4, 4, strides=2,
                                                                                      padding="same")),
    single("Conv2D", "conv2d_same_stride3", (8, 7, 3), lambda k: k.layers.Conv2D(4, (3, 5), strides=3,
                                                                                 padding="same")),
    single("Conv2D", "conv2d_same_dilated", (8, 8, 3), lambda k: k.layers.Conv2D(4, 3, dilation_rate=2,
                                                                                 padding="same")),
    single("Conv3D", "conv3d_same_stride2", (5, 5, 5, 2), lambda k: k.layers.Conv3D(3, 3, strides=2,
                                                                                    padding="same")),
    single("DepthwiseConv1D", "depthwise1d", (9, 3), lambda k: k.layers.DepthwiseConv1D(3, depth_multiplier=2),
           keras2=False),
    single("DepthwiseConv2D", "depthwise_same_stride2", (7, 7, 3), lambda k: k.layers.DepthwiseConv2D(
        3, strides=2, padding="same")),
    single("SeparableConv1D", "separable1d", (9, 3), lambda k: k.layers.SeparableConv1D(4, 3)),
    single("SeparableConv2D", "separable_same_stride2", (7, 7, 3), lambda k: k.layers.SeparableConv2D(
        4, 3, strides=2, padding="same")),
    single("Conv1DTranspose", "conv1d_transpose", (5, 3), lambda k: k.layers.Conv1DTranspose(4, 3, strides=2)),
    single("Conv2DTranspose", "conv2d_transpose_same", (4, 5, 3), lambda k: k.layers.Conv2DTranspose(
        4, 3, strides=2, padding="same")),
    single("Conv2DTranspose", "conv2d_transpose_valid", (4, 5, 3), lambda k: k.layers.Conv2DTranspose(
        4, 2, strides=3)),
    single("Conv3DTranspose", "conv3d_transpose", (3, 3, 3, 2), lambda k: k.layers.Conv3DTranspose(
        2, 2, strides=2, padding="same")),
    # normalization
    single("BatchNormalization", "batch_norm_image", (4, 4, 3), lambda k: k.layers.BatchNormalization()),
    single("LayerNormalization", "layer_norm_image", (4, 4, 3), lambda k: k.layers.LayerNormalization()),
    single("LayerNormalization", "layer_norm_no_weights", (4, 6), lambda k: k.layers.LayerNormalization(
        center=False, scale=False)),
    single("GroupNormalization", "group_norm", (4, 4, 6), lambda k: k.layers.GroupNormalization(groups=3),
           keras2=False),
    single("Normalization", "normalization", (4, 3), lambda k: k.layers.Normalization(axis=-1), keras2=False),
    single("Rescaling", "rescaling", (5, 4), lambda k: k.layers.Rescaling(0.5, offset=-1.0)),
    single("PReLU", "prelu_image", (4, 4, 3), lambda k: k.layers.PReLU(shared_axes=[1, 2])),
    single("Embedding", "embedding", (6,), lambda k: k.layers.Embedding(20, 4), vocabulary=20),
    # recurrent
    single("LSTM", "lstm", (6, 3), lambda k: k.layers.LSTM(5, return_sequences=True)),
    single("GRU", "gru", (6, 3), lambda k: k.layers.GRU(5)),
    single("SimpleRNN", "simple_rnn", (6, 3), lambda k: k.layers.SimpleRNN(5, go_backwards=True)),
    single("Bidirectional", "bidirectional_lstm", (6, 3), lambda k: k.layers.Bidirectional(
        k.layers.LSTM(4, return_sequences=True))),
    single("TimeDistributed", "time_distributed_dense", (4, 3), lambda k: k.layers.TimeDistributed(
        k.layers.Dense(2))),
    single("Masking", "masking", (6, 3), lambda k: k.layers.Masking(mask_value=9.0)),
    # merges and attention: two inputs
    *[two_inputs(name, name.lower(), (4, 4, 3), lambda k, a, b, name=name: getattr(k.layers, name)()([a, b]))
      for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")],
    two_inputs("Dot", "dot", (3, 4), lambda k, a, b: k.layers.Dot(axes=(2, 2))([a, b])),
    two_inputs("MultiHeadAttention", "attention_cross", (5, 8), lambda k, a, b: k.layers.MultiHeadAttention(
        2, 4)(a, b)),
    # Keras 3 operations recorded in a functional graph
    *[operation(name, f"op_{name.lower()}", (5,), lambda k, x, function=function: getattr(k.ops, function)(x, 0.2))
      for name, function in (("Equal", "equal"), ("NotEqual", "not_equal"), ("Greater", "greater"),
                             ("GreaterEqual", "greater_equal"), ("Less", "less"), ("LessEqual", "less_equal"))],
    operation("Any", "op_any", (5,), lambda k, x: k.ops.any(k.ops.greater(x, 0.5), axis=1)),
    operation("All", "op_all", (5,), lambda k, x: k.ops.all(k.ops.greater(x, -0.5), axis=1)),
]
