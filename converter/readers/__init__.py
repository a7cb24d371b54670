"""Readers: recognise a Keras file by its content and read it into a `ModelGraph`.

Only h5py, zipfile and json are used for files; never tensorflow, keras or torch.
"""
from __future__ import annotations

import os
import zipfile
from typing import Any

from ..errors import ArgumentError, ReadError
from ..graph import ModelGraph, minor_version
from .. import hugging_face
from . import hub_sharded, live, tf_paths
from .foreign import file_kind, zip_kind
from .keras_config import numpy_values_read
from .limits import MAX_JSON_BYTES, parse_json, read_json_file, refuse_lfs_pointer, version_text
from .yaml_config import looks_yaml, parse_yaml

# The HDF5 readers (and h5py, 40 ms to import) are imported when a file needs them: a checkpoint
# or a SavedModel is read without them.

__all__ = ["FORMATS", "architecture_config", "load_architecture", "read_architecture", "read_source"]

#: Format codes and what `inspect` calls them.
FORMATS = {
    "keras-archive": "Keras v3 archive (.keras, from Keras 3 or tf.keras 2.13+)",
    "keras-weights": "Keras 3 weights (.weights.h5)",
    "keras-weights-sharded": "Keras 3 sharded weights (.weights.json and its .weights.h5 shards)",
    "legacy-h5": "legacy HDF5 model (.h5, Keras 2 / tf.keras / Keras 3 legacy writer)",
    "legacy-h5-weights": "legacy HDF5 weights (.h5 from save_weights)",
    "live": "live keras.Model",
    "live-subclassed": "live subclassed keras.Model (layers keyed by attribute path)",
    "tf-checkpoint": "TensorFlow checkpoint (PREFIX.index + PREFIX.data-*, TF1 or TF2)",
    "tf-saved-model": "TensorFlow SavedModel directory (saved_model.pb + variables/)",
    "hf-tf": "Hugging Face TensorFlow checkpoint (tf_model.h5 + config.json)",
    "hf-tf-sharded": "Hugging Face TensorFlow checkpoint, sharded (tf_model.h5.index.json, its shards, config.json)",
    "tfjs-layers": "TensorFlow.js layers model (model.json and its .bin weight files)",
}

_HINT = ("expected a Keras .keras archive, a .weights.h5 file (or a sharded .weights.json index), a Keras "
         "HDF5 (.h5) file or a TensorFlow.js model.json")


def load_architecture(path: str) -> Any:
    """A model config from a `.keras` archive, a full-model `.h5`, a JSON file (model.to_json()) or a
    tf.keras SavedModel directory (its keras_metadata.pb)."""
    return read_architecture(path)[0]


def architecture_config(architecture: Any) -> Any:
    """A model config: as given, or read from a path (.keras, full-model .h5, JSON, SavedModel)."""
    return load_architecture(os.fspath(architecture)) if isinstance(architecture, (str, os.PathLike)) \
        else model_entry(architecture)


def model_entry(config: Any, where: str = "the architecture given") -> Any:
    """`config` as to_json() writes a model: a model's get_config() (`json.dump(model.get_config(), f)`, its layers
    without the class around them, as Sequential.from_config and Model.from_config take it) wrapped in its class;
    a model entry as it is; anything else (a dict naming no class) a ReadError naming `where`."""
    if not isinstance(config, dict) or "class_name" in config:
        return config
    if not isinstance(config.get("layers"), list):
        raise ReadError(f"{where}: not a Keras model config (neither a class_name nor layers); give the model's "
                        "to_json() or get_config() as JSON, its .keras or full-model .h5")
    functional = "input_layers" in config and "output_layers" in config
    entry: dict[str, Any] = {"class_name": "Functional" if functional else "Sequential", "config": config}
    # Keras 3's InputLayer has `batch_shape` where tf.keras's has `batch_input_shape` (both name each layer's module)
    if any(isinstance(layer, dict) and layer.get("class_name") == "InputLayer" and isinstance(layer.get("config"), dict)
           and "batch_shape" in layer["config"] for layer in config["layers"]):
        entry.update({"module": "keras.src.models.functional", "registered_name": "Functional"} if functional
                     else {"module": "keras", "registered_name": None})  # as Keras 3's to_json() writes them
    return entry


def _resolved(architecture: Any) -> tuple[Any, str | None]:
    """(model config, the Keras version its file records): a path read once, a config as given (no version)."""
    if isinstance(architecture, (str, os.PathLike)):
        return read_architecture(os.fspath(architecture))
    return model_entry(architecture), None


