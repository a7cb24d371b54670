"""Images of integers (uint8 photographs, int32 masks), float64 or float16 through every resize: the module gives
Keras's dtype and values (converter/kinds/resize_dtypes.py). Before, torch refused to interpolate int32 and int64
at run time, and interpolated uint8 with a rounding of its own (1 off, silently); tf.keras's float32 results and
its preprocessing layers' casts were not followed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from helpers import with_keras_version
from layer_harness import keras_module


def resize_path(keras, writer: str, case: str, x):
    """`x`, images (batch, 4, 4, 2), through one resize (after an Add where the builder cannot tell the sum is
    integers: "add_..."), and a mean after it where named."""
    layers = keras.layers
    if case.startswith("add_"):
        x, case = layers.Add(name="add")([x, x]), case[len("add_"):]
    if case == "upsampling":
        return layers.UpSampling2D(2, interpolation="bilinear", name="up")(x)
    if case == "upsampling_float64":  # tf.keras: TensorFlow's resize gives float32 of a float64 layer too
        return layers.UpSampling2D(2, interpolation="bilinear", dtype="float64", name="up")(x)
    if case == "upsampling_average":  # tf.keras's mean of its float32 result is a mean of floats, not truncated
        return layers.GlobalAveragePooling2D(name="average")(
            layers.UpSampling2D(2, interpolation="bilinear", name="up")(x))
    if case == "resizing":
        return layers.Resizing(8, 6, name="resize")(x)
    if case == "resizing_nearest":
        return layers.Resizing(8, 8, interpolation="nearest", name="resize")(x)
    if case == "center_crop":
        return layers.CenterCrop(2, 3, name="crop")(x)
    if case == "center_crop_resized":  # larger than the images: resized to it
        return layers.CenterCrop(6, 6, name="crop")(x)
    if case == "random_crop":  # tf.keras's at inference: the centred window of its aspect ratio, resized
        return layers.RandomCrop(2, 3, name="crop")(x)
    if writer == "keras3":
        resize = keras.ops.image.resize
        if case == "resize":
            return resize(x, (8, 8))
        if case == "resize_nearest":
            return resize(x, (8, 8), interpolation="nearest")
        if case == "resize_padded":
            return resize(x, (8, 6), pad_to_aspect_ratio=True, fill_value=2.0)
        if case == "resize_mean":
            return keras.ops.mean(resize(x, (8, 8)), axis=(1, 2))
    else:
        import tensorflow as tf
        if case == "resize":
            return tf.image.resize(x, (8, 8))
        if case == "resize_nearest":
            return tf.image.resize(x, (8, 8), method="nearest")
        if case == "resize_bilinear_v1":
            return tf.compat.v1.image.resize_bilinear(x, (8, 8), align_corners=True)
    raise ValueError(case)


CASES = [
    ("keras3", "upsampling", "uint8"), ("keras3", "add_upsampling", "int32"), ("keras3", "resize", "int64"),
    ("keras3", "resize_nearest", "int32"), ("keras3", "add_resize_nearest", "int64"),
    ("keras3", "add_resize_padded", "uint8"), ("keras3", "resizing", "uint8"), ("keras3", "center_crop", "int32"),
    ("keras3", "center_crop_resized", "uint8"), ("keras3", "add_resize_mean", "int32"),
    ("keras2", "upsampling", "int32"), ("keras2", "upsampling", "uint8"), ("keras2", "add_upsampling", "int64"),
    ("keras2", "upsampling_float64", "float32"), ("keras2", "upsampling_average", "int32"),
    ("keras2", "resize_nearest", "int32"), ("keras2", "add_resize", "int32"),
    ("keras2", "add_resize_bilinear_v1", "uint8"), ("keras2", "resizing", "uint8"),
    ("keras2", "resizing_nearest", "int32"), ("keras2", "center_crop", "int64"),
    ("keras2", "center_crop_resized", "uint8"), ("keras2", "random_crop", "int32"),
]


def model_of(writer: str, case: str, dtype: str):
    keras = keras_module(writer)
    inputs = keras.Input((4, 4, 2), dtype=dtype, name="images")
    return keras.Model(inputs, resize_path(keras, writer, case, inputs))


def saved(tmp_path, writer: str, case: str, dtype: str):
    model = model_of(writer, case, dtype)
    path = tmp_path / ("images.keras" if writer == "keras3" else "images.h5")
    model.save(str(path))
    return model, path


@pytest.mark.parametrize("writer,case,dtype", CASES)
def test_images_of_any_dtype_are_resized_as_keras_resizes_them(tmp_path, writer, case, dtype):
    model, path = saved(tmp_path, writer, case, dtype)
    images = np.random.default_rng(3).integers(0, 120, (2, 4, 4, 2)).astype(dtype)  # an Add does not overflow
    expected = np.asarray(model(images, training=False))  # a RandomCrop crops at random in training
    with torch.no_grad():
        got = converter.to_torch(str(path), input_layout="keras")(torch.from_numpy(images)).numpy()
    assert got.dtype == expected.dtype
    if np.issubdtype(expected.dtype, np.floating):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1.0, float(np.abs(expected).max())))
        return
    # Keras 3 rounds the float resize half to even. Where that lies on a half, float noise decides (TensorFlow's
    # resize gives 178.50002 where torch's gives 178.5: 179 and 178), so there one either way is Keras's.
    floats = np.asarray(model_of(writer, case, "float32")(images.astype("float32"), training=False))
    ties = np.abs(floats - np.floor(floats) - 0.5) < 1e-3
    np.testing.assert_array_equal(got[~ties], expected[~ties])
    assert np.abs(got[ties].astype("int64") - expected[ties]).max(initial=0) <= 1


def test_integer_images_resized_by_keras_3_before_3_6_are_refused_by_name(tmp_path):
    """Before 3.6 each Keras 3 backend resized integers by its own rule; which one ran, the file does not say."""
    _, path = saved(tmp_path, "keras3", "resize", "uint8")
    old = with_keras_version(path, tmp_path / "old.keras", "3.5.0")
    with pytest.raises(converter.UnsupportedLayerError, match=r"integer images in Keras 3\.5: before 3\.6"):
        converter.to_torch(str(old))
    converter.to_torch(str(with_keras_version(path, tmp_path / "new.keras", "3.6.0")))  # from 3.6 it is built


@pytest.mark.parametrize("writer,dtype", [("keras3", "uint8"), ("keras3", "int32"), ("keras2", "int32"),
                                          ("keras2", "uint8")])
def test_a_time_distributed_resize_of_integer_images_computes_as_keras_does(tmp_path, writer, dtype):
    """The wrapped layer is told its input is integers, as the wrapper's is: it was not, and the module stopped at
    run time (int32) or gave uint8 where tf.keras gives float32."""
    keras = keras_module(writer)
    inputs = keras.Input((3, 4, 4, 2), dtype=dtype, name="frames")
    upsampling = keras.layers.UpSampling2D(2, interpolation="bilinear")  # twice: no value on a half but exact ones
    model = keras.Model(inputs, keras.layers.TimeDistributed(upsampling, name="frames_up")(inputs))
    path = tmp_path / ("frames.keras" if writer == "keras3" else "frames.h5")
    model.save(str(path))
    frames = np.random.default_rng(5).integers(0, 250, (2, 3, 4, 4, 2)).astype(dtype)
    expected = np.asarray(model(frames))
    with torch.no_grad():
        got = converter.to_torch(str(path), input_layout="keras")(torch.from_numpy(frames)).numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype,target", [("uint8", "float32"), ("int16", "float32"), ("int32", "float64"),
                                          ("uint8", "float16"), ("float32", "float16"), ("float64", "float32"),
                                          ("float32", "float32")])
def test_convert_image_dtype_gives_tensorflow_s_floats(tmp_path, dtype, target):
    """tf.image.convert_image_dtype in a tf.keras model (refused by name before): integers scaled by 1 / their
    dtype's maximum, floats cast; bit for bit."""
    import tensorflow as tf

    keras = keras_module("keras2")
    inputs = keras.Input((4, 4, 3), dtype=dtype, name="images")
    model = keras.Model(inputs, tf.image.convert_image_dtype(inputs, getattr(tf, target)))
    model.save(str(tmp_path / "convert.h5"))
    low, high = (0, 250) if dtype == "uint8" else (-30000, 30000)
    images = np.random.default_rng(19).integers(low, high, (2, 4, 4, 3)).astype(dtype)
    if dtype.startswith("float"):
        images = (images / 7.0).astype(dtype)
    expected = np.asarray(model(images))
    with torch.no_grad():
        got = converter.to_torch(str(tmp_path / "convert.h5"), input_layout="keras")(torch.from_numpy(images))
    assert str(got.dtype) == f"torch.{expected.dtype}"
    np.testing.assert_array_equal(got.numpy(), expected)
