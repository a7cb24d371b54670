"""The TensorFlow functions of tf.keras op layers (tf_ops.py's FUNCTIONS) that take more than a template: each
reads the call's arguments by TensorFlow's parameter names (a mapping that refuses by name one a function requires
and the call lacks) and builds what the function computes, or refuses by name what it does not build."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from . import operations as op
from . import shaping
from .forward import KERAS, Emitter, Value, literal
from .ops_nn import resized_images, tf1_resized_images

Implementation = Callable[[Emitter, Mapping[str, Any]], Any]


def one_axis(e: Emitter, axis: Any, default: int | None = None) -> int:
    """One axis, as an int (tensors and lists refused)."""
    axis = default if axis is None else axis
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise e.unsupported(f"axis {str(axis)[:30]} is not one axis")
    return axis


def arg_reduce(kind: str) -> Implementation:
    """tf.math.argmax, argmin: the index along one axis (0 by default), int64 or the `output_type` given."""
    def run(e: Emitter, a: Mapping[str, Any]) -> Value:
        output_type = a.get("output_type") or "int64"
        if output_type not in ("int32", "int64"):
            raise e.unsupported(f"{kind} of output_type {str(output_type)[:20]} is not built (int32, int64 are)")
        return op.arg_reduce(e, kind, a["input"], a.get("axis") or 0, dtype=output_type)
    return run


def l2_normalize(e: Emitter, a: Mapping[str, Any]) -> Value:
    """x / sqrt(max(sum(x^2 over axis), epsilon)), as TensorFlow computes it."""
    axes = op.axes_of(e, a.get("axis") if a.get("axis") is not None else a.get("dim"))
    if axes is None:
        raise e.unsupported("l2_normalize over every axis (the batch too) is not built")
    epsilon = 1e-12 if a.get("epsilon") is None else a["epsilon"]
    if not op.is_number(epsilon):
        raise e.unsupported("l2_normalize with a non-number epsilon")
    dims = literal(axes[0] if len(axes) == 1 else axes)
    x, rank = op.keras_value(e, a["x"])  # the axes are Keras's
    return Value(f"({x} * torch.rsqrt(torch.clamp(torch.sum(torch.square({x}), dim={dims}, keepdim=True), "
                 f"min={literal(float(epsilon))})))", KERAS, rank)


def cumsum(e: Emitter, a: Mapping[str, Any]) -> Value:
    """Sums along an axis; `reverse` from its end, `exclusive` of the element itself (0 first)."""
    return _running(e, a, "sum")


def cumprod(e: Emitter, a: Mapping[str, Any]) -> Value:
    """Products along an axis, as cumsum's sums; of floats."""
    if op.may_be_integers(a["x"]):
        raise e.unsupported("cumprod of integers is not built yet")
    return _running(e, a, "prod")


def _running(e: Emitter, a: Mapping[str, Any], kind: str) -> Value:
    """Running sums or products along an axis; `reverse` from its end, `exclusive` of the element itself (0, or 1,
    first)."""
    x, rank = op.keras_value(e, a["x"])
    axis = one_axis(e, a.get("axis"), 0)
    op.axes_within(e, (axis,), rank)
    if a.get("reverse"):
        x = f"torch.flip({x}, ({axis},))"
    total = op.running_sum(e, a["x"], x, axis) if kind == "sum" else f"torch.cumprod({x}, dim={axis})"
    if a.get("exclusive"):  # shifted by one step, exactly (not the total less the element)
        first = "zeros_like" if kind == "sum" else "ones_like"
        total = (f"torch.cat([torch.{first}({x}.narrow({axis}, 0, 1)), {total}.narrow({axis}, 0, "
                 f"{x}.shape[{axis}] - 1)], {axis})")
    if a.get("reverse"):
        total = f"torch.flip({total}, ({axis},))"
    return Value(total, KERAS, rank)


def count_nonzero(e: Emitter, a: Mapping[str, Any]) -> Value:
    """The non-zero entries over `axis` (None: all), kept or not, in `dtype` (TensorFlow's default: int64)."""
    dtype = op.torch_dtype(e, a.get("dtype") or "int64", "count_nonzero")
    return op.count_nonzero(e, a["input"], a.get("axis"), bool(a.get("keepdims")), dtype)


