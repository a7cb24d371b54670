"""The dtype each Keras resizes images in, and gives them back in, whatever theirs (integers, float16, float64):
one place for every resize (UpSampling2D, Resizing, keras.ops.image.resize, tf.image.resize, resize_bilinear).

- Nearest neighbours copy pixels, and every Keras keeps the dtype. torch interpolates no int32 or int64 tensor,
  so integers are copied through float64 (exact below 2**53) and cast back.
- tf.keras resizes otherwise as TensorFlow's tf.image.resize does: in float32, to float32, whatever the dtype.
- Keras 3 from 3.6 resizes integer images in float32, rounds half to even and casts back to their dtype
  (ops.image.resize and Resizing: probed on its TensorFlow and torch backends). Before 3.6 each backend kept its
  own rule (TensorFlow's gave float32, torch's rounded through torchvision), and a file does not say which ran,
  so integer images are refused there. torch's own bilinear of uint8 rounds otherwise than both, so it is never
  given integers.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from .forward import Emitter, Value, floats_where_integers

#: the first Keras 3 that rounds a resize of integer images back to their dtype on every backend
KERAS3_ROUNDS_FROM = (3, 6)


def resized_in_keras_dtype(e: Emitter, images: Any, interpolation: str, resize: Callable[[Any], Value]) -> Value:
    """`resize(images)` (the F.interpolate of a resize) in the dtype the file's Keras computes it in and gives."""
    if not isinstance(images, Value):
        return resize(images)
    if interpolation == "nearest":
        if not images.may_be_integers:
            return resize(images)
        bound = _bound(e, images)
        copied = resize(floats_where_integers(bound, "float64", e.helper))
        return _flagged(replace(copied, expr=f"{copied.expr}.to({bound.expr}.dtype)"), images)
    if e.keras_major < 3:
        if images.may_be_integers or images.dtype not in (None, "float32"):
            images = replace(images, expr=f"{images.expr}.float()", dtype=None, integer=False,
                             from_integers=False)
        # stated: the builder would otherwise take the call's dtype (float16 in a mixed_float16 model)
        return replace(resize(images), dtype="float32")
    if not images.may_be_integers:
        return resize(images)
    if e.keras_version < KERAS3_ROUNDS_FROM:
        may_be = "" if images.integer else "that may be "
        raise e.unsupported(f"a {interpolation} resize of {may_be}integer images in Keras "
                            f"{e.keras_version[0]}.{e.keras_version[1]}: before 3.6 each backend gave its own dtype "
                            "and rounding (TensorFlow float32, torch rounded integers), and the file does not say "
                            "which ran; cast the images to float32 in Keras")
    bound = _bound(e, images)
    resized = resize(floats_where_integers(bound, "float32", e.helper))
    rounded = (f"{resized.expr}.round().to({bound.expr}.dtype)" if images.integer
               else f"{e.helper('rounded_as')}({resized.expr}, {bound.expr})")
    return _flagged(replace(resized, expr=rounded), images)


def _bound(e: Emitter, images: Value) -> Value:
    """`images` as a local of the call, read twice: resized, and for its dtype."""
    if images.expr.isidentifier():
        return images
    local = e.variable("images")
    e.statement(f"{local} = {images.expr}")
    return replace(images, expr=local)


def _flagged(resized: Value, images: Value) -> Value:
    """A resize in the images' dtype: integers as they were (or may be)."""
    return replace(resized, integer=images.integer, from_integers=images.from_integers)
