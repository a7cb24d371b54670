"""Hugging Face TensorFlow checkpoints (tf_model.h5 + config.json) into folders transformers 5 loads.

The fixtures (fixtures/hf_tf, made by its make.py with transformers 4.46 and TensorFlow 2.15)
hold random weights everywhere, biases and norm scales included, and the outputs TensorFlow
computed; the PyTorch model transformers builds from our folder must give them.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import converter
from converter import hugging_face
from helpers import fixture, run_cli

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

MODELS = ["bert", "bert_classifier", "distilbert", "gpt2", "vit", "t5", "bart", "resnet", "esm", "wav2vec2"]
#: three of them saved by transformers in 20 KB shards (tf_model.h5.index.json and its shards); BART's shared
#: embedding, named outside the model's scope (`model.shared/...`), is kept under its whole name in its shard
SHARDED = ["bert_classifier_sharded", "gpt2_sharded", "bart_sharded"]


def outputs_of(model, folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(PyTorch's output, TensorFlow's) for the fixture's stored inputs."""
    stored = np.load(folder + "/io.npz")
    inputs = {name: torch.from_numpy(stored[name]).long() if stored[name].dtype.kind == "i"
              else torch.from_numpy(stored[name]) for name in stored.files if name != "output"}
    with torch.no_grad():
        result = model.eval()(**inputs)
    got = result.logits if getattr(result, "logits", None) is not None else result.last_hidden_state
    return got.numpy(), stored["output"]


@pytest.mark.parametrize("name", MODELS + SHARDED)
@pytest.mark.parametrize("max_shard_size", [None, 8_000])
def test_converted_folder_loads_strictly_and_computes_what_tensorflow_did(tmp_path, name, max_shard_size):
    source = fixture(f"hf_tf/{name}")
    out = tmp_path / "out"  # does not exist yet: made, as save_pretrained would
    converter.convert(source, str(out) + "/", max_shard_size=max_shard_size)
    files = sorted(path.name for path in out.iterdir())
    assert "config.json" in files
    if max_shard_size and sum(value.nbytes for value in converter.state_dict(source).values()) > max_shard_size:
        assert "model.safetensors.index.json" in files and "model-00001-of-" in " ".join(files)
    else:
        assert "model.safetensors" in files
    config = json.loads((out / "config.json").read_text())
    model_class = getattr(transformers, config["architectures"][0])
    model, info = model_class.from_pretrained(str(out), output_loading_info=True)
    assert not any(info[kind] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    got, expected = outputs_of(model, source)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["bert", "distilbert", "vit"])
