"""A Keras 3 `.h5` model as Keras 3 loads it: its legacy loader changes a few layers from what was saved.

Where every Keras 3 (to 3.15) loads a layer otherwise than it was saved, the layer is read as Keras loads it (the
model Keras gives for this file, which verify compares with); where only the file's own, earlier Keras does, it is
read as saved (as later Keras load it). Each such layer gets a note (a conversion warning).
"""
from __future__ import annotations

from typing import Any

from ..config import Config, policy_name
from ..graph import Layer
from .keras_config import OPERATION_OF_UNKNOWN_MODULE

#: Keras 3 loads a `.h5` through its legacy saving_utils.model_from_config, which keeps a layer's `axis` list of one
#: entry as that int and drops a longer one (every Keras 3, to 3.15): the layer takes its default, -1. These
#: classes load so whenever they hold no weights, and compute along the last axis. A layer whose weights fit the
#: axes it was saved with (LayerNormalization with gamma or beta, RMSNormalization, an adapted Normalization) does
#: not load in Keras at all, and is built as saved; a wrapped layer keeps its axes.
AXIS_DROPPED_ON_LOADING = frozenset({"Softmax", "UnitNormalization", "LayerNormalization"})
#: Keras 3.0 to 3.8 dropped an int axis too (3.9 keeps it): the model as saved, and as later Keras load it, keeps it
INT_AXIS_KEPT_FROM = (3, 9)


def axes_as_keras3_loads(model: Layer, version: tuple[int, int]) -> list[str]:
    """Give the weightless layers of a Keras 3 `.h5` model (nested models too, and the operations Keras loads as
    layers) the axis Keras 3 loads them with (AXIS_DROPPED_ON_LOADING); one note for each layer changed, and for
    each int axis the file's Keras (`version`, before INT_AXIS_KEPT_FROM) loads without."""
    notes = []
    for layer in model.walk():
        axis = layer.config.get("axis")
        if (layer.module is not None and not loaded_as_layer(layer)) or axis is None:
            continue
        if isinstance(axis, (int, float)) and not isinstance(axis, bool) and axis != -1 and \
                version < INT_AXIS_KEPT_FROM:
            notes.append(f"layer {layer.key} ({layer.class_name}): Keras 3.0 to 3.8 drop a layer's axis when they "
                         f"load a .h5 (unless it is a list of one), so Keras {version[0]}.{version[1]}, which wrote "
                         f"this file, loads it with axis -1, not {axis} (unless that is the last axis, it computes "
                         "differently or does not load it); the module keeps the saved axis, as Keras 3.9 and later "
                         "load it")
            continue
        weightless = layer.class_name != "LayerNormalization" or not (
            layer.config.bool("center", True) or layer.config.bool("scale", True))
        if layer.class_name not in AXIS_DROPPED_ON_LOADING or not weightless or not isinstance(axis, list) or \
                len(axis) < 2:
            continue
        config = {key: value for key, value in layer.config.items() if key != "axis"}
        layer.config = Config(config, layer.config.where)
        notes.append(f"layer {layer.key} ({layer.class_name}): the file saves axis {axis}, which Keras 3 drops when it "
                     "loads a .h5 (an axis list of more than one entry): Keras computes it over the last axis, and so "
                     "does the module; save the model as .keras to keep its axes")
    return notes


#: Keras 3 sets a `.h5`'s weights layer by layer of the outermost model, then finalizes that layer's state (from 3.6;
#: 3.0 to 3.5 never do): an adapted Normalization computes with the mean and variance it copies then. One inside a
#: nested model or a TimeDistributed is never finalized: every Keras 3 computes it with its initial statistics
#: (mean 0, variance 1: its input unchanged). On torch, the statistics it computes with are views of its weights
#: (a reshape), which loading fills in place: it computes with them wherever it is, unless its dtype policy is mixed
#: (the cast to its compute dtype is a copy).
NORMALIZATION_FINALIZED_FROM = (3, 6)
KEEP_STATISTICS = "load the file in Keras and save it as .keras, which keeps them"


