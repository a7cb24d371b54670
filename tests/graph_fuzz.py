"""Run one random graph through every file format and build: matched, refused, or a failure to report.

A graph (tests/random_graphs.py) is built in real Keras with random weights, saved in each
format that Keras writes, converted, built by `to_torch` in both input layouts, and exported
as a standalone `model.py`; every output is compared with the live Keras model's (a Keras 3
`.h5`'s with the model Keras loads from it, which its legacy loader can change; a Keras before
3.9 keeps what later Keras keep, as the converter does). Keras
refusing the random graph itself (an invalid combination) is counted apart and never blamed
on weightport.
"""
from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import converter
from build_harness import module_outputs
from converter.convert import read_tagged
from converter.graph import minor_version
from converter.modeling import module_from_graph
from converter.precision import computes_in_float64
from converter.readers.keras3_h5_loading import INT_AXIS_KEPT_FROM
from layer_harness import keras_module, randomize
from random_choices import Chooser
from random_graphs import draw_inputs, generate

#: file suffixes each Keras writes a whole model to
FORMATS = {"keras3": (".keras", ".h5"), "keras2": (".h5", ".keras")}
#: max |torch - keras| / max(1, max |keras|) per output; float32 through a few layers
TOLERANCE = 1e-4
LOW_PRECISION_TOLERANCE = 2e-2
#: the same between two modules in float64 (verify's float64 atol): what rounding leaves there
FLOAT64_TOLERANCE = 1e-9


@dataclass
class Outcome:
    status: str  # matched | refused | keras-rejected | mismatched | crashed
    reason: str = ""  # for refusals: the error without its specifics; for failures: what differed
    description: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("mismatched", "crashed")


def _raised_in_keras(error: BaseException) -> bool:
    """Whether Keras or TensorFlow raised `error` (a frame of theirs is on its traceback)."""
    frames = traceback.extract_tb(error.__traceback__)
    return any(part in frame.filename for frame in frames for part in ("/keras/", "/tf_keras/", "/tensorflow/"))


def run_graph(chooser: Chooser, writer: str, folder: Path, max_steps: int = 8, export: bool = True,
              generator: Callable[..., Any] = generate) -> Outcome:
    keras = keras_module(writer)
    keras.backend.clear_session()  # auto names from dense, dense_1 again: graphs reproduce by seed
    try:
        built = generator(keras, chooser, writer, max_steps)
        randomize(built.model, seed=5)
        inputs = draw_inputs(built, chooser)
        from converter.keras_side import keras_call

        expected = keras_call(built.model, inputs)
    except Exception as error:  # noqa: BLE001 - Keras refusing a random combination is not our failure
        if not _raised_in_keras(error):  # the generator's own fault: it must not hide as a Keras refusal
            return Outcome("crashed", f"the generator failed: {type(error).__name__}: {str(error)[:120]}")
        return Outcome("keras-rejected", f"{type(error).__name__}: {str(error)[:120]}")
    description = "\n".join(built.steps)
    if any(not np.all(np.isfinite(e)) for e in expected):
        return Outcome("keras-rejected", "non-finite Keras output", description)
    tolerance = LOW_PRECISION_TOLERANCE if built.low_precision else TOLERANCE
    exported, float64 = False, False
    twin: Path | None = None  # a file of this graph whose module agreed with Keras in float64
    unknown = False  # a Keras 3 .h5 Keras cannot load, whose layers read as its loader makes them
    # the backend Keras 3 computed on, which a .keras file does not record (a few biases differ on TensorFlow)
    backend = keras.backend.backend() if writer == "keras3" else None
    try:
        for suffix in FORMATS[writer]:
            path = folder / f"model{suffix}"
            try:
                built.model.save(str(path))
            except Exception as error:  # noqa: BLE001 - Keras cannot write this graph in this format
                return Outcome("keras-rejected", f"save {suffix}: {type(error).__name__}: {str(error)[:100]}",
                               description)
            reference = as_loaded(keras, writer, path, inputs, expected)
            if reference is None:  # Keras cannot load this .h5: only layers its loader changes are unknown
                reference = expected
                unknown = built_as_keras3_loads(path)
            for layout in ("torch", "keras"):
                module = converter.to_torch(str(path), input_layout=layout, keras_backend=backend,
                                            lambdas=built.lambdas)
                outputs = module_outputs(module, inputs, layout)
                worst = compare(reference, outputs)
                if worst > tolerance and reference is not expected and \
                        (minor_version(keras.__version__) or (3, 99)) < INT_AXIS_KEPT_FROM:
                    worst = compare(expected, outputs)  # kept as saved, as Keras 3.9 and later load it
                if worst > tolerance and reference is expected and path.suffix == ".h5" and writer == "keras3" \
                        and unknown:
                    worst = 0.0  # built as Keras 3's loader makes such a layer, which this file it cannot load
                if worst > tolerance and not built.low_precision and (
                        agrees_in_float64(path, inputs, layout, backend, built.lambdas)
                        or agrees_with_twin(keras, path, twin, inputs, layout, backend, built.lambdas)):
                    float64 = True  # float32 rounding amplified (a norm over one element): float64 decides
                    twin = twin or path
                elif worst > tolerance:
                    return Outcome("mismatched", f"{suffix} {layout} layout: {worst:.2e}", description)
            if export and not exported:
                worst = compare(expected, run_exported(str(path), inputs, folder, backend, built.lambdas))
                if worst > tolerance and not float64:
                    return Outcome("mismatched", f"exported model.py from {suffix}: {worst:.2e}", description)
                exported = True
    except converter.ConverterError as error:
        unloadable = keras_cannot_load(keras, path)
        if unloadable:  # tf.keras writes a layer shared by a nested model and another into .keras once
            return Outcome("keras-rejected", f"Keras cannot load its own {path.suffix}: {unloadable}", description)
        return Outcome("refused", refusal_reason(str(error)), description + f"\nrefused: {error}")
    except Exception as error:  # noqa: BLE001 - a crash is a failure the caller reports
        import traceback

        return Outcome("crashed", f"{type(error).__name__}: {error}", description + "\n" + traceback.format_exc())
    return Outcome("matched", "in float64" if float64 else "", description)


