"""The public entry points that build PyTorch models: to_torch, export, verify."""
from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np

from .convert import convert_graph
from .errors import ConverterError, VerificationError, WriteError
from .graph import ModelGraph
from .layers import tag_graph
from .readers import read_source
from .verification import (
    VerificationReport, check_inputs, check_loadable, compare, keras_call, keras_layer_outputs, load_inputs, load_keras_model,
    random_inputs,
)
from .writers import check_destination, check_output, write
from .writers.files import write_text


def output_names(graph: ModelGraph, count: int) -> list[str]:
    """The layers whose outputs the model returns, from its config."""
    if graph.root is not None:
        from .torch_build.codegen import model_calls

        _, _, outputs = model_calls(graph.root)
        if len(outputs) == count:
            return [name + (f"[{index}]" if index else "") for name, _, index in outputs]
    return [f"output {i}" for i in range(count)]


def read_tagged(source: Any, architecture: Any) -> ModelGraph:
    """Read a source and tag its tensors' roles and layouts (converter.read)."""
    graph = read_source(source, architecture)
    try:
        tag_graph(graph)
    except Exception:
        graph.close()
        raise
    return graph


def _build(graph: ModelGraph, input_layout: str, trace: bool) -> Any:
    from .torch_build import build_module

    conversion = convert_graph(graph)
    weights = {target.key: target.load() for target in conversion.tensors}
    graph.check_integrity()
    return build_module(graph, conversion, weights, input_layout, trace)


def to_torch(source: Any, *, input_layout: str = "torch", architecture: Any = None) -> Any:
    """A runnable torch.nn.Module with the Keras weights loaded, built from the Keras architecture.

    input_layout="torch": image inputs and outputs of rank 4 and 5 are channels-first
    (N, C, H, W) and the module computes channels-first inside; "keras": it takes and
    returns exactly the arrays Keras does. `module.source` is its Python source.

        >>> model = converter.to_torch("model.keras")          # doctest: +SKIP
        >>> model(torch.randn(1, 3, 224, 224))                  # doctest: +SKIP
    """
    with read_tagged(source, architecture) as graph:
        return _build(graph, input_layout, trace=False)


def export(source: Any, destination: str | os.PathLike[str], *, weights: str | os.PathLike[str] | None = None,
           input_layout: str = "torch", force: bool = False, architecture: Any = None) -> tuple[str, str]:
    """Write a standalone PyTorch model file (torch only) and its weights; returns both paths.

    The weights go beside it as `<name>.safetensors` unless `weights` names another file
    (.safetensors or .pt). The file's `load()` returns the model with its weights.

        >>> converter.export("model.keras", "model.py")         # doctest: +SKIP
    """
    destination = os.fspath(destination)
    if not destination.endswith(".py"):
        raise WriteError(f"{destination}: the model file must end in .py")
    weights = os.fspath(weights) if weights else os.path.splitext(destination)[0] + ".safetensors"
    if not weights.endswith((".safetensors", ".pt", ".pth")):
        raise WriteError(f"{weights}: the weights of an exported model must be .safetensors, .pt or .pth")
    inputs = [os.fspath(path) for path in (source, architecture) if isinstance(path, (str, os.PathLike))]
    if os.path.abspath(destination) == os.path.abspath(weights):
        raise WriteError(f"{destination}: the model file and its weights need different names")
    check_output(destination, force, inputs)
    check_destination(weights, force, inputs)
    from .torch_build import model_source

    with read_tagged(source, architecture) as graph:
        inputs += graph.files
        conversion = convert_graph(graph)
        generated = model_source(graph, conversion, input_layout)
        relative = os.path.relpath(os.path.abspath(weights), os.path.dirname(os.path.abspath(destination)))
        code = generated.source + _LOADER.format(root=generated.root, weights=repr(relative))
        tensors = [_with_key(tensor, generated.module_key(tensor.key)) for tensor in conversion.tensors]
        write(tensors, conversion.metadata(), weights, force, validate=graph.check_integrity, sources=inputs)
    write_text(destination, code, force)
    return destination, weights


def _with_key(tensor: Any, key: str) -> Any:
    if key == tensor.key:
        return tensor
    moved = copy.copy(tensor)
    moved.key = key
    return moved


_LOADER = '''

def load(weights: str | None = None) -> {root}:
    """The model with its converted weights, in eval mode."""
    import os

    path = weights or os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights})
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, weights_only=True)
    model = {root}()
    model.load_state_dict(state)
    return model.eval()
'''


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
        module = _build(graph, input_layout, trace=per_layer)
        keras_model = load_keras_model(source, graph)
        classes = {layer.name: layer.class_name for layer in graph.layers}
    try:
        expected = keras_call(keras_model, arrays)
    except Exception as error:  # Keras's own errors are of many kinds
        raise ConverterError(f"{graph.source}: Keras cannot run the model on these inputs ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:200]}); check --input, or the file") from None
    if per_layer:
        module._captured = {}
    channels_first = input_layout == "torch"
    feed = [np.moveaxis(a, -1, 1) if channels_first and a.ndim in (4, 5) else a for a in arrays]
    try:
        with torch.no_grad():
            actual = module(*[torch.from_numpy(np.ascontiguousarray(array)) for array in feed])
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        raise VerificationError(f"{graph.source}: Keras runs the model, the converted PyTorch model fails on the "
                                f"same inputs ({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    actual = [a.numpy() for a in (actual if isinstance(actual, (list, tuple)) else [actual])]
    actual = [np.moveaxis(a, 1, -1) if channels_first and a.ndim in (4, 5) else a for a in actual]
    if len(actual) != len(expected):
        raise ConverterError(f"the PyTorch model returns {len(actual)} outputs, Keras {len(expected)}")
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
