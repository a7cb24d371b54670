"""The rule registry: one rule per Keras layer class, each in its own module.

A rule says which variables the Keras layer has (their roles and Keras layouts, in
the order Keras creates them) and converts a tagged `Layer` into PyTorch tensors.
Rules use numpy only and take every permutation from `converter.layouts`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import LayoutError
from ..graph import Layer, Tensor
from ..layouts import Layout, Permutation, permutation


@dataclass(frozen=True)
class Variable:
    """One Keras variable of a layer kind: its role name and Keras layout."""

    role: str
    layout: Layout


@dataclass
class TargetTensor:
    """A converted tensor: its key, layout and shape, and how it came from its source."""

    key: str
    source: Tensor
    layout: Layout
    shape: tuple[int, ...]
    transform: str  # as the record shows it: 'none', 'transpose(1,0)', ...
    permutation: Permutation | None = field(default=None, repr=False)

    @property
    def dtype(self) -> str:
        return self.source.dtype

    def load(self) -> np.ndarray:
        """Read the source tensor and apply the transform."""
        array = self.source.load()
        return self.permutation.apply(array) if self.permutation else array


@dataclass
class LayerConversion:
    """What a rule made of one layer: the torch module a user would write, and its tensors."""

    layer: Layer
    torch_module: str  # e.g. 'nn.Linear'
    module_args: dict[str, Any]
    tensors: list[TargetTensor]
    activation: str | None = None  # the Keras activation fused into the layer, applied after it
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    keras_class: str
    torch_module: str
    variables: Callable[[dict[str, Any]], list[Variable]]
    convert: Callable[[Layer], LayerConversion]
    description: str  # one line for the README's supported-layers table


RULES: dict[str, Rule] = {}


def rule(
    keras_class: str, *, torch_module: str, variables: Callable[[dict[str, Any]], list[Variable]], description: str
) -> Callable[[Callable[[Layer], LayerConversion]], Callable[[Layer], LayerConversion]]:
    """Register the decorated function as the conversion of `keras_class`."""

    def register(convert: Callable[[Layer], LayerConversion]) -> Callable[[Layer], LayerConversion]:
        if keras_class in RULES:
            raise RuntimeError(f"two rules for Keras class {keras_class}")
        RULES[keras_class] = Rule(keras_class, torch_module, variables, convert, description)
        return convert

    return register


def to_torch(layer: Layer, role: str, torch_param: str, target: Layout) -> TargetTensor:
    """The layer's `role` tensor as `{layer.key}.{torch_param}` in layout `target`."""
    tensor = layer.tensor(role)
    step = permutation(tensor.layout, target)
    if step is None:
        return TargetTensor(f"{layer.key}.{torch_param}", tensor, target, tensor.shape, "none")
    if len(tensor.shape) != len(step.axes):
        raise LayoutError(
            f"{tensor.source}: {layer.class_name} {role} of layer {layer.key} should be "
            f"{len(step.axes)}-D {step.source_shape}, found shape {tensor.shape}"
        )
    shape = tuple(tensor.shape[axis] for axis in step.axes)
    return TargetTensor(f"{layer.key}.{torch_param}", tensor, target, shape, step.transform, step)
