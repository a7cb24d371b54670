"""load_into: the converted Keras weights into an existing PyTorch module, with a plan that explains."""
from __future__ import annotations

from typing import Any

from .conversion import Conversion, TargetTensor
from .convert import convert_graph, read_tagged
from .errors import ArgumentError, LoadError
from .matching import (
    Mapping, Plan, check_rules_used, plan, raw_source_units, renamer, source_units, target_units_from_module,
    target_units_from_state_dict,
)
from .graph import RAW_VARIABLES
from .templates import template_shapes


def load_into(module: Any, source: Any, *, mapping: Mapping = None, strict: bool = True, dry_run: bool = False,
              architecture: Any = None, allow_unused: bool = False) -> Plan:
    """Load a Keras model's converted weights into `module` and return the plan that was carried out.

    Matching: exact keys (`{keras_layer}.{param}`); `mapping` as a dict (full keys or layer
    prefixes: {"dense_1": "fc1"}), a list of (regex, replacement) rename rules (the first
    that matches applies), a function key -> key (None drops it), or "order": the i-th
    Keras layer of each kind into the i-th module of that kind, checked by shape (stacked
    LSTM/GRU layers fill one module's num_layers). With strict=True any missing,
    unexpected or mismatched tensor raises LoadError and leaves the module untouched;
    dry_run=True only returns the plan. A checkpoint without architecture (named variables)
    loads too: a variable named `kernel` into nn.Linear or nn.ConvNd gets TensorFlow's kernel
    transposed as torch stores it, vectors, embeddings and norms load as stored, and any other
    variable of rank 2 or more is refused. A dict or rule of `mapping` that renames no tensor
    is an ArgumentError (a typo, usually) unless allow_unused=True. A module in training mode
    with BatchNorm or Dropout is warned about: it computes differently from Keras's inference.

        >>> plan = converter.load_into(model, "model.h5", mapping="order", dry_run=True)   # doctest: +SKIP
        >>> print(plan)                                                                   # doctest: +SKIP
    """
    import torch

    from .writers.torch_file import as_torch

    with read_tagged(source, architecture) as graph:
        raw = graph.root is None and bool(graph.layers) and all(layer.class_name == RAW_VARIABLES
                                                                 for layer in graph.layers)
        conversion = convert_graph(graph, "keras" if raw else "torch")
        check_rules_used(mapping, [target.key for target in conversion.tensors], allow_unused)
        sources = raw_source_units(conversion) if raw else source_units(conversion)
        result = plan(sources, target_units_from_module(module), mapping)
        if dry_run:
            return result
        if strict and not result.ok:
            raise LoadError(_summary(result), result)
        state = {row.target_key: as_torch(row.source.load(), row.source.dtype)
                 for row in result.rows if row.status == "load" and row.source and row.target_key}
        graph.check_integrity()  # before the module is touched
    with torch.no_grad():
        module.load_state_dict(state, strict=False)
    warn_if_training(module)
    return result


def warn_if_training(module: Any) -> None:
    """BatchNorm uses batch statistics and Dropout drops while training: outputs then differ from Keras's."""
    import warnings

    from .errors import ConversionWarning

    kinds = sorted({type(child).__name__ for child in module.modules() if child.training and
                    type(child).__name__.startswith(("BatchNorm", "Dropout", "AlphaDropout"))})
    if kinds:
        warnings.warn(f"the module is in training mode and holds {', '.join(kinds)}: it will not compute what Keras "
                      "computes at inference; call module.eval() before comparing or predicting",
                      ConversionWarning, stacklevel=3)


def renamed(conversion: Conversion, mapping: Mapping, allow_unused: bool = False) -> list[TargetTensor]:
    """The converted tensors under the keys `mapping` gives them (None leaves a tensor out)."""
    if mapping == "order":
        raise ArgumentError("mapping 'order' pairs tensors with a model's parameters: give a template "
                             "state_dict with --like (like=), or use load_into")
    check_rules_used(mapping, [target.key for target in conversion.tensors], allow_unused)
    rename = renamer(mapping)
    tensors = []
    for tensor in conversion.tensors:
        key = rename(tensor.key)
        if key is not None:
            tensors.append(tensor.with_key(key))
    return tensors


def matched_like(conversion: Conversion, template: str, mapping: Mapping,
                 allow_unused: bool = False) -> list[TargetTensor]:
    """The converted tensors under a template state_dict's keys, every one paired or LoadError."""
    check_rules_used(mapping, [target.key for target in conversion.tensors], allow_unused)
    result = plan(source_units(conversion), target_units_from_state_dict(template_shapes(template)), mapping)
    if not result.ok:
        raise LoadError(f"{template}: " + _summary(result), result)
    return [row.source.with_key(row.target_key) for row in result.rows if row.source and row.target_key]


def _summary(result: Plan) -> str:
    """One line: how many of each problem, and the first explanation."""
    parts = [f"{len(keys)} {name}" for name, keys in (("missing", result.missing), ("unexpected", result.unexpected),
                                                        ("mismatched", result.mismatched)) if keys]
    first = result.problems[0] if result.problems else next(
        (f"{row.target_key or (row.source.key if row.source else '?')}: {row.note}" for row in result.rows
         if row.status != "load" and row.source or row.status == "missing"), "")
    return (f"cannot pair the Keras tensors with the module ({', '.join(parts) or 'refused pairings'}): {first}; "
            "see the plan of every tensor (load_into(..., dry_run=True); the CLI prints it), or give a mapping")
