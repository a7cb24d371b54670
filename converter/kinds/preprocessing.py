"""Image preprocessing layers inside models (no weights): Resizing and CenterCrop, as Keras computes
them at inference.

Resizing is TensorFlow's resize (half-pixel centres, no antialiasing): F.interpolate with
align_corners=False (bilinear) or 'nearest-exact', after the largest centred window of the target's
aspect ratio (crop_to_aspect_ratio) or padding to it (pad_to_aspect_ratio). CenterCrop keeps the
centre window, starting at (H - height) // 2; an input smaller than the window on either axis is
resized to it as Keras resizes it (smart_resize: the largest centred window of its aspect ratio,
resized bilinearly). tf.keras's RandomCrop at inference is that smart_resize too.
"""
from __future__ import annotations

from dataclasses import replace

from ..config import compute_dtype
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, constant_tensor, floats_where_integers, literal
from .ops_nn import resized, resized_images
from .registry import Kind, register


def resizing(e: Emitter) -> Value:
    size = (e.config.int("height", minimum=1), e.config.int("width", minimum=1))
    if e.keras_major >= 3:  # Keras 3's keeps the images' dtype (resize_dtypes.py)
        return resized(e, e.inputs[0], size)
    # tf.keras's takes its input as its compute dtype for nearest neighbours, as float32 otherwise (TensorFlow's
    # resize), and gives its compute dtype
    nearest = e.config.get("interpolation") == "nearest"
    return _in_compute_dtype(e, resized(e, _as_dtype(e, e.inputs[0], None if nearest else "float32"), size))


def _as_dtype(e: Emitter, images: Value, dtype: str | None = None) -> Value:
    """Integer images as floats of `dtype` (None: the layer's compute dtype), as tf.keras's Resizing and RandomCrop
    cast their input."""
    return floats_where_integers(images, dtype or compute_dtype(e.config), e.helper)


def _in_compute_dtype(e: Emitter, resized_images: Value) -> Value:
    """A tf.keras preprocessing layer's float32 resize cast to its compute dtype (float16 in mixed_float16), as
    it casts its output."""
    dtype = compute_dtype(e.config)
    if resized_images.dtype != "float32" or dtype == "float32":
        return resized_images
    return replace(resized_images, expr=f"{resized_images.expr}.to(torch.{dtype})", dtype=dtype)


def center_crop(e: Emitter) -> Value:
    x = e.inputs[0]  # as its compute dtype: every Keras's casts it (integers.py)
    if x.rank != 4:
        raise e.unsupported("CenterCrop of something other than a batch of images is not built yet")
    # center_crop() takes (N, C, H, W): Keras's own tensor for channels_first (Keras 3), else the permuted one
    layout = KERAS if e.config.choice("data_format", ("channels_last", "channels_first"),
                                      "channels_last") == "channels_first" else CHANNELS_FIRST
    height, width = e.config.int("height", minimum=1), e.config.int("width", minimum=1)
    at_least_one = e.keras_major >= 3  # smart_resize's window: Keras 3 keeps a pixel at least, tf.keras's may be empty
    return Value(f"{e.helper('center_crop')}({e.convert(x, layout)}, {height}, {width}, {literal(at_least_one)})",
                 layout, 4)


def random_crop(e: Emitter) -> Value:
    if e.keras_major >= 3:  # keras-team/keras#21868
        raise e.unsupported("Keras 3's RandomCrop at inference returns its input unchanged from one release on, "
                            "and resized it to its size before; which one this file's Keras did is not known here, "
                            "so it is not built (a CenterCrop or Resizing says what you mean)")
    if e.config.get("data_format") not in (None, "channels_last"):
        raise e.unsupported("RandomCrop of channels-first images is not built yet")
    size = (e.config.int("height", minimum=1), e.config.int("width", minimum=1))
    return _in_compute_dtype(e, resized_images(e, _as_dtype(e, e.inputs[0], "float32"), size, "bilinear", [],
                                               window="crop"))


register(Kind("keras.layers.Resizing", forward=resizing, description="no weights; TensorFlow's resize",
              tested="bilinear and nearest, up and down, cropped or padded to the aspect ratio, Keras 3's "
                     "channels_first, images of integers"))
register(Kind("keras.layers.RandomCrop", forward=random_crop, description="no weights; tf.keras: the centred "
              "window of its aspect ratio, resized (TensorFlow's smart_resize)",
              tested="wider, taller and smaller images, of integers (tf.keras)"))
register(Kind("keras.layers.CenterCrop", forward=center_crop, description="no weights; the centre window, or "
              "images smaller than it resized (smart_resize)",
              tested="even and odd margins, smaller images, Keras 3's channels_first, images of integers"))


