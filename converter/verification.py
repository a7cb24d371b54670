"""Run Keras and the converted PyTorch model on the same inputs; report per output and per layer.

Statuses, per output or layer: ok (max abs diff <= atol + rtol * scale, scale being the
largest absolute Keras value), inaccurate (within 100 times that), failed. The first
layer in graph order that is not ok is the first divergence. Imports keras and torch.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .code_check import code_carrying
from .errors import ConverterError, ReadError
from .graph import ModelGraph
from .readers import load_architecture


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


def check_loadable(source: Any, graph: ModelGraph, architecture: Any) -> None:
    """Refuse, before Keras is imported, a file whose loading would run code or differ from what was converted.

    Keras rebuilds the model from the file's own config (`graph.own_config`, as the reader
    found it): it must carry no code (code_check), and an `architecture` given for the
    conversion must be that same config.
    """
    if not isinstance(source, (str, os.PathLike)):
        return  # a live model: already loaded by its owner
    path = os.fspath(source)
    own = graph.own_config
    if own is None:
        raise ConverterError(f"{path}: verify needs a full model file (.keras, or an .h5 from model.save): Keras "
                             "rebuilds the model from the file's own config, and this file holds weights only")
    found = code_carrying(own)
    if found:
        raise ConverterError(f"{path}: verify would have Keras load {found[0]}"
                             f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}; weightport never "
                             "lets code from a file run: compare with your own code instead")
    if architecture is not None:
        given = load_architecture(os.fspath(architecture)) if isinstance(architecture, (str, os.PathLike)) \
            else architecture
        if given != own:
            raise ConverterError(f"{path}: the architecture given differs from the model config inside the file; "
                                 "verify compares the file's own model: run it without --architecture")


def load_keras_model(source: Any, graph: ModelGraph) -> Any:
    """The Keras model to compare with: the live one, or the file loaded by the Keras that wrote it.

    Call check_loadable first; Keras 3 and tf_keras load with safe_mode=True.
    """
    if not isinstance(source, (str, os.PathLike)):
        return source
    path = os.fspath(source)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter on stderr
    major = graph.keras_version.split(".")[0]
    try:
        if major.isdigit() and int(major) < 3:
            try:
                import tf_keras

                return tf_keras.models.load_model(path, compile=False, safe_mode=True)
            except ImportError:
                pass
        import keras

        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except ImportError:
        raise ConverterError("verify needs Keras: pip install 'weightport[keras]'") from None
    except Exception as error:  # Keras's own loading errors are of many kinds
        raise ConverterError(f"{path}: Keras cannot load this file to compare with ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:200]})") from None


def keras_call(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs as a list, called with inputs in the structure it was built with."""
    try:
        as_list = isinstance(model.input, (list, tuple))
    except (AttributeError, ValueError):  # a loaded Sequential that was never called
        as_list = False
    structured = inputs if len(inputs) > 1 or as_list else inputs[0]
    outputs = model(structured, training=False)
    return [np.asarray(output) for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def keras_layer_outputs(model: Any, inputs: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each top-level layer's output (its call in this model, first tensor), by layer name."""
    keras = importlib.import_module(type(model).__module__.split(".")[0])
    names, probes, skipped = [], [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        names.append(layer.name)
        probes.append(_candidates(layer))
    try:  # one probe model for all layers when every layer.output belongs to this graph
        probe = keras.Model(model.inputs, [candidates[0] for candidates in probes])
        return dict(zip(names, keras_call(probe, inputs))), skipped
    except Exception:  # nested models: their own output is not this graph's; try each call's
        pass
    found = {}
    for name, candidates in zip(names, probes):
        for candidate in candidates:
            try:
                found[name] = keras_call(keras.Model(model.inputs, candidate), inputs)[0]
                break
            except Exception:
                continue
        else:
            skipped.append(name)
    return found, skipped


def _candidates(layer: Any) -> list[Any]:
    """Tensors that may be this layer's output in the enclosing graph: layer.output, each call's."""
    candidates = []
    try:
        output = layer.output
        candidates.append(output[0] if isinstance(output, (list, tuple)) else output)
    except (AttributeError, ValueError, RuntimeError):
        pass
    for node in getattr(layer, "_inbound_nodes", []):
        tensors = getattr(node, "output_tensors", None)
        if tensors is None:
            tensors = getattr(node, "outputs", None)
        if tensors is not None:
            tensors = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
            if tensors:
                candidates.append(tensors[0])
    return candidates
