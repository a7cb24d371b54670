"""Operations between layers of a mixed_float16 model: a cast to float32 read by a float16 layer, a matmul or
einsum of a float16 tensor and a float32 one, an l2 normalize of float16. The module stopped at run time on each
("mat1 and mat2 must have the same dtype", "expected scalar type Half but found Float", "value cannot be converted
to type c10::Half without overflow") where Keras casts or promotes as it computes. And the layers at a model's entry
that cast integer images to their compute dtype (Rescaling, Normalization, augmentation), and their own constants."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from layer_harness import keras_module, randomize

MIXED = "mixed_float16"


def mixed_path(keras, case: str, x):
    """`x` (float32) through float16 layers and an operation between them."""
    layers = keras.layers
    hidden = layers.Dense(4, dtype=MIXED, name="hidden")(x)
    head = layers.Dense(3, dtype=MIXED, name="head")
    if case == "cast_float32":  # a float16 layer casts the float32 tensor back to float16
        if keras.__name__ == "keras":
            return head(keras.ops.cast(hidden, "float32"))
        import tensorflow as tf

        return head(tf.cast(hidden, "float32"))
    ops = keras.ops
    if case == "matmul":  # float16 @ float32: float32
        return head(ops.matmul(hidden, ops.transpose(x, (0, 2, 1))))
    if case == "einsum":
        return head(ops.einsum("bij,bkj->bik", hidden, x))
    if case == "normalize":  # Keras's bound on the inverse norm (1 / epsilon) is inf in float16
        return head(ops.normalize(hidden, axis=-1))
    raise ValueError(case)


@pytest.mark.parametrize("writer,case", [("keras3", "cast_float32"), ("keras2", "cast_float32"), ("keras3", "matmul"),
                                         ("keras3", "einsum"), ("keras3", "normalize")])
def test_an_operation_between_mixed_precision_layers_computes_as_keras_does(tmp_path, writer, case):
    keras = keras_module(writer)
    inputs = keras.Input((6, 4), name="x")
    model = keras.Model(inputs, mixed_path(keras, case, inputs))
    randomize(model, 3)
    path = str(tmp_path / ("mixed.keras" if writer == "keras3" else "mixed.h5"))
    model.save(path)
    x = np.random.default_rng(14).normal(size=(3, 6, 4)).astype("float32")
    assert_float16_module_computes_as_keras(model, path, x)


def assert_float16_module_computes_as_keras(model, path: str, x: np.ndarray) -> None:
    """The module built from `path` gives `model`'s dtype on `x`, and its values within float16 rounding of a few
    layers: a few units of its last place (1e-3) at the outputs' scale."""
    expected = np.asarray(model(x))
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(x))
    assert str(got.dtype) == f"torch.{expected.dtype}"
    np.testing.assert_allclose(got.float().numpy(), expected.astype("float32"), rtol=0,
                               atol=1e-2 * max(1.0, float(np.abs(expected.astype("float32")).max())))


@pytest.mark.parametrize("writer,policy", [("keras2", "mixed_float16"), ("keras2", "mixed_bfloat16"),
                                           ("keras3", "mixed_float16")])
def test_a_bilinear_upsampling_of_a_mixed_precision_model_has_keras_dtype(tmp_path, writer, policy):
    """tf.keras's bilinear UpSampling2D resizes with tf.image.resize, which gives float32 of float16 and bfloat16
    images: the module rounded its output to float16 (1e-3 off). Keras 3's resize keeps the images' dtype."""
    keras = keras_module(writer)
    inputs = keras.Input((5, 5, 3), name="x")
    # on the input itself (cast to float16 alike): a layer before it would round differently in torch and Keras
    model = keras.Model(inputs, keras.layers.UpSampling2D(2, interpolation="bilinear", dtype=policy, name="up")(inputs))
    path = str(tmp_path / ("mixed.keras" if writer == "keras3" else "mixed.h5"))
    model.save(path)
    x = np.random.default_rng(15).normal(size=(2, 5, 5, 3)).astype("float32")
    expected = np.asarray(model(x))
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(x))
    assert str(got.dtype) == f"torch.{expected.dtype}"
    np.testing.assert_allclose(got.float().numpy(), expected.astype("float32"), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype,function", [("float16", "resize"), ("bfloat16", "resize"), ("float16", "v1"),
                                            ("int32", "resize"), ("float16", "nearest")])
def test_a_tensorflow_resize_gives_float32_as_tensorflow_does(tmp_path, dtype, function):
    """tf.image.resize (other than by nearest neighbours) and tf.compat.v1.image.resize_bilinear give float32 of
    float16, bfloat16 or integer images: the module gave float16 (1e-3 off) and stopped on integers."""
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((5, 5, 3), dtype="int32" if dtype == "int32" else "float32", name="x")
    images = inputs if dtype == "int32" else tf_keras.layers.Activation("linear", dtype=f"mixed_{dtype}",
                                                                         name="rounded")(inputs)
    if function == "v1":
        resized = tf.compat.v1.image.resize_bilinear(images, (9, 9), align_corners=True)
    else:
        resized = tf.image.resize(images, (9, 9), method="nearest" if function == "nearest" else "bilinear")
    model = tf_keras.Model(inputs, resized)
    path = str(tmp_path / "resize.h5")
    model.save(path)
    x = np.random.default_rng(16).normal(size=(2, 5, 5, 3)) * 4
    x = x.astype("int32" if dtype == "int32" else "float32")
    expected = np.asarray(model(x))
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(x))
    assert str(got.dtype) == f"torch.{expected.dtype}"
    np.testing.assert_allclose(got.float().numpy(), expected.astype("float32"), rtol=0, atol=1e-5)


