"""The names Keras gives its layers and kinds, as weightport reads them: a kind's identity (qualified_name), a layer
name made a key, a class name in Keras's snake case.
"""
from __future__ import annotations

import re

#: the packages of KerasHub's layers: KerasNLP was renamed KerasHub, its classes kept
KERAS_HUB = ("keras_hub", "keras_nlp")


def qualified_name(module: str | None, class_name: str, registered_name: str | None = None) -> str:
    """A Keras kind's identity, as the registry of kinds keys it.

    `keras.layers.Dense` for layers (Keras 2 configs name no module), `keras.ops.numpy.Add`
    for an operation Keras 3 recorded in a functional graph (its module `keras.src.ops.numpy`),
    `keras_hub.layers.<class>` for KerasHub's (and KerasNLP's) layers, `tensorflow_addons.layers.<class>` for
    TensorFlow Addons' (registered `Addons>...`), `custom.<registered name>` for a class
    registered by user code, `<module>.<class>` for
    anything else: never the same identity for a layer and an operation of the same name.
    """
    addons = _addons_class(module, class_name, registered_name)
    if addons is not None:
        return f"tensorflow_addons.layers.{addons}"
    if module in ("keras.src.ops", "keras.ops"):  # an operation whose file did not say which module
        return f"keras.ops.{class_name}"
    if module and ".ops." in f".{module}.":
        return "keras.ops." + module.split("ops.", 1)[1] + "." + class_name
    if (module or "").split(".")[0] in KERAS_HUB or (registered_name or "").split(">")[0] in KERAS_HUB:
        return f"keras_hub.layers.{class_name}"  # KerasHub's classes (KerasNLP's before it): one kind for both
    if registered_name and ">" in registered_name:
        return f"custom.{registered_name}"
    if module and module.split(".")[0] == "keras" and ".applications." in f".{module}.":
        return "keras.applications." + module.split("applications.", 1)[1] + "." + class_name  # their own layers
    if not module or module.split(".")[0] in ("keras", "tf_keras"):
        return f"keras.layers.{class_name}"
    return f"{module}.{class_name}"


#: the package name TensorFlow Addons registered its classes under (`Addons>InstanceNormalization`)
ADDONS = "Addons>"


def _addons_class(module: str | None, class_name: str, registered_name: str | None) -> str | None:
    """The class of a TensorFlow Addons layer (tf.keras wrote its registered name as the class, `.h5` and `.keras`
    alike), or None for any other."""
    for name in (class_name, registered_name or ""):
        if name.startswith(ADDONS):
            return name[len(ADDONS):]
    return class_name if (module or "").split(".")[0] == "tensorflow_addons" else None


def key_name(layer_name: str) -> str:
    """A Keras layer name as it appears in keys: characters outside [A-Za-z0-9_] become _."""
    if layer_name.isascii() and layer_name.replace("_", "a").isalnum():
        return layer_name  # most names (every tensor's key asks for its layer's, many times): no regex
    return re.sub(r"[^A-Za-z0-9_]", "_", layer_name)


def to_snake_case(class_name: str) -> str:
    """Keras's own `naming.to_snake_case`: `BatchNormalization` -> `batch_normalization`."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()
