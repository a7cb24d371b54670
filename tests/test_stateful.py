"""stateful=True recurrent layers: the module carries each layer's states from call to call as Keras does, and
reset_states() starts them from zeros again. Each case runs the model Keras loads back and to_torch's module on
the same three batches in turn, then both again after a reset; any call starting from the wrong state differs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from converter.keras_probes import reset_states
from layer_harness import LAYER_ATOL, WRITERS, keras_module, randomize, saved_model

BATCH = 3


def batches(shape, count=3, seed=5, integers=None):
    rng = np.random.default_rng(seed)
    if integers:  # token ids, zeros (the mask) at the end of some rows and the start of others
        arrays = []
        for _ in range(count):
            ids = rng.integers(1, integers, (BATCH,) + tuple(shape))
            ids[0, -2:] = 0
            ids[1, :2] = 0
            arrays.append(ids.astype("int32"))
        return arrays
    return [rng.normal(0, 1, (BATCH,) + tuple(shape)).astype("float32") for _ in range(count)]


def as_list(outputs) -> list[np.ndarray]:
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(output) for output in outputs]


def run_both(loaded, path: str, inputs: list[np.ndarray], layout: str) -> None:
    module = converter.to_torch(path, input_layout=layout)
    for round_ in range(2):
        for index, x in enumerate(inputs):
            expected = as_list(loaded(x, training=False))
            with torch.no_grad():
                actual = as_list(module(torch.from_numpy(x)))
            assert len(expected) == len(actual)
            for want, got in zip(expected, actual):
                assert np.abs(want - got).max() <= LAYER_ATOL, (layout, round_, index)
        reset_states(loaded)
        module.reset_states()


def check(tmp_path, writer, build, inputs) -> None:
    loaded, path = saved_model(build, writer, tmp_path, seed=2)
    first = as_list(loaded(inputs[0], training=False))
    assert np.abs(first[0] - as_list(loaded(inputs[0], training=False))[0]).max() > 1e-3  # the state carries
    reset_states(loaded)
    for layout in ("torch", "keras"):
        run_both(loaded, path, inputs, layout)


def functional(keras, shape, body, dtype="float32"):
    inputs = keras.Input(batch_shape=(BATCH,) + tuple(shape), dtype=dtype)
    return keras.Model(inputs, body(keras, inputs))


CASES = {
    "lstm_then_gru": (lambda k, x: k.layers.GRU(3, stateful=True)(
        k.layers.LSTM(4, return_sequences=True, stateful=True)(x)), (5, 3)),
    "simple_rnn_backwards": (lambda k, x: k.layers.SimpleRNN(4, stateful=True, go_backwards=True)(x), (5, 3)),
    "lstm_own_cell": (lambda k, x: k.layers.LSTM(4, stateful=True, activation="relu", return_sequences=True)(x),
                      (5, 3)),
    "gru_return_state": (lambda k, x: k.layers.GRU(4, stateful=True, return_state=True)(x), (5, 3)),
    "lstm_return_state": (lambda k, x: k.layers.LSTM(4, stateful=True, return_state=True)(x), (5, 3)),
    "bidirectional_lstm": (lambda k, x: k.layers.Bidirectional(k.layers.LSTM(4, stateful=True,
                                                                             return_sequences=True))(x), (5, 3)),
    "bidirectional_gru_sum": (lambda k, x: k.layers.Bidirectional(k.layers.GRU(3, stateful=True),
                                                                  merge_mode="sum")(x), (5, 3)),
    "rnn_of_lstm_cell": (lambda k, x: k.layers.RNN(k.layers.LSTMCell(4), stateful=True)(x), (5, 3)),
    "masked_lstm": (lambda k, x: k.layers.LSTM(4, stateful=True)(k.layers.Embedding(9, 3, mask_zero=True)(x)),
                    (6,)),
    "masked_bidirectional_gru": (lambda k, x: k.layers.Bidirectional(k.layers.GRU(3, stateful=True,
                                                                                  return_sequences=True))(
        k.layers.Embedding(9, 3, mask_zero=True)(x)), (6,)),
    "masked_simple_rnn_sequences": (lambda k, x: k.layers.SimpleRNN(3, stateful=True, return_sequences=True)(
        k.layers.Embedding(9, 3, mask_zero=True)(x)), (6,)),
}


#: Keras 3 cannot load its own .h5 of a mask made in the graph ("Unknown layer: 'NotEqual'")
PAIRS = [(case, writer) for case in sorted(CASES) for writer in WRITERS
         if not (case.startswith("masked") and writer == "keras3.h5")]


@pytest.mark.parametrize("case, writer", PAIRS)
def test_stateful_layers_carry_their_states_as_keras(tmp_path, writer, case):
    body, shape = CASES[case]
    integers = 9 if case.startswith("masked") else None
    check(tmp_path, writer, lambda keras: functional(keras, shape, body, "int32" if integers else "float32"),
          batches(shape, integers=integers))


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_nested_model_with_a_stateful_layer_resets_from_the_root(tmp_path, writer):
    def build(keras):
        inner = keras.Sequential([keras.Input(batch_shape=(BATCH, 5, 3)), keras.layers.GRU(4, stateful=True,
                                                                                         return_sequences=True)],
                                 name="inner")
        inputs = keras.Input(batch_shape=(BATCH, 5, 3))
        return keras.Model(inputs, keras.layers.LSTM(2, stateful=True)(inner(inputs)))

    check(tmp_path, writer, build, batches((5, 3)))


def test_keras3_initial_state_wins_over_the_carried_state(tmp_path):
    """Keras 3 starts a stateful layer called with initial_state from the given states, and carries the ones it
    ends with (which a return_state then shows)."""
    def build(keras):
        inputs, h0 = keras.Input(batch_shape=(BATCH, 5, 3)), keras.Input(batch_shape=(BATCH, 4))
        outputs = keras.layers.GRU(4, stateful=True, return_state=True)(inputs, initial_state=h0)
        return keras.Model([inputs, h0], outputs)

    loaded, path = saved_model(build, "keras3.keras", tmp_path, seed=2)
    module = converter.to_torch(path)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, h0 = rng.normal(0, 1, (BATCH, 5, 3)).astype("float32"), rng.normal(0, 1, (BATCH, 4)).astype("float32")
        expected = as_list(loaded([x, h0], training=False))
        with torch.no_grad():
            actual = as_list(module(torch.from_numpy(x), torch.from_numpy(h0)))
        for want, got in zip(expected, actual):
            assert np.abs(want - got).max() <= LAYER_ATOL


def test_tf_keras_stateful_layer_with_initial_state_is_refused(tmp_path):
    """tf.keras starts such a call from the carried states once any is non-zero; Keras 2.2 from the given ones."""
    keras = keras_module("keras2.h5")
    inputs, h0 = keras.Input(batch_shape=(BATCH, 5, 3)), keras.Input(batch_shape=(BATCH, 4))
    model = keras.Model([inputs, h0], keras.layers.GRU(4, stateful=True, name="memory")(inputs, initial_state=h0))
    path = str(tmp_path / "model.h5")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="memory.*initial_state"):
        converter.to_torch(path)


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_a_stateful_layer_called_twice_is_refused(tmp_path, writer):
    """The state the second call starts from depends on the order Keras runs the two calls."""
    keras = keras_module(writer)
    a, b = keras.Input(batch_shape=(BATCH, 5, 3)), keras.Input(batch_shape=(BATCH, 5, 3))
    shared = keras.layers.LSTM(4, stateful=True, name="memory")
    model = keras.Model([a, b], keras.layers.Concatenate()([shared(a), shared(b)]))
    path = str(tmp_path / ("model.keras" if writer.startswith("keras3") else "model.h5"))
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="memory.*called more than once"):
        converter.to_torch(path)


def test_another_batch_size_needs_a_reset(tmp_path):
    keras = keras_module("keras3.keras")
    inputs = keras.Input(batch_shape=(BATCH, 5, 3))
    path = str(tmp_path / "model.keras")
    keras.Model(inputs, keras.layers.LSTM(4, stateful=True, name="memory")(inputs)).save(path)
    module = converter.to_torch(path)
    module(torch.zeros(BATCH, 5, 3))
    with pytest.raises(ValueError, match="memory is stateful.*reset_states"):
        module(torch.zeros(BATCH + 1, 5, 3))
    module.reset_states()
    assert module(torch.zeros(BATCH + 1, 5, 3)).shape == (BATCH + 1, 4)


def test_convlstm_stateful_stays_refused_by_name(tmp_path):
    keras = keras_module("keras3.keras")
    inputs = keras.Input(batch_shape=(BATCH, 4, 6, 6, 2))
    path = str(tmp_path / "model.keras")
    keras.Model(inputs, keras.layers.ConvLSTM2D(3, 3, stateful=True, name="memory")(inputs)).save(path)
    with pytest.raises(converter.UnsupportedLayerError, match="memory.*stateful=True"):
        converter.to_torch(path)


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
def test_verify_compares_a_second_call_and_each_layer_from_the_first(tmp_path, writer):
    """verify calls both models twice (the second call proves the carried states) and compares each layer as the
    first call computed it: Keras's per-layer probes start from reset states, not from where the calls ended."""
    def body(keras, x):
        x = keras.layers.LSTM(4, return_sequences=True, stateful=True, name="lstm")(x)
        return keras.layers.GRU(3, stateful=True, name="gru")(x)

    _, path = saved_model(lambda keras: functional(keras, (5, 3), body), writer, tmp_path, 2)
    report = converter.verify(path, per_layer=True)
    assert report.ok, report.to_text()
    assert [output.name for output in report.outputs] == ["gru", "gru (2nd call)"]
    assert [layer.name for layer in report.layers] == ["lstm", "gru"]
    assert any("stateful" in note for note in report.notes)


