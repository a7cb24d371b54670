"""Run Keras and the converted PyTorch model on the same inputs; report per output and per layer.

Statuses, per output or layer: ok (max abs diff <= atol + rtol * scale), inaccurate (within
100 times that), failed. The scale of a value is the largest activation magnitude on the
path into it (its own, its inputs', and so on back to the model's inputs): rounding in a
layer is relative to the magnitudes it works with, and a deep float32 model whose
activations reach 1e3 carries errors of that size onwards. The default tolerances follow
the lowest precision the model computes in (TOLERANCES); `precision="float64"` runs both
sides in float64 instead, where rounding noise cannot hide a wrong convention. The first
layer in graph order that is not ok is the first divergence. Imports keras and torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .convert import convert_graph, read_tagged
from .dependencies import require_keras, require_torch
from .errors import ArgumentError, ReadError, VerificationError
from .graph import ModelGraph
from .hugging_face import refuse_module
from .keras_probes import keras_layer_outputs
from .keras_meant import verification_notes
from .keras_side import check_loadable, keras_call, load_keras_model
from .kinds.forward import is_image_rank
from .loading import warn_if_training
from .modeling import module_from_graph, refuse_graphless
from .own_module import Capture, keras_layout, paired_submodules, with_fused_activation
from .precision import (FLOAT64_TOLERANCE, TOLERANCES, amplification_note, computes_in_float64, float64_twin,
                        lowest_precision)
from .running_keras import computed_differently, running_keras, version_note
from .verify_inputs import check_inputs, load_inputs, random_inputs


@dataclass
class Comparison:
    """One output or layer: how far PyTorch is from Keras."""

    name: str
    class_name: str
    max_abs: float
    max_rel: float  # max abs diff relative to the scale
    status: str
    scale: float = 0.0  # the largest activation magnitude on the path into this value


@dataclass(repr=False)
class VerificationReport:
    source: str
    atol: float
    rtol: float
    samples: int
    outputs: list[Comparison]
    layers: list[Comparison] = field(default_factory=list)
    skipped_layers: list[str] = field(default_factory=list)
    precision: str = "float32"  # what both sides computed in: the model's lowest precision, or float64
    notes: list[str] = field(default_factory=list)  # what was done on the Keras side to load the file as written

    @property
    def ok(self) -> bool:
        """Every output, and every layer compared (--per-layer), within tolerance."""
        return all(comparison.status == "ok" for comparison in self.outputs + self.layers)

    @property
    def first_divergence(self) -> str | None:
        return next((c.name for c in self.layers if c.status != "ok"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "atol": self.atol, "rtol": self.rtol, "samples": self.samples,
                "precision": self.precision, "ok": self.ok,
                "outputs": [vars(c) for c in self.outputs], "layers": [vars(c) for c in self.layers],
                "first_divergence": self.first_divergence, "skipped_layers": self.skipped_layers,
                "notes": self.notes}

    def __repr__(self) -> str:
        return (f"VerificationReport({self.source!r}, {'ok' if self.ok else 'not ok'}, {len(self.outputs)} outputs, "
                f"{len(self.layers)} layers, {self.precision}, first divergence {self.first_divergence!r})")

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        lines = [f"verify {self.source}: {self.samples} samples in {self.precision}, atol {self.atol:g}, "
                 f"rtol {self.rtol:g} (relative to the largest activation on the path into each value)"]
        lines += [f"note: {note}" for note in self.notes]
        for title, rows in (("outputs", self.outputs), ("layers", self.layers)):
            if not rows:
                continue
            width = max(len(row.name) for row in rows)
            header = f"  {'name'.ljust(width)}  {'class':<20}  {'max abs':>10}  {'max rel':>10}  {'scale':>9}  status"
            lines += ["", f"{title}:", header]
            lines += [f"  {row.name.ljust(width)}  {row.class_name:<20}  {row.max_abs:10.3g}  {row.max_rel:10.3g}  "
                      f"{row.scale:9.3g}  {row.status}" for row in rows]
        if self.layers:
            divergence = self.first_divergence
            lines.append("")
            lines.append(f"first divergence: {divergence}" if divergence else "every layer matches")
        if self.skipped_layers:
            lines.append("layers not compared (no single Keras output, or no module output of its shape; with your "
                         f"own module, none paired with the layer's weights): {', '.join(self.skipped_layers)}")
        lines.append("")
        lines.append("result: " + ("ok" if self.ok else "FAILED: outputs or layers differ beyond tolerance"))
        if not self.ok and self.precision in ("float32", "float16", "bfloat16"):
            # a recurrent or deep model can amplify float32 rounding (each side sums in its own order) past any
            # tolerance; in float64 that noise falls by nine orders of magnitude and a wrong convention does not
            lines.append(f"(run it again with --float64: if that passes, the difference is {self.precision} rounding "
                         "the model amplifies, not a wrong conversion)")
        return "\n".join(lines)


def compare(name: str, class_name: str, expected: Any, actual: Any, atol: float, rtol: float,
            upstream: float = 0.0) -> Comparison:
    """`actual` against Keras's `expected`, the bound scaled by the larger of its own and `upstream` magnitude."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        return Comparison(name, class_name, float("inf"), float("inf"), f"failed: shape {actual.shape} "
                          f"!= Keras {expected.shape}")
    if not np.array_equal(np.isfinite(expected), np.isfinite(actual)):
        return Comparison(name, class_name, float("inf"), float("inf"), "failed: inf or nan where the other is not")
    finite = np.isfinite(expected)
    difference = float(np.max(np.abs(expected - actual)[finite])) if finite.any() else 0.0
    scale = max(float(np.max(np.abs(expected[finite]))) if finite.any() else 0.0, upstream)
    relative = difference / scale if scale > 0 else difference
    bound = atol + rtol * scale
    status = "ok" if difference <= bound else ("inaccurate" if difference <= 100 * bound else "failed")
    return Comparison(name, class_name, difference, relative, status, scale)


