"""weightport: move trained Keras weights to PyTorch, proven by comparing outputs.

    >>> import converter
    >>> print(converter.inspect("fixtures/keras3/mlp.keras").to_text())   # doctest: +SKIP
    >>> converter.convert("model.keras", "model.safetensors")             # doctest: +SKIP
    >>> weights = converter.state_dict("model.h5")   # {'dense_1.weight': ndarray (32, 2000), ...}

Importing this package imports neither tensorflow, keras nor torch: `to_torch` and
`export` import torch, `verify` keras too.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .convert import OUTPUT_LAYOUTS, Conversion, convert_graph
from .errors import (
    ConverterError, LayoutError, ReadError, UnsupportedLayerError, VerificationError, WriteError,
)
from .graph import BFLOAT16, InputSpec, Layer, ModelGraph, Tensor
from .layers import RULES
from .layouts import PERMUTATIONS, Layout
from .readers import FORMATS
from .report import Report
from .progress import ProgressBar
from .writers import WRITERS, check_destination, write
from .writers.safetensors_file import nbytes
from .modeling import export, read_tagged, to_torch, verify
from .loading import LoadError, load_into, matched_like, renamed

__version__ = "0.1.0"

__all__ = [
    "read", "convert", "state_dict", "inspect", "to_torch", "export", "verify", "load_into", "LoadError",
    "Conversion", "OUTPUT_LAYOUTS",
    "ModelGraph", "Layer", "Tensor",
    "InputSpec", "Report", "Layout", "PERMUTATIONS", "RULES", "FORMATS", "WRITERS", "BFLOAT16",
    "ConverterError", "ReadError", "UnsupportedLayerError", "LayoutError", "WriteError", "VerificationError",
]

Source = Any  # a path (str or os.PathLike) or a live keras.Model


def read(source: Source, *, architecture: Any = None) -> ModelGraph:
    """Read a Keras file or live model into a graph whose tensors are tagged with layouts.

    `architecture` gives exact layer names to a `.weights.h5` file: a `.keras` file, a
    model config JSON file, or a config dict. Close the graph when done (`with` works).

        >>> with converter.read("model.keras") as graph:          # doctest: +SKIP
        ...     print([layer.key for layer in graph.walk()])
    """
    return read_tagged(source, architecture)


def convert(
    source: Source, destination: str | os.PathLike[str], *, layout: str = "torch", force: bool = False,
    skip_unsupported: bool = False, architecture: Any = None, mapping: Any = None,
    like: str | os.PathLike[str] | None = None, max_shard_size: int | str | None = None, progress: bool = False,
) -> Conversion:
    """Convert `source` and write it to `destination` (format from its suffix).

    Suffixes: .safetensors, .pt/.pth, .npz, .h5/.hdf5. `layout='keras'` keeps Keras's
    own layouts. `mapping` renames keys (as load_into takes it); `like` names a template
    state_dict (.pt, .safetensors, .npz) whose keys and shapes the output takes, matched by
    key after `mapping`, or in order with mapping="order"; LoadError when anything does not
    pair up. `max_shard_size` (bytes, or "500MB", "5GB") shards a large .safetensors output
    with a Hugging Face index; `progress=True` draws a bar on stderr when it is a terminal.
    Tensors are read lazily (memory-mapped where stored contiguously), converted and
    written one at a time. Returns the conversion, whose `record()` says what was done
    per tensor and `files` what was written.

        >>> converter.convert("model.keras", "model.safetensors")  # doctest: +SKIP
    """
    destination = os.fspath(destination)
    check_destination(destination, force)
    with read(source, architecture=architecture) as graph:
        conversion = convert_graph(graph, layout, skip_unsupported)
        if like is not None:
            conversion.tensors = matched_like(conversion, os.fspath(like), mapping)
        elif mapping is not None:
            conversion.tensors = renamed(conversion, mapping)
        bar = ProgressBar(sum(nbytes(t) for t in conversion.tensors), "converting") if progress else None
        try:
            conversion.files = write(conversion.tensors, conversion.metadata(), destination, force,
                                     max_shard_size, bar)
        finally:
            if bar:
                bar.close()
    return conversion


def state_dict(
    source: Source, *, layout: str = "torch", skip_unsupported: bool = False, architecture: Any = None,
) -> dict[str, np.ndarray]:
    """Converted weights as {key: numpy array}, ready for `torch.from_numpy` and load_state_dict.

    bfloat16 tensors come back as `ml_dtypes.bfloat16` arrays (installed with Keras).

        >>> weights = converter.state_dict("model.keras")                   # doctest: +SKIP
        >>> module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})  # doctest: +SKIP
    """
    with read(source, architecture=architecture) as graph:
        conversion = convert_graph(graph, layout, skip_unsupported)
        result = {}
        for target in conversion.tensors:
            array = np.array(target.load())  # a plain array, not a map of the source file
            if target.dtype == BFLOAT16:
                array = array.view(_bfloat16_dtype(target.key))
            result[target.key] = array
    return result


def _bfloat16_dtype(key: str) -> Any:
    try:
        import ml_dtypes  # numpy itself has no bfloat16
    except ImportError:
        raise ConverterError(
            f"{key} is bfloat16, which numpy cannot hold without ml_dtypes: pip install ml_dtypes, "
            "or convert to a .safetensors or .pt file instead"
        ) from None
    return ml_dtypes.bfloat16


def inspect(source: Source, *, architecture: Any = None) -> Report:
    """What the file holds and what each tensor becomes; never fails on unsupported layers.

        >>> print(converter.inspect("model.h5").to_text())        # doctest: +SKIP
    """
    graph = read(source, architecture=architecture)
    with graph:
        return Report(convert_graph(graph, "torch", skip_unsupported=True))
