"""Apply the layer rules to a tagged graph: the converted tensors and their record."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import LayoutError, UnsupportedLayerError
from .graph import Layer, ModelGraph
from .layers import RULES, LayerConversion, TargetTensor

OUTPUT_LAYOUTS = ("torch", "keras")


@dataclass
class Conversion:
    """The converted graph: tensors under their target keys, per-layer results, the record."""

    graph: ModelGraph
    layout: str  # 'torch' or 'keras'
    tensors: list[TargetTensor]
    layers: list[LayerConversion] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (layer key, Keras class)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # what convert() wrote

    def metadata(self) -> dict[str, str]:
        """What every written file records about its convention."""
        return {
            "weightport_source": self.graph.source,
            "weightport_format": self.graph.format,
            "weightport_keras_version": self.graph.keras_version,
            "weightport_layout": self.layout,
        }

    def record(self) -> list[dict[str, Any]]:
        """One entry per tensor: where it came from, where it goes, what was done to it, and
        what the PyTorch module around it needs (its arguments and the layer's warnings)."""
        by_key = {target.key: result for result in self.layers for target in result.tensors}
        entries = []
        for target in self.tensors:
            source = target.source
            result = by_key.get(target.key)
            entries.append({
                "key": target.key,
                "source": source.source,
                "keras_role": source.role,
                "keras_shape": list(source.shape),
                "keras_layout": source.layout.value,
                "target_shape": list(target.shape),
                "target_layout": target.layout.value,
                "transform": target.transform,
                "dtype": source.dtype,
                "layer": result.layer.key if result else None,
                "keras_class": result.layer.class_name if result else None,
                "torch_module": result.torch_module if result else None,
                "module_args": result.module_args if result else {},
                "options": result.options if result else {},
                "activation": result.activation if result else None,
                "warnings": result.warnings if result else [],
            })
        return entries


def convert_graph(graph: ModelGraph, layout: str = "torch", skip_unsupported: bool = False) -> Conversion:
    """Convert every weighted layer of `graph` to `layout` ('torch' or 'keras').

    Raises UnsupportedLayerError naming every weighted layer without a rule, unless
    `skip_unsupported`, which leaves them out and lists them in `Conversion.skipped`.
    """
    if layout not in OUTPUT_LAYOUTS:
        raise ValueError(f"layout must be one of {OUTPUT_LAYOUTS}, not {layout!r}")
    conversion = Conversion(graph, layout, [])
    if layout == "keras":
        for layer in graph.walk():
            conversion.tensors += [
                TargetTensor(f"{layer.key}.{tensor.role.replace('/', '.')}", tensor, tensor.layout, tensor.shape,
                             "none")
                for tensor in layer.tensors
            ]
    else:
        labels = {layer.key: _unsupported_label(layer) for layer in graph.walk() if layer.tensors}
        unsupported = [(key, label) for key, label in labels.items() if label]
        if unsupported and not skip_unsupported:
            names = ", ".join(f"{key} ({class_name})" for key, class_name in unsupported)
            guessed = any(not layer.has_config for layer in graph.walk())
            hint = (" (this file has no architecture, so layer classes were guessed from names: "
                    "pass --architecture with the model's .keras, .h5 or config JSON)") if guessed else ""
            raise UnsupportedLayerError(
                f"{graph.source}: no rule for {len(unsupported)} layer(s) with weights: {names}{hint}; "
                "pass --skip-unsupported to convert the rest without them, or --layout keras to "
                "export every tensor unchanged",
                unsupported,
            )
        conversion.skipped = unsupported
        conversion.warnings += [f"skipped layer {key} ({class_name}): no rule for its weights"
                                for key, class_name in unsupported]
        context = GraphContext(graph)
        for layer in graph.walk():
            if layer.tensors and not labels[layer.key]:
                result = RULES[layer.class_name].convert(layer, context)
                conversion.layers.append(result)
                conversion.tensors += result.tensors
                conversion.warnings += result.warnings
    _check_unique_keys(conversion)
    return conversion


def _unsupported_label(layer: Layer) -> str | None:
    """None when a rule converts this layer, else its class and why not (`EinsumDense: ...`)."""
    found = RULES.get(layer.class_name)
    if found is None:
        return layer.class_name
    reason = found.unsupported(layer)
    return f"{layer.class_name}: {reason}" if reason else None


class GraphContext:
    """Lets a rule look at the layers feeding its layer, within the same (nested) model."""

    def __init__(self, graph: ModelGraph) -> None:
        self._by_path: dict[tuple[str, ...], Layer] = {}
        stack = list(graph.layers)
        while stack:
            layer = stack.pop()
            self._by_path[layer.path] = layer
            stack.extend(layer.children or [])

    def producer(self, layer: Layer) -> Layer | None:
        """The first layer feeding `layer` (for merges, whose inputs agree in shape), or None."""
        if not layer.inbound:
            return None
        return self._by_path.get(layer.path[:-1] + (layer.inbound[0],))


def _check_unique_keys(conversion: Conversion) -> None:
    seen: dict[str, str] = {}
    clashes = []
    for target in conversion.tensors:
        if target.key in seen:
            clashes.append(f"{target.key} ({seen[target.key]} and {target.source.source})")
        seen[target.key] = target.source.source
    if clashes:
        raise LayoutError(
            "layer names that differ only in characters outside [A-Za-z0-9_] give the same key: "
            + "; ".join(clashes) + "; rename those layers in Keras"
        )
