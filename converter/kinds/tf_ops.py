"""tf.keras op layers: `TFOpLambda` (tf.nn.relu(x), x / 255.0, tf.concat) and `SlicingOpLambda` (x[:, 0]).

tf.keras saves a TensorFlow function called in a functional model as a layer naming the
function (`math.truediv`) with its first argument as the inbound tensor (or a constant)
and the others as keyword arguments. Each function weightport builds is a row of
FUNCTIONS: its parameters in TensorFlow's order and what it computes (operations.py, shaping.py).
Any other function is refused by name; no TensorFlow function is ever called.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from . import operations as op
from . import shaping
from .forward import KERAS, Emitter, Value, floats, literal
from .ops_nn import resized_images
from .registry import Kind, register

class Arguments(dict[str, Any]):
    """A call's arguments by TensorFlow's parameter names. One a function requires that the call lacks (a crafted
    config) is refused by name, not a KeyError."""

    def __init__(self, emitter: Emitter) -> None:
        super().__init__()
        self.emitter = emitter

    def __missing__(self, name: str) -> Any:
        function = self.emitter.config.get("function")
        raise self.emitter.unsupported(f"tf.{str(function)[:60]} is called without its argument {name!r}")


Implementation = Callable[[Emitter, Arguments], Any]
_MISSING = object()


def _binary(template: str, tensors: bool = False) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Arguments) -> Value:
        first, second = a["x"], a["y"]
        if tensors:  # torch.maximum takes tensors
            first, second = op._as_tensor(e, first), op._as_tensor(e, second)
        return op.elementwise(e, template, [first, second])
    return ("x", "y"), run


def _unary(template: str, parameter: str = "x") -> tuple[tuple[str, ...], Implementation]:
    return (parameter,), lambda e, a: op.elementwise(e, template, [a[parameter]])


def _reduce(kind: str) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Arguments) -> Value:
        operand = a["input_tensor"]
        # TensorFlow's mean of integers is an integer, truncated; its variance of them fails
        if kind == "mean" and isinstance(operand, Value) and (operand.integer or operand.from_integers):
            return replace(op.reduce(e, "integer_mean", operand, a.get("axis"), a.get("keepdims") or False),
                           integer=operand.integer)
        return op.reduce(e, kind, operand, a.get("axis"), a.get("keepdims") or False)
    return ("input_tensor", "axis", "keepdims"), run


def _gelu(e: Emitter, a: Arguments) -> Value:
    approximate = "tanh" if a.get("approximate") else "none"  # TensorFlow's default is the exact form
    return op.elementwise(e, f"F.gelu({{0}}, approximate={literal(approximate)})", [a["features"]])


def _leaky_relu(e: Emitter, a: Arguments) -> Value:
    alpha = a.get("alpha", 0.2)
    if not op.is_number(alpha):
        raise e.unsupported("leaky_relu with a non-number alpha")
    return op.elementwise(e, f"F.leaky_relu({{0}}, {literal(float(alpha))})", [floats(a["features"], e)])


def _gather(e: Emitter, a: Arguments) -> Value:
    if a.get("batch_dims") not in (None, 0):
        raise e.unsupported("gather with batch_dims is not built yet")
    return shaping.take(e, a["params"], a["indices"], 0 if a.get("axis") is None else a["axis"])


def _where(e: Emitter, a: Arguments) -> Value:
    if a.get("x") is None or a.get("y") is None:
        raise e.unsupported("tf.where of a condition alone (the indices of true values) is not built")
    return op.where(e, a["condition"], a["x"], a["y"])


def _axis(e: Emitter, axis: Any, default: int | None = None) -> int:
    """One axis, as an int (tensors and lists refused)."""
    axis = default if axis is None else axis
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise e.unsupported(f"axis {str(axis)[:30]} is not one axis")
    return axis


def _l2_normalize(e: Emitter, a: Arguments) -> Value:
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


def _cumsum(e: Emitter, a: Arguments) -> Value:
    """Sums along an axis; `reverse` from its end, `exclusive` of the element itself (0 first)."""
    x, rank = op.keras_value(e, a["x"])
    axis = _axis(e, a.get("axis"), 0)
    if a.get("reverse"):
        x = f"torch.flip({x}, ({axis},))"
    total = f"torch.cumsum({x}, dim={axis})"
    if a.get("exclusive"):  # shifted by one step, exactly (not the sum less the element)
        total = (f"torch.cat([torch.zeros_like({x}.narrow({axis}, 0, 1)), {total}.narrow({axis}, 0, "
                 f"{x}.shape[{axis}] - 1)], {axis})")
    if a.get("reverse"):
        total = f"torch.flip({total}, ({axis},))"
    return Value(total, KERAS, rank)


def _size(e: Emitter, a: Arguments) -> list[int]:
    """A resize's constant [height, width]."""
    size = a.get("size")
    if not isinstance(size, list) or len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise e.unsupported(f"resize to {str(size)[:30]} is not built (a constant [height, width] is)")
    return size


