"""EinsumDense -> nn.Linear when it is a Dense, else weightport's EinsumDense (the same einsum).

An equation contracting the input's last axis with a 2-D kernel into the output's last
axis (`ab,bc->ac`, `abc,cd->abd`, `...b,bc->...c`), bias on that output axis or none,
is a Dense: nn.Linear, its kernel transposed. Any other equation Keras accepts
(`abc,cde->abde`, an attention's projection to heads; `abcd,cde->abe`, back) is computed
as Keras computes it, `einsum(equation, x, kernel) + bias`: weightport's EinsumDense keeps
the kernel and bias as Keras stores them (the bias shaped to broadcast against the
output's trailing axes), so no axis is guessed. An int8-quantized one is read only as a Dense.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from . import dense, quantization
from .forward import EINSUM_OPS_ADD_BIAS_FROM, KERAS, Emitter, Value, activated, require_weights, tensorflow_bias_add
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch

_DENSE_EQUATION = re.compile(r"^(\.\.\.|[a-z]*)([a-z]),\2([a-z])->\1\3$")
#: Keras's three forms (layers/core/einsum_dense.py, _analyze_einsum_string): no ellipsis, one on the left of
#: the input and output, or one on their right (after at least two input axes)
_FORMS = (re.compile(r"^()([a-zA-Z]+)(),([a-zA-Z]+)->([a-zA-Z]+)$"),
          re.compile(r"^(\.\.\.)([a-zA-Z]+)(),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$"),
          re.compile(r"^()([a-zA-Z]{2,})(\.\.\.),([a-zA-Z]+)->([a-zA-Z]+)\.\.\.$"))


class Equation(NamedTuple):
    """An EinsumDense equation split as Keras splits it."""

    text: str  # as torch.einsum reads it (spaces removed)
    inputs: str  # the input's letters (without an ellipsis)
    kernel: str
    outputs: str
    right_elided: bool  # `ab...,bc->ac...`: the bias gets trailing unit axes for the elided ones


def _dense_like(config: Config) -> re.Match[str] | None:
    equation = config.get("equation")
    match = _DENSE_EQUATION.match(equation.replace(" ", "")) if isinstance(equation, str) else None
    if match is None or match.group(2) in match.group(1) or match.group(3) in match.group(1):
        return None
    bias_axes = config.get("bias_axes")
    return match if bias_axes in (None, "", match.group(3)) else None


def parse(config: Config) -> Equation | str:
    """The layer's equation, or why it is not one Keras accepts (checked here: it reaches generated code)."""
    equation = config.get("equation")
    text = equation.replace(" ", "") if isinstance(equation, str) else ""
    for form in _FORMS:
        match = form.match(text)
        if match is None:
            continue
        left, inputs, right, kernel, outputs = match.groups()
        if any(len(set(letters)) != len(letters) for letters in (inputs, kernel, outputs)):
            return f"equation {text[:60]!r} repeats a letter within one operand"
        if set(outputs) - set(inputs) - set(kernel):
            return f"equation {text[:60]!r} has output letters in neither operand"
        bias_axes = config.get("bias_axes")
        if bias_axes not in (None, "") and (not isinstance(bias_axes, str) or not set(bias_axes) <= set(outputs)):
            return f"bias_axes {str(bias_axes)[:20]!r} are not letters of the output {outputs!r}"
        return Equation(text, inputs, kernel, outputs, bool(right))
    return (f"equation {str(equation)[:60]!r} is not one Keras accepts ('ab,bc->ac', '...b,bc->...c' or "
            "'ab...,bc->ac...')")


def _unsupported(layer: Layer) -> str | None:
    if _dense_like(layer.config):
        return None
    parsed = parse(layer.config)
    if isinstance(parsed, str):
        return parsed
    if quantization.is_int8(layer.config):
        return (f"int8-quantized with equation {parsed.text!r}: a quantized EinsumDense is read only when it is a "
                "Dense (the input's last axis contracted with a 2-D kernel into the output's last axis)")
    return None


def _variables(config: Config) -> list[Variable]:
    """A Dense's kernel (in, out) and bias when it is one, else both as stored."""
    dense_like = bool(_dense_like(config)) or not config.get("equation")
    kernel, bias = (Layout.KERAS_DENSE_IO, Layout.VECTOR) if dense_like else (Layout.SAME, Layout.SAME)
    return numbered("", [("kernel", kernel)] + ([("bias", bias)] if config.get("bias_axes") else []))


#: an int8-quantized one's scale after them (a quantized non-Dense is then refused by name, not mistagged)
variables = quantization.with_int8_scale(_variables, "kernel_scale")


