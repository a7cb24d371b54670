"""Pair converted Keras tensors with the parameters of someone else's PyTorch model.

Sources are the converted tensors grouped into units (one torch module each: a Keras
layer, or one part of a separable convolution or attention block); targets are the
parameters of the user's module (or of a template state_dict) grouped the same way. A
plan pairs them by key (after renaming) or by order within each layer kind, checking
shapes, and explains every pairing it cannot make. numpy only: torch stays in loading.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from .conversion import Conversion, TargetTensor
from .errors import LayoutError
from .layouts import Layout, permutation
from .renaming import Mapping, renamer

RNN_KINDS = ("LSTM", "GRU", "RNN")
_RNN_SUFFIX = re.compile(r"_l(\d+)(_reverse)?$")


@dataclass
class SourceUnit:
    """Converted tensors that one torch module holds, from one Keras layer (or part of one)."""

    prefix: str  # e.g. "dense_1" or "sep.depthwise"
    kind: str  # torch module class: "Linear", "Conv2d", "BatchNorm", "LSTM", ...
    tensors: list[TargetTensor]
    directions: int = 1  # 2 for a Bidirectional recurrent layer

    def local(self, tensor: TargetTensor) -> str:
        return tensor.key[len(self.prefix) + 1:]


@dataclass
class TargetUnit:
    """The parameters (and buffers) of one module of the user's model, in its own order."""

    prefix: str
    kinds: tuple[str, ...]  # the module's class; several when read from a bare state_dict
    shapes: dict[str, tuple[int, ...]]  # local name -> shape, in state_dict order
    layers: int = 1  # num_layers of a recurrent module
    directions: int = 1

    def key(self, local: str) -> str:
        return f"{self.prefix}.{local}" if self.prefix else local


@dataclass
class Row:
    """One line of a plan: a Keras tensor, the parameter it goes to, and whether it fits."""

    source: TargetTensor | None
    target_key: str | None
    target_shape: tuple[int, ...] | None
    status: str  # "load", "missing", "unexpected", "mismatched"
    note: str = ""


@dataclass(repr=False)
class Plan:
    """What loading would do, tensor by tensor; printed, a readable table."""

    rows: list[Row]
    mode: str
    problems: list[str] = field(default_factory=list)  # pairings refused, with why

    def keys(self, status: str) -> list[str]:
        return [row.target_key or (row.source.key if row.source else "") for row in self.rows if row.status == status]

    @property
    def loaded(self) -> list[str]:
        return self.keys("load")

    @property
    def missing(self) -> list[str]:
        return self.keys("missing")

    @property
    def unexpected(self) -> list[str]:
        return [row.source.key for row in self.rows if row.status == "unexpected" and row.source]

    @property
    def mismatched(self) -> list[str]:
        return self.keys("mismatched")

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.problems)

    def __repr__(self) -> str:
        return (f"Plan({self.mode}, {len(self.rows)} rows, {'ok' if self.ok else 'not ok'}: "
                f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, {len(self.mismatched)} mismatched)")

    def __str__(self) -> str:
        header = ("keras tensor", "keras shape", "transform", "-> torch parameter", "torch shape", "status")
        table = [header]
        for row in self.rows:
            source = row.source
            table.append((
                f"{source.key} ({source.source.role})" if source else "-",
                _shape(source.source.shape) if source and not source.transform.startswith("created") else "-",
                source.transform if source else "-",
                row.target_key or "-", _shape(row.target_shape) if row.target_shape else "-",
                row.status + (f": {row.note}" if row.note else ""),
            ))
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines = [f"plan ({self.mode}): {len(self.loaded)} to load, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unexpected, {len(self.mismatched)} mismatched"]
        lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                  for line in table]
        lines += [f"refused: {problem}" for problem in self.problems]
        return "\n".join(lines)


def _shape(shape: Iterable[int] | None) -> str:
    shape = tuple(shape or ())
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------- sources and targets

