"""The rows of tests/kind_cases.py's table for layers of two inputs, wrappers (TimeDistributed, Bidirectional,
RNN of a cell), attention, embeddings, preprocessing inside the model and Keras 3's newer kinds; kind_cases.CASES
holds them with the others.
"""
from __future__ import annotations

from typing import Any

from case_builders import (
    Case, application_layer, branch_model, frame_model, graph, grouped_attention, language_model, on_tokens, padded,
    padded_attention, single, two_inputs,
)


def keras_hub() -> Any:
    """KerasHub, imported where a row builds one of its layers (it imports Keras 3)."""
    import keras_hub as module

    return module


MORE_CASES: list[Case] = [
    # the layers keras.applications defines for its models (Keras 3 saves them under their module)
    single("keras.applications.convnext.LayerScale", "layer_scale", (4, 4, 6), lambda k: application_layer(
        k, "convnext", "LayerScale")(1e-6, 6), keras2=False),
    graph("keras.applications.inception_resnet_v2.CustomScaleLayer", "custom_scale", ((4, 4, 3), (4, 4, 3)),
          lambda k, a, b: application_layer(k, "inception_resnet_v2", "CustomScaleLayer")(0.17)([a, b]),
          keras2=False),
    # merges and attention: two inputs
    *[two_inputs(name, name.lower(), (4, 4, 3), lambda k, a, b, name=name: getattr(k.layers, name)()([a, b]))
      for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")],
    # an operation named like a layer (x + 3.0 is keras.ops.numpy.Add) before that layer: MobileNetV3's hard-swish
    graph("Add", "add_after_add_operation", ((4, 4, 3),), lambda k, x: k.layers.Add()([x + 3.0, k.layers.Dense(3)(
        x)]), keras2=False),
    two_inputs("Dot", "dot", (3, 4), lambda k, a, b: k.layers.Dot(axes=(2, 2))([a, b])),
    # an attention block's (philipperemy/keras-attention): the last state against the sequence, then the weights
    # against the sequence: inputs of ranks 2 and 3
    graph("Dot", "dot_mixed_ranks", ((4,), (5, 4)), lambda k, h, s: k.layers.Dot(axes=[1, 1])(
        [s, k.layers.Activation("softmax")(k.layers.Dot(axes=[1, 2])([h, s]))])),
    graph("Dot", "dot_rank_4", ((2, 3, 4), (4, 5)),
          lambda k, a, b: k.layers.Dot(axes=(3, 1), normalize=True)([a, b])),
    two_inputs("MultiHeadAttention", "attention_cross", (5, 8), lambda k, a, b: k.layers.MultiHeadAttention(
        2, 4)(a, b)),
    # (heads, 1) projection biases, sequences as long as there are heads: Keras 3.7+ on TensorFlow adds them along
    # the sequence (tf.nn.bias_add), tf.keras per head
    two_inputs("MultiHeadAttention", "attention_key_dim_one", (5, 8), lambda k, a, b: k.layers.MultiHeadAttention(
        5, 1)(a, b)),
    graph("TimeDistributed", "time_distributed_flatten_then_attention", ((3, 4, 4, 2),), lambda k, x:
          k.layers.Attention()([k.layers.TimeDistributed(k.layers.Flatten())(x)] * 2), keras2=False),
    # TimeDistributed of layers written as statements (time folded into the batch), and of pooling
    single("TimeDistributed", "time_distributed_lstm", (3, 5, 2), lambda k: k.layers.TimeDistributed(
        k.layers.LSTM(4))),
    single("TimeDistributed", "time_distributed_gru_sequences", (3, 5, 2), lambda k: k.layers.TimeDistributed(
        k.layers.GRU(4, return_sequences=True))),
    graph("TimeDistributed", "time_distributed_conv_pooling", ((3, 6, 6, 2),), lambda k, x: k.layers.TimeDistributed(
        k.layers.MaxPooling2D())(k.layers.TimeDistributed(k.layers.Conv2D(4, 3, padding="same"))(x))),
    # tf.keras's LocallyConnected (implementation 1): a weight per output position
    single("LocallyConnected1D", "locally_connected_1d", (9, 3), lambda k: k.layers.LocallyConnected1D(
        4, 3, strides=2, activation="relu"), keras3=False),
    single("LocallyConnected2D", "locally_connected_2d", (6, 7, 2), lambda k: k.layers.LocallyConnected2D(
        3, (2, 3), strides=(2, 1)), keras3=False),
    single("LocallyConnected2D", "locally_connected_2d_no_bias", (5, 5, 2), lambda k: k.layers.LocallyConnected2D(
        2, 3, use_bias=False), keras3=False),
    # TimeDistributed of a nested model (a per-frame CNN, a functional block with a branch), then an LSTM
    graph("TimeDistributed", "time_distributed_sequential_model", ((3, 6, 6, 2),), lambda k, x: k.layers.LSTM(5)(
        k.layers.TimeDistributed(frame_model(k))(x))),
    graph("TimeDistributed", "time_distributed_functional_model", ((4, 5),), lambda k, x: k.layers.GRU(
        3, return_sequences=True)(k.layers.TimeDistributed(branch_model(k))(x))),
    # Attention (dot, scaled, concat scores), AdditiveAttention; a key, the causal mask, Keras masks
    two_inputs("Attention", "luong_attention", (5, 4), lambda k, a, b: k.layers.Attention()([a, b])),
    two_inputs("Attention", "luong_attention_scaled", (5, 4), lambda k, a, b: k.layers.Attention(use_scale=True)(
        [a, b])),
    two_inputs("Attention", "luong_attention_concat", (5, 4), lambda k, a, b: k.layers.Attention(
        use_scale=True, score_mode="concat")([a, b])),
    graph("Attention", "luong_attention_key_causal", ((5, 4), (5, 4), (5, 4)), lambda k, q, v, key:
          k.layers.Attention()([q, v, key], use_causal_mask=True)),
    two_inputs("AdditiveAttention", "additive_attention", (5, 4), lambda k, a, b: k.layers.AdditiveAttention()(
        [a, b])),
    two_inputs("AdditiveAttention", "additive_attention_unscaled", (5, 4), lambda k, a, b:
               k.layers.AdditiveAttention(use_scale=False)([a, b])),
    Case("keras.layers.Attention", "luong_attention_padding_masks", lambda k: padded(k, k.layers.Attention()),
         ((6,),), vocabulary=5),
    Case("keras.layers.AdditiveAttention", "additive_attention_padding_masks",
         lambda k: padded(k, k.layers.AdditiveAttention()), ((6,),), vocabulary=5),
    single("BatchNormalization", "batch_renormalization", (5,), lambda k: k.layers.BatchNormalization(renorm=True),
           keras3=False),
    # tf.keras's experimental synchronized BatchNormalization: BatchNormalization at inference
    single("SyncBatchNormalization", "sync_batch_norm", (5,),
           lambda k: k.layers.experimental.SyncBatchNormalization(), keras3=False),
    single("SyncBatchNormalization", "sync_batch_norm_image_unscaled", (4, 4, 3),
           lambda k: k.layers.experimental.SyncBatchNormalization(center=False, scale=False, epsilon=0.01),
           keras3=False),
    single("SpectralNormalization", "spectral_normalization_dense", (5,), lambda k: k.layers.SpectralNormalization(
        k.layers.Dense(3)), keras2=False),
    single("SpectralNormalization", "spectral_normalization_conv", (6, 6, 2), lambda k:
           k.layers.SpectralNormalization(k.layers.Conv2D(3, 3)), keras2=False),
    # GroupQueryAttention (Keras 3): key/value heads shared by groups of query heads
    *[Case("keras.layers.GroupQueryAttention", f"group_query_attention_{name}", lambda k, options=options, call=call:
           grouped_attention(k, options, call), ((6, 5), (7, 5)), keras2=False)
      for name, options, call in (
          ("grouped", {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, {}),
          ("one_kv_head_no_bias", {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 1,
                                   "use_bias": False}, {}),
          ("gate_key_scores", {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2, "use_gate": True},
           {"key": True, "return_attention_scores": True}),
          ("self_causal_window", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2,
                                  "sliding_window": 2}, {"self": True, "use_causal_mask": True}),
          # (heads, 1) biases: Keras 3.7+ on TensorFlow adds the query's and gate's along the sequence (6 long)
          ("head_dim_one", {"head_dim": 1, "num_query_heads": 6, "num_key_value_heads": 3, "use_gate": True}, {}))],
    Case("keras.layers.GroupQueryAttention", "group_query_attention_padding_masks_dropout", lambda k: padded(
        k, lambda pair: k.layers.GroupQueryAttention(2, 4, 2, dropout=0.1)(*pair)), ((6,),), keras2=False,
         vocabulary=5),
    # ReversibleEmbedding (Keras 3): the table looks ids up, then (reverse=True) projects hidden states to logits
    *[Case("keras.layers.ReversibleEmbedding", f"reversible_embedding_{name}", lambda k, options=options:
           language_model(k, k.layers.ReversibleEmbedding(11, 4, **options)), ((6,),), keras2=False, vocabulary=11)
      for name, options in (("tied", {}), ("untied_soft_cap", {"tie_weights": False, "logit_soft_cap": 2.0}),
                            ("reverse_float64", {"reverse_dtype": "float64"}))],
    # KerasHub's embeddings (tests/test_keras_hub.py: its TransformerEncoder, masks, mixed precision)
    Case("keras_hub.layers.TokenAndPositionEmbedding", "keras_hub_token_and_position", lambda k: on_tokens(
        k, (6,), lambda tokens: k.layers.GlobalAveragePooling1D()(keras_hub().layers.TokenAndPositionEmbedding(
            11, 6, 4, mask_zero=True)(tokens))), ((6,),), keras2=False, vocabulary=11),
    Case("keras_hub.layers.PositionEmbedding", "keras_hub_position_embedding", lambda k: on_tokens(
        k, (6,), lambda tokens: (lambda embedded: k.layers.Add()([embedded, keras_hub().layers.PositionEmbedding(6)(
            embedded)]))(k.layers.Embedding(11, 4)(tokens))), ((6,),), keras2=False, vocabulary=11),
    # mask_zero: the ids that are not 0 mask the embeddings, which the pooling then averages alone
    Case("keras.layers.ReversibleEmbedding", "reversible_embedding_mask_zero", lambda k: on_tokens(
        k, (6,), lambda tokens: k.layers.GlobalAveragePooling1D()(k.layers.ReversibleEmbedding(
            5, 4, mask_zero=True)(tokens))), ((6,),), keras2=False, vocabulary=5),
    # Keras 3's adaptive pooling: PyTorch's windows, overlapping where the size does not divide the input
    *[single(f"Adaptive{kind}Pooling{len(shape) - 1}D", f"adaptive_{kind.lower()}_pooling_{len(shape) - 1}d{suffix}",
             shape, lambda k, kind=kind, size=size, options=options: getattr(
                 k.layers, f"Adaptive{kind}Pooling{len(size)}D")(size, **options), keras2=False)
      for kind in ("Average", "Max") for shape, size, options, suffix in (
          ((9, 2), (4,), {}, ""), ((7, 10, 3), (3, 4), {}, ""), ((5, 6, 7, 2), (2, 3, 4), {}, ""),
          ((3, 7, 10), (3, 4), {"data_format": "channels_first"}, "_channels_first"))],
    # channels_first, the output as wide as its channels: Keras 3.7+ on TensorFlow adds the bias along the width
    # (tf.nn.bias_add), tf.keras per channel
    *[single(kind, f"{kind.lower()}_channels_first_as_wide_as_channels", shape,
             lambda k, kind=kind, options=options: getattr(k.layers, kind)(**options, data_format="channels_first"))
      for kind, shape, options in (
          ("Conv1D", (3, 6), {"filters": 4, "kernel_size": 3}),  # output (4, 4)
          ("Conv2D", (3, 5, 6), {"filters": 4, "kernel_size": 3}),  # (4, 3, 4)
          ("Conv2DTranspose", (3, 5, 2), {"filters": 4, "kernel_size": 3}),  # (4, 7, 4)
          ("DepthwiseConv2D", (2, 5, 6), {"kernel_size": 3, "depth_multiplier": 2}),  # (4, 3, 4)
          ("SeparableConv2D", (3, 5, 6), {"filters": 4, "kernel_size": 3}))],  # (4, 3, 4)
    # RMSNormalization (Keras 3): nn.RMSNorm over the trailing axes, written out in float16
    *[single("RMSNormalization", f"rms_normalization_{name}", shape, lambda k, options=options:
             k.layers.RMSNormalization(**options), keras2=False) for name, shape, options in (
        ("last", (5, 6), {}), ("last_two", (3, 4, 5), {"axis": [-2, -1], "epsilon": 1e-3}),
        ("image_channels", (4, 5, 3), {"epsilon": 0.1}),
        ("float16", (5, 6), {"dtype": "float16"}))],
    # image preprocessing inside the model
    single("Resizing", "resizing_bilinear_up", (5, 6, 3), lambda k: k.layers.Resizing(8, 9)),
    single("Resizing", "resizing_bilinear_down", (9, 8, 3), lambda k: k.layers.Resizing(4, 3)),
    single("Resizing", "resizing_nearest", (5, 6, 3), lambda k: k.layers.Resizing(8, 4, interpolation="nearest")),
    # the largest centred window of the target's aspect ratio, then resized: wider and taller inputs, odd margins
    *[single("Resizing", f"resizing_crop_to_aspect_{name}", shape, lambda k, target=target: k.layers.Resizing(
        *target, crop_to_aspect_ratio=True)) for name, shape, target in (
            ("wider", (5, 12, 3), (4, 4)), ("taller", (11, 6, 2), (3, 4)), ("same", (6, 9, 1), (4, 6)))],
    *[single("Resizing", f"resizing_pad_to_aspect_{name}", shape, lambda k, target=target: k.layers.Resizing(
        *target, pad_to_aspect_ratio=True, fill_value=0.5), keras2=False) for name, shape, target in (
            ("wider", (5, 12, 3), (4, 4)), ("taller", (11, 6, 2), (3, 5)))],
    # Keras 3's channels_first: (N, C, H, W) resized as it is (refused before)
    *[single("Resizing", f"resizing_channels_first_{name}", shape, lambda k, options=options: k.layers.Resizing(
        data_format="channels_first", **options), keras2=False) for name, shape, options in (
            ("bilinear", (3, 5, 6), {"height": 8, "width": 4}),
            ("nearest_crop", (2, 5, 12), {"height": 4, "width": 4, "interpolation": "nearest",
                                          "crop_to_aspect_ratio": True}),
            ("pad", (2, 11, 6), {"height": 3, "width": 5, "pad_to_aspect_ratio": True, "fill_value": 0.5}))],
    *[single("RandomCrop", f"random_crop_{name}", shape, lambda k, target=target: k.layers.RandomCrop(*target),
             keras3=False) for name, shape, target in (
        ("wider", (6, 13, 3), (4, 4)), ("taller", (12, 5, 2), (5, 3)), ("smaller", (3, 4, 2), (6, 5)))],
    # a spectrogram (Keras 3.7+): every mode; window=None, as Keras needs scipy for a named window (the kernels hold
    # the window, and the test draws them at random anyway)
    *[single("STFTSpectrogram", f"stft_{mode}", shape, lambda k, mode=mode, options=options: k.layers.STFTSpectrogram(
        mode=mode, window=None, **options), keras2=False) for mode, shape, options in (
            ("log", (70, 2), {"frame_length": 16, "frame_step": 5, "fft_length": 32}),
            ("magnitude", (64, 2), {"frame_length": 16, "expand_dims": True}),
            ("psd", (2, 50), {"frame_length": 16, "frame_step": 3, "data_format": "channels_first"}),
            ("real", (40, 2), {"frame_length": 8, "frame_step": 3, "padding": "same"}),
            ("imag", (33, 1), {"frame_length": 10, "frame_step": 10, "scaling": "spectrum"}),
            ("angle", (61, 3), {"frame_length": 15, "frame_step": 4, "padding": "same"}),
            ("stft", (3, 41), {"frame_length": 8, "frame_step": 3, "padding": "same", "expand_dims": True,
                               "data_format": "channels_first"}))],
    single("CenterCrop", "center_crop", (8, 7, 3), lambda k: k.layers.CenterCrop(5, 4)),
    # images smaller than the window on one axis or both: resized to it (smart_resize), not cropped
    single("CenterCrop", "center_crop_shorter", (3, 9, 2), lambda k: k.layers.CenterCrop(5, 4)),
    single("CenterCrop", "center_crop_smaller", (2, 3, 1), lambda k: k.layers.CenterCrop(6, 5)),
    *[single("CenterCrop", f"center_crop_channels_first_{name}", shape, lambda k, size=size: k.layers.CenterCrop(
        *size, data_format="channels_first"), keras2=False) for name, shape, size in (
            ("crop", (3, 8, 7), (5, 4)), ("smaller", (2, 3, 9), (5, 4)))],
    *[Case("keras.layers.CategoryEncoding", f"category_encoding_{mode}", lambda k, mode=mode, length=length:
           on_tokens(k, (length,), k.layers.CategoryEncoding(num_tokens=6, output_mode=mode)), ((length,),),
           vocabulary=6) for mode, length in (("multi_hot", 4), ("count", 4), ("one_hot", 1))],
    *[Case("keras.layers.IntegerLookup", name, lambda k, options=options: on_tokens(
        k, (6,), k.layers.IntegerLookup(vocabulary=[3, 1, 4], **options)), ((6,),), vocabulary=6)
      for name, options in (("integer_lookup", {}), ("integer_lookup_mask", {"mask_token": 0}),
                            ("integer_lookup_oov2", {"num_oov_indices": 2}))],
    # encoded: the mask token's ids as zeros, the out-of-vocabulary indices first
    *[Case("keras.layers.IntegerLookup", f"integer_lookup_{mode}{suffix}", lambda k, mode=mode, options=options,
           length=length: on_tokens(k, (length,), k.layers.IntegerLookup(vocabulary=[3, 1, 4], output_mode=mode,
                                                                        **options)), ((length,),), vocabulary=6)
      for mode, length, suffix, options in (("one_hot", 1, "", {}), ("one_hot", 1, "_oov2", {"num_oov_indices": 2}),
                                            ("multi_hot", 6, "", {}), ("multi_hot", 6, "_mask", {"mask_token": 0}),
                                            ("count", 6, "_oov2", {"num_oov_indices": 2}),
                                            ("count", 6, "_mask", {"mask_token": 0}))],
    single("Discretization", "discretization", (5,), lambda k: k.layers.Discretization(
        bin_boundaries=[-0.5, 0.0, 0.5])),
    *[single("Discretization", f"discretization_{mode}", (length,), lambda k, mode=mode: k.layers.Discretization(
        bin_boundaries=[-0.5, 0.0, 0.5], output_mode=mode)) for mode, length in (
            ("one_hot", 1), ("multi_hot", 5), ("count", 5))],
    # ConvLSTM: the steps written out over two convolutions
    single("ConvLSTM2D", "conv_lstm2d", (3, 6, 6, 2), lambda k: k.layers.ConvLSTM2D(4, 3)),
    single("ConvLSTM2D", "conv_lstm2d_same_sequences_relu", (3, 5, 5, 2), lambda k: k.layers.ConvLSTM2D(
        4, (3, 2), padding="same", return_sequences=True, activation="relu")),
    single("ConvLSTM1D", "conv_lstm1d_backwards", (4, 7, 2), lambda k: k.layers.ConvLSTM1D(3, 3, go_backwards=True)),
    # a strided 'same' input convolution: each step padded as TensorFlow pads it (the odd pixel at the end)
    single("ConvLSTM2D", "conv_lstm2d_strided_same", (3, 8, 7, 2), lambda k: k.layers.ConvLSTM2D(
        2, (3, 2), strides=(2, 3), padding="same", return_sequences=True)),
    single("ConvLSTM1D", "conv_lstm1d_strided_same", (3, 9, 2), lambda k: k.layers.ConvLSTM1D(
        2, 4, strides=2, padding="same", go_backwards=True)),
    single("ConvLSTM3D", "conv_lstm3d_strided_same", (2, 5, 5, 5, 1), lambda k: k.layers.ConvLSTM3D(
        2, 2, strides=2, padding="same")),
    # softmax gates: over the channels, which the steps written out hold first (found by mutating saved configs)
    single("ConvLSTM2D", "conv_lstm2d_softmax_gates", (3, 5, 5, 2), lambda k: k.layers.ConvLSTM2D(
        3, 2, padding="same", activation="softmax", recurrent_activation="softmax", return_sequences=True)),
    single("ConvLSTM1D", "conv_lstm1d_same_even_kernel", (3, 7, 2), lambda k: k.layers.ConvLSTM1D(
        3, 2, padding="same", return_sequences=True)),
    single("ConvLSTM1D", "conv_lstm1d_softmax", (3, 6, 2), lambda k: k.layers.ConvLSTM1D(3, 2, activation="softmax")),
    single("ConvLSTM3D", "conv_lstm3d", (2, 4, 4, 4, 1), lambda k: k.layers.ConvLSTM3D(2, 2)),
    # RNN(cell) of each built-in cell, as that cell's layer
    single("RNN", "rnn_lstm_cell", (5, 3), lambda k: k.layers.RNN(k.layers.LSTMCell(4))),
    # the RNN's own zero_output_for_mask, over padded tokens (it was read from the cell's config, which lacks it)
    *[Case("keras.layers.RNN", f"rnn_zero_output_for_mask{suffix}", lambda k, sequences=sequences: on_tokens(
        k, (6,), lambda ids: k.layers.RNN(k.layers.LSTMCell(3), zero_output_for_mask=True,
                                           return_sequences=sequences)(k.layers.Embedding(6, 2, mask_zero=True)(ids))),
           ((6,),), vocabulary=6) for suffix, sequences in (("", False), ("_sequences", True))],
    single("RNN", "rnn_gru_cell_sequences", (5, 3), lambda k: k.layers.RNN(k.layers.GRUCell(4), return_sequences=True)),
    single("RNN", "rnn_stacked_lstm_cells", (5, 3), lambda k: k.layers.RNN([k.layers.LSTMCell(4), k.layers.LSTMCell(4)],
                                                                           return_sequences=True)),
    single("RNN", "rnn_stacked_gru_cells", (5, 3), lambda k: k.layers.RNN(k.layers.StackedRNNCells(
        [k.layers.GRUCell(3) for _ in range(3)]))),
    single("RNN", "rnn_simple_cell_backwards", (5, 3), lambda k: k.layers.RNN(k.layers.SimpleRNNCell(4),
                                                                              go_backwards=True)),
    # Bidirectional of an RNN of a cell: as Bidirectional of the cell's layer (a backward_layer of its own too)
    single("Bidirectional", "bidirectional_rnn_lstm_cell", (5, 3), lambda k: k.layers.Bidirectional(
        k.layers.RNN(k.layers.LSTMCell(4), return_sequences=True))),
    single("Bidirectional", "bidirectional_rnn_gru_cell_sum", (5, 3), lambda k: k.layers.Bidirectional(
        k.layers.RNN(k.layers.GRUCell(3)), merge_mode="sum")),
    single("Bidirectional", "bidirectional_rnn_simple_cell_backward_layer", (5, 3), lambda k: k.layers.Bidirectional(
        k.layers.RNN(k.layers.SimpleRNNCell(3), return_sequences=True), backward_layer=k.layers.RNN(
            k.layers.SimpleRNNCell(3), return_sequences=True, go_backwards=True))),
    # masks: causal (packed into nn.MultiheadAttention, and as four projections), a mask input, Keras masks
    graph("MultiHeadAttention", "attention_causal", ((5, 8),), lambda k, x: k.layers.MultiHeadAttention(2, 4)(
        x, x, use_causal_mask=True)),
    graph("MultiHeadAttention", "attention_causal_projections", ((5, 8), (7, 6)), lambda k, x, y:
          k.layers.MultiHeadAttention(2, 3, value_dim=5)(x, y, use_causal_mask=True)),
    graph("MultiHeadAttention", "attention_mask_input", ((5, 8), (5, 7)), lambda k, x, m:
          k.layers.MultiHeadAttention(2, 4)(x, x, attention_mask=k.ops.greater(m[:, :, :5], 0.0)), keras2=False),
    Case("keras.layers.MultiHeadAttention", "attention_padding_masks", lambda k: padded_attention(k), ((6,),),
         vocabulary=5),
    # Keras 3's sliding window (each query sees the keys less than 2 steps away), with and without causality,
    # packed and as projections (a longer value)
    graph("MultiHeadAttention", "attention_sliding_window", ((6, 8),), lambda k, x: k.layers.MultiHeadAttention(
        2, 4, sliding_window=2)(x, x), keras2=False),
    graph("MultiHeadAttention", "attention_sliding_window_causal", ((5, 8), (7, 6)), lambda k, x, y:
          k.layers.MultiHeadAttention(2, 3, value_dim=5, sliding_window=3)(x, y, use_causal_mask=True), keras2=False),
]