def roll(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.roll: each axis rolled by its shift (TensorFlow requires the axis: never of the flattened tensor)."""
    if a.get("axis") is None:
        raise e.unsupported("tf.roll without an axis is not built")
    return op.roll(e, a["input"], a.get("shift"), a.get("axis"))


def resize_size(e: Emitter, a: Mapping[str, Any]) -> list[int]:
    """A resize's constant [height, width]."""
    size = a.get("size")
    if not isinstance(size, list) or len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise e.unsupported(f"resize to {str(size)[:30]} is not built (a constant [height, width] is)")
    return size


def convert_image_dtype(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.image.convert_image_dtype to a floating dtype: integers cast and scaled by 1 / their dtype's maximum
    (uint8 pixels to [0, 1]), floats cast. To an integer dtype (TensorFlow scales and truncates by rules of its
    own) it is refused."""
    image, dtype = a["image"], a.get("dtype")
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise e.unsupported(f"convert_image_dtype to {str(dtype)[:20]!r} is not built (to a floating dtype is)")
    if not isinstance(image, Value):
        raise e.unsupported("convert_image_dtype of a constant: Keras would have folded it")
    if not image.may_be_integers:
        return op.cast(e, image, dtype)
    converted = f"{e.helper('image_as_floats')}({op.keras_value(e, image)[0]}, torch.{dtype})"
    return Value(converted, KERAS, image.rank, dtype=dtype)


def resize(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.image.resize (TensorFlow 2: half-pixel centres) to a constant size."""
    method = str(a.get("method") or "bilinear")[:20]
    flags = [key for key in ("preserve_aspect_ratio", "antialias") if a.get(key)]
    return resized_images(e, a["images"], resize_size(e, a), method, flags)


def resize_bilinear_v1(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.compat.v1.image.resize_bilinear with align_corners (corner pixels aligned, as torch's), half-pixel
    centres (TensorFlow 2's) or neither, its default (TensorFlow 1's mapping, which no torch mode computes:
    ops_nn.tf1_resized_images)."""
    size = resize_size(e, a)
    if not a.get("align_corners") and not a.get("half_pixel_centers"):
        return tf1_resized_images(e, a["images"], size)
    return resized_images(e, a["images"], size, "bilinear", [], align_corners=bool(a.get("align_corners")))


def norm(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.norm: the euclidean norm over one axis."""
    if a.get("ord") not in (None, "euclidean", 2, 2.0):
        raise e.unsupported(f"norm of order {str(a.get('ord'))[:10]} is not built yet (euclidean is)")
    keep = bool(a.get("keepdims") or a.get("keep_dims"))
    return op.vector_norm(e, a["tensor"], None, one_axis(e, a.get("axis")), keep)


def space_depth(helper: str) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Mapping[str, Any]) -> Value:
        return op.space_depth(e, helper, a["input"], a.get("block_size"), a.get("data_format") in (None, "NHWC"))
    return ("input", "block_size", "data_format"), run


def one_hot(e: Emitter, a: Mapping[str, Any]) -> Value:
    """float32 one-hot vectors along a new axis (the last by default); an id outside [0, depth) gives off_value."""
    depth = a.get("depth")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise e.unsupported(f"one_hot of depth {str(depth)[:20]} is not built")
    if a.get("dtype") not in (None, "float32"):
        raise e.unsupported("one_hot of a dtype other than float32 is not built")
    on, off = (1.0 if a.get("on_value") is None else a["on_value"]), (0.0 if a.get("off_value") is None
                                                                       else a["off_value"])
    if not op.is_number(on) or not op.is_number(off):
        raise e.unsupported("one_hot with tensor on_value or off_value")
    hot = op.one_hot(e, a["indices"], depth, "float32", -1 if a.get("axis") is None else a["axis"])
    if (on, off) == (1.0, 0.0):
        return hot
    return Value(f"({hot.expr} * {literal(float(on) - float(off))} + {literal(float(off))})", KERAS, hot.rank)


def bias_add(e: Emitter, a: Mapping[str, Any]) -> Value:
    if a.get("data_format") not in (None, "NHWC", "NWC", "NDHWC", "N...C"):
        raise e.unsupported(f"bias_add to {str(a.get('data_format'))[:10]} data is not built (channels-last is)")
    return op.elementwise(e, "({0} + {1})", [a["value"], a["bias"]])


def matmul(e: Emitter, a: Mapping[str, Any]) -> Value:
    if a.get("output_type") is not None:
        raise e.unsupported("matmul with an output_type is not built")
    return op.matmul(e, a["a"], a["b"], a.get("transpose_a") or a.get("adjoint_a"),  # real: adjoint = transpose
                     a.get("transpose_b") or a.get("adjoint_b"))


def top_k(e: Emitter, a: Mapping[str, Any]) -> list[Value]:
    """(values, indices) of the k largest along the last axis, largest first; equal values in index order, as
    TensorFlow orders them (a stable sort: torch.topk leaves ties unordered)."""
    k = 1 if a.get("k") is None else a["k"]
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or a.get("sorted") is False:
        raise e.unsupported(f"top_k of k={str(k)[:20]}, or sorted=False (an unspecified order), is not built")
    if a.get("index_type") not in (None, "int32"):
        raise e.unsupported("top_k with int64 indices is not built")
    return op.top_k(e, a["input"], k, "int32")


def sorted_part(part: str) -> Implementation:
    """tf.sort (`values`) or tf.argsort (`indices`, int32): equal values in index order, as TensorFlow's argsort
    (top_k of the values, or of their negatives, orders ties so) gives them."""
    def run(e: Emitter, a: Mapping[str, Any]) -> Value:
        direction = a.get("direction") or "ASCENDING"
        if direction not in ("ASCENDING", "DESCENDING"):
            raise e.unsupported(f"sort direction {str(direction)[:20]} is not built")
        return op.sorted_along(e, a["values"], one_axis(e, a.get("axis"), -1), part, direction == "DESCENDING")
    return run


def slice_of(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.slice: `size` entries from `begin` along each axis (-1: to its end), both constant lists."""
    begin, size = a.get("begin"), a.get("size")
    begin, size = (begin if isinstance(begin, list) else []), (size if isinstance(size, list) else [])
    x, rank = op.keras_value(e, a["input_"])
    numbers = bool(begin) and len(begin) == len(size) and all(
        isinstance(n, int) and not isinstance(n, bool) for n in begin + size)
    if not numbers or (rank is not None and len(begin) != rank) or any(
            b < 0 or s < -1 for b, s in zip(begin, size)):
        raise e.unsupported(f"slice from {str(begin)[:30]} of size {str(size)[:30]} is not built (constant lists "
                            "of the input's rank are)")
    parts = [f"{b}:" if s == -1 else f"{b}:{b + s}" for b, s in zip(begin, size)]
    return Value(f"{x}[{', '.join(parts)}]", KERAS, rank)


def unstack(e: Emitter, a: Mapping[str, Any]) -> list[Value]:
    """The slices along `axis`: as many as `num` says, else as the model reads (tf.keras records no shape to
    count them from; torch.unbind makes them all)."""
    count = a.get("num") if a.get("num") is not None else e.outputs_read()
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise e.unsupported(f"unstack into {str(count)[:20]} slices is not built")
    return shaping.unstack(e, a["value"], one_axis(e, a.get("axis"), 0), count)


def filled_like(fill: str) -> tuple[tuple[str, ...], Implementation]:
    """tf.zeros_like, tf.ones_like: the input's shape, in the dtype given or the input's."""
    def run(e: Emitter, a: Mapping[str, Any]) -> Value:
        dtype = a.get("dtype")
        dtype_argument = f", dtype={op.torch_dtype(e, dtype, 'a filled tensor')}" if dtype is not None else ""
        return op.elementwise(e, f"torch.full_like({{0}}, {fill}{dtype_argument})", [a["input"]])
    return ("input", "dtype"), run


def add_n(e: Emitter, a: Mapping[str, Any]) -> Value:
    """tf.math.add_n: the sum of a list of tensors of one shape."""
    inputs = a["inputs"]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(item, Value) for item in inputs):
        raise e.unsupported("add_n of other than a list of tensors")
    return op.elementwise(e, "(" + " + ".join(f"{{{index}}}" for index in range(len(inputs))) + ")", inputs)


def pad(e: Emitter, a: Mapping[str, Any]) -> Value:
    mode = a.get("mode") or "CONSTANT"
    if not isinstance(mode, str):
        raise e.unsupported(f"padding mode {str(mode)[:20]} is not built")
    return shaping.pad(e, a["tensor"], a.get("paddings"), mode, a.get("constant_values"))