def test_the_exported_model_carries_and_resets_states(tmp_path):
    """export's standalone model.py is the same source: its load() gives a module that carries and resets."""
    import importlib.util

    loaded, path = saved_model(lambda keras: functional(keras, (5, 3), CASES["bidirectional_lstm"][0]),
                               "keras3.keras", tmp_path, seed=2)
    source, _ = converter.export(path, tmp_path / "model.py")
    spec = importlib.util.spec_from_file_location("weightport_stateful_export", source)
    assert spec and spec.loader
    exported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exported)
    module = exported.load()
    for round_ in range(2):
        for x in batches((5, 3)):
            with torch.no_grad():
                got = module(torch.from_numpy(x)).numpy()
            assert np.abs(np.asarray(loaded(x, training=False)) - got).max() <= LAYER_ATOL, round_
        reset_states(loaded)
        module.reset_states()


def random_stateful(seed: int, keras3: bool):
    """A random stateful recurrent layer (sometimes Bidirectional, unrolled, masked, returning states, with other
    activations, followed by a second stateful layer), its input shape and whether it takes token ids."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["LSTM", "GRU", "SimpleRNN"]))
    bidirectional = bool(rng.random() < 0.3)
    options = {"stateful": True, "return_sequences": bool(rng.random() < 0.5), "unroll": bool(rng.random() < 0.3),
               "go_backwards": not bidirectional and bool(rng.random() < 0.3)}
    if rng.random() < 0.4:
        options["activation"] = str(rng.choice(["relu", "sigmoid", "tanh"]))
    if kind != "SimpleRNN" and rng.random() < 0.3:
        options["recurrent_activation"] = str(rng.choice(["hard_sigmoid", "sigmoid"]))
    if kind == "GRU" and rng.random() < 0.3:
        options["reset_after"] = False
    if keras3 and not bidirectional and rng.random() < 0.3:
        options["zero_output_for_mask"] = True
    masked, second = bool(rng.random() < 0.5), bool(rng.random() < 0.4)
    returns_state = not bidirectional and not second and bool(rng.random() < 0.3)
    merge_mode = str(rng.choice(["concat", "sum", "mul", "ave"]))
    steps = int(rng.integers(2, 6))

    def body(keras, x):
        x = keras.layers.Embedding(7, 3, mask_zero=True)(x) if masked else x
        layer = getattr(keras.layers, kind)(int(rng.integers(1, 5)), return_state=returns_state, **options)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode)
        y = layer(x)
        if second and options["return_sequences"]:
            y = keras.layers.GRU(2, stateful=True)(y)
        return y

    return body, (steps,) if masked else (steps, 3), masked


@pytest.mark.parametrize("writer", ["keras3.keras", "keras2.h5"])
@pytest.mark.parametrize("seed", range(8))
def test_random_stateful_layers_carry_their_states_as_keras(tmp_path, writer, seed):
    body, shape, masked = random_stateful(seed, writer.startswith("keras3"))
    check(tmp_path, writer, lambda keras: functional(keras, shape, body, "int32" if masked else "float32"),
          batches(shape, seed=seed, integers=7 if masked else None))


def test_verify_per_layer_of_a_sequential_runs_each_stateful_layer_once_per_probe(tmp_path):
    """A Keras 3 Sequential's layer.output is another call of the layer than the one the next layer reads: one probe
    model over every layer.output ran each stateful GRU twice, and compared the second call's output (0.38 off)."""
    keras = keras_module("keras3.keras")
    model = keras.Sequential([keras.Input(batch_shape=(1, None, 6)),
                              keras.layers.GRU(5, return_sequences=True, stateful=True, name="first"),
                              keras.layers.GRU(4, return_sequences=True, stateful=True, name="second"),
                              keras.layers.Dense(3, name="head")])
    randomize(model, seed=3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    report = converter.verify(path, per_layer=True)
    assert report.ok, report.to_text()
    assert [layer.name for layer in report.layers] == ["first", "second", "head"]