def _resize(e: Emitter, a: Arguments) -> Value:
    """tf.image.resize (TensorFlow 2: half-pixel centres) to a constant size."""
    method = a.get("method") or "bilinear"
    flags = [key for key in ("preserve_aspect_ratio", "antialias") if a.get(key)]
    return resized_images(e, a["images"], _size(e, a), str(method)[:20], flags)


def _resize_bilinear_v1(e: Emitter, a: Arguments) -> Value:
    """tf.compat.v1.image.resize_bilinear with align_corners (corner pixels aligned, as torch's) or half-pixel
    centres (TensorFlow 2's); its default, neither, maps pixels as no torch mode does and is refused."""
    size = _size(e, a)
    if not a.get("align_corners") and not a.get("half_pixel_centers"):
        raise e.unsupported("resize_bilinear without align_corners or half_pixel_centers (TensorFlow 1's pixel "
                            "mapping) is not built")
    return resized_images(e, a["images"], size, "bilinear", [], align_corners=bool(a.get("align_corners")))


def _norm(e: Emitter, a: Arguments) -> Value:
    """tf.norm: the euclidean norm over one axis."""
    if a.get("ord") not in (None, "euclidean", 2, 2.0):
        raise e.unsupported(f"norm of order {str(a.get('ord'))[:10]} is not built yet (euclidean is)")
    return op.vector_norm(e, a["tensor"], None, _axis(e, a.get("axis")), bool(a.get("keepdims") or a.get("keep_dims")))


def _space_depth(helper: str) -> tuple[tuple[str, ...], Implementation]:
    def run(e: Emitter, a: Arguments) -> Value:
        block = a.get("block_size")
        if not isinstance(block, int) or isinstance(block, bool) or block < 2:
            raise e.unsupported(f"block_size {str(block)[:20]} is not built")
        if a.get("data_format") not in (None, "NHWC"):
            raise e.unsupported(f"{helper} of {str(a.get('data_format'))[:10]} images is not built (NHWC is)")
        x, rank = op.keras_value(e, a["input"])
        if rank != 4:
            raise e.unsupported(f"{helper} of a tensor of rank {rank} (images are rank 4)")
        return Value(f"{e.helper(helper)}({x}, {block})", KERAS, 4)
    return ("input", "block_size", "data_format"), run


def _one_hot(e: Emitter, a: Arguments) -> Value:
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


def _bias_add(e: Emitter, a: Arguments) -> Value:
    if a.get("data_format") not in (None, "NHWC", "NWC", "NDHWC", "N...C"):
        raise e.unsupported(f"bias_add to {str(a.get('data_format'))[:10]} data is not built (channels-last is)")
    return op.elementwise(e, "({0} + {1})", [a["value"], a["bias"]])


def _matmul(e: Emitter, a: Arguments) -> Value:
    if a.get("output_type") is not None:
        raise e.unsupported("matmul with an output_type is not built")
    return op.matmul(e, a["a"], a["b"], a.get("transpose_a") or a.get("adjoint_a"),  # real: adjoint = transpose
                     a.get("transpose_b") or a.get("adjoint_b"))


def _top_k(e: Emitter, a: Arguments) -> list[Value]:
    """(values, indices) of the k largest along the last axis, largest first; equal values in index order, as
    TensorFlow orders them (a stable sort: torch.topk leaves ties unordered)."""
    k = 1 if a.get("k") is None else a["k"]
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or a.get("sorted") is False:
        raise e.unsupported(f"top_k of k={str(k)[:20]}, or sorted=False (an unspecified order), is not built")
    if a.get("index_type") not in (None, "int32"):
        raise e.unsupported("top_k with int64 indices is not built")
    return op.top_k(e, a["input"], k, "int32")


