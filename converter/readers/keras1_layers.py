"""Keras 1's layer classes as Keras 2's: each class's arguments rewritten as Keras 2's legacy interfaces read them
(keras/legacy/interfaces.py), and its weights' names (keras1.py applies both to a file's config and weights)."""
from __future__ import annotations

from typing import Any, Callable

from ..errors import ReadError
from ..graph import BATCH_STATISTICS

#: arguments no class here computes differently with (initializers, regularizers, constraints, training-only
#: options) or that its batch_input_shape already says
IGNORED = frozenset({"init", "W_regularizer", "b_regularizer", "activity_regularizer", "W_constraint",
                     "b_constraint", "gamma_regularizer", "beta_regularizer", "input_dim", "input_length",
                     "trainable", "name", "batch_input_shape", "input_dtype", "dropout", "create_input_layer",
                     "inner_init", "forget_bias_init", "U_regularizer", "dropout_W", "dropout_U", "consume_less"})

#: what a Keras 1 recurrent layer returns and how it steps, named as in Keras 2
_SEQUENCE = ("return_sequences", "go_backwards", "stateful", "unroll")

Rewrite = Callable[[dict[str, Any], str], dict[str, Any]]


def _data_format(config: dict[str, Any], label: str) -> str:
    ordering = config.get("dim_ordering", "tf")
    if ordering not in ("tf", "th"):
        raise ReadError(f"{label}: dim_ordering {str(ordering)[:20]!r} is neither 'tf' nor 'th'; the config is "
                        "malformed")
    return "channels_last" if ordering == "tf" else "channels_first"


def _padding(config: dict[str, Any], label: str) -> str:
    mode = config.get("border_mode", "valid")
    if mode not in ("valid", "same"):
        raise ReadError(f"{label}: border_mode {str(mode)[:20]!r} (Theano's 'full') has no Keras 2 padding; "
                        "not converted")
    return str(mode)


def _dense(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"units": c.get("output_dim"), "activation": c.get("activation", "linear"), "use_bias": c.get("bias", True)}


def _conv2d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"filters": c.get("nb_filter"), "kernel_size": [c.get("nb_row"), c.get("nb_col")],
            "strides": c.get("subsample", [1, 1]), "padding": _padding(c, label),
            "data_format": _data_format(c, label), "dilation_rate": c.get("atrous_rate", [1, 1]),
            "activation": c.get("activation", "linear"), "use_bias": c.get("bias", True)}


def _conv1d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"filters": c.get("nb_filter"), "kernel_size": [c.get("filter_length")],
            "strides": [c.get("subsample_length", 1)], "padding": _padding(c, label),
            "dilation_rate": [c.get("atrous_rate", 1)], "activation": c.get("activation", "linear"),
            "use_bias": c.get("bias", True)}


def _simple_rnn(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"units": c.get("output_dim"), "activation": c.get("activation", "tanh"), "use_bias": True,
            **{key: c.get(key, False) for key in _SEQUENCE}}


def _lstm(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {**_simple_rnn(c, label), "recurrent_activation": c.get("inner_activation", "hard_sigmoid")}


def _gru(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {**_lstm(c, label), "reset_after": False}  # Keras 1's GRU: Keras 2's default until 2.3


def _conv3d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"filters": c.get("nb_filter"),
            "kernel_size": [c.get("kernel_dim1"), c.get("kernel_dim2"), c.get("kernel_dim3")],
            "strides": c.get("subsample", [1, 1, 1]), "padding": _padding(c, label),
            "data_format": _data_format(c, label), "activation": c.get("activation", "linear"),
            "use_bias": c.get("bias", True)}


def _pooling3d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"pool_size": c.get("pool_size", [2, 2, 2]), "strides": c.get("strides"), "padding": _padding(c, label),
            "data_format": _data_format(c, label)}


def _pooling2d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"pool_size": c.get("pool_size", [2, 2]), "strides": c.get("strides"), "padding": _padding(c, label),
            "data_format": _data_format(c, label)}


def _pooling1d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"pool_size": c.get("pool_length", 2), "strides": c.get("stride"), "padding": _padding(c, label)}


def _channels(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"data_format": _data_format(c, label)}


