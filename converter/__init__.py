"""weightport: move trained Keras weights to PyTorch, proven by comparing outputs.

    >>> import converter
    >>> print(converter.inspect("fixtures/keras3/mlp.keras").to_text())   # doctest: +SKIP
    >>> converter.convert("model.keras", "model.safetensors")             # doctest: +SKIP
    >>> weights = converter.state_dict("model.h5")   # {'dense_1.weight': ndarray (32, 2000), ...}

Importing this package imports neither tensorflow, keras nor torch: `to_torch` and
`export` import torch, `verify` keras too.
"""
from __future__ import annotations

import gc

# The imports below make thousands of objects and no garbage: the collections their allocations trigger
# would only walk them (with numpy's, imported here until lazy_numpy: 8 ms of `python -c "import converter"`,
# 134 against 143 ms, medians of 12 interleaved runs). Paused, then restored as it was.
_collecting = gc.isenabled()
gc.disable()
try:
    import json
    import os
    import shutil
    from importlib import import_module
    from typing import TYPE_CHECKING, Any

    from . import hugging_face
    from .conversion import Conversion, LayerConversion, TargetTensor, TorchModule
    from .convert import OUTPUT_LAYOUTS, SKIP_OR_KEEP, convert_graph, defaults_warnings, read_tagged
    from .dtypes import OUTPUT_DTYPES
    from .errors import (
        ArgumentError, ConfigError, ConversionWarning, ConverterError, LayoutError, LoadError, MissingDependencyError,
        ReadError, UnsafeFileError, UnsupportedLayerError, VerificationError, WriteError,
    )
    from .graph import BFLOAT16, InputSpec, Layer, ModelGraph, Tensor
    from .kinds import KINDS, Kind
    from .layouts import PERMUTATIONS, Layout
    from .readers import FORMATS
    from .report import Report
    from .writers import WRITERS, check_destination, check_output, write
    from .writers.files import copy_file, write_text
    from .writers.safetensors_file import nbytes
    if TYPE_CHECKING:
        import numpy as np
    else:
        from .lazy_numpy import np  # numpy on first use: `import converter` and `inspect` need none
finally:
    if _collecting:
        gc.enable()

if TYPE_CHECKING:
    from .batch import BatchItem, convert_many, summary_table
    from .loading import load_into
    from .matching import Plan
    from .modeling import export, to_torch
    from .verification import VerificationReport, verify

__version__ = "0.1.0"

# Imported on first use: a conversion needs none of these, and each process's start-up is most of what
# converting a small model costs (`python -m converter convert` pays for every import here).
_LAZY = {
    "BatchItem": "batch", "convert_many": "batch", "summary_table": "batch", "load_into": "loading",
    "Plan": "matching", "export": "modeling", "to_torch": "modeling", "VerificationReport": "verification",
    "verify": "verification",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "read", "convert", "state_dict", "inspect", "to_torch", "export", "verify", "load_into",
    "Conversion", "LayerConversion", "TargetTensor", "TorchModule", "OUTPUT_LAYOUTS", "Plan", "VerificationReport",
    "ModelGraph", "Layer", "Tensor", "InputSpec", "Report", "Layout", "PERMUTATIONS", "KINDS", "Kind", "FORMATS",
    "WRITERS", "BFLOAT16", "OUTPUT_DTYPES", "weights_path", "convert_many", "BatchItem", "summary_table",
    "ConversionWarning", "ConverterError", "ArgumentError", "MissingDependencyError", "ReadError", "ConfigError",
    "UnsafeFileError",
    "UnsupportedLayerError", "LayoutError", "WriteError", "LoadError", "VerificationError",
]

Source = Any  # a path (str or os.PathLike) or a live keras.Model


