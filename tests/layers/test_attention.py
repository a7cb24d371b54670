"""MultiHeadAttention and EinsumDense against Keras."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import converter
from layer_harness import LAYER_ATOL, convert_file, load, max_diff, random_input, saved_model


def attention_model(keras, heads, key_dim, cross, **options):
    query = keras.Input((5, 8), name="q")
    if cross:
        value = keras.Input((7, 6), name="v")
        output = keras.layers.MultiHeadAttention(heads, key_dim, name="mha", **options)(query, value)
        return keras.Model([query, value], output)
    return keras.Model(query, keras.layers.MultiHeadAttention(heads, key_dim, name="mha", **options)(query, query))


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_packed_attention_matches_keras(tmp_path, writer, use_bias):
    model, path = saved_model(lambda keras: attention_model(keras, 2, 4, False, use_bias=use_bias), writer, tmp_path)
    inputs = random_input((5, 8))
    weights, layers = convert_file(path)
    assert layers["mha"].module.kind == "MultiheadAttention"
    attention = torch.nn.MultiheadAttention(**layers["mha"].module.record())
    load(attention, weights, "mha")
    x = torch.from_numpy(inputs)
    with torch.no_grad():
        actual, _ = attention(x, x, x, need_weights=False)
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("key_dim, value_dim, cross", [(3, None, False), (4, 2, False), (3, None, True)])
def test_linear_projection_attention_matches_keras(tmp_path, writer, key_dim, value_dim, cross):
    model, path = saved_model(lambda keras: attention_model(keras, 2, key_dim, cross, value_dim=value_dim),
                              writer, tmp_path)
    query = random_input((5, 8))
    value = random_input((7, 6), seed=2) if cross else query
    weights, layers = convert_file(path)
    arguments, options = layers["mha"].module.record(), layers["mha"].options
    assert layers["mha"].module.kind == "ModuleDict"
    projections = {}
    for role in ("query", "key", "value", "output"):
        projections[role] = torch.nn.Linear(**arguments[role])
        load(projections[role], weights, f"mha.{role}")
    heads = options["num_heads"]
    q_in, v_in = torch.from_numpy(query), torch.from_numpy(value)
    with torch.no_grad():
        q = projections["query"](q_in).unflatten(-1, (heads, -1)).transpose(1, 2)
        k = projections["key"](v_in).unflatten(-1, (heads, -1)).transpose(1, 2)
        v = projections["value"](v_in).unflatten(-1, (heads, -1)).transpose(1, 2)
        scores = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(options["key_dim"]), -1)
        actual = projections["output"]((scores @ v).transpose(1, 2).flatten(2))
    expected = model([query, value]) if cross else model(query)
    assert max_diff(expected, actual) <= LAYER_ATOL


@pytest.mark.parametrize("equation, shape, output, bias_axes", [
    ("ab,bc->ac", (6,), (4,), "c"), ("abc,cd->abd", (5, 6), (None, 4), "d"), ("abc,cd->abd", (5, 6), (None, 4), None),
])
def test_einsum_dense_as_dense_matches_keras(tmp_path, equation, shape, output, bias_axes):
    model, path = saved_model(lambda keras: keras.Sequential([keras.Input(shape), keras.layers.EinsumDense(
        equation, output_shape=output, bias_axes=bias_axes, name="ed")]), "keras3.keras", tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    linear = torch.nn.Linear(**layers["ed"].module.record())
    load(linear, weights, "ed")
    with torch.no_grad():
        assert max_diff(model(inputs), linear(torch.from_numpy(inputs))) <= LAYER_ATOL


def test_einsum_dense_that_is_not_a_dense_keeps_kernel_and_bias_as_stored(tmp_path):
    """Its module computes Keras's own einsum: the kernel (6, 2, 3) and bias (2, 3) go in unchanged (the kind
    cases compare its outputs with Keras's)."""
    model, path = saved_model(lambda keras: keras.Sequential([keras.Input((5, 6)), keras.layers.EinsumDense(
        "abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", name="ed")]), "keras3.keras", tmp_path)
    weights = converter.state_dict(path)
    layer = model.get_layer("ed")
    assert sorted(weights) == ["ed.bias", "ed.weight"]
    assert (weights["ed.weight"] == np.asarray(layer.kernel)).all() and weights["ed.weight"].shape == (6, 2, 3)
    assert (weights["ed.bias"] == np.asarray(layer.bias)).all() and weights["ed.bias"].shape == (2, 3)
