"""Keras 1 files (Keras 1.0 to 1.2, 2016 to early 2017), read as the Keras 2 model they describe.

Keras 1 named layer arguments otherwise (`nb_filter`, `border_mode`, `subsample`, `dim_ordering`,
`output_dim`, Dropout's `p`) and weights after their layer (`dense_1_W`, `convolution2d_1_b`). Each
layer entry of the config is rewritten here as Keras 2's legacy interfaces read the same arguments
(keras/legacy/interfaces.py), and each weight takes its Keras 2 name. Only arguments listed here are
read: any other that could change what a layer computes is refused by name, as are the classes
without a rewrite (recurrent layers, whose 9 or 12 tensors Keras 2 concatenated in another gate
order, wrappers, channels-first convolution kernels). The weights' arrays are those of Keras 2 for
every class read here (Keras 2's loader changed only recurrent, Conv1D and channels-first kernels).

Keras 1 files record no backend, but TensorFlow names its variables `name:0` and Theano does not:
a Theano-trained file's convolution kernels are flipped (tagging), as Keras 2's own loader could not.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import ReadError
from .legacy_merge import MERGE

#: arguments no class here computes differently with (initializers, regularizers, constraints, training-only
#: options) or that its batch_input_shape already says
_IGNORED = frozenset({"init", "W_regularizer", "b_regularizer", "activity_regularizer", "W_constraint",
                      "b_constraint", "gamma_regularizer", "beta_regularizer", "input_dim", "input_length",
                      "trainable", "name", "batch_input_shape", "input_dtype", "dropout", "create_input_layer"})

Rewrite = Callable[[dict[str, Any], str], dict[str, Any]]


def _data_format(config: dict[str, Any], label: str) -> str:
    ordering = config.get("dim_ordering", "tf")
    if ordering == "th":
        raise ReadError(f"{label}: dim_ordering 'th' (channels first, Theano's: its kernels Keras 2 transposed "
                        "as it loaded them) is not read yet; load the file with Keras 2.0-2.3 and save it again")
    if ordering != "tf":
        raise ReadError(f"{label}: dim_ordering {str(ordering)[:20]!r} is neither 'tf' nor 'th'; the config is "
                        "malformed")
    return "channels_last"


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


def _pooling2d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"pool_size": c.get("pool_size", [2, 2]), "strides": c.get("strides"), "padding": _padding(c, label),
            "data_format": _data_format(c, label)}


def _pooling1d(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"pool_size": c.get("pool_length", 2), "strides": c.get("stride"), "padding": _padding(c, label)}


def _channels(c: dict[str, Any], label: str) -> dict[str, Any]:
    return {"data_format": _data_format(c, label)}


def _batch_norm(c: dict[str, Any], label: str) -> dict[str, Any]:
    if c.get("mode", 0) != 0:
        raise ReadError(f"{label}: BatchNormalization mode {str(c.get('mode'))[:10]} normalizes each sample by its "
                        "own statistics (Keras 1's modes 1 and 2), which no Keras 2 layer computes; not converted")
    return {"axis": c.get("axis", -1), "epsilon": c.get("epsilon", 1e-3), "momentum": c.get("momentum", 0.99),
            "center": True, "scale": True}


def _zero_padding2d(c: dict[str, Any], label: str) -> dict[str, Any]:
    padding = c.get("padding", [1, 1])
    if not (isinstance(padding, list) and len(padding) == 2 and all(type(p) is int for p in padding)):
        raise ReadError(f"{label}: padding {str(padding)[:40]} is not read yet (a pair of sizes is); not converted")
    return {"padding": padding, "data_format": _data_format(c, label)}


def _same(*keys: str) -> Rewrite:
    return lambda c, label: {key: c[key] for key in keys if key in c}


#: Keras 1 class -> (Keras 2 class, the Keras 2 arguments of its config); the Keras 1 arguments each reads
REWRITES: dict[str, tuple[str, Rewrite, frozenset[str]]] = {
    "Dense": ("Dense", _dense, frozenset({"output_dim", "activation", "bias"})),
    "Convolution2D": ("Conv2D", _conv2d, frozenset({"nb_filter", "nb_row", "nb_col", "subsample", "border_mode",
                                                    "dim_ordering", "activation", "bias"})),
    "AtrousConvolution2D": ("Conv2D", _conv2d, frozenset({"nb_filter", "nb_row", "nb_col", "subsample",
                                                          "border_mode", "dim_ordering", "activation", "bias",
                                                          "atrous_rate"})),
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
    "Cropping2D": ("Cropping2D", lambda c, label: {"cropping": c.get("cropping"), **_channels(c, label)},
                   frozenset({"cropping", "dim_ordering"})),
    "ZeroPadding2D": ("ZeroPadding2D", _zero_padding2d, frozenset({"padding", "dim_ordering"})),
    "UpSampling2D": ("UpSampling2D", lambda c, label: {"size": c.get("size", [2, 2]), **_channels(c, label)},
                     frozenset({"size", "dim_ordering"})),
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
    "BatchNormalization": {"gamma": "gamma", "beta": "beta", "running_mean": "moving_mean",
                           "running_std": "moving_variance"},  # Keras 1 kept the variance under this name
    "Embedding": {"W": "embeddings"},
}


def keras2_config(config: Any, where: str) -> Any:
    """A Keras 1 model config (Sequential's list, or a Model's layers with inbound nodes), as Keras 2's."""
    if not isinstance(config, dict):
        raise ReadError(f"{where}: the model config is not a Keras model config")
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if config.get("class_name") not in ("Sequential", "Model") or not isinstance(layers, list):
        raise ReadError(f"{where}: a Keras 1 model of class {str(config.get('class_name'))[:40]} is not read")
    rewritten = [_entry(entry, where) for entry in layers]
    if isinstance(inner, dict):
        return {**config, "class_name": "Model" if config["class_name"] == "Model" else "Sequential",
                "config": {**inner, "layers": rewritten}}
    return {**config, "config": rewritten}


