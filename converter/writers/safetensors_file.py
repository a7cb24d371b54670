"""safetensors: the default output; metadata in the header's `__metadata__`."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from safetensors import TensorSpec, serialize_file


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str]) -> None:
    arrays = {tensor.key: np.ascontiguousarray(tensor.load()) for tensor in tensors}
    # safetensors takes raw buffers: bfloat16 bits go in as they are, tagged bfloat16.
    specs = {
        tensor.key: TensorSpec(
            dtype=tensor.dtype, shape=arrays[tensor.key].shape,
            data_ptr=arrays[tensor.key].ctypes.data, data_len=arrays[tensor.key].nbytes,
        )
        for tensor in tensors
    }
    serialize_file(specs, path, metadata=metadata)