def _sorted(part: str) -> Implementation:
    """tf.sort (`values`) or tf.argsort (`indices`, int32): equal values in index order, as TensorFlow's argsort
    (top_k of the values, or of their negatives, orders ties so) gives them."""
    def run(e: Emitter, a: Arguments) -> Value:
        direction = a.get("direction") or "ASCENDING"
        if direction not in ("ASCENDING", "DESCENDING"):
            raise e.unsupported(f"sort direction {str(direction)[:20]} is not built")
        return op.sorted_along(e, a["values"], _axis(e, a.get("axis"), -1), part, direction == "DESCENDING")
    return run


def _slice(e: Emitter, a: Arguments) -> Value:
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


def _unstack(e: Emitter, a: Arguments) -> list[Value]:
    """The slices along `axis`: as many as `num` says, else as the model reads (tf.keras records no shape to
    count them from; torch.unbind makes them all)."""
    count = a.get("num") if a.get("num") is not None else e.outputs_read()
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise e.unsupported(f"unstack into {str(count)[:20]} slices is not built")
    return shaping.unstack(e, a["value"], _axis(e, a.get("axis"), 0), count)


def _filled_like(fill: str) -> tuple[tuple[str, ...], Implementation]:
    """tf.zeros_like, tf.ones_like: the input's shape, in the dtype given or the input's."""
    def run(e: Emitter, a: Arguments) -> Value:
        dtype = a.get("dtype")
        dtype_argument = f", dtype={op.torch_dtype(e, dtype, 'a filled tensor')}" if dtype is not None else ""
        return op.elementwise(e, f"torch.full_like({{0}}, {fill}{dtype_argument})", [a["input"]])
    return ("input", "dtype"), run


def _add_n(e: Emitter, a: Arguments) -> Value:
    """tf.math.add_n: the sum of a list of tensors of one shape."""
    inputs = a["inputs"]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(item, Value) for item in inputs):
        raise e.unsupported("add_n of other than a list of tensors")
    return op.elementwise(e, "(" + " + ".join(f"{{{index}}}" for index in range(len(inputs))) + ")", inputs)


def _pad(e: Emitter, a: Arguments) -> Value:
    mode = a.get("mode") or "CONSTANT"
    if not isinstance(mode, str):
        raise e.unsupported(f"padding mode {str(mode)[:20]} is not built")
    return shaping.pad(e, a["tensor"], a.get("paddings"), mode, a.get("constant_values"))


