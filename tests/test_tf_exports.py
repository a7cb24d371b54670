"""What TensorFlow, tf.keras and Keras 3 export besides a model file: tf.keras weights files and 2.13-2.15 `.keras`
archives, Keras 3 weights of a TimeDistributed, SavedModels of tf.Modules, TF 2.0 checkpoints holding their model
config, and Keras 3 exports paired with their architecture."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import converter
from helpers import run_cli, same_tensors, tensorflow
from layer_harness import randomize



def test_tf_keras_weights_files_of_recurrent_models(tmp_path):
    """tf.keras `save_weights("w.h5")` names an LSTM's variables `lstm/lstm_cell/kernel:0`: they are the
    LSTM's own, without an architecture too."""
    import tf_keras as k

    model = k.Sequential([k.Input((3, 4)), k.layers.LSTM(2, return_sequences=True), k.layers.GRU(3),
                          k.layers.Dense(1)])
    randomize(model, seed=6)
    model.save_weights(str(tmp_path / "w.h5"))
    model.save(str(tmp_path / "full.h5"))
    weights, reference = converter.state_dict(str(tmp_path / "w.h5")), converter.state_dict(str(tmp_path / "full.h5"))
    same_tensors(weights, reference)


TF_ARCHIVES = [(version, name, given) for version in ("2.13", "2.14", "2.15")
               for name, given in (("func", "x6"), ("nested", "x6"), ("seq", "x53"))]
TF_ARCHIVES += [(version, "mixed", "x6") for version in ("2.13", "2.14")]


@pytest.mark.parametrize("version, name, given", TF_ARCHIVES)
def test_tf_keras_2_13_to_2_15_keras_archives(version, name, given):
    """`.keras` files written by tf.keras 2.13 to 2.15 (weights under `_layer_checkpoint_dependencies`, numbered
    with each weighted layer counted twice), which neither Keras 3 nor tf_keras 2.21 loads: converted and built,
    against the outputs that TensorFlow computed (fixtures/make_tf_keras_archives.py). `mixed` has a weightless
    nested model before a weighted one: its group holds its place in the numbering (it was refused, the weight
    groups and the config's models differing in number; found by sweeps/older_tf_keras.py with tf.keras 2.13)."""
    from helpers import fixture

    io = np.load(fixture(f"tf{version}/io.npz"))
    with converter.read(fixture(f"tf{version}/{name}.keras")) as graph:
        assert graph.keras_version.startswith(version)
    module = converter.to_torch(fixture(f"tf{version}/{name}.keras"), input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(io[given])).numpy()
    np.testing.assert_allclose(actual, io[f"out_{name}"], atol=1e-5)
    if name == "func":
        same_tensors(converter.state_dict(fixture(f"tf{version}/func.keras")),
              converter.state_dict(fixture(f"tf{version}/func.h5")))


def test_keras3_weights_of_a_time_distributed_layer(tmp_path):
    """A Keras 3 `.weights.h5` stores TimeDistributed's inner layer under `layer/vars/0`: read with the
    architecture exactly as the `.keras` is; without it, refused saying to give it (not guessed)."""
    import keras

    model = keras.Sequential([keras.Input((4, 3)), keras.layers.TimeDistributed(keras.layers.Dense(5)),
                              keras.layers.LSTM(2)])
    randomize(model, seed=8)
    model.save(str(tmp_path / "m.keras"))
    model.save_weights(str(tmp_path / "m.weights.h5"))
    same_tensors(converter.state_dict(str(tmp_path / "m.weights.h5"), architecture=str(tmp_path / "m.keras")),
          converter.state_dict(str(tmp_path / "m.keras")))
    with pytest.raises(converter.UnsupportedLayerError, match="time_distributed.*--architecture"):
        converter.state_dict(str(tmp_path / "m.weights.h5"))


def test_a_saved_model_of_a_tf_module_is_a_tree_of_its_variables(tmp_path):
    """`tf.saved_model.save` of a plain tf.Module (no Keras metadata): its variables by attribute name."""
    tf = tensorflow()

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(np.random.default_rng(1).normal(size=(3, 2)).astype("float32"))
            self.bias = tf.Variable(np.array([0.5, -0.25], "float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 3])])
        def __call__(self, x):
            return x @ self.kernel + self.bias

    folder = str(tmp_path / "saved")
    tf.saved_model.save(Affine(), folder)
    loaded = tf.saved_model.load(folder)
    weights = converter.state_dict(folder, layout="keras")
    np.testing.assert_array_equal(weights["variables.kernel"], loaded.kernel.numpy())
    np.testing.assert_array_equal(weights["variables.bias"], loaded.bias.numpy())
    module = torch.nn.Sequential()
    module.affine = torch.nn.Linear(3, 2)
    converter.load_into(module.eval(), folder, mapping=[(r"^variables\.kernel$", "affine.weight"),
                                                       (r"^variables\.bias$", "affine.bias")])
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), loaded(tf.constant(x)).numpy(), atol=1e-6)


