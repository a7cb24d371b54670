"""TensorFlow.js layers models: `model.json` (a Keras model config and a weights manifest) and the binary
weight files beside it (`group1-shard1of1.bin`, ...), as `tensorflowjs_converter` writes a Keras model and
TensorFlow.js's `model.save` writes its own (Teachable Machine's exports among them).

The manifest lists groups of weights, each group's files concatenated into one buffer holding its weights in
order, little-endian: `{"name": "dense/kernel", "shape": [3, 2], "dtype": "float32"}`, optionally quantized
(`"quantization": {"dtype": "uint8", "scale": s, "min": m}`: value = q * s + m; `float16`: half floats). Each
weight goes to the layer whose name stands first (then longest) whole in its name's scope (names are the
layer's variable names, a nested model's scope sometimes before them), its role the name's last component.
A graph model (converted from a SavedModel: a TensorFlow graph, no Keras layers) is refused by name.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from ..errors import ReadError
from ..graph import FileRegion, Layer, ModelGraph, Tensor
from .keras_config import parse_model
from .limits import version_text
from .sharded import bare_file_name

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

#: stored dtypes (a quantized weight's is its quantization's) and their sizes
_ITEM_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}


def is_tfjs_model(document: Any) -> bool:
    """Whether a JSON document is a TensorFlow.js model.json (it has a weights manifest)."""
    return isinstance(document, dict) and "weightsManifest" in document


def read_tfjs(path: str, document: dict[str, Any]) -> ModelGraph:
    """The graph of a TensorFlow.js layers model's model.json (`document`, read already)."""
    topology = document.get("modelTopology")
    if document.get("format") == "graph-model" or (isinstance(topology, dict) and "node" in topology):
        raise ReadError(f"{path}: a TensorFlow.js graph model (converted from a SavedModel or a frozen graph: a "
                        "TensorFlow graph, no Keras layers); convert the Keras model it was made from")
    config = topology.get("model_config", topology) if isinstance(topology, dict) else None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ReadError(f"{path}: a TensorFlow.js model.json without a Keras model config in modelTopology; "
                        "not a layers model")
    version = version_text(topology.get("keras_version")) if isinstance(topology, dict) else "unknown"
    if not version[:1].isdigit():  # TensorFlow.js's own save ("tfjs-layers 4.22.0"): its layers are tf.keras 2's
        version = f"2.x (TensorFlow.js: {version_text(document.get('generatedBy', version))})"
    graph = ModelGraph(layers=[], source=path, format="tfjs-layers", keras_version=version)
    config = _input_shapes_named(config, "batch_shape" if version.startswith("3") else "batch_input_shape")
    graph.own_config = config  # (verify has Keras build it, then gives it the weights read here)
    root, graph.inputs = parse_model(config, path)
    graph.layers, graph.root = root.children or [], root
    leaves: dict[str, Layer] = {}
    for leaf in root.walk():
        if leaf.name in leaves:
            raise ReadError(f"{path}: two layers are named {leaf.name!r} (in nested models); which one a weight "
                            "belongs to cannot be told from its name")
        leaves[leaf.name] = leaf
    for name, tensor in _weights(path, document.get("weightsManifest")):
        # the first (then longest) layer name standing whole in the weight's scope: a layer's own name may hold
        # slashes (MobileNetV3's `expanded_conv/expand/BatchNorm`), a nested model's scope may come before it
        scoped = f"/{name.rsplit('/', 1)[0]}/"
        found = [(scoped.find(f"/{leaf}/"), -len(leaf), leaf) for leaf in leaves if f"/{leaf}/" in scoped]
        owner = leaves[min(found)[2]] if found else None
        if owner is None:
            raise ReadError(f"{path}: weight {name!r} names no layer of the model config; the manifest and the "
                            "config are not of one model")
        owner.tensors.append(tensor)
    graph.files = [path]
    return graph


def _input_shapes_named(config: Any, key: str) -> Any:
    """`config` with each InputLayer's `batchInputShape` named `key`, as its Keras names it: TensorFlow.js reads
    Keras 3's `batch_shape` under that name only, so Keras 3 models' model.json files hold it so (edited by hand, or
    written so by the converter)."""
    if isinstance(config, list):
        return [_input_shapes_named(value, key) for value in config]
    if not isinstance(config, dict):
        return config
    inner = config.get("config")
    if (config.get("class_name") == "InputLayer" and isinstance(inner, dict) and "batchInputShape" in inner
            and "batch_shape" not in inner and "batch_input_shape" not in inner):
        inner = {(key if name == "batchInputShape" else name): value for name, value in inner.items()}
        return {**config, "config": inner}
    return {name: _input_shapes_named(value, key) for name, value in config.items()}


