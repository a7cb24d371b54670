"""Conv1D/2D/3D, their transposes, depthwise and separable convolutions against Keras."""
from __future__ import annotations

import dataclasses
import pytest
import torch
import torch.nn.functional as F

from converter.padding import same_padding, transpose_crop

from layer_harness import (
    LAYER_ATOL, channels_first, channels_last, convert_file, load, max_diff, random_input, saved_model,
)

CONV_CASES = [
    # (class, input shape, options)
    ("Conv1D", (12, 4), dict(filters=6, kernel_size=3)),
    ("Conv1D", (12, 4), dict(filters=6, kernel_size=3, strides=2, padding="same", use_bias=False)),
    ("Conv1D", (12, 4), dict(filters=6, kernel_size=3, dilation_rate=2, padding="causal")),
    ("Conv1D", (12, 4), dict(filters=6, kernel_size=2, groups=2, padding="same")),
    ("Conv2D", (9, 9, 4), dict(filters=6, kernel_size=3)),
    ("Conv2D", (9, 9, 4), dict(filters=6, kernel_size=(3, 2), strides=2, padding="same")),
    ("Conv2D", (10, 10, 4), dict(filters=6, kernel_size=3, strides=(2, 1), padding="same")),
    ("Conv2D", (9, 9, 4), dict(filters=6, kernel_size=3, dilation_rate=2, padding="same", use_bias=False)),
    ("Conv2D", (9, 9, 4), dict(filters=6, kernel_size=3, groups=2)),
    ("Conv3D", (5, 6, 6, 2), dict(filters=3, kernel_size=3, padding="same")),
    ("Conv3D", (5, 6, 6, 2), dict(filters=4, kernel_size=(2, 3, 3), strides=2, groups=2, padding="same")),
]


def conv_reference(result, x: torch.Tensor) -> torch.Tensor:
    """The nn.ConvNd a user writes from the converted module arguments, padding explicitly."""
    arguments = result.module.record()
    spatial = len(arguments["kernel_size"])
    pads = result.options.get("pad_before")
    if result.options.get("tf_same") and pads is None:  # input size not in a legacy config
        pads = [same_padding(n, k, s, d) for n, k, s, d in
                zip(x.shape[2:], arguments["kernel_size"], arguments["stride"], arguments["dilation"])]
    conv = getattr(torch.nn, f"Conv{spatial}d")(**arguments)
    if pads:  # F.pad takes the last axis first
        x = F.pad(x, [p for pair in reversed(pads) for p in pair])
    return x, conv


# tf_keras runs grouped Conv1D/Conv3D only on GPU: those cases are written by Keras 3 alone.
CONV_RUNS = [(writer, *case) for case in CONV_CASES for writer in ("keras3.keras", "keras2.h5")
             if writer == "keras3.keras" or case[2].get("groups", 1) == 1 or case[0] == "Conv2D"]


@pytest.mark.parametrize("writer, class_name, shape, options", CONV_RUNS,
                         ids=[f"{c}-{i}-{w}" for i, (w, c, *_rest) in enumerate(CONV_RUNS)])
def test_convolution_matches_keras(tmp_path, writer, class_name, shape, options):
    model, path = saved_model(
        lambda keras: keras.Sequential([keras.Input(shape), getattr(keras.layers, class_name)(name="conv", **options)]),
        writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    x, conv = conv_reference(layers["conv"], channels_first(torch.from_numpy(inputs)))
    load(conv, weights, "conv")
    with torch.no_grad():
        actual = channels_last(conv(x))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


TRANSPOSE_CASES = [
    ("Conv1DTranspose", (7, 3), dict(filters=4, kernel_size=3, strides=2)),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=3)),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=3, strides=2, padding="same")),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=4, strides=2, padding="same", use_bias=False)),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=2, strides=3)),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=3, strides=2, padding="same", output_padding=1)),
    ("Conv2DTranspose", (5, 5, 3), dict(filters=4, kernel_size=3, dilation_rate=2)),
    ("Conv3DTranspose", (3, 4, 4, 2), dict(filters=3, kernel_size=3, strides=2, padding="same")),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("class_name, shape, options", TRANSPOSE_CASES,
                         ids=[f"{c}-{i}" for i, (c, *_rest) in enumerate(TRANSPOSE_CASES)])