FUNCTIONS: dict[str, tuple[tuple[str, ...], Implementation]] = {
    **{name: _binary("({0} + {1})") for name in ("__operators__.add", "math.add")},
    "math.subtract": _binary("({0} - {1})"), "math.multiply": _binary("({0} * {1})"),
    "math.truediv": _binary("({0} / {1})"), "math.divide": _binary("({0} / {1})"),
    "math.pow": _binary("({0} ** {1})"), "math.floordiv": _binary("({0} // {1})"),
    "math.maximum": _binary("torch.maximum({0}, {1})", tensors=True),
    "math.minimum": _binary("torch.minimum({0}, {1})", tensors=True),
    "math.equal": _binary("({0} == {1})"), "math.not_equal": _binary("({0} != {1})"),
    "math.greater": _binary("({0} > {1})"), "math.greater_equal": _binary("({0} >= {1})"),
    "math.less": _binary("({0} < {1})"), "math.less_equal": _binary("({0} <= {1})"),
    "math.logical_and": _binary("torch.logical_and({0}, {1})"),
    "math.logical_or": _binary("torch.logical_or({0}, {1})"),
    "math.logical_not": _unary("torch.logical_not({0})"),
    "math.negative": _unary("(-{0})"), "math.abs": _unary("torch.abs({0})"), "math.exp": _unary("torch.exp({0})"),
    "math.log": _unary("torch.log({0})"), "math.sqrt": _unary("torch.sqrt({0})"),
    "math.square": _unary("torch.square({0})"), "math.rsqrt": _unary("torch.rsqrt({0})"),
    "math.sigmoid": _unary("torch.sigmoid({0})"), "math.tanh": _unary("torch.tanh({0})"),
    "math.erf": _unary("torch.erf({0})"), "math.sign": _unary("torch.sign({0})"),
    "math.sin": _unary("torch.sin({0})"), "math.cos": _unary("torch.cos({0})"),
    "math.log1p": _unary("torch.log1p({0})"), "math.expm1": _unary("torch.expm1({0})"),
    "math.reciprocal": _unary("torch.reciprocal({0})"), "math.floor": _unary("torch.floor({0})"),
    "zeros_like": _filled_like("0"), "ones_like": _filled_like("1"), "identity": _unary("{0}", "input"),
    "math.add_n": (("inputs",), _add_n), "math.log_sigmoid": _unary("F.logsigmoid({0})"),
    "math.is_nan": _unary("torch.isnan({0})"), "math.is_inf": _unary("torch.isinf({0})"),
    "math.is_finite": _unary("torch.isfinite({0})"),
    "math.atan2": (("y", "x"), lambda e, a: op.elementwise(e, "torch.atan2({0}, {1})", [
        op._as_tensor(e, a["y"]), op._as_tensor(e, a["x"])])),
    "math.multiply_no_nan": _binary("torch.where({1} == 0, torch.zeros_like({0} * {1}), {0} * {1})", tensors=True),
    "compat.v1.math.scalar_mul": (("scalar", "x"), lambda e, a: op.elementwise(e, "({0} * {1})", [
        a["scalar"], a["x"]])),
    "math.ceil": _unary("torch.ceil({0})"), "math.softplus": _unary("F.softplus({0})", "features"),
    "math.round": _unary("torch.round({0})"),  # both round half to even
    **{name: _binary("({0} % {1})") for name in ("math.floormod", "math.mod")},  # torch's % floors, as TF's
    "compat.v1.floor_div": _binary("({0} // {1})"),
    "math.squared_difference": _binary("torch.square({0} - {1})"),
    "math.divide_no_nan": _binary("torch.where({1} == 0, torch.zeros_like({0} / {1}), {0} / {1})", tensors=True),
    "stop_gradient": _unary("{0}", "input"),  # inference: the identity
    "math.l2_normalize": (("x", "axis", "epsilon", "dim"), _l2_normalize),
    "math.cumsum": (("x", "axis", "exclusive", "reverse"), _cumsum),
    "tile": (("input", "multiples"), lambda e, a: shaping.tile(e, a["input"], a.get("multiples"), minimum=0)),
    **{name: (("tensor", "paddings", "mode", "constant_values"), _pad) for name in ("pad", "compat.v1.pad")},
    "image.resize": (("images", "size", "method", "preserve_aspect_ratio", "antialias"), _resize),
    "compat.v1.image.resize_bilinear": (("images", "size", "align_corners", "half_pixel_centers"),
                                        _resize_bilinear_v1),
    **{name: (("tensor", "ord", "axis", "keepdims", "keep_dims"), _norm) for name in ("norm", "compat.v1.norm")},
    "nn.depth_to_space": _space_depth("depth_to_space"), "nn.space_to_depth": _space_depth("space_to_depth"),
    "one_hot": (("indices", "depth", "on_value", "off_value", "axis", "dtype"), _one_hot),
    "nn.bias_add": (("value", "bias", "data_format"), _bias_add),
    **{name: (("logits", "axis"), lambda e, a: op.softmax(e, "log_softmax", a["logits"], -1 if a.get("axis") is None
                                                           else a["axis"])) for name in ("nn.log_softmax",
                                                                                         "math.log_softmax")},
    "math.softsign": _unary("F.softsign({0})", "features"), "nn.softsign": _unary("F.softsign({0})", "features"),
    "nn.relu": _unary("F.relu({0})", "features"), "nn.relu6": _unary("F.relu6({0})", "features"),
    "nn.sigmoid": _unary("torch.sigmoid({0})"), "nn.silu": _unary("F.silu({0})", "features"),
    "nn.swish": _unary("F.silu({0})", "features"), "nn.elu": _unary("F.elu({0})", "features"),
    "nn.selu": _unary("F.selu({0})", "features"), "nn.softplus": _unary("F.softplus({0})", "features"),
    "nn.gelu": (("features", "approximate"), _gelu), "nn.leaky_relu": (("features", "alpha"), _leaky_relu),
    **{name: (("logits", "axis"), lambda e, a: op.softmax(e, "softmax", a["logits"], -1 if a.get("axis") is None
                                                           else a["axis"])) for name in ("nn.softmax", "math.softmax")},
    "math.reduce_mean": _reduce("mean"), "math.reduce_sum": _reduce("sum"), "math.reduce_max": _reduce("max"),
    "math.reduce_min": _reduce("min"), "math.reduce_prod": _reduce("prod"), "math.reduce_any": _reduce("any"),
    "math.reduce_all": _reduce("all"), "math.reduce_logsumexp": _reduce("logsumexp"),
    "math.reduce_std": _reduce("std"), "math.reduce_variance": _reduce("var"),  # population, as op.reduce
    "math.argmax": (("input", "axis"), lambda e, a: op.arg_reduce(e, "argmax", a["input"], a.get("axis") or 0)),
    "math.argmin": (("input", "axis"), lambda e, a: op.arg_reduce(e, "argmin", a["input"], a.get("axis") or 0)),
    "concat": (("values", "axis"), lambda e, a: shaping.join(e, "cat", a["values"], a["axis"])),
    "stack": (("values", "axis"), lambda e, a: shaping.join(e, "stack", a["values"], a.get("axis") or 0)),
    "reshape": (("tensor", "shape"), lambda e, a: shaping.reshape(e, a["tensor"], a["shape"])),
    **{name: (("a", "perm", "conjugate"), lambda e, a: shaping.transpose(e, a["a"], a.get("perm")))
       for name in ("transpose", "compat.v1.transpose")},
    "reverse": (("tensor", "axis"), lambda e, a: shaping.flip(e, a["tensor"], a["axis"])),
    "expand_dims": (("input", "axis"), lambda e, a: shaping.expand_dims(e, a["input"], a["axis"])),
    **{name: (("input", "axis"), lambda e, a: shaping.squeeze(e, a["input"], a.get("axis")))
       for name in ("squeeze", "compat.v1.squeeze")},
    "clip_by_value": (("t", "clip_value_min", "clip_value_max"),
                      lambda e, a: op.clip(e, a["t"], a["clip_value_min"], a["clip_value_max"])),
    "cast": (("x", "dtype"), lambda e, a: op.cast(e, a["x"], a["dtype"])),
    "where": (("condition", "x", "y"), _where),
    "split": (("value", "num_or_size_splits", "axis"),
              lambda e, a: shaping.split(e, a["value"], a["num_or_size_splits"], a.get("axis") or 0)),
    **{name: (("params", "indices", "validate_indices", "axis", "batch_dims"), _gather)
       for name in ("gather", "compat.v1.gather")},
    "math.top_k": (("input", "k", "sorted", "index_type"), _top_k),
    "sort": (("values", "axis", "direction"), _sorted("values")),
    "argsort": (("values", "axis", "direction", "stable"), _sorted("indices")),
    "slice": (("input_", "begin", "size"), _slice),
    "unstack": (("value", "num", "axis"), _unstack),
    "linalg.matmul": (("a", "b", "transpose_a", "transpose_b", "adjoint_a", "adjoint_b", "a_is_sparse",
                       "b_is_sparse", "output_type"), _matmul),
}