def entry_path(keras, case: str, x):
    """Images `x` into the preprocessing at a mixed_float16 model's entry, then a float16 Conv2D."""
    layers = keras.layers
    if case == "rescaling":
        x = layers.Rescaling(1 / 255, dtype=MIXED, name="scale")(x)
    elif case == "rescaling_per_channel":
        x = layers.Rescaling([0.5, 0.25, 0.125], offset=[1.0, 2.0, 3.0], dtype=MIXED, name="scale")(x)
    elif case == "normalization_given":  # mean and variance in the config: buffers the module made float32
        x = layers.Normalization(mean=[100.0, 110.0, 120.0], variance=[900.0, 1000.0, 1100.0], dtype=MIXED,
                                 name="normalize")(x)
    else:
        raise ValueError(case)
    return layers.Conv2D(3, 3, padding="same", dtype=MIXED, name="conv")(x)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("case,dtype", [("rescaling", "uint8"), ("rescaling", "int32"),
                                        ("rescaling_per_channel", "uint8"), ("rescaling_per_channel", "float32"),
                                        ("normalization_given", "uint8"), ("normalization_given", "float32")])
def test_preprocessing_at_a_mixed_precision_model_s_entry_computes_in_float16(tmp_path, writer, case, dtype):
    """Rescaling and Normalization cast their input to their compute dtype, integers too, and their constants: the
    module computed them in float32, and the float16 Conv2D after them stopped at run time ("Input type
    (torch.FloatTensor) and weight type (torch.HalfTensor) should be the same")."""
    keras = keras_module(writer)
    inputs = keras.Input((6, 6, 3), dtype=dtype, name="images")
    model = keras.Model(inputs, entry_path(keras, case, inputs))
    randomize(model, 3)
    path = str(tmp_path / ("entry.keras" if writer == "keras3" else "entry.h5"))
    model.save(path)
    images = np.random.default_rng(15).integers(0, 250, (2, 6, 6, 3)).astype(dtype)
    assert_float16_module_computes_as_keras(model, path, images)


@pytest.mark.parametrize("writer,layer,policy,casts", [
    ("keras3", "RandomFlip", "float32", True), ("keras3", "RandomRotation", MIXED, True),
    ("keras3", "RandAugment", "float32", True), ("keras3", "RandomContrast", "float32", False),
    ("keras2", "RandomFlip", "float32", True), ("keras2", "RandomZoom", MIXED, True),
    ("keras2", "RandomContrast", "float32", True), ("keras2", "RandomHeight", "float32", False)])
def test_an_augmentation_layer_gives_integer_images_in_keras_s_dtype(tmp_path, writer, layer, policy, casts):
    """At inference the geometric augmentation layers cast an integer input to their compute dtype (and tf.keras's
    contrast and brightness ones); others keep it: the module kept it always, and the Conv2D after stopped at run
    time ("Input type (unsigned char) and bias type (float) should be the same")."""
    keras = keras_module(writer)
    factor = {"RandomRotation": (0.1,), "RandomZoom": (0.1,), "RandomContrast": (0.2,), "RandomHeight": (0.2,)}
    inputs = keras.Input((6, 6, 3), dtype="uint8", name="images")
    augmented = getattr(keras.layers, layer)(*factor.get(layer, ()), dtype=policy, name="augment")(inputs)
    outputs = [augmented, keras.layers.Conv2D(3, 3, dtype=policy, name="conv")(augmented)] if casts else [augmented]
    model = keras.Model(inputs, outputs)
    randomize(model, 3)
    path = str(tmp_path / ("augment.keras" if writer == "keras3" else "augment.h5"))
    model.save(path)
    images = np.random.default_rng(16).integers(0, 250, (2, 6, 6, 3)).astype("uint8")
    expected = model(images, training=False)
    with torch.no_grad():
        got = converter.to_torch(path, input_layout="keras")(torch.from_numpy(images))
    for value, reference in zip(got if casts else [got], expected if casts else [expected]):
        reference = np.asarray(reference)
        assert str(value.dtype) == f"torch.{reference.dtype}"
        np.testing.assert_allclose(value.float().numpy(), reference.astype("float32"), rtol=0,
                                   atol=1e-2 * max(1.0, float(np.abs(reference.astype("float32")).max())))


@pytest.mark.parametrize("version,dtype", [("3.5.0", torch.float32), ("3.6.0", torch.uint8)])
def test_keras_3_before_3_6_cast_integers_in_its_contrast_layer_too(tmp_path, version, dtype):
    """RandomContrast and RandomBrightness cast an integer input to floats at inference in Keras 3.0 to 3.5, and keep
    it from 3.6 (probed on Keras 3.3.3, 3.4.1, 3.5.0 and every minor version from 3.6 to 3.15)."""
    from helpers import with_keras_version

    keras = keras_module("keras3")
    inputs = keras.Input((6, 6, 3), dtype="uint8", name="images")
    keras.Model(inputs, keras.layers.RandomContrast(0.2, name="augment")(inputs)).save(str(tmp_path / "new.keras"))
    path = with_keras_version(tmp_path / "new.keras", tmp_path / "versioned.keras", version)
    images = np.random.default_rng(17).integers(0, 250, (2, 6, 6, 3)).astype("uint8")
    with torch.no_grad():
        got = converter.to_torch(str(path), input_layout="keras")(torch.from_numpy(images))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), images)