def _batch_norm(c: dict[str, Any], label: str) -> dict[str, Any]:
    mode = c.get("mode", 0)
    if mode not in (0, 2):  # 1: each sample by its own statistics, (x - mean) / (std + eps) with std of eps too
        raise ReadError(f"{label}: BatchNormalization mode {str(mode)[:10]} normalizes each sample by its own "
                        "statistics, which no Keras 2 layer computes; not converted")
    # mode 2: by the statistics of the batch it is given, at inference too (Keras 1's normalize_batch_in_training,
    # as Keras 2 computes in training); weightport's own key, which verify takes out for Keras (keras_meant.py)
    return {"axis": c.get("axis", -1), "epsilon": c.get("epsilon", 1e-3), "momentum": c.get("momentum", 0.99),
            "center": True, "scale": True, **({BATCH_STATISTICS: True} if mode == 2 else {})}


def _zero_padding(rank: int) -> Rewrite:
    """ZeroPadding2D/3D: Keras 1's one size per axis, padded on both sides (as Keras 2's own tuple of ints)."""
    def rewrite(c: dict[str, Any], label: str) -> dict[str, Any]:
        padding = c.get("padding", [1] * rank)
        if not (isinstance(padding, list) and len(padding) == rank and all(type(p) is int for p in padding)):
            raise ReadError(f"{label}: padding {str(padding)[:40]} is not read yet ({rank} sizes are); not "
                            "converted")
        return {"padding": padding, "data_format": _data_format(c, label)}
    return rewrite


def _same(*keys: str) -> Rewrite:
    return lambda c, label: {key: c[key] for key in keys if key in c}


