"""Files that are not Keras's, named by their first bytes: a PyTorch checkpoint saved as `model.h5`,
a web page downloaded in place of the model, a compressed copy. A refusal that says what the file
is tells the user what to do; "neither a zip archive nor an HDF5 file" does not.

Only bytes are looked at: nothing here unpickles, decompresses or parses the file.
"""
from __future__ import annotations

import re
import struct

from ..errors import ReadError
from .protowire import varint
from .yaml_config import looks_yaml

__all__ = ["file_kind", "zip_kind"]

# torch.save before PyTorch 1.6: pickle protocol 2, then its magic number 0x1950a86a20f9469cfc6c as a LONG1
_TORCH_LEGACY = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_ALREADY_TORCH = "its weights are already PyTorch's: load it with torch.load(path, weights_only=True)"
_OTHER_FILES = [(b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG\r\n\x1a\n", "a PNG image")]
_PICKLE = ("a Python pickle (pickle, joblib or an old torch.save), not a Keras file; weightport never "
           "unpickles a file (unpickling runs code)")


def file_kind(head: bytes) -> str | None:
    """What a file that is neither a zip archive nor an HDF5 file is, from its first bytes (200 are
    enough), as a phrase with what to do; None when it is nothing this module knows."""
    if head.startswith(_TORCH_LEGACY):
        return f"a PyTorch checkpoint (torch.save before PyTorch 1.6), not a Keras file; {_ALREADY_TORCH}"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return _PICKLE
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array (.npy, numpy.save), not a Keras model file"
    for magic, kind in _OTHER_FILES:
        if head.startswith(magic):
            return f"{kind}, not a model file"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed: decompress it (gunzip) and convert the file inside"
    if head.startswith(b"BZh"):
        return "bzip2-compressed: decompress it (bunzip2) and convert the file inside"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz-compressed: decompress it (unxz) and convert the file inside"
    if head[4:8] == b"TFL3":
        return ("a TensorFlow Lite model (.tflite), not a Keras file: its weights are fused and often quantized; "
                "convert the Keras model it was made from")
    if _is_graph_def(head):
        return ("a TensorFlow frozen graph (a GraphDef .pb): its weights are constants among graph operations, "
                "with no Keras layers to read; convert the Keras model (.keras, .h5 or SavedModel folder) it was "
                "frozen from")
    if head.startswith(b"\x08\x01\x12"):  # SavedModel: saved_model_schema_version 1, then its meta graphs
        return ("a TensorFlow SavedModel's saved_model.pb under another name: give its folder (the .pb named "
                "saved_model.pb, with the variables/ folder beside it)")
    if _is_safetensors(head):
        return "a safetensors file, already tensors by name (weightport writes these from Keras files)"
    if looks_yaml("", head):
        return ("a Keras model config as YAML (Keras 2's model.to_yaml()), which holds no weights: convert the "
                "weights file saved with it, giving --architecture with this file")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return ("a web page, not a model: it was downloaded from the page showing the file; download the raw "
                "file instead (GitHub: the 'Download raw file' button, or a URL with ?raw=true)")
    return None


def zip_kind(names: list[str]) -> str | None:
    """What a zip archive that is not a `.keras` archive is, from its member names; None when unknown."""
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return f"a PyTorch checkpoint (torch.save), not a Keras file; {_ALREADY_TORCH}"
    if names and all(name.endswith(".npy") for name in names):
        return "a NumPy archive (.npz, numpy.savez), not a Keras model file"
    return None


def _is_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then the header's JSON object."""
    if len(head) < 10 or head[8:10] not in (b'{"', b"{}"):
        return False
    return 2 <= struct.unpack_from("<Q", head)[0] < 1 << 32


def _is_graph_def(head: bytes) -> bool:
    """A GraphDef's first field is a NodeDef (field 1) whose name (field 1) and op (field 2) come first:
    the op is a TensorFlow operation's name, such as `Placeholder` or `Const`."""
    if not head.startswith(b"\x0a"):
        return False
    try:
        position = varint(head, 1, "")[1]
        if head[position:position + 1] != b"\x0a":
            return False
        name_length, position = varint(head, position + 1, "")
        position += name_length
        if head[position:position + 1] != b"\x12":
            return False
        op_length, position = varint(head, position + 1, "")
    except ReadError:  # a varint the first bytes cut off: no GraphDef that can be told
        return False
    op = head[position:position + op_length]
    return 0 < op_length <= 64 and len(op) == op_length and re.fullmatch(rb"[A-Z][A-Za-z0-9_]*", op) is not None