def _entry(entry: Any, where: str) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), (dict, list)):
        raise ReadError(f"{where}: a layer entry of the model config has no config: {str(entry)[:80]}")
    class_name, config = entry.get("class_name"), entry["config"]
    if class_name in ("Sequential", "Model"):
        return keras2_config(entry, where)
    name = config.get("name") if isinstance(config, dict) else None
    label = f"{where}: layer {str(name)[:60]} ({str(class_name)[:40]}) of a Keras 1 file"
    if class_name == MERGE:  # read as Keras 2's legacy Merge (legacy_merge): its branches rewritten here
        branches = config.get("layers")
        if isinstance(branches, list):
            config = {**config, "layers": [_entry(branch, where) for branch in branches]}
        return {**entry, "config": config}
    if class_name == "InputLayer":
        return {**entry, "config": {**_kept(config), "dtype": config.get("input_dtype", "float32"),
                                    "sparse": config.get("sparse", False)}}
    if class_name not in REWRITES:
        raise ReadError(f"{label}: not read yet (Keras 1 laid out its arguments and weights otherwise); load the "
                        "file with Keras 2.0-2.3, which converts Keras 1 files, and save it again")
    keras2_class, rewrite, reads = REWRITES[class_name]
    unread = sorted(key for key in config if key not in reads and key not in _IGNORED)
    if unread:
        raise ReadError(f"{label}: argument {unread[0]!r} is not read; not converted")
    return {**entry, "class_name": keras2_class, "config": {**_kept(config), **rewrite(config, label)}}


def _kept(config: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {key: config[key] for key in ("name", "trainable", "batch_input_shape") if key in config}
    if "input_dtype" in config:
        kept["dtype"] = config["input_dtype"]
    return kept


def weight_name(class_name: str, layer_name: str, stored: str, where: str) -> str:
    """The Keras 2 name of a Keras 1 weight stored as `<layer name>_<name>` (`:0` already dropped)."""
    short = stored[len(layer_name) + 1:] if stored.startswith(f"{layer_name}_") else stored
    known = WEIGHT_NAMES.get(class_name, {})
    if short not in known:
        raise ReadError(f"{where}: weight {stored!r} of layer {layer_name} ({class_name}) is none Keras 1 wrote "
                        f"for it ({', '.join(known) or 'none'}); the file is damaged")
    return known[short]


def backend_of(weight_names: list[str]) -> str | None:
    """TensorFlow names variables `name:0`, Theano does not: 'tensorflow', 'theano', or None (mixed, or none)."""
    if not weight_names:
        return None
    suffixed = [name.endswith(":0") for name in weight_names]
    return "tensorflow" if all(suffixed) else "theano" if not any(suffixed) else None