def _arguments(e: Emitter, parameters: tuple[str, ...]) -> Arguments:
    """The call's first argument and keyword arguments by TensorFlow's parameter names."""
    if not e.call.positional:
        raise e.unsupported("called with no argument")
    arguments = Arguments(e)
    arguments[parameters[0]] = e.positional(0)
    for name in e.call.kwargs:
        if name == "name":
            continue
        if name not in parameters:
            raise e.unsupported(f"argument {name[:30]!r} of {e.config.get('function')} is not built")
        arguments[name] = e.named(name)
    return arguments


def tf_op(e: Emitter) -> Any:
    function = e.config.text("function")
    if function not in FUNCTIONS:
        raise e.unsupported(f"TensorFlow function tf.{function[:60]} has no PyTorch equivalent here")
    parameters, implementation = FUNCTIONS[function]
    return implementation(e, _arguments(e, parameters))


def slicing(e: Emitter) -> Value:
    if e.config.text("function") != "__operators__.getitem":
        raise e.unsupported(f"slicing function {str(e.config.get('function'))[:40]} is not built")
    return shaping.getitem(e, e.positional(0), e.named("slice_spec", _MISSING))


register(Kind("keras.layers.TFOpLambda", forward=tf_op, description="no weights; a TensorFlow function",
              tested="tf.math arithmetic with constants on either side, tf.nn activations, reductions, "
                     "concat, reshape, transpose, expand_dims, split, where, cast, matmul; l2_normalize, cumsum, "
                     "reduce_std/variance, pad (constant, REFLECT, SYMMETRIC), tile, image.resize, "
                     "depth_to_space, space_to_depth, one_hot (along any axis), round, floormod, divide_no_nan, "
                     "log_softmax, bias_add, norm, top_k, sort, argsort (ties in index order), slice, unstack (with or "
                     "without num), zeros_like, ones_like, identity, add_n, log_sigmoid, is_nan, is_finite, atan2, "
                     "multiply_no_nan, scalar_mul; a mean of integers (truncated)"))
register(Kind("keras.layers.SlicingOpLambda", forward=slicing, description="no weights; x[...] in tf.keras",
              tested="ints, slices with steps (negative ones too), new axes, `...`"))
