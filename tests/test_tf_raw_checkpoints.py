"""Raw TensorFlow checkpoints, read without TensorFlow: TF1 name-based ones into a PyTorch module, variables of
unknown layout or saved in slices refused, several data files, large tensors checked as copied, moving averages."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import converter
from helpers import ROOT, run_cli, tensorflow

sys.path.insert(0, str(ROOT / "fuzz"))  # craft_bundle: TensorFlow bundles written by hand, damaged on purpose



def test_a_bert_shaped_tf1_checkpoint_loads_into_a_pytorch_module(tmp_path):
    """Google's BERT variable names, no architecture: load_into with a few renames; Linear kernels are
    transposed because they go into nn.Linear, embeddings and LayerNorm parameters load as stored."""
    import re

    from torch import nn

    tf = tensorflow()
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
    tf = tensorflow()
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
    tf = tensorflow()
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
    tf = tensorflow()
    variables = {f"v{i}": tf.Variable(np.zeros((64, 64), "float32")) for i in range(6)}
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=20000)
    prefix = str(tmp_path / "ckpt")
    tf.train.Checkpoint(**variables).write(prefix, options=tf.train.CheckpointOptions(
        experimental_sharding_callback=policy))
    result = run_cli("inspect", prefix)
    assert result.returncode == 2 and "partitioned variable" in result.stderr


def test_moving_averages_are_a_choice(tmp_path):
    """--variables ema reads each variable's ExponentialMovingAverage shadow under its own name."""
    tf = tensorflow()
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


def test_tf1_adam_state_in_a_scope_is_left_out(tmp_path):
    """TF1's AdamOptimizer keeps beta1_power and beta2_power beside its slots, in the scope minimize ran in
    (`train/beta1_power`: a real repository's policy-gradient checkpoint); they are training state."""
    import tensorflow as tf

    prefix = str(tmp_path / "model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        inputs = tf.compat.v1.placeholder(tf.float32, (None, 4))
        weight = tf.compat.v1.get_variable("W1", initializer=np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3))
        with tf.compat.v1.variable_scope("train"):
            tf.compat.v1.train.AdamOptimizer(0.01).minimize(tf.reduce_sum(tf.matmul(inputs, weight)))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, prefix)
    assert {name for name, _ in tf.train.list_variables(prefix)} >= {"train/beta1_power", "train/beta2_power"}
    state = converter.state_dict(prefix, layout="keras")
    assert list(state) == ["variables.W1"]  # a variable at the root: under "variables"
    np.testing.assert_array_equal(state["variables.W1"], np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3))
    with converter.read(prefix) as read:
        assert "train/beta1_power" in read.metadata["left_out"] and "train/W1/Adam_1" in read.metadata["left_out"]
