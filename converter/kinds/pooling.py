"""Max and average pooling, local, global and adaptive, in 1D/2D/3D (no weights).

Keras 3's adaptive pooling takes PyTorch's windows (output i spans floor(i * n / size) to
ceil((i + 1) * n / size)): F.adaptive_avg_pool / F.adaptive_max_pool on channels-first values.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .forward import (KERAS, Emitter, Value, floats, literal, same, spatial_layout, torch_changes_input,
                      torch_pool_rule)
from .registry import Kind, layer_names, register



def local_pooling(kind: str, spatial: int) -> Callable[[Emitter], Value]:
    """The forward of a local pooling: TensorFlow's 'same' padding (-inf for max, excluded from averages), or
    Keras's torch backend's where it differs (edge copies an uneven average counts; Keras 3.0 to 3.8 crop)."""

    def forward(e: Emitter) -> Value:
        layout = spatial_layout(e)
        size = e.config.ints("pool_size", spatial, 2, minimum=1)
        stride = e.config.ints("strides", spatial, minimum=1) if e.config.get("strides") is not None else size
        padding = e.config.choice("padding", ("valid", "same"), "valid")
        x = e.inputs[0]
        rule = torch_pool_rule(e, average=kind == "average") if padding == "same" else None
        if rule is not None:
            expr = (f"{e.helper('keras_torch_pool')}({e.arg(0, layout)}, {literal(kind)}, {literal(size)}, "
                    f"{literal(stride)}, {literal(rule)})")
        else:
            expr = (f"{e.helper('pool')}({e.arg(0, layout)}, {literal(kind)}, {literal(size)}, "
                    f"{literal(stride)}, {literal(padding)})")
        return same(x, expr, layout=layout)

    return forward


#: from which Keras a masked GlobalAveragePooling1D zeroes the masked steps with a where, not a multiply
MASKED_MEAN_WHERE_FROM = (3, 15)


def global_pooling(kind: str, spatial: int) -> Callable[[Emitter], Value]:
    """The forward of a global pooling: a mean or max over the spatial axes (masked steps left out)."""

    def forward(e: Emitter) -> Value:
        layout = spatial_layout(e)
        x = e.inputs[0]
        keepdims = e.config.bool("keepdims", False)
        if kind == "average" and spatial == 1 and e.mask() is not None:  # on Keras's own tensor, either format
            steps_axis = 2 if layout == KERAS else 1  # spatial_layout: KERAS for a channels_first layer
            where = e.keras_major >= 3 and e.keras_version >= MASKED_MEAN_WHERE_FROM
            x_keras = e.arg(0, KERAS)
            if torch_changes_input(e, MASKED_MEAN_WHERE_FROM):  # `inputs *= mask`: the masked steps zeroed
                dtype = f"torch.{x.dtype or 'float32'}"
                e.changed_input = replace(x, expr=f"({x_keras} * {e.mask()}.to({dtype}).unsqueeze({3 - steps_axis}))",
                                          layout=KERAS)
            return Value(f"{e.helper('masked_mean')}({x_keras}, {e.mask()}, {steps_axis}, {literal(keepdims)}, "
                         f"{literal(where)})", KERAS, 3 if keepdims else 2)
        dims = tuple(range(2, 2 + spatial))
        keep = ", keepdim=True" if keepdims else ""
        # TensorFlow's mean of integers: truncated (of what may be integers, so where it is when the module runs)
        if kind == "average" and x.may_be_integers and e.keras_major < 3:
            expr = f"{e.helper('integer_mean')}({e.arg(0, layout)}, dim={literal(dims)}{keep})"
            return Value(expr, layout, x.rank if keepdims else 2, integer=x.integer)
        reduce = "amax" if kind == "max" else "mean"  # Keras 3's mean of integers is float32
        expr = f"{e.convert(floats(x, e) if kind == 'average' else x, layout)}.{reduce}(dim={literal(dims)}{keep})"
        return Value(expr, layout, x.rank if keepdims else 2)

    return forward


def adaptive_pooling(kind: str, spatial: int) -> Callable[[Emitter], Value]:
    """The forward of an adaptive pooling: torch's own, whose windows Keras 3 takes."""

    def forward(e: Emitter) -> Value:
        layout = spatial_layout(e)
        size = e.config.ints("output_size", spatial, minimum=1)
        function = f"F.adaptive_{'max' if kind == 'max' else 'avg'}_pool{spatial}d"
        return same(e.inputs[0], f"{function}({e.arg(0, layout)}, {literal(size)})", layout=layout)

    return forward


for _spatial in (1, 2, 3):
    for _kind, _long, _short in (("max", "Max", "Max"), ("average", "Average", "Avg")):
        register(Kind(f"keras.layers.Adaptive{_long}Pooling{_spatial}D", forward=adaptive_pooling(_kind, _spatial),
                      description="no weights; PyTorch's windows", tested="sizes that do not divide the input"))
        _names = sorted({_short, _long})  # MaxPool2D, AvgPool2D and AveragePool2D are aliases
        register(Kind(f"keras.layers.{_long}Pooling{_spatial}D", forward=local_pooling(_kind, _spatial),
                      aliases=layer_names(*(f"{name}Pool{_spatial}D" for name in _names)), description="no weights",
                      tested="pool_size, strides, padding valid/same"))
        register(Kind(f"keras.layers.Global{_long}Pooling{_spatial}D", forward=global_pooling(_kind, _spatial),
                      aliases=layer_names(*(f"Global{name}Pool{_spatial}D" for name in _names)),
                      description="no weights", tested="keepdims, masks (1D average)"))
