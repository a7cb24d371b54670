"""load_into: the converted Keras weights into an existing PyTorch module, with a plan that explains."""
from __future__ import annotations

from typing import Any

from .conversion import Conversion, TargetTensor
from .convert import convert_graph, is_variable_tree, read_tagged
from .errors import ArgumentError, LoadError
from .graph import ModelGraph
from .hugging_face import refuse_module
from .kinds import tag_graph
from .matching import (
    Plan, SourceUnit, TargetUnit, plan, raw_source_units, source_units, target_units_from_module,
    target_units_from_state_dict,
)
from .renaming import Mapping, check_rules_used, renamer
from .templates import template_shapes
from .twin_pairing import has_positional_roles, typed_layers


def load_into(module: Any, source: Any, *, mapping: Mapping = None, strict: bool = True, dry_run: bool = False,
              architecture: Any = None, allow_unused: bool = False, variables: str = "raw") -> Plan:
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

    with read_tagged(source, architecture, variables) as graph:
        refuse_module(graph, "load_into")
        targets = target_units_from_module(module)
        conversion, sources = converted_for(graph, targets)
        check_rules_used(mapping, [target.key for target in conversion.tensors], allow_unused)
        result = plan(sources, targets, mapping)
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


def converted_for(graph: ModelGraph, targets: list[TargetUnit],
                  skip_unsupported: bool = False) -> tuple[Conversion, list[SourceUnit]]:
    """The graph converted for pairing with `targets`, and its tensors grouped by the module they fill.

    Layers convert by their kinds' rules. Named variables without layers (a checkpoint without
    architecture) stay as stored, and each pairing decides its transform by the module's kind;
    variables saved by position (a Keras 3 subclassed model's file) become the layers the twin's
    modules say they were (twin_pairing), then convert by those layers' rules.
    """
    if is_variable_tree(graph) and has_positional_roles(graph):
        graph.layers = typed_layers(graph, targets)
        tag_graph(graph)
    elif is_variable_tree(graph):
        conversion = convert_graph(graph, "keras")
        return conversion, raw_source_units(conversion)
    conversion = convert_graph(graph, "torch", skip_unsupported)
    return conversion, source_units(conversion)


def converted_like(graph: ModelGraph, template: str, mapping: Mapping, allow_unused: bool = False,
                   skip_unsupported: bool = False) -> Conversion:
    """The graph converted under a template state_dict's keys, every tensor paired or LoadError."""
    targets = target_units_from_state_dict(template_shapes(template))
    conversion, sources = converted_for(graph, targets, skip_unsupported)
    check_rules_used(mapping, [target.key for target in conversion.tensors], allow_unused)
    result = plan(sources, targets, mapping)
    if not result.ok:
        raise LoadError(f"{template}: " + _summary(result), result)
    conversion.tensors = [row.source.with_key(row.target_key) for row in result.rows if row.source and row.target_key]
    return conversion


def _summary(result: Plan) -> str:
    """One line: how many of each problem, and the first explanation."""
    parts = [f"{len(keys)} {name}" for name, keys in (("missing", result.missing), ("unexpected", result.unexpected),
                                                        ("mismatched", result.mismatched)) if keys]
    first = result.problems[0] if result.problems else next(
        (f"{row.target_key or (row.source.key if row.source else '?')}: {row.note}" for row in result.rows
         if row.status != "load" and row.source or row.status == "missing"), "")
    return (f"cannot pair the Keras tensors with the module ({', '.join(parts) or 'refused pairings'}): {first}; "
            "see the plan of every tensor (load_into(..., dry_run=True); the CLI prints it), or give a mapping")
