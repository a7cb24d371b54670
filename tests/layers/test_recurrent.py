"""LSTM, GRU, SimpleRNN, stacked, Bidirectional and TimeDistributed against Keras."""
from __future__ import annotations

import pytest
import torch

import converter

from layer_harness import (
    LAYER_ATOL, channels_first, channels_last, convert_file, load, max_diff, random_input, saved_model,
)

TORCH_CLASSES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}


def torch_rnn(class_name: str, arguments: dict) -> torch.nn.Module:
    """The module a user writes, from the converted constructor arguments."""
    return TORCH_CLASSES[class_name](**arguments)


def run(module: torch.nn.Module, x: torch.Tensor, options: dict) -> torch.Tensor:
    """Keras's return_sequences and go_backwards around torch's module."""
    if options["go_backwards"]:
        x = x.flip(1)  # Keras returns the sequence in processing (reversed) order
    output, _ = module(x)
    return output if options["return_sequences"] else output[:, -1]


RNN_CASES = [
    ("LSTM", dict()),
    ("LSTM", dict(return_sequences=True, use_bias=False)),
    ("LSTM", dict(return_sequences=True, go_backwards=True)),
    ("GRU", dict()),
    ("GRU", dict(return_sequences=True, go_backwards=True)),
    ("GRU", dict(use_bias=False)),
    ("SimpleRNN", dict(return_sequences=True)),
    ("SimpleRNN", dict(activation="relu", go_backwards=True)),
]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5", "keras2.h5"])
@pytest.mark.parametrize("class_name, options", RNN_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(RNN_CASES)])
def test_recurrent_layer_matches_keras(tmp_path, writer, class_name, options):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((6, 3)), getattr(keras.layers, class_name)(5, name="rnn", **options)]), writer, tmp_path)
    inputs = random_input((6, 3))
    weights, layers = convert_file(path)
    assert not layers["rnn"].warnings
    module = torch_rnn(class_name, layers["rnn"].module.record())
    load(module, weights, "rnn")
    with torch.no_grad():
        actual = run(module, torch.from_numpy(inputs), layers["rnn"].options)
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


@pytest.mark.parametrize("class_name", ["LSTM", "GRU"])
def test_stacked_recurrent_layers_match_keras(tmp_path, class_name):
    def build(keras):
        layer = getattr(keras.layers, class_name)
        return keras.Sequential([keras.Input((6, 3)), layer(5, return_sequences=True, name="first"),
                                 layer(4, name="second")])

    model, path = saved_model(build, "keras3.keras", tmp_path)
    inputs = random_input((6, 3))
    weights, layers = convert_file(path)
    x = torch.from_numpy(inputs)
    for name in ("first", "second"):
        module = torch_rnn(class_name, layers[name].module.record())
        load(module, weights, name)
        with torch.no_grad():
            x = run(module, x, layers[name].options)
    assert max_diff(model(inputs), x) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_gru_reset_before_is_warned_and_its_weights_are_right(tmp_path, writer):
    """reset_after=False: no nn.GRU computes it, so a hand-written cell checks the converted weights."""
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((6, 3)), keras.layers.GRU(5, reset_after=False, return_sequences=True, name="rnn")]),
        writer, tmp_path)
    inputs = random_input((6, 3))
    weights, layers = convert_file(path)
    assert any("reset_after=False" in warning for warning in layers["rnn"].warnings)
    w_ih, w_hh, b_ih = weights["rnn.weight_ih_l0"], weights["rnn.weight_hh_l0"], weights["rnn.bias_ih_l0"]
    assert torch.all(weights["rnn.bias_hh_l0"] == 0)
    w_ir, w_iz, w_in = w_ih.chunk(3)
    w_hr, w_hz, w_hn = w_hh.chunk(3)
    b_r, b_z, b_n = b_ih.chunk(3)
    h = torch.zeros(inputs.shape[0], 5)
    outputs = []
    for x in torch.from_numpy(inputs).unbind(1):
        r = torch.sigmoid(x @ w_ir.T + b_r + h @ w_hr.T)
        z = torch.sigmoid(x @ w_iz.T + b_z + h @ w_hz.T)
        n = torch.tanh(x @ w_in.T + b_n + (r * h) @ w_hn.T)  # reset before the recurrent matmul
        h = z * h + (1 - z) * n
        outputs.append(h)
    assert max_diff(model(inputs), torch.stack(outputs, 1)) <= LAYER_ATOL


