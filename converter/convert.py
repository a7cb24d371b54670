"""Read and tag a source, then apply each layer kind's rule: the converted tensors and their record."""
from __future__ import annotations

from typing import Any, Mapping

from . import hugging_face
from .conversion import Conversion, TargetTensor
from .errors import ArgumentError, LayoutError, UnsupportedLayerError
from .graph import RAW_VARIABLES, UNRECORDED_VERSION, Layer, ModelGraph, built_version
from .kinds import KERAS1_HINT, keras1_weight_name, lookup, tag_graph
from .kinds.feature_maps import unseen_flatten_warning
from .kinds.outside_state import holds_idf_weights, outside_state_warnings
from .readers import read_source
from .readers.beside import beside_hint

OUTPUT_LAYOUTS = ("torch", "keras")
SKIP_OR_KEEP = ("--skip-unsupported leaves the layers without a rule out and --keep-unsupported writes their "
                "tensors as stored: choose one")


#: Keras 3's backends: a model computes a few layers differently on TensorFlow (forward.tensorflow_bias_add)
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")
#: Keras's own layer classes with weights that no rule converts (an `.h5` names no module: these are not the user's)
KERAS_WITHOUT_RULE = frozenset({"RandomFourierFeatures", "DenseFeatures", "DynamicEmbedding", "JaxLayer",
                                "FlaxLayer", "TorchModuleWrapper", "TFSMLayer"})


def read_tagged(source: Any, architecture: Any = None, variables: str = "raw",
                keras_backend: str | None = None, lambdas: Mapping[str, str] | None = None) -> ModelGraph:
    """Read a source and tag its tensors' roles and layouts (`converter.read`). `keras_backend`: the backend
    the model ran on, for a file that does not record it (a .keras archive; TensorFlow is assumed). `lambdas`:
    what Lambda layers compute, by name (lambda_expressions.py)."""
    graph = read_source(source, architecture, variables)
    try:
        if keras_backend is not None:
            given_backend(graph, keras_backend)
        if lambdas:  # the Lambda expressions' module only for them: 2 ms of every start-up otherwise
            from .lambda_expressions import attach as attach_lambdas

            attach_lambdas(graph, lambdas)
        tag_graph(graph)
    except BaseException:
        graph.close()
        raise
    return graph


def given_backend(graph: ModelGraph, keras_backend: str) -> None:
    """Record the backend a user names for the model, checked against the one the file records."""
    if keras_backend not in KERAS_BACKENDS:
        raise ArgumentError(f"keras_backend {keras_backend!r}: expected one of {', '.join(KERAS_BACKENDS)}")
    recorded = graph.metadata.get("backend")
    if recorded is not None and recorded != keras_backend:
        raise ArgumentError(f"{graph.source}: the file records the backend {recorded!r}; keras_backend "
                            f"{keras_backend!r} contradicts it (leave it out)")
    graph.metadata["backend"] = keras_backend


