"""A Keras 3 `.h5` as Keras 3 loads it (converter/readers/keras3_h5_loading.py).

Its legacy loader drops a layer's `axis` list of more than one entry (the layer takes its default, -1): a
weightless Softmax, UnitNormalization or LayerNormalization then computes over the last axis, and so does the
module, saying so. A `.keras` archive, a wrapped layer and a LayerNormalization with weights (which Keras cannot load
so) keep their axes. Keras 3.0 to 3.8 drop an int axis too, and 3.0 to 3.5 never finalize an adapted Normalization:
the module keeps what was saved (as later Keras load it) and names those layers. An adapted Normalization in a
nested model or a TimeDistributed is never finalized by any Keras 3: built as Keras loads it, its input unchanged.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import converter
from helpers import keras3


def several_axes_model(keras):
    inputs = keras.Input((2, 3, 4))
    inner = keras.Sequential([keras.Input((2, 3, 4)), keras.layers.UnitNormalization(axis=(1, 3), name="un_inner")],
                             name="inner")
    outputs = [
        keras.layers.Softmax(axis=[1, 2], name="softmax")(inputs),
        keras.layers.UnitNormalization(axis=[1, 2], name="unit")(inputs),
        keras.layers.LayerNormalization(axis=[2, 3], center=False, scale=False, name="plain_norm")(inputs),
        inner(inputs),
        keras.layers.TimeDistributed(keras.layers.UnitNormalization(axis=[1, 2]), name="wrapped")(inputs),
        keras.layers.Softmax(axis=[2], name="one_axis")(inputs),
    ]
    return keras.Model(inputs, outputs)


def module_outputs(path, x: np.ndarray) -> list[np.ndarray]:
    module = converter.to_torch(str(path), input_layout="keras")
    with torch.no_grad():
        return [output.numpy() for output in module(torch.from_numpy(x))]


def test_a_keras3_h5_computes_as_keras_loads_it(tmp_path):
    keras = keras3()
    model = several_axes_model(keras)
    x = np.random.default_rng(0).normal(0, 2, (3, 2, 3, 4)).astype("float32")
    model.save(tmp_path / "m.h5")
    loaded = keras.saving.load_model(tmp_path / "m.h5", compile=False)
    expected = [np.asarray(output) for output in loaded(x)]
    live = [np.asarray(output) for output in model(x)]
    # the premise: Keras's loading changed the four layers, and only them
    changed = [not np.allclose(a, b, atol=1e-5) for a, b in zip(expected, live)]
    assert changed == [True, True, True, True, False, False]
    with pytest.warns(converter.ConversionWarning) as caught:
        actual = module_outputs(tmp_path / "m.h5", x)
    for name, (want, got) in zip(("softmax", "unit", "plain_norm", "inner", "wrapped", "one_axis"),
                                 zip(expected, actual)):
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)
    messages = [str(warning.message) for warning in caught]
    for key, axis in (("softmax", "[1, 2]"), ("unit", "[1, 2]"), ("plain_norm", "[2, 3]"),
                      ("inner.un_inner", "[1, 3]")):
        assert any(message.startswith(f"layer {key} (") and f"saves axis {axis}, which Keras 3 drops" in message
                   for message in messages), key
    assert not any("wrapped" in message or "one_axis" in message for message in messages)


def test_a_keras_archive_keeps_its_axes(tmp_path):
    keras = keras3()
    model = several_axes_model(keras)
    x = np.random.default_rng(1).normal(0, 2, (3, 2, 3, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    for want, got in zip(model(x), module_outputs(tmp_path / "m.keras", x)):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)


def test_a_layer_normalization_with_weights_keeps_its_axes(tmp_path):
    """Its gamma and beta fit the saved axes: Keras 3 cannot load the file (shape mismatch), the module is the model
    that was saved."""
    keras = keras3()
    inputs = keras.Input((2, 3, 4))
    model = keras.Model(inputs, keras.layers.LayerNormalization(axis=[1, 2])(inputs))
    rng = np.random.default_rng(2)
    for weight in model.weights:
        weight.assign(rng.normal(1, 0.5, weight.shape).astype("float32"))
    model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="(?i)shape"):
        keras.saving.load_model(tmp_path / "m.h5", compile=False)
    x = rng.normal(0, 2, (3, 2, 3, 4)).astype("float32")
    module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), np.asarray(model(x)), atol=1e-5)


@pytest.mark.parametrize("version, warned", [("3.6.0", True), ("3.9.2", False)])
def test_an_int_axis_is_kept_and_keras_3_8_loading_it_named(tmp_path, version, warned):
    """Keras 3.0 to 3.8 load a `.h5` without an int axis too; the module keeps it, as the model was saved and as
    Keras 3.9 on load it, and names the layers an earlier Keras loads otherwise."""
    keras = keras3()
    keras.backend.clear_session()  # the operations' names, softmax and concatenate, are Keras's
    inputs = keras.Input((5, 1))
    scores = keras.layers.Softmax(axis=1, name="over_steps")(inputs)  # attention weights over the steps
    joined = keras.layers.Concatenate(axis=1, name="joined")([scores, inputs])
    # operations Keras loads from a .h5 as the layers of their names (named by Keras: softmax, concatenate)
    operations = keras.ops.concatenate([keras.ops.softmax(inputs * 2.0, axis=1), inputs], axis=1)
    model = keras.Model(inputs, [joined, keras.layers.Softmax(name="last")(inputs), operations])
    model.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["keras_version"] = version  # the file as that Keras writes it: only the loader differs
    x = np.random.default_rng(4).normal(0, 2, (3, 5, 1)).astype("float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        actual = module_outputs(tmp_path / "m.h5", x)
    for want, got in zip(model(x), actual):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, converter.ConversionWarning)]
    named = sorted(key for key in ("over_steps", "joined", "last", "softmax", "concatenate")
                   if any(message.startswith(f"layer {key} (") and "Keras 3.0 to 3.8 drop" in message
                          for message in messages))
    assert named == (["concatenate", "joined", "over_steps", "softmax"] if warned else [])


def adapted(keras, name: str, seed: int, policy: str = "float32"):
    layer = keras.layers.Normalization(name=name, dtype=policy)
    layer.adapt(np.random.default_rng(seed).normal(3, 2, (40, 4)).astype("float32"))
    return layer


def test_an_adapted_normalization_keras_3_never_finalizes_computes_as_keras_loads_it(tmp_path):
    """In a nested model or a TimeDistributed, Keras 3 loads it from a `.h5` with its initial statistics (its input
    unchanged): so does the module, saying so; at the top level it keeps its statistics, as Keras 3.6 on load it."""
    keras = keras3()
    inner = keras.Sequential([keras.Input((4,)), adapted(keras, "nested_norm", 0), keras.layers.Dense(3)], name="inner")
    vector, steps = keras.Input((4,)), keras.Input((2, 4))
    model = keras.Model([vector, steps], [
        inner(vector), keras.layers.TimeDistributed(adapted(keras, "wrapped_norm", 1), name="per_step")(steps),
        adapted(keras, "top_norm", 2)(vector)])
    rng = np.random.default_rng(5)
    dense = inner.layers[-1]
    for weight in dense.weights:
        weight.assign(rng.normal(0, 1, weight.shape).astype("float32"))
    model.save(tmp_path / "m.h5")
    loaded = keras.saving.load_model(tmp_path / "m.h5", compile=False)
    xs = [rng.normal(3, 2, (3, 4)).astype("float32"), rng.normal(3, 2, (3, 2, 4)).astype("float32")]
    expected = [np.asarray(output) for output in loaded(xs)]
    live = [np.asarray(output) for output in model(xs)]
    assert [not np.allclose(a, b, atol=1e-3) for a, b in zip(expected, live)] == [True, True, False]  # the premise
    module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        actual = [output.numpy() for output in module(*[torch.from_numpy(x) for x in xs])]
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got, want, atol=1e-5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conversion = converter.convert(str(tmp_path / "m.h5"), str(tmp_path / "out.safetensors"))
    messages = [str(warning.message) for warning in caught]
    for key, where in (("inner.nested_norm", "a nested model"), ("per_step", "a TimeDistributed")):
        assert any(message.startswith(f"layer {key} (") and f"Normalization in {where}" in message
                   for message in messages), key
    keys = [tensor.key for tensor in conversion.tensors]
    assert any(key.startswith("top_norm") for key in keys)
    assert not any(key.startswith(("inner.nested_norm", "per_step")) for key in keys)


def test_an_adapted_normalization_of_keras_3_5_keeps_its_statistics_and_says_so(tmp_path):
    keras = keras3()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, adapted(keras, "norm", 3)(inputs))
    model.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["keras_version"] = "3.5.0"  # the file as that Keras writes it: only its loader differs
    x = np.random.default_rng(6).normal(3, 2, (3, 4)).astype("float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), np.asarray(model(x)), atol=1e-5)
    assert any("Keras 3.0 to 3.5 load an adapted Normalization" in str(warning.message) for warning in caught)


def masked_concatenations(keras):
    """keras.ops.concatenate of masked sequences, over the features and over the steps, each pooled after."""
    keras.backend.clear_session()  # the operations' names, concatenate and concatenate_1, are Keras's
    ids = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(5, 3, mask_zero=True, name="embedding")(ids)
    pooled = [keras.layers.GlobalAveragePooling1D(name=f"pool_{axis}")(
        keras.ops.concatenate([embedded, keras.layers.Dense(3, name=f"dense_{axis}")(embedded)], axis=axis))
        for axis in (-1, 1)]
    model = keras.Model(ids, pooled)
    rng = np.random.default_rng(7)
    for weight in model.weights:
        weight.assign(rng.normal(0, 1, weight.shape).astype("float32"))
    return model


def test_an_operation_concatenate_passes_masks_on_as_keras_loads_it(tmp_path):
    """Keras 3 loads keras.ops.concatenate from a `.h5` as the Concatenate layer, which passes its inputs' masks on
    (the operation did not): the pooling after it is masked once loaded. So is the module's, saying so; a `.keras`
    archive keeps the operation."""
    keras = keras3()
    model = masked_concatenations(keras)
    ids = np.array([[1, 2, 0, 3, 0, 0], [4, 4, 1, 0, 2, 0], [0, 1, 2, 3, 4, 1]], dtype="int32")
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.h5", compile=False)
    expected = [np.asarray(output) for output in loaded(ids)]
    live = [np.asarray(output) for output in model(ids)]
    assert all(not np.allclose(a, b, atol=1e-3) for a, b in zip(expected, live))  # the premise
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        actual = [output.numpy() for output in module(torch.from_numpy(ids))]
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got, want, atol=1e-5)
    messages = [str(warning.message) for warning in caught]
    for key in ("concatenate", "concatenate_1"):
        assert any(message.startswith(f"layer {key} (Concatenate): Keras 3 loads keras.ops.concatenate")
                   for message in messages), key
    for want, got in zip(live, module_outputs(tmp_path / "m.keras", ids)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_operation_concatenate_of_keras_3_3_computes_as_saved(tmp_path):
    """Keras 3.0 to 3.3 give a layer called on a list of tensors no mask: the Concatenate layer they load computes as
    the operation, and nothing is said."""
    keras = keras3()
    model = masked_concatenations(keras)
    model.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["keras_version"] = "3.3.3"  # the file as that Keras writes it: only its loader differs
    ids = np.array([[1, 2, 0, 3, 0, 0], [4, 4, 1, 0, 2, 0]], dtype="int32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        actual = module_outputs(tmp_path / "m.h5", ids)
    for want, got in zip(model(ids), actual):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)
    assert not any("keras.ops.concatenate" in str(warning.message) for warning in caught)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_an_adapted_normalization_of_a_file_keras_wrote_on_torch(tmp_path, policy):
    """Keras on torch computes with views of a Normalization's weights, which loading fills in place: every adapted
    Normalization loads with its statistics, nested or wrapped too (checked with Keras 3.0.5 to 3.15 on torch), but
    one whose policy is mixed (its cast to float16 is a copy), which loads as on TensorFlow."""
    keras = keras3()
    inner = keras.Sequential([keras.Input((4,)), adapted(keras, "nested_norm", 0, policy)], name="inner")
    vector, steps = keras.Input((4,)), keras.Input((2, 4))
    model = keras.Model([vector, steps], [
        inner(vector), keras.layers.TimeDistributed(adapted(keras, "wrapped_norm", 1, policy), name="per_step")(steps),
        adapted(keras, "top_norm", 2, policy)(vector)])
    model.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(tmp_path / "m.h5", "r+") as h5:
        h5.attrs["backend"] = "torch"  # the file as Keras writes it on torch: only the loading differs
    rng = np.random.default_rng(8)
    xs = [rng.normal(3, 2, (3, 4)).astype("float32"), rng.normal(3, 2, (3, 2, 4)).astype("float32")]
    live = [np.asarray(output, dtype="float32") for output in model(xs)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        actual = [output.float().numpy() for output in module(*[torch.from_numpy(x) for x in xs])]
    unchanged = policy.startswith("mixed")  # nested and wrapped: their input unchanged
    for want, got, x in zip(live, actual, [xs[0], xs[1], None]):
        np.testing.assert_allclose(got, x if unchanged and x is not None else want, atol=1e-2 if unchanged else 1e-5)
    messages = [str(warning.message) for warning in caught]
    for key in ("inner.nested_norm", "per_step"):
        said = "Keras on torch, which wrote this file" if not unchanged else "so Keras computes it as its input"
        assert any(message.startswith(f"layer {key} (") and said in message for message in messages), key