def _as_tf2_0_checkpoint(prefix: str, target: str, config: dict, input_layer: bool) -> None:
    """The checkpoint of `prefix` (tf_keras's save_weights) as tf.keras of TF 2.0-2.3 wrote it: the model's
    config saved at the root (`OBJECT_CONFIG_JSON`, get_config) and, for a Sequential (`input_layer`), the
    InputLayer it made numbered `layer-0` among its layers, the others after it."""
    import re

    from tensorflow.core.protobuf import trackable_object_graph_pb2

    tf = tensorflow()
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    root = graph.nodes[0]
    if input_layer:
        for child in root.children:
            found = re.match(r"^layer-(\d+)$", child.local_name)
            if found:
                child.local_name = f"layer-{int(found.group(1)) + 1}"
        graph.nodes.add()  # the InputLayer: an object without variables
        root.children.add(node_id=len(graph.nodes) - 1, local_name="layer-0")
    root.attributes.add(name="OBJECT_CONFIG_JSON", full_name="", checkpoint_key="/.ATTRIBUTES/OBJECT_CONFIG_JSON")
    tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    tensors["_CHECKPOINTABLE_OBJECT_GRAPH"] = graph.SerializeToString()
    tensors["/.ATTRIBUTES/OBJECT_CONFIG_JSON"] = json.dumps(config).encode()
    tf.raw_ops.SaveV2(prefix=target, tensor_names=list(tensors), shape_and_slices=[""] * len(tensors),
                      tensors=[tf.constant(value) for value in tensors.values()])


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_tf_2_0_checkpoint_holds_its_model_config(tmp_path, kind):
    """tf.keras of TF 2.0-2.3 saved the model's config inside a save_weights checkpoint (a real one of a public
    repository, TensorFlow's own save-and-load tutorial): it is the architecture, so such a checkpoint converts,
    builds and verifies on its own; its Sequential counted the InputLayer it made among its layers."""
    import tf_keras as k

    layers = [k.layers.Conv2D(3, 2, name="conv"), k.layers.BatchNormalization(name="bn"),
              k.layers.Flatten(name="flatten"), k.layers.Dropout(0.1, name="drop"), k.layers.Dense(2, name="head")]
    if kind == "sequential":
        model = k.Sequential([k.Input((5, 5, 2)), *layers])
    else:
        x = inputs = k.Input((5, 5, 2))
        for layer in layers:
            x = layer(x)
        model = k.Model(inputs, x)
    randomize(model, seed=11)
    model.save_weights(str(tmp_path / "new" / "weights"))
    config = json.loads(model.to_json())
    config = {"class_name": config["class_name"], "config": config["config"]}
    if kind == "sequential":  # TF 2.0-2.3: no InputLayer in a Sequential's config, its first layer has the shape
        first, *rest = config["config"]["layers"]
        rest[0]["config"]["batch_input_shape"] = first["config"]["batch_input_shape"]
        config["config"]["layers"] = rest
    prefix = str(tmp_path / "old" / "weights")
    (tmp_path / "old").mkdir()
    _as_tf2_0_checkpoint(str(tmp_path / "new" / "weights"), prefix, config, input_layer=kind == "sequential")
    (tmp_path / "model.json").write_text(model.to_json())
    expected = converter.state_dict(str(tmp_path / "new" / "weights"), architecture=str(tmp_path / "model.json"))
    same_tensors(converter.state_dict(prefix), expected)  # the Dense after Flatten regrouped: the graph is known
    x = np.random.default_rng(3).normal(size=(4, 5, 5, 2)).astype("float32")
    with torch.no_grad():
        built = converter.to_torch(prefix, input_layout="keras")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(built, model(x).numpy(), atol=1e-5)
    assert converter.verify(prefix, samples=3).ok
    # without the config (TF 2.4+) the same checkpoint is a tree of variables, as before; with the architecture
    # given it converts and verifies (Keras builds it and restores the checkpoint, every variable matched)
    assert "named variables" in run_cli("convert", str(tmp_path / "new" / "weights"),
                                        str(tmp_path / "out.safetensors")).stderr
    assert converter.verify(str(tmp_path / "new" / "weights"), architecture=str(tmp_path / "model.json"),
                            samples=3).ok


