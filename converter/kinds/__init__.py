"""Keras kinds (layers and operations): one module each, holding its weight rule and its forward.

Importing this package imports every module in it, so that each kind registers itself:
adding a kind is adding one module here (and one test case), nothing else. The README's
tables are generated from the registry (`python -m converter.kinds`).
"""
from __future__ import annotations

import pkgutil
from importlib import import_module

from .registry import KINDS, Kind, distinct, lookup
from .tagging import tag_graph

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("__main__", "registry", "tagging"):
        import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "Kind", "distinct", "lookup", "tag_graph", "supported_layers_markdown",
           "weightless_kinds_markdown"]


def supported_layers_markdown() -> str:
    """The README's table of layers with weights, generated from the registry."""
    lines = ["| Keras layer | PyTorch module | transform | options covered by tests |", "|---|---|---|---|"]
    for kind in distinct():
        if kind.weighted:
            lines.append(f"| {kind.class_name} | `{kind.module}` | {kind.description} | {kind.tested} |")
    return "\n".join(lines)


def weightless_kinds_markdown() -> str:
    """The README's list of layers and operations without weights that the module builder writes."""
    lines = []
    for kind in distinct():
        if not kind.weighted and kind.forward is not None:
            aliases = f" (also {', '.join(alias.rsplit('.', 1)[1] for alias in kind.aliases)})" if kind.aliases else ""
            lines.append(f"- `{kind.name}`{aliases}: {kind.tested}")
    return "\n".join(lines)
