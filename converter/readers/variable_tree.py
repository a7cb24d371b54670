"""A tree of named variables: the view of files that carry weights without a layer graph Keras can
describe (TensorFlow checkpoints without architecture, subclassed models' weights, Hugging Face
TensorFlow checkpoints).

Each variable keeps its full path (`tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel`);
variables are grouped by the path of their parent, one `Variables` group each, and converted
as stored (`--layout keras`), by a template's parameter kinds (`--like`, `load_into`), or by
the naming rules of the source's own convention (Hugging Face).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..config import Config
from ..errors import ReadError
from ..graph import RAW_VARIABLES, Layer, Tensor

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none


def tree(weights: list[tuple[str, Tensor]]) -> list[Layer]:
    """One `Variables` group per parent path (`a/b/kernel` -> group a/b, tensor `kernel`).

    A name listed twice (TensorFlow saves a variable shared by several layers once per layer)
    is kept once, and only if every copy has the same shape and dtype; the copies' values are
    compared when the tensor is loaded.
    """
    groups: dict[tuple[str, ...], Layer] = {}
    seen: dict[str, Tensor] = {}
    copies: dict[str, list[Tensor]] = {}
    for name, tensor in weights:
        if name in seen:
            first = seen[name]
            if (first.shape, first.dtype) != (tensor.shape, tensor.dtype):
                raise ReadError(f"{tensor.source}: variable {name} is saved twice with different shapes or dtypes "
                                f"({first.shape} {first.dtype} at {first.source}); the file is inconsistent")
            copies[name].append(tensor)
            continue
        seen[name] = tensor
        copies[name] = [tensor]
        parts = tuple(name.split("/"))
        path = parts[:-1] or ("variables",)
        if path not in groups:
            groups[path] = Layer(name="/".join(path), class_name=RAW_VARIABLES, config=Config({}), path=path,
                                 has_config=False)
        groups[path].tensors.append(tensor)
    for name, tensors in copies.items():
        if len(tensors) > 1:
            tensors[0].loader = _agreeing(name, tensors)
    return list(groups.values())


def _agreeing(name: str, tensors: list[Tensor]) -> Callable[[], np.ndarray]:
    """A loader that reads every saved copy of a variable and refuses copies that differ."""
    loaders = [tensor.loader for tensor in tensors]

    def load() -> np.ndarray:
        first = loaders[0]()
        for tensor, loader in zip(tensors[1:], loaders[1:]):
            if not np.array_equal(first, loader()):
                raise ReadError(f"{tensor.source}: variable {name} is saved twice with different values "
                                f"({tensors[0].source}); the file is inconsistent")
        return first
    return load