#: from which Keras 3 a one_hot CategoryEncoding drops a trailing axis of 1 first (numerical_utils from 3.4; 3.0 to
#: 3.3 one-hot encode (batch, 1) as (batch, 1, depth); tf.keras drops it)
ONE_HOT_SQUEEZES_FROM = (3, 4)


def category_encoding(e: Emitter) -> Value:
    """Token ids (batch, tokens) -> one_hot, multi_hot or count vectors of num_tokens, as Keras encodes them."""
    x = e.inputs[0]
    depth = e.config.int("num_tokens", minimum=1)
    mode = e.config.choice("output_mode", ("multi_hot", "one_hot", "count"), "multi_hot")
    if x.rank != 2 or e.config.bool("sparse", False):
        raise e.unsupported(f"CategoryEncoding of a rank-{x.rank} input (or sparse) is not built; (batch, tokens) is")
    # one_hot of (batch, 1) -> (batch, depth), (batch, tokens) -> (batch, tokens, depth); an id out of range encodes
    # as zeros, as TensorFlow's one_hot gives (torch's F.one_hot stopped there)
    squeeze = not (3, 0) <= e.keras_version < ONE_HOT_SQUEEZES_FROM
    return encoded_indices(e, e.arg(0, KERAS), x.rank, depth, mode, "float32", squeeze)


#: from which Keras 3 a Discretization's bins are int32 (its output_dtype; int64 before, its default dtype policy,
#: as tf.keras's): probed on every minor version from 3.3 to 3.15
DISCRETIZATION_INT32_FROM = (3, 12)


def discretization(e: Emitter) -> Value:
    """The bin of each value: i such that boundaries[i-1] <= x < boundaries[i] (numpy's digitize), as integers
    (int64, int32 from Keras 3.12) whatever the input's dtype."""
    boundaries = e.config.get("bin_boundaries")
    if not isinstance(boundaries, list) or not all(isinstance(b, (int, float)) for b in boundaries):
        raise e.unsupported("Discretization without bin_boundaries in its config (adapted, not saved) is not built")
    mode = e.config.choice("output_mode", ("int", "one_hot", "multi_hot", "count"), "int")
    if e.config.bool("sparse", False):
        raise e.unsupported("a sparse Discretization is not built")
    x = e.inputs[0]
    edges = constant_tensor(e, [float(b) for b in boundaries])
    int32 = e.keras_major >= 3 and e.keras_version >= DISCRETIZATION_INT32_FROM
    expr = f"torch.bucketize({e.arg(0, KERAS)}, {edges}, right=True{', out_int32=True' if int32 else ''})"
    if mode == "int":
        return Value(expr, KERAS, x.rank, integer=True)
    # encoded as CategoryEncoding encodes, in the layer's dtype (float32; Keras cannot count in float16)
    squeeze = e.keras_major < 3 or e.keras_version >= ONE_HOT_SQUEEZES_FROM
    return encoded_indices(e, expr, x.rank, len(boundaries) + 1, mode, compute_dtype(e.config), squeeze)


def encoded_indices(e: Emitter, indices: str, rank: int | None, depth: int, mode: str, dtype: str,
                    squeeze: bool) -> Value:
    """Category indices (an expression of `rank`) encoded as Keras's output_mode one_hot, multi_hot or count
    (runtime `encoded`); multi_hot and count of (batch, tokens) only."""
    if mode not in ("one_hot", "multi_hot", "count"):
        raise e.unsupported(f"output_mode {str(mode)[:20]!r} is not built (int, one_hot, multi_hot and count are)")
    if mode != "one_hot" and rank != 2:
        raise e.unsupported(f"{mode} of a rank-{rank} input is not built; of (batch, tokens) is")
    torch_dtype = {"float32": "torch.float32", "float64": "torch.float64", "int64": "torch.int64",
                   "int32": "torch.int32"}.get(dtype)
    if torch_dtype is None:
        raise e.unsupported(f"{mode} output in {str(dtype)[:20]} is not built")
    return Value(f"{e.helper('encoded')}({indices}, {depth}, {literal(mode)}, {torch_dtype}, {literal(squeeze)})",
                 KERAS, None if mode == "one_hot" else 2)


register(Kind("keras.layers.CategoryEncoding", forward=category_encoding, description="no weights; num_tokens kept",
              tested="multi_hot, count, one_hot of (batch, 1) (Keras 3.3's too)"))
register(Kind("keras.layers.Discretization", forward=discretization,
              description="no weights; bin_boundaries written into the module",
              tested="given bin_boundaries; output_mode one_hot (Keras 3.3's keeping an axis of 1), multi_hot, count"))
