"""EinsumDense that is a Dense in disguise -> nn.Linear.

An equation contracting the input's last axis with a 2-D kernel into the output's last
axis (`ab,bc->ac`, `abc,cd->abd`, `...b,bc->...c`), bias on that output axis or none,
is a Dense. Other equations are reported unsupported.
"""
from __future__ import annotations

import re
from ..config import Config
from ..conversion import LayerConversion
from ..graph import Layer
from ..layouts import Layout
from . import dense, quantization
from .registry import Kind, register
from .rules import Context, expect_shape, with_bias

_DENSE_EQUATION = re.compile(r"^(\.\.\.|[a-z]*)([a-z]),\2([a-z])->\1\3$")


def _dense_like(config: Config) -> re.Match[str] | None:
    equation = config.get("equation")
    match = _DENSE_EQUATION.match(equation.replace(" ", "")) if isinstance(equation, str) else None
    if match is None or match.group(2) in match.group(1) or match.group(3) in match.group(1):
        return None
    bias_axes = config.get("bias_axes")
    return match if bias_axes in (None, "", match.group(3)) else None


def _unsupported(layer: Layer) -> str | None:
    if _dense_like(layer.config):
        return None
    equation, bias_axes = str(layer.config.get("equation"))[:60], str(layer.config.get("bias_axes"))[:20]
    return (f"equation {equation!r} with bias_axes {bias_axes!r} is not "
            "a Dense (the input's last axis contracted with a 2-D kernel into the output's last axis)")


def convert(layer: Layer, context: Context) -> LayerConversion:
    """A Dense's rule: the same kernel, bias, activation, Flatten regrouping and int8 dequantization (an
    int8 EinsumDense that is a Dense keeps one scale per output, shaped (1, ..., out))."""
    expect_shape(layer, "kernel", (None, None), "(in, out)")
    return dense.convert(layer, context)


register(Kind(
    "keras.layers.EinsumDense", module="nn.Linear", convert=convert, forward=dense.forward, unsupported=_unsupported,
    variables=quantization.with_int8_scale(with_bias(("kernel", Layout.KERAS_DENSE_IO),
                                                     flag=lambda config: bool(config.get("bias_axes"))),
                                           "kernel_scale"),
    description="when it is a Dense (`...b,bc->...c`): kernel (in, out) -> weight (out, in); int8-quantized as "
                "Dense; others refused",
    tested="ab,bc->ac and abc,cd->abd with and without bias, int8-quantized; a non-Dense equation refused",
    quantized=(quantization.INT8,),
))
