"""The Keras 3 operations and tf.keras op layers (TFOpLambda, SlicingOpLambda) of tests/kind_cases.py: one row per
kind, run by tests/test_kinds.py like every other row."""
from __future__ import annotations

from typing import Any

import numpy as np

from case_builders import Case, operation, tf_operation, positive


IMAGE = (4, 5, 3)
SEQUENCE = (5, 4)


def heads(k, x, query_heads: int, key_heads: int, size: int) -> list:
    """Query, key and value (batch, steps, heads, size) of a sequence, each from a Dense layer."""
    steps = x.shape[1]
    return [k.layers.Reshape((steps, count, size))(k.layers.Dense(count * size)(x))
            for count in (query_heads, key_heads, key_heads)]


def rearranged(name: str, shape: tuple[int, ...], combine: Any) -> Case:
    """keras.ops.rearrange of an input of batch 3: Keras computes its output shape only for known sizes."""
    def build(keras: Any) -> Any:
        x = keras.Input(shape, batch_size=3)
        return keras.Model(x, combine(keras, x))

    return Case("keras.ops.einops.Rearrange", name, build, (shape,), keras2=False)


OPERATION_CASES: list[Case] = [
    # keras.ops.numpy: arithmetic with constants on either side and of another rank, on images and sequences
    operation("Add", "op_add_constant", IMAGE, lambda k, x: x + 1.5),
    operation("Subtract", "op_subtract_from_constant", SEQUENCE, lambda k, x: 2.0 - x),
    operation("Multiply", "op_multiply_vector", IMAGE, lambda k, x: x * k.ops.convert_to_tensor([1.0, -2.0, 0.5])),
    # numpy arrays (saved as __numpy__): an image normalized inside the model, and a column added on either side
    # (x + column: Keras 3.7+ on TensorFlow adds it along the last axis, tf.nn.bias_add; column + x broadcasts)
    operation("Subtract", "op_subtract_numpy_mean", IMAGE, lambda k, x: (x - np.array([0.485, 0.456, 0.406],
                                                                                       "float32")) / 0.25),
    # numpy's own float64 arrays make the result float64 (Keras 3 promotes); the Conv2D after it casts it back
    operation("Subtract", "op_subtract_float64_numpy_mean", IMAGE, lambda k, x: k.layers.Conv2D(2, 1)(
        (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]))),
    operation("Matmul", "op_matmul_of_arrays", SEQUENCE, lambda k, x: k.ops.matmul(
        np.ones((3, 5), "float32"), k.ops.matmul(x, np.eye(4)))),
    operation("Add", "op_add_numpy_column", (4, 4), lambda k, x: x + np.linspace(-1, 2, 4, dtype="float32")[:, None]),
    operation("Add", "op_add_to_numpy_column", (4, 4), lambda k, x: k.ops.add(
        np.linspace(-1, 2, 4, dtype="float32")[:, None], x)),
    operation("TrueDivide", "op_true_divide", SEQUENCE, lambda k, x: 3.0 / positive(k, x)),
    operation("Divide", "op_divide", SEQUENCE, lambda k, x: k.ops.divide(x, 4.0)),
    operation("FloorDivide", "op_floor_divide", SEQUENCE, lambda k, x: k.ops.floor_divide(x * 4.0, 1.5)),
    operation("Power", "op_power", SEQUENCE, lambda k, x: positive(k, x) ** 1.5),
    operation("Mod", "op_mod", SEQUENCE, lambda k, x: k.ops.mod(x * 4.0, 1.5)),
    operation("Maximum", "op_maximum", IMAGE, lambda k, x: k.ops.maximum(x, 0.5)),
    operation("Minimum", "op_minimum_tensors", SEQUENCE, lambda k, x: k.ops.minimum(0.25, k.ops.minimum(x, -x))),
    operation("Negative", "op_negative", SEQUENCE, lambda k, x: -x),
    operation("Absolute", "op_absolute", IMAGE, lambda k, x: k.ops.abs(x)),
    *[operation(name, f"op_{name.lower()}", SEQUENCE, lambda k, x, function=function: getattr(k.ops, function)(x, 0.2))
      for name, function in (("Equal", "equal"), ("NotEqual", "not_equal"), ("Greater", "greater"),
                             ("GreaterEqual", "greater_equal"), ("Less", "less"), ("LessEqual", "less_equal"))],
    operation("LogicalAnd", "op_logical_and", SEQUENCE, lambda k, x: k.ops.logical_and(x > 0, x < 1)),
    operation("LogicalOr", "op_logical_or", SEQUENCE, lambda k, x: k.ops.logical_or(x > 1, x < -1)),
    operation("LogicalNot", "op_logical_not", SEQUENCE, lambda k, x: k.ops.logical_not(x > 0)),
    *[operation(name, f"op_{function}", SEQUENCE, lambda k, x, function=function: getattr(k.ops, function)(x))
      for name, function in (("Square", "square"), ("Exp", "exp"), ("Sign", "sign"), ("Floor", "floor"),
                             ("Ceil", "ceil"), ("Sin", "sin"), ("Cos", "cos"), ("Tanh", "tanh"), ("Expm1", "expm1"))],
    *[operation(name, f"op_{function}", SEQUENCE, lambda k, x, function=function: getattr(k.ops, function)(
        positive(k, x))) for name, function in (("Sqrt", "sqrt"), ("Log", "log"), ("Log1p", "log1p"),
                                                ("Reciprocal", "reciprocal"))],
    operation("Round", "op_round", SEQUENCE, lambda k, x: k.ops.round(x * 3.0)),
    # more of numpy's elementwise functions, on inputs in their domains
    *[operation(name, f"op_{function}", SEQUENCE, lambda k, x, function=function, scale=scale: getattr(k.ops, function)(
        x * scale)) for name, function, scale in (
        ("Arctan", "arctan", 3.0), ("Sinh", "sinh", 1.0), ("Cosh", "cosh", 1.0), ("Arcsinh", "arcsinh", 3.0),
        ("Exp2", "exp2", 1.0), ("Trunc", "trunc", 3.0), ("Deg2rad", "deg2rad", 90.0), ("Rad2deg", "rad2deg", 0.02),
        ("Cbrt", "cbrt", 5.0))],
    *[operation(name, f"op_{function}", SEQUENCE, lambda k, x, function=function: getattr(k.ops, function)(
        k.ops.tanh(x) * 0.9)) for name, function in (("Tan", "tan"), ("Arcsin", "arcsin"), ("Arccos", "arccos"),
                                                     ("Arctanh", "arctanh"))],
    operation("Erfinv", "op_erfinv", SEQUENCE, lambda k, x: k.ops.erfinv(k.ops.tanh(x) * 0.9), module="math"),
    *[operation(name, f"op_{function}", SEQUENCE, lambda k, x, function=function: getattr(k.ops, function)(
        positive(k, x))) for name, function in (("Log2", "log2"), ("Log10", "log10"))],
    operation("Arccosh", "op_arccosh", SEQUENCE, lambda k, x: k.ops.arccosh(positive(k, x) + 0.5)),
    # -inf where x <= 0 (log of relu), NaN there after subtracting it from itself; -0.0 has its sign bit set
    operation("Isnan", "op_isnan", SEQUENCE, lambda k, x: k.ops.isnan(
        k.ops.log(k.ops.relu(x)) - k.ops.log(k.ops.relu(x)))),
    operation("Isinf", "op_isinf", SEQUENCE, lambda k, x: k.ops.isinf(k.ops.log(k.ops.relu(x)))),
    operation("Isfinite", "op_isfinite", SEQUENCE, lambda k, x: k.ops.isfinite(k.ops.log(k.ops.relu(x)))),
    operation("Signbit", "op_signbit", SEQUENCE, lambda k, x: k.ops.signbit(k.ops.minimum(x, 0.0))),
    operation("NanToNum", "op_nan_to_num", SEQUENCE, lambda k, x: k.ops.nan_to_num(
        k.ops.log(k.ops.relu(x)) - k.ops.log(k.ops.relu(x)), nan=1.5) + k.ops.nan_to_num(k.ops.log(k.ops.relu(x)),
                                                                                        neginf=-3.0)),
    operation("NanToNum", "op_nan_to_num_defaults", SEQUENCE, lambda k, x: k.ops.tanh(k.ops.nan_to_num(
        k.ops.log(k.ops.relu(x))) * 1e-37)),  # the dtype's lowest finite value (1e-38 would be subnormal)
    operation("LogicalXor", "op_logical_xor", SEQUENCE, lambda k, x: k.ops.logical_xor(x > 0, x < 0.5)),
    operation("Arctan2", "op_arctan2", SEQUENCE, lambda k, x: k.ops.arctan2(x, 0.5) + k.ops.arctan2(-1.5, x)
              + k.ops.arctan2(x, k.ops.flip(x, axis=1))),
    operation("Hypot", "op_hypot", SEQUENCE, lambda k, x: k.ops.hypot(x, k.ops.flip(x, axis=1))),
    operation("Logaddexp", "op_logaddexp", SEQUENCE, lambda k, x: k.ops.logaddexp(x, k.ops.flip(x, axis=1))),
    operation("Logaddexp2", "op_logaddexp2", SEQUENCE, lambda k, x: k.ops.logaddexp2(x, 0.3)),
    operation("Fmod", "op_fmod", SEQUENCE, lambda k, x: k.ops.fmod(x * 4.0, 1.5) + k.ops.fmod(-2.5, x + 3.0)),
    # reductions
    operation("Mean", "op_mean_image_axis1", IMAGE, lambda k, x: k.ops.mean(x, axis=1)),
    operation("Sum", "op_sum_keepdims", SEQUENCE, lambda k, x: k.ops.sum(x, axis=-1, keepdims=True)),
    operation("Max", "op_max_axes", IMAGE, lambda k, x: k.ops.max(x, axis=(1, 2))),
    operation("Min", "op_min", SEQUENCE, lambda k, x: k.ops.min(x, axis=1)),
    operation("Prod", "op_prod", SEQUENCE, lambda k, x: k.ops.prod(x, axis=2)),
    # over every axis, kept (torch.prod reduces one axis or all: the module failed when it ran)
    operation("Prod", "op_prod_every_axis_kept", SEQUENCE, lambda k, x: k.ops.prod(x * 0.1 + 1.0, keepdims=True)),
    operation("Var", "op_var", SEQUENCE, lambda k, x: k.ops.var(x, axis=1)),
    operation("Std", "op_std", SEQUENCE, lambda k, x: k.ops.std(x, axis=-1, keepdims=True)),
    operation("Average", "op_average", IMAGE, lambda k, x: k.ops.average(x, axis=-1)),
    operation("Any", "op_any", SEQUENCE, lambda k, x: k.ops.any(k.ops.greater(x, 0.5), axis=1)),
    operation("All", "op_all", SEQUENCE, lambda k, x: k.ops.all(k.ops.greater(x, -0.5), axis=1)),
    operation("Argmax", "op_argmax", SEQUENCE, lambda k, x: k.ops.argmax(x, axis=-1)),
    operation("Argmin", "op_argmin", SEQUENCE, lambda k, x: k.ops.argmin(x, axis=1)),
    operation("Cumsum", "op_cumsum", SEQUENCE, lambda k, x: k.ops.cumsum(x, axis=1)),
    # shapes and indexing
    operation("Reshape", "op_reshape", SEQUENCE, lambda k, x: k.ops.reshape(x, (-1, 20))),
    operation("Transpose", "op_transpose_image", IMAGE, lambda k, x: k.ops.transpose(x, (0, 3, 1, 2))),
    operation("ExpandDims", "op_expand_dims", SEQUENCE, lambda k, x: k.ops.expand_dims(x, 1)),
    # several axes, each one of the result's (negative ones too), inserted in ascending order
    operation("ExpandDims", "op_expand_dims_axes", SEQUENCE, lambda k, x: k.ops.expand_dims(x, (1, -1))
              + k.ops.expand_dims(x, (-3, 3))),
    operation("Squeeze", "op_squeeze", SEQUENCE, lambda k, x: k.ops.squeeze(k.ops.expand_dims(x, -1), -1)),
    # every axis of 1 squeezed: a rank known only at run time, returned in the input layout asked for
    operation("Squeeze", "op_squeeze_every_axis", (1, 4, 5, 3), lambda k, x: k.ops.squeeze(x)),
    operation("Concatenate", "op_concatenate", IMAGE, lambda k, x: k.ops.concatenate([x, x * 2.0], axis=-1)),
    operation("Stack", "op_stack", SEQUENCE, lambda k, x: k.ops.stack([x, -x], axis=1)),
    operation("GetItem", "op_getitem", IMAGE, lambda k, x: x[:, 1:3, ::2, 0]),
    operation("GetItem", "op_getitem_backwards", IMAGE,
              lambda k, x: x[:, ::-2, 4:0:-1, 0] + x[:, 1::-1, 1:, ::-3][..., 0]),
    operation("Take", "op_take", SEQUENCE, lambda k, x: k.ops.take(x, [0, 2], axis=1)),
    operation("Tile", "op_tile", SEQUENCE, lambda k, x: k.ops.tile(x, (1, 2, 1))),
    operation("Flip", "op_flip", SEQUENCE, lambda k, x: k.ops.flip(x, axis=1)),
    operation("ZerosLike", "op_zeros_like_bool", SEQUENCE, lambda k, x: k.ops.logical_or(
        x > 0, k.ops.zeros_like(x, dtype="bool"))),
    operation("OnesLike", "op_ones_like", IMAGE, lambda k, x: x + k.ops.ones_like(x)),
    operation("FullLike", "op_full_like", SEQUENCE, lambda k, x: x * k.ops.full_like(x, 2.5)),
    operation("Pad", "op_pad", SEQUENCE, lambda k, x: k.ops.pad(x, ((0, 0), (1, 2), (0, 1)))),
    operation("Pad", "op_pad_mirrored", IMAGE, lambda k, x: k.ops.pad(x, ((0, 0), (1, 2), (2, 0), (0, 0)),
                                                                      mode="reflect") + k.ops.pad(
        x, ((0, 0), (2, 1), (1, 1), (0, 0)), mode="symmetric")),
    operation("Where", "op_where", SEQUENCE, lambda k, x: k.ops.where(x > 0, x, 0.1 * x)),
    operation("Clip", "op_clip", IMAGE, lambda k, x: k.ops.clip(x, -0.5, 0.5)),
    operation("Amax", "op_amax", IMAGE, lambda k, x: k.ops.amax(x, axis=(1, -1), keepdims=True)),
    operation("Amin", "op_amin_every_axis", IMAGE, lambda k, x: x - k.ops.amin(x)),
    operation("Max", "op_max_initial", IMAGE, lambda k, x: k.ops.max(x, axis=1, initial=0.3)),
    operation("Min", "op_min_initial_kept", SEQUENCE, lambda k, x: k.ops.min(x, axis=-1, initial=-0.2,
                                                                              keepdims=True)),
    # roll along axes (the batch's too) and of the flattened tensor
    operation("Roll", "op_roll", IMAGE, lambda k, x: k.ops.roll(x, (1, -2), axis=(1, 3)) + k.ops.roll(x, 7)
              + k.ops.roll(x, 1, axis=0)),
    operation("Diff", "op_diff", IMAGE, lambda k, x: k.ops.diff(x, n=2, axis=1)),
    operation("Diff", "op_diff_last", SEQUENCE, lambda k, x: k.ops.diff(x)),
    operation("CountNonzero", "op_count_nonzero", IMAGE, lambda k, x: k.ops.cast(
        k.ops.count_nonzero(k.ops.relu(x), axis=(1, 2)), "float32") + k.ops.cast(k.ops.count_nonzero(
            k.ops.relu(x)), "float32")),
    operation("Outer", "op_outer", (3,), lambda k, x: k.ops.outer(x, x * 2.0)),
    # flattened in Keras's order (a feature map's is channels-last), then summed along the last axis of the result
    operation("Outer", "op_outer_feature_maps", IMAGE, lambda k, x: k.ops.sum(k.ops.outer(k.layers.Conv2D(2, 1)(x), x),
                                                                              axis=-1)),
    operation("Outer", "op_outer_numbers", SEQUENCE, lambda k, x: k.ops.outer(x, 2.0) + k.ops.outer(-3.0, x)[0]),
    # of feature maps (channels-first in the module) and sequences, each in Keras's order
    operation("Ravel", "op_ravel", IMAGE, lambda k, x: k.ops.ravel(k.layers.Conv2D(2, 1)(x))),
    operation("Fliplr", "op_fliplr", IMAGE, lambda k, x: k.ops.fliplr(k.layers.Conv2D(2, 1)(x))),
    operation("Flipud", "op_flipud", SEQUENCE, lambda k, x: k.ops.flipud(x)),  # the batch reversed
    operation("Rot90", "op_rot90", IMAGE, lambda k, x: k.ops.rot90(k.layers.Conv2D(2, 1)(x), k=3, axes=(2, -1))),
    operation("Hstack", "op_hstack", SEQUENCE, lambda k, x: k.ops.hstack([x, x * 2.0])),
    operation("Vstack", "op_vstack", SEQUENCE, lambda k, x: k.ops.vstack([x, x * 2.0])),
    operation("Fmax", "op_fmax_of_nan", SEQUENCE, lambda k, x: k.ops.fmax(k.ops.log(x), 0.25)),
    operation("Fmin", "op_fmin_of_nan", SEQUENCE, lambda k, x: k.ops.fmin(-0.25, k.ops.sqrt(x))),
    operation("DivideNoNan", "op_divide_no_nan", SEQUENCE, lambda k, x: k.ops.divide_no_nan(x, k.ops.relu(x))),
    operation("Ptp", "op_ptp", IMAGE, lambda k, x: k.ops.ptp(k.layers.Conv2D(2, 1)(x), axis=(1, 2), keepdims=True)),
    operation("Ptp", "op_ptp_every_axis", SEQUENCE, lambda k, x: x - k.ops.ptp(x)),
    operation("Diagonal", "op_diagonal", IMAGE, lambda k, x: k.ops.diagonal(k.layers.Conv2D(2, 1)(x), offset=1,
                                                                            axis1=1, axis2=2)),
    operation("Trace", "op_trace", IMAGE, lambda k, x: k.ops.trace(k.layers.Conv2D(2, 1)(x), offset=-1, axis1=2,
                                                                   axis2=1)),
    operation("Inner", "op_inner", SEQUENCE, lambda k, x: k.ops.inner(x, x * 2.0)),
    # numpy's dot: the matrix product of a constant matrix (a feature map's channels) or vector; of two sequences
    # TensorFlow's tensordot (the batch axis twice: summed over the second)
    operation("Dot", "op_dot_matrix", IMAGE, lambda k, x: k.ops.dot(
        k.layers.Conv2D(4, 1)(x), np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3))),
    operation("Dot", "op_dot_vector", SEQUENCE, lambda k, x: k.ops.dot(x, np.array([1.0, 2.0, -1.0, 0.5], "float32"))),
    operation("Dot", "op_dot_tensors", SEQUENCE, lambda k, x: k.ops.sum(k.ops.dot(x, k.ops.transpose(x, (0, 2, 1))),
                                                                        axis=2)),
    # every axis named, the batch's as the tests run it (3)
    operation("BroadcastTo", "op_broadcast_to", SEQUENCE, lambda k, x: k.ops.broadcast_to(x[:, :1, :], (3, 5, 4))),
    operation("Slice", "op_slice", IMAGE, lambda k, x: k.ops.slice(k.layers.Conv2D(2, 1)(x), [0, 1, 2, 1],
                                                                    [-1, 2, 3, 1]), "core"),
    # einops: axes merged, moved, and split by lengths given (one inferred), of a feature map in Keras's order;
    # Keras computes its output shape only for a batch of known size (3, as the tests run it)
    rearranged("op_rearrange_merge", IMAGE, lambda k, x: k.ops.rearrange(k.layers.Conv2D(2, 1)(x),
                                                                          "b h w c -> b c (h w)")),
    rearranged("op_rearrange_split", (4, 6, 3), lambda k, x: k.ops.rearrange(
        x, "b (h h1) (w w1) c -> b h w (c h1 w1)", h1=2, w1=3)),
    rearranged("op_rearrange_batch", SEQUENCE, lambda k, x: k.ops.rearrange(x, "b (t1 t) f -> (b t) f t1", t=5)),
    operation("Abs", "op_abs_class", SEQUENCE, lambda k, x: k.src.ops.numpy.Abs()(x - 0.5)),
    operation("Kron", "op_kron", (3,), lambda k, x: k.ops.kron(x, x + 1.0)),
    operation("Tensordot", "op_tensordot", IMAGE, lambda k, x: k.ops.tensordot(
        k.layers.Conv2D(2, 1)(x), k.layers.Conv2D(2, 1)(x), axes=[[1, 2, 3], [1, 2, 3]])),
    operation("Tensordot", "op_tensordot_int", SEQUENCE, lambda k, x: k.ops.tensordot(x, k.ops.transpose(x, (2, 0, 1)),
                                                                                      axes=1)),
    operation("Sinc", "op_sinc", SEQUENCE, lambda k, x: k.ops.sinc(x * 2.0)),
    operation("Fabs", "op_fabs", SEQUENCE, lambda k, x: k.ops.fabs(x)),
    operation("Isneginf", "op_isneginf", SEQUENCE, lambda k, x: k.ops.cast(k.ops.isneginf(k.ops.log(k.ops.relu(x))),
                                                                           "float32")),
    operation("Isposinf", "op_isposinf", SEQUENCE, lambda k, x: k.ops.cast(k.ops.isposinf(-k.ops.log(k.ops.relu(x))),
                                                                           "float32")),
    operation("Erfc", "op_erfc", SEQUENCE, lambda k, x: k.ops.erfc(x), "math"),
    operation("SparseSigmoid", "op_sparse_sigmoid", SEQUENCE, lambda k, x: k.ops.sparse_sigmoid(x * 2.0), "nn"),
    operation("Moments", "op_moments", IMAGE, lambda k, x: k.ops.concatenate(
        list(k.ops.moments(k.layers.Conv2D(2, 1)(x), axes=[1, 2])), axis=-1), "nn"),
    operation("Moments", "op_moments_kept", SEQUENCE, lambda k, x: x - k.ops.moments(x, axes=[1], keepdims=True)[1],
              "nn"),
    operation("MaxPool", "op_max_pool", IMAGE, lambda k, x: k.ops.max_pool(k.layers.Conv2D(2, 1)(x), 2, strides=1,
                                                                           padding="same"), "nn"),
    operation("AveragePool", "op_average_pool", IMAGE, lambda k, x: k.ops.average_pool(x, (3, 2), padding="same"),
              "nn"),
    operation("AveragePool", "op_average_pool_steps", SEQUENCE, lambda k, x: k.ops.average_pool(x, 2), "nn"),
    operation("DepthToSpace", "op_depth_to_space", IMAGE, lambda k, x: k.ops.depth_to_space(k.layers.Conv2D(8, 1)(x),
                                                                                            2), "nn"),
    operation("SpaceToDepth", "op_space_to_depth", (4, 6, 3), lambda k, x: k.ops.space_to_depth(x, 2), "nn"),
    # quantiles at one q: Keras's indices reckoned in float64 from q as a float32 (0.3 * 10 lands above 3)
    operation("Median", "op_median", IMAGE, lambda k, x: k.ops.median(k.layers.Conv2D(2, 1)(x), axis=(1, 2))),
    operation("Median", "op_median_every_axis", SEQUENCE, lambda k, x: x - k.ops.median(x, keepdims=True)),
    operation("Quantile", "op_quantile", SEQUENCE, lambda k, x: k.ops.quantile(x, 0.3, axis=-1, keepdims=True)),
    # Keras's Quantile operation computes linear whatever method it records
    operation("Quantile", "op_quantile_method_unused", (11, 2), lambda k, x: k.ops.quantile(x, 0.3, axis=1,
                                                                                          method="higher")),
    operation("Percentile", "op_percentile_higher", (11, 2), lambda k, x: k.ops.percentile(x, 30, axis=1,
                                                                                         method="higher")),
    operation("Percentile", "op_percentile_nearest", IMAGE, lambda k, x: k.ops.percentile(
        k.layers.Conv2D(2, 1)(x), 30, axis=-2, method="nearest")),
    operation("Percentile", "op_percentile_midpoint", SEQUENCE, lambda k, x: k.ops.percentile(x, 62.5, axis=1,
                                                                                            method="midpoint")),
    operation("Percentile", "op_percentile_lower", SEQUENCE, lambda k, x: k.ops.percentile(x, 90, method="lower")),
    operation("TakeAlongAxis", "op_take_along_axis", SEQUENCE, lambda k, x: k.ops.take_along_axis(
        x, k.ops.argsort(x, axis=1), axis=1)),
    operation("TakeAlongAxis", "op_take_along_axis_feature_maps", IMAGE, lambda k, x: k.ops.take_along_axis(
        k.layers.Conv2D(2, 1)(x), k.ops.argmax(x, axis=-1, keepdims=True) - 2, axis=-1)),
    operation("Select", "op_select", SEQUENCE, lambda k, x: k.ops.select([x > 0.5, x < -0.5], [x * 2.0, x * 3.0])),
    operation("Select", "op_select_default", SEQUENCE, lambda k, x: k.ops.select([x > 0.0], [x], -x)),
    operation("Copy", "op_copy", SEQUENCE, lambda k, x: k.ops.copy(x) + 1.0),
    operation("Nansum", "op_nansum", SEQUENCE, lambda k, x: k.ops.nansum(k.ops.log(x), axis=1)),
    operation("Nanmean", "op_nanmean", IMAGE, lambda k, x: x - k.ops.nanmean(k.ops.log(k.layers.Conv2D(2, 1)(x)),
                                                                            keepdims=True)),
    operation("Heaviside", "op_heaviside", SEQUENCE, lambda k, x: k.ops.heaviside(k.ops.relu(x), x) +
              k.ops.heaviside(x, k.ops.ones_like(x) * 0.5)),
    # query, key and value of (batch, steps, heads, head size) made by Dense layers from a sequence
    operation("DotProductAttention", "op_attention", SEQUENCE, lambda k, x: k.ops.dot_product_attention(
        *heads(k, x, 2, 2, 2)), "nn"),
    operation("DotProductAttention", "op_attention_causal_scaled_grouped", SEQUENCE,
              lambda k, x: k.ops.dot_product_attention(*heads(k, x, 4, 2, 2), scale=0.5, is_causal=True), "nn"),
    operation("DotProductAttention", "op_attention_masked_biased", SEQUENCE, lambda k, x: k.ops.dot_product_attention(
        *heads(k, x, 2, 2, 2), mask=k.ops.expand_dims(k.ops.greater(x[..., 0], 0.0), (1, 2))), "nn"),
    operation("DotProductAttention", "op_attention_biased", SEQUENCE, lambda k, x: k.ops.dot_product_attention(
        *heads(k, x, 2, 2, 2), bias=k.ops.expand_dims(x[..., :1] * 3.0, 1)), "nn"),
    # every key masked: TensorFlow's where gives every key the same weight
    operation("DotProductAttention", "op_attention_masked_whole", SEQUENCE, lambda k, x: k.ops.dot_product_attention(
        *heads(k, x, 2, 2, 2), mask=k.ops.expand_dims(k.ops.greater(x[..., 0], 100.0), (1, 2))), "nn"),
    operation("Cumprod", "op_cumprod", SEQUENCE, lambda k, x: k.ops.cumprod(x * 0.3 + 1.0, axis=1)),
    operation("Cumprod", "op_cumprod_flattened", SEQUENCE, lambda k, x: k.ops.cumprod(x * 0.01 + 1.0)),
    operation("Round", "op_round_decimals", SEQUENCE, lambda k, x: k.ops.round(x * 10.0, decimals=1)
              + k.ops.round(x * 100.0, decimals=-1)),
    # bounds crossed: TensorFlow's clip gives x_min everywhere, torch.clamp x_max
    operation("Clip", "op_clip_crossed_bounds", IMAGE, lambda k, x: k.ops.clip(x, 0.5, -0.5)),
    operation("Matmul", "op_matmul", SEQUENCE, lambda k, x: k.ops.matmul(x, k.ops.transpose(x, (0, 2, 1)))),
    operation("Einsum", "op_einsum", SEQUENCE, lambda k, x: k.ops.einsum("bij,bkj->bik", x, x)),
    operation("Einsum", "op_einsum_ellipsis_image", IMAGE, lambda k, x: k.ops.einsum("...ij->...ji", x)),
    # keras.ops.nn, math, core, linalg, image
    *[operation(name, f"op_{function}", IMAGE, lambda k, x, function=function: getattr(k.ops, function)(x),
                module="nn")
      for name, function in (("Relu", "relu"), ("Relu6", "relu6"), ("Sigmoid", "sigmoid"), ("Silu", "silu"),
                             ("HardSigmoid", "hard_sigmoid"), ("HardSilu", "hard_silu"), ("Selu", "selu"),
                             ("Softplus", "softplus"), ("Softsign", "softsign"), ("LogSigmoid", "log_sigmoid"))],
    operation("Gelu", "op_gelu", SEQUENCE, lambda k, x: k.ops.gelu(x) + k.ops.gelu(x, approximate=False), "nn"),
    operation("LeakyRelu", "op_leaky_relu", SEQUENCE, lambda k, x: k.ops.leaky_relu(x, 0.1), "nn"),
    operation("Elu", "op_elu", SEQUENCE, lambda k, x: k.ops.elu(x, alpha=0.5), "nn"),
    operation("Celu", "op_celu", IMAGE, lambda k, x: k.ops.celu(x, alpha=0.5), "nn"),
    operation("HardTanh", "op_hard_tanh", IMAGE, lambda k, x: k.ops.hard_tanh(x * 2.0), "nn"),
    operation("Squareplus", "op_squareplus", SEQUENCE, lambda k, x: k.ops.squareplus(x, b=3), "nn"),
    operation("HardShrink", "op_hard_shrink", SEQUENCE, lambda k, x: k.ops.hard_shrink(x, 0.3), "nn"),
    operation("SoftShrink", "op_soft_shrink", SEQUENCE, lambda k, x: k.ops.soft_shrink(x, 0.4), "nn"),
    operation("TanhShrink", "op_tanh_shrink", SEQUENCE, lambda k, x: k.ops.tanh_shrink(x), "nn"),
    operation("Threshold", "op_threshold", IMAGE, lambda k, x: k.ops.threshold(x, 0.1, -2.0), "nn"),
    operation("SparsePlus", "op_sparse_plus", SEQUENCE, lambda k, x: k.ops.sparse_plus(x * 2.0), "nn"),
    # the halves along an axis of images (channels, then height): the axis follows the input layout
    operation("Glu", "op_glu_image_channels", (4, 5, 6), lambda k, x: k.ops.glu(x), "nn"),
    operation("Glu", "op_glu_image_axis1", IMAGE, lambda k, x: k.ops.glu(x, axis=1), "nn"),
    operation("StopGradient", "op_stop_gradient", SEQUENCE, lambda k, x: k.ops.stop_gradient(x) * 2.0, "core"),
    operation("Softmax", "op_softmax", SEQUENCE, lambda k, x: k.ops.softmax(x, axis=1), "nn"),
    operation("LogSoftmax", "op_log_softmax", IMAGE, lambda k, x: k.ops.log_softmax(x), "nn"),
    operation("Erf", "op_erf", SEQUENCE, lambda k, x: k.ops.erf(x), "math"),
    operation("Rsqrt", "op_rsqrt", SEQUENCE, lambda k, x: k.ops.rsqrt(positive(k, x)), "math"),
    operation("Logsumexp", "op_logsumexp", SEQUENCE, lambda k, x: k.ops.logsumexp(x, axis=1), "math"),
    operation("Cast", "op_cast", SEQUENCE, lambda k, x: k.ops.cast(x * 4.0, "int32"), "core"),
    # an int tensor (whose dtype the builder does not follow) cast to float32 is cast all the same
    operation("Cast", "op_cast_of_argmax", SEQUENCE, lambda k, x: k.ops.mean(k.ops.cast(
        k.ops.argmax(x, axis=-1, keepdims=True), "float32"), axis=1), "core"),
    operation("ConvertToTensor", "op_convert_to_tensor", SEQUENCE, lambda k, x: k.ops.convert_to_tensor(
        x > 0.5, dtype="float32") + x, "core"),
    operation("Norm", "op_norm", SEQUENCE, lambda k, x: k.ops.norm(x, axis=-1), "linalg"),
    operation("Resize", "op_resize", IMAGE, lambda k, x: k.ops.image.resize(x, (7, 9)), "image"),
    operation("Norm", "op_norm_orders", IMAGE, lambda k, x: k.ops.norm(x, ord=1, axis=-1) + k.ops.norm(
        x, ord=float("inf"), axis=-1) * k.ops.norm(x, ord="fro", axis=(1, 2))[:, None, :1], "linalg"),
    # split (sections and indices), unstack, top_k: several outputs each
    operation("Split", "op_split", SEQUENCE, lambda k, x: k.ops.split(x, 5, axis=1)[2] + k.ops.split(
        x, [1, 3], axis=-1)[1][..., :1]),
    operation("Unstack", "op_unstack", IMAGE, lambda k, x: k.ops.unstack(x, axis=2)[1] * 2.0, "core"),
    operation("TopK", "op_top_k", SEQUENCE, lambda k, x: k.ops.concatenate([
        k.ops.top_k(x, 2)[0], k.ops.cast(k.ops.top_k(x, 2)[1], "float32")], axis=-1), "math"),
    # ties (relu's zeros, rounded values): TensorFlow orders equal entries by index
    operation("TopK", "op_top_k_ties", SEQUENCE, lambda k, x: k.ops.cast(k.ops.top_k(k.ops.relu(x), 3)[1],
                                                                             "float32"), "math"),
    operation("Argsort", "op_argsort", SEQUENCE, lambda k, x: k.ops.concatenate([
        k.ops.cast(k.ops.argsort(k.ops.round(x), axis=1), "float32"),
        k.ops.cast(k.ops.argsort(k.ops.relu(x)), "float32")], axis=-1)),
    operation("OneHot", "op_one_hot", SEQUENCE, lambda k, x: k.ops.one_hot(k.ops.cast(x * 2.0, "int32"), 3), "nn"),
    operation("OneHot", "op_one_hot_axes", SEQUENCE, lambda k, x: k.ops.concatenate([
        k.ops.one_hot(k.ops.cast(x * 2.0, "int32"), 4, axis=1),
        k.ops.one_hot(k.ops.cast(x[:, :4] * 2.0, "int32"), 5, axis=2)], axis=1), "nn"),
    operation("Normalize", "op_normalize", IMAGE, lambda k, x: k.ops.normalize(x, axis=1) + k.ops.normalize(
        x, order=1), "nn"),
    operation("Repeat", "op_repeat", SEQUENCE, lambda k, x: k.ops.repeat(x, 2, axis=1)),
    operation("Moveaxis", "op_moveaxis", IMAGE, lambda k, x: k.ops.moveaxis(x, -1, 1)),
    operation("Moveaxis", "op_moveaxis_axes", IMAGE, lambda k, x: k.ops.moveaxis(x, (1, -1), (3, 1))),
    operation("Swapaxes", "op_swapaxes", IMAGE, lambda k, x: k.ops.swapaxes(x, 1, 3)),
    operation("Triu", "op_triu", SEQUENCE, lambda k, x: k.ops.triu(x, k=1)),
    operation("Tril", "op_tril", IMAGE, lambda k, x: k.ops.tril(x, -1)),
    operation("Sort", "op_sort", SEQUENCE, lambda k, x: k.ops.sort(x, axis=1) + k.ops.sort(x)),
    # tf.keras: TensorFlow functions in a functional model
    tf_operation("TFOpLambda", "tf_arithmetic", SEQUENCE, lambda tf, x: tf.nn.relu(x / 2.0) + 1.0 - 2.0 * x),
    tf_operation("TFOpLambda", "tf_reductions", IMAGE, lambda tf, x: tf.reduce_mean(x, axis=[1, 2]) * tf.reduce_max(
        x, axis=[1, 2])),
    tf_operation("TFOpLambda", "tf_shapes", SEQUENCE, lambda tf, x: tf.transpose(tf.reshape(tf.concat(
        [x, tf.math.sigmoid(x)], axis=-1), (-1, 5, 2, 4)), perm=[0, 2, 1, 3])),
    tf_operation("TFOpLambda", "tf_split_where_cast", SEQUENCE, lambda tf, x: tf.cast(tf.where(
        tf.split(x, 2, axis=-1)[0] > 0, 1.0, 0.0), tf.float32) + tf.expand_dims(tf.reduce_sum(x, axis=-1), -1)),
    tf_operation("TFOpLambda", "tf_matmul", SEQUENCE, lambda tf, x: tf.matmul(x, x, transpose_b=True)),
    # running products (exclusive, reversed), non-zero counts (int64 by default, kept, over every axis), rolls
    tf_operation("TFOpLambda", "tf_roll_cumprod_count", SEQUENCE, lambda tf, x: tf.concat([
        tf.roll(x, [1, -2], axis=[1, 2]) + tf.roll(x, 1, axis=0), tf.math.cumprod(x * 0.3 + 1.0, axis=1),
        tf.math.cumprod(x * 0.3 + 1.0, axis=-1, exclusive=True, reverse=True),
        tf.cast(tf.math.count_nonzero(tf.nn.relu(x), axis=-1, keepdims=True), "float32")
        + tf.math.count_nonzero(tf.nn.relu(x), dtype=tf.float32)], axis=-1)),
    # bounds crossed (x_min everywhere in TensorFlow, of integers too), and a product over every axis, kept
    tf_operation("TFOpLambda", "tf_clip_crossed_and_product", SEQUENCE, lambda tf, x: tf.concat([
        tf.clip_by_value(x, 0.5, -0.5), tf.cast(tf.clip_by_value(tf.cast(x * 4.0, "int32"), 2, -2), "float32"),
        tf.reduce_prod(x * 0.1 + 1.0, keepdims=True) + x[:, :, :1]], axis=-1)),
    tf_operation("TFOpLambda", "tf_normalize_and_sums", IMAGE, lambda tf, x: tf.math.l2_normalize(x, axis=-1) + (
        tf.cumsum(x, axis=1, exclusive=True, reverse=True) + tf.math.reduce_std(x, axis=[1, 2], keepdims=True)
        - tf.math.reduce_variance(x, axis=-1, keepdims=True)) * tf.stop_gradient(
        tf.math.squared_difference(x, 0.5))),
    tf_operation("TFOpLambda", "tf_pad_tile", IMAGE, lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]],
                                                                          mode="REFLECT") + tf.pad(
        x, [[0, 0], [2, 1], [1, 2], [0, 0]], mode="SYMMETRIC") * tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]],
                                                                         constant_values=0.5)
        + tf.tile(x, [1, 1, 1, 1])[:, :1, :1]),
    tf_operation("TFOpLambda", "tf_resize", IMAGE, lambda tf, x: tf.image.resize(x, (7, 9)) * tf.image.resize(
        x, (7, 9), method="nearest") + tf.compat.v1.image.resize_bilinear(x, (7, 9), align_corners=True)),
    # TensorFlow 1's mapping (resize_bilinear's and resize_images's default), down and up
    tf_operation("TFOpLambda", "tf_resize_v1_default", IMAGE, lambda tf, x: tf.compat.v1.image.resize_bilinear(
        x, (3, 7)) * 2.0 + tf.compat.v1.image.resize_bilinear(tf.compat.v1.image.resize_bilinear(x, (9, 11)),
                                                              (3, 7))),
    tf_operation("TFOpLambda", "tf_depth_space", (4, 6, 8), lambda tf, x: tf.nn.depth_to_space(
        tf.nn.relu(tf.nn.space_to_depth(x, 2)) + 0.5, 2) * tf.tile(tf.nn.depth_to_space(x, 2)[:, ::2, 1::2],
                                                                  [1, 1, 1, 4])),
    tf_operation("TFOpLambda", "tf_one_hot_and_rounding", SEQUENCE, lambda tf, x: tf.concat([
        tf.one_hot(tf.cast(tf.abs(x) * 2.0, tf.int32), 3, on_value=2.0, off_value=-1.0)[:, :, 0],
        tf.math.round(x * 2.0), x % 0.3, x // 0.3, tf.math.divide_no_nan(x, tf.nn.relu(x)),
        tf.nn.log_softmax(x, axis=1), tf.nn.bias_add(x, [0.5, -1.0, 2.0, 0.25]),
        tf.norm(x, axis=-1, keepdims=True), tf.linalg.matmul(x, x, adjoint_b=True)], axis=-1)),
    tf_operation("TFOpLambda", "tf_like_and_sums", SEQUENCE, lambda tf, x: tf.concat([
        tf.zeros_like(x) + tf.ones_like(x, dtype=tf.float32) * 0.5, tf.identity(x), tf.math.add_n([x, x * 2.0, x]),
        tf.math.log_sigmoid(x), tf.cast(tf.math.is_nan(tf.math.log(x)), tf.float32),
        tf.cast(tf.math.is_finite(1.0 / x), tf.float32), tf.math.atan2(x, x * x + 0.5),
        tf.math.multiply_no_nan(x, tf.nn.relu(x)), tf.math.scalar_mul(2.5, x)], axis=-1)),
    tf_operation("TFOpLambda", "tf_one_hot_axes", SEQUENCE, lambda tf, x: tf.concat([
        tf.one_hot(tf.cast(x * 2.0, tf.int32), 4, axis=1), tf.one_hot(tf.cast(x[:, :4] * 2.0, tf.int32), 5, axis=2,
                                                                    on_value=0.5)], axis=1)),
    # TensorFlow converts numpy's float64 arrays to the tensor's dtype (no promotion, unlike Keras 3)
    tf_operation("TFOpLambda", "tf_float64_numpy_normalization", IMAGE, lambda tf, x: (
        x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]) + tf.math.reduce_mean(x)),
    tf_operation("SlicingOpLambda", "tf_slicing", IMAGE, lambda tf, x: x[:, 1:, ::2, 0] + x[:, None, 0, 0, :1]),
    tf_operation("TFOpLambda", "tf_sort_slice_unstack", SEQUENCE, lambda tf, x: tf.concat([
        tf.math.top_k(tf.nn.relu(x), 2).values, tf.cast(tf.math.top_k(tf.round(x), k=2).indices, tf.float32),
        tf.sort(x, axis=1, direction="DESCENDING"), tf.cast(tf.argsort(tf.round(x), axis=1), tf.float32),
        tf.cast(tf.argsort(tf.nn.relu(x), direction="DESCENDING"), tf.float32), tf.slice(x, [0, 0, 1], [-1, 5, -1]),
        tf.stack(tf.unstack(x, num=4, axis=2)[::-1], axis=-1), x + tf.expand_dims(tf.unstack(x, axis=1)[3], 1)],
        axis=-1)),
    tf_operation("SlicingOpLambda", "tf_slicing_backwards", SEQUENCE,
                 lambda tf, x: x[:, ::-1] * x[:, ::-1, ::-1] + x[..., 3::-1] - x[:, -1:-6:-1, :]),
]
