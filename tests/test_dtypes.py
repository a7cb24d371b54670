"""Models that compute in float16, bfloat16, float64 or mixed precision: to_torch, export and verify.

Each layer of the PyTorch model holds its parameters in the dtype it computes in (bfloat16
ones as real torch.bfloat16) and casts its floating inputs to it, as Keras does; the outputs
match Keras within that dtype's precision (verification.TOLERANCES).
"""
from __future__ import annotations

import importlib.util
import json
import sys

import h5py
import numpy as np
import pytest
import torch

import converter
from build_harness import to_channels_first, to_channels_last
from converter.verification import TOLERANCES
from layer_harness import keras_module, randomize

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}
# (writer, policy): tf.keras has no bfloat16 convolution on CPU, so its bfloat16 runs are of Dense models
POLICIES = [("keras3", "bfloat16"), ("keras3", "float16"), ("keras3", "mixed_float16"), ("keras3", "mixed_bfloat16"),
            ("keras3", "float64"), ("keras2", "mixed_float16"), ("keras2", "float16"), ("keras2", "float64"),
            ("keras2", "mixed_bfloat16")]


def build(keras, policy: str, image: bool):
    """Layers in `policy`, an operation (Keras 3) between them, and a float32 head, as mixed-precision guides say."""
    inputs = keras.Input((6, 6, 3) if image else (10,))
    x = inputs
    if image:
        x = keras.layers.Conv2D(4, 3, dtype=policy)(x)
        x = keras.layers.BatchNormalization(dtype=policy)(x)
        x = keras.layers.Flatten(dtype=policy)(x)
    x = keras.layers.Dense(7, activation="relu", dtype=policy)(x)
    if keras.__name__ == "keras":
        x = x * 2.0 - 0.5
    x = keras.layers.LayerNormalization(dtype=policy)(x)
    low = keras.layers.Dense(5, dtype=policy, name="low")(x)
    head = keras.layers.Dense(3, dtype="float32", name="head")(low)
    return keras.Model(inputs, [low, head])


def compute_dtype(policy: str) -> str:
    return policy.split("_")[-1]


@pytest.mark.parametrize("writer, policy", POLICIES, ids=[f"{w}-{p}" for w, p in POLICIES])
def test_low_precision_models_match_keras_in_their_dtype(tmp_path, writer, policy):
    keras = keras_module(writer)
    image = not (writer == "keras2" and "bfloat16" in policy)
    model = build(keras, policy, image)
    randomize(model, seed=5)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    rng = np.random.default_rng(0)
    inputs = rng.normal(0, 1, (4,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    expected = [np.asarray(output, np.float64) for output in model(inputs, training=False)]
    atol, rtol = TOLERANCES[compute_dtype(policy)]
    for layout in ("keras", "torch"):
        module = converter.to_torch(path, input_layout=layout)
        parameters = dict(module.named_parameters())
        assert parameters["low.weight"].dtype == TORCH_DTYPES[compute_dtype(policy)]
        assert parameters["head.weight"].dtype == torch.float32
        feed = torch.from_numpy(to_channels_first(inputs) if layout == "torch" else inputs)
        with torch.no_grad():
            actual = [output.double().numpy() for output in module(feed)]
        for e, a in zip(expected, actual):
            assert np.max(np.abs(e - a)) <= atol + rtol * np.max(np.abs(e)), (layout, np.max(np.abs(e - a)))
        assert actual[0].dtype == np.float64 and module(feed)[0].dtype == TORCH_DTYPES[compute_dtype(policy)]
    report = converter.verify(path)
    lowest = "float32" if policy == "float64" else compute_dtype(policy)  # the head computes in float32
    assert report.ok and report.precision == lowest, report.to_text()


def test_bfloat16_weights_are_real_bfloat16_in_to_torch_and_export(tmp_path):
    """The uint16 bit patterns Keras stores become torch.bfloat16 values, equal to Keras's."""
    import keras

    model = build(keras, "bfloat16", image=False)
    randomize(model, seed=2)
    path = str(tmp_path / "bf16.keras")
    model.save(path)
    expected = np.asarray(model.get_layer("low").kernel.value, np.float32).T
    module = converter.to_torch(path)
    assert torch.equal(module.low.weight.float(), torch.from_numpy(np.ascontiguousarray(expected)))
    model_file, _ = converter.export(path, str(tmp_path / "bf16_model.py"))
    spec = importlib.util.spec_from_file_location("bf16_model", model_file)
    exported = importlib.util.module_from_spec(spec)
    sys.modules["bf16_model"] = exported
    spec.loader.exec_module(exported)
    loaded = exported.load()
    assert loaded.low.weight.dtype == torch.bfloat16
    assert torch.equal(loaded.low.weight, module.low.weight)
    x = torch.randn(3, 10)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), module(x)))


