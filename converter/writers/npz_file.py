"""NumPy `.npz`: one array per key plus a JSON entry `__weightport__` with the metadata.

numpy has no bfloat16: such tensors are stored as their uint16 bits and listed under
`bfloat16_keys` in the JSON entry.
"""
from __future__ import annotations

import json
import zipfile
from typing import Any, Sequence

import numpy as np

from ..graph import BFLOAT16

METADATA_KEY = "__weightport__"


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str], progress: Any = None) -> None:
    """One .npy member per tensor, each loaded, written and freed in turn (as np.savez lays them out)."""
    entry = dict(metadata, bfloat16_keys=[t.key for t in tensors if t.dtype == BFLOAT16])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, load in [(t.key, t.load) for t in tensors] + [(METADATA_KEY, lambda: np.array(json.dumps(entry)))]:
            array = np.asarray(load())
            array = array if array.flags.c_contiguous else np.ascontiguousarray(array)  # keeps 0-d
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
            if progress and key != METADATA_KEY:
                progress(array.nbytes)
            del array
