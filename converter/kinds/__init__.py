"""Keras kinds (layers and operations): one module each, holding its weight rule and its forward.

Each kind registers itself when its module is imported, which the registry does the first
time one of its names is looked up (`index.py`, generated, says which module holds which
name): adding a kind is adding one module here and one test case, then
`python -m converter.kinds --index` (a test fails until the index is regenerated). The
README's tables are generated from the registry (`python -m converter.kinds`).
"""
from __future__ import annotations

from .registry import KINDS, Kind, distinct, lookup
from .tagging import KERAS1_HINT, keras1_weight_name, tag_graph

__all__ = ["KERAS1_HINT", "KINDS", "Kind", "distinct", "keras1_weight_name", "lookup", "tag_graph",
           "supported_layers_markdown",
           "weightless_kinds_markdown", "operations_markdown"]


def _is_operation(kind: Kind) -> bool:
    return kind.name.startswith("keras.ops.")


def supported_layers_markdown() -> str:
    """The README's table of layers with weights, generated from the registry."""
    lines = ["| Keras layer | PyTorch module | transform | options covered by tests |", "|---|---|---|---|"]
    for kind in distinct():
        if kind.weighted:
            name = kind.class_name if kind.name.startswith("keras.layers.") else kind.name  # keras_hub.layers.X
            lines.append(f"| {name} | `{kind.module}` | {kind.description} | {kind.tested} |")
    return "\n".join(lines)


def weightless_kinds_markdown() -> str:
    """The README's list of layers and operations without weights that the module builder writes."""
    lines = []
    for kind in distinct():
        if not kind.weighted and kind.forward is not None and not _is_operation(kind):
            aliases = f" (also {', '.join(alias.rsplit('.', 1)[1] for alias in kind.aliases)})" if kind.aliases else ""
            lines.append(f"- `{kind.name}`{aliases}: {kind.tested}")
    return "\n".join(lines)


def operations_markdown() -> str:
    """The README's list of the Keras 3 operations and TensorFlow functions the module builder writes."""
    from .tf_ops import FUNCTIONS  # the table of tf.keras TFOpLambda functions

    modules: dict[str, list[str]] = {}
    for kind in distinct():
        if _is_operation(kind) and kind.forward is not None:
            module, class_name = kind.name.rsplit(".", 1)
            modules.setdefault(module, []).append(class_name)
    lines = [f"- `{module}`: {', '.join(names)}" for module, names in sorted(modules.items())]
    functions = sorted(f"tf.{name}" for name in FUNCTIONS if not name.startswith("__operators__"))
    lines.append(f"- tf.keras `TFOpLambda`: {', '.join(functions)}, and the `+` operator")
    lines.append("- tf.keras `SlicingOpLambda`: `x[...]` with integers, slices with steps (negative too), `None` "
                 "and `...`")
    return "\n".join(lines)