#: Keras 1 class -> (Keras 2 class, the Keras 2 arguments of its config); the Keras 1 arguments each reads
REWRITES: dict[str, tuple[str, Rewrite, frozenset[str]]] = {
    "Dense": ("Dense", _dense, frozenset({"output_dim", "activation", "bias"})),
    # Keras 1.0's Dense of each step of a sequence: Keras 2's Dense computes the same on (batch, steps, features)
    "TimeDistributedDense": ("Dense", _dense, frozenset({"output_dim", "activation", "bias"})),
    "Convolution2D": ("Conv2D", _conv2d, frozenset({"nb_filter", "nb_row", "nb_col", "subsample", "border_mode",
                                                    "dim_ordering", "activation", "bias"})),
    "AtrousConvolution2D": ("Conv2D", _conv2d, frozenset({"nb_filter", "nb_row", "nb_col", "subsample",
                                                          "border_mode", "dim_ordering", "activation", "bias",
                                                          "atrous_rate"})),
    "Convolution1D": ("Conv1D", _conv1d, frozenset({"nb_filter", "filter_length", "subsample_length",
                                                    "border_mode", "activation", "bias"})),
    "AtrousConvolution1D": ("Conv1D", _conv1d, frozenset({"nb_filter", "filter_length", "subsample_length",
                                                          "border_mode", "activation", "bias", "atrous_rate"})),
    "LSTM": ("LSTM", _lstm, frozenset({"output_dim", "activation", "inner_activation", *_SEQUENCE})),
    "GRU": ("GRU", _gru, frozenset({"output_dim", "activation", "inner_activation", *_SEQUENCE})),
    "SimpleRNN": ("SimpleRNN", _simple_rnn, frozenset({"output_dim", "activation", *_SEQUENCE})),
    "MaxPooling2D": ("MaxPooling2D", _pooling2d, frozenset({"pool_size", "strides", "border_mode", "dim_ordering"})),
    "AveragePooling2D": ("AveragePooling2D", _pooling2d,
                         frozenset({"pool_size", "strides", "border_mode", "dim_ordering"})),
    "MaxPooling1D": ("MaxPooling1D", _pooling1d, frozenset({"pool_length", "stride", "border_mode"})),
    "AveragePooling1D": ("AveragePooling1D", _pooling1d, frozenset({"pool_length", "stride", "border_mode"})),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", _channels, frozenset({"dim_ordering"})),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", _channels, frozenset({"dim_ordering"})),
    "GlobalMaxPooling1D": ("GlobalMaxPooling1D", _same(), frozenset()),
    "GlobalAveragePooling1D": ("GlobalAveragePooling1D", _same(), frozenset()),
    "Flatten": ("Flatten", _same(), frozenset()),
    "Dropout": ("Dropout", lambda c, label: {"rate": c.get("p", 0.5)}, frozenset({"p"})),
    "SpatialDropout2D": ("SpatialDropout2D", lambda c, label: {"rate": c.get("p", 0.5), **_channels(c, label)},
                         frozenset({"p", "dim_ordering"})),
    "Activation": ("Activation", _same("activation"), frozenset({"activation"})),
    "ELU": ("ELU", _same("alpha"), frozenset({"alpha"})),
    "LeakyReLU": ("LeakyReLU", _same("alpha"), frozenset({"alpha"})),
    "PReLU": ("PReLU", _same("shared_axes"), frozenset({"shared_axes"})),
    "ThresholdedReLU": ("ThresholdedReLU", _same("theta"), frozenset({"theta"})),
    "GaussianNoise": ("GaussianNoise", lambda c, label: {"stddev": c.get("sigma", 0.0)}, frozenset({"sigma"})),
    "GaussianDropout": ("GaussianDropout", lambda c, label: {"rate": c.get("p", 0.5)}, frozenset({"p"})),
    "ActivityRegularization": ("ActivityRegularization", _same("l1", "l2"), frozenset({"l1", "l2"})),
    "Masking": ("Masking", _same("mask_value"), frozenset({"mask_value"})),
    "Cropping1D": ("Cropping1D", _same("cropping"), frozenset({"cropping"})),
    "ZeroPadding1D": ("ZeroPadding1D", _same("padding"), frozenset({"padding"})),
    "UpSampling1D": ("UpSampling1D", lambda c, label: {"size": c.get("length", 2)}, frozenset({"length"})),
    "Cropping2D": ("Cropping2D", lambda c, label: {"cropping": c.get("cropping"), **_channels(c, label)},
                   frozenset({"cropping", "dim_ordering"})),
    "ZeroPadding2D": ("ZeroPadding2D", _zero_padding(2), frozenset({"padding", "dim_ordering"})),
    "UpSampling2D": ("UpSampling2D", lambda c, label: {"size": c.get("size", [2, 2]), **_channels(c, label)},
                     frozenset({"size", "dim_ordering"})),
    # 3D (C3D's video models): Keras 1 kept a 'th' kernel as (out, in, d, h, w), made Keras 2's by keras1.py
    "Convolution3D": ("Conv3D", _conv3d, frozenset({"nb_filter", "kernel_dim1", "kernel_dim2", "kernel_dim3",
                                                    "subsample", "border_mode", "dim_ordering", "activation",
                                                    "bias"})),
    "MaxPooling3D": ("MaxPooling3D", _pooling3d, frozenset({"pool_size", "strides", "border_mode", "dim_ordering"})),
    "AveragePooling3D": ("AveragePooling3D", _pooling3d,
                         frozenset({"pool_size", "strides", "border_mode", "dim_ordering"})),
    "ZeroPadding3D": ("ZeroPadding3D", _zero_padding(3), frozenset({"padding", "dim_ordering"})),
    "UpSampling3D": ("UpSampling3D", lambda c, label: {"size": c.get("size", [2, 2, 2]), **_channels(c, label)},
                     frozenset({"size", "dim_ordering"})),
    "Cropping3D": ("Cropping3D", lambda c, label: {"cropping": c.get("cropping"), **_channels(c, label)},
                   frozenset({"cropping", "dim_ordering"})),
    "BatchNormalization": ("BatchNormalization", _batch_norm, frozenset({"mode", "axis", "epsilon", "momentum"})),
    "Reshape": ("Reshape", _same("target_shape"), frozenset({"target_shape"})),
    "Permute": ("Permute", _same("dims"), frozenset({"dims"})),
    "RepeatVector": ("RepeatVector", _same("n"), frozenset({"n"})),
    "Embedding": ("Embedding", _same("input_dim", "output_dim", "mask_zero", "input_length"),
                  frozenset({"output_dim", "mask_zero"})),
    "Lambda": ("Lambda", _same("function", "function_type", "output_shape", "output_shape_type", "arguments"),
               frozenset({"function", "function_type", "output_shape", "output_shape_type", "arguments"})),
}

#: Keras 1 weight names (after the layer's name) -> Keras 2's, by Keras 2 class
WEIGHT_NAMES: dict[str, dict[str, str]] = {
    "Dense": {"W": "kernel", "b": "bias"},
    "Conv2D": {"W": "kernel", "b": "bias"},
    "Conv3D": {"W": "kernel", "b": "bias"},
    "Conv1D": {"W": "kernel", "b": "bias"},
    "LSTM": {"W": "kernel", "U": "recurrent_kernel", "b": "bias"},  # consume_less='gpu': the gates joined
    "GRU": {"W": "kernel", "U": "recurrent_kernel", "b": "bias"},
    "SimpleRNN": {"W": "kernel", "U": "recurrent_kernel", "b": "bias"},
    "BatchNormalization": {"gamma": "gamma", "beta": "beta", "running_mean": "moving_mean",
                           "running_std": "moving_variance"},  # Keras 1 kept the variance under this name
    "Embedding": {"W": "embeddings"},
    "PReLU": {"alphas": "alpha"},
}