def test_float64_comparison_runs_both_sides_in_float64(tmp_path):
    """verify --float64: a float32 model rebuilt in float64 on both sides agrees to float64 rounding."""
    import keras

    verified_in_float64(build(keras, "float32", image=True), tmp_path, "keras3")


def verified_in_float64(model, tmp_path, writer):
    """verify --float64 of `model` (random weights) agrees to float64 rounding; its report."""
    randomize(model, seed=4)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    report = converter.verify(path, precision="float64", per_layer=True)
    assert report.ok and report.precision == "float64", report.to_text()
    assert max(row.max_rel for row in report.outputs + report.layers) < 1e-12, report.to_text()
    return report


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("nested", [False, True])
def test_float64_comparison_of_a_float32_model_with_casts(tmp_path, writer, nested):
    """A float32 model casting to float16 and back (`tf.cast` records its dtype among the call's arguments, not
    in a layer's config), in the model or in a model nested in it: in float64 the Keras twin casts to float64
    there, and so must the module. It failed with "mat1 and mat2 must have the same dtype" (tf.keras; the
    fuzzer's seed 300333)."""
    keras = keras_module(writer)
    ops = keras.ops if writer == "keras3" else pytest.importorskip("tensorflow")
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, name="first")(inputs)
    x = ops.cast(ops.cast(x, "float16"), "float32")
    model = keras.Model(inputs, keras.layers.Dense(3, name="second")(x), name="casting")
    if nested:
        outer_inputs = keras.Input((6,))
        model = keras.Model(outer_inputs, keras.layers.Dense(2, name="after")(model(outer_inputs)))
    verified_in_float64(model, tmp_path, writer)


@pytest.mark.parametrize("writer, policy", [("keras3", "mixed_float16"), ("keras3", "bfloat16"),
                                            ("keras2", "float16")])
def test_float64_comparison_of_a_low_precision_model(tmp_path, writer, policy):
    """verify --float64 of a float16 or bfloat16 model: every layer computes in float64 on both sides (the module
    built casts nothing down), its weights upcast, and the two agree to float64 rounding: what separates a model
    amplifying its own rounding from a wrong convention (it was refused)."""
    keras = keras_module(writer)
    assert len(verified_in_float64(build(keras, policy, image=True), tmp_path, writer).layers) >= 5


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("attention", ["float32", "float64"])
def test_tensors_passed_by_keyword_are_cast_to_the_layer_dtype(tmp_path, writer, attention):
    """Keras casts every floating argument of a layer to its compute dtype, keyword ones too: tf.keras records a
    MultiHeadAttention's value as `value=`, which was passed on uncast (torch: "mat1 and mat2 must have the
    same dtype"; found by the random-graph fuzzer, seeds 54145 and 54797)."""
    from build_harness import check

    def build_model(keras):
        query = keras.Input((4, 3), name="query")
        other = "float32" if attention == "float64" else "float64"
        value = keras.layers.Dense(3, dtype=other, name="value")(query)
        return keras.Model(query, keras.layers.MultiHeadAttention(2, 2, dtype=attention, name="attention")(
            query, value=value, key=value))

    check(tmp_path, writer, build_model, [np.random.default_rng(2).normal(0, 1, (3, 4, 3)).astype("float32")])


