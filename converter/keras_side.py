"""The Keras side of verification: loading the file in Keras only when that is safe, and running it.

Imports keras (or tf_keras) only inside the functions that need it.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import json
import os
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from .code_check import code_carrying
from .errors import ConverterError, MissingDependencyError, ReadError, UnsafeFileError
from .graph import ModelGraph
from .keras_lambdas import custom_objects, expressions_of, with_expressions
from .keras_meant import as_meant, given_weights
from .keras_regrouped import load_regrouped
from .lambda_expressions import lambda_layers, option_example
from .readers import architecture_config, keras1, legacy_merge, model_folder, tf_checkpoint, tf_paths
from .readers.beside import beside_hint
from .user_code import user_module


#: weights-only files verify can load into a model built from --architecture, with Keras's own load_weights (a
#: Keras 3 model.export() SavedModel: by the position TensorFlow's checkpoint reader gives each variable)
WEIGHTS_ONLY_FORMATS = ("legacy-h5-weights", "keras-weights", "keras-weights-sharded", "tf-checkpoint",
                        "tf-saved-model")


def check_loadable(source: Any, graph: ModelGraph, architecture: Any) -> Any:
    """Refuse, before Keras is imported, a file whose loading would run code or differ from what was converted;
    return the config checked, which load_keras_model builds for a weights-only file (None for a live model).

    Keras rebuilds the model from the file's own config (`graph.own_config`, as the reader
    found it), or for a weights-only file from the `architecture` given: it must carry no code
    (code_check), and an `architecture` given with a full file must be that file's own config.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None  # a live model: already loaded by its owner
    path = os.fspath(source)
    own = graph.own_config
    if own is None and architecture is None and os.path.isdir(path) and graph.format.startswith("keras-weights"):
        architecture = model_folder(path, None)[1]  # a Keras model folder: the config.json beside its weights
    if own is None:  # a weights-only file: Keras builds the architecture given and loads the weights itself
        if architecture is None or graph.format not in WEIGHTS_ONLY_FORMATS:
            raise ReadError(f"{path}: verify needs the model's architecture: this file holds weights only; pass "
                            "--architecture with the model's .keras, full-model .h5 or config JSON (Keras builds "
                            "the model from it and loads these weights with its own load_weights)"
                            f"{beside_hint(graph)}"
                            if graph.format in WEIGHTS_ONLY_FORMATS else
                            f"{path}: verify needs a full model file (.keras, or an .h5 from model.save): Keras "
                            "rebuilds the model from the file's own config, and this file holds weights only")
        own = _uncompiled(architecture_config(architecture))  # what load_keras_model builds
        if graph.metadata.get("keras1"):  # a Keras 1 model.to_json(): built as Keras 2's model (as converted)
            own = keras1.keras2_config(own, path)
    elif graph.format == "keras-archive":
        # Keras's `.keras` loader sets the top-level compile_config to None before it rebuilds a model loaded
        # with compile=False, as verify loads it: a custom loss or metric named there (common) is never loaded.
        # A nested model's compile_config is compiled even so, and still checked.
        own = _uncompiled(own)
    own = with_expressions(own, graph)  # Lambdas the user said what they compute: Keras runs that instead
    found = code_carrying(as_meant(own))  # what Keras builds: TensorFlow Addons' layers by Keras's own twins
    if found:
        lambdas = [layer.key for layer in lambda_layers(graph) if layer.expression is None]
        hint = (f", or say what each Lambda computes ({option_example(lambdas[0])}; README: Lambda layers): "
                "Keras then runs that in its place" if lambdas else "")
        raise UnsafeFileError(f"{path}: verify would have Keras load {found[0]}"
                             f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}; weightport never "
                             f"lets code from a file run: compare with your own code instead{hint}")
    if architecture is not None and graph.own_config is not None:
        if architecture_config(architecture) != graph.own_config:
            raise ReadError(f"{path}: the architecture given differs from the model config inside the file; "
                                 "verify compares the file's own model: run it without --architecture")
    return own


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 sent to the null device: TensorFlow's C++ start-up notices (absl's
    "WARNING: All log messages before absl::InitializeLog()", oneDNN's and the CPU feature
    guard's) ignore TF_CPP_MIN_LOG_LEVEL and would print on every verify. Python exceptions
    still propagate; only what is written to stderr meanwhile is lost."""
    if os.environ.get("WEIGHTPORT_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_keras(name: str) -> Any:
    """`keras` or `tf_keras` (importing TensorFlow), without TensorFlow's start-up notices."""
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's Python-side chatter
    # TensorFlow enables its oneDNN kernels by default only on CPUs with AVX-512 features; without them it
    # has no CPU kernel for a channels_first Conv2D ("only supports the NHWC tensor format") or a dilated
    # Conv2DTranspose, and such a Keras model cannot run to be compared with (an AMD EPYC, any AVX2-only
    # x86). A user's own setting stands.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with native_stderr_silenced():
        return importlib.import_module(name)


