"""The `inspect` report: per layer, each Keras tensor beside the PyTorch tensor it becomes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import activation_name
from .conversion import Conversion
from .graph import RAW_VARIABLES
from .kinds.outside_state import holds_idf_weights
from .readers import FORMATS


@dataclass(repr=False)
class Report:
    """What `converter.inspect` found; `to_text()` is the CLI's table, `to_dict()` its --json."""

    conversion: Conversion

    def __repr__(self) -> str:
        graph = self.conversion.graph
        return f"Report({graph.source!r}, {graph.format}, {len(self.conversion.tensors)} tensors)"

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        graph = self.conversion.graph
        by_layer = {result.layer.key: result for result in self.conversion.layers}
        record = {entry["key"]: entry for entry in self.conversion.record()}
        skipped = {key for key, _ in self.conversion.skipped}
        by_source = {id(target.source): record[target.key] for target in self.conversion.tensors}
        layers = []
        for layer in graph.walk():
            result = by_layer.get(layer.key)
            if result is not None:
                status = "converted"
                tensors = [record[target.key] for target in result.tensors]
            elif layer.tensors and all(id(tensor) in by_source for tensor in layer.tensors):
                status = "converted"  # named by the source's own convention (Hugging Face), not a layer rule
                tensors = [by_source[id(tensor)] for tensor in layer.tensors]
            elif layer.class_name == RAW_VARIABLES:
                status = "variables"
                tensors = [{"source": t.source, "keras_role": t.role, "keras_shape": list(t.shape),
                            "keras_layout": t.layout.value, "dtype": t.dtype, "role": variable_role(t.role)}
                           for t in layer.tensors]
            elif layer.key in skipped or holds_idf_weights(layer):
                status = "unsupported" if layer.key in skipped else "preprocessing state"
                tensors = [{"source": t.source, "keras_role": t.role, "keras_shape": list(t.shape),
                            "keras_layout": t.layout.value, "dtype": t.dtype} for t in layer.tensors]
            else:
                status, tensors = "no weights", []
            layers.append({
                "key": layer.key, "name": layer.name, "class": layer.class_name, "status": status,
                "torch_module": result.module.name if result else None,
                "module_args": result.module.record() if result else {},
                "module": result.module.display() if result else None,
                "options": result.options if result else {},
                "activation": activation_name(result.activation) if result and result.activation is not None
                else None,
                "tensors": tensors,
            })
        return {
            "source": graph.source, "format": graph.format, "format_name": FORMATS[graph.format],
            "keras_version": graph.keras_version,
            "inputs": [{"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype} for spec in graph.inputs],
            "layers": layers, "warnings": self.conversion.warnings,
        }

    def to_text(self) -> str:
        data = self.to_dict()
        lines = [
            f"source   {data['source']}",
            f"format   {data['format_name']}",
            f"keras    {data['keras_version']}",
        ]
        for spec in data["inputs"]:
            shape = "(" + ", ".join("None" if d is None else str(d) for d in spec["shape"]) + ")"
            lines.append(f"input    {spec['name']} {shape} {spec['dtype']}")
        if self.conversion.graph.metadata.get("written_on") == "windows":
            lines.append("paths    written on Windows: groups named `layers\\dense` read as `layers/dense`")
        if self.conversion.graph.metadata.get("backend") == "theano":
            flipped = sum(1 for layer in data["layers"] for entry in layer["tensors"]
                          if entry.get("keras_layout", "").startswith("theano_"))
            lines.append(f"backend  theano: {flipped} convolution kernels flipped (Theano convolves, PyTorch "
                         "cross-correlates), as Keras 2 flipped them to load the file on TensorFlow")
        left_out = self.conversion.graph.metadata.get("left_out", "")
        if left_out:  # a checkpoint's training state (optimizer slots, counters, moving-average shadows), others
            names = left_out.split(", ")
            lines.append(f"left out {len(names)} variables of training state, aliases or other objects: "
                         f"{', '.join(names[:6])}"
                         + (", ..." if len(names) > 6 else ""))
        header = ("layer", "class", "keras tensor", "keras shape", "keras layout", "torch key",
                  "torch shape", "transform")
        rows: list[tuple[str, ...]] = []
        for layer in data["layers"]:
            first = (layer["key"], layer["class"])
            if not layer["tensors"]:
                rows.append(first + ("-",) * 6)
            for index, entry in enumerate(layer["tensors"]):
                left = first if index == 0 else ("", "")
                torch_key = entry.get("key", f"(variable: {entry['role']})" if "role" in entry
                                      else "(preprocessing state)" if layer["status"] == "preprocessing state"
                                      else "(no rule: not converted)")
                if entry.get("transform", "").startswith("created"):  # PyTorch has it, Keras does not
                    keras_side: tuple[str, ...] = ("-", "-", "-")
                else:
                    keras_side = (entry["keras_role"], _shape(entry["keras_shape"]), entry["keras_layout"])
                rows.append(left + keras_side + (torch_key,
                    _shape(entry["target_shape"]) if "target_shape" in entry else "-",
                    entry.get("transform", "-"),
                ))
        widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
        lines.append("")
        for row in [header] + rows:
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        modules = []
        for layer in data["layers"]:
            if not layer["torch_module"]:
                continue
            modules.append(f"  {layer['key']}: {layer['module']}"
                           + (f", then {layer['activation']}" if layer["activation"] not in (None, "linear") else ""))
            if layer["options"]:
                modules.append(f"    keras options: {_args(layer['options'])}")
        if modules:
            lines += ["", "PyTorch modules these weights load into:"] + modules
        from .lambda_code import described  # here: a conversion that reports nothing imports neither
        from .lambda_expressions import lambda_config, lambda_layers, option_example

        lambdas = lambda_layers(self.conversion.graph)
        if lambdas:  # their weights-free code: convert needs nothing, to_torch/export/verify an expression each
            shown = [layer.key + (f" ({what})" if (what := described(lambda_config(layer) or {})) else "")
                     for layer in lambdas[:8]]
            lines += ["", f"Lambda layers: {', '.join(shown)}{', ...' if len(lambdas) > 8 else ''}: their "
                      f"functions are code, never run; to build or verify the model say what each computes "
                      f"({option_example(lambdas[0].key)})"]
        lines += [f"warning: {warning}" for warning in data["warnings"]]
        return "\n".join(lines)


#: what a variable's name says it is, in a tree of variables without layers
ROLES = {
    "kernel": "kernel, stored (in, out) or (k..., in, out)", "bias": "bias", "gamma": "norm scale",
    "beta": "norm offset", "moving_mean": "moving mean", "moving_variance": "moving variance",
    "embeddings": "embedding table", "recurrent_kernel": "recurrent kernel", "depthwise_kernel": "depthwise kernel",
    "pointwise_kernel": "pointwise kernel", "scale": "norm scale", "weight": "weight", "alpha": "PReLU slope",
}


def variable_role(name: str) -> str:
    """The role a variable's name gives it (`kernel`, `gamma`...), or `unknown`."""
    return ROLES.get(name, "unknown")


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _args(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in arguments.items())
