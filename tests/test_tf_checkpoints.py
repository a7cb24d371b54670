"""TensorFlow checkpoints and SavedModel directories, read without TensorFlow, against TensorFlow's own reader."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import converter
from helpers import ROOT, run_cli, same_tensors, tensorflow
from layer_harness import randomize

sys.path.insert(0, str(ROOT / "fuzz"))  # craft_bundle: TensorFlow bundles written by hand, damaged on purpose


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


def test_saved_model_and_checkpoint_equal_the_h5(written):
    folder, _ = written
    reference = converter.state_dict(str(folder / "model.h5"))
    same_tensors(converter.state_dict(str(folder / "saved")), reference)
    for name in ("saved_model.pb", "keras_metadata.pb"):  # the folder named by one of its files, as users do
        same_tensors(converter.state_dict(str(folder / "saved" / name)), reference)
        same_tensors(converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "saved" / name)), reference)
    for source in ("ckpt/weights", "ckpt/weights.index", "ckpt/weights.data-00000-of-00001", "ckpt"):
        same_tensors(converter.state_dict(str(folder / source), architecture=str(folder / "model.h5")), reference)
    # the SavedModel of the same model as the architecture (its keras_metadata.pb), as projects keep both
    same_tensors(converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "saved")), reference)
    (folder / "bare").mkdir(exist_ok=True)
    for name in ("saved_model.pb", "variables"):
        (folder / "bare" / name).symlink_to(folder / "saved" / name)
    with pytest.raises(converter.ReadError, match="without a Keras model config"):
        converter.state_dict(str(folder / "ckpt"), architecture=str(folder / "bare"))
    with pytest.raises(converter.ReadError, match="a directory, neither a SavedModel nor a Keras model folder"):
        converter.state_dict(str(folder / "ckpt"), architecture=str(folder))
    (folder / "committed").mkdir(exist_ok=True)  # a repository that committed saved_model.pb alone
    (folder / "committed" / "saved_model.pb").write_bytes((folder / "saved" / "saved_model.pb").read_bytes())
    for named in ("committed", "committed/saved_model.pb"):
        with pytest.raises(converter.ReadError, match="without variables/variables.index .*fetch that folder"):
            converter.state_dict(str(folder / named))
    with converter.read(str(folder / "saved")) as graph:
        assert graph.format == "tf-saved-model"
        assert "optimizer/" in graph.metadata["left_out"]


def test_checkpoint_verifies_however_it_is_named(written):
    """Keras's load_weights takes the bare prefix; users name a checkpoint by its .index (a real repository's
    `weights.index` beside its `tf_model.h5`), a data shard, the `checkpoint` state file or the folder."""
    folder, _ = written
    for source in ("ckpt/weights", "ckpt/weights.index", "ckpt/weights.data-00000-of-00001", "ckpt",
                   "ckpt/checkpoint"):
        report = converter.verify(str(folder / source), architecture=str(folder / "model.h5"), per_layer=True)
        assert report.ok and report.layers, source


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

    tf = tensorflow()
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
    same_tensors(converter.state_dict(str(old)), reference)
    same_tensors(converter.state_dict(str(folder / "ckpt"), architecture=str(old)), reference)
    assert converter.verify(str(old)).ok
    root.metadata = ""  # a SavedModel of TF 2.5+ that lost its keras_metadata.pb: a tree of variables, not a guess
    (old / "saved_model.pb").write_bytes(saved.SerializeToString())
    with pytest.raises(converter.UnsupportedLayerError, match="without a Keras model"):
        converter.state_dict(str(old))
    with pytest.warns(converter.ConversionWarning, match="kept as stored"):  # asked for: every variable as stored
        same_tensors(converter.state_dict(str(old), keep_unsupported=True),
                     converter.state_dict(str(old), layout="keras"))
    (old / "saved_model.pb").write_bytes(saved.SerializeToString()[:-7])  # damaged: a one-line error
    result = run_cli("inspect", str(old))
    assert result.returncode == 2 and "saved_model.pb" in result.stderr and "Traceback" not in result.stderr


def test_raw_checkpoint_tensors_equal_tensorflows(written, tmp_path):
    folder, _ = written
    prefix = str(folder / "ckpt" / "weights")
    result = run_cli("convert", prefix, str(tmp_path / "raw.safetensors"), "--layout", "keras")
    assert result.returncode == 0, result.stderr
    reader = tensorflow().train.load_checkpoint(prefix)
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
    tf = tensorflow()
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
        same_tensors(converter.state_dict(path, layout="keras"), weights)


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
    data.write_bytes(b"")  # committed or copied without its content (found in public repositories)
    result = run_cli("convert", str(damaged / "weights"), str(tmp_path / "out.safetensors"), "--layout", "keras")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "weights.data-00000-of-00001: the data file is empty, where the index places " in result.stderr
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
    same_tensors(converter.state_dict(str(tmp_path / "checkpoint"), layout="keras"),
          converter.state_dict(str(folder / "ckpt"), layout="keras"))
