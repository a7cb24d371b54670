"""NumPy `.npz`: one array per key plus a JSON entry `__weightport__` with the metadata.

numpy has no bfloat16: such tensors are stored as their uint16 bits and listed under
`bfloat16_keys` in the JSON entry.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from ..graph import BFLOAT16

METADATA_KEY = "__weightport__"


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str]) -> None:
    arrays = {tensor.key: tensor.load() for tensor in tensors}
    entry = dict(metadata, bfloat16_keys=[t.key for t in tensors if t.dtype == BFLOAT16])
    arrays[METADATA_KEY] = np.array(json.dumps(entry))
    with open(path, "wb") as handle:  # a file object: np.savez would append .npz to a name
        np.savez(handle, **arrays)