def _uncompiled(config: Any) -> Any:
    """`config` without its top-level compile_config (what Keras does to a model loaded with compile=False)."""
    return {key: value for key, value in config.items() if key != "compile_config"} if isinstance(config, dict) \
        else config


def load_keras_model(source: Any, graph: ModelGraph, checked: Any = None) -> Any:
    """The Keras model to compare with: the live one, or the file loaded by the Keras that wrote it (a
    weights-only file: the config `checked` by check_loadable built, then the weights loaded by Keras's own
    load_weights).

    Call check_loadable first; Keras 3 and tf_keras load with safe_mode=True.
    """
    if not isinstance(source, (str, os.PathLike)):
        return source
    # A SavedModel is never given to TensorFlow's SavedModel loader: loading one runs functions the file holds (a
    # resource's initializer, which may write files). Keras builds the model from its checked config and restores
    # the variables checkpoint beside saved_model.pb, data only, as for a checkpoint.
    path = os.fspath(source)
    if graph.format == "tf-saved-model":
        path = tf_paths.variables_prefix(graph.source)
    elif graph.format == "tf-checkpoint":  # PREFIX.index, a data shard, the `checkpoint` file or its folder
        path = tf_paths.checkpoint_prefix(path) or path  # Keras's load_weights takes the prefix alone
    elif os.path.isdir(path):  # a Keras model folder: the weights file read
        path = graph.source

    meant = as_meant(checked)

    def built_with_weights(keras: Any) -> Any:
        if _is_legacy(keras, meant):
            model = _from_legacy_config(meant, custom_objects(keras, graph))
        else:
            model = keras.models.model_from_json(json.dumps(meant),  # deserialize_keras_object: safe mode
                                                 custom_objects=custom_objects(keras, graph))
        if graph.format == "tfjs-layers":  # given the weights weightport read, layer by layer (manifest order)
            given_weights(model, graph)
            return model
        if _unreadable_by_keras(graph):  # the weights read, each where Keras's own save_weights puts it
            load_regrouped(model, graph)
            return model
        if legacy_merge.holds_merge(checked) or graph.metadata.get("keras1"):  # (Keras 1: no conversion by Keras)
            model.load_weights(path, by_name=True)
            return model
        named = graph.metadata.get("checkpoint_object")
        if named:  # one object of a tf.train.Checkpoint of several (generator=, discriminator=): under its name
            import tensorflow as tf

            status = tf.train.Checkpoint(**{named: model}).restore(path)
            for layer in getattr(model, "_flatten_layers", lambda: [])():
                if hasattr(layer, "finalize_state"):  # Keras 3's loaders do (a Normalization's mean from its state)
                    layer.finalize_state()
        else:
            status = model.load_weights(path)  # converts a cuDNN layer's weights for the layer computing as it
        if hasattr(status, "assert_existing_objects_matched"):  # a TF checkpoint: every variable of the model
            status.assert_existing_objects_matched().expect_partial()  # restored; the rest (configs) said nothing
        return model

    try:
        if graph.format == "tf-saved-model" and graph.own_config is None:  # Keras 3's: no Keras metadata
            return exported_into(import_keras("keras"), meant, path)
        if (graph.own_config is None or graph.format in ("tf-checkpoint", "tf-saved-model")
                or graph.metadata.get("numpy_values") or graph.metadata.get("keras1") or _unreadable_by_keras(graph)
                or meant != checked  # a checkpoint holds no model: Keras builds its config, loads the weights
                or expressions_of(graph)):  # a Lambda's expression: Keras builds the config rewritten for it
            return _with_writer_keras(graph, built_with_weights)  # see verification_notes
        return _with_writer_keras(graph, lambda keras: keras.models.load_model(path, compile=False, safe_mode=True))
    except ImportError:
        raise MissingDependencyError("verify needs Keras: pip install 'weightport[keras]'") from None
    except ConverterError:  # already says what is wrong (exported_into)
        raise
    except Exception as error:  # Keras's own loading errors are of many kinds
        raise ReadError(f"{path}: Keras cannot load this file to compare with ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200]}){_unloadable_hint(graph)}") from None


