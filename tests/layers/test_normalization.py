"""BatchNormalization, LayerNormalization, GroupNormalization, Embedding and PReLU against Keras."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from layer_harness import (
    LAYER_ATOL, channels_first, channels_last, convert_file, load, max_diff, random_input, saved_model,
)

BATCH_NORM_CASES = [
    ((6,), dict()),
    ((7, 6), dict(momentum=0.9, epsilon=1e-2)),
    ((5, 5, 6), dict(center=False)),
    ((5, 5, 6), dict(scale=False, epsilon=0.5)),
    ((3, 4, 4, 6), dict(center=False, scale=False)),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("shape, options", BATCH_NORM_CASES, ids=[str(i) for i in range(len(BATCH_NORM_CASES))])
def test_batch_norm_matches_keras(tmp_path, writer, shape, options):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input(shape), keras.layers.BatchNormalization(name="bn", **options)]), writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    arguments = layers["bn"].module.record()
    assert arguments["eps"] == pytest.approx(options.get("epsilon", 1e-3))
    assert arguments["momentum"] == pytest.approx(1 - options.get("momentum", 0.99))
    norm = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}[
        len(shape) + 1](**arguments)
    load(norm, weights, "bn")
    norm.eval()
    x = torch.from_numpy(inputs)
    with torch.no_grad():
        actual = norm(x) if x.ndim == 2 else channels_last(norm(channels_first(x)))
    assert max_diff(model(inputs, training=False), actual) <= LAYER_ATOL


def test_batch_norm_eps_mistake_would_show(tmp_path):
    """PyTorch's default eps on Keras's statistics is visibly off: the tolerance catches it."""
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((6,)), keras.layers.BatchNormalization(name="bn")]), "keras3.keras", tmp_path)
    inputs = random_input((6,))
    weights, _ = convert_file(path)
    norm = torch.nn.BatchNorm1d(6)  # eps=1e-5, not Keras's 1e-3
    load(norm, weights, "bn")
    norm.eval()
    with torch.no_grad():
        assert max_diff(model(inputs), norm(torch.from_numpy(inputs))) > 10 * LAYER_ATOL


LAYER_NORM_CASES = [
    ((7, 6), dict()),
    ((7, 6), dict(epsilon=0.1, center=False)),
    ((7, 6), dict(scale=False)),
    ((4, 5, 6), dict(axis=[-2, -1])),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("shape, options", LAYER_NORM_CASES, ids=[str(i) for i in range(len(LAYER_NORM_CASES))])
def test_layer_norm_matches_keras(tmp_path, writer, shape, options):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input(shape), keras.layers.LayerNormalization(name="ln", **options)]), writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    arguments = layers["ln"].module.record()
    assert arguments["eps"] == pytest.approx(options.get("epsilon", 1e-3))
    norm = torch.nn.LayerNorm(**arguments)
    load(norm, weights, "ln")
    with torch.no_grad():
        actual = norm(torch.from_numpy(inputs))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def test_layer_norm_rms_scaling_warns_and_converts(tmp_path):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((7, 6)), keras.layers.LayerNormalization(name="ln", rms_scaling=True)]), "keras3.keras", tmp_path)
    inputs = random_input((7, 6))
    weights, layers = convert_file(path)
    assert "rms_scaling" in layers["ln"].warnings[0]
    assert layers["ln"].module.kind == "Weight"  # neither nn.LayerNorm nor nn.RMSNorm computes it
    x = torch.from_numpy(inputs)
    eps = layers["ln"].options["eps"]
    actual = x * torch.rsqrt(x.var(dim=-1, unbiased=False, keepdim=True) + eps) * weights["ln.weight"]
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


GROUP_NORM_CASES = [((7, 6), dict(groups=3)), ((4, 4, 8), dict(groups=2, epsilon=0.05)),
                    ((4, 4, 8), dict(groups=4, center=False)), ((7, 6), dict(groups=6, scale=False))]


@pytest.mark.parametrize("shape, options", GROUP_NORM_CASES, ids=[str(i) for i in range(len(GROUP_NORM_CASES))])
def test_group_norm_matches_keras(tmp_path, shape, options):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input(shape), keras.layers.GroupNormalization(name="gn", **options)]), "keras3.keras", tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    assert layers["gn"].module.record()["eps"] == pytest.approx(options.get("epsilon", 1e-3))
    norm = torch.nn.GroupNorm(**layers["gn"].module.record())
    load(norm, weights, "gn")
    with torch.no_grad():
        actual = channels_last(norm(channels_first(torch.from_numpy(inputs))))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_matches_keras(tmp_path, writer, mask_zero):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((5,), dtype="int32"), keras.layers.Embedding(12, 4, mask_zero=mask_zero, name="emb")]),
        writer, tmp_path)
    inputs = np.random.default_rng(0).integers(0, 12, (3, 5)).astype("int32")
    weights, layers = convert_file(path)
    embedding = torch.nn.Embedding(**layers["emb"].module.record())
    load(embedding, weights, "emb")
    with torch.no_grad():
        actual = embedding(torch.from_numpy(inputs).long())
    assert max_diff(model(inputs), actual) <= LAYER_ATOL
    assert bool(layers["emb"].warnings) == mask_zero


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("shape, shared_axes", [((5, 5, 3), [1, 2]), ((5, 5, 3), [1, 2, 3]), ((7, 3), None)])
def test_prelu_matches_keras(tmp_path, writer, shape, shared_axes):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input(shape), keras.layers.PReLU(shared_axes=shared_axes, name="act")]), writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    x = torch.from_numpy(inputs)
    if layers["act"].module.kind == "PReLU":
        prelu = torch.nn.PReLU(**layers["act"].module.record())
        load(prelu, weights, "act")
        with torch.no_grad():
            actual = channels_last(prelu(channels_first(x)))
    else:
        assert shared_axes is None and layers["act"].warnings
        actual = torch.where(x >= 0, x, weights["act.weight"] * x)
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def test_normalization_layer_matches_keras(tmp_path):
    """The preprocessing Normalization: its adapted mean and variance become buffers."""
    import converter

    def build(keras):
        layer = keras.layers.Normalization(axis=-1, name="norm")
        layer.adapt(np.random.default_rng(5).normal(2.0, 3.0, (64, 4, 3)).astype("float32"))
        return keras.Sequential([keras.Input((4, 3)), layer])

    import keras

    model = build(keras)
    path = str(tmp_path / "normalization.keras")
    model.save(path)
    weights, layers = convert_file(path)
    assert sorted(key for key in weights if key.startswith("norm.")) == ["norm.mean", "norm.variance"]
    assert layers["norm"].options["left_out"]  # count, said so
    inputs = random_input((4, 3))
    module = converter.to_torch(path)
    with torch.no_grad():
        assert max_diff(model(inputs), module(torch.from_numpy(inputs))) <= LAYER_ATOL


SPECTRAL_CASES = [
    ("dense", (5,), lambda keras: keras.layers.Dense(4)),
    ("conv", (6, 6, 2), lambda keras: keras.layers.Conv2D(3, 2)),
    ("embedding", (4,), lambda keras: keras.layers.Embedding(10, 3)),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5"])
@pytest.mark.parametrize("name, shape, inner", SPECTRAL_CASES, ids=[case[0] for case in SPECTRAL_CASES])
def test_spectral_normalization_matches_keras(tmp_path, writer, name, shape, inner):
    """The wrapped layer on its kernel as stored, in both formats of Keras 3 (an `.h5` stores the wrapper's second
    reference to the kernel once), its output cast to the input's dtype as Keras casts it (integer ids: integers)."""
    import converter

    ids = name == "embedding"
    model, path = saved_model(lambda keras: keras.Sequential([
        keras.Input(shape, dtype="int32" if ids else "float32"),
        keras.layers.SpectralNormalization(inner(keras), name="spectral")]), writer, tmp_path)
    inputs = (np.random.default_rng(0).integers(0, 10, (3,) + shape).astype("int32") if ids
              else random_input(shape))
    expected = np.asarray(model(inputs))
    module = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs))
    assert actual.numpy().dtype == expected.dtype
    assert max_diff(expected, actual) <= LAYER_ATOL
