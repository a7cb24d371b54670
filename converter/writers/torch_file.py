"""PyTorch `.pt`/`.pth`: a plain state_dict of tensors.

`torch.load(path, weights_only=True)` and `load_state_dict` accept it. The metadata
rides in the state_dict's `_metadata` attribute (where PyTorch keeps its own per-module
versions) under `__weightport__`, a name no module prefix matches.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Sequence

from ..graph import BFLOAT16

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

METADATA_KEY = "__weightport__"


def as_torch(array: np.ndarray, dtype: str) -> Any:
    """A torch tensor owning a copy of `array` (bfloat16 carried as uint16 bits)."""
    import torch

    array = np.array(array, copy=True, order="C")
    if dtype == BFLOAT16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def write(path: str, tensors: Sequence[Any], metadata: dict[str, str], progress: Any = None) -> None:
    """torch.save needs every tensor at once: this format is not streamed (use .safetensors for that)."""
    import torch  # only this writer and the module builder import torch

    state_dict: OrderedDict[str, Any] = OrderedDict()
    for tensor in tensors:
        state_dict[tensor.key] = as_torch(tensor.load(), tensor.dtype)
        if progress:
            progress(state_dict[tensor.key].nbytes)
    state_dict._metadata = OrderedDict({METADATA_KEY: dict(metadata)})  # type: ignore[attr-defined]
    torch.save(state_dict, path)
