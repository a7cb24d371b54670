"""Plain HDF5 `.h5`/`.hdf5`: one dataset per key at the root, metadata as root attributes.

bfloat16 tensors are stored as uint16 bits with a `dtype='bfloat16'` attribute, as
Keras 3 marks them.
"""
from __future__ import annotations

from typing import Any, Sequence

import h5py

from ..graph import BFLOAT16


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str], progress: Any = None) -> None:
    with h5py.File(path, "w") as h5:
        for key, value in metadata.items():
            h5.attrs[key] = value
        for tensor in tensors:
            array = tensor.load()
            dataset = h5.create_dataset(tensor.key, data=array)
            if tensor.dtype == BFLOAT16:
                dataset.attrs["dtype"] = BFLOAT16
            if progress:
                progress(array.nbytes)
            del array