def test_hard_sigmoid_recurrent_activation_is_warned(tmp_path):
    _, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((6, 3)), keras.layers.LSTM(5, recurrent_activation="hard_sigmoid", name="rnn")]),
        "keras2.h5", tmp_path)
    _, layers = convert_file(path)
    assert any("hard_sigmoid" in warning and "own cell" in warning for warning in layers["rnn"].warnings)


def merge(mode, forward: torch.Tensor, backward: torch.Tensor):
    if mode == "concat":
        return torch.cat([forward, backward], -1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    if mode == "ave":
        return (forward + backward) / 2
    return [forward, backward]


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("class_name", ["LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_keras(tmp_path, writer, class_name, merge_mode, return_sequences):
    model, path = saved_model(lambda keras: keras.Sequential([keras.Input((6, 3)), keras.layers.Bidirectional(
        getattr(keras.layers, class_name)(5, return_sequences=return_sequences), merge_mode=merge_mode, name="bi")])
        if merge_mode else keras.Model(*_functional_bidirectional(keras, class_name, return_sequences)),
        writer, tmp_path)
    inputs = random_input((6, 3))
    weights, layers = convert_file(path)
    arguments = layers["bi"].module.record()
    assert arguments["bidirectional"] and layers["bi"].options["merge_mode"] == merge_mode
    module = torch_rnn(class_name, arguments)
    load(module, weights, "bi")
    with torch.no_grad():
        output, _ = module(torch.from_numpy(inputs))
    forward, backward = output[..., :5], output[..., 5:]
    if not return_sequences:
        forward, backward = forward[:, -1], backward[:, 0]  # the backward pass ends at step 0
    expected = model(inputs)
    actual = merge(merge_mode, forward, backward)
    if merge_mode is None:
        assert max(max_diff(e, a) for e, a in zip(expected, actual)) <= LAYER_ATOL
    else:
        assert max_diff(expected, actual) <= LAYER_ATOL


def _functional_bidirectional(keras, class_name, return_sequences):
    inputs = keras.Input((6, 3))
    outputs = keras.layers.Bidirectional(getattr(keras.layers, class_name)(5, return_sequences=return_sequences),
                                         merge_mode=None, name="bi")(inputs)
    return inputs, outputs


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_time_distributed_dense_matches_keras(tmp_path, writer):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((6, 3)), keras.layers.TimeDistributed(keras.layers.Dense(4), name="td")]), writer, tmp_path)
    inputs = random_input((6, 3))
    weights, layers = convert_file(path)
    linear = torch.nn.Linear(**layers["td"].module.record())
    load(linear, weights, "td")
    with torch.no_grad():
        assert max_diff(model(inputs), linear(torch.from_numpy(inputs))) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_time_distributed_conv_matches_keras(tmp_path, writer):
    model, path = saved_model(lambda keras: keras.Sequential(
        [keras.Input((3, 6, 6, 2)), keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3), name="td")]),
        writer, tmp_path)
    inputs = random_input((3, 6, 6, 2))
    weights, layers = convert_file(path)
    conv = torch.nn.Conv2d(**layers["td"].module.record())
    load(conv, weights, "td")
    x = torch.from_numpy(inputs).flatten(0, 1)  # fold time into the batch
    with torch.no_grad():
        actual = channels_last(conv(channels_first(x))).unflatten(0, (inputs.shape[0], 3))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5", "keras2.h5"])