def read(source: Source, *, architecture: Any = None, variables: str = "raw",
         keras_backend: str | None = None) -> ModelGraph:
    """Read a Keras file or live model into a graph whose tensors are tagged with layouts.

    `architecture` gives exact layer names to a `.weights.h5` file: a `.keras` file, a
    model config JSON file, or a config dict. `variables="ema"` reads a TensorFlow
    checkpoint's ExponentialMovingAverage shadows in place of the raw variables (the copy
    that gives the published accuracy of many Google models). `keras_backend` names the
    backend a Keras 3 model ran on where the file does not record it (a .keras archive:
    TensorFlow is assumed); a few layers compute differently by backend. Close the graph when
    done.

        >>> with converter.read("model.keras") as graph:          # doctest: +SKIP
        ...     print([layer.key for layer in graph.walk()])
    """
    return read_tagged(source, architecture, variables, keras_backend)


def convert(
    source: Source, destination: str | os.PathLike[str], *, layout: str = "torch", force: bool = False,
    skip_unsupported: bool = False, keep_unsupported: bool = False, architecture: Any = None, mapping: Any = None,
    like: str | os.PathLike[str] | None = None, max_shard_size: int | str | None = None, progress: bool = False,
    record: str | os.PathLike[str] | None = None, dry_run: bool = False, allow_unused: bool = False,
    dtype: str | None = None, variables: str = "raw", preprocessing_state: str | os.PathLike[str] | None = None,
    keras_backend: str | None = None,
) -> Conversion:
    """Convert `source` and write it to `destination` (format from its suffix).

    Suffixes: .safetensors, .pt/.pth, .npz, .h5/.hdf5; a folder gets Hugging Face's
    `model.safetensors` (sharded: `model-0000i-of-0000n.safetensors` and
    `model.safetensors.index.json`, as transformers looks for). `layout='keras'` keeps Keras's
    own layouts. Layers with weights that no rule converts are an UnsupportedLayerError naming
    them all, unless `skip_unsupported` (left out) or `keep_unsupported` (their tensors written
    as stored: Keras's layout, under `layer.variable`; your code for them decides what they
    mean; each recorded as kept). `mapping` renames keys (as load_into takes it); `like` names a template
    state_dict (.pt, .safetensors, .npz) whose keys and shapes the output takes, matched by
    key after `mapping`, or in order with mapping="order"; LoadError when anything does not
    pair up. `max_shard_size` (bytes, or "500MB", "5GB") shards a large .safetensors output
    with a Hugging Face index; `progress=True` draws a bar on stderr when it is a terminal;
    `record` also writes the per-tensor record there as JSON. Tensors are read lazily
    (memory-mapped where stored contiguously), converted and written one at a time. No
    output may be one of the files read, even with `force`. Returns the conversion, whose
    `record()` says what was done per tensor and `files` what was written. `dry_run=True`
    does everything but write (`files` stays empty). A `mapping` entry that renames no tensor
    is an ArgumentError unless `allow_unused=True`. `dtype` ("float32", "float16",
    "bfloat16") casts every floating tensor (rounding to nearest even; recorded per tensor).
    `preprocessing_state` also writes, as JSON, the state of the model's preprocessing layers
    that a state_dict does not carry (lookup vocabularies, hashing settings, bin boundaries).
    `keras_backend`: as `read` takes it (the module arguments recorded follow it). Warnings are
    ConversionWarnings.

        >>> converter.convert("model.keras", "model.safetensors")  # doctest: +SKIP
    """
    if dtype is not None and dtype not in OUTPUT_DTYPES:
        raise ArgumentError(f"dtype {dtype!r}: expected one of {', '.join(OUTPUT_DTYPES)}")
    if skip_unsupported and keep_unsupported:
        raise ArgumentError(SKIP_OR_KEEP)
    destination = weights_path(destination)
    made = _output_folder(destination)
    try:
        record_path = os.fspath(record) if record is not None else None
        state_path = os.fspath(preprocessing_state) if preprocessing_state is not None else None
        inputs = [os.fspath(path) for path in (source, architecture, like)
                  if isinstance(path, (str, os.PathLike))]
        check_destination(destination, force, inputs)
        sides = [(path, option) for path, option in ((record_path, "--record"), (state_path, "--preprocessing-state"))
                 if path is not None]
        for path, option in sides:
            if _same_path(path, destination) or (record_path and state_path and _same_path(record_path, state_path)):
                raise WriteError(f"{path}: two outputs of this conversion would be written to the same file; give "
                                 f"{option} another name")
            check_output(path, force, inputs)
        with read(source, architecture=architecture, variables=variables, keras_backend=keras_backend) as graph:
            inputs += graph.files
            if like is not None:
                if layout != "torch":
                    raise ArgumentError("--like pairs tensors with a PyTorch model's state_dict: torch layout only")
                if keep_unsupported:
                    raise ArgumentError("--like takes each tensor's layout from the template's modules: "
                                        "--keep-unsupported does not apply (pass --skip-unsupported or neither)")
                from .loading import converted_like
                conversion = converted_like(graph, os.fspath(like), mapping, allow_unused, skip_unsupported)
            else:
                conversion = convert_graph(graph, layout, skip_unsupported, keep_unsupported)
                if mapping is not None:
                    from .loading import renamed
                    conversion.tensors = renamed(conversion, mapping, allow_unused)
            state: dict[str, Any] | None = None  # the preprocessing layers' state, made once
            if state_path is not None:
                from .kinds.outside_state import preprocessing_state as preprocessing_state_of

                state = preprocessing_state_of(graph)
            # a model of preprocessing alone (a TextVectorization): its state is what it has
            state_only = not conversion.tensors and bool(state and state["layers"])
            if not conversion.tensors and not state_only:
                raise ReadError(f"{graph.source}: no weights to convert ({_why_empty(conversion)}); nothing was "
                                "written")
            if state_only:
                conversion.warnings.append(f"{graph.source}: no weights to convert ({_why_empty(conversion)}): "
                                           f"{destination} is not written, only the preprocessing state")
            beside = _hub_files(graph, conversion, destination, force, inputs)
            if dtype is not None:
                conversion.tensors = [tensor.cast_to(dtype) for tensor in conversion.tensors]
            if record_path is not None:  # the record shows module arguments
                conversion.warnings += defaults_warnings(conversion)
            conversion.warn()
            if dry_run or state_only:
                if made:
                    os.rmdir(made)
                if state_only and state_path is not None and not dry_run:
                    write_text(state_path, _state_text(state), force)
                    conversion.files = []
                return conversion
            from .progress import ProgressBar
            bar = ProgressBar(sum(nbytes(t) for t in conversion.tensors), "converting") if progress else None
            try:
                conversion.files = write(conversion.tensors, conversion.metadata(), destination, force,
                                         max_shard_size, bar, validate=graph.check_integrity, sources=inputs)
            finally:
                if bar:
                    bar.close()
            for path, content in beside:
                if path.endswith(hugging_face.CONFIG):
                    write_text(path, content, force)
                else:
                    copy_file(content, path, force)
                conversion.files.append(path)
            if state_path is not None:
                write_text(state_path, _state_text(state), force)
        if record_path is not None:
            write_text(record_path, json.dumps(conversion.record(), indent=2), force)
    except BaseException:
        if made:  # a failed conversion leaves no folder it made
            shutil.rmtree(made, ignore_errors=True)
        raise
    return conversion