def test_a_checkpoints_own_config_is_data_only(tmp_path):
    """The config inside a checkpoint is read as any file's config: not JSON is a one-line error, and a config
    carrying code (a Lambda) converts its weights but is never handed to Keras by verify."""
    import tf_keras as k

    model = k.Sequential([k.Input((3,)), k.layers.Dense(4, name="dense"), k.layers.Lambda(lambda x: x * 2),
                          k.layers.Dense(2, name="head")])
    model.save_weights(str(tmp_path / "new" / "weights"))
    (tmp_path / "bad").mkdir()
    tf = tensorflow()
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "bad" / "weights"), tensor_names=["/.ATTRIBUTES/OBJECT_CONFIG_JSON"],
                      shape_and_slices=[""], tensors=[tf.constant(b"{not json")])
    result = run_cli("inspect", str(tmp_path / "bad" / "weights"))
    assert result.returncode == 2 and "not valid JSON" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (tmp_path / "code").mkdir()
    _as_tf2_0_checkpoint(str(tmp_path / "new" / "weights"), str(tmp_path / "code" / "weights"),
                         json.loads(model.to_json()), False)
    assert sorted(converter.state_dict(str(tmp_path / "code" / "weights"))) == [
        "dense.bias", "dense.weight", "head.bias", "head.weight"]
    with pytest.raises(converter.UnsafeFileError, match="never lets code from a file run"):
        converter.verify(str(tmp_path / "code" / "weights"))


def _keras3_model():
    """A Keras 3 model whose variables' paths take every form: a nested functional model's layers (their own
    names alone), a Sequential's (under its name), an attention's sublayers, a Bidirectional's two cells, a
    BatchNormalization's statistics, a Dropout's and an LSTM's random seeds."""
    import keras

    inner_input = keras.Input((6, 8))
    inner = keras.Model(inner_input, keras.layers.Dense(8, name="inner_dense")(inner_input), name="inner")
    block = keras.Sequential([keras.layers.Dense(8, name="block_dense"), keras.layers.BatchNormalization(name="bn")],
                             name="block")
    x = keras.Input((6, 8))
    h = block(inner(x))
    h = keras.layers.Dropout(0.2)(keras.layers.MultiHeadAttention(2, 4, name="mha")(h, h))
    h = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True), name="bi")(h)
    model = keras.Model(x, keras.layers.LSTM(3, name="lstm")(h))
    randomize(model, seed=4)
    return model


def test_a_keras3_export_pairs_with_its_architecture_by_the_variables_names(tmp_path):
    """model.export() writes no Keras metadata and keys variables by position (`variables/7`); saved_model.pb
    names each by its Keras path, in model.variables' order: with the architecture every layer gets its own,
    and without one the variables are a tree of those names (not of positions)."""
    pytest.importorskip("tensorflow")
    model = _keras3_model()
    keras_file, folder = str(tmp_path / "model.keras"), str(tmp_path / "exported")
    model.save(keras_file)
    model.export(folder, verbose=False)
    same_tensors(converter.state_dict(folder, architecture=keras_file), converter.state_dict(keras_file))
    named = converter.state_dict(folder, layout="keras")
    assert "mha.query.kernel" in named and any(key.startswith("bi.backward_lstm") and  # `_1` in a second model
                                               key.endswith(".lstm_cell.recurrent_kernel") for key in named)
    assert not any(key.startswith(("variables.", "_all_variables.", "seed_generator")) for key in named)
    np.testing.assert_array_equal(named["block.bn.moving_variance"], model.get_layer("block").layers[1].moving_variance)
    with converter.read(folder) as graph:
        left_out = graph.metadata["left_out"]
    assert "a random seed's state" in left_out and "listed again" in left_out


