"""SpectralNormalization(layer) -> the wrapped layer's own rule and module, its kernel as stored.

Keras normalizes the kernel only in training (and stores the result in the layer's kernel);
at inference the wrapped layer runs on its kernel as it is, and its output is cast to the
input's dtype (an Embedding's integer ids make it integers). The wrapper's own variables, the
power iteration's `vector_u` and a second reference to the kernel (which a `.keras` file
stores again and an `.h5` file once), are training state: left out, and the record says so.
TensorFlow Addons' SpectralNormalization, which Keras's follows, computes and stores alike
(its `sn_u` is Keras's `vector_u`).
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion
from ..graph import Layer
from ..layouts import Layout
from .forward import Emitter, Value, same
from .masks import carried
from .registry import Kind, register, wrapped_kind, wrapped_variables
from .rules import Context, Variable, wrapped

OWN = ("kernel_alias", "vector_u")  # the wrapper's vars/0 and vars/1


def _inner_kind(config: Config) -> Kind | None:
    return wrapped_kind(config, "SpectralNormalization")


def variables(config: Config) -> list[Variable]:
    inner_variables = wrapped_variables(_inner_kind(config), wrapped(config)[1])
    if not inner_variables:
        return []
    kernel = next((v.layout for v in inner_variables if v.role in ("kernel", "embeddings")), Layout.UNKNOWN)
    return inner_variables + [Variable("kernel_alias", kernel, "vars/0", ("kernel_alias",), optional=True),
                              Variable("vector_u", Layout.VECTOR, "vars/1", ("vector_u", "sn_u"))]  # tfa: sn_u


def _wrapped(layer: Layer) -> Layer:
    class_name, inner = wrapped(layer.config)
    return Layer(name=layer.name, class_name=class_name, config=inner, path=layer.path,
                 tensors=[tensor for tensor in layer.tensors if tensor.role not in OWN], input_shape=layer.input_shape)


def unsupported(layer: Layer) -> str | None:
    found = _inner_kind(layer.config)
    if found is None or found.convert is None:
        return f"wraps {wrapped(layer.config)[0] or 'no layer'}, which has no rule"
    return found.unsupported(_wrapped(layer))


def convert(layer: Layer, context: Context) -> LayerConversion:
    found = _inner_kind(layer.config)
    assert found is not None and found.convert is not None
    result = found.convert(_wrapped(layer), context)
    result.layer = layer
    left_out = [tensor.role for tensor in layer.tensors if tensor.role in OWN]
    if left_out:
        result.warnings.append(f"layer {layer.key}: SpectralNormalization: left out {', '.join(left_out)} (training "
                               "state); inference uses the wrapped layer's kernel as stored, as Keras does")
    return result


def forward(e: Emitter) -> Value | list[Value]:
    """The wrapped layer's forward on the wrapper's input, with the wrapper's converted weights."""
    found = _inner_kind(e.config)
    if found is None or found.forward is None:
        raise e.unsupported(f"SpectralNormalization({wrapped(e.config)[0][:40]}) is not built")
    step = e.inner(_wrapped(e.layer), e.inputs)
    value = found.forward(step)
    for line in step.statements:
        e.statement(line)
    if wrapped(e.config)[0] == "Embedding" and isinstance(value, Value):  # Keras casts to the ids' dtype
        return same(value, f"{value.expr}.to({e.inputs[0].expr}.dtype)")  # a new tensor: no mask
    # Keras returns the wrapped layer's output tensor itself (its cast to the input's dtype is no change): the mask
    # the wrapped layer's call gave that tensor stays on it (a Dense passes its input's on), though the wrapper
    # does not support masking
    return carried(found.name, e.keras_major, step.inputs, value if isinstance(value, list) else [value],
                   step.returns_input)


register(Kind(
    "keras.layers.SpectralNormalization", module="the wrapped layer's module", variables=variables,
    convert=convert, forward=forward, unsupported=unsupported,
    aliases=("tensorflow_addons.layers.SpectralNormalization",),
    description="the wrapped layer's rule on its stored kernel; vector_u (training state) left out; TensorFlow Addons' "
                "too",
    tested="wrapping Dense, Conv2D and Embedding (Keras 3), in .keras and .h5; tfa 0.21's wrapping Dense and Conv2D, "
           "saved by TensorFlow 2.13",
))