def test_transposed_convolution_matches_keras(tmp_path, writer, class_name, shape, options):
    model, path = saved_model(
        lambda keras: keras.Sequential([keras.Input(shape), getattr(keras.layers, class_name)(name="up", **options)]),
        writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    arguments, options = dict(layers["up"].module.record()), dict(layers["up"].options)
    spatial = len(arguments["kernel_size"])
    keras_padding, keras_output_padding = options["keras_padding"], options["keras_output_padding"]
    if "crop_start" not in options:  # a legacy config without the input size: crop as documented
        paddings = [keras_output_padding] * spatial if keras_output_padding is None or isinstance(
            keras_output_padding, int) else keras_output_padding
        crops = [transpose_crop(n, k, s, d, keras_padding, p) for n, k, s, d, p in zip(
            shape[:-1], arguments["kernel_size"], arguments["stride"], arguments["dilation"], paddings)]
        arguments["output_padding"] = tuple(c[2] for c in crops)
        options.update(crop_start=[c[0] for c in crops], output_size=[c[1] for c in crops])
    starts, sizes = options["crop_start"], options["output_size"]
    conv = getattr(torch.nn, f"ConvTranspose{spatial}d")(**arguments)
    load(conv, weights, "up")
    with torch.no_grad():
        full = conv(channels_first(torch.from_numpy(inputs)))
    crop = (slice(None), slice(None)) + tuple(slice(s, s + n) for s, n in zip(starts, sizes))
    assert max_diff(model(inputs), channels_last(full[crop])) <= LAYER_ATOL


DEPTHWISE_CASES = [
    ("DepthwiseConv2D", (8, 8, 3), dict(kernel_size=3, depth_multiplier=2)),
    ("DepthwiseConv2D", (8, 8, 3), dict(kernel_size=3, strides=2, padding="same", use_bias=False)),
    ("DepthwiseConv2D", (8, 8, 3), dict(kernel_size=3, dilation_rate=2, depth_multiplier=3, padding="same")),
    ("DepthwiseConv1D", (10, 3), dict(kernel_size=3, depth_multiplier=2, padding="same")),
    ("SeparableConv2D", (8, 8, 3), dict(filters=5, kernel_size=3, depth_multiplier=2)),
    ("SeparableConv2D", (8, 8, 3), dict(filters=5, kernel_size=3, strides=2, padding="same", use_bias=False)),
    ("SeparableConv1D", (10, 3), dict(filters=5, kernel_size=3, padding="same")),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("class_name, shape, options", DEPTHWISE_CASES,
                         ids=[f"{c}-{i}" for i, (c, *_rest) in enumerate(DEPTHWISE_CASES)])
def test_depthwise_and_separable_match_keras(tmp_path, writer, class_name, shape, options):
    model, path = saved_model(
        lambda keras: keras.Sequential([keras.Input(shape), getattr(keras.layers, class_name)(name="dw", **options)]),
        writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    arguments = layers["dw"].module.record()
    x = channels_first(torch.from_numpy(inputs))
    if class_name.startswith("Depthwise"):
        x, conv = conv_reference(layers["dw"], x)
        load(conv, weights, "dw")
    else:
        depthwise = arguments["depthwise"]
        as_conv = dataclasses.replace(layers["dw"], module=layers["dw"].module.part("depthwise"))
        x, depthwise_conv = conv_reference(as_conv, x)
        spatial = len(depthwise["kernel_size"])
        conv = torch.nn.Sequential()
        conv.add_module("depthwise", depthwise_conv)
        conv.add_module("pointwise", getattr(torch.nn, f"Conv{spatial}d")(**arguments["pointwise"]))
        load(conv, weights, "dw")
    with torch.no_grad():
        actual = channels_last(conv(x))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def test_same_padding_of_an_even_kernel_is_explicit(tmp_path):
    """torch's padding='same' of an even kernel pads as TensorFlow does but warns, at the first call, that it
    copies the input (in verify of real models, and in the user's own runs): the module pads explicitly instead,
    and computes what Keras does without a warning."""
    import warnings

    import keras
    import numpy as np

    import converter

    inputs = keras.Input((7, 6, 3))
    outputs = keras.layers.Conv2D(4, (2, 4), padding="same")(inputs)
    outputs = keras.layers.DepthwiseConv2D(2, padding="same")(outputs)
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "even.keras")
    model.save(path)
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    module = converter.to_torch(path, input_layout="keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with torch.no_grad():
            actual = module(torch.from_numpy(x)).numpy()
    assert np.abs(actual - np.asarray(model(x))).max() < LAYER_ATOL