def source_units(conversion: Conversion) -> list[SourceUnit]:
    """The converted tensors as units, in Keras graph order."""
    units = []
    for result in conversion.layers:
        module = result.module
        if module.parts:  # a container of several modules (a separable convolution's two)
            parts: dict[str, list[TargetTensor]] = {}
            for tensor in result.tensors:
                part = tensor.key[len(result.layer.key) + 1:].split(".")[0]
                parts.setdefault(part, []).append(tensor)
            units += [SourceUnit(f"{result.layer.key}.{part}", module.part(part).family, tensors)
                      for part, tensors in parts.items()]
        else:
            directions = 2 if module.arguments.get("bidirectional") else 1
            units.append(SourceUnit(result.layer.key, module.family, list(result.tensors), directions))
    return units


def raw_source_units(conversion: Conversion) -> list[SourceUnit]:
    """Tensors converted with --layout keras from groups of named variables (a checkpoint without
    architecture): one unit per group, its torch module decided by where each tensor goes."""
    units: dict[str, SourceUnit] = {}
    for tensor in conversion.tensors:
        prefix = tensor.key.rpartition(".")[0]
        units.setdefault(prefix, SourceUnit(prefix, "Variables", [])).tensors.append(tensor)
    return list(units.values())


#: TensorFlow's layout of a variable named `kernel`, by the torch module it goes into (Dense and
#: convolution kernels are (in, out) and (k..., in, out) in every TensorFlow model); anything else
#: of rank 2 or more has no known convention and is refused rather than guessed
RAW_KERNELS = {
    "Linear": (Layout.KERAS_DENSE_IO, Layout.TORCH_LINEAR_OI),
    "Conv1d": (Layout.KERAS_CONV1D_WIO, Layout.TORCH_CONV1D_OIW),
    "Conv2d": (Layout.KERAS_CONV2D_HWIO, Layout.TORCH_CONV2D_OIHW),
    "Conv3d": (Layout.KERAS_CONV3D_DHWIO, Layout.TORCH_CONV3D_OIDHW),
}
#: modules whose parameters TensorFlow stores as torch does (tables and per-channel vectors)
RAW_SAME = ("Embedding", "LayerNorm", "BatchNorm", "GroupNorm")


def _raw_row(tensor: TargetTensor, key: str, shape: tuple[int, ...], target: TargetUnit | None) -> Row:
    """A named variable into a parameter: its transform from the variable's name and the module's kind."""
    kind = target.kinds[0] if target and len(target.kinds) == 1 else None
    role = tensor.source.role
    if kind in RAW_KERNELS and role == "kernel" and key.endswith(".weight"):
        step = permutation(*RAW_KERNELS[kind])
        assert step is not None
        try:
            adapted = replace(tensor, layout=RAW_KERNELS[kind][1], shape=step.shape(tensor.shape),
                              transform=step.describe(), step=step)
        except LayoutError as error:
            return Row(tensor, key, shape, "mismatched", f"{tensor.key} {_shape(tensor.shape)} into {kind} {key}: "
                                                         f"{error}")
        return _row(adapted, key, shape, target)
    if len(tensor.shape) <= 1 or kind in RAW_SAME:
        return _row(tensor, key, shape, target)
    return Row(tensor, key, shape, "mismatched",
               f"{tensor.key} {_shape(tensor.shape)} into {kind or 'a module'} {key}: a {len(tensor.shape)}-D variable "
               f"named {role!r} has no known TensorFlow layout for {kind or 'that module'}; refused, not guessed "
               "(a Dense or convolution kernel is named 'kernel')")


def target_units_from_module(module: Any) -> list[TargetUnit]:
    """The user's module as units: each submodule holding parameters or buffers, in definition order."""
    units = []
    skip: list[str] = []
    for name, child in module.named_modules():
        if any(name == s or name.startswith(s + ".") for s in skip):
            continue
        kind = type(child).__name__
        recurse = kind == "MultiheadAttention"  # its out_proj is part of it
        if recurse:
            skip.append(name)
        shapes = {local: tuple(value.shape) for local, value in child.state_dict(keep_vars=True).items()
                  if recurse or "." not in local}
        if not shapes:
            continue
        kind = "BatchNorm" if kind.startswith("BatchNorm") else ("Linear" if kind.endswith("Linear") else kind)
        units.append(TargetUnit(name, (kind,), shapes, int(getattr(child, "num_layers", 1) or 1),
                                2 if getattr(child, "bidirectional", False) else 1))
    return units


