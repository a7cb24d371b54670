"""A subclassed Keras 3 model's variables paired with a PyTorch twin's modules, without the Keras class.

Keras 3 saves a subclassed model's variables by attribute and position (`encoder/proj/vars/0`),
not by name. Which Keras layer each object was, and so what each position holds, comes from
the module the twin has at the same attribute path: nn.Linear at `encoder.proj` means a Dense
(kernel, bias), nn.LSTM at `lstm` an LSTM (its cell: kernel, recurrent_kernel, bias). Paths
match leaving out `layers` (Keras's list of a model's layers, under which it saves a layer it
meets there first) and an RNN's `cell`; objects saved by class name inside a list or dict
attribute (`blocks/dense`, `blocks/dense_1`) pair in order with the twin's modules of that kind
under the same attribute. The layers so typed convert by their kinds' rules, exactly as in any
model. An object that pairs with no module, or with a module of a kind that does not say what
its variables are, is refused by name.
"""
from __future__ import annotations

import re
from dataclasses import replace

from .config import Config
from .errors import LoadError
from .graph import Layer, ModelGraph
from .keras_names import to_snake_case
from .matching import TargetUnit

#: a torch module kind -> the Keras class it twins and, by how many variables it saved, their roles
KERAS_TWINS: dict[str, tuple[str, dict[int, tuple[str, ...]]]] = {
    "Linear": ("Dense", {2: ("kernel", "bias"), 1: ("kernel",)}),
    "Conv1d": ("Conv1D", {2: ("kernel", "bias"), 1: ("kernel",)}),
    "Conv2d": ("Conv2D", {2: ("kernel", "bias"), 1: ("kernel",)}),
    "Conv3d": ("Conv3D", {2: ("kernel", "bias"), 1: ("kernel",)}),
    "BatchNorm": ("BatchNormalization", {4: ("gamma", "beta", "moving_mean", "moving_variance")}),
    "LayerNorm": ("LayerNormalization", {2: ("gamma", "beta")}),
    "Embedding": ("Embedding", {1: ("embeddings",)}),
    "LSTM": ("LSTM", {3: ("kernel", "recurrent_kernel", "bias"), 2: ("kernel", "recurrent_kernel")}),
    "GRU": ("GRU", {3: ("kernel", "recurrent_kernel", "bias"), 2: ("kernel", "recurrent_kernel")}),
    "RNN": ("SimpleRNN", {3: ("kernel", "recurrent_kernel", "bias"), 2: ("kernel", "recurrent_kernel")}),
}
#: path components Keras adds that the twin's attributes do not have
SKIPPED_COMPONENTS = ("layers", "cell")
_COUNTED = re.compile(r"^(.*?)(?:_(\d+))?$")


def has_positional_roles(graph: ModelGraph) -> bool:
    """Variables saved by position (`vars/0`): Keras 3's subclassed-model files."""
    return any(tensor.role.startswith("vars/") for _, tensor in graph.tensors())


def typed_layers(graph: ModelGraph, targets: list[TargetUnit]) -> list[Layer]:
    """The graph's variable groups as Keras layers of the kinds the twin's modules say, keyed like them."""
    units = {unit.prefix: unit for unit in targets if unit.prefix}
    pairs: dict[str, Layer] = {}
    left: list[Layer] = []
    for group in graph.walk():
        path = ".".join(part for part in group.path if part not in SKIPPED_COMPONENTS)
        if path in units and path not in pairs:
            pairs[path] = group
        else:
            left.append(group)
    pairs.update(_by_class_order(left, units, pairs))
    unpaired = [group.name for group in left if group not in pairs.values()]
    if unpaired:
        raise LoadError(f"{graph.source}: {len(unpaired)} saved object(s) pair with no module of the PyTorch model: "
                        f"{', '.join(unpaired[:5])}; give your model the same attribute names, or a mapping", None)
    return [_typed(group, units[prefix], prefix, graph.source) for prefix, group in pairs.items()]


def _by_class_order(groups: list[Layer], units: dict[str, TargetUnit], taken: dict[str, Layer]) -> dict[str, Layer]:
    """Objects saved by class name and counter (`blocks/dense_1`) paired in order with the twin's modules of
    that kind under the same attribute (`blocks.0`, `blocks.1`); only when the counts agree."""
    by_slot: dict[tuple[str, str], list[tuple[int, Layer]]] = {}
    for group in groups:
        parts = [part for part in group.path if part not in SKIPPED_COMPONENTS]
        match = _COUNTED.match(parts[-1]) if parts else None
        if match:
            by_slot.setdefault((".".join(parts[:-1]), match.group(1)), []).append((int(match.group(2) or 0), group))
    pairs: dict[str, Layer] = {}
    for (parent, snake), counted in by_slot.items():
        candidates = [prefix for prefix, unit in units.items() if prefix not in taken and
                      prefix.rpartition(".")[0] == parent and _snake_of(unit) == snake]
        if len(candidates) == len(counted):
            pairs.update(zip(candidates, [group for _, group in sorted(counted, key=lambda pair: pair[0])]))
    return pairs


def _snake_of(unit: TargetUnit) -> str | None:
    twin = KERAS_TWINS.get(unit.kinds[0]) if len(unit.kinds) == 1 else None
    return to_snake_case(twin[0]) if twin else None


def _typed(group: Layer, unit: TargetUnit, prefix: str, source: str) -> Layer:
    kinds = " or ".join(unit.kinds)
    twin = KERAS_TWINS.get(unit.kinds[0]) if len(unit.kinds) == 1 else None
    if twin is None:
        raise LoadError(f"{source}: {group.name} pairs with {prefix} ({kinds}), whose kind does not say what its "
                        "saved variables are; refused, not guessed (load_into with your module names the kind)",
                        None)
    class_name, roles_by_count = twin
    roles = roles_by_count.get(len(group.tensors))
    if roles is None:
        raise LoadError(f"{source}: {group.name} holds {len(group.tensors)} variables, which a Keras {class_name} "
                        f"(twin of {prefix}, {kinds}) does not save; refused, not guessed", None)
    return Layer(name=prefix.rpartition(".")[2], class_name=class_name, config=Config({}),
                 path=tuple(prefix.split(".")), has_config=False,
                 tensors=[replace(tensor, role=role) for tensor, role in zip(group.tensors, roles)])
