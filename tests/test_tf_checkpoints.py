"""TensorFlow checkpoints and SavedModel directories, read without TensorFlow, against TensorFlow's own reader."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import converter
from helpers import ROOT, run_cli
from layer_harness import randomize

sys.path.insert(0, str(ROOT / "fuzz"))  # craft_bundle: TensorFlow bundles written by hand, damaged on purpose


def _tf():
    import tensorflow as tf

    return tf


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One trained tf.keras model (optimizer slots exist) as .h5, a SavedModel and a TF2 checkpoint."""
    import tf_keras as k

    folder = tmp_path_factory.mktemp("tf")
    x = k.Input((5, 4))
    h = k.layers.LSTM(3, return_sequences=True, name="lstm")(x)
    h = k.layers.Conv1D(4, 2, name="conv")(h)
    h = k.layers.BatchNormalization(name="bn")(h)
    h = k.layers.Flatten()(h)
    y = k.layers.Dense(2, name="head")(h)
    model = k.Model(x, y)
    model.compile("adam", "mse")
    model.fit(np.random.default_rng(0).normal(size=(8, 5, 4)), np.zeros((8, 2)), verbose=0)
    randomize(model, seed=2)
    model.save(str(folder / "model.h5"))
    model.save(str(folder / "saved"), save_format="tf")
    model.save_weights(str(folder / "ckpt" / "weights"))
    return folder, model


def _same(first: dict, second: dict) -> None:
    assert set(first) == set(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_saved_model_and_checkpoint_equal_the_h5(written):
    folder, _ = written
    reference = converter.state_dict(str(folder / "model.h5"))
    _same(converter.state_dict(str(folder / "saved")), reference)
    for name in ("saved_model.pb", "keras_metadata.pb"):  # the folder named by one of its files, as users do
        _same(converter.state_dict(str(folder / "saved" / name)), reference)
        _same(converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "saved" / name)), reference)
    for source in ("ckpt/weights", "ckpt/weights.index", "ckpt/weights.data-00000-of-00001", "ckpt"):
        _same(converter.state_dict(str(folder / source), architecture=str(folder / "model.h5")), reference)
    # the SavedModel of the same model as the architecture (its keras_metadata.pb), as projects keep both
    _same(converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "saved")), reference)
    (folder / "bare").mkdir(exist_ok=True)
    for name in ("saved_model.pb", "variables"):
        (folder / "bare" / name).symlink_to(folder / "saved" / name)
    with pytest.raises(converter.ReadError, match="without a Keras model config"):
        converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "bare"))
    with pytest.raises(converter.ReadError, match="a directory, not a SavedModel"):
        converter.state_dict(str(folder / "ckpt"), architecture=str(folder))
    (folder / "committed").mkdir(exist_ok=True)  # a repository that committed saved_model.pb alone
    (folder / "committed" / "saved_model.pb").write_bytes((folder / "saved" / "saved_model.pb").read_bytes())
    for named in ("committed", "committed/saved_model.pb"):
        with pytest.raises(converter.ReadError, match="without variables/variables.index .*fetch that folder"):
            converter.state_dict(str(folder / named))
    with converter.read(str(folder / "saved")) as graph:
        assert graph.format == "tf-saved-model"
        assert "optimizer/" in graph.metadata["left_out"]