def target_units_from_state_dict(shapes: dict[str, tuple[int, ...]]) -> list[TargetUnit]:
    """A template state_dict as units; the module class is worked out from parameter names and ranks."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        prefix, _, local = key.rpartition(".")
        if prefix.endswith(".out_proj") and f"{prefix[:-9]}.in_proj_weight" in shapes:
            prefix, local = prefix[:-9], "out_proj." + local  # nn.MultiheadAttention keeps out_proj inside
        groups.setdefault(prefix, {})[local] = tuple(shape)
    units = []
    for prefix, locals_ in groups.items():
        kinds, layers, directions = _guess_kinds(locals_)
        units.append(TargetUnit(prefix, kinds, locals_, layers, directions))
    return units


def _guess_kinds(shapes: dict[str, tuple[int, ...]]) -> tuple[tuple[str, ...], int, int]:
    if "in_proj_weight" in shapes:
        return ("MultiheadAttention",), 1, 1
    if "weight_ih_l0" in shapes:
        gates = shapes["weight_hh_l0"][0] // shapes["weight_hh_l0"][1]
        kind = {4: "LSTM", 3: "GRU", 1: "RNN"}.get(gates, "RNN")
        layers = 1 + max(int(m.group(1)) for m in (_RNN_SUFFIX.search(k) for k in shapes) if m)
        return (kind,), layers, 2 if any(k.endswith("_reverse") for k in shapes) else 1
    if "running_mean" in shapes:
        return ("BatchNorm",), 1, 1
    weight = shapes.get("weight")
    if weight is None:
        return ("Parameter", "Normalization"), 1, 1
    if len(weight) == 2:
        return ("Linear", "Embedding") if "bias" not in shapes else ("Linear",), 1, 1
    if len(weight) in (3, 4, 5):
        spatial = len(weight) - 2
        return (f"Conv{spatial}d", f"ConvTranspose{spatial}d"), 1, 1
    return ("LayerNorm", "GroupNorm", "PReLU", "BatchNorm"), 1, 1


# ---------------------------------------------------------------- plans

def plan(sources: list[SourceUnit], targets: list[TargetUnit], mapping: Mapping = None) -> Plan:
    """Pair sources with targets: by key (after `mapping` renames), or `mapping="order"`."""
    if mapping == "order":
        return _plan_by_order(sources, targets)
    rename = renamer(mapping)
    target_shapes = {unit.key(local): (shape, unit) for unit in targets for local, shape in unit.shapes.items()}
    rows, used = [], set()
    for unit in sources:
        for tensor in unit.tensors:
            key = rename(tensor.key)
            if key is None or key not in target_shapes:
                rows.append(Row(tensor, key, None, "unexpected",
                                "no parameter of that name" + (f" (renamed from {tensor.key})" if key != tensor.key
                                                               and key else "")))
                continue
            shape, target = target_shapes[key]
            used.add(key)
            rows.append(_raw_row(tensor, key, shape, target) if unit.kind == "Variables" else
                        _row(tensor, key, shape, target))
    rows += [Row(None, key, shape, "missing", "no Keras tensor goes here")
             for key, (shape, _) in target_shapes.items() if key not in used]
    return Plan(rows, "exact keys" if mapping is None else "mapping")


def _row(tensor: TargetTensor, key: str, shape: tuple[int, ...], target: TargetUnit | None) -> Row:
    if tuple(tensor.shape) == tuple(shape):
        return Row(tensor, key, shape, "load")
    return Row(tensor, key, shape, "mismatched", explain(tensor, key, shape, target))


def explain(tensor: TargetTensor, key: str, shape: tuple[int, ...], target: TargetUnit | None) -> str:
    """A shape mismatch in layout terms: what Keras had, what it becomes, what torch expects."""
    source = tensor.source
    kind = target.kinds[0] if target else "the module"
    module = target.prefix if target else key.rpartition(".")[0]
    if tensor.transform.startswith("created"):
        becomes = f"{tensor.key} {_shape(tensor.shape)} (created: {tensor.transform[9:]})"
    else:
        layer = tensor.key.rpartition(".")[0]
        becomes = (f"Keras {source.role} {layer} {_shape(source.shape)} becomes {_shape(tensor.shape)}"
                   + (f" ({tensor.transform})" if tensor.transform != "none" else ""))
    return f"{becomes} for {kind} {key}; {module} expects {_shape(shape)}"


def _plan_by_order(sources: list[SourceUnit], targets: list[TargetUnit]) -> Plan:
    """Pair the i-th Keras layer of each kind with the i-th module of that kind, checking shapes.

    A recurrent module with num_layers=n takes the next n Keras layers of its kind and
    direction count (a stacked LSTM in one nn.LSTM). Anything else that does not pair
    up is refused and explained; nothing is guessed.
    """
    rows: list[Row] = []
    problems: list[str] = []
    pending = list(sources)
    for target in targets:
        chosen = [unit for unit in pending if unit.kind in target.kinds]
        needed = target.layers if target.kinds[0] in RNN_KINDS else 1
        chosen = chosen[:needed]
        if len(chosen) < needed:
            problems.append(f"{target.prefix or '(root)'} ({'/'.join(target.kinds)}) has no Keras layer of its kind "
                            f"left to take" + (f" ({needed} needed for num_layers={needed})" if needed > 1 else ""))
            rows += [Row(None, target.key(local), shape, "missing", "no Keras layer of this kind left")
                     for local, shape in target.shapes.items()]
            continue
        if any(unit.directions != target.directions for unit in chosen):
            problems.append(f"{target.prefix} has {target.directions} direction(s); Keras layer(s) "
                            f"{', '.join(u.prefix for u in chosen)} have {chosen[0].directions}")
        for layer_index, unit in enumerate(chosen):
            pending.remove(unit)
            rows += _pair_unit(unit, target, layer_index, problems)
    for unit in pending:
        problems.append(f"Keras layer {unit.prefix} ({unit.kind}) has no module of its kind left in the model")
        rows += [Row(tensor, None, None, "unexpected", f"no {unit.kind} module left") for tensor in unit.tensors]
    return Plan(rows, "order", problems)


def _pair_unit(unit: SourceUnit, target: TargetUnit, layer_index: int, problems: list[str]) -> list[Row]:
    rows = []
    wanted = [local for local in target.shapes if _layer_of(local) == layer_index or target.layers == 1]
    available = {}
    for tensor in unit.tensors:
        local = unit.local(tensor)
        if target.layers > 1 or _RNN_SUFFIX.search(local):
            local = _RNN_SUFFIX.sub(lambda m: f"_l{layer_index}{m.group(2) or ''}", local)
        available[local] = tensor
    for local in wanted:
        tensor = available.pop(local, None)  # type: ignore[arg-type]  # None: not available
        key = target.key(local)
        if tensor is None:
            rows.append(Row(None, key, target.shapes[local], "missing",
                            f"Keras layer {unit.prefix} has no such tensor"))
            continue
        row = _row(tensor, key, target.shapes[local], target)
        if row.status == "mismatched":
            problems.append(f"{unit.prefix} does not fit {target.prefix}: {row.note}")
        rows.append(row)
    for tensor in available.values():
        rows.append(Row(tensor, None, None, "unexpected", f"{target.prefix} has no parameter for it"))
    return rows


def _layer_of(local: str) -> int | None:
    match = _RNN_SUFFIX.search(local)
    return int(match.group(1)) if match else None