def read_architecture(path: str) -> tuple[Any, str | None]:
    """(model config, Keras version or None) from an architecture file: a `.keras` archive (its metadata.json
    records the version), a full-model `.h5` (its keras_version), a JSON file (model.to_json() records it), a
    Keras model folder (its config.json and metadata.json) or a tf.keras SavedModel directory (its
    keras_metadata.pb; no version read). The version says which Keras a
    weights-only file beside it is built as: a few layers compute by version."""
    folder = tf_paths.saved_model_folder(path)
    if folder is not None:
        from . import tf_checkpoint

        return tf_checkpoint.saved_model_architecture(folder), None
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json")):  # a Keras model folder
        return read_architecture(os.path.join(path, "config.json"))[0], folder_keras_version(path)
    if not os.path.isfile(path):
        what = ("a directory, neither a SavedModel nor a Keras model folder (config.json)" if os.path.isdir(path)
                else "no such architecture file")
        raise ReadError(f"{path}: {what}; give a .keras file, a full-model .h5, a config JSON or a SavedModel")
    if os.path.getsize(path) == 0:  # (a download or checkout that failed): not "not valid JSON"
        raise ReadError(f"{path}: the architecture file is empty; give the model's .keras file, full-model .h5, "
                        "config JSON or SavedModel")
    with open(path, "rb") as handle:
        head = handle.read(4096)  # for an LFS pointer here, and for the config formats told by their first bytes below
    refuse_lfs_pointer(path, head)
    if zipfile.is_zipfile(path):
        from .zip_member import open_archive, read_json_member

        with open_archive(path) as archive:
            if "config.json" not in archive.namelist():
                what = zip_kind(archive.namelist()) or "a zip archive without config.json"
                raise ReadError(f"{path}: {what}; give a .keras file")
            metadata = (read_json_member(archive, path, "metadata.json")
                        if "metadata.json" in archive.namelist() else None)
            return read_json_member(archive, path, "config.json"), _recorded_version(metadata)
    import h5py

    from .hdf5_checks import open_hdf5
    from .hdf5_tensors import attr_text, attribute

    if h5py.is_hdf5(path):
        with open_hdf5(path, path) as h5:
            text = attribute(h5, "model_config", path)
            if text is None:
                raise ReadError(f"{path}: an HDF5 file without model_config; give a full-model file")
            version = attribute(h5, "keras_version", path)
            return (numpy_values_read(parse_json(attr_text(text), f"{path}: model_config")),
                    None if version is None else version_text(attr_text(version)))
    if looks_yaml(path, head):  # Keras 2's model.to_yaml()
        with open(path, "rb") as handle:
            return _legacy_config(parse_yaml(handle.read(MAX_JSON_BYTES + 1), path), path)
    kind = file_kind(head)
    if kind is not None:  # an image, a pickle, a TensorFlow Lite model...: named, not "not valid JSON"
        raise ReadError(f"{path}: as the architecture: {kind}")
    config = read_json_file(path)
    if isinstance(config, str):  # json.dump(model.to_json(), file): the config's JSON text as a JSON string
        config = parse_json(config, path)
    return _legacy_config(config, path)


def _legacy_config(config: Any, where: str) -> tuple[Any, str | None]:
    """A to_json() or to_yaml() config and the version it records; Keras 2.0's numpy values read, as in its own
    files."""
    config = model_entry(numpy_values_read(config), where)
    return config, _recorded_version(config)


def _recorded_version(record: Any) -> str | None:
    """The keras_version a metadata.json or a to_json() config records, or None."""
    version = record.get("keras_version") if isinstance(record, dict) else None
    return None if version is None else version_text(version)


