"""Max and average pooling, local and global, in 1D/2D/3D."""
from __future__ import annotations

from ..codegen import Emitter, Value, op
from .common import CHANNELS_FIRST, KERAS, literal, same

LOCAL = {f"{kind}{name}{d}D": (kind.lower()[:3], d) for kind in ("Max", "Average")
         for name in ("Pooling", "Pool") for d in (1, 2, 3)}
LOCAL.update({f"AvgPool{d}D": ("ave", d) for d in (1, 2, 3)})
GLOBAL = {f"Global{kind}{name}{d}D": (kind.lower()[:3], d) for kind in ("Max", "Average")
          for name in ("Pooling", "Pool") for d in (1, 2, 3)}
GLOBAL.update({f"GlobalAvgPool{d}D": ("ave", d) for d in (1, 2, 3)})


@op(*LOCAL)
def pooling(e: Emitter) -> Value:
    kind, spatial = LOCAL[e.layer.class_name]
    if e.config.choice("data_format", ("channels_last", "channels_first"), "channels_last") == "channels_first":
        raise e.unsupported("data_format='channels_first' models are not built yet")
    size = e.config.ints("pool_size", spatial, 2, minimum=1)
    stride = e.config.ints("strides", spatial, minimum=1) if e.config.get("strides") is not None else size
    padding = e.config.choice("padding", ("valid", "same"), "valid")
    x = e.inputs[0]
    expr = (f"{e.helper('pool')}({e.arg(0, CHANNELS_FIRST)}, {literal('max' if kind == 'max' else 'average')}, "
            f"{literal(size)}, {literal(stride)}, {literal(padding)})")
    return same(x, expr, layout=CHANNELS_FIRST)


@op(*GLOBAL)
def global_pooling(e: Emitter) -> Value:
    kind, spatial = GLOBAL[e.layer.class_name]
    x = e.inputs[0]
    if e.config.choice("data_format", ("channels_last", "channels_first"), "channels_last") == "channels_first":
        raise e.unsupported("data_format='channels_first' models are not built yet")
    keepdims = e.config.bool("keepdims", False)
    if kind == "ave" and spatial == 1 and e.mask() is not None and not keepdims:
        return Value(f"{e.helper('masked_mean')}({e.arg(0, KERAS)}, {e.mask()})", KERAS, 2)
    dims = tuple(range(2, 2 + spatial))
    reduce = "amax" if kind == "max" else "mean"
    expr = f"{e.arg(0, CHANNELS_FIRST)}.{reduce}(dim={literal(dims)}{', keepdim=True' if keepdims else ''})"
    return Value(expr, CHANNELS_FIRST, x.rank if keepdims else 2)
