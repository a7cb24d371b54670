"""Run Keras and the converted PyTorch model on the same inputs; report per output and per layer.

Statuses, per output or layer: ok (max abs diff <= atol + rtol * scale, scale being the
largest absolute Keras value), inaccurate (within 100 times that), failed. The first
layer in graph order that is not ok is the first divergence. Imports keras and torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .convert import read_tagged
from .errors import ReadError, VerificationError
from .graph import ModelGraph
from .keras_side import check_loadable, keras_call, keras_layer_outputs, load_keras_model
from .kinds.forward import is_image_rank
from .modeling import module_from_graph


@dataclass
class Comparison:
    """One output or layer: how far PyTorch is from Keras."""

    name: str
    class_name: str
    max_abs: float
    max_rel: float  # max abs diff relative to the Keras values' scale
    status: str


@dataclass
class VerificationReport:
    source: str
    atol: float
    rtol: float
    samples: int
    outputs: list[Comparison]
    layers: list[Comparison] = field(default_factory=list)
    skipped_layers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(comparison.status == "ok" for comparison in self.outputs)

    @property
    def first_divergence(self) -> str | None:
        return next((c.name for c in self.layers if c.status != "ok"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "atol": self.atol, "rtol": self.rtol, "samples": self.samples, "ok": self.ok,
                "outputs": [vars(c) for c in self.outputs], "layers": [vars(c) for c in self.layers],
                "first_divergence": self.first_divergence, "skipped_layers": self.skipped_layers}

    def to_text(self) -> str:
        lines = [f"verify {self.source}: {self.samples} samples, atol {self.atol:g}, rtol {self.rtol:g} "
                 "(relative to the largest Keras value)"]
        for title, rows in (("outputs", self.outputs), ("layers", self.layers)):
            if not rows:
                continue
            width = max(len(row.name) for row in rows)
            header = f"  {'name'.ljust(width)}  {'class':<20}  {'max abs':>10}  {'max rel':>10}  status"
            lines += ["", f"{title}:", header]
            lines += [f"  {row.name.ljust(width)}  {row.class_name:<20}  {row.max_abs:10.3g}  {row.max_rel:10.3g}  "
                      f"{row.status}" for row in rows]
        if self.layers:
            divergence = self.first_divergence
            lines.append("")
            lines.append(f"first divergence: {divergence}" if divergence else "every layer matches")
        if self.skipped_layers:
            lines.append(f"layers not compared (no single Keras output): {', '.join(self.skipped_layers)}")
        lines.append("")
        lines.append("result: " + ("ok" if self.ok else "FAILED: outputs differ beyond tolerance"))
        return "\n".join(lines)


def compare(name: str, class_name: str, expected: Any, actual: Any, atol: float, rtol: float) -> Comparison:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        return Comparison(name, class_name, float("inf"), float("inf"), f"failed: shape {actual.shape} "
                          f"!= Keras {expected.shape}")
    difference = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    relative = difference / scale if scale > 0 else difference
    bound = atol + rtol * scale
    status = "ok" if difference <= bound else ("inaccurate" if difference <= 100 * bound else "failed")
    return Comparison(name, class_name, difference, relative, status)


def random_inputs(graph: ModelGraph, samples: int, seed: int = 0) -> list[np.ndarray]:
    """Inputs in a realistic range from the input spec: N(0, 1) floats; integer ids below the vocabulary."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in graph.inputs:
        shape = (samples,) + tuple(8 if dim is None else int(dim) for dim in spec.shape[1:])
        if spec.dtype.startswith(("int", "uint")):
            vocabulary = min((layer.config.get("input_dim", 10) for layer in graph.walk()
                              if layer.class_name == "Embedding" and spec.name in layer.inbound), default=10)
            arrays.append(rng.integers(0, int(vocabulary), shape).astype(spec.dtype))
        else:
            arrays.append(rng.normal(0.0, 1.0, shape).astype(np.float32))
    return arrays


def check_inputs(arrays: list[np.ndarray], graph: ModelGraph) -> None:
    """ReadError unless there is one array per model input, of its rank, sizes and a numeric dtype."""
    if graph.inputs and len(arrays) != len(graph.inputs):
        raise ReadError(f"{len(arrays)} input arrays for a model with {len(graph.inputs)} inputs "
                        f"({', '.join(spec.name for spec in graph.inputs)})")
    for array, spec in zip(arrays, graph.inputs):
        if array.dtype.kind not in "fiub":
            raise ReadError(f"input {spec.name}: dtype {array.dtype}, expected numbers")
        expected = tuple(spec.shape)
        if array.ndim != len(expected) or any(want is not None and want != have
                                              for want, have in zip(expected[1:], array.shape[1:])):
            shown = "(" + ", ".join("N" if d is None else str(d) for d in expected) + ")"
            raise ReadError(f"input {spec.name}: shape {array.shape}, expected {shown} (Keras layout)")
        if array.shape[0] == 0:
            raise ReadError(f"input {spec.name}: no samples")


