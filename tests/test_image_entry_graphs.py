"""Random entries of image models (property-based): images of uint8, int32 or float32 through a few of the layers
models put first (Rescaling, Normalization, augmentation layers, Resizing, CenterCrop, a bilinear UpSampling2D),
under a float32 or a mixed_float16 policy, then a layer that reads them (a Conv2D, a pooling, a Dense) or none.
The module must compute what Keras does, dtype and values, or refuse by name. Each of these layers casts an
integer input to its compute dtype, or keeps its dtype, by its own rule and Keras version
(tests/test_resize_dtypes.py, tests/test_mixed_precision_ops.py prove the ones someone thought of); these draw
their combinations."""
from __future__ import annotations

import collections
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_harness import keras_module, randomize, saved_module_output

Step = Callable[[Any, Any, str], Any]  # (keras, images, policy) -> the next images


def _steps(writer: str) -> dict[str, Step]:
    """Layers that take images (batch, height, width, 3) to images. Resizes only double (or keep) the size: their
    weights are then exact in floats, so a rounded integer result is the same in every Keras backend and torch."""
    def layer(name: str, *args: Any, **kwargs: Any) -> Step:
        return lambda k, x, policy: getattr(k.layers, name)(*args, dtype=policy, **kwargs)(x)

    def doubled(k: Any, x: Any, policy: str) -> Any:
        return k.layers.Resizing(2 * x.shape[1], 2 * x.shape[2], dtype=policy)(x)

    steps = {
        "rescaling": layer("Rescaling", 1 / 255), "rescaling_offset": layer("Rescaling", 1 / 127.5, offset=-1.0),
        "normalization": layer("Normalization", mean=[100.0, 110.0, 120.0], variance=[900.0, 1000.0, 1100.0]),
        "flip": layer("RandomFlip"), "rotation": layer("RandomRotation", 0.1), "zoom": layer("RandomZoom", 0.1),
        "contrast": layer("RandomContrast", 0.2), "brightness": layer("RandomBrightness", 0.2),
        "resizing_doubled": doubled, "resizing_nearest": layer("Resizing", 8, 8, interpolation="nearest"),
        "center_crop": layer("CenterCrop", 3, 3), "upsampling_bilinear": layer("UpSampling2D", 2,
                                                                                interpolation="bilinear"),
        "max_pooling": layer("MaxPooling2D", 2),
    }
    if writer == "keras3":
        steps.update({"sharpness": layer("RandomSharpness", 0.2), "hue": layer("RandomHue", 0.2)})
    return steps


CONSUMERS: dict[str, Step] = {
    "conv": lambda k, x, policy: k.layers.Conv2D(2, 3, padding="same", dtype=policy)(x),
    "average": lambda k, x, policy: k.layers.GlobalAveragePooling2D(dtype=policy)(x),
    "dense": lambda k, x, policy: k.layers.Dense(2, dtype=policy)(k.layers.Flatten(dtype=policy)(x)),
    "none": lambda k, x, policy: x,
}
OUTCOMES: dict[str, collections.Counter[str]] = {"keras3": collections.Counter(), "keras2": collections.Counter()}


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_random_image_entries_compute_as_keras_does(tmp_path, writer):
    keras = keras_module(writer)
    steps = _steps(writer)
    outcomes = OUTCOMES[writer]

    @settings(max_examples=50, derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        dtype = data.draw(st.sampled_from(["uint8", "int32", "float32"]), label="dtype")
        policy = data.draw(st.sampled_from(["float32", "mixed_float16"]), label="policy")
        path_names = data.draw(st.lists(st.sampled_from(sorted(steps)), min_size=1, max_size=3), label="steps")
        consumer = data.draw(st.sampled_from(sorted(CONSUMERS)), label="consumer")
        images = np.random.default_rng(len(path_names)).integers(0, 250, (2, 4, 4, 3)).astype(dtype)
        try:
            inputs = keras.Input((4, 4, 3), dtype=dtype, name="images")
            x = inputs
            for name in path_names:
                x = steps[name](keras, x, policy)
            model = keras.Model(inputs, CONSUMERS[consumer](keras, x, policy))
            randomize(model, 3)
            expected = np.asarray(model(images, training=False))
        except Exception:  # noqa: BLE001 - a path Keras itself refuses (a Conv2D of integers)
            outcomes["keras refused"] += 1
            return
        if not np.all(np.isfinite(expected.astype("float64"))):  # TensorFlow's float16 mean of 1024 pixels: inf
            outcomes["keras not finite"] += 1
            return
        got = saved_module_output(model, writer, tmp_path, images)
        if got is None:
            outcomes["refused by name"] += 1
            return
        described = f"{dtype} {policy}: {path_names} then {consumer}"
        assert str(got.dtype) == f"torch.{expected.dtype}", (described, got.dtype, expected.dtype)
        # float16 rounding of a few layers, and TensorFlow's mean of float16, which is 1% off the exact one where
        # torch's is exact (a mean of 256 values near 128: 128.6 against 127.125), as the fuzzer allows
        low = policy != "float32" and np.issubdtype(expected.dtype, np.floating)
        scale = max(1.0, float(np.abs(expected.astype("float64")).max()))
        np.testing.assert_allclose(got.double().numpy(), expected.astype("float64"), rtol=0,
                                   atol=(2e-2 if low else 1e-5) * scale, err_msg=described)
        outcomes["matched"] += 1

    check()
    # the property proves something only when most paths are really compared
    assert outcomes["matched"] >= 0.5 * sum(outcomes.values()), dict(outcomes)