def _unreadable_by_keras(graph: ModelGraph) -> bool:
    """A file no Keras here loads: a TensorFlow.js model, a tf.keras 2.13 to 2.15 `.keras` archive (weights under
    `_layer_checkpoint_dependencies`, which neither Keras 3 nor tf_keras 2.16+ reads, and TensorFlow 2.15 has no
    wheel for Python 3.12 and later), or one tf.keras wrote on Windows (group paths joined with backslashes, which
    Keras reads on Windows alone)."""
    return (graph.format == "tfjs-layers" or graph.metadata.get("layer_groups") == "_layer_checkpoint_dependencies"
            or graph.metadata.get("written_on") == "windows")


def _is_legacy(keras: Any, config: Any) -> bool:
    """Whether Keras 3 is given a legacy .h5's config (Keras 2's, or Keras 3's own .h5: no module names), which its
    model_from_json cannot place ('Could not locate class Functional')."""
    return keras.__name__.split(".")[0] == "keras" and isinstance(config, dict) and "module" not in config


def _from_legacy_config(config: Any, objects: dict[str, Any]) -> Any:
    """The model of a legacy .h5's config, built by Keras 3 as its own .h5 loader builds it (legacy deserialization
    of the config, in safe mode; Keras 3.3 to 3.15 name these modules alike); no weights."""
    from keras.src.legacy.saving import saving_options, saving_utils
    from keras.src.saving import serialization_lib

    with saving_options.keras_option_scope(use_legacy_config=True), serialization_lib.SafeModeScope(True):
        return saving_utils.model_from_config(copy.deepcopy(config), custom_objects=objects)


def exported_into(keras: Any, config: Any, prefix: str) -> Any:
    """The model `config` builds, given a Keras 3 `model.export()` SavedModel's variables: its checkpoint lists them
    as `variables/N` in `model.variables`' order. Read with TensorFlow's checkpoint reader (data only), each
    assigned by its position, independently of the names weightport's reader placed them by."""
    import tensorflow as tf

    model = keras.models.model_from_json(json.dumps(config))
    reader = tf.train.load_checkpoint(prefix)
    listed = {key for key in reader.get_variable_to_shape_map() if key.startswith("variables/")
              and key.endswith(tf_checkpoint.VALUE_SUFFIX)}
    if len(listed) != len(model.variables):
        raise ReadError(f"{prefix}: the SavedModel lists {len(listed)} variables and the architecture's model has "
                        f"{len(model.variables)}: not the export of this architecture")
    for index, variable in enumerate(model.variables):
        variable.assign(reader.get_tensor(f"variables/{index}{tf_checkpoint.VALUE_SUFFIX}"))
    return model


def _with_writer_keras(graph: ModelGraph, load: Callable[[Any], Any]) -> Any:
    """`load(keras)` with the Keras that wrote the file: tf_keras for a Keras 2 file when it is installed (and
    loads without wanting a module it lacks), else Keras 3."""
    major = graph.keras_version.split(".")[0]
    if major.isdigit() and int(major) < 3:
        try:
            return load(import_keras("tf_keras"))
        except ImportError:
            pass
    return load(import_keras("keras"))