def _bias_shape(layer: Layer, equation: Equation) -> tuple[int, ...]:
    """Keras's bias shape: the output's axes from the first bias axis on, 1 where no bias; trailing ones for a
    right ellipsis. Each bias axis's size is the kernel's on that letter where the kernel has it."""
    bias_axes = str(layer.config.get("bias_axes"))
    first = min(equation.outputs.index(letter) for letter in bias_axes)
    found = layer.tensor("bias").shape
    spec = equation.outputs[first:]
    kernel_sizes = dict(zip(equation.kernel, layer.tensor("kernel").shape))
    wanted = [kernel_sizes.get(letter) if letter in bias_axes else 1 for letter in spec]
    extra = len(found) - len(spec)
    if equation.right_elided and extra > 0:
        wanted += [1] * extra
    expect_shape(layer, "bias", tuple(wanted), f"Keras's bias for bias_axes {bias_axes!r} of output {spec!r}")
    return found


def convert(layer: Layer, context: Context) -> LayerConversion:
    """A Dense's rule when it is one (the same kernel, bias, activation, Flatten regrouping and int8
    dequantization: one scale per output, shaped (1, ..., out)); else the einsum with both tensors kept."""
    if not layer.has_config or _dense_like(layer.config):
        expect_shape(layer, "kernel", (None, None), "(in, out)")
        return dense.convert(layer, context)
    equation = parse(layer.config)
    if isinstance(equation, str):  # refused before: a rule never guesses
        raise ValueError(equation)
    expect_shape(layer, "kernel", (None,) * len(equation.kernel), f"one axis per kernel letter {equation.kernel!r}")
    bias = _bias_shape(layer, equation) if layer.has("bias") else None
    module = TorchModule("EinsumDense", {"equation": equation.text, "weight_shape": layer.tensor("kernel").shape,
                                         "bias_shape": bias})
    tensors = [to_torch(layer, "kernel", "weight", Layout.SAME)]
    warnings = []
    if bias is not None:
        tensors.append(to_torch(layer, "bias", "bias", Layout.SAME))
        if layer.module is not None and backend_dependent(bias):  # a Keras 3 config records its module
            warnings.append(
                f"layer {layer.key}: its bias {bias} lies along an output axis that is not the last; Keras 3.10 and "
                "later on TensorFlow add such a bias along the output's last axis, or else its axis 1, when that "
                "axis has the bias's size (tf.nn.bias_add), where JAX, PyTorch and earlier Keras broadcast it: the "
                "module computes as the Keras that wrote the file did on its backend, TensorFlow unless the file or "
                "keras_backend (--keras-backend) names another (a .keras file does not record it; or set "
                "bias_add = 'broadcast' on this layer's EinsumDense in the built module)")
    return LayerConversion(layer, module, tensors, activation=layer.config.get("activation"), warnings=warnings)


def backend_dependent(bias: tuple[int, ...]) -> bool:
    """Whether Keras 3.10+'s TensorFlow backend may add this bias along another axis than the one it is shaped
    for: one axis longer than 1, and not its last (a bias on the output's last axis is added there by all)."""
    longer = [axis for axis, size in enumerate(bias) if size > 1]
    return len(longer) == 1 and longer[0] != len(bias) - 1


def forward(e: Emitter) -> Value:
    """A Dense's forward, or the einsum on the input as Keras holds it (channels-last)."""
    result = require_weights(e)
    if result.module.kind != "EinsumDense":
        return dense.forward(e)
    bias = result.module.arguments.get("bias_shape")
    if bias is not None and backend_dependent(bias) and tensorflow_bias_add(e, EINSUM_OPS_ADD_BIAS_FROM):
        result.module.arguments["bias_add"] = "tensorflow"
    e.module(result.module)
    x, equation = e.inputs[0], parse(e.config)
    assert isinstance(equation, Equation)  # convert() built the module from it
    # an ellipsis stands for as many axes in the output as in the input
    rank = None if x.rank is None else x.rank - len(equation.inputs) + len(equation.outputs)
    return activated(e, Value(f"{e.attribute}({e.arg(0, KERAS)})", KERAS, rank))


register(Kind(
    "keras.layers.EinsumDense", module="nn.Linear; else EinsumDense (weightport)", convert=convert, forward=forward,
    unsupported=_unsupported, variables=variables,
    description="as a Dense (`...b,bc->...c`): kernel (in, out) -> weight (out, in), int8-quantized too; any other "
                "equation: kernel and bias kept as stored, the same einsum; a bias on an axis that is not the "
                "output's last added as the file's Keras added it (3.10+ on TensorFlow: tf.nn.bias_add's axis, "
                "warned)",
    tested="ab,bc->ac and abc,cd->abd with and without bias, int8-quantized; abc,cde->abde, abcd,cde->abe, "
           "...b,bcd->...cd, ab...,bc->ac..., bias on some output axes (not the last: Keras 3.10+ on TensorFlow, "
           "tf.keras), both Keras",
    quantized=(quantization.INT8,),
))
