"""NumPy `.npz`: one array per key, nothing else, so `np.load(path).items()` yields tensors only.

The metadata is JSON in the zip archive's comment (`zipfile.ZipFile(path).comment`), which
numpy never reads. numpy has no bfloat16: such tensors are stored as their uint16 bits and
listed under `bfloat16_keys` in that JSON.
"""
from __future__ import annotations

import json
import zipfile
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import WriteError
from ..graph import BFLOAT16

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

COMMENT_LIMIT = 65535  # bytes a zip archive's comment can hold


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str], progress: Any = None) -> None:
    """One .npy member per tensor, each loaded, written and freed in turn (as np.savez lays them out)."""
    entry = dict(metadata, bfloat16_keys=[t.key for t in tensors if t.dtype == BFLOAT16])
    comment = json.dumps(entry).encode("utf-8")
    if len(comment) > COMMENT_LIMIT:  # checked first: no partial output
        raise WriteError(f"{path}: {len(entry['bfloat16_keys'])} bfloat16 tensors are too many to list in an "
                         ".npz; write .safetensors, which holds bfloat16 itself")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.comment = comment
        for tensor in tensors:
            array = np.asarray(tensor.load())
            array = array if array.flags.c_contiguous else np.ascontiguousarray(array)  # keeps 0-d
            with archive.open(tensor.key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
            if progress:
                progress(array.nbytes)
            del array


def read_metadata(path: str) -> dict[str, Any]:
    """The metadata JSON an .npz written by weightport holds in its comment."""
    with zipfile.ZipFile(path) as archive:
        return dict(json.loads(archive.comment.decode("utf-8")))