def convert_graph(graph: ModelGraph, layout: str = "torch", skip_unsupported: bool = False,
                  keep_unsupported: bool = False) -> Conversion:
    """Convert every weighted layer of `graph` to `layout` ('torch' or 'keras').

    Raises UnsupportedLayerError naming every weighted layer without a rule, unless
    `skip_unsupported`, which leaves them out and lists them in `Conversion.skipped`, or
    `keep_unsupported`, which writes their tensors as stored (Keras's layout and variable
    names) and lists them in `Conversion.kept`.
    """
    if layout not in OUTPUT_LAYOUTS:
        raise ArgumentError(f"layout must be one of {', '.join(OUTPUT_LAYOUTS)}, not {layout!r}")
    if skip_unsupported and keep_unsupported:
        raise ArgumentError(SKIP_OR_KEEP)
    conversion = Conversion(graph, layout, [])
    if layout == "torch" and graph.hub_config is not None:  # transformers' class decides names and shapes
        conversion = hugging_face.convert(graph, graph.hub_config)
    elif layout == "torch" and is_variable_tree(graph):
        message = without_graph(graph)
        if not (skip_unsupported or keep_unsupported):
            raise UnsupportedLayerError(message, [(layer.key, layer.class_name) for layer in graph.walk()])
        if keep_unsupported:
            conversion.tensors = [tensor for layer in graph.walk() for tensor in _as_stored(layer, "named variables")]
            conversion.kept = [(layer.key, layer.class_name) for layer in graph.walk() if layer.tensors]
            message = (f"{graph.source}: named variables without layers: every one kept as stored, in Keras's layout "
                       "under its Keras name (--keep-unsupported)")
        conversion.warnings.append(message)
    elif layout == "keras":
        for layer in graph.walk():
            conversion.tensors += _as_stored(layer, None)
    else:
        # a TF-IDF lookup's weights are preprocessing state, named by outside_state_warnings like its vocabulary
        labels = {layer.key: None if holds_idf_weights(layer) else _unsupported_label(layer)
                  for layer in graph.walk() if layer.tensors}
        unsupported = [(key, label) for key, label in labels.items() if label]
        if unsupported and not (skip_unsupported or keep_unsupported):
            names = ", ".join(f"{key} ({class_name})" for key, class_name in unsupported[:10]) + \
                (f" and {len(unsupported) - 10} more" if len(unsupported) > 10 else "")  # one readable line
            live = graph.format.startswith("live")
            guessed = not live and any(not layer.has_config for layer in graph.walk())
            hint = (" (this file has no architecture, so layer classes were guessed from names: "
                    "pass --architecture with the model's .keras, .h5 or config JSON; for keras.applications "
                    "weights, `keras.applications.<Model>(weights=None).save('arch.keras')` writes one)"
                    ) if guessed else ""
            own = [key for key, _ in unsupported if live and not _layer_at(graph, key).has_config]
            if own:  # a live model's classes are known: these are variables a class made itself
                hint += (f"; {', '.join(own[:3])}{' ...' if len(own) > 3 else ''}: variables a class creates itself "
                         "(add_weight), which only its own code gives a meaning")
            keras1 = graph.keras_version == UNRECORDED_VERSION and any(  # Keras 2.0 began recording its version
                keras1_weight_name(layer, tensor.role) for layer in graph.walk() if not layer.has_config
                and labels.get(layer.key) for tensor in layer.tensors)
            hint = KERAS1_HINT if keras1 else hint
            hint += beside_hint(graph) if guessed or keras1 else ""
            hub = [key for key, _ in unsupported if _is_keras_hub_class(graph, key)]
            if hub:
                hint += (f"; {', '.join(hub[:3])}{' ...' if len(hub) > 3 else ''}: KerasHub's (KerasNLP's) layers, "
                         "which convert from a .keras archive (or a .weights.h5 with its --architecture); from this "
                         "file pass --import keras_hub (Keras loads the model; the built-in layers they hold convert "
                         "by attribute path)")
            addons = [key for key, _ in unsupported if _layer_at(graph, key).kind.startswith("tensorflow_addons.")]
            if addons:
                hint += (f"; {', '.join(addons[:3])}{' ...' if len(addons) > 3 else ''}: TensorFlow Addons' layers, "
                         "of which weightport converts InstanceNormalization, GroupNormalization and "
                         "SpectralNormalization, not these yet")
            tf_hub = [key for key, _ in unsupported if _is_tf_hub_layer(_layer_at(graph, key))]
            if tf_hub:
                handle = str(_layer_at(graph, tf_hub[0]).config.get("handle"))[:120]
                hint += (f"; {', '.join(tf_hub[:3])}: TensorFlow Hub's KerasLayer, a SavedModel loaded from its "
                         f"handle ({handle}) whose variables the file holds but not the layers they belong to: no "
                         "rule can be told for them; --keep-unsupported writes them as stored under their names, "
                         "for the PyTorch model of that network you write or take")
            keras_own = [key for key, _ in unsupported if _layer_at(graph, key).class_name in KERAS_WITHOUT_RULE]
            if keras_own:
                hint += (f"; {', '.join(keras_own[:3])}{' ...' if len(keras_own) > 3 else ''}: Keras's own layers, "
                         "which no rule of weightport converts yet")
            users = [key for key, _ in unsupported if _is_users_class(graph, key)
                     and key not in hub + addons + tf_hub + keras_own]
            if users and not graph.format.startswith("live"):
                hint += (f"; {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}: your own layer classes, which a "
                         "file records by their arguments only: pass --import MODULE (the module defining them; "
                         "Keras loads the model) and the built-in layers they hold convert by attribute path")
            raise UnsupportedLayerError(
                f"{graph.source}: no rule for {len(unsupported)} layer(s) with weights: {names}{hint}; "
                "pass --skip-unsupported to convert the rest without them, --keep-unsupported to write their "
                "tensors as stored, or --layout keras to export every tensor unchanged",
                unsupported,
            )
        if keep_unsupported:
            conversion.kept = unsupported
            conversion.tensors += [tensor for layer in graph.walk() if labels.get(layer.key)
                                   for tensor in _as_stored(layer, layer.class_name)]
            conversion.warnings += [f"kept layer {key} ({class_name}) as stored: no rule for its weights, so they are "
                                    "written in Keras's layout under their Keras names; your code for the layer "
                                    "decides what they mean" for key, class_name in unsupported]
        else:
            conversion.skipped = unsupported
            conversion.warnings += [f"skipped layer {key} ({class_name}): no rule for its weights"
                                    for key, class_name in unsupported]
        context = GraphContext(graph)
        for layer in graph.walk():
            if layer.tensors and not labels[layer.key] and not holds_idf_weights(layer):
                found = lookup(layer)
                assert found is not None and found.convert is not None
                result = found.convert(layer, context)
                conversion.layers.append(result)
                conversion.tensors += result.tensors
                conversion.warnings += result.warnings
        flatten_warning = unseen_flatten_warning(graph, conversion.layers)
        conversion.warnings += [flatten_warning] if flatten_warning else []
        beside = beside_hint(graph) if any(not result.layer.has_config for result in conversion.layers) else ""
        conversion.warnings += [f"{graph.source}: converted from its weights' names alone (it holds no config)"
                                f"{beside}, to convert with the model's own (a Flatten's row order, each layer's "
                                "options)"] if beside else []
    conversion.warnings += outside_state_warnings(graph) + graph.notes
    _check_unique_keys(conversion)
    return conversion


