"""Image preprocessing layers inside models (no weights): Resizing and CenterCrop, as Keras computes
them at inference.

Resizing is TensorFlow's resize (half-pixel centres, no antialiasing): F.interpolate with
align_corners=False (bilinear) or 'nearest-exact'. CenterCrop keeps the centre window, starting
at (H - height) // 2; an input smaller than the window (Keras then resizes) fails at run time
with a message instead of returning a smaller crop.
"""
from __future__ import annotations

from .forward import CHANNELS_FIRST, Emitter, Value
from .ops_nn import resized
from .registry import Kind, register


def resizing(e: Emitter) -> Value:
    size = (e.config.int("height", minimum=1), e.config.int("width", minimum=1))
    return resized(e, e.inputs[0], size)


def center_crop(e: Emitter) -> Value:
    x = e.inputs[0]
    if x.rank != 4 or e.config.get("data_format") not in (None, "channels_last"):
        raise e.unsupported("CenterCrop of something other than a batch of channels-last images is not built yet")
    height, width = e.config.int("height", minimum=1), e.config.int("width", minimum=1)
    return Value(f"{e.helper('center_crop')}({e.convert(x, CHANNELS_FIRST)}, {height}, {width})", CHANNELS_FIRST, 4)


register(Kind("keras.layers.Resizing", forward=resizing, description="no weights; TensorFlow's resize",
              tested="bilinear and nearest, up and down"))
register(Kind("keras.layers.CenterCrop", forward=center_crop, description="no weights; the centre window",
              tested="even and odd margins"))
