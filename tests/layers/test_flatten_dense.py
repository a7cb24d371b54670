"""The Dense after a Flatten of a channels-last feature map, and models nested as layers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from layer_harness import LAYER_ATOL, channels_first, convert_file, load, max_diff, random_input, saved_model


def conv_flatten_dense(keras, pooling: bool):
    layers = [keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, name="conv")]
    if pooling:
        layers.append(keras.layers.MaxPooling2D(name="pool"))
    layers += [keras.layers.Flatten(name="flat"), keras.layers.Dropout(0.3), keras.layers.Dense(5, name="head")]
    return keras.Sequential(layers)


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5", "keras2.h5"])
@pytest.mark.parametrize("pooling", [False, True])
def test_dense_after_flatten_of_conv_map_matches_keras(tmp_path, writer, pooling):
    model, path = saved_model(lambda keras: conv_flatten_dense(keras, pooling), writer, tmp_path)
    inputs = random_input((6, 6, 3))
    weights, layers = convert_file(path)
    assert layers["head"].options["flattened_channels"] == 4
    conv, head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(**layers["head"].module.record())
    load(conv, weights, "conv")
    load(head, weights, "head")
    with torch.no_grad():
        x = conv(channels_first(torch.from_numpy(inputs)))
        if pooling:
            x = torch.nn.functional.max_pool2d(x, 2)
        actual = head(x.flatten(1))  # PyTorch flattens NCHW as (c, h, w)
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def test_record_shows_the_row_regrouping(tmp_path):
    _, path = saved_model(lambda keras: conv_flatten_dense(keras, True), "keras3.keras", tmp_path)
    with converter.read(path) as graph:
        record = {entry["key"]: entry for entry in converter.convert_graph(graph).record()}
    assert record["head.weight"]["transform"] == "rows (h,w,c) -> (c,h,w); transpose(1,0)"


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_dense_after_flatten_of_conv1d_map_matches_keras(tmp_path, writer):
    model, path = saved_model(lambda keras: keras.Sequential([
        keras.Input((8, 3)), keras.layers.Conv1D(4, 3, name="conv"), keras.layers.Flatten(),
        keras.layers.Dense(2, name="head")]), writer, tmp_path)
    inputs = random_input((8, 3))
    weights, layers = convert_file(path)
    conv, head = torch.nn.Conv1d(3, 4, 3), torch.nn.Linear(24, 2)
    load(conv, weights, "conv")
    load(head, weights, "head")
    with torch.no_grad():
        actual = head(conv(channels_first(torch.from_numpy(inputs))).flatten(1))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("shape, permuted", [((4, 4, 3), True), ((5, 3), False)])
def test_flatten_of_an_input(tmp_path, writer, shape, permuted):
    """An image input flattened is regrouped; a (time, features) sequence keeps its order."""
    model, path = saved_model(lambda keras: keras.Sequential([
        keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(2, name="head")]), writer, tmp_path)
    inputs = random_input(shape)
    weights, layers = convert_file(path)
    assert ("flattened_channels" in layers["head"].options) == permuted
    head = torch.nn.Linear(int(np.prod(shape)), 2)
    load(head, weights, "head")
    x = torch.from_numpy(inputs)
    with torch.no_grad():
        actual = head((channels_first(x) if permuted else x).flatten(1))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def test_unknown_producer_before_flatten_is_warned(tmp_path):
    _, path = saved_model(lambda keras: keras.Sequential([
        keras.Input((6, 4)), keras.layers.Reshape((4, 6)), keras.layers.Flatten(),
        keras.layers.Dense(2, name="head")]), "keras2.h5", tmp_path)
    _, layers = convert_file(path)
    assert "Reshape" in layers["head"].warnings[0]


def nested_model(keras):
    inner = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.BatchNormalization(name="bn")], name="features")
    inputs = keras.Input((6, 6, 3))
    x = inner(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5", "keras2.h5"])
def test_nested_model_keys_are_dotted(tmp_path, writer):
    model, path = saved_model(nested_model, writer, tmp_path)
    inputs = random_input((6, 6, 3))
    weights, layers = convert_file(path)
    assert {"features.conv.weight", "features.bn.running_var", "head.weight"} <= set(weights)
    features = torch.nn.Sequential()
    features.add_module("conv", torch.nn.Conv2d(3, 4, 3))
    features.add_module("bn", torch.nn.BatchNorm2d(**layers["bn"].module.record()))
    load(features, weights, "features")
    features.eval()
    head = torch.nn.Linear(64, 3)
    load(head, weights, "head")
    with torch.no_grad():
        actual = head(features(channels_first(torch.from_numpy(inputs))).flatten(1))
    # The Flatten reads the nested model's output: its channels are not traced through it here.
    if "flattened_channels" not in layers["head"].options:
        pytest.fail(f"Dense after a nested conv model was not regrouped: {layers['head'].warnings}")
    assert max_diff(model(inputs), actual) <= LAYER_ATOL


def channels_first_conv(keras, flatten_format: str, pooling: bool):
    layers = [keras.Input((3, 6, 6)), keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv")]
    if pooling:
        layers.append(keras.layers.MaxPooling2D(data_format="channels_first"))
    layers += [keras.layers.Flatten(data_format=flatten_format), keras.layers.Dense(5, name="head")]
    return keras.Sequential(layers)


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("flatten_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pooling", [False, True])
def test_dense_after_flatten_of_a_channels_first_map(tmp_path, writer, flatten_format, pooling):
    """A channels-first map is flattened (c, h, w) by Keras, as by torch: no regrouping. Flatten
    (data_format="channels_first") moves the channels last first: then the rows are regrouped.
    Either way, a PyTorch model flattening the NCHW map gets Keras's outputs."""
    model, path = saved_model(lambda keras: channels_first_conv(keras, flatten_format, pooling), writer, tmp_path)
    inputs = random_input((3, 6, 6))
    weights, layers = convert_file(path)
    assert ("flattened_channels" in layers["head"].options) == (flatten_format == "channels_first")
    assert not layers["head"].warnings
    conv, head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(**layers["head"].module.record())
    load(conv, weights, "conv")
    load(head, weights, "head")
    with torch.no_grad():
        x = conv(torch.from_numpy(inputs))  # the Keras input is already NCHW
        if pooling:
            x = torch.nn.functional.max_pool2d(x, 2)
        actual = head(x.flatten(1))
    # predict: TensorFlow's eager NCHW convolution on CPU (oneDNN) computes wrong values; its graph mode does not
    assert max_diff(model.predict(inputs, verbose=0), actual) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_permute_before_flatten_is_left_in_keras_order_with_a_warning(tmp_path, writer):
    """After Permute the flattened order is not a feature map's: rows keep Keras's order, and the user is told."""
    model, path = saved_model(lambda keras: keras.Sequential([
        keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, name="conv"), keras.layers.Permute((3, 1, 2)),
        keras.layers.Flatten(), keras.layers.Dense(5, name="head")]), writer, tmp_path)
    inputs = random_input((6, 6, 3))
    weights, layers = convert_file(path)
    assert "flattened_channels" not in layers["head"].options
    assert "Permute" in layers["head"].warnings[0]
    conv, head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(**layers["head"].module.record())
    load(conv, weights, "conv")
    load(head, weights, "head")
    with torch.no_grad():  # Keras's Permute((3, 1, 2)) of (h, w, c) is (c, h, w): torch's NCHW as it is
        actual = head(conv(channels_first(torch.from_numpy(inputs))).flatten(1))
    assert max_diff(model(inputs), actual) <= LAYER_ATOL
    module = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        assert max_diff(model(inputs), module(torch.from_numpy(inputs))) <= LAYER_ATOL