@pytest.mark.parametrize("layer", ["GRU", "LSTM"])
def test_initial_states_are_cast_to_the_layer_dtype(tmp_path, layer):
    """Keras 3 casts a recurrent layer's initial_state to its compute dtype (tf.keras refuses to mix them)."""
    from build_harness import check

    def build_model(keras):
        sequence = keras.Input((5, 3), name="sequence")
        summary = keras.layers.GlobalAveragePooling1D(name="summary")(sequence)
        states = [keras.layers.Dense(4, name=f"state_{index}")(summary) for index in range(2 if layer == "LSTM" else 1)]
        return keras.Model(sequence, getattr(keras.layers, layer)(4, dtype="float64", name="recurrent")(
            sequence, initial_state=states))

    check(tmp_path, "keras3", build_model, [np.random.default_rng(3).normal(0, 1, (3, 5, 3)).astype("float32")])


def test_an_operation_of_float32_and_float64_tensors_computes_in_float64(tmp_path):
    """Keras 3 (and torch) promote float32 + float64 to float64; the layers after it cast that to their own dtype
    (it was taken for float32 and left uncast: "mat1 and mat2 must have the same dtype"; fuzzer seed 56818)."""
    from build_harness import check

    def build_model(keras):
        sequence = keras.Input((5, 3), name="sequence")
        wide = keras.layers.Dense(3, dtype="float64", name="wide")(sequence)
        mixed = wide + keras.layers.Dense(3, name="narrow")(sequence)
        return keras.Model(sequence, [keras.layers.LSTM(2, name="recurrent")(mixed), mixed * 2.0])

    check(tmp_path, "keras3", build_model, [np.random.default_rng(4).normal(0, 1, (3, 5, 3)).astype("float32")])


def test_an_operation_given_its_tensor_by_keyword_keeps_its_dtype(tmp_path):
    """tf.keras records `2.0 * x` as tf.math.multiply(2.0, y=x): the float64 tensor, given by keyword, made the
    product float32 to the layers after it, left uncast ("expected scalar type Float but found Double"; fuzzer
    seed 220383). Compared with the live model: tf.keras itself cannot load this file back (it makes the 2.0 a
    float32 tensor then)."""
    from build_harness import absolute_difference, keras_outputs, torch_outputs
    from layer_harness import LAYER_ATOL

    keras = keras_module("keras2")
    sequence = keras.Input((5, 3), name="sequence")
    wide = keras.layers.Dense(4, dtype="float64", name="wide")(sequence)
    model = keras.Model(sequence, [keras.layers.Dense(2, name="narrow")(2.0 * wide), 0.5 - wide])
    randomize(model, seed=11)
    path = str(tmp_path / "model.h5")
    model.save(path)
    inputs = [np.random.default_rng(5).normal(0, 1, (3, 5, 3)).astype("float32")]
    for layout in ("torch", "keras"):
        assert absolute_difference(keras_outputs(model, inputs), torch_outputs(path, inputs, layout)) <= LAYER_ATOL


def test_channels_first_layout_keeps_dtypes(tmp_path):
    """The torch layout's permutes happen in the dtype of the value permuted."""
    import keras

    model = build(keras, "float16", image=True)
    randomize(model, seed=1)
    path = str(tmp_path / "half.keras")
    model.save(path)
    module = converter.to_torch(path, input_layout="torch")
    x = np.random.default_rng(1).normal(0, 1, (2, 6, 6, 3)).astype("float32")
    with torch.no_grad():
        low, head = module(torch.from_numpy(to_channels_first(x)))
    assert low.dtype == torch.float16 and head.dtype == torch.float32
    assert to_channels_last(head.numpy()).shape == (2, 3)