def read_source(source: Any, architecture: Any = None, variables: str = "raw") -> ModelGraph:
    """Read a Keras file path or live model; `architecture` is a model config (dict) or a path to one.

    Whatever goes wrong inside h5py or the HDF5 library while reading a damaged file is a
    ReadError naming the file; anything else that is not a ConverterError is a bug of ours.
    """
    if variables not in ("raw", "ema"):
        raise ArgumentError(f"variables {variables!r}: expected 'raw' or 'ema'")
    if live.is_live_model(source):
        if variables != "raw":
            raise ArgumentError("variables='ema' chooses among a TensorFlow checkpoint's variables; a live model has "
                                "one set")
        return live.read_live(source)
    path = os.fspath(source)
    try:
        folder = tf_paths.saved_model_folder(path)
        if folder is not None:
            from . import tf_checkpoint

            config, version = _resolved(architecture)
            graph = tf_checkpoint.read_saved_model(folder, config, variables)
            if graph.keras_version.startswith("unknown") and version is not None:
                graph.keras_version = version
            return _with_files(graph, path, architecture)
        prefix = tf_paths.checkpoint_prefix(path)
        if prefix is not None:
            from . import tf_checkpoint

            config, version = _resolved(architecture)
            graph = tf_checkpoint.read_checkpoint(prefix, config, source=path, variables=variables)
            if graph.keras_version.startswith("unknown") and version is not None:  # Keras 3's: its file's version
                graph.keras_version = version
            return _with_files(graph, path, architecture)
        if variables != "raw":
            raise ArgumentError(f"{path}: variables='ema' chooses among a TensorFlow checkpoint's variables; this "
                                "is not a checkpoint")
    except (OSError, ValueError) as error:  # a file of the checkpoint unreadable, or numpy refusing a mapping
        raise ReadError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error})") from None
    hub = hub_checkpoint(path) if architecture is None else None
    folder_version = None
    if hub is not None:
        path = hub[0]
    elif os.path.isdir(path):
        folder_version = folder_keras_version(path)
        path, architecture = model_folder(path, architecture)
    try:
        if hub is not None and hub_sharded.is_index(path):
            graph = hub_sharded.read(path)
            graph.hub_config, graph.hub_folder = hub[1], os.path.dirname(path)
        else:
            config, architecture_version = _resolved(architecture)
            folder_version = folder_version or architecture_version
            graph = _read_file(path, config, hub[1] if hub else None)
            if config is not None:
                _built_as_architecture(graph, config, architecture_version)
    except RecursionError:
        raise ReadError(f"{path}: structures nested too deeply to be a Keras file") from None
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        from .hdf5_checks import raised_by_h5py

        if not raised_by_h5py(error):
            raise
        raise ReadError(f"{path}: damaged or malformed HDF5 data ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:200] if str(error) else 'no detail'})") from None
    if folder_version is not None and graph.keras_version.startswith("unknown"):
        # a few layers compute by version: what the folder's metadata.json, or the architecture's, says
        graph.keras_version = folder_version
    return _with_files(graph, path, architecture)


def _built_as_architecture(graph: ModelGraph, config: Any, version: str | None) -> None:
    """Weights Keras 2 wrote, with a Keras 3 architecture (its to_json records no version, but a `module` beside
    its class): the model is Keras 3's, built and verified as Keras 3 computes (Keras 3 loads such an `.h5` with its
    own load_weights). The weights' layout is the same in both."""
    written = minor_version(graph.keras_version)
    described = minor_version(version) if version is not None else None
    keras3 = described[0] >= 3 if described is not None else isinstance(config, dict) and "module" in config
    if keras3 and written is not None and written[0] == 2 and not graph.metadata.get("keras1"):
        graph.notes.append(f"weights written by Keras {graph.keras_version} with an architecture of Keras 3: "
                           "built as Keras 3 computes")
        graph.keras_version = version or "unknown (the architecture's Keras 3, which records no version)"


def _with_files(graph: ModelGraph, path: str, architecture: Any) -> ModelGraph:
    """Every file the graph was read from (no output may overwrite one); whether an architecture came apart from
    the weights (a config layer without weights may then be another model's)."""
    if architecture is not None:
        graph.metadata["architecture"] = "given"
    graph.files = [path] + graph.files + ([os.fspath(architecture)] if isinstance(architecture, (str, os.PathLike))
                                          else [])
    return graph


def model_folder(folder: str, architecture: Any) -> tuple[str, Any]:
    """A Keras model folder (Keras and KerasHub presets on the Hub): `model.weights.h5` (or a sharded
    `model.weights.json`) with the architecture in `config.json` beside it. Returns (weights, architecture)."""
    names = set(os.listdir(folder))
    weights: list[str] = [name for name in ("model.weights.json", "model.weights.h5") if name in names]
    if not weights:
        candidates = sorted(name for name in names if name.endswith((".weights.h5", ".weights.json")))
        weights = candidates if len(candidates) == 1 else []
    if not weights and "model.json" in names:  # a TensorFlow.js layers model's folder (read as its model.json)
        return os.path.join(folder, "model.json"), architecture
    if not weights:
        raise ReadError(f"{folder}: is a directory without model.weights.h5 (a Keras model folder holds it beside "
                        f"config.json) or model.json (a TensorFlow.js model's); {_HINT}")
    config = os.path.join(folder, "config.json")
    if architecture is None and os.path.isfile(config):
        architecture = config
    return os.path.join(folder, weights[0]), architecture