@pytest.mark.parametrize("build, reason", [
    (lambda keras: keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.GRUCell(4),
                                                                  keras.layers.SimpleRNNCell(2)]), name="rnn"),
     "stacks cells of different kinds"),
    (lambda keras: keras.layers.Bidirectional(keras.layers.RNN([keras.layers.LSTMCell(3), keras.layers.LSTMCell(3)]),
                                              name="rnn"),
     "only LSTM, GRU and SimpleRNN"),
], ids=["stack-of-two-kinds", "bidirectional-stack"])
def test_recurrent_layers_without_a_torch_module_are_refused_by_name(tmp_path, writer, build, reason):
    """Weights a rule does not lay out (cells of two kinds in one stack) are refused naming the layer and why,
    not failed on as tensors it did not expect."""
    _, path = saved_model(lambda keras: keras.Sequential([keras.Input((5, 3)), build(keras)]), writer, tmp_path)
    with pytest.raises(converter.UnsupportedLayerError, match=f"rnn \\(.*{reason}"):
        converter.convert(str(path), str(tmp_path / "out.safetensors"))


def assert_saved_model_matches(model, path: str, width: int) -> None:
    """Save `model` (random weights) to `path`; the module built from the file matches Keras within 1e-5."""
    import numpy as np

    from layer_harness import randomize

    randomize(model, 4)
    model.save(path)
    x = np.random.default_rng(0).normal(size=(3, 5, width)).astype("float32")
    with torch.no_grad():
        got = converter.to_torch(path)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, np.asarray(model(x)), rtol=0, atol=1e-5)


@pytest.mark.parametrize("frozen", ["forward", "backward"])
@pytest.mark.parametrize("writer,suffix", [("keras3", ".h5"), ("keras3", ".keras"), ("keras2", ".h5")])
def test_a_bidirectional_with_one_direction_frozen(tmp_path, frozen, writer, suffix):
    """A Keras 3 legacy .h5 lists a Bidirectional's weights trainable ones first: with its forward layer frozen
    (trainable=False), the backward layer's come first, and matching them in order swapped the two directions
    (a verify failure). They are told apart by the `forward_<name>` scope Keras gives the forward copy."""
    from layer_harness import keras_module

    keras = keras_module(writer)
    layers = keras.layers
    inputs = keras.Input((5, 3), name="x")
    forward = layers.LSTM(2, trainable=frozen != "forward", name="ahead")
    backward = layers.LSTM(2, go_backwards=True, trainable=frozen != "backward", name="behind")
    outputs = layers.Dense(2, name="head")(layers.Bidirectional(forward, backward_layer=backward, name="both")(inputs))
    assert_saved_model_matches(keras.Model(inputs, outputs), str(tmp_path / f"frozen{suffix}"), 3)


@pytest.mark.parametrize("frozen", [0, 1])
@pytest.mark.parametrize("writer,suffix", [("keras3", ".h5"), ("keras3", ".keras"), ("keras2", ".h5")])
def test_stacked_cells_with_one_cell_frozen(tmp_path, frozen, writer, suffix):
    """A legacy .h5 lists an RNN's stacked cells' weights trainable ones first: with the first cell frozen, the
    second's come first, and matching them in order swapped the cells (silently, where they are of one size with
    the input). They are put in the cells' order by each cell's name in their paths."""
    from layer_harness import keras_module

    keras = keras_module(writer)
    layers = keras.layers
    inputs = keras.Input((5, 2), name="x")
    cells = [layers.LSTMCell(2, trainable=frozen != index, name=f"cell{index}") for index in range(2)]
    outputs = layers.Dense(2, name="head")(layers.RNN(cells, name="stack")(inputs))
    assert_saved_model_matches(keras.Model(inputs, outputs), str(tmp_path / f"stacked{suffix}"), 2)
