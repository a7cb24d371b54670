"""Template state_dicts (`--like`): the keys and shapes of a user's freshly built model."""
from __future__ import annotations

import os

import numpy as np

from .errors import ReadError


def template_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """{key: shape} of a saved state_dict: .pt/.pth (torch.save), .safetensors or .npz."""
    if not os.path.isfile(path):
        raise ReadError(f"{path}: no such template file; save one with torch.save(model.state_dict(), path)")
    try:
        if path.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, "np") as handle:
                return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                return {key: tuple(archive[key].shape) for key in archive.files}
        import torch

        state = torch.load(path, weights_only=True, map_location="cpu")
    except ReadError:
        raise
    except Exception as error:  # torch and safetensors raise many kinds
        raise ReadError(f"{path}: cannot read it as a state_dict ({type(error).__name__}: {error}); "
                        "save one with torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict):
        raise ReadError(f"{path}: holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    return {key: tuple(value.shape) for key, value in state.items() if hasattr(value, "shape")}
