"""Keras 1 files (Keras 1.0 to 1.2, 2016 to early 2017), read as the Keras 2 model they describe.

Keras 1 named layer arguments otherwise (`nb_filter`, `border_mode`, `subsample`, `dim_ordering`,
`output_dim`, Dropout's `p`) and weights after their layer (`dense_1_W`, `convolution2d_1_b`). Each
layer entry of the config is rewritten here as Keras 2's legacy interfaces read the same arguments
(keras/legacy/interfaces.py; each class's rewrite in keras1_layers.py), and each weight takes its
Keras 2 name. Only arguments listed there are read: any other that could change what a layer
computes is refused by name, as are the classes without a rewrite (wrappers among them). Keras 2's
loader regrouped a few layers' weights: a recurrent layer's gates, a Conv1D kernel and a
channels-first Conv2D or Conv3D kernel; so does this module, as it did.

Keras 1 files record no backend, but TensorFlow names its variables `name:0` and Theano does not:
a Theano-trained file's convolution kernels are flipped (tagging), as Keras 2's own loader could not.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ReadError
from ..graph import Layer, Tensor
from .keras1_layers import IGNORED, REWRITES, WEIGHT_NAMES
from .legacy_merge import MERGE

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

#: classes only Keras 1 had, and those whose Keras 1 width argument Keras 2 renamed (`output_dim` -> `units`)
_KERAS1_ONLY = frozenset({"Convolution1D", "Convolution2D", "Convolution3D", "AtrousConvolution1D",
                          "AtrousConvolution2D", "Deconvolution2D", "TimeDistributedDense"})  # (not Highway: a
#: class name users give their own layers too)
_RENAMED_WIDTH = frozenset({"Dense", "LSTM", "GRU", "SimpleRNN"})

#: the Keras version of a file that records none (Keras 1.0 and 1.1) but whose config is Keras 1's
UNRECORDED_KERAS1 = "1.x (not stored: its config is Keras 1's)"


def looks_keras1(config: Any) -> bool:
    """Whether a model config holds a layer only Keras 1 wrote: a Keras 1 class, or a Dense or recurrent layer
    given its width as `output_dim` (Keras 2's is `units`)."""
    if isinstance(config, list):
        return any(looks_keras1(value) for value in config)
    if not isinstance(config, dict):
        return False
    inner = config.get("config")
    if config.get("class_name") in _KERAS1_ONLY or (
            config.get("class_name") in _RENAMED_WIDTH and isinstance(inner, dict)
            and "output_dim" in inner and "units" not in inner):
        return True
    return any(looks_keras1(value) for value in config.values())


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
    if not isinstance(config, dict):
        raise ReadError(f"{where}: a layer of class {str(class_name)[:40]} of a Keras 1 file has a list for its "
                        "config; the config is malformed")
    name = config.get("name")
    label = f"{where}: layer {str(name)[:60]} ({str(class_name)[:40]}) of a Keras 1 file"
    if class_name == MERGE:  # read as Keras 2's legacy Merge (legacy_merge): its branches rewritten here
        branches = config.get("layers")
        if isinstance(branches, list):
            config = {**config, "layers": [_entry(branch, where) for branch in branches]}
        return {**entry, "config": config}
    if class_name in WRAPPERS:  # its inner layer rewritten; its weights named after that layer
        inner = config.get("layer")
        unread = sorted(key for key in config if key not in ("layer", "merge_mode", *IGNORED))
        if unread or not isinstance(inner, dict) or inner.get("class_name") in ("Sequential", "Model", MERGE):
            raise ReadError(f"{label}: {'argument ' + repr(unread[0]) if unread else 'its inner layer'} is not "
                            "read; not converted")
        merge_mode = {"merge_mode": config.get("merge_mode", "concat")} if class_name == "Bidirectional" else {}
        return {**entry, "config": {**_kept(config), "layer": _entry(inner, where), **merge_mode}}
    if class_name == "InputLayer":
        return {**entry, "config": {**_kept(config), "dtype": config.get("input_dtype", "float32"),
                                    "sparse": config.get("sparse", False)}}
    if class_name not in REWRITES:
        raise ReadError(f"{label}: not read yet (Keras 1 laid out its arguments and weights otherwise); load the "
                        "file with Keras 2.0-2.3, which converts Keras 1 files, and save it again")
    keras2_class, rewrite, reads = REWRITES[class_name]
    unread = sorted(key for key in config if key not in reads and key not in IGNORED)
    if unread:
        raise ReadError(f"{label}: argument {unread[0]!r} is not read; not converted")
    config = {key: _whole(value) if key in _SIZES else value for key, value in config.items()}
    return {**entry, "class_name": keras2_class, "config": {**_kept(config), **rewrite(config, label)}}


#: arguments that are sizes, which Python 2's arithmetic left as whole floats in some files (`pool_size` [23.0,
#: 23.0]: the backend ran them as the whole numbers they are, and so does this reading; any other float is left for
#: the checks to refuse)
_SIZES = frozenset({"pool_size", "pool_length", "strides", "stride", "nb_row", "nb_col", "nb_filter", "subsample",
                    "subsample_length", "filter_length", "output_dim", "input_dim", "input_length", "size", "length",
                    "padding", "cropping", "atrous_rate", "batch_input_shape"})


def _whole(value: Any) -> Any:
    """`value` with each float that is a whole number (23.0) as an int, in lists too."""
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 31 else value


def _kept(config: dict[str, Any]) -> dict[str, Any]:
    """The arguments every layer keeps. A first layer's `input_dtype` is left out: it typed the input Keras 1 made
    for it (an Embedding's ids as int32), where Keras 2's `dtype` would be the layer's own computing dtype; Keras 1
    computed in float32, and a Keras 2 Sequential gives an Embedding float ids, which it casts."""
    return {key: config[key] for key in ("name", "trainable", "batch_input_shape") if key in config}


#: Keras 1 wrappers read: their inner layer's weights named after it (Bidirectional: its two copies')
WRAPPERS = ("TimeDistributed", "Bidirectional")

#: a Keras 1 recurrent layer's gates as it stored them one by one (consume_less 'cpu' or 'mem'), in the order
#: Keras 2 joins them (LSTM: i, f, c, o, where Keras 1 listed i, c, f, o; GRU: z, r, h)
GATES = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h")}


def keras2_tensors(layer: Layer, where: str) -> list[Tensor]:
    """A Keras 1 layer's tensors (roles `<layer name>_<name>`, `:0` already dropped) as Keras 2's: renamed, a
    recurrent layer's gates joined, a Conv1D kernel (stored as a one-column Conv2D's) made (k, in, out); a
    TimeDistributed layer's are its inner layer's, named after that layer."""
    if layer.class_name not in WRAPPERS:
        return _as_keras2(layer.class_name, layer.name, layer.config, layer.tensors, where)
    inner = layer.config.get("layer")
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise ReadError(f"{where}: layer {layer.name} ({layer.class_name}) wraps no layer config; the file is damaged")
    class_name, name = str(inner.get("class_name")), str(inner["config"].get("name"))
    if layer.class_name == "TimeDistributed":
        return _as_keras2(class_name, name, inner["config"], layer.tensors, where)
    # Bidirectional: its forward copy's weights (named `forward_<layer>_...`), then its backward copy's
    directions = {direction: [tensor for tensor in layer.tensors if tensor.role.startswith(f"{direction}_{name}_")]
                  for direction in ("forward", "backward")}
    if not all(directions.values()) or sum(map(len, directions.values())) != len(layer.tensors):
        raise ReadError(f"{where}: layer {layer.name} (Bidirectional) holds weights of neither its forward nor its "
                        f"backward {name} (forward_{name}_..., backward_{name}_...); the file is damaged")
    return [tensor for direction, own in directions.items()
            for tensor in _as_keras2(class_name, f"{direction}_{name}", inner["config"], own, where)]


def _as_keras2(class_name: str, name: str, config: Any, tensors: list[Tensor], where: str) -> list[Tensor]:
    label = f"layer {name} ({class_name})"
    stored = {(t.role[len(name) + 1:] if t.role.startswith(f"{name}_") else t.role): t for t in tensors}
    gates = GATES.get(class_name)
    if gates is not None and set(stored) == {f"{kind}_{gate}" for kind in "WUb" for gate in gates}:
        return [_joined(role, [stored[f"{kind}_{gate}"] for gate in gates], label, where)
                for kind, role in (("W", "kernel"), ("U", "recurrent_kernel"), ("b", "bias"))]
    known = WEIGHT_NAMES.get(class_name, {})
    unknown = [weight for weight in stored if weight not in known]
    if unknown:
        raise ReadError(f"{where}: weight {unknown[0]!r} of {label} is none Keras 1 wrote for it "
                        f"({', '.join(known) or 'none'}); the file is damaged")
    for weight, tensor in stored.items():
        tensor.role = known[weight]
    result = list(stored.values())
    if class_name == "Conv1D":
        result = [_conv1d_kernel(t, label, config, where) if t.role == "kernel" else t for t in result]
    if class_name in ("Conv2D", "Conv3D") and config.get("data_format") == "channels_first":
        result = [_channels_first_kernel(t, label, where) if t.role == "kernel" else t for t in result]
    return result


def _channels_first_kernel(kernel: Tensor, label: str, where: str) -> Tensor:
    """Keras 1 kept a channels-first ('th') Conv2D or Conv3D kernel as (out, in, *spatial): Keras 2's (*spatial, in,
    out), as its loader made it."""
    if len(kernel.shape) not in (4, 5):
        raise ReadError(f"{where}: the kernel of {label} has shape {kernel.shape}, where Keras 1 kept (out, in, "
                        "*spatial); the file is damaged")
    spatial = len(kernel.shape) - 2
    order = (*range(2, 2 + spatial), 1, 0)
    return Tensor("kernel", tuple(kernel.shape[axis] for axis in order), kernel.dtype,
                  f"{kernel.source} (Keras 1's 'th' order)", lambda: np.transpose(kernel.load(), order))


def _joined(role: str, parts: list[Tensor], label: str, where: str) -> Tensor:
    """One tensor of `parts` side by side along their last axis (read when loaded)."""
    if len({part.shape for part in parts}) != 1 or len({part.dtype for part in parts}) != 1:
        raise ReadError(f"{where}: the gates of {label} differ in shape or dtype "
                        f"({', '.join(str(part.shape) for part in parts)}); the file is damaged")
    shape = parts[0].shape[:-1] + (parts[0].shape[-1] * len(parts),)
    return Tensor(role, shape, parts[0].dtype, f"{parts[0].source} (its gates joined, Keras 2's order)",
                  lambda: np.concatenate([part.load() for part in parts], axis=-1))


def _conv1d_kernel(kernel: Tensor, label: str, config: Any, where: str) -> Tensor:
    """Keras 1.2 kept a Conv1D kernel as (k, 1, in, out), Keras 1.1 as (out, in, k, 1): (k, in, out) either way,
    as Keras 2's loader made it (the Keras 1.2 form tried first, as there)."""
    size, filters = config.get("kernel_size", [None])[0], config.get("filters")
    shape = kernel.shape
    if len(shape) == 4 and shape[:2] == (size, 1) and shape[3] == filters:
        return Tensor("kernel", (shape[0], shape[2], shape[3]), kernel.dtype, kernel.source,
                      lambda: kernel.load()[:, 0])
    if len(shape) == 4 and shape[0] == filters and shape[2:] == (size, 1):
        return Tensor("kernel", (shape[2], shape[1], shape[0]), kernel.dtype, f"{kernel.source} (Keras 1.1's order)",
                      lambda: np.transpose(kernel.load(), (2, 3, 1, 0))[:, 0])
    raise ReadError(f"{where}: the kernel of {label} has shape {shape}, neither Keras 1.2's "
                    f"(k, 1, in, out) nor Keras 1.1's (out, in, k, 1) for {filters} filters of {size}; the file is "
                    "damaged")


def backend_of(weight_names: list[str]) -> str | None:
    """TensorFlow names variables `name:0`, Theano does not: 'tensorflow', 'theano', or None (mixed, or none)."""
    if not weight_names:
        return None
    suffixed = [name.endswith(":0") for name in weight_names]
    return "tensorflow" if all(suffixed) else "theano" if not any(suffixed) else None
