"""verify's inputs: random ones drawn from each input's spec (ids below an Embedding's size, booleans for a mask,
a fixed batch size kept, memory bounded), in the model's input order, and asked for where no spec says.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import converter
from helpers import run_cli
from converter.verification import random_inputs
from layer_harness import randomize


def test_verify_a_model_with_a_fixed_batch_size(tmp_path):
    """Random inputs take the batch size the model fixes; given inputs of another batch size are refused."""
    import keras

    inputs = keras.Input((5,), batch_size=3)
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    randomize(model, seed=1)
    path = str(tmp_path / "fixed.keras")
    model.save(path)
    report = converter.verify(path)
    assert report.ok and report.samples == 3
    import pytest

    with pytest.raises(converter.ReadError, match=r"shape \(4, 5\), expected \(3, 5\)"):
        converter.verify(path, inputs=[np.zeros((4, 5), np.float32)])
    with pytest.raises(converter.ReadError, match=r"shape \(3, 6\), expected \(3, 5\)"):
        converter.verify(path, inputs=[np.zeros((3, 6), np.float32)])
    with pytest.raises(converter.ReadError, match="2 input arrays for a model with 1 inputs"):
        converter.verify(path, inputs=[np.zeros((3, 5), np.float32)] * 2)


def test_random_inputs_larger_than_memory_allows_are_refused(tmp_path):
    """An input shape is what the file says: found by mutating saved configs (a width of 10**9 made verify allocate
    954 GiB, a MemoryError, exit status 70). Refused by name before anything is drawn."""
    import keras

    inputs = keras.Input((100_000, 100_000), name="rows")  # named: Keras numbers its default names per process
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = str(tmp_path / "wide.keras")
    model.save(path)
    import pytest

    refusal = r"'rows': \(8, 100000, 100000\)\) would take 596\.0 GiB.*--input"
    with pytest.raises(converter.ArgumentError, match=refusal):
        converter.verify(path)
    result = run_cli("verify", path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_a_boolean_input_gets_random_booleans(tmp_path):
    """A mask given as an input (a Softmax's `mask=`): random normal floats there were compared as a float mask
    (kept where above 0.5) against Keras's cast to bool, 1.0 off; a boolean input gets booleans, both kinds."""
    import keras

    scores, allowed = keras.Input((4, 4)), keras.Input((4, 4), dtype="bool")
    model = keras.Model([scores, allowed], keras.layers.Softmax()(scores, mask=allowed))
    path = str(tmp_path / "masked.keras")
    model.save(path)
    report = converter.verify(path)
    assert report.ok, report
    arrays = random_inputs(converter.read(path), 8)
    assert arrays[1].dtype == np.bool_ and 0 < arrays[1].mean() < 1


def test_embedding_ids_are_ids_and_do_not_widen_the_tolerance(tmp_path):
    """A Keras 2 Sequential gives its Embedding a float32 input (a real SavedModel of a public repository):
    verify feeds it ids below the vocabulary, held as floats (normal floats made Keras fail on id -1), and the
    ids' size (up to 4999) does not become the scale of the layers after the Embedding: it made a bound of
    1e-5 + 1e-4 * 4999 = 0.5 there, which a wrong convention passes."""
    import tf_keras as k

    model = k.Sequential([k.layers.Embedding(5000, 4, input_length=6, name="embed"),
                          k.layers.LSTM(3, name="lstm"), k.layers.Dense(2, name="head")])
    randomize(model, seed=3)
    path = str(tmp_path / "sequential.h5")
    model.save(path)
    with converter.read(path) as graph:
        assert graph.inputs[0].dtype == "float32"
        (ids,) = random_inputs(graph, 64)
    assert ids.dtype == np.float32 and np.array_equal(ids, np.round(ids)) and 0 <= ids.min() and ids.max() < 5000
    assert ids.max() > 1000  # drawn over the whole vocabulary
    report = converter.verify(path, per_layer=True)
    assert report.ok, report.to_text()
    scales = {comparison.name: comparison.scale for comparison in report.layers}
    assert set(scales) == {"embed", "lstm", "head"}
    assert max(scales.values()) < 10, scales


def test_inputs_follow_input_layers_not_the_order_of_the_layers_list(tmp_path):
    """tf.keras lists a model's layers in the order it reaches them, which may put one InputLayer before another
    that the model's input_layers (the order its call takes them) lists first: b here, whose branch is used
    first. verify fed Keras its inputs in the wrong order (a shape error) and inspect listed them so."""
    import h5py
    import tf_keras as k

    a, b = k.Input((3,), name="a"), k.Input((5,), name="b")
    model = k.Model([a, b], k.layers.Dense(2, name="head")(k.layers.Concatenate()([a, k.layers.Dense(3)(b)])))
    randomize(model, seed=6)
    path = str(tmp_path / "two_inputs.h5")
    model.save(path)
    with h5py.File(path, "r") as handle:
        config = json.loads(handle.attrs["model_config"])["config"]
    assert [layer["config"]["name"] for layer in config["layers"][:2]] == ["b", "a"]  # the case at hand
    assert [ref[0] for ref in config["input_layers"]] == ["a", "b"]
    with converter.read(path) as graph:
        assert [spec.name for spec in graph.inputs] == ["a", "b"]
    assert converter.verify(path).ok
    import torch

    inputs = [np.random.default_rng(1).normal(size=(4, 3)).astype("float32"),
              np.random.default_rng(2).normal(size=(4, 5)).astype("float32")]
    module = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        actual = module(*[torch.from_numpy(array) for array in inputs]).numpy()
    np.testing.assert_allclose(actual, model(inputs).numpy(), atol=1e-5)


@pytest.mark.parametrize("input_dim", [None, "9", 0, 2.5])
def test_an_embedding_input_dim_that_is_not_a_size_draws_ids_below_ten(tmp_path, input_dim):
    """Found by mutating saved configs (an Embedding's input_dim set to null): drawing ids below it raised a
    TypeError (exit status 70) before Keras could refuse the file."""
    import h5py
    import tf_keras as k

    ids = k.Input((6,), dtype="int32", name="ids")
    model = k.Model(ids, k.layers.Dense(2, name="head")(k.layers.Flatten(name="flat")(
        k.layers.Embedding(9, 4, name="embed")(ids))))
    path = str(tmp_path / "embedding.h5")
    model.save(path)
    with h5py.File(path, "r+") as file:
        config = json.loads(file.attrs["model_config"])
        next(layer for layer in config["config"]["layers"] if layer["name"] == "embed")["config"]["input_dim"] = \
            input_dim
        file.attrs["model_config"] = json.dumps(config)
    with converter.read(path) as graph:
        (drawn,) = random_inputs(graph, 16)
    assert drawn.dtype == np.int32 and 0 <= drawn.min() and drawn.max() < 10


def test_a_sequential_without_an_input_shape_asks_for_inputs(tmp_path):
    """A Sequential whose config names no input shape (tf.keras 2.2's, built on data by fit) is no subclassed model:
    the message says which it is, and what to pass."""
    import h5py
    import tf_keras

    path = tmp_path / "sequential.h5"
    tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="fc")]).save(path)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"] = [layer for layer in config["config"]["layers"]
                                      if layer["class_name"] != "InputLayer"]
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(converter.ArgumentError, match=r"no input shapes \(a Sequential model built without an input "
                                                      r"shape\): pass its inputs"):
        converter.verify(str(path))


def test_a_layer_without_a_rule_is_named_before_inputs_are_asked_for(tmp_path):
    """The same Sequential with a layer of the user's own class (a real tf.keras file's ECLSTM1D layers): verify names
    that layer, which no inputs would mend, before asking for inputs (it asked for inputs first)."""
    import h5py
    import tf_keras

    path = tmp_path / "sequential.h5"
    tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="fc")]).save(path)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"] = [dict(layer, class_name="OwnDense") for layer in config["config"]["layers"]
                                      if layer["class_name"] != "InputLayer"]
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(converter.UnsupportedLayerError,
                       match=r"no rule for 1 layer\(s\) with weights: fc \(OwnDense\)"):
        converter.verify(str(path))