def normalizations_as_keras3_loads(model: Layer, version: tuple[int, int], backend: str | None) -> list[str]:
    """Read each adapted Normalization of a Keras 3 `.h5` model as Keras 3 loads it on the file's `backend`
    (NORMALIZATION_FINALIZED_FROM); one note for each changed, and for each the file's own Keras (`version`) loads
    without its statistics."""
    notes = []
    for layer in model.walk():
        top_level = len(layer.path) == 1  # a layer of the outermost model, not of one nested in it
        inner = layer.config.get("layer") if layer.class_name == "TimeDistributed" else None
        wrapped = isinstance(inner, dict) and inner.get("class_name") == "Normalization" and \
            isinstance(inner.get("config"), dict)
        if layer.module is not None or not layer.tensors or not (wrapped or layer.class_name == "Normalization"):
            continue
        own = inner["config"] if wrapped and isinstance(inner, dict) else layer.config  # the Normalization's
        if backend == "torch" and not _mixed_policy(own):
            if not (top_level and not wrapped):
                notes.append(f"layer {layer.key} ({layer.class_name}): Keras on torch, which wrote this file, loads an "
                             "adapted Normalization inside a nested model or a TimeDistributed from a .h5 with its "
                             "mean and variance, and the module keeps them; Keras on TensorFlow or JAX loads it as "
                             "its input unchanged")
            continue
        if top_level and not wrapped:
            if version < NORMALIZATION_FINALIZED_FROM:
                notes.append(f"layer {layer.key} (Normalization): Keras 3.0 to 3.5 load an adapted Normalization "
                             f"from a .h5 without its mean and variance (they never finalize its state), so Keras "
                             f"{version[0]}.{version[1]}, which wrote this file, computes it as its input unchanged "
                             "once it loads it; the module uses the saved statistics, as Keras 3.6 and later load it")
            continue
        initial = {"mean": 0.0, "variance": 1.0}
        if wrapped:
            assert isinstance(inner, dict)
            config = {**layer.config, "layer": {**inner, "config": {**inner["config"], **initial}}}
        else:
            config = {**layer.config, **initial}
        layer.config, layer.tensors = Config(config, layer.config.where), []
        where = "a TimeDistributed" if wrapped else "a nested model"
        notes.append(f"layer {layer.key} ({layer.class_name}): Keras 3 loads an adapted Normalization in {where} "
                     "from a .h5 without its mean and variance (it never finalizes its state there), so Keras computes "
                     "it as its input unchanged, and so does the module; its statistics are not converted: "
                     f"{KEEP_STATISTICS}")
    return notes


#: Operations of a functional graph whose class name is a layer's: Keras 3's legacy loader finds them among the
#: layers (every Keras 3, to 3.15), and these two load so (their config, `axis`, fits the layer, and so does their
#: call). Add, Subtract, Multiply, Maximum and Minimum take two operands, Average, Dot and Reshape other arguments:
#: Keras cannot load those. The layers compute as the operations but for masks: Concatenate passes its inputs' masks
#: on (it is read as that layer); Softmax applies one, which mostly does not fit its input (Keras then fails to run
#: the model): it is kept as the operation, and only its axis is read as Keras loads it.
OPERATIONS_LOADED_AS_LAYERS = frozenset({"Concatenate", "Softmax"})
READ_AS_LAYERS = frozenset({"Concatenate"})
#: from which Keras 3 a layer called on a list of tensors gives its output a mask (3.0 to 3.3 give none; Keras 3.4
#: to 3.9 then fail to run a masked Concatenate loaded so, 3.10 and later pass the masks on)
LIST_CALL_MASKS_FROM = (3, 4)


def loaded_as_layer(layer: Layer) -> bool:
    """Whether this operation of a Keras 3 `.h5` is one Keras loads as the layer of its name."""
    return layer.module == OPERATION_OF_UNKNOWN_MODULE and layer.class_name in OPERATIONS_LOADED_AS_LAYERS


def operations_as_keras3_loads(model: Layer, version: tuple[int, int]) -> list[str]:
    """Read the operations READ_AS_LAYERS of a Keras 3 `.h5` model as the layers Keras loads; a note for each where
    the model makes masks and the file's Keras (`version`) passes them on (elsewhere the layer computes as the
    operation)."""
    masked = version >= LIST_CALL_MASKS_FROM and any(
        layer.class_name == "Masking" or layer.config.bool("mask_zero", False) for layer in model.walk())
    notes = []
    for layer in model.walk():
        if not loaded_as_layer(layer) or layer.class_name not in READ_AS_LAYERS:
            continue
        layer.module = None
        if masked:
            notes.append(f"layer {layer.key} ({layer.class_name}): Keras 3 loads keras.ops.concatenate from a .h5 as "
                         "the Concatenate layer, which passes its inputs' masks on to the layers after it (the "
                         "operation did not; Keras 3.4 to 3.9 fail to run it so): Keras 3.10 and later compute them "
                         "with those masks, and so does the module; save the model as .keras to keep the operation")
    return notes


def _mixed_policy(config: Any) -> bool:
    """Whether a layer's dtype policy computes in another dtype than its weights' ("mixed_float16")."""
    policy = policy_name(config.get("dtype"))
    return isinstance(policy, str) and policy.startswith("mixed_")


def as_keras3_loads(model: Layer, version: tuple[int, int], backend: str | None) -> list[str]:
    """Read a Keras 3 `.h5` model (its layers' weights attached) as Keras 3 loads it on the file's `backend`; the
    notes of what changed."""
    return (operations_as_keras3_loads(model, version) + axes_as_keras3_loads(model, version)
            + normalizations_as_keras3_loads(model, version, backend))
