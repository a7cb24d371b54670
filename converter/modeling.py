"""The public entry points that build PyTorch models: to_torch and export."""
from __future__ import annotations

import os
from typing import Any, Mapping

from .hugging_face import refuse_module
from .convert import convert_graph, read_tagged
from .dependencies import require_torch
from .errors import ArgumentError, WriteError
from .graph import ModelGraph
from .torch_build.codegen import KerasRun
from .writers import MODEL_FORMATS, check_destination, check_output, suffix_of, write
from .writers.files import write_text


def refuse_graphless(graph: ModelGraph, what: str) -> None:
    """A Hugging Face checkpoint or a subclassed model: no Keras graph of calls to build a forward from."""
    refuse_module(graph, what)
    if graph.format == "live-subclassed":
        raise ArgumentError(f"{graph.source}: a subclassed model records no graph of layer calls, so {what} cannot "
                            "write its forward; write the PyTorch twin (same attribute names) and load it with "
                            "converter.load_into(twin, model), or convert the weights (keys are attribute paths)")


def module_from_graph(graph: ModelGraph, input_layout: str = "torch", trace: bool = False,
                      keras: KerasRun | None = None) -> Any:
    """The nn.Module of a tagged graph, its weights loaded (checked against their source first); built as
    `keras` (a version and backend) computes, where given (verify), else as the Keras that wrote the file."""
    from .torch_build import build_module

    conversion = convert_graph(graph)
    conversion.warn(stacklevel=4)  # the caller of to_torch
    weights = {target.key: target.load() for target in conversion.tensors}
    graph.check_integrity()
    return build_module(graph, conversion, weights, input_layout, trace, keras)


def to_torch(source: Any, *, input_layout: str = "torch", architecture: Any = None, variables: str = "raw",
             keras_backend: str | None = None, lambdas: Mapping[str, str] | None = None) -> Any:
    """A runnable torch.nn.Module with the Keras weights loaded, built from the Keras architecture.

    input_layout="torch": image inputs and outputs of rank 4 and 5 are channels-first
    (N, C, H, W) and the module computes channels-first inside; "keras": it takes and
    returns exactly the arrays Keras does. `module.source` is its Python source.
    `keras_backend` ("jax", "torch", ...): the backend a Keras 3 model ran on, where the file does not
    record it (a .keras archive: TensorFlow is assumed; Keras 3.7+ on TensorFlow adds some biases along
    another axis). `lambdas`: what each Lambda layer computes, by layer name, as an expression of its input
    `x` (`{"lambda_1": "x / 127.5 - 1"}`; README: Lambda layers): a Lambda's function is code stored in the
    file, which weightport never runs.

        >>> model = converter.to_torch("model.keras")          # doctest: +SKIP
        >>> model(torch.randn(1, 3, 224, 224))                  # doctest: +SKIP
    """
    require_torch("to_torch")
    with read_tagged(source, architecture, variables, keras_backend, lambdas) as graph:
        refuse_graphless(graph, "to_torch")
        return module_from_graph(graph, input_layout)


def export(source: Any, destination: str | os.PathLike[str], *, weights: str | os.PathLike[str] | None = None,
           input_layout: str = "torch", force: bool = False, architecture: Any = None,
           variables: str = "raw", keras_backend: str | None = None,
           lambdas: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Write a standalone PyTorch model file (torch only) and its weights; returns both paths.

    The weights go beside it as `<name>.safetensors` unless `weights` names another file
    (.safetensors or .pt). The file's `load()` returns the model with its weights.
    `keras_backend`, `lambdas`: as for to_torch.

        >>> converter.export("model.keras", "model.py")         # doctest: +SKIP
    """
    destination = os.fspath(destination)
    require_torch("export (a PyTorch model file and its weights)")
    if not destination.endswith(".py"):
        raise WriteError(f"{destination}: the model file must end in .py")
    weights = os.fspath(weights) if weights else os.path.splitext(destination)[0] + ".safetensors"
    if suffix_of(weights) not in MODEL_FORMATS:
        raise WriteError(f"{weights}: the weights of an exported model must be {', '.join(MODEL_FORMATS)}")
    inputs = [os.fspath(path) for path in (source, architecture) if isinstance(path, (str, os.PathLike))]
    if os.path.abspath(destination) == os.path.abspath(weights):
        raise WriteError(f"{destination}: the model file and its weights need different names")
    check_output(destination, force, inputs)
    check_destination(weights, force, inputs)
    from .torch_build import model_source

    with read_tagged(source, architecture, variables, keras_backend, lambdas) as graph:
        refuse_graphless(graph, "export")
        inputs += graph.files
        conversion = convert_graph(graph)
        conversion.warn()
        generated = model_source(graph, conversion, input_layout)
        relative = os.path.relpath(os.path.abspath(weights), os.path.dirname(os.path.abspath(destination)))
        code = generated.source + _LOADER.format(root=generated.root, weights=repr(relative))
        tensors = [tensor.with_key(generated.module_key(tensor.key)) for tensor in conversion.tensors]
        write(tensors, conversion.metadata(), weights, force, validate=graph.check_integrity, sources=inputs)
    write_text(destination, code, force)
    return destination, weights


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


