"""Keras 3 int8-quantized layers (model.quantize("int8")): dequantized, and built as Keras computes them."""
from __future__ import annotations

import numpy as np
import pytest

import converter
from build_harness import keras_outputs, relative_difference, torch_outputs
from layer_harness import randomize

keras = pytest.importorskip("keras")

#: outputs relative to their largest value: float32 rounding of the same products (measured ~2e-7);
#: leaving out the input quantization gives ~1e-2
QUANTIZED_RTOL = 2e-6


def quantized_file(tmp_path, build, config=None, mode: str = "int8") -> tuple[object, str]:
    """Build, randomize (biases non-zero), quantize, save and load back; returns (model, path)."""
    model = build()
    randomize(model, seed=5)
    model.quantize(mode, config=config) if config is not None else model.quantize(mode)
    path = str(tmp_path / "quantized.keras")
    model.save(path)
    return keras.saving.load_model(path, compile=False), path


def dense_stack():
    inputs = keras.Input((24,))
    x = keras.layers.Dense(32, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(5, use_bias=False, name="head")(x))


def conv_flatten_dense():
    return keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                             keras.layers.Flatten(), keras.layers.Dense(7, name="head")])


def embedding_dense():
    return keras.Sequential([keras.Input((9,), dtype="int32"), keras.layers.Embedding(40, 8, name="table"),
                             keras.layers.Dense(3, name="head")])


def compare(model, path: str, inputs: np.ndarray) -> None:
    expected = keras_outputs(model, [inputs])
    for layout in ("torch", "keras"):
        assert relative_difference(expected, torch_outputs(path, [inputs], layout)) <= QUANTIZED_RTOL, layout


def einsum_dense():
    return keras.Sequential([keras.Input((3, 6)), keras.layers.EinsumDense("abc,cd->abd", (3, 4), bias_axes="d",
                                                                          activation="relu"),
                             keras.layers.EinsumDense("abc,cd->abd", (3, 2))])  # Keras cannot quantize `...`


@pytest.mark.parametrize("build, shape", [(dense_stack, (24,)), (conv_flatten_dense, (6, 6, 3)),
                                          (einsum_dense, (3, 6))], ids=["dense", "flatten-dense", "einsum-dense"])
def test_int8_dense_matches_keras_in_both_layouts(tmp_path, build, shape):
    model, path = quantized_file(tmp_path, build)
    compare(model, path, np.random.default_rng(3).normal(size=(16,) + shape).astype("float32") * 3)


def test_without_the_input_quantization_outputs_differ(tmp_path):
    """The check above can fail: the float model Keras quantized is measurably off the int8 one."""
    import torch

    model, path = quantized_file(tmp_path, dense_stack)
    inputs = np.random.default_rng(3).normal(size=(16, 24)).astype("float32") * 3
    weights = {key: torch.from_numpy(np.array(value)) for key, value in converter.state_dict(path).items()}
    with torch.no_grad():
        x = torch.relu(torch.nn.functional.linear(torch.from_numpy(inputs), weights["hidden.weight"],
                                                  weights["hidden.bias"]))
        plain = torch.nn.functional.linear(x, weights["head.weight"]).numpy()
    assert relative_difference(keras_outputs(model, [inputs]), [plain]) > 100 * QUANTIZED_RTOL


def test_int8_embedding_is_dequantized_exactly(tmp_path):
    model, path = quantized_file(tmp_path, embedding_dense)
    ids = np.random.default_rng(4).integers(0, 40, size=(6, 9)).astype("int32")
    compare(model, path, ids)
    table = converter.state_dict(path)["table.weight"]
    looked_up = keras.Model(model.inputs, model.get_layer("table").output)(ids)
    np.testing.assert_array_equal(np.asarray(table)[ids], np.asarray(looked_up))


def test_weight_only_quantization_leaves_the_inputs_alone(tmp_path):
    from keras.quantizers import AbsMaxQuantizer, Int8QuantizationConfig

    config = Int8QuantizationConfig(weight_quantizer=AbsMaxQuantizer(axis=0), activation_quantizer=None)
    model, path = quantized_file(tmp_path, dense_stack, config)
    compare(model, path, np.random.default_rng(3).normal(size=(16, 24)).astype("float32"))
    assert not [warning for warning in converter.inspect(path).to_dict()["warnings"] if "its inputs" in warning]


def test_the_record_and_the_warning_say_what_was_done(tmp_path):
    _, path = quantized_file(tmp_path, dense_stack)
    with converter.read(path) as graph:
        conversion = converter.convert_graph(graph)
    record = {entry["key"]: entry for entry in conversion.record()}
    assert record["hidden.weight"]["transform"] == "dequantize (int8 / kernel_scale); transpose(1,0)"
    assert record["hidden.bias"]["transform"] == "none"
    assert len([w for w in conversion.warnings if "int8-quantized" in w and "inputs" in w]) == 2
    kept = converter.state_dict(path, layout="keras")  # --layout keras: the stored tensors as they are
    assert kept["hidden.kernel"].dtype == np.int8 and kept["hidden.kernel_scale"].shape == (32,)


def test_quantized_attention_is_refused_saying_quantized(tmp_path):
    tokens = keras.Input((5, 8))
    model = keras.Model(tokens, keras.layers.MultiHeadAttention(2, 4)(tokens, tokens))
    model.quantize("int8")
    path = str(tmp_path / "attention.keras")
    model.save(path)  # (Keras 3.15 itself cannot load this file back)
    with pytest.raises(converter.LayoutError, match=r"multi_head_attention.*int8 tensors.*sublayers are quantized"):
        converter.state_dict(path)


def test_quantized_weights_without_their_config_say_so(tmp_path):
    model, _ = quantized_file(tmp_path, dense_stack)
    path = str(tmp_path / "quantized.weights.h5")
    model.save_weights(path)
    with pytest.raises(converter.LayoutError, match=r"int8 tensors.*quantized.*--architecture"):
        converter.state_dict(path)
    architecture = str(tmp_path / "quantized.keras")  # with the config, they convert
    assert converter.state_dict(path, architecture=architecture).keys() == converter.state_dict(architecture).keys()


def test_other_quantization_modes_are_refused_by_name(tmp_path):
    _, path = quantized_file(tmp_path, dense_stack, mode="int4")
    with pytest.raises(converter.LayoutError, match=r"int4\S*-quantized.*dequantizes int8 only"):
        converter.state_dict(path)


def test_a_live_quantized_model_builds_like_its_file(tmp_path):
    from build_harness import module_outputs

    model, _ = quantized_file(tmp_path, dense_stack)
    inputs = np.random.default_rng(6).normal(size=(8, 24)).astype("float32")
    module = converter.to_torch(model)
    assert relative_difference(keras_outputs(model, [inputs]), module_outputs(module, [inputs], "torch")) \
        <= QUANTIZED_RTOL