def _state_text(state: Any) -> str:
    """The preprocessing state as the JSON written (default=str: a live model's config may hold numpy scalars)."""
    return json.dumps(state, indent=2, default=str)


#: the file name Hugging Face loaders look for in a model folder
HUGGING_FACE_WEIGHTS = "model.safetensors"


def weights_path(destination: str | os.PathLike[str]) -> str:
    """The file `convert` writes for DST: DST itself, or DST/model.safetensors for a folder."""
    destination = os.fspath(destination)
    if os.path.isdir(destination) or destination.endswith(("/", os.sep)):
        return os.path.join(destination, HUGGING_FACE_WEIGHTS)
    return destination


def _output_folder(destination: str) -> str | None:
    """DST/ that does not exist yet (a model folder to be) is made when its parent exists; returns it."""
    folder = os.path.dirname(destination)
    if os.path.basename(destination) != HUGGING_FACE_WEIGHTS or os.path.exists(folder) \
            or not os.path.isdir(os.path.dirname(os.path.abspath(folder))):
        return None
    os.mkdir(folder)
    return folder


def _hub_files(graph: ModelGraph, conversion: Conversion, destination: str, force: bool,
               inputs: list[str]) -> list[tuple[str, str]]:
    """What a Hugging Face checkpoint's output folder gets beside model.safetensors: config.json naming the
    PyTorch class, and the folder's tokenizer and preprocessing files (a file DST gets the weights only)."""
    if graph.hub_config is None or conversion.layout != "torch":
        return []
    if os.path.basename(destination) != HUGGING_FACE_WEIGHTS:
        conversion.warnings.append(f"{destination}: the weights only; give a folder as DST to get config.json "
                                   "beside model.safetensors, a folder transformers loads")
        return []
    folder = os.path.dirname(destination)
    beside = [(os.path.join(folder, hugging_face.CONFIG), hugging_face.torch_config(graph.hub_config, graph.source))]
    beside += [(os.path.join(folder, os.path.basename(path)), path)
               for path in hugging_face.companions(graph.hub_folder or ".")]
    for path, _ in beside:
        check_output(path, force, inputs)
    return beside