def load_inputs(path: str, graph: ModelGraph) -> list[np.ndarray]:
    """Inputs from an .npz: by input name, or in order (arr_0, arr_1, ...)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = [spec.name for spec in graph.inputs]
            if all(name in archive.files for name in names):
                return [archive[name] for name in names]
            if len(archive.files) == len(names):
                return [archive[name] for name in archive.files]
            raise ReadError(f"{path}: expected arrays named {names} (or {len(names)} arrays in order), "
                            f"found {archive.files}")
    except (OSError, ValueError) as error:
        raise ReadError(f"{path}: cannot read inputs ({error}); give an .npz with one array per model input") from None


def output_names(graph: ModelGraph, count: int) -> list[str]:
    """The layers whose outputs the model returns, from its call graph."""
    calls = graph.root.call_graph if graph.root is not None else None
    if calls is not None and not calls.error and len(calls.outputs) == count:
        return [name + (f"[{index}]" if index else "") for name, _, index in calls.outputs]
    return [f"output {i}" for i in range(count)]


def verify(source: Any, *, inputs: Any = None, samples: int = 8, atol: float = 1e-5, rtol: float = 1e-4,
           per_layer: bool = False, architecture: Any = None, seed: int = 0,
           input_layout: str = "keras") -> VerificationReport:
    """Run Keras and the converted PyTorch model on the same inputs and compare, per output and layer.

    `inputs`: an .npz path, a list of arrays (Keras layout), or None for random inputs in a
    realistic range derived from the input spec. `input_layout` picks which build of the
    module runs (images are transposed for it and back). Needs keras (and tf_keras for
    Keras 2 files).

        >>> report = converter.verify("model.keras", per_layer=True)   # doctest: +SKIP
        >>> report.ok, report.first_divergence                         # doctest: +SKIP
    """
    with read_tagged(source, architecture) as graph:
        check_loadable(source, graph, architecture)  # before Keras or torch is imported
        import torch

        if isinstance(inputs, (str, os.PathLike)):
            arrays = load_inputs(os.fspath(inputs), graph)
        elif inputs is not None:
            arrays = [np.asarray(array) for array in inputs]
        else:
            arrays = random_inputs(graph, samples, seed)
        check_inputs(arrays, graph)
        module = module_from_graph(graph, input_layout, trace=per_layer)
        keras_model = load_keras_model(source, graph)
        classes = {layer.name: layer.class_name for layer in graph.layers}
    try:
        expected = keras_call(keras_model, arrays)
    except Exception as error:  # Keras's own errors are of many kinds
        raise ReadError(f"{graph.source}: Keras cannot run the model on these inputs ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:200]}); check --input, or the file") from None
    if per_layer:
        module._captured = {}
    channels_first = input_layout == "torch"
    feed = [np.moveaxis(a, -1, 1) if channels_first and is_image_rank(a.ndim) else a for a in arrays]
    try:
        with torch.no_grad():
            actual = module(*[torch.from_numpy(np.ascontiguousarray(array)) for array in feed])
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        raise VerificationError(f"{graph.source}: Keras runs the model, the converted PyTorch model fails on the "
                                f"same inputs ({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    actual = [a.numpy() for a in (actual if isinstance(actual, (list, tuple)) else [actual])]
    actual = [np.moveaxis(a, 1, -1) if channels_first and is_image_rank(a.ndim) else a for a in actual]
    if len(actual) != len(expected):
        raise VerificationError(f"{graph.source}: the PyTorch model returns {len(actual)} outputs, Keras "
                                f"{len(expected)}")
    names = output_names(graph, len(expected))
    report = VerificationReport(
        source=str(graph.source), atol=atol, rtol=rtol, samples=len(arrays[0]),
        outputs=[compare(name, classes.get(name.split("[")[0], ""), e, a, atol, rtol)
                 for name, e, a in zip(names, expected, actual)],
    )
    if per_layer:
        keras_values, report.skipped_layers = keras_layer_outputs(keras_model, arrays)
        for name, keras_value in keras_values.items():
            captured = module._captured.get(name)
            if captured is None:
                report.skipped_layers.append(name)
                continue
            report.layers.append(compare(name, classes.get(name, ""), keras_value, captured.numpy(), atol, rtol))
    return report