def test_auto_model_loads_the_sharded_folder(tmp_path, name):
    converter.convert(fixture(f"hf_tf/{name}"), str(tmp_path) + "/", max_shard_size=10_000)
    model = transformers.AutoModel.from_pretrained(str(tmp_path))
    got, expected = outputs_of(model, fixture(f"hf_tf/{name}"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_record_says_what_each_variable_became(tmp_path):
    conversion = converter.convert(fixture("hf_tf/gpt2"), str(tmp_path) + "/")
    record = {entry["key"]: entry for entry in conversion.record()}
    assert "lm_head.weight" not in record  # tied to transformer.wte.weight: written once
    bias = record["transformer.h.0.attn.c_attn.bias"]
    assert bias["keras_shape"] == [1, 96] and bias["target_shape"] == [96] and bias["transform"] == "reshape(96)"
    assert record["transformer.h.0.attn.c_attn.weight"]["transform"] == "none"  # GPT-2's Conv1D is (in, out) in both
    assert record["transformer.h.0.ln_1.weight"]["source"].endswith("h_._0/ln_1/gamma:0")
    assert (tmp_path / "generation_config.json").exists()
    vit = {entry["key"]: entry for entry in converter.convert(fixture("hf_tf/vit"), str(tmp_path / "v") + "/").record()}
    assert vit["embeddings.patch_embeddings.projection.weight"]["transform"] == "transpose(3,2,0,1)"
    assert vit["encoder.layer.0.attention.attention.query.weight"]["transform"] == "transpose(1,0)"


def test_inspect_shows_every_variable_and_its_pytorch_key():
    text = converter.inspect(fixture("hf_tf/bert")).to_text()
    assert "Hugging Face TensorFlow checkpoint" in text
    assert "encoder.layer.1.attention.self.query.weight" in text and "(no rule" not in text


def test_the_class_that_saved_the_weights_wins_over_a_stale_config(tmp_path):
    """A model fine-tuned from a base often keeps the base's config.json (`"architectures": ["BertForMaskedLM"]`);
    the weights' own scope (`tf_bert_for_sequence_classification`) says which class saved them."""
    folder = tmp_path / "src"
    shutil.copytree(fixture("hf_tf/bert_classifier"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, architectures=["BertForMaskedLM"])))
    with pytest.warns(converter.ConversionWarning, match="saved by TFBertForSequenceClassification"):
        converter.convert(str(folder), str(tmp_path / "out") + "/")
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written["architectures"] == ["BertForSequenceClassification"]
    model, info = transformers.BertForSequenceClassification.from_pretrained(str(tmp_path / "out"),
                                                                              output_loading_info=True)
    assert not any(info[kind] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    got, expected = outputs_of(model, fixture("hf_tf/bert_classifier"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_checkpoint_that_does_not_fit_the_class_is_refused_by_name(tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(fixture("hf_tf/bert"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=1)))
    with pytest.raises(converter.LayoutError, match=r"BertModel has no key for: .*layer_\._1"):
        converter.convert(str(folder), str(tmp_path / "out") + "/")
    assert not (tmp_path / "out").exists()  # the folder it would have made is not left behind
    with pytest.raises(converter.ReadError, match="no PyTorch class NoSuchModel"):
        hugging_face.torch_template(dict(config, architectures=["TFNoSuchModel"]), "config.json", 39)
    with pytest.raises(converter.ReadError, match="not a class name"):
        hugging_face.torch_template(dict(config, architectures=["os.system"]), "config.json", 39)


def test_a_config_asking_for_more_layers_than_the_file_holds_is_refused_before_building(tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(fixture("hf_tf/bert"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=10**9)))
    with pytest.raises(converter.ReadError, match="num_hidden_layers=1000000000, more layers than the 39 variables"):
        converter.convert(str(folder), str(tmp_path / "o.safetensors"))


def test_a_folder_without_its_config_is_refused(tmp_path):
    shutil.copy(fixture("hf_tf/bert/tf_model.h5"), tmp_path)
    with pytest.raises(converter.ReadError, match="no transformers config.json"):
        converter.convert(str(tmp_path), str(tmp_path / "out.safetensors"))


def test_keras_layout_keeps_tensorflow_names(tmp_path):
    weights = converter.state_dict(fixture("hf_tf/bert"), layout="keras")
    key = "tf_bert_model.bert.encoder.layer___0.attention.self.query.kernel"
    assert weights[key].shape == (32, 32)
    torch_weights = converter.state_dict(fixture("hf_tf/bert"))
    np.testing.assert_array_equal(torch_weights["encoder.layer.0.attention.self.query.weight"], weights[key].T)


def test_building_a_module_points_to_transformers():
    with pytest.raises(converter.ArgumentError, match=r"BertModel\.from_pretrained"):
        converter.to_torch(fixture("hf_tf/bert"))


def test_cli_converts_a_model_folder(tmp_path):
    result = run_cli("convert", fixture("hf_tf/t5"), str(tmp_path / "t5") + "/")
    assert result.returncode == 0, result.stderr
    assert "47 tensors" in result.stdout
    assert f"{tmp_path / 't5' / 'model.safetensors'}, with config.json" in result.stdout  # not "N shards"
    assert "shards" not in result.stdout
    assert json.loads((tmp_path / "t5" / "config.json").read_text())["architectures"] == ["T5ForConditionalGeneration"]
    file_only = run_cli("convert", fixture("hf_tf/t5/tf_model.h5"), str(tmp_path / "w.safetensors"))
    assert file_only.returncode == 0 and "give a folder as DST" in file_only.stderr


def test_a_sharded_checkpoint_reads_as_one_file_would(tmp_path):
    """Its index and shards give every variable under its full name: the same tree, the same record."""
    index = fixture("hf_tf/gpt2_sharded/tf_model.h5.index.json")
    assert converter.inspect(index).to_dict()["format"] == "hf-tf-sharded"
    sharded = converter.convert(index, str(tmp_path / "out") + "/").record()  # the index itself as the source
    single = converter.convert(fixture("hf_tf/gpt2"), str(tmp_path / "one") + "/").record()
    assert [(entry["key"], entry["transform"], entry["keras_shape"]) for entry in sharded] == \
        [(entry["key"], entry["transform"], entry["keras_shape"]) for entry in single]
    weight_map = json.loads(open(index).read())["weight_map"]
    for entry in sharded:  # each from the shard the index names, at its name less the model's scope
        shard, name = entry["source"].split(":/")
        full_name = next(full for full in weight_map if full.split("/", 1)[1] == name)
        assert shard == fixture(f"hf_tf/gpt2_sharded/{weight_map[full_name]}")


def _copy(tmp_path, name: str = "bert_classifier_sharded"):
    folder = tmp_path / "src"
    shutil.copytree(fixture(f"hf_tf/{name}"), folder)
    return folder


def test_a_shard_that_disagrees_with_the_index_is_refused_by_name(tmp_path):
    import h5py

    folder = _copy(tmp_path)
    with h5py.File(folder / "tf_model-00005-of-00005.h5", "a") as shard:
        shard["classifier/extra:0"] = np.ones(3, "float32")
        names = [name.decode() if isinstance(name, bytes) else str(name) for name in shard.attrs["layer_names"]]
        shard.attrs["layer_names"] = np.array(names + ["classifier/extra:0"], dtype="S")
    result = run_cli("convert", str(folder), str(tmp_path / "out") + "/")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "tf_model-00005-of-00005.h5: its layer_names and the index's weight_map disagree" in result.stderr
    assert "'classifier/extra:0'" in result.stderr and not (tmp_path / "out").exists()


def test_a_sharded_index_naming_a_file_outside_its_folder_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (tmp_path / "elsewhere.h5").write_bytes((folder / "tf_model-00001-of-00005.h5").read_bytes())
    index = json.loads((folder / "tf_model.h5.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../elsewhere.h5"
    (folder / "tf_model.h5.index.json").write_text(json.dumps(index))
    with pytest.raises(converter.ReadError, match="shards must be bare file names beside the index"):
        converter.convert(str(folder), str(tmp_path / "out") + "/")


def test_a_missing_shard_or_config_is_named(tmp_path):
    folder = _copy(tmp_path)
    (folder / "tf_model-00003-of-00005.h5").unlink()
    with pytest.raises(converter.ReadError, match=r"names shard\(s\) tf_model-00003-of-00005.h5 that are not beside"):
        converter.convert(str(folder), str(tmp_path / "out") + "/")
    (folder / "config.json").unlink()
    with pytest.raises(converter.ReadError, match="holds tf_model.h5.index.json but no transformers config.json"):
        converter.convert(str(folder), str(tmp_path / "out") + "/")


def test_batch_norm_statistics_and_the_batch_counter(tmp_path):
    """TF's moving_mean/moving_variance are PyTorch's running_mean/running_var; num_batches_tracked, which TF
    has no variable for, is created as a new module holds it (0), so the folder loads strictly."""
    from safetensors.numpy import load_file

    record = {entry["key"]: entry for entry in converter.convert(fixture("hf_tf/resnet"), str(tmp_path) + "/").record()}
    stem = "embedder.embedder.normalization"
    assert record[f"{stem}.running_var"]["source"].endswith("embedder/normalization/moving_variance:0")
    assert record[f"{stem}.num_batches_tracked"]["transform"] == "created: 0"
    written = load_file(str(tmp_path / "model.safetensors"))
    assert written[f"{stem}.num_batches_tracked"].dtype == np.int64 and written[f"{stem}.num_batches_tracked"] == 0
    keras_layout = converter.state_dict(fixture("hf_tf/resnet"), layout="keras")
    np.testing.assert_array_equal(written[f"{stem}.running_var"],
                                  keras_layout["tf_res_net_model.resnet.embedder.embedder.normalization.moving_variance"])


def test_a_key_transformers_saves_under_another_name_is_written_under_the_modules_own(tmp_path):
    """transformers 5 saves ESM's LayerNorm weight as the legacy `LayerNorm.gamma` (and reads either name): TF's
    gamma is matched to it and written as `LayerNorm.weight`, the name the module itself has."""
    keys = [entry["key"] for entry in converter.convert(fixture("hf_tf/esm"), str(tmp_path) + "/").record()]
    assert "encoder.layer.0.attention.LayerNorm.weight" in keys and not any(key.endswith(".gamma") for key in keys)


def test_a_known_difference_of_transformers_own_classes_is_warned_of(tmp_path):
    """transformers' PyTorch OpenAIGPTModel computes the tanh GELU where its TF class computed the exact one: the
    conversion says so, and the difference is that of the activation, not of the weights."""
    with pytest.warns(converter.ConversionWarning, match="gelu_new"):
        converter.convert(fixture("hf_tf/openai_gpt"), str(tmp_path) + "/")
    model = transformers.OpenAIGPTModel.from_pretrained(str(tmp_path))
    got, expected = outputs_of(model, fixture("hf_tf/openai_gpt"))
    assert 1e-5 < np.abs(got - expected).max() < 1e-3
    for block in model.h:  # with TF's exact GELU, PyTorch computes what TensorFlow did
        block.mlp.act = torch.nn.GELU()
    got, expected = outputs_of(model, fixture("hf_tf/openai_gpt"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_config_without_architectures_takes_the_class_that_saved_the_weights(tmp_path):
    """Older configs name no architecture: the weights' own scope (tf_bert_for_sequence_classification) does."""
    folder = _copy(tmp_path, "bert_classifier")
    config = json.loads((folder / "config.json").read_text())
    del config["architectures"]
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    with pytest.warns(converter.ConversionWarning, match="names no architecture; the weights were saved by "
                                                         "TFBertForSequenceClassification"):
        converter.convert(str(folder), str(out) + "/")
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]
    model = transformers.BertForSequenceClassification.from_pretrained(str(out))
    got, expected = outputs_of(model, str(folder))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_class_transformers_renamed_is_read_as_its_new_name(tmp_path):
    """t5-small's config.json names T5WithLMHeadModel, transformers' class before 3.0."""
    folder = _copy(tmp_path, "t5")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, architectures=["T5WithLMHeadModel"])))
    out = tmp_path / "out"
    with pytest.warns(converter.ConversionWarning, match="T5WithLMHeadModel, transformers' name before 3.0 for "
                                                         "T5ForConditionalGeneration"):
        converter.convert(str(folder), str(out) + "/")
    assert json.loads((out / "config.json").read_text())["architectures"] == ["T5ForConditionalGeneration"]
    got, expected = outputs_of(transformers.T5ForConditionalGeneration.from_pretrained(str(out)), str(folder))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