def test_saved_model_builds_and_verifies(written):
    folder, model = written
    inputs = np.random.default_rng(1).normal(size=(3, 5, 4)).astype("float32")
    module = converter.to_torch(str(folder / "saved"), input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(actual, model(inputs).numpy(), atol=1e-5)
    assert converter.verify(str(folder / "saved"), per_layer=True).ok
    assert converter.verify(str(folder / "saved" / "saved_model.pb")).ok  # Keras builds it from the folder


def test_verify_never_runs_a_saved_models_own_functions(tmp_path):
    """TensorFlow's SavedModel loader runs functions the file holds (a resource's initializer): a crafted
    SavedModel whose Keras config is clean but whose resource writes a file when loaded. verify builds the
    model from the config and restores the variables checkpoint instead: nothing is written, and it verifies."""
    import tf_keras as k

    tf = _tf()
    marker = tmp_path / "MARKER"

    class Initialized(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="weightport_test_resource")

        def _initialize(self):
            tf.io.write_file(str(marker), "code from the file ran")

    inputs = k.Input((6,))
    model = k.Model(inputs, k.layers.Dense(3, name="head")(k.layers.Dense(5, activation="relu")(inputs)))
    randomize(model, seed=4)
    model.resource = Initialized()
    model.save(str(tmp_path / "saved"), save_format="tf")
    marker.unlink(missing_ok=True)
    k.models.load_model(str(tmp_path / "saved"), compile=False)  # what verify must not do: it runs the initializer
    assert marker.exists()
    marker.unlink()
    result = run_cli("verify", str(tmp_path / "saved"))
    assert result.returncode == 0, result.stderr
    assert "result: ok" in result.stdout
    assert not marker.exists()


def test_a_tf_2_4_saved_model_keeps_its_keras_config_in_saved_model_pb(written, tmp_path):
    """TF 2.0-2.4 wrote no keras_metadata.pb: the config is the root object's metadata inside saved_model.pb.
    Made here from a TF 2.21 SavedModel as those versions laid it out (a real TF 2.4.1 one converted and
    verified the same way)."""
    import shutil

    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    folder, _ = written
    old = tmp_path / "tf24"
    shutil.copytree(folder / "saved", old)
    metadata = saved_metadata_pb2.SavedMetadata.FromString((old / "keras_metadata.pb").read_bytes())
    saved = saved_model_pb2.SavedModel.FromString((old / "saved_model.pb").read_bytes())
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    root = nodes[0].user_object
    assert root.identifier.startswith("_tf_keras_") and not root.metadata
    for node in metadata.nodes:  # every Keras object's metadata on its node, as TF 2.0-2.4 wrote it
        nodes[node.node_id].user_object.metadata = node.metadata
    assert root.metadata
    (old / "saved_model.pb").write_bytes(saved.SerializeToString())
    (old / "keras_metadata.pb").unlink()
    reference = converter.state_dict(str(folder / "model.h5"))
    _same(converter.state_dict(str(old)), reference)
    _same(converter.state_dict(str(folder / "ckpt"), architecture=str(old)), reference)
    assert converter.verify(str(old)).ok
    root.metadata = ""  # a SavedModel of TF 2.5+ that lost its keras_metadata.pb: a tree of variables, not a guess
    (old / "saved_model.pb").write_bytes(saved.SerializeToString())
    with pytest.raises(converter.UnsupportedLayerError, match="without a Keras model"):
        converter.state_dict(str(old))
    with pytest.warns(converter.ConversionWarning, match="kept as stored"):  # asked for: every variable as stored
        _same(converter.state_dict(str(old), keep_unsupported=True), converter.state_dict(str(old), layout="keras"))
    (old / "saved_model.pb").write_bytes(saved.SerializeToString()[:-7])  # damaged: a one-line error
    result = run_cli("inspect", str(old))
    assert result.returncode == 2 and "saved_model.pb" in result.stderr and "Traceback" not in result.stderr


def test_raw_checkpoint_tensors_equal_tensorflows(written, tmp_path):
    folder, _ = written
    prefix = str(folder / "ckpt" / "weights")
    result = run_cli("convert", prefix, str(tmp_path / "raw.safetensors"), "--layout", "keras")
    assert result.returncode == 0, result.stderr
    reader = _tf().train.load_checkpoint(prefix)
    weights = converter.state_dict(prefix, layout="keras")
    names = [name for name in reader.get_variable_to_shape_map()
             if not name.startswith(("optimizer", "save_counter", "_CHECKPOINTABLE")) and "OPTIMIZER_SLOT" not in name]
    assert len(weights) == len(names) > 0
    for name in names:
        path = name[: -len("/.ATTRIBUTES/VARIABLE_VALUE")]
        key = ".".join(part.replace("-", "_") for part in path.split("/"))
        np.testing.assert_array_equal(weights[key], reader.get_tensor(name), err_msg=name)


def test_tf1_name_based_checkpoint(tmp_path):
    """tf.compat.v1.train.Saver with Google's BERT names, Adam slots, an EMA shadow and several dtypes."""
    tf = _tf()
    rng = np.random.default_rng(3)
    values = {
        "bert/encoder/layer_0/attention/self/query/kernel": rng.normal(size=(8, 8)).astype("float32"),
        "bert/encoder/layer_0/attention/self/query/bias": rng.normal(size=(8,)).astype("float32"),
        "bert/embeddings/word_embeddings": rng.normal(size=(30, 8)).astype("float16"),
        "bert/pooler/dense/kernel": rng.normal(size=(8, 8)).astype("float64"),
        "cls/predictions/output_bias": rng.integers(-5, 5, size=(30,)).astype("int32"),
    }
    prefix = str(tmp_path / "model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=value) for name, value in values.items()]
        kernel = variables[0]
        extra = [tf.compat.v1.get_variable(kernel.op.name + suffix, initializer=np.zeros((8, 8), "float32"))
                 for suffix in ("/adam_m", "/Adam", "/Adam_1", "/ExponentialMovingAverage")]
        tf.compat.v1.get_variable("global_step", initializer=np.int64(7))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix)
    assert extra
    weights = converter.state_dict(prefix, layout="keras")
    reader = tf.train.load_checkpoint(prefix)
    for name, value in values.items():
        key = name.replace("/", ".")
        np.testing.assert_array_equal(weights[key], reader.get_tensor(name))
        assert weights[key].dtype == value.dtype
    with converter.read(prefix) as graph:
        left_out = graph.metadata["left_out"]
    for slot in ("/adam_m", "/Adam", "/Adam_1", "ExponentialMovingAverage", "global_step"):
        assert slot in left_out
    assert len(weights) == len(values)
    # every file the Saver wrote names the checkpoint: the graph beside it (.meta) and the state file too
    for path in (prefix + ".meta", str(tmp_path / "checkpoint"), str(tmp_path)):
        _same(converter.state_dict(path, layout="keras"), weights)


def test_damaged_checkpoints_are_one_line_errors(written, tmp_path):
    folder, _ = written
    import shutil

    damaged = tmp_path / "ckpt"
    shutil.copytree(folder / "ckpt", damaged)
    data = damaged / "weights.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[10] ^= 0xFF
    data.write_bytes(bytes(raw))
    result = run_cli("convert", str(damaged / "weights"), str(tmp_path / "out.safetensors"), "--layout", "keras")
    assert result.returncode == 2 and "checksum" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out.safetensors").exists()
    # the object graph (which names every variable for an architecture) damaged: found by its checksum
    from converter.readers import tf_bundle

    shards, entries = tf_bundle.read_index(str(damaged / "weights"))
    graph_entry = next(entry for entry in entries if entry.name == "_CHECKPOINTABLE_OBJECT_GRAPH")
    raw[10] ^= 0xFF
    raw[graph_entry.offset + graph_entry.size - 3] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(converter.ReadError, match="the object graph: the checksum does not match"):
        converter.state_dict(str(damaged / "weights"), architecture=str(folder / "model.h5"))
    data.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 2000000\n")  # not pulled
    result = run_cli("inspect", str(damaged / "weights"))
    assert result.returncode == 2 and "a Git LFS pointer to a 2.0 MB file" in result.stderr
    data.unlink()  # only the index copied: a SavedModel's variables folder committed without its data file
    result = run_cli("convert", str(damaged / "weights"), str(tmp_path / "out.safetensors"), "--layout", "keras")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "weights.index: its data file weights.data-00000-of-00001 (holding " in result.stderr
    assert "is missing beside it; copy it too" in result.stderr
    index = damaged / "weights.index"
    index.write_bytes(index.read_bytes()[:-20])
    result = run_cli("inspect", str(damaged / "weights"))
    assert result.returncode == 2 and "Traceback" not in result.stderr


CRAFTED = {  # case -> (changes to the good entry, what the one-line error says)
    "offset_past_shard": ({"offset": 1 << 20}, "past the end"),
    "absurd_shape": ({"shape": (1 << 20, 1 << 20)}, "bytes stored"),
    "size_mismatch": ({"size": 7}, "bytes stored"),
    "unknown_dtype": ({"dtype": 99}, None),
    "bad_checksum": ({"crc": 12345}, "checksum"),
    "shard_out_of_range": ({"shard": 3}, "shard"),
    "sliced": ({"sliced": 1}, "partitioned"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_bundles_are_refused_in_one_line(tmp_path, case):
    from craft_bundle import tensor_entry, write_bundle

    array = np.arange(12, dtype="float32").reshape(3, 4)
    changes, expected = CRAFTED[case]
    write_bundle(str(tmp_path / "ckpt"), [("dense/kernel", tensor_entry(array, **changes))], array.tobytes())
    result = run_cli("convert", str(tmp_path / "ckpt"), str(tmp_path / "out.safetensors"), "--layout", "keras")
    if expected is None:  # an unknown dtype is left out and listed, nothing else to convert
        assert result.returncode == 2 and "no weights" in result.stderr, result.stderr
    else:
        assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.safetensors").exists()


def test_crafted_good_bundle_converts(tmp_path):
    """The writer above is right: its unchanged entry converts to the array it describes."""
    from craft_bundle import tensor_entry, write_bundle

    array = np.arange(12, dtype="float32").reshape(3, 4)
    write_bundle(str(tmp_path / "ckpt"), [("dense/kernel", tensor_entry(array))], array.tobytes())
    np.testing.assert_array_equal(converter.state_dict(str(tmp_path / "ckpt"), layout="keras")["dense.kernel"], array)


def test_a_state_file_naming_another_folder_is_refused(tmp_path, written):
    folder, _ = written
    (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "{folder}/ckpt/weights"\n')
    result = run_cli("inspect", str(tmp_path))
    assert result.returncode == 2 and "only files in the folder" in result.stderr
    # the folder moved (TF1 writes absolute paths): the checkpoint of that name beside the state file is read
    import shutil

    for file in (folder / "ckpt").iterdir():
        if file.name.startswith("weights."):
            shutil.copy(file, tmp_path / file.name)
    with converter.read(str(tmp_path)) as graph:
        assert graph.files and all(file.startswith(str(tmp_path)) for file in graph.files)
    _same(converter.state_dict(str(tmp_path / "checkpoint"), layout="keras"),
          converter.state_dict(str(folder / "ckpt"), layout="keras"))


def test_a_bert_shaped_tf1_checkpoint_loads_into_a_pytorch_module(tmp_path):
    """Google's BERT variable names, no architecture: load_into with a few renames; Linear kernels are
    transposed because they go into nn.Linear, embeddings and LayerNorm parameters load as stored."""
    import re

    from torch import nn

    tf = _tf()
    rng = np.random.default_rng(5)
    hidden, inner, vocab = 8, 16, 20
    names = {
        "bert/embeddings/word_embeddings": (vocab, hidden),
        "bert/embeddings/LayerNorm/gamma": (hidden,), "bert/embeddings/LayerNorm/beta": (hidden,),
        "bert/encoder/layer_0/attention/self/query/kernel": (hidden, hidden),
        "bert/encoder/layer_0/attention/self/query/bias": (hidden,),
        "bert/encoder/layer_0/intermediate/dense/kernel": (hidden, inner),
        "bert/encoder/layer_0/intermediate/dense/bias": (inner,),
        "bert/encoder/layer_0/output/dense/kernel": (inner, hidden),
        "bert/encoder/layer_0/output/dense/bias": (hidden,),
    }
    values = {name: rng.normal(size=shape).astype("float32") for name, shape in names.items()}
    prefix = str(tmp_path / "bert_model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        for name, value in values.items():
            tf.compat.v1.get_variable(name, initializer=value)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(session, prefix)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(hidden, hidden)
            self.intermediate = nn.Linear(hidden, inner)
            self.output = nn.Linear(inner, hidden)

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, hidden)
            self.norm = nn.LayerNorm(hidden, eps=1e-12)
            self.layer = nn.ModuleList([Layer()])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            x = self.norm(self.word_embeddings(ids))
            block = self.layer[0]
            return block.output(torch.relu(block.intermediate(block.query(x))))

    def rename(key: str) -> str:
        key = re.sub(r"^bert\.embeddings\.LayerNorm\.gamma$", "norm.weight", key)
        key = re.sub(r"^bert\.embeddings\.LayerNorm\.beta$", "norm.bias", key)
        key = re.sub(r"^bert\.embeddings\.word_embeddings$", "word_embeddings.weight", key)
        key = re.sub(r"^bert\.encoder\.layer_(\d+)\.(?:attention\.self\.|)(query|intermediate|output)(?:\.dense)?\.",
                     r"layer.\1.\2.", key)
        return re.sub(r"\.kernel$", ".weight", key)

    model = Bert().eval()
    plan = converter.load_into(model, prefix, mapping=rename)
    assert plan.ok, str(plan)
    ids = np.array([[1, 5, 7, 19]])
    embedded = values["bert/embeddings/word_embeddings"][ids]
    mean, var = embedded.mean(-1, keepdims=True), embedded.var(-1, keepdims=True)
    x = (embedded - mean) / np.sqrt(var + 1e-12) * values["bert/embeddings/LayerNorm/gamma"] \
        + values["bert/embeddings/LayerNorm/beta"]
    layer = "bert/encoder/layer_0/"
    x = x @ values[layer + "attention/self/query/kernel"] + values[layer + "attention/self/query/bias"]
    x = np.maximum(x @ values[layer + "intermediate/dense/kernel"] + values[layer + "intermediate/dense/bias"], 0)
    expected = x @ values[layer + "output/dense/kernel"] + values[layer + "output/dense/bias"]
    with torch.no_grad():
        actual = model(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_a_variable_of_unknown_layout_is_refused(tmp_path):
    """A 2-D variable not named `kernel` into nn.Linear: TensorFlow's layout for it is unknown."""
    from craft_bundle import tensor_entry, write_bundle
    from torch import nn

    array = np.arange(12, dtype="float32").reshape(3, 4)
    write_bundle(str(tmp_path / "ckpt"), [("fc/w", tensor_entry(array))], array.tobytes())
    model = nn.Module()
    model.fc = nn.Linear(3, 4, bias=False)
    with pytest.raises(converter.LoadError, match="no known TensorFlow layout"):
        converter.load_into(model, str(tmp_path / "ckpt"), mapping={"fc.w": "fc.weight"})


def test_a_checkpoint_in_several_data_files(tmp_path):
    """TF 2.16+'s MaxShardSizePolicy: one variable per data file here (a size that slices none)."""
    tf = _tf()
    variables = {f"v{i}": tf.Variable(np.random.default_rng(i).normal(size=(64, 64)).astype("float32"))
                 for i in range(6)}
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=16384)
    prefix = str(tmp_path / "ckpt")
    tf.train.Checkpoint(**variables).write(prefix, options=tf.train.CheckpointOptions(
        experimental_sharding_callback=policy))
    assert len(list(tmp_path.glob("ckpt.data-*"))) > 1
    weights = converter.state_dict(prefix, layout="keras")
    reader = tf.train.load_checkpoint(prefix)
    for name in variables:
        np.testing.assert_array_equal(weights[f"variables.{name}"],  # a name without a path: group "variables"
                                      reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))


def test_a_large_tensor_is_checked_as_it_is_copied(tmp_path):
    """A 12 MB tensor copied through the process in chunks (a second thread writing) while its CRC-32C is
    computed: the output equals TensorFlow's tensor; one flipped byte near its end fails the conversion,
    leaving no output."""
    tf = _tf()
    value = np.random.default_rng(5).normal(size=(3072, 1024)).astype("float32")
    prefix = str(tmp_path / "ckpt")
    tf.train.Checkpoint(big=tf.Variable(value), small=tf.Variable(value[:3, :5])).write(prefix)
    out = tmp_path / "out.safetensors"
    converter.convert(prefix, out, layout="keras")
    from safetensors.numpy import load_file

    written = load_file(str(out))
    np.testing.assert_array_equal(written["variables.big"], value)
    np.testing.assert_array_equal(written["variables.small"], value[:3, :5])
    data = tmp_path / "ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    last_row = raw.find(value[-1].tobytes())
    assert last_row > 0
    raw[last_row + 4000] ^= 0x01  # in the last chunk of the big tensor
    data.write_bytes(bytes(raw))
    out.unlink()
    with pytest.raises(converter.ReadError, match="checksum does not match"):
        converter.convert(prefix, out, layout="keras")
    assert not out.exists()


def test_a_variable_saved_in_slices_is_refused_by_name(tmp_path):
    tf = _tf()
    variables = {f"v{i}": tf.Variable(np.zeros((64, 64), "float32")) for i in range(6)}
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=20000)
    prefix = str(tmp_path / "ckpt")
    tf.train.Checkpoint(**variables).write(prefix, options=tf.train.CheckpointOptions(
        experimental_sharding_callback=policy))
    result = run_cli("inspect", prefix)
    assert result.returncode == 2 and "partitioned variable" in result.stderr


def test_moving_averages_are_a_choice(tmp_path):
    """--variables ema reads each variable's ExponentialMovingAverage shadow under its own name."""
    tf = _tf()
    raw, shadow = np.ones((3, 2), "float32"), np.full((3, 2), 0.5, "float32")
    prefix = str(tmp_path / "model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.get_variable("dense/kernel", initializer=raw)
        tf.compat.v1.get_variable("dense/kernel/ExponentialMovingAverage", initializer=shadow)
        tf.compat.v1.get_variable("dense/bias", initializer=np.zeros(2, "float32"))  # no shadow: raw either way
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(session, prefix)
    np.testing.assert_array_equal(converter.state_dict(prefix, layout="keras")["dense.kernel"], raw)
    averaged = converter.state_dict(prefix, layout="keras", variables="ema")
    np.testing.assert_array_equal(averaged["dense.kernel"], shadow)
    assert set(averaged) == {"dense.kernel", "dense.bias"}
    result = run_cli("convert", prefix, str(tmp_path / "ema.safetensors"), "--layout", "keras", "--variables", "ema")
    assert result.returncode == 0, result.stderr
    inspect = run_cli("inspect", prefix)
    assert "ExponentialMovingAverage" in inspect.stdout  # the shadows are listed beside the raw copy
    module = torch.nn.Sequential()
    module.dense = torch.nn.Linear(3, 2)
    converter.load_into(module, prefix, mapping={"dense.kernel": "dense.weight"}, variables="ema")
    np.testing.assert_array_equal(module.dense.weight.detach().numpy(), shadow.T)  # the shadow, transposed
    template = str(tmp_path / "template.pt")
    torch.save(module.state_dict(), template)
    converted = converter.convert(prefix, str(tmp_path / "like.safetensors"), like=template,
                                  mapping={"dense.kernel": "dense.weight"})
    assert {target.key: target.transform for target in converted.tensors} == {"dense.weight": "transpose(1,0)",
                                                                             "dense.bias": "none"}
    from helpers import fixture

    refused = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "x.safetensors"), "--variables", "ema")
    assert refused.returncode == 2 and "not a checkpoint" in refused.stderr


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
    _same(weights, reference)


@pytest.mark.parametrize("version", ["2.13", "2.14", "2.15"])
@pytest.mark.parametrize("name, given", [("func", "x6"), ("nested", "x6"), ("seq", "x53")])
def test_tf_keras_2_13_to_2_15_keras_archives(version, name, given):
    """`.keras` files written by tf.keras 2.13 to 2.15 (weights under `_layer_checkpoint_dependencies`, numbered
    with each weighted layer counted twice), which neither Keras 3 nor tf_keras 2.21 loads: converted and built,
    against the outputs that TensorFlow computed (fixtures/make_tf_keras_archives.py)."""
    from helpers import fixture

    io = np.load(fixture(f"tf{version}/io.npz"))
    with converter.read(fixture(f"tf{version}/{name}.keras")) as graph:
        assert graph.keras_version.startswith(version)
    module = converter.to_torch(fixture(f"tf{version}/{name}.keras"), input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(io[given])).numpy()
    np.testing.assert_allclose(actual, io[f"out_{name}"], atol=1e-5)
    if name == "func":
        _same(converter.state_dict(fixture(f"tf{version}/func.keras")),
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
    _same(converter.state_dict(str(tmp_path / "m.weights.h5"), architecture=str(tmp_path / "m.keras")),
          converter.state_dict(str(tmp_path / "m.keras")))
    with pytest.raises(converter.UnsupportedLayerError, match="time_distributed.*--architecture"):
        converter.state_dict(str(tmp_path / "m.weights.h5"))


def test_a_saved_model_of_a_tf_module_is_a_tree_of_its_variables(tmp_path):
    """`tf.saved_model.save` of a plain tf.Module (no Keras metadata): its variables by attribute name."""
    tf = _tf()

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

    tf = _tf()
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
    _same(converter.state_dict(prefix), expected)  # the Dense after Flatten regrouped: the graph is known
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
    _tf().raw_ops.SaveV2(prefix=str(tmp_path / "bad" / "weights"), tensor_names=["/.ATTRIBUTES/OBJECT_CONFIG_JSON"],
                         shape_and_slices=[""], tensors=[_tf().constant(b"{not json")])
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
    _same(converter.state_dict(folder, architecture=keras_file), converter.state_dict(keras_file))
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
    tf = _tf()
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