def test_a_quantized_model_is_refused_by_name(tmp_path):
    """Keras 3 `model.quantize("int4")` (int8 converts: tests/layers/test_quantized.py): the refusal says
    quantized, not "unexpected tensor vars/2"."""
    import warnings

    import keras

    from helpers import run_cli

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.quantize("int4")
    path = str(tmp_path / "q.keras")
    model.save(path)
    result = run_cli("convert", path, str(tmp_path / "q.safetensors"))
    assert result.returncode == 2 and "int4" in result.stderr and "-quantized" in result.stderr
    assert "fc" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_float64_comparison_of_a_file_recording_the_first_layers_dtype_only(tmp_path):
    """Keras 2.0 to 2.2 record a dtype in the first layer's config only: the others compute in float64 in the
    Keras twin, and must in the module. It failed with "mat1 and mat2 must have the same dtype" (a Keras 2.2 LSTM
    of a public repository, whose float32 comparison differs by chaos: the reason to use --float64)."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.LSTM(4, recurrent_activation="hard_sigmoid", input_shape=(5, 3)),
                                 tf_keras.layers.Dense(2), tf_keras.layers.Activation("softmax")])
    randomize(model, seed=4)
    path = tmp_path / "keras22.h5"
    model.save(path)
    with h5py.File(path, "r+") as file:
        config = json.loads(file.attrs["model_config"])
        for layer in config["config"]["layers"][1:]:
            layer["config"].pop("dtype", None)
        file.attrs["model_config"] = json.dumps(config)
    report = converter.verify(str(path), precision="float64", per_layer=True)
    assert report.ok and max(row.max_rel for row in report.outputs + report.layers) < 1e-12, report.to_text()


# (writer, wrapper, wrapper's policy, wrapped layer's policy): a float32 output layer under a mixed global policy,
# and a mixed layer in a float32 model
WRAPPED = [(writer, wrapper, outer, inner) for writer in ("keras3", "keras2") for wrapper in ("TimeDistributed",
           "Bidirectional") for outer, inner in (("mixed_float16", "float32"), ("float32", "mixed_float16"))]


@pytest.mark.parametrize("writer, wrapper, outer, inner", WRAPPED, ids=["-".join(case) for case in WRAPPED])
def test_a_wrapped_layer_of_another_policy_than_its_wrapper(tmp_path, writer, wrapper, outer, inner):
    """Keras 3's TimeDistributed runs the wrapped layer's `call` under its own policy: the layer computes in the
    wrapper's dtype. tf.keras's, and every Bidirectional, call the layer: it casts its input to its own dtype. The
    module holds its parameters in that dtype (it raised at run time: a float16 input to float32 weights)."""
    keras = keras_module(writer)
    inputs = keras.Input((5, 4))
    if wrapper == "TimeDistributed":
        layer = keras.layers.TimeDistributed(keras.layers.Dense(3, dtype=inner), name="wrapped", dtype=outer)
    else:
        layer = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True, dtype=inner), name="wrapped",
                                           dtype=outer)
    if wrapper == "Bidirectional" and writer == "keras3":  # from float32 states, which the LSTM casts (tf.keras fails)
        summary = keras.layers.GlobalAveragePooling1D()(inputs)
        states = [keras.layers.Dense(3, activation="tanh")(summary) for _ in range(4)]
        sequence = layer(inputs, initial_state=states)
    else:
        sequence = layer(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, dtype="float32", name="head")(sequence))
    randomize(model, seed=6)
    path = str(tmp_path / ("model.keras" if writer == "keras3" else "model.h5"))
    model.save(path)
    computes = outer if wrapper == "TimeDistributed" and writer == "keras3" else inner
    x = np.random.default_rng(1).normal(0, 1, (3, 5, 4)).astype("float32")
    expected = np.asarray(model(x), np.float64)
    module = converter.to_torch(path, input_layout="keras")
    assert {parameter.dtype for name, parameter in module.named_parameters() if name.startswith("wrapped.")} == \
        {TORCH_DTYPES[compute_dtype(computes)]}
    with torch.no_grad():
        actual = module(torch.from_numpy(x)).double().numpy()
    atol, rtol = TOLERANCES[compute_dtype(computes)]
    worst = np.max(np.abs(expected - actual))
    assert worst <= atol + rtol * np.max(np.abs(expected)), worst
