"""One table of test cases, each building one Keras kind in real Keras: a new kind needs one row here.

tests/test_kinds.py runs every row with each Keras that has the kind (Keras 3 `.keras`,
tf.keras 2 `.h5`), in both input layouts, against Keras's own outputs, and fails when a
registered kind has no row. Options a kind's rule covers in more depth (weights against a
hand-written module) are in tests/layers/. The rows of Keras 3 operations and tf.keras op
layers are in tests/operation_cases.py, those of two inputs, wrappers, attention and preprocessing in
tests/more_kind_cases.py; how rows build their models, in tests/case_builders.py.
"""
from __future__ import annotations

from case_builders import (
    ACTIVATIONS, KERAS3_ACTIVATIONS, KERAS3_ONLY_ACTIVATIONS, Case, bidirectional_states,
    graph, on_tokens, padded_seq2seq, seq2seq, single,
)
from more_kind_cases import MORE_CASES
from operation_cases import OPERATION_CASES

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
    single("Softmax", "softmax_axes", (3, 4, 2), lambda k: k.layers.Softmax(axis=[1, 2])),
    single("Softmax", "softmax_axes_with_channels", (4, 3, 2), lambda k: k.layers.Softmax(axis=[-1, 1]), scale=3.0),
    single("Activation", "activation_layer", (5, 4), lambda k: k.layers.Activation("softsign")),
    *[single("Dense", f"dense_{name}", (6,), lambda k, name=name: k.layers.Dense(5, activation=name),
             keras2=name not in KERAS3_ACTIVATIONS, scale=1.0 if name == "exponential" else 3.0)
      for name in ACTIVATIONS],
    *[single("Dense", f"dense_{name}", (6,), lambda k, name=name: k.layers.Dense(6, activation=name), keras2=False,
             scale=3.0) for name in KERAS3_ONLY_ACTIVATIONS],
    # glu's halves along the channels, which are axis 1 of the module's feature maps
    single("Conv2D", "conv2d_glu", (5, 5, 2), lambda k: k.layers.Conv2D(4, 3, activation="glu"), keras2=False),
    single("LSTM", "lstm_keras3_activations", (5, 3), lambda k: k.layers.LSTM(
        4, activation="hard_tanh", recurrent_activation="sparse_sigmoid"), keras2=False),
    single("Dense", "dense_on_image", (3, 3, 4), lambda k: k.layers.Dense(5)),
    single("EinsumDense", "einsum_dense", (3, 6), lambda k: k.layers.EinsumDense("abc,cd->abd", output_shape=(3, 4),
                                                                                  bias_axes="d"), keras2=False),
    single("EinsumDense", "einsum_dense_tf_keras", (3, 6), lambda k: k.layers.EinsumDense(
        "abc,cd->abd", output_shape=(3, 4), bias_axes="d", activation="relu")),
    # EinsumDense that is not a Dense: the same einsum, kernel and bias as stored (bias on some output axes)
    *[single("EinsumDense", f"einsum_{name}", shape, lambda k, equation=equation, out=out, bias=bias:
             k.layers.EinsumDense(equation, output_shape=out, bias_axes=bias, activation="tanh"))
      for name, equation, shape, out, bias in (
          ("to_heads", "abc,cde->abde", (4, 6), (None, 2, 3), "de"),
          ("to_heads_bias_last", "abc,cde->abde", (4, 6), (None, 2, 3), "e"),
          ("from_heads", "abcd,cde->abe", (4, 2, 3), (None, 5), "e"),
          ("left_ellipsis", "...b,bcd->...cd", (4, 5), (2, 3), "d"),
          ("right_ellipsis", "ab...,bc->ac...", (4, 5), (7, 5), "c"),
          ("no_bias", "ab,bcd->acd", (6,), (3, 2), None),
          ("contract_two", "abc,bcd->ad", (3, 6), (4,), "d"),
          ("capitals", "aBc,cD->aBD", (3, 6), (3, 4), "D"),
          # a bias on an output axis that is not the last: Keras 3.7+ on TensorFlow adds it along the last axis
          # (sizes equal) or axis 1 (tf.nn.bias_add), tf.keras broadcasts it; (3, 4): both agree
          ("bias_not_last_square", "...b,bxy->...xy", (5,), (3, 3), "x"),
          ("bias_not_last_axis_one", "abc,cde->abde", (4, 6), (None, 4, 3), "d"),
          ("bias_not_last", "...b,bxy->...xy", (5,), (3, 4), "x"))],
    # identity at inference
    *[single(name, name.lower(), (5, 4), lambda k, name=name, argument=argument: getattr(k.layers, name)(argument))
      for name, argument in (("Dropout", 0.5), ("GaussianNoise", 1.0), ("GaussianDropout", 0.5),
                             ("AlphaDropout", 0.5), ("ActivityRegularization", 0.01))],
    single("SpatialDropout1D", "spatial_dropout1d", (5, 3), lambda k: k.layers.SpatialDropout1D(0.5)),
    single("SpatialDropout2D", "spatial_dropout2d", (4, 4, 3), lambda k: k.layers.SpatialDropout2D(0.5)),
    single("SpatialDropout3D", "spatial_dropout3d", (3, 3, 3, 2), lambda k: k.layers.SpatialDropout3D(0.5)),
    single("Identity", "identity", (5, 4), lambda k: k.layers.Identity(), keras2=False),
    # random augmentation: identity at inference (tf.keras 2 has the first six, and RandomHeight/Width)
    *[single(name, name.lower(), (8, 8, 3), lambda k, name=name, arguments=arguments:
             getattr(k.layers, name)(*arguments), keras2=keras2, scale=50.0)
      for name, arguments, keras2 in (
          ("RandomFlip", (), True), ("RandomRotation", (0.2,), True), ("RandomTranslation", (0.1, 0.1), True),
          ("RandomZoom", (0.2,), True), ("RandomContrast", (0.2,), True), ("RandomBrightness", (0.2,), True),
          ("RandomHue", (0.2,), False), ("RandomSaturation", (0.2,), False), ("RandomColorJitter", (), False),
          ("RandomColorDegeneration", (0.2,), False), ("RandomGrayscale", (), False),
          ("RandomSharpness", (0.2,), False), ("RandomShear", ((0.0, 0.1),), False),
          ("RandomPosterization", ((1, 8),), False),
          ("RandomInvert", (), False), ("RandomPerspective", (), False), ("RandomGaussianBlur", (), False),
          ("RandomErasing", (), False), ("RandomElasticTransform", (), False), ("AugMix", (), False),
          ("CutMix", (), False), ("MixUp", (), False), ("RandAugment", (), False))],
    *[single(name, name.lower(), (8, 8, 3), lambda k, name=name: getattr(k.layers, name)(0.2), keras3=False)
      for name in ("RandomHeight", "RandomWidth")],
    single("UnitNormalization", "unit_normalization", (5, 4), lambda k: k.layers.UnitNormalization()),
    single("UnitNormalization", "unit_normalization_axes", (3, 4, 2),
           lambda k: k.layers.UnitNormalization(axis=[1, 2])),
    single("UnitNormalization", "unit_normalization_image", (4, 4, 3), lambda k: k.layers.UnitNormalization()),
    # reshaping
    single("Flatten", "flatten_image", (4, 4, 3), lambda k: k.layers.Flatten()),
    single("Flatten", "flatten_channels_first", (4, 5, 3), lambda k: k.layers.Flatten(data_format="channels_first")),
    single("Flatten", "flatten_channels_first_sequence", (5, 3),
           lambda k: k.layers.Flatten(data_format="channels_first")),
    # a vector per sample (a mean over every other axis) flattens to (batch, 1)
    graph("Flatten", "flatten_vector", ((5, 3),), lambda k, x: k.layers.Dense(2)(k.layers.Flatten()(
        k.ops.mean(x, axis=[1, 2]))), keras2=False),
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
    # 'same' of an even kernel (an odd total) at stride 1: padded explicitly, the odd one at the end
    single("Conv2D", "conv2d_same_even_kernel", (7, 6, 3), lambda k: k.layers.Conv2D(4, (2, 4), padding="same")),
    single("Conv1D", "conv1d_same_even_dilated", (9, 3), lambda k: k.layers.Conv1D(4, 2, dilation_rate=3,
                                                                                   padding="same")),
    single("Conv3D", "conv3d_same_stride2", (5, 5, 5, 2), lambda k: k.layers.Conv3D(3, 3, strides=2,
                                                                                    padding="same")),
    single("DepthwiseConv1D", "depthwise1d", (9, 3), lambda k: k.layers.DepthwiseConv1D(3, depth_multiplier=2),
           keras2=False),
    single("DepthwiseConv2D", "depthwise_same_stride2", (7, 7, 3), lambda k: k.layers.DepthwiseConv2D(
        3, strides=2, padding="same")),
    single("SeparableConv1D", "separable1d", (9, 3), lambda k: k.layers.SeparableConv1D(4, 3)),
    single("DepthwiseConv2D", "depthwise_same_even_kernel", (6, 5, 3), lambda k: k.layers.DepthwiseConv2D(
        2, padding="same")),
    single("SeparableConv1D", "separable1d_same_even_kernel", (9, 3), lambda k: k.layers.SeparableConv1D(
        4, 4, padding="same")),
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
    # over a middle axis (a spectrogram's frequencies), and over the channels of a rank-6 tensor
    single("BatchNormalization", "batch_norm_middle_axis", (3, 4, 5), lambda k: k.layers.BatchNormalization(axis=2)),
    single("BatchNormalization", "batch_norm_rank_6", (2, 3, 2, 2, 3), lambda k: k.layers.BatchNormalization(axis=1)),
    single("LayerNormalization", "layer_norm_image", (4, 4, 3), lambda k: k.layers.LayerNormalization()),
    single("LayerNormalization", "layer_norm_axis1_sequence", (5, 4), lambda k: k.layers.LayerNormalization(axis=1)),
    single("LayerNormalization", "layer_norm_spatial_axes", (4, 5, 3), lambda k: k.layers.LayerNormalization(
        axis=(1, 2), epsilon=1e-5)),
    single("LayerNormalization", "layer_norm_axis1_image", (4, 5, 3), lambda k: k.layers.LayerNormalization(
        axis=1, center=False)),
    single("LayerNormalization", "layer_norm_axis1_no_weights", (5, 4), lambda k: k.layers.LayerNormalization(
        axis=1, center=False, scale=False)),
    single("LayerNormalization", "layer_norm_no_weights", (4, 6), lambda k: k.layers.LayerNormalization(
        center=False, scale=False)),
    single("GroupNormalization", "group_norm", (4, 4, 6), lambda k: k.layers.GroupNormalization(groups=3),
           keras2=False),
    single("GroupNormalization", "group_norm_no_weights", (5, 4), lambda k: k.layers.GroupNormalization(
        groups=2, center=False, scale=False, epsilon=0.05)),
    single("Normalization", "normalization", (4, 3), lambda k: k.layers.Normalization(axis=-1), keras2=False),
    # kept axes other than the last: the mean lines up with them, not with the input's last axes (same sizes here)
    single("Normalization", "normalization_middle_axis", (3, 3), lambda k: k.layers.Normalization(axis=1)),
    single("Normalization", "normalization_two_axes_invert", (3, 2, 4), lambda k: k.layers.Normalization(
        axis=(1, 3), invert=True)),
    single("Normalization", "normalization_one_mean", (4, 3), lambda k: k.layers.Normalization(axis=None)),
    single("Normalization", "normalization_given_middle_axis", (3, 3), lambda k: k.layers.Normalization(
        axis=1, mean=[0.5, -1.0, 2.0], variance=[1.0, 4.0, 0.25])),
    single("Normalization", "normalization_given_invert", (3, 2, 4), lambda k: k.layers.Normalization(
        axis=(1, 3), mean=[[0.5], [-1.0], [2.0]], variance=[[1.0], [4.0], [0.25]], invert=True)),
    single("Rescaling", "rescaling", (5, 4), lambda k: k.layers.Rescaling(0.5, offset=-1.0)),
    single("PReLU", "prelu_image", (4, 4, 3), lambda k: k.layers.PReLU(shared_axes=[1, 2])),
    single("Embedding", "embedding", (6,), lambda k: k.layers.Embedding(20, 4), vocabulary=20),
    # recurrent
    single("LSTM", "lstm", (6, 3), lambda k: k.layers.LSTM(5, return_sequences=True)),
    single("GRU", "gru", (6, 3), lambda k: k.layers.GRU(5)),
    single("SimpleRNN", "simple_rnn", (6, 3), lambda k: k.layers.SimpleRNN(5, go_backwards=True)),
    # an activation nn.RNN lacks: its own cell on the module's parameters
    single("SimpleRNN", "simple_rnn_elu", (6, 3), lambda k: k.layers.SimpleRNN(5, activation="elu",
                                                                                  return_sequences=True)),
    single("Bidirectional", "bidirectional_lstm", (6, 3), lambda k: k.layers.Bidirectional(
        k.layers.LSTM(4, return_sequences=True))),
    graph("LSTM", "lstm_seq2seq", ((5, 3), (4, 2)), seq2seq),
    graph("LSTM", "lstm_seq2seq_own_cell", ((5, 3), (4, 2)), lambda k, s, t: seq2seq(
        k, s, t, recurrent_activation="hard_sigmoid", go_backwards=True)),
    graph("LSTM", "lstm_masked_initial_state", ((5, 3), (4, 2)), lambda k, s, t: seq2seq(
        k, k.layers.Masking(0.0)(s), k.layers.Masking(0.0)(t))),
    Case("keras.layers.LSTM", "lstm_padded_seq2seq", padded_seq2seq("LSTM", True), ((5,), (3,)), vocabulary=2),
    Case("keras.layers.GRU", "gru_padded_seq2seq_last", padded_seq2seq("GRU", False), ((5,), (3,)), vocabulary=2),
    Case("keras.layers.SimpleRNN", "simple_rnn_padded_seq2seq", padded_seq2seq("SimpleRNN", True), ((5,), (3,)),
         vocabulary=2),
    Case("keras.layers.Bidirectional", "bidirectional_lstm_padded_seq2seq",
         padded_seq2seq("LSTM", True, "Bidirectional"), ((5,), (3,)), vocabulary=2),
    # masked steps inside a sequence: zeros from a Bidirectional returning sequences (it sets its layers'
    # zero_output_for_mask), or from a Keras 3 layer given zero_output_for_mask; else the previous output
    Case("keras.layers.Bidirectional", "bidirectional_gru_padded", lambda k: on_tokens(k, (5,), lambda x: (
        k.layers.Bidirectional(k.layers.GRU(4, return_sequences=True))(k.layers.Embedding(2, 3, mask_zero=True)(x)))),
        ((5,),), vocabulary=2),
    Case("keras.layers.LSTM", "lstm_zero_output_for_mask", lambda k: on_tokens(k, (5,), lambda x: k.layers.LSTM(
        4, return_sequences=True, zero_output_for_mask=True)(k.layers.Embedding(2, 3, mask_zero=True)(x))),
        ((5,),), keras2=False, vocabulary=2),
    graph("GRU", "gru_seq2seq", ((5, 3), (4, 2)), lambda k, s, t: seq2seq(k, s, t, "GRU")),
    graph("GRU", "gru_reset_before_seq2seq", ((5, 3), (4, 2)), lambda k, s, t: seq2seq(k, s, t, "GRU",
                                                                                        reset_after=False)),
    graph("SimpleRNN", "simple_rnn_seq2seq", ((5, 3), (4, 2)), lambda k, s, t: seq2seq(k, s, t, "SimpleRNN")),
    # the inference decoder: its states are model inputs, its final states model outputs
    graph("LSTM", "lstm_states_as_inputs", ((4, 2), (6,), (6,)), lambda k, x, h, c: k.layers.LSTM(
        6, return_sequences=True, return_state=True)(x, initial_state=[h, c])),
    graph("GRU", "gru_state_from_dense", ((4, 2), (3,)), lambda k, x, v: k.layers.GRU(5)(
        x, initial_state=k.layers.Dense(5)(v))),
    graph("Bidirectional", "bidirectional_lstm_states", ((5, 3), (4, 2)), bidirectional_states),
    graph("Bidirectional", "bidirectional_gru_states", ((5, 3), (4, 2)), lambda k, s, t: bidirectional_states(
        k, s, t, "GRU")),
    graph("Bidirectional", "bidirectional_states_own_cell", ((5, 3), (4, 2)), lambda k, s, t: bidirectional_states(
        k, s, t, "LSTM", activation="relu")),
    single("TimeDistributed", "time_distributed_dense", (4, 3), lambda k: k.layers.TimeDistributed(
        k.layers.Dense(2))),
    single("Masking", "masking", (6, 3), lambda k: k.layers.Masking(mask_value=9.0)),
    # layers of two inputs, wrappers, attention, preprocessing, newer Keras 3 kinds: MORE_CASES, below
    # Keras 3 operations and tf.keras op layers: OPERATION_CASES, below
]
CASES += MORE_CASES + OPERATION_CASES