def _as_stored(layer: Layer, kept: str | None) -> list[TargetTensor]:
    """The layer's tensors unchanged, keyed by layer and Keras role; `kept` names why in the record (the class
    without a rule) when the rest of the model is in torch layout."""
    transform = "none" if kept is None else f"none (kept as stored: no rule for {kept})"
    return [TargetTensor(f"{layer.key}.{tensor.role.replace('/', '.')}", tensor, tensor.layout, tensor.shape, transform)
            for tensor in layer.tensors]


def defaults_warnings(conversion: Conversion) -> list[str]:
    """For a report or record of layers read without a config (a weights-only file): their weights fix shapes
    only, so the module arguments and options shown beside them are Keras's defaults, not the model's."""
    guessed = [result.layer.key for result in conversion.layers if not result.layer.has_config]
    if not guessed:
        return []
    named = ", ".join(guessed[:5]) + (f" and {len(guessed) - 5} more" if len(guessed) > 5 else "")
    return [f"{conversion.graph.source} holds weights without the model's config: for {named} the module arguments "
            "and Keras options that weights do not fix (strides, padding, activations, return_sequences...) are "
            "Keras's defaults, not read from the model (the tensors convert all the same); pass --architecture "
            "with the model's .keras, .h5 or config JSON for its own"]


def is_variable_tree(graph: ModelGraph) -> bool:
    """Named variables without layers: a checkpoint without architecture, a subclassed model's file."""
    return graph.root is None and bool(graph.layers) and all(layer.class_name == RAW_VARIABLES
                                                              for layer in graph.walk())


