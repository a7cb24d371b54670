"""Keras 3 int8-quantized layers (`model.quantize("int8")`): their weights dequantized as Keras computes.

Keras keeps such a layer's weight as int8 with one float scale per output unit (Dense's
`kernel_scale`, per column) or per row (Embedding's `embeddings_scale`) and divides by the
scale after the product. Embedding: rows looked up, then divided by their scale, so the
float table `embeddings / embeddings_scale` gives Keras's values exactly. Dense: Keras also
quantizes its *inputs*, per row, by absolute maximum (`s = 127 / (max|x| + 1e-7)`, round
half to even, clip to +-127) and computes `(round(x s) @ kernel) / (s kernel_scale)`. The
converted weight is `kernel / kernel_scale` in float32; the built module quantizes its
inputs the same way before its nn.Linear, which gives Keras's outputs to float32 rounding.
An nn.Linear loading the weight alone computes the float model Keras quantized: its outputs
differ from the int8 model's by the input quantization (a warning says so). `--layout keras`
keeps the int8 tensors and their scales as Keras stores them.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, compute_dtype, quantization_mode
from ..errors import LayoutError
from ..graph import Layer, Tensor
from ..layouts import Layout
from .rules import Variable

if TYPE_CHECKING:
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none

INT8 = "int8"
#: Keras's default input quantizer: AbsMaxQuantizer's value range and epsilon
DEFAULT_INPUTS = {"value_range": (-127.0, 127.0), "epsilon": 1e-7}


def is_int8(config: Config) -> bool:
    return quantization_mode(config) == INT8


def input_quantizer(layer: Layer) -> dict[str, Any] | None:
    """How an int8 Dense quantizes its inputs ({value_range, epsilon}), or None when it does not
    (a weight-only Int8QuantizationConfig). LayoutError for any other quantizer."""
    where = f"layer {layer.key} ({layer.class_name})"
    setting = layer.config.get("quantization_config")
    if setting is None:
        return dict(DEFAULT_INPUTS)
    inner = setting.get("config") if isinstance(setting, dict) else None
    if not isinstance(inner, dict) or setting.get("class_name") != "Int8QuantizationConfig":
        raise LayoutError(f"{where}: int8-quantized with a quantization_config weightport does not know "
                          f"({str(setting)[:120]}); only Int8QuantizationConfig is read")
    activation = inner.get("activation_quantizer")
    if activation is None:
        return None
    options = activation.get("config") if isinstance(activation, dict) else None
    if activation.get("class_name") != "AbsMaxQuantizer" or not isinstance(options, dict) or \
            options.get("output_dtype", "int8") != "int8":
        raise LayoutError(f"{where}: int8-quantized with an input quantizer other than AbsMaxQuantizer to int8 "
                          f"({str(activation)[:120]}); weightport cannot compute it")
    quantizer = Config(options, f"{where}: its input quantizer")
    low, high = (float(value) for value in quantizer.numbers("value_range", [-127, 127]))  # type: ignore[union-attr]
    return {"value_range": (low, high), "epsilon": quantizer.float("epsilon", 1e-7)}


def dequantized(layer: Layer, role: str, scale_role: str, axis: int) -> Layer:
    """`layer` with its int8 `role` tensor replaced by `role / scale_role` (the scale along `axis`) in
    float32, and the scale dropped; the record names both tensors. LayoutError on any other shape
    or dtype, or a layer computing in another float type."""
    where = f"layer {layer.key} ({layer.class_name})"
    if compute_dtype(layer.config) != "float32":
        raise LayoutError(f"{where}: int8-quantized from {compute_dtype(layer.config)}; weightport dequantizes "
                          "layers quantized from float32 only")
    weight, scale = layer.tensor(role), layer.tensor(scale_role)
    # one scale per index of `axis`: (n,), or (1, ..., 1, n) as an EinsumDense keeps it
    per_index = bool(scale.shape) and scale.shape[-1] == weight.shape[axis] and set(scale.shape[:-1]) <= {1}
    if weight.dtype != "int8" or scale.dtype != "float32" or not per_index:
        raise LayoutError(f"{weight.source}: {where} is int8-quantized, but its {role} is {weight.dtype} "
                          f"{weight.shape} and its {scale_role} {scale.dtype} {scale.shape}; expected int8 and one "
                          f"float32 scale per index of axis {axis}")
    shape = [1] * len(weight.shape)
    shape[axis] = -1

    def load() -> np.ndarray:
        # Keras: cast(int8, float32) / scale, one division per element, as here
        return np.asarray(weight.load(), np.float32) / np.asarray(scale.load()).reshape(shape)

    made = Tensor(role=role, shape=weight.shape, dtype="float32", source=f"{weight.source} / {scale.source}",
                  loader=load, layout=weight.layout)
    tensors = [made if tensor is weight else tensor for tensor in layer.tensors if tensor is not scale]
    return replace(layer, tensors=tensors)


def with_int8_scale(variables: Callable[[Config], list[Variable]], scale: str) -> Callable[[Config], list[Variable]]:
    """A kind's variables, and after them, when the layer is int8-quantized, its scale (stored next)."""

    def quantized(config: Config) -> list[Variable]:
        found = variables(config)
        return found + [Variable(scale, Layout.VECTOR, f"vars/{len(found)}", (scale,))] if is_int8(config) else found

    return quantized


def transform_note(text: str, scale: str) -> str:
    """The record's transform of a dequantized tensor."""
    return f"dequantize (int8 / {scale}); {text}" if text != "none" else f"dequantize (int8 / {scale})"