def test_a_keras3_export_verifies_with_its_architecture(tmp_path):
    """Keras builds the architecture and takes the export's variables by position (TensorFlow's checkpoint reader),
    independently of the names weightport placed them by; another architecture's export is refused."""
    pytest.importorskip("tensorflow")
    import keras

    model = _keras3_model()
    keras_file, folder = str(tmp_path / "model.keras"), str(tmp_path / "exported")
    model.save(keras_file)
    model.export(folder, verbose=False)
    report = converter.verify(folder, architecture=keras_file, per_layer=True)
    assert report.ok, report
    result = run_cli("verify", folder)
    assert result.returncode == 2 and "--architecture" in result.stderr, result.stderr
    other = keras.Sequential([keras.Input((6, 8)), keras.layers.LSTM(3, name="lstm")])
    other.save(str(tmp_path / "other.keras"))
    with pytest.raises(converter.ConverterError):
        converter.verify(folder, architecture=str(tmp_path / "other.keras"))
    # the same layers and a Dropout more: weightport's reader pairs every weight by name, and Keras's model holds a
    # variable more (the Dropout's seed) than the export lists
    x = keras.Input((4,))
    small = keras.Model(x, keras.layers.Dense(3, name="head")(keras.layers.Dense(5, name="d")(x)))
    small.export(str(tmp_path / "small"), verbose=False)
    x = keras.Input((4,))
    keras.Model(x, keras.layers.Dense(3, name="head")(keras.layers.Dropout(0.1, seed=1)(
        keras.layers.Dense(5, name="d")(x)))).save(str(tmp_path / "dropout.keras"))
    with pytest.raises(converter.ReadError, match="lists 4 variables and the architecture's model has 5"):
        converter.verify(str(tmp_path / "small"), architecture=str(tmp_path / "dropout.keras"))


def test_a_keras3_saved_model_in_another_order_is_refused_with_an_architecture(tmp_path):
    """tf.saved_model.save(model) lists the variables by the model's attributes, in the checkpoint's order: an
    attention's projections would come in another order than a layer's weights are read in; refused by name,
    and its variables are still a tree of their names without the architecture."""
    tf = tensorflow()
    model = _keras3_model()
    keras_file, folder = str(tmp_path / "model.keras"), str(tmp_path / "saved")
    model.save(keras_file)
    tf.saved_model.save(model, folder)
    with pytest.raises(converter.ReadError, match="not listed in the model's order"):
        converter.state_dict(folder, architecture=keras_file)
    assert "mha.query.kernel" in converter.state_dict(folder, layout="keras")


def test_a_keras3_export_whose_names_repeat_is_refused_with_an_architecture(tmp_path):
    """A nested model's layers are named without its name: an inner `dense` and an outer `dense` both save
    `dense/kernel`, and which is which would be a guess."""
    pytest.importorskip("tensorflow")
    import keras

    inner_input = keras.Input((4,))
    inner = keras.Model(inner_input, keras.layers.Dense(4, name="dense")(inner_input), name="inner")
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(3, name="dense")(inner(x)))
    keras_file, folder = str(tmp_path / "model.keras"), str(tmp_path / "exported")
    model.save(keras_file)
    model.export(folder, verbose=False)
    with pytest.raises(converter.ReadError, match=r"cannot be told apart by the names it records \(2 name\(s\) "
                                                  r"stand for two variables \(dense/bias, dense/kernel\)\)"):
        converter.state_dict(folder, architecture=keras_file)


def test_a_keras3_export_computes_as_the_keras_of_its_architecture(tmp_path):
    """A Keras 3 model.export() SavedModel records no Keras version: it was built as tf.keras computes ("2.x", what
    a tf.keras SavedModel is), a hard_sigmoid Dense 0.08 off. Its architecture's version (the .keras archive's
    metadata.json) is taken, and it is built as Keras 3 computes."""
    pytest.importorskip("tensorflow")
    import keras
    import numpy as np
    import torch

    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(3, activation="hard_sigmoid", name="d")(x))
    model.layers[-1].set_weights([np.random.default_rng(1).normal(size=(4, 3)).astype("float32"),
                                  np.array([0.1, -0.2, 0.3], "float32")])
    keras_file, folder = str(tmp_path / "model.keras"), str(tmp_path / "exported")
    model.save(keras_file)
    model.export(folder, verbose=False)
    assert converter.inspect(folder, architecture=keras_file).to_dict()["keras_version"] == keras.__version__
    inputs = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    with torch.no_grad():
        got = converter.to_torch(folder, architecture=keras_file, input_layout="keras")(torch.from_numpy(inputs))
    np.testing.assert_allclose(got.numpy(), np.asarray(model(inputs)), atol=1e-6)
