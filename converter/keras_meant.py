"""Old files as their writer meant them, for today's Keras to build (verify): cuDNN layers and GRUs of Keras before
2.1.3 built as the layers computing the same, Keras 2.0/2.1's legacy Merge as the functional model it stands for,
Theano-trained kernels flipped, a TensorFlow.js model given the weights weightport read; and the notes saying so.

Imports neither keras nor tf_keras: it works on configs and on models already built.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .errors import ReadError
from .graph import BATCH_STATISTICS, ModelGraph
from .keras_names import ADDONS
from .keras_lambdas import expressions_of
from .readers import legacy_merge


#: the layers whose kernels Keras 2 flipped when it loaded a Theano-trained file on TensorFlow (its saving.py,
#: _need_convert_kernel; Conv1D/3D transposed and ConvLSTM1D/3D came later, and convolve alike)
_CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                 "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


#: cuDNN-only layers (they run on NVIDIA GPUs only), and the arguments of the layer that computes the same on any
#: device: Keras's load_weights converts cuDNN weights for it (hdf5_format._convert_rnn_weights)
_CUDNN_TWINS: dict[str, tuple[str, dict[str, Any]]] = {
    "CuDNNLSTM": ("LSTM", {"activation": "tanh", "recurrent_activation": "sigmoid"}),
    "CuDNNGRU": ("GRU", {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True})}


#: TensorFlow Addons' layers, as tf.keras wrote their class (no TensorFlow today runs tfa), and Keras's own that
#: compute the same: its GroupNormalization, ported from tfa's (a group per channel for InstanceNormalization).
#: (tfa's SpectralNormalization has none here: tf_keras 2.21's cannot be built, keras_side._unloadable_hint)
_ADDONS_TWINS = {f"{ADDONS}InstanceNormalization": "GroupNormalization",
                 f"{ADDONS}GroupNormalization": "GroupNormalization"}
_ADDONS_KINDS = {f"tensorflow_addons.layers.{name[len(ADDONS):]}" for name in _ADDONS_TWINS}  # (graph.py's names)


def as_meant(config: Any, cudnn: bool = True, gru: bool = True) -> Any:
    """`config` as the Keras that wrote it meant it, for a Keras here to build: each CuDNNLSTM/CuDNNGRU the
    LSTM/GRU that computes the same (`cudnn`; Keras's load_weights converts their weights), and each GRU without
    reset_after (Keras before 2.1.3 had no such option: False, where later Keras defaults to True) given
    reset_after=False (`gru`)."""
    if isinstance(config, list):
        return [as_meant(value, cudnn, gru) for value in config]
    if not isinstance(config, dict):
        return config
    inner: Any = config.get("config")
    merged = legacy_merge.entry_as_functional(config)
    if merged is not None:  # a Keras 2.0/2.1 Sequential starting with a legacy Merge, which later Keras cannot build
        return as_meant({**config, "class_name": "Model", "config": merged}, cudnn, gru)
    if config.get("class_name") == legacy_merge.MERGE and isinstance(inner, dict) and "layers" not in inner:
        merge_class, merge_config = legacy_merge.merge_layer(inner, "the model config")  # a functional merge()
        return {**config, "class_name": merge_class, "config": merge_config}
    class_name = config.get("class_name")  # any JSON value in a crafted file: only a name is looked up
    twin = _CUDNN_TWINS.get(class_name) if isinstance(class_name, str) and isinstance(inner, dict) and cudnn else None
    if twin is not None:
        return {**config, "class_name": twin[0], "config": {**inner, **twin[1]}}
    if gru and config.get("class_name") == "GRU" and isinstance(inner, dict) and "reset_after" not in inner:
        return {**config, "config": {**inner, "reset_after": False}}
    addons = next((name for name in (class_name, config.get("registered_name"))
                   if isinstance(name, str) and name in _ADDONS_TWINS), None)
    if addons is not None and isinstance(inner, dict):  # (a to_json() names tfa's module and its registered name)
        entry = {key: value for key, value in config.items() if key not in ("module", "registered_name")}
        if addons.endswith("InstanceNormalization"):
            inner = {**inner, "groups": -1}  # one per channel
        return {**entry, "class_name": _ADDONS_TWINS[addons], "config": as_meant(inner, cudnn, gru)}
    if config.get("class_name") == "BatchNormalization" and isinstance(inner, dict) and BATCH_STATISTICS in inner:
        return {**config, "config": {key: value for key, value in inner.items() if key != BATCH_STATISTICS}}
    return {key: as_meant(value, cudnn, gru) for key, value in config.items()}


#: how verify had Keras hold the weights of a file no Keras here loads (keras_regrouped.py)
_GIVEN = ("Keras built the model from its config and loaded the weights weightport read, each written where Keras's "
          "own save_weights keeps that variable (by its path inside its layer's group); this checks the conversion, "
          "and not which of the file's layer groups weightport read for each layer (weightport's tests check that "
          "against the outputs TensorFlow computed)")


def verification_notes(graph: ModelGraph, model: Any, checked: Any = None) -> list[str]:
    """What load_keras_model and this function did to have Keras load the model the file describes, for the
    report: cuDNN layers and old GRUs built as meant (as_meant), a Keras 2.0/2.1 config's numpy values read (each
    by model_from_json, then Keras's load_weights), a Theano-trained file's convolution kernels flipped (here)."""
    notes = []
    expressions = expressions_of(graph)
    if expressions:
        notes.append(f"Lambda layers ({', '.join(f'{name}: {e.text}' for name, e in expressions.items())[:300]}): "
                     "Keras ran the expressions given in place of the functions stored in the file (never run): "
                     "this checks the conversion given those expressions, not that they are what the file's code "
                     "computes")
    if graph.format == "tfjs-layers":
        notes.append("a TensorFlow.js model, which no Keras reads: Keras built the model from its config and was "
                     "given the weights weightport read, layer by layer; this checks what the conversion made of "
                     "them, not their reading (which the manifest's sizes and offsets check)")
    if graph.metadata.get("layer_groups") == "_layer_checkpoint_dependencies":
        notes.append(f"a .keras archive of tf.keras {graph.keras_version} (weights under "
                     "_layer_checkpoint_dependencies), which no later Keras loads: " + _GIVEN)
    if graph.metadata.get("written_on") == "windows":
        notes.append(f"written by tf.keras {graph.keras_version} on Windows (group paths joined with backslashes), "
                     "which Keras loads on Windows alone: " + _GIVEN)
    if graph.metadata.get("keras1"):
        version = graph.metadata["keras1"]
        notes.append(f"written by Keras {version}{'' if 'Keras 1' in version else ' (Keras 1)'}, which no Keras today "
                     "loads: Keras built "
                     "the Keras 2 model its config describes (its arguments as Keras 2 renamed them), then loaded the "
                     "file's weights by layer name with its own load_weights")
    if legacy_merge.holds_merge(checked):
        notes.append("a legacy Merge (Keras 2.0/2.1), which later Keras cannot build: Keras built the merge layer "
                     "of its mode in its place (a Sequential starting with one: the functional model it stands for, "
                     "an input per branch), then loaded the file's weights by layer name with its own load_weights")
    rebuilt = as_meant(checked, cudnn=False, gru=False)  # the legacy Merge alone
    if as_meant(checked, gru=False) != rebuilt:
        notes.append("CuDNNLSTM/CuDNNGRU run on NVIDIA GPUs only: Keras built the LSTM/GRU(reset_after=True) that "
                     "computes the same for each, and its load_weights converted the file's weights for them")
    if as_meant(checked, cudnn=False) != rebuilt:
        notes.append("GRU layers without reset_after (Keras before 2.1.3 had no such option, and computed as "
                     "reset_after=False, which later Keras no longer defaults to): Keras built them with "
                     "reset_after=False")
    if graph.metadata.get("numpy_values"):
        notes.append("the file's config holds numpy values as Keras 2.0 and 2.1 wrote them ({'type': 'ndarray', "
                     "'value': ...}), which no later Keras reads: Keras built the model from the config with those "
                     "values read, then loaded the file's weights with its own load_weights")
    addons = sorted({layer.kind.rsplit(".", 1)[1] for layer in graph.every_layer() if layer.kind in _ADDONS_KINDS})
    if addons:
        notes.append(f"TensorFlow Addons' {' and '.join(addons)}, which no "
                     "TensorFlow here runs (tfa ended in 2024): Keras built its own GroupNormalization, ported from "
                     "tfa's and computing the same (a group per channel for InstanceNormalization), in their place")
    batch_statistics = _in_batch_statistics(model, {layer.name for layer in graph.every_layer() if layer.has_config
                                                     and layer.config.bool(BATCH_STATISTICS, False)})
    if batch_statistics:
        notes.append(f"BatchNormalization of Keras 1's mode 2 ({', '.join(batch_statistics)[:200]}): normalizing by "
                     "the statistics of the batch it is given at inference too, which Keras 2 computes in training "
                     "alone: Keras ran those layers as in training (their moving statistics are never used)")
    if graph.metadata.get("backend") == "theano":
        flipped = flip_theano_kernels(model)
        if flipped:
            notes.append(f"trained with Theano: the kernels of {flipped} convolution layers flipped on the Keras "
                         "side too, as Keras 2 flipped them to load the file on TensorFlow (tf_keras loads them "
                         "unflipped)")
    return notes


def _in_batch_statistics(model: Any, names: set[str]) -> list[str]:
    """Have the Keras model's layers of `names` compute as in training (by the batch's statistics) in any call."""
    patched = []
    for layer in _all_layers(model):
        if layer.name in names:
            original = layer.call

            def call(inputs: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                kwargs["training"] = True
                return _original(inputs, *args, **kwargs)

            layer.call = call
            patched.append(layer.name)
    return patched


def flip_theano_kernels(model: Any) -> int:
    """Flip the convolution kernels of a Theano-trained file's model as Keras 2 did to load it on TensorFlow
    (tf_keras loads them as stored, unflipped: a different model); how many layers."""
    flipped = []
    for layer in _all_layers(model):
        if type(layer).__name__ in _CONVOLUTIONS:
            layer.set_weights([np.ascontiguousarray(value[(slice(None, None, -1),) * (value.ndim - 2)])
                               if value.ndim >= 3 else value for value in layer.get_weights()])
            flipped.append(layer.name)
    return len(flipped)


def given_weights(model: Any, graph: ModelGraph) -> None:
    """Set each weighted layer of the Keras `model` (nested models' layers by their own names) to the source tensors
    weightport read for the layer of that name, in their order (a TensorFlow.js manifest lists a layer's weights
    in the order Keras holds them)."""
    read = {layer.name: layer for layer in graph.root.walk()} if graph.root is not None else {}
    for layer in weighted_layers(model):
        source = read.get(layer.name)
        if source is None or len(source.tensors) != len(layer.weights):
            raise ReadError(f"{graph.source}: Keras's layer {layer.name} holds {len(layer.weights)} weights and the "
                            f"file {len(source.tensors) if source else 'none'} for it; not one model")
        layer.set_weights([tensor.load() for tensor in source.tensors])


def weighted_layers(model: Any) -> list[Any]:
    """The layers of the Keras `model` holding variables: nested models opened up, wrappers kept whole (their
    variables are theirs)."""
    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop(0)
        if hasattr(layer, "layers") and not hasattr(layer, "layer"):  # a nested model, not a wrapper
            pending += list(layer.layers)
        elif layer.weights:
            found.append(layer)
    return found


def _all_layers(model: Any) -> Iterator[Any]:
    """Every layer inside `model`: nested models' and wrappers' (TimeDistributed, Bidirectional) too, once."""
    seen: set[int] = set()
    pending = list(getattr(model, "layers", []))
    while pending:
        layer = pending.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        pending += list(getattr(layer, "layers", []))
        pending += [getattr(layer, name) for name in ("layer", "forward_layer", "backward_layer")
                    if getattr(layer, name, None) is not None]