def without_graph(graph: ModelGraph) -> str:
    """What to do with a tree of variables, which names no PyTorch module by itself."""
    subclassed = graph.metadata.get("subclassed")
    named = f" ({subclassed})" if subclassed and subclassed != "unknown" else ""
    what = (f"the weights of a subclassed Keras model{named}, which record no layers, only its attributes"
            if subclassed else "named variables without a Keras model (no architecture)")
    options = ("--import MODULE[:FACTORY] (your module with the model's classes: Keras loads it and its layers convert "
               "by attribute path), " if subclassed else "--architecture FILE (the model's .keras, .h5 or JSON), ")
    package = graph.metadata.get("subclassed_package")
    if package:  # KerasHub's own class: its package is the module to import
        what = f"a {'KerasHub' if package == 'keras_hub' else 'KerasNLP'} model{named}, whose file records no layers"
        options = (f"--import {package} (pip install {package.replace('_', '-')}: Keras builds the model with it and "
                   "its layers convert by attribute path), ")
    return (f"{graph.source}: {what}; convert with {options}or --like TEMPLATE (a state_dict of your PyTorch model: "
            "its modules decide each transform; load_into(module, ...) in Python), or --layout keras (every "
            f"variable as stored){'' if subclassed else beside_hint(graph)}")


def _layer_at(graph: ModelGraph, key: str) -> Layer:
    return next(layer for layer in graph.walk() if layer.key == key)


def _is_keras_hub_class(graph: ModelGraph, key: str) -> bool:
    """The layer at `key` is one of KerasHub's (or KerasNLP's) classes, by its module, registered name or, in an
    `.h5` file, its class name (`keras_hub>TransformerEncoder`)."""
    layer = _layer_at(graph, key)
    return layer.has_config and (layer.kind.startswith("keras_hub.") or
                                 layer.class_name.split(">")[0] in ("keras_hub", "keras_nlp"))


def _is_users_class(graph: ModelGraph, key: str) -> bool:
    """The layer at `key` is of a user's class: Keras 3 records a `registered_name` for those only (`package>Class`
    when registered, the class name for one defined in a notebook, whose module it records as null), an `.h5`
    file `package>Class` as the class name (tf.keras `Custom>Class`); or its module is outside Keras; or, in an
    `.h5` file, which records no module, its class is none of Keras's (an unregistered class: `AttentionLayer`)."""
    layer = _layer_at(graph, key)
    package = (layer.module or "keras").split(".")[0]
    return layer.has_config and (bool(layer.registered_name) or ">" in layer.class_name or
                                 package not in ("keras", "tf_keras", "tensorflow") or
                                 (layer.module is None and lookup(layer) is None))


def _is_tf_hub_layer(layer: Layer) -> bool:
    """TensorFlow Hub's `hub.KerasLayer` (TensorFlow's transfer-learning tutorials): its config names a `handle`."""
    return layer.has_config and layer.class_name == "KerasLayer" and "handle" in layer.config and (
        layer.module is None or layer.module.split(".")[0] == "tensorflow_hub")


def _unsupported_label(layer: Layer) -> str | None:
    """None when a rule converts this layer, else its kind and why not (`EinsumDense: ...`)."""
    found = lookup(layer)
    if found is None or found.convert is None:
        return layer.label
    reason = found.unsupported(layer)
    return f"{layer.class_name}: {reason}" if reason else None


class GraphContext:
    """Lets a rule look at the layers feeding its layer, within the same (nested) model, and know the Keras
    that ran it (forward.SavedBy: the file's version, and the backend the file or the user names)."""

    def __init__(self, graph: ModelGraph) -> None:
        self.keras_version = built_version(graph.keras_version)
        self.keras_major = self.keras_version[0]
        self.backend = graph.metadata.get("backend")
        self._by_path: dict[tuple[str, ...], Layer] = {}
        stack = list(graph.layers)
        while stack:
            layer = stack.pop()
            self._by_path[layer.path] = layer
            stack.extend(layer.children or [])

    def producer(self, layer: Layer) -> Layer | None:
        """The first layer feeding `layer` (for merges, whose inputs agree in shape), or None."""
        if not layer.inbound:
            return None
        return self._by_path.get(layer.path[:-1] + (layer.inbound[0],))


def _check_unique_keys(conversion: Conversion) -> None:
    seen: dict[str, str] = {}
    clashes = []
    for target in conversion.tensors:
        if target.key in seen:
            clashes.append(f"{target.key} ({seen[target.key]} and {target.source.source})")
        seen[target.key] = target.source.source
    if clashes:
        raise LayoutError(
            "layer names that differ only in characters outside [A-Za-z0-9_] give the same key: "
            + "; ".join(clashes) + "; rename those layers in Keras"
        )