def folder_keras_version(folder: str) -> str | None:
    """The Keras version a model folder's `metadata.json` records (save_model(..., zipped=False) and Keras presets
    write one beside config.json), or None."""
    metadata_path = os.path.join(folder, "metadata.json")
    if not os.path.isfile(metadata_path):
        return None
    return _recorded_version(read_json_file(metadata_path))


def hub_checkpoint(path: str) -> tuple[str, dict[str, Any]] | None:
    """(weights, config) of a Hugging Face TensorFlow checkpoint: a folder holding `tf_model.h5` (or a sharded
    checkpoint's `tf_model.h5.index.json`) and a transformers `config.json`, or such a file with the config
    beside it."""
    if os.path.isdir(path):
        weights = os.path.join(path, hugging_face.TF_WEIGHTS)
        if not os.path.isfile(weights):
            weights = os.path.join(path, hub_sharded.INDEX)
            if not os.path.isfile(weights):
                return None
    elif (path.endswith(".h5") or hub_sharded.is_index(path)) and os.path.isfile(path):
        weights = path
    else:
        return None
    config = hugging_face.read_config(os.path.join(os.path.dirname(weights), hugging_face.CONFIG))
    if config is None:
        if os.path.isdir(path):
            raise ReadError(f"{path}: holds {os.path.basename(weights)} but no transformers config.json beside it "
                            "(one with \"model_type\"); it names the PyTorch class the weights go into")
        return None
    return weights, config


def _read_file(path: str, architecture: Any, hub_config: dict[str, Any] | None = None) -> ModelGraph:
    """The graph of one file; `architecture` a model config or None."""
    from . import keras3

    if not os.path.exists(path):
        raise ReadError(f"{path}: no such file; {_HINT}")
    if os.path.isdir(path):
        raise ReadError(f"{path}: is a directory; {_HINT}")
    if os.path.getsize(path) == 0:
        raise ReadError(f"{path}: the file is empty; {_HINT}")
    if not os.path.isfile(path):
        raise ReadError(f"{path}: not a regular file; {_HINT}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(200)
    except OSError as error:
        raise ReadError(f"{path}: cannot read ({error.strerror or error})") from None
    refuse_lfs_pointer(path, head)
    magic = head[:4]
    if magic == b"PK\x03\x04" or zipfile.is_zipfile(path):
        return keras3.read_archive(path, architecture)
    tree = keras3.simple_weights_file(path) if hub_config is None else None
    if tree is not None:  # a .weights.h5 of the simple shape Keras writes: read in one pass, without h5py
        return keras3.read_weights(path, tree, architecture)
    import h5py

    from . import legacy_h5, sharded
    from .hdf5_checks import open_hdf5
    from .hdf5_tensors import is_legacy

    if sharded.is_keras_shard_index(path):  # JSON
        from . import tfjs

        document = read_json_file(path)
        if tfjs.is_tfjs_model(document):
            if architecture is not None:
                raise ArgumentError(f"{path}: a TensorFlow.js model.json holds its model config; drop --architecture")
            return tfjs.read_tfjs(path, document)
        if _is_model_config(document):
            raise ReadError(f"{path}: a Keras model config (model.to_json()), which holds no weights: convert the "
                            f"weights file saved with it, giving --architecture {path}")
        what = "a Keras sharded-weights index, nor a TensorFlow.js model.json (no weightsManifest)"
        return keras3.read_sharded(path, architecture, sharded.weight_map_of(document, path, what))
    if not h5py.is_hdf5(path):
        raise ReadError(f"{path}: {file_kind(head) or 'neither a zip archive nor an HDF5 file'}; {_HINT}")
    h5 = open_hdf5(path, path)
    try:
        if hub_config is not None and is_legacy(h5) and "model_config" not in h5.attrs:
            graph = legacy_h5.read_legacy(path, h5, as_tree=True)
            graph.format, graph.hub_config, graph.hub_folder = "hf-tf", hub_config, os.path.dirname(path)
            return graph
        if is_legacy(h5):
            return legacy_h5.read_legacy(path, h5, architecture)
        if keras3.is_keras3_weights(h5):
            return keras3.read_weights(path, h5, architecture)
    except BaseException:
        h5.close()
        raise
    h5.close()
    raise ReadError(
        f"{path}: an HDF5 file, but not one Keras wrote (no model_config, layer_names or "
        f"layers group); {_HINT}"
    )


def _is_model_config(document: Any) -> bool:
    """model.to_json(): a model's class_name and its config."""
    return isinstance(document, dict) and isinstance(document.get("class_name"), str) and "config" in document
