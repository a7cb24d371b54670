"""What a kind's weight rule is made of: its variables, and the converted tensors it returns.

A rule says which variables the Keras layer has (role, Keras layout, and where Keras 3
stores it), in the order Keras creates them, and converts a tagged `Layer` into the
tensors of the PyTorch module a user would write. Rules use numpy only and take every
layout change from `converter.layouts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from ..config import Config
from ..conversion import TargetTensor
from ..errors import LayoutError
from ..graph import Filled, Layer, Tensor
from ..layouts import Layout, Transform, transform
from .forward import SavedBy

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none


@dataclass(frozen=True)
class Variable:
    """One Keras variable of a layer kind.

    `store_path` is where a Keras 3 weights file keeps it under the layer's group
    (`vars/0`, `cell/vars/1`); `names` are the last component of its name in legacy
    files and live models (`kernel`, or tf.keras's `depthwise_kernel`).
    """

    role: str
    layout: Layout
    store_path: str
    names: tuple[str, ...]
    optional: bool = False  # a second reference to another variable, which some formats store once


def numbered(prefix: str, variables: Iterable[tuple[str, Layout] | tuple[str, Layout, tuple[str, ...]]],
             role_prefix: str = "") -> list[Variable]:
    """Variables stored as `{prefix}vars/0`, `vars/1`, ... in creation order."""
    result = []
    for index, entry in enumerate(variables):
        role, layout = entry[0], entry[1]
        aliases = entry[2] if len(entry) > 2 else ()
        result.append(Variable(role_prefix + role, layout, f"{prefix}vars/{index}", (role,) + tuple(aliases)))
    return result


def with_bias(*weights: tuple[str, Layout] | tuple[str, Layout, tuple[str, ...]],
              flag: Callable[[Config], bool] = lambda config: config.bool("use_bias", True),
              ) -> Callable[[Config], list[Variable]]:
    """The variables of a layer that has `weights`, then a bias when `flag(config)` holds."""

    def variables(config: Config) -> list[Variable]:
        entries = list(weights) + ([("bias", Layout.VECTOR)] if flag(config) else [])
        return numbered("", entries)

    return variables


class Context(SavedBy, Protocol):
    """What a rule may ask of the rest of the graph, and of the Keras that ran it."""

    def producer(self, layer: Layer) -> Layer | None:
        """The single layer feeding `layer` (None for several inputs or none)."""


def wrapped(config: Config, key: str = "layer") -> tuple[str, Config]:
    """The class and config of the layer a wrapper (Bidirectional, TimeDistributed) holds ("" if none)."""
    inner = config.get(key)
    inner = inner if isinstance(inner, dict) else {}
    class_name = inner.get("class_name")
    inner_config = inner.get("config")
    return (class_name if isinstance(class_name, str) else "",
            Config(inner_config if isinstance(inner_config, dict) else {}, f"{config.where} (its {key})"))


def expect_shape(layer: Layer, role: str, shape: tuple[int | None, ...], why: str) -> None:
    """LayoutError unless the layer's `role` tensor has `shape` (None: any size on that axis).

    Rules check what the config and their other tensors imply, so that a crafted file whose
    tensors contradict each other stops here instead of giving a module that cannot load.
    """
    found = layer.tensor(role).shape
    if len(found) != len(shape) or any(want is not None and want != have for want, have in zip(shape, found)):
        wanted = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
        raise LayoutError(f"{layer.tensor(role).source}: {role} of layer {layer.key} ({layer.class_name}) has shape "
                          f"{found}, expected {wanted} ({why})")


def to_torch(layer: Layer, role: str, torch_param: str, target: Layout, step: Transform | None = None) -> TargetTensor:
    """The layer's `role` tensor as `{layer.key}.{torch_param}` in layout `target`.

    The transform is `step` when given, else the table's (a permutation, a Theano kernel's flip first).
    """
    tensor = layer.tensor(role)
    key = f"{layer.key}.{torch_param}"
    step = step if step is not None else transform(tensor.layout, target)
    if step is None:
        return TargetTensor(key, tensor, target, tensor.shape, "none")
    try:
        shape = step.shape(tensor.shape)
    except LayoutError as error:
        raise LayoutError(f"{tensor.source}: {role} of layer {layer.key} ({layer.class_name}): {error}") from None
    return TargetTensor(key, tensor, target, shape, step.describe(), step)


def kernel_and_bias(layer: Layer, target: Layout, step: Transform | None = None,
                    prefix: str = "") -> list[TargetTensor]:
    """`kernel` -> `{prefix}weight` in layout `target`, and `bias` -> `{prefix}bias` when present."""
    tensors = [to_torch(layer, "kernel", f"{prefix}weight", target, step)]
    if layer.has("bias"):
        tensors.append(to_torch(layer, "bias", f"{prefix}bias", Layout.VECTOR))
    return tensors


def concatenated(layer: Layer, torch_param: str, parts: list[TargetTensor], axis: int = 0) -> TargetTensor:
    """One torch tensor made of several converted ones (q, k, v into in_proj_weight), of one dtype: a layer's
    weights share theirs (a crafted file's int32 query kernel beside float32 ones is refused)."""
    first = parts[0]
    dtypes = sorted({part.dtype for part in parts})
    if len(dtypes) > 1:
        raise LayoutError(f"{first.source.source}: layer {layer.key} ({layer.class_name}): "
                          f"{', '.join(part.source.role for part in parts)} are "
                          f"stored in different dtypes ({', '.join(dtypes)}) and make one {torch_param}: the file is "
                          "damaged, or was not written by Keras")
    shape = list(first.shape)
    shape[axis] = sum(part.shape[axis] for part in parts)
    source = Tensor(
        role=" + ".join(part.source.role for part in parts), shape=tuple(shape), dtype=first.dtype,
        source=" + ".join(part.source.source for part in parts),
        loader=lambda: np.concatenate([part.load() for part in parts], axis=axis), layout=first.layout,
    )
    transform = f"each {first.transform}; concatenate(axis={axis})"
    return TargetTensor(f"{layer.key}.{torch_param}", source, first.layout, tuple(shape), transform)


def created(layer: Layer, torch_param: str, value: float, shape: tuple[int, ...], like: str, why: str) -> TargetTensor:
    """A tensor PyTorch's module has and Keras's layer does not (a second RNN bias, a counter).

    Filled with `value`, in the dtype of the layer's `like` tensor (or `like` itself when
    it names a dtype, such as 'int64').
    """
    dtype = layer.tensor(like).dtype if layer.has(like) else like
    source = Tensor(role=torch_param, shape=shape, dtype=dtype, source=f"created by weightport: {why}",
                    loader=Filled(shape, value, dtype), layout=Layout.SAME)
    return TargetTensor(f"{layer.key}.{torch_param}", source, Layout.SAME, shape, f"created: {why}")