def _unloadable_hint(graph: ModelGraph) -> str:
    """What to do about a file no Keras here loads and weightport reads: one of TensorFlow Addons'
    SpectralNormalization, or one recording all-None input shapes; with Lambda expressions given, one of them may
    compute another shape than the file's function did."""
    if expressions_of(graph):
        return ("; if a layer's weights do not fit, a Lambda expression given computes another shape than the "
                "Lambda's own function did (a resize's size, a slice)")
    if any(layer.kind == "tensorflow_addons.layers.SpectralNormalization" for layer in graph.every_layer()):
        return ("; it holds TensorFlow Addons' SpectralNormalization, which no TensorFlow here runs, and tf_keras "
                "2.21's own cannot be built: not verified (the conversion, the wrapped layer on its stored kernel, "
                "is tested against the outputs TensorFlow 2.13 with tfa computed)")
    if graph.inputs and all(size is None for spec in graph.inputs for size in spec.shape[1:]):
        return ("; the model records its input shape as all None (a Sequential fed data of unknown shape before it "
                "was saved), from which Keras cannot build its layers; converting needs no shape, and the "
                "converted module runs on inputs of the shape the model was trained on")
    return ""


def load_with_import(path: str, spec: str) -> Any:
    """`--import MODULE[:FACTORY]`: import the user's module (its classes register with Keras), then load the
    file through Keras: into the model FACTORY() builds (`load_weights`), or by `load_model` without FACTORY,
    given the classes and functions the module defines as custom objects (a class not registered with
    `register_keras_serializable` is found by its name, as `load_model(custom_objects=...)` would).

    This runs the user's own code, explicitly asked for; nothing from the file decides what is imported.
    """
    with native_stderr_silenced():
        module, make = user_module(spec, "--import", "MODULE or MODULE:FACTORY, e.g. mynet or mynet:build",
                                   factory_required=False)
    custom_objects = {name: value for name, value in vars(module).items()
                      if (inspect.isclass(value) or inspect.isfunction(value))
                      and getattr(value, "__module__", None) == module.__name__}
    try:
        with warnings.catch_warnings():
            # Keras's own advice while loading (a layer without build()) would print above the one-line error,
            # which says what to do
            warnings.simplefilter("ignore", UserWarning)
            return _load_into_keras(path, make, custom_objects)
    except Exception as error:  # Keras's own loading errors are of many kinds
        # Without a factory, Keras rebuilds the model from the file's config: a layer class without build() (the
        # Keras tutorials' TransformerBlock) leaves its sub-layers unbuilt there, and loading fails as it would in
        # the user's own load_model; their own model-building code builds them by calling the model
        hint = "" if make is not None else (
            f"; --import {module.__name__}:FACTORY builds the model with your function instead (one that makes "
            "it and calls it once, so that every layer is built; the file's weights are then loaded into it)")
        raise ReadError(f"{path}: Keras cannot load this file with --import {spec} ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200] if str(error) else ''}){hint}") from None


def _load_into_keras(path: str, make: Callable[[], Any] | None, custom_objects: dict[str, Any]) -> Any:
    """The model FACTORY() builds with the file's weights loaded, or the file loaded by Keras's load_model."""
    if make is not None:
        model = make()
        model.load_weights(path)
        return model
    if _written_by_keras2(path):
        return import_keras("tf_keras").models.load_model(path, compile=False, safe_mode=True,
                                                           custom_objects=custom_objects)
    return import_keras("keras").saving.load_model(path, compile=False, safe_mode=True, custom_objects=custom_objects)


def _written_by_keras2(path: str) -> bool:
    """An HDF5 file whose keras_version says Keras 2 (tf.keras); a .keras archive is Keras 3's."""
    import h5py

    if not h5py.is_hdf5(path):
        return False
    with h5py.File(path, "r") as h5:
        version = h5.attrs.get("keras_version", b"")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return version.split(".")[0].isdigit() and int(version.split(".")[0]) < 3


def keras_call(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs as a list, called with inputs in the structure it was built with."""
    try:
        as_list = isinstance(model.input, (list, tuple))
    except (AttributeError, ValueError):  # a loaded Sequential that was never called
        as_list = False
    structured = inputs if len(inputs) > 1 or as_list else inputs[0]
    outputs = model(structured, training=False)
    return [_numpy(output) for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def _numpy(tensor: Any) -> np.ndarray:
    """A backend's tensor as numpy: TensorFlow's directly, torch's (Keras 3 on its torch backend) detached."""
    detach = getattr(tensor, "detach", None)
    return np.asarray(detach().cpu() if callable(detach) else tensor)
