"""Layer rules, registered by Keras class name, and the tagging of a graph's tensors.

Importing this package imports every rule module: adding a layer kind is adding one
module here and its name to `_RULE_MODULES`.
"""
from __future__ import annotations

from importlib import import_module

from ..errors import LayoutError
from ..graph import Layer, ModelGraph, to_snake_case
from .registry import RULES, LayerConversion, Rule, TargetTensor, Variable, rule, to_torch

_RULE_MODULES = ("dense",)
for _module in _RULE_MODULES:
    import_module(f"{__name__}.{_module}")

__all__ = ["RULES", "LayerConversion", "Rule", "TargetTensor", "Variable", "rule", "to_torch", "tag_graph"]


def tag_graph(graph: ModelGraph) -> None:
    """Name each tensor's role and set its Keras layout from the rule of its layer's class.

    For layers read without a config, the class is first resolved from the snake-case
    name the file gave it (`batch_normalization_2` -> BatchNormalization).
    """
    by_snake_name = {to_snake_case(name): name for name in RULES}
    for layer in graph.walk():
        if not layer.has_config:
            layer.class_name = by_snake_name.get(layer.class_name, layer.class_name)
        found = RULES.get(layer.class_name)
        if found is None:
            continue
        if layer.tensors:
            _tag_layer(layer, found)
        elif layer.has_config and found.variables(layer.config):
            # A weighted layer kind whose weights the file does not hold: never a silent gap.
            raise LayoutError(
                f"{graph.source}: layer {layer.key} ({layer.class_name}) has no weights in the file; "
                "expected " + ", ".join(variable.role for variable in found.variables(layer.config))
                + "; was the model built before it was saved?"
            )


def _tag_layer(layer: Layer, found: Rule) -> None:
    expected = found.variables(layer.config)
    layouts = {variable.role: variable.layout for variable in expected}
    where = f"{layer.tensors[0].source}: layer {layer.key} ({layer.class_name})"
    if all(tensor.role.startswith("vars/") for tensor in layer.tensors):
        # Keras 3 files number variables in creation order. Without a config, optional
        # variables (a bias) can only be told by their count.
        count = len(layer.tensors)
        if count > len(expected) or (count < len(expected) and layer.has_config):
            raise LayoutError(
                f"{where} has {count} tensors, expected {len(expected)}: {', '.join(layouts)}"
            )
        for tensor, variable in zip(layer.tensors, expected):
            tensor.role = variable.role
    roles = [tensor.role for tensor in layer.tensors]
    unexpected = [role for role in roles if role not in layouts]
    missing = [role for role in layouts if role not in roles] if layer.has_config else []
    if unexpected or missing:
        raise LayoutError(
            f"{where}: unexpected tensors {unexpected}, missing {missing}; expected {', '.join(layouts)}"
        )
    for tensor in layer.tensors:
        tensor.layout = layouts[tensor.role]


def supported_layers_markdown() -> str:
    """The README's supported-layers table, generated from the registry."""
    lines = ["| Keras layer | PyTorch module | transform |", "|---|---|---|"]
    for name in sorted(RULES):
        found = RULES[name]
        lines.append(f"| {name} | `{found.torch_module}` | {found.description} |")
    return "\n".join(lines)