def _same_path(first: str, second: str) -> bool:
    return os.path.abspath(first) == os.path.abspath(second) or (
        os.path.exists(first) and os.path.exists(second) and os.path.samefile(first, second))


def _why_empty(conversion: Conversion) -> str:
    if conversion.skipped:
        return "every layer with weights was skipped as unsupported"
    if not any(layer.tensors for layer in conversion.graph.walk()):
        return "the file holds no layer weights"
    return "the mapping left every tensor out"


def state_dict(
    source: Source, *, layout: str = "torch", skip_unsupported: bool = False, keep_unsupported: bool = False,
    architecture: Any = None, variables: str = "raw",
) -> dict[str, np.ndarray]:
    """Converted weights as {key: numpy array}, ready for `torch.from_numpy` and load_state_dict.

    Layers without a rule: as `convert` takes `skip_unsupported` and `keep_unsupported`.

    bfloat16 tensors come back as `ml_dtypes.bfloat16` arrays (installed with Keras).

        >>> weights = converter.state_dict("model.keras")                   # doctest: +SKIP
        >>> module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})  # doctest: +SKIP
    """
    with read(source, architecture=architecture, variables=variables) as graph:
        conversion = convert_graph(graph, layout, skip_unsupported, keep_unsupported)
        conversion.warn()
        result = {}
        for target in conversion.tensors:
            array = np.array(target.load())  # a plain array, not a map of the source file
            if target.dtype == BFLOAT16:
                array = array.view(_bfloat16_dtype(target.key))
            result[target.key] = array
        graph.check_integrity()
    return result


def _bfloat16_dtype(key: str) -> Any:
    try:
        import ml_dtypes  # numpy itself has no bfloat16
    except ImportError:
        raise MissingDependencyError(
            f"{key} is bfloat16, which numpy cannot hold without ml_dtypes: pip install ml_dtypes, "
            "or convert to a .safetensors or .pt file instead"
        ) from None
    return ml_dtypes.bfloat16


def inspect(source: Source, *, architecture: Any = None, variables: str = "raw",
            keras_backend: str | None = None) -> Report:
    """What the file holds and what each tensor becomes; never fails on unsupported layers. `keras_backend`: as
    `read` takes it (the module arguments shown follow it).

        >>> print(converter.inspect("model.h5").to_text())        # doctest: +SKIP
    """
    graph = read(source, architecture=architecture, variables=variables, keras_backend=keras_backend)
    with graph:
        conversion = convert_graph(graph, "torch", skip_unsupported=True)
        conversion.warnings += defaults_warnings(conversion)
        return Report(conversion)