#: layers whose inputs are row numbers: an Embedding's output is a row of its table, as exact for id 2712 as
#: for id 3, so the ids' size must not widen the tolerance of what follows (it made an LSTM's bound 0.27)
INDEX_READERS = frozenset({"Embedding"})


def upstream_scales(graph: ModelGraph, magnitudes: dict[str, float]) -> dict[str, float]:
    """Per top-level layer, the largest activation magnitude on the path into its output."""
    scales = dict(magnitudes)
    calls = graph.root.call_graph if graph.root is not None else None
    if calls is None or calls.error:
        return scales
    for call in calls.calls:  # in config order, which is graph order
        name = call.layer.name
        if call.layer.class_name in INDEX_READERS:  # its inputs are ids, not magnitudes it computes with
            continue
        scales[name] = max([scales.get(name, 0.0)] + [scales.get(ref[0], 0.0) for ref in call.refs()])
    return scales


class _Magnitudes(dict):
    """What the traced module captures when no layer is compared: each layer's largest magnitude only."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _magnitude(value))


def _magnitude_of(array: Any) -> float:
    """The largest finite absolute value of a numpy array (0 when it has none)."""
    values = np.asarray(array, dtype=np.float64) if np.asarray(array).dtype.kind in "fiub" else np.zeros(0)
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def _magnitude(value: Any) -> float:
    """The largest finite absolute value of a torch tensor (0 when it has none)."""
    import torch

    if value.dtype == torch.bool:
        return 1.0
    finite = value[torch.isfinite(value)] if value.is_floating_point() else value
    return float(finite.abs().max()) if finite.numel() else 0.0


def _as_numpy(value: Any) -> np.ndarray:
    """A torch tensor as numpy (bfloat16 and float16 as float64, which numpy compares exactly)."""
    import torch

    value = value.detach()  # an output may be a view of a parameter (a PositionEmbedding's), which no_grad keeps
    return (value.to(torch.float64) if value.is_floating_point() else value).numpy()


def _module_outputs(module: Any, arrays: list[np.ndarray], channels_first: bool, source: str,
                    own: bool) -> list[np.ndarray]:
    """The module's outputs for Keras-layout `arrays` (images moved channels-first for it and back)."""
    import torch

    feed = [np.moveaxis(a, -1, 1) if channels_first and is_image_rank(a.ndim) else a for a in arrays]
    try:
        with torch.no_grad():
            actual = module(*[torch.from_numpy(np.ascontiguousarray(array)) for array in feed])
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        if own:
            raise VerificationError(f"{source}: Keras runs the model, your module fails on the same inputs "
                                    f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); check "
                                    "input_layout") from None
        raise VerificationError(f"{source}: Keras runs the model, the converted PyTorch model fails on the "
                                f"same inputs ({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    actual = [_as_numpy(a) for a in (actual if isinstance(actual, (list, tuple)) else [actual])]
    return [np.moveaxis(a, 1, -1) if channels_first and is_image_rank(a.ndim) else a for a in actual]


def _layer_of(output: str) -> str:
    """The layer an output row names ("gru[1] (2nd call)": gru)."""
    return output.removesuffix(" (2nd call)").split("[")[0]


def output_names(graph: ModelGraph, count: int) -> list[str]:
    """The layers whose outputs the model returns, from its call graph."""
    calls = graph.root.call_graph if graph.root is not None else None
    if calls is not None and not calls.error and len(calls.outputs) == count:
        return [name + (f"[{index}]" if index else "") for name, _, index in calls.outputs]
    return [f"output {i}" for i in range(count)]


def verify(source: Any, *, inputs: Any = None, samples: int = 8, atol: float | None = None,
           rtol: float | None = None, per_layer: bool = False, architecture: Any = None, seed: int = 0,
           input_layout: str = "keras", precision: str = "model", module: Any = None,
           mapping: Any = None, keras_backend: str | None = None,
           lambdas: Mapping[str, str] | None = None) -> VerificationReport:
    """Run Keras and the converted PyTorch model on the same inputs and compare, per output and layer.

    `inputs`: an .npz path, a list of arrays (Keras layout), or None for random inputs in a
    realistic range derived from the input spec. `input_layout` picks which build of the
    module runs (images are transposed for it and back). `precision`: "model" runs both in
    the dtypes the model computes in, tolerances by its lowest precision (TOLERANCES);
    "float64" runs both in float64 (a float16 or bfloat16 model too: every layer computing in
    float64, its weights upcast), where only a wrong convention makes a difference. Needs keras (and tf_keras for
    Keras 2 files). `module`: your own torch module (weights loaded, e.g. by load_into) is
    compared instead of weightport's; per layer, each Keras layer whose weights `load_into`
    pairs with a submodule (by key, or `mapping` as load_into takes it) is compared with that
    submodule's output. `keras_backend`: as for to_torch (the module built for the backend named; Keras
    computes on the one it runs on here). `lambdas`: as for to_torch; Keras runs each expression in place of
    the Lambda's stored function (never run), so this checks the conversion given the expressions.

        >>> report = converter.verify("model.keras", per_layer=True)   # doctest: +SKIP
        >>> report.ok, report.first_divergence                         # doctest: +SKIP
    """
    if precision not in ("model", "float64"):
        raise ArgumentError(f"precision {precision!r}: expected 'model' or 'float64'")
    require_torch("verify")
    require_keras("verify")
    with read_tagged(source, architecture, keras_backend=keras_backend, lambdas=lambdas) as graph:
        if module is None:
            refuse_graphless(graph, "verify")
        else:  # your module computes; Keras runs the model (a live subclassed one too: its outputs are compared)
            refuse_module(graph, "verify")
        checked = check_loadable(source, graph, architecture)  # before Keras or torch is imported
        dtype = lowest_precision(graph)
        if precision == "float64":
            computes_in_float64(graph)  # the module built computes in float64 as the Keras twin does (no casts down)
        default_atol, default_rtol = FLOAT64_TOLERANCE if precision == "float64" else TOLERANCES[dtype]
        atol = default_atol if atol is None else atol
        rtol = default_rtol if rtol is None else rtol
        own = module is not None
        running, differing = None, []  # the Keras here, where it computes some layers otherwise
        if own:
            warn_if_training(module)
            pairs = paired_submodules(module, convert_graph(graph), mapping) if per_layer else {}
        else:  # built as the Keras that runs here computes where it differs from the file's (running_keras.py)
            running = running_keras(graph)
            differing = computed_differently(graph, input_layout, running) if running else []
            module = module_from_graph(graph, input_layout, trace=True, keras=running if differing else None)
        # after the module: a layer without a rule says so before a model without input shapes asks for inputs
        if isinstance(inputs, (str, os.PathLike)):
            arrays = load_inputs(os.fspath(inputs), graph)
        elif inputs is not None:
            arrays = [np.asarray(array) for array in inputs]
        else:
            arrays = random_inputs(graph, samples, seed)
        check_inputs(arrays, graph)
        keras_model = load_keras_model(source, graph, checked)
        notes = verification_notes(graph, keras_model, checked)
        if running and differing:
            notes.append(version_note(graph, running, differing))
        classes = {layer.name: layer.class_name for layer in graph.layers}
    if precision == "float64":
        keras_model = float64_twin(keras_model)
        module = module.double()
        arrays = [array.astype(np.float64) if array.dtype.kind == "f" else array for array in arrays]
    try:
        expected = keras_call(keras_model, arrays)
    except Exception as error:  # Keras's own errors are of many kinds
        raise ReadError(f"{graph.source}: Keras cannot run the model on these inputs ({type(error).__name__}: "
                        f"{' '.join(str(error).split())[:200]}); check --input, or the file") from None
    if not own:
        module._captured = {} if per_layer else _Magnitudes()
    capture = Capture(pairs) if own else None
    channels_first = input_layout == "torch"
    actual = _module_outputs(module, arrays, channels_first, str(graph.source), own)
    if len(actual) != len(expected):
        raise VerificationError(f"{graph.source}: the PyTorch model returns {len(actual)} outputs, Keras "
                                f"{len(expected)}")
    names = output_names(graph, len(expected))
    # stateful recurrent layers: a second call starts from the states the first ended with, on both sides
    carries = not own and hasattr(module, "reset_states")
    if carries:
        module._captured, captured_first = None, module._captured  # the layers' values stay the first call's
        expected += keras_call(keras_model, arrays)
        actual += _module_outputs(module, arrays, channels_first, str(graph.source), own)
        module._captured = captured_first
        names += [f"{name} (2nd call)" for name in names]
    if capture is not None:
        capture.close()
        captured = capture.values
        magnitudes = {name: _magnitude(value) for name, value in captured.items()}
        magnitudes.update({name.split("[")[0]: max(magnitudes.get(name.split("[")[0], 0.0), _magnitude_of(e))
                           for name, e in zip(names, expected)})  # outputs: at least their own size
    else:
        captured = module._captured
        magnitudes = dict(captured) if not per_layer else {name: _magnitude(value) for name, value in captured.items()}
    scales = upstream_scales(graph, magnitudes)
    report = VerificationReport(
        source=str(graph.source), atol=atol, rtol=rtol, samples=len(arrays[0]),
        precision="float64" if precision == "float64" else dtype,
        outputs=[compare(name, classes.get(_layer_of(name), ""), e, a, atol, rtol, scales.get(_layer_of(name), 0.0))
                 for name, e, a in zip(names, expected, actual)],
        notes=notes,
    )
    if carries:
        report.notes.append("stateful recurrent layers: both models were called twice on the inputs, the second call "
                            "starting from the states the first ended with; layers are compared on the first call")
    if per_layer:
        keras_values, report.skipped_layers = keras_layer_outputs(keras_model, arrays)
        for name, keras_value in keras_values.items():
            value = captured.get(name)
            if capture is not None and value is not None:  # your module's submodule made it
                keras_layer = keras_model.get_layer(name)
                producer = capture.producers[name]
                value = keras_layout(value, channels_first, np.ndim(keras_value), producer, keras_layer)
                value = with_fused_activation(keras_layer, producer, value)
            elif value is not None:
                value = _as_numpy(value)
            if value is None or value.shape != np.shape(keras_value):
                report.skipped_layers.append(name)
                continue
            report.layers.append(compare(name, classes.get(name, ""), keras_value, value, atol, rtol,
                                         scales.get(name, 0.0)))
        amplified = amplification_note(graph, keras_model, keras_values, report.layers)
        report.notes += [amplified] if amplified else []
    return report
