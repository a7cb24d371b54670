"""Graphs built by to_torch against Keras (both layouts): several inputs and outputs, branches, shared
layers, masks into recurrent layers, a Flatten feeding a Dense and the output. One case per kind is in
tests/kind_cases.py."""
from __future__ import annotations

import numpy as np
import pytest

from build_harness import check


def sequential(shape, factory):
    return lambda keras: keras.Sequential([keras.Input(shape), factory(keras)])


def random(shape, seed=3):
    return np.random.default_rng(seed).normal(0, 1, (3,) + tuple(shape)).astype("float32")


def merge_model(keras, kind):
    a, b = keras.Input((4, 4, 3), name="a"), keras.Input((4, 4, 3), name="b")
    conv = keras.layers.Conv2D(3, 1, name="conv")(b)
    if kind == "Concatenate":
        merged = keras.layers.Concatenate()([a, conv])
    elif kind == "Concatenate_axis1":
        merged = keras.layers.Concatenate(axis=1)([a, conv])
    else:
        merged = getattr(keras.layers, kind)()([a, conv])
    pooled = keras.layers.GlobalAveragePooling2D()(merged)
    return keras.Model([a, b], [merged, keras.layers.Dense(2, name="head")(pooled)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("kind", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                                  "Concatenate_axis1"])
def test_merge_with_two_inputs_and_outputs_matches_keras(tmp_path, writer, kind):
    check(tmp_path, writer, lambda keras: merge_model(keras, kind), [random((4, 4, 3)), random((4, 4, 3), 4)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("axes, normalize, shape", [(1, False, (5,)), (1, True, (5,)), ((2, 2), False, (3, 4)),
                                                     ((1, 1), False, (3, 4))])
def test_dot_matches_keras(tmp_path, writer, axes, normalize, shape):
    def build(keras):
        a, b = keras.Input(shape), keras.Input(shape)
        return keras.Model([a, b], keras.layers.Dot(axes=axes, normalize=normalize)([a, b]))

    check(tmp_path, writer, build, [random(shape), random(shape, 4)])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_residual_branches_and_shared_layer_match_keras(tmp_path, writer):
    def build(keras):
        inputs = keras.Input((6, 6, 4))
        shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")
        x = shared(inputs)
        y = shared(keras.layers.ReLU()(x))  # the same layer called twice
        z = keras.layers.Add()([inputs, y])
        z = keras.layers.BatchNormalization()(z)
        return keras.Model(inputs, keras.layers.Flatten()(z))

    check(tmp_path, writer, build, [random((6, 6, 4))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_masking_propagates_to_recurrent_layers(tmp_path, writer):
    def build(keras):
        inputs = keras.Input((7, 3))
        x = keras.layers.Masking(mask_value=0.0)(inputs)
        x = keras.layers.GRU(4, return_sequences=True)(x)
        x = keras.layers.LSTM(3)(x)
        return keras.Model(inputs, x)

    values = random((7, 3))
    values[0, 4:] = 0.0
    values[2, :2] = 0.0
    check(tmp_path, writer, build, [values])


def test_lambda_layer_fails_naming_it(tmp_path):
    import converter
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2, name="double"),
                              keras.layers.Dense(2, name="head")])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"double \(Lambda\).*--lambda double="):
        converter.to_torch(path)


def test_an_operation_without_a_rule_fails_naming_it_as_an_operation(tmp_path):
    import converter
    import keras

    values = keras.Input((6,), name="values")
    model = keras.Model(values, keras.layers.Dense(2, name="head")(keras.ops.nanmax(values, axis=1, keepdims=True)))
    path = str(tmp_path / "nanmax.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError) as refused:
        converter.to_torch(path)
    assert "(keras.ops.numpy.Nanmax); no rule here builds those keras.ops operations yet" in str(refused.value)
    assert "Lambda" not in str(refused.value)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_flatten_feeding_a_dense_and_the_output_matches_keras(tmp_path, writer):
    """The Dense's rows are regrouped for (c, h, w); the Flatten's own output stays (h, w, c)."""
    def build(keras):
        inputs = keras.Input((5, 5, 2))
        flat = keras.layers.Flatten()(keras.layers.Conv2D(3, 2, name="conv")(inputs))
        dense = keras.layers.Dense(4, name="via_activation")(keras.layers.Activation("relu")(flat))
        return keras.Model(inputs, [flat, keras.layers.Dense(2, name="head")(flat), dense])

    check(tmp_path, writer, build, [random((5, 5, 2))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_layer_norm_without_weights_matches_keras(tmp_path, writer):
    check(tmp_path, writer, sequential((4, 6), lambda k: k.layers.LayerNormalization(center=False, scale=False)),
          [random((4, 6))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_names_that_collide_in_generated_source(tmp_path, writer):
    """Auto names dense and dense_1, a shared layer called twice, names equal once sanitised."""
    def build(keras):
        inputs = keras.Input((4,))
        dense = keras.layers.Dense(4, name="dense")
        a = dense(inputs)
        b = keras.layers.Dense(4, name="dense_1")(a)
        c = dense(b)  # the second call of `dense`: its value must not overwrite dense_1's
        d = keras.layers.Activation("relu", name="act-1")(c)
        e = keras.layers.Activation("tanh", name="act_1")(b)
        return keras.Model(inputs, [keras.layers.Add()([b, c]), keras.layers.Add()([d, e])])

    check(tmp_path, writer, build, [random((4,))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_models_named_after_the_runtime_classes(tmp_path, writer):
    """A model named `locally_connected` with a nested one named `einsum_dense`: their classes would be
    LocallyConnected and EinsumDense, weightport's own runtime classes, and replaced them (the module failed)."""
    def build(keras):
        inner_inputs = keras.Input((5, 6))
        inner = keras.Model(inner_inputs, keras.layers.Dense(6, name="dense")(inner_inputs), name="einsum_dense")
        inputs = keras.Input((5, 6))
        x = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="e", name="ed")(inputs)
        x = inner(keras.layers.Reshape((5, 6))(x))
        return keras.Model(inputs, x, name="locally_connected")

    check(tmp_path, writer, build, [random((5, 6))])


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("backward", ["same", "relu"])
def test_a_bidirectional_backward_layer_matches_keras_or_is_refused(tmp_path, writer, backward):
    """A `backward_layer` given to Bidirectional: like the forward layer it is built (one torch module computes
    both directions); with another activation it was built as the forward one (0.78 abs), now refused by name."""
    def build(keras):
        inputs = keras.Input((5, 3))
        forward = keras.layers.GRU(4, return_sequences=True, name="forward_gru")
        activation = "relu" if backward == "relu" else "tanh"
        reverse = keras.layers.GRU(4, return_sequences=True, go_backwards=True, activation=activation,
                                   name="backward_gru")
        return keras.Model(inputs, keras.layers.Bidirectional(forward, backward_layer=reverse, name="both")(inputs))

    if backward == "same":
        check(tmp_path, writer, build, [random((5, 3))])
        return
    import converter
    from layer_harness import keras_module

    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    build(keras_module(writer)).save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="backward layer has another activation"):
        converter.to_torch(path)


@pytest.mark.parametrize("wrapped", [False, True])
def test_time_major_recurrent_layers_are_refused_by_name(tmp_path, wrapped):
    """tf.keras's time_major=True reads the input's first axis as time: built as batch-major, the module ran and
    was wrong (0.26 abs); refused instead, its weights still converted."""
    import tf_keras as keras

    import converter

    inputs = keras.Input((5, 3))
    layer = keras.layers.LSTM(4, time_major=True, return_sequences=True, name="memory")
    if wrapped:
        layer = keras.layers.Bidirectional(layer, name="both_ways")
    path = str(tmp_path / "time_major.h5")
    keras.Model(inputs, layer(inputs)).save(path)
    assert any(key.endswith("weight_ih_l0") for key in converter.state_dict(path))
    with pytest.raises(converter.UnsupportedLayerError, match="time_major=True"):
        converter.to_torch(path)


def test_a_subclassed_models_weights_are_refused_saying_why(tmp_path):
    import keras

    import converter

    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4)
            self.head = keras.layers.Dense(2)

        def call(self, x):
            return self.head(self.hidden(x))

    model = Classifier()
    model(np.zeros((1, 3), "float32"))
    path = str(tmp_path / "classifier.weights.h5")
    model.save_weights(path)
    with pytest.raises(converter.UnsupportedLayerError, match="subclassed Keras model.*--import.*--like"):
        converter.convert(path, str(tmp_path / "out.safetensors"))
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_a_live_functional_model_builds_like_its_file(writer):
    """A live model's config holds tuples where a file's holds lists (its calls' args): read the same."""
    from build_harness import absolute_difference, keras_outputs, module_outputs
    from layer_harness import LAYER_ATOL, keras_module, randomize

    import converter

    keras = keras_module(writer)
    inputs = keras.Input((5, 5, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Add()([x, keras.layers.Conv2D(4, 1)(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    randomize(model, seed=2)
    expected = keras_outputs(model, [random((5, 5, 3))])
    for layout in ("torch", "keras"):
        module = converter.to_torch(model, input_layout=layout)
        assert absolute_difference(expected, module_outputs(module, [random((5, 5, 3))], layout)) <= LAYER_ATOL


def test_a_live_model_with_operations_builds_like_its_file():
    """Keras 3 operations in a functional graph (`x + y`, `ops.concatenate`) are in the live model's config but
    not among its layers (get_layer finds none; a model loaded with --import stopped there)."""
    from build_harness import absolute_difference, keras_outputs, module_outputs
    from layer_harness import LAYER_ATOL, keras_module, randomize

    import converter

    keras = keras_module("keras3")
    inputs = keras.Input((5, 4))
    x = keras.layers.Conv1D(4, 1, name="conv")(inputs)
    x = keras.ops.concatenate([x + inputs, keras.ops.tanh(x)], axis=-1)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    randomize(model, seed=6)
    assert any(".ops." in entry.get("module", "") for entry in model.get_config()["layers"])
    expected = keras_outputs(model, [random((5, 4))])
    for layout in ("torch", "keras"):
        module = converter.to_torch(model, input_layout=layout)
        assert absolute_difference(expected, module_outputs(module, [random((5, 4))], layout)) <= LAYER_ATOL


def test_locally_connected_other_implementations_are_refused_by_name(tmp_path):
    import tf_keras

    import converter

    model = tf_keras.Sequential([tf_keras.layers.LocallyConnected1D(3, 2, implementation=2, input_shape=(6, 2))])
    path = str(tmp_path / "masked.h5")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="implementation=2"):
        converter.state_dict(path)


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
def test_constants_move_with_the_module(tmp_path, writer):
    """Arrays in the graph (a numpy mean and std, Normalization and Rescaling given per-channel values,
    Discretization's boundaries) are buffers of the module: moved to another device with it (a tensor made in
    forward stayed on the CPU: 'Tensor on device cpu is not on the expected device', as on a GPU), left out of
    the state_dict, and computing as Keras does."""
    import torch

    import converter
    from build_harness import module_outputs

    def build(keras):
        x = keras.Input((4, 5, 3), name="image")
        if writer == "keras3":
            x_normalized = (x - np.array([0.485, 0.456, 0.406], "float32")) / np.array([0.229, 0.224, 0.225],
                                                                                      "float32")
        else:
            import tensorflow as tf

            x_normalized = tf.math.subtract(x, tf.constant([0.485, 0.456, 0.406])) * 2.0
        h = keras.layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0], name="normalization")(
            x_normalized)
        h = keras.layers.Rescaling([0.5, 1.0, 2.0], offset=[0.0, 1.0, -1.0], name="rescaling")(h)
        bins = keras.layers.Discretization(bin_boundaries=[-1.0, 0.0, 1.0], name="bins")(h)
        return keras.Model(x, [keras.layers.Conv2D(2, 1, name="conv")(h), bins])

    inputs = [np.random.default_rng(6).normal(0, 1, (2, 4, 5, 3)).astype("float32")]
    path = check(tmp_path, writer, build, inputs)
    module = converter.to_torch(path)
    assert sorted(module.state_dict()) == ["conv.bias", "conv.weight"]
    expected = module_outputs(module, inputs, "torch")
    on_meta = module.to("meta")(torch.empty(2, 3, 4, 5, device="meta"))
    assert [tuple(o.shape) for o in on_meta] == [tuple(np.moveaxis(e, -1, 1).shape) for e in expected]


def test_a_value_per_sample_is_the_same_in_both_layouts(tmp_path):
    """A (batch,) value (a mean over the features) has no axis to move: a PReLU of it was given a permute to
    channels-first and failed (fuzzer seed 261036)."""
    def build(keras):
        x = keras.Input((5,), name="features")
        per_sample = keras.ops.mean(x, axis=-1)
        prelu = keras.layers.PReLU(name="prelu")(keras.ops.relu(per_sample) - 0.5)
        return keras.Model(x, [prelu, keras.layers.Activation("tanh", name="tanh")(per_sample) * 2.0])

    check(tmp_path, "keras3", build, [np.random.default_rng(7).normal(0, 1, (3, 5)).astype("float32")])