def _weights(path: str, manifest: Any) -> list[tuple[str, Tensor]]:
    """(name, lazy tensor) of every weight the manifest lists, each checked to lie within its group's files."""
    if not isinstance(manifest, list):
        raise ReadError(f"{path}: weightsManifest is not a list of groups; the model.json is malformed")
    folder = os.path.dirname(path)
    weights: list[tuple[str, Tensor]] = []
    for group in manifest:
        files = group.get("paths") if isinstance(group, dict) else None
        entries = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(files, list) or not isinstance(entries, list):
            raise ReadError(f"{path}: a weights group without paths and weights lists; the model.json is malformed")
        pieces = []  # (file, size): the group's buffer is their bytes in order
        for name in files:
            # (TensorFlow.js's own model.save names them `./model.weights.bin`: beside the model.json too)
            bare = name[2:] if isinstance(name, str) and name.startswith("./") else name
            file = os.path.join(folder, bare_file_name(bare, path))
            if not os.path.isfile(file):
                raise ReadError(f"{path}: the manifest names weight file {name!r}, which is not beside it; copy it "
                                "there (a TensorFlow.js model is model.json and its .bin files together)")
            pieces.append((file, os.path.getsize(file)))
        offset, total = 0, sum(size for _, size in pieces)
        for entry in entries:
            name, shape, stored, dequantize = _entry(entry, path)
            size = math.prod(shape) * _ITEM_BYTES[stored]
            if offset + size > total:
                empty = [os.path.basename(file) for file, file_size in pieces if file_size == 0]
                why = (f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty (an unfinished download or "
                       "copy, or a file too large for where it was kept); fetch the .bin files again") if empty else \
                    "a .bin file is truncated or the manifest is not theirs"
                raise ReadError(f"{path}: weight {name!r} lies past the end of its group's files ({total} bytes); "
                                f"{why}")
            weights.append((name, _tensor(path, name, shape, stored, dequantize, pieces, offset, size)))
            offset += size
    return weights


def _entry(entry: Any, path: str) -> tuple[str, tuple[int, ...], str, tuple[float, float] | None]:
    """A manifest entry checked: (name, shape, stored dtype, (scale, min) to dequantize or None)."""
    name, shape, dtype = (entry.get(key) for key in ("name", "shape", "dtype")) if isinstance(entry, dict) \
        else (None, None, None)
    if not isinstance(name, str) or not name or not isinstance(shape, list) or not all(
            type(size) is int and 0 <= size < 1 << 40 for size in shape):
        raise ReadError(f"{path}: a manifest entry without a name and a shape of sizes: {str(entry)[:80]}")
    quantization = entry.get("quantization")
    if quantization is None:
        if dtype not in ("float32", "int32", "bool"):
            raise ReadError(f"{path}: weight {name!r} of dtype {str(dtype)[:20]!r}, which is not read "
                            "(float32, int32, bool and quantized float32 are)")
        return name, tuple(shape), dtype, None
    stored = quantization.get("dtype") if isinstance(quantization, dict) else None
    if dtype != "float32" or stored not in ("uint8", "uint16", "float16"):
        raise ReadError(f"{path}: weight {name!r} quantized as {str(quantization)[:60]}, which is not read "
                        "(uint8, uint16 and float16 quantizations of float32 weights are)")
    if stored == "float16":
        return name, tuple(shape), stored, None
    scale, low = quantization.get("scale"), quantization.get("min")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
               for value in (scale, low)):
        raise ReadError(f"{path}: weight {name!r} quantized without a finite scale and min; the model.json is "
                        "malformed")
    return name, tuple(shape), stored, (float(scale), float(low))


def _tensor(path: str, name: str, shape: tuple[int, ...], stored: str, dequantize: tuple[float, float] | None,
            pieces: list[tuple[str, int]], offset: int, size: int) -> Tensor:
    """A lazy tensor of `size` bytes at `offset` of the group's buffer (its files in order)."""
    def raw() -> bytes:
        data, position = bytearray(), 0
        for file, length in pieces:
            start, end = max(offset - position, 0), min(offset + size - position, length)
            if start < end:
                with open(file, "rb") as handle:
                    handle.seek(start)
                    data += handle.read(end - start)
            position += length
        if len(data) != size:
            raise ReadError(f"{path}: weight {name!r}: its bytes could not be read whole; a .bin file changed")
        return bytes(data)

    def load() -> np.ndarray:
        array = np.frombuffer(raw(), dtype=np.dtype(stored).newbyteorder("<")).reshape(shape)
        if stored == "float16":
            return array.astype(np.float32)
        if dequantize is not None:
            return (array.astype(np.float32) * np.float32(dequantize[0]) + np.float32(dequantize[1]))
        return array.astype(array.dtype.newbyteorder("="), copy=False)

    dtype = "float32" if stored in ("uint8", "uint16", "float16") else stored
    source = f"{path}:{name}"
    if stored == dtype and dtype != "bool":  # its bytes as they are: a writer may copy them file to file
        file_offset = offset
        for file, length in pieces:
            if file_offset < length:
                if file_offset + size <= length:
                    return Tensor(name.split("/")[-1], shape, dtype, source,
                                  FileRegion(file, file_offset, load, lambda: None))
                break
            file_offset -= length
    return Tensor(name.split("/")[-1], shape, dtype, source, load)