#: layers whose output keeps its features on the last axis in PyTorch too (nn.Embedding, batch_first recurrent
#: layers and attention, nn.Linear): flattened, it is in Keras's order already
SEQUENCES = {
    "Embedding": lambda keras, L: [keras.Input((5,), dtype="int32"), L.Embedding(10, 4, name="embedding")],
    "LSTM": lambda keras, L: [keras.Input((5, 3)), L.LSTM(4, return_sequences=True, name="lstm")],
    "Bidirectional GRU": lambda keras, L: [keras.Input((5, 3)),
                                           L.Bidirectional(L.GRU(2, return_sequences=True), name="bidirectional")],
    "TimeDistributed GRU": lambda keras, L: [keras.Input((2, 5, 3)), L.TimeDistributed(L.GRU(3), name="td")],
    "Dense on a sequence": lambda keras, L: [keras.Input((5, 3)), L.Dense(4, name="dense")],
}


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("producer", sorted(SEQUENCES))
def test_flatten_of_a_sequence_is_in_torch_order_without_a_warning(tmp_path, writer, producer):
    """Embedding -> Flatten -> Dense, the classic text model, warned that its rows were left in Keras's (h, w, c)
    order, as if it might be a feature map: its PyTorch counterpart flattens (steps, features) as Keras does."""
    def build(keras):
        return keras.Sequential(SEQUENCES[producer](keras, keras.layers) + [
            keras.layers.Flatten(name="flatten"), keras.layers.Dropout(0.2), keras.layers.Dense(2, name="head")])

    model, path = saved_model(build, writer, tmp_path)
    _, layers = convert_file(path)
    assert "flattened_channels" not in layers["head"].options
    assert not layers["head"].warnings
    inputs = np.random.default_rng(3).integers(1, 10, (4, 5)).astype("int32") if producer == "Embedding" \
        else random_input(tuple(model.input_shape[1:]))
    module = converter.to_torch(path, input_layout="keras")  # (2, 5, 3) sequences, not an image
    with torch.no_grad():
        assert max_diff(model(inputs), module(torch.from_numpy(inputs))) <= LAYER_ATOL


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_flatten_of_a_pooled_sequence_is_warned(tmp_path, writer):
    """An LSTM's sequences pooled by a MaxPooling1D: a PyTorch model pools them channels-first (nn.MaxPool1d), and
    may flatten them so: that cannot be told, and the user is told."""
    _, path = saved_model(lambda keras: keras.Sequential([
        keras.Input((6, 3)), keras.layers.LSTM(4, return_sequences=True), keras.layers.MaxPooling1D(),
        keras.layers.Flatten(), keras.layers.Dense(2, name="head")]), writer, tmp_path)
    _, layers = convert_file(path)
    assert "LSTM" in layers["head"].warnings[0]