def as_loaded(keras: Any, writer: str, path: Path, inputs: list[np.ndarray],
              expected: list[np.ndarray]) -> list[np.ndarray] | None:
    """What a module built from a Keras 3 `.h5` must compute: the model as Keras loads that file, which its legacy
    loader can change (converter/readers/keras3_h5_loading.py); `expected` (the live model's) for other files;
    None where Keras cannot load that `.h5`, or run what it loads (keras.ops.softmax loaded as the Softmax layer,
    given a mask that does not fit its input): what it would compute is then unknown."""
    if writer != "keras3" or path.suffix != ".h5":
        return expected
    from converter.keras_side import keras_call

    try:
        return keras_call(keras.saving.load_model(str(path), compile=False), inputs)
    except Exception:  # noqa: BLE001 - Keras's own errors are of many kinds
        return None


def built_as_keras3_loads(path: Path) -> bool:
    """Whether the reader changed a layer of this Keras 3 `.h5` to what Keras's loader makes of it."""
    with converter.read(str(path)) as graph:
        return any("and so does the module" in note for note in graph.notes)


def keras_cannot_load(keras: Any, path: Path) -> str | None:
    """Why Keras cannot load a file it saved (a refusal of it is no failure of ours), or None."""
    try:
        keras.models.load_model(str(path), compile=False)
    except Exception as error:  # noqa: BLE001 - Keras's own errors are of many kinds
        return f"{type(error).__name__}: {str(error)[:80]}"
    return None


def agrees_in_float64(path: Path, inputs: list[np.ndarray], layout: str, backend: str | None,
                      lambdas: dict[str, str] | None = None) -> bool:
    """Both sides again in float64 (Keras rebuilt with float64 layers, the module in float64): within
    verify's float64 tolerance, the float32 difference was rounding, not a convention."""
    try:
        return converter.verify(str(path), inputs=inputs, input_layout=layout, precision="float64",
                                keras_backend=backend, lambdas=lambdas).ok
    except converter.ConverterError:
        return False


def agrees_with_twin(keras: Any, path: Path, twin: Path | None, inputs: list[np.ndarray], layout: str,
                     backend: str | None, lambdas: dict[str, str] | None = None) -> bool:
    """Where Keras cannot load `path` again for the float64 check (Keras 3.9's `.h5` of a NotEqual): its
    module against the module of `twin`, the same graph in another format that agreed with Keras in float64,
    both built in float64 as verify's float64 check builds them. Equal to float64 rounding, the twin's agreement
    carries over."""
    if twin is None or keras_cannot_load(keras, path) is None:
        return False
    feed = [a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a for a in inputs]
    outputs = [module_outputs(float64_module(file, layout, backend, lambdas), feed, layout) for file in (twin, path)]
    return compare(*outputs) <= FLOAT64_TOLERANCE


def float64_module(path: Path, layout: str, backend: str | None, lambdas: dict[str, str] | None = None) -> Any:
    """The module of `path` with every layer computing in float64, as verify's float64 check builds it. (`.double()`
    of the module is not that: a layer of another dtype policy than its input's still casts to float32; seed
    1540042 raised "expected scalar type Float but found Double".)"""
    with read_tagged(str(path), None, "raw", backend, lambdas) as graph:
        computes_in_float64(graph)
        return module_from_graph(graph, layout)


def run_exported(path: str, inputs: list[np.ndarray], folder: Path, backend: str | None,
                 lambdas: dict[str, str] | None = None) -> list[np.ndarray]:
    """The standalone model.py, imported as a user would, in the torch layout."""
    (folder / "export").mkdir(exist_ok=True)
    source, _ = converter.export(path, folder / "export" / "model.py", force=True, keras_backend=backend,
                                 lambdas=lambdas)
    name = f"weightport_fuzz_export_{abs(hash(source))}"
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        return module_outputs(module.load(), inputs, "torch")
    finally:
        sys.modules.pop(name, None)


def compare(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """The worst max |difference| / max(1, max |expected|) over the outputs; inf on a shape mismatch."""
    if len(expected) != len(actual):
        return float("inf")
    worst = 0.0
    for e, a in zip(expected, actual):
        if e.shape != a.shape:
            return float("inf")
        e, a = np.asarray(e, np.float64), np.asarray(a, np.float64)
        if e.size:
            # equal (infinities too) and NaN on both sides agree; a NaN on one side only is a mismatch (max()
            # over a NaN would have passed it)
            difference = np.where((e == a) | (np.isnan(e) & np.isnan(a)), 0.0, np.abs(e - a))
            if np.isnan(difference).any():
                return float("inf")
            scale = np.abs(e[np.isfinite(e)])
            worst = max(worst, float(np.max(difference)) / max(1.0, float(scale.max()) if scale.size else 1.0))
    return worst


def refusal_reason(message: str) -> str:
    """A refusal without the specifics (names, numbers, shapes), so that refusals group by reason."""
    layer = re.search(r"(?:cannot build|for \d+) layers? .*?\(([^():]+)\)?:? (.*)", message)
    reason = f"{layer.group(1)}: {layer.group(2)}" if layer else message.split(": ", 1)[-1]
    reason = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\[[^\]]*\]|\d+", "_", reason)
    return reason[:90]
