"""The inputs verify runs both models on: random ones in a realistic range from the model's input spec (token ids
below the vocabulary, padded steps where a layer masks them), or the user's, checked against that spec."""
from __future__ import annotations

import math

import numpy as np

from .errors import ArgumentError, ReadError
from .graph import Layer, ModelGraph

#: at most this many bytes of random inputs (float64 while drawn): an input shape is what the file says, and a large
#: or crafted one would otherwise have verify allocate whatever it names
MAX_RANDOM_INPUT_BYTES = 2 << 30


def random_inputs(graph: ModelGraph, samples: int, seed: int = 0) -> list[np.ndarray]:
    """Inputs in a realistic range from the input spec: N(0, 1) floats; integer ids below the vocabulary for an
    integer input or one an Embedding reads (a Keras 2 Sequential gives its Embedding a float32 input: ids
    held as floats, which Keras casts); random booleans for a boolean one (a mask given as an input)."""
    if not graph.inputs:
        sequential = graph.root is not None and graph.root.class_name == "Sequential"
        what = "a Sequential model built without an input shape" if sequential else "a subclassed model"
        raise ArgumentError(f"{graph.source}: the model records no input shapes ({what}): pass its inputs "
                            "(inputs=[arrays] in Python, --input FILE.npz on the command line)")
    rng = np.random.default_rng(seed)
    arrays = []
    shapes = []
    for spec in graph.inputs:
        batch = samples if not spec.shape or spec.shape[0] is None else int(spec.shape[0])  # a fixed batch size
        shapes.append((batch,) + tuple(8 if dim is None else int(dim) for dim in spec.shape[1:]))
    drawn = sum(math.prod(shape) for shape in shapes) * 8
    if drawn > MAX_RANDOM_INPUT_BYTES:
        largest = max(range(len(shapes)), key=lambda index: math.prod(shapes[index]))
        raise ArgumentError(f"{graph.source}: random inputs of the shapes the model records (input "
                            f"{graph.inputs[largest].name!r}: {shapes[largest]}) would take {drawn / 2 ** 30:.1f} GiB; "
                            "pass fewer samples (--samples), or inputs of your own (inputs=[arrays] in Python, "
                            "--input FILE.npz on the command line)")
    for spec, shape in zip(graph.inputs, shapes):
        readers = _readers(graph, spec.name)
        vocabularies = [layer.config.get("input_dim", 10) for layer in readers if layer.class_name == "Embedding"]
        # (a crafted input_dim, not a positive number, bounds nothing: Keras refuses the file when it loads it)
        vocabularies = [size for size in vocabularies if type(size) is int and size > 0]
        if spec.dtype == "bool":
            array = rng.random(shape) < 0.7
        elif spec.dtype.startswith(("int", "uint")) or vocabularies:
            vocabulary = min(vocabularies, default=10)
            array = rng.integers(0, int(vocabulary), shape).astype(spec.dtype)
            if any(layer.class_name == "Embedding" and layer.config.get("mask_zero") is True for layer in readers):
                pad_steps(array, rng, 0)
        else:
            array = rng.normal(0.0, 1.0, shape).astype(np.float32)
            for layer in readers:
                if layer.class_name == "Masking" and isinstance(layer.config.get("mask_value", 0.0), (int, float)):
                    pad_steps(array, rng, float(layer.config.get("mask_value", 0.0)))
        arrays.append(array)
    return arrays


def _readers(graph: ModelGraph, name: str) -> list[Layer]:
    """The layers the model calls on its input `name`: from its call graph, which also knows the input a Sequential
    without an InputLayer (Keras 1 to 2.3 wrote none) makes for its first layer; else from the layers' inbound
    names (an input of a nested model's, taken as the model's)."""
    calls = graph.root.call_graph.calls if graph.root is not None and graph.root.call_graph is not None else []
    return [call.layer for call in calls if any(ref[0] == name for ref in call.refs())] or [
        layer for layer in graph.walk() if name in layer.inbound]


def pad_steps(array: np.ndarray, rng: np.random.Generator, value: float) -> None:
    """Give the samples of `array` padded steps (axis 1) of `value`, which a mask_zero Embedding or a Masking layer
    masks: after the sequence, before it (pad_sequences' default), between its steps, or none, in turn; every
    sample keeps one step at least. Random ids or normal floats would almost never be padding, and the converted
    model's masking would go unchecked."""
    if array.ndim < 2 or array.shape[1] < 2:
        return
    steps = array.shape[1]
    for index in range(array.shape[0]):
        padded = int(rng.integers(1, steps))
        if index % 4 == 0:
            array[index, steps - padded:] = value
        elif index % 4 == 1:
            array[index, :padded] = value
        elif index % 4 == 2:
            between = rng.permutation(steps)[:padded]
            array[index, between] = value


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
                                              for want, have in zip(expected, array.shape)):
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
