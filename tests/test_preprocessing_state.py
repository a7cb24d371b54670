"""Preprocessing state that is not a weight: adapted vocabularies read from a .keras archive's assets, an
adapted IntegerLookup built, and every such layer's state written as JSON (`--preprocessing-state`)."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from safetensors import safe_open

import converter
from build_harness import absolute_difference, keras_outputs, module_outputs
from helpers import run_cli

keras = pytest.importorskip("keras")


def adapted_model(tmp_path) -> tuple[object, str]:
    """Lookups adapted to data (their vocabularies become assets), hashing and bins, in front of weights."""
    ids = keras.layers.IntegerLookup(mask_token=0, num_oov_indices=2)
    ids.adapt(np.array([3, 5, 7, 3, 9, 11, 5, 3]))
    words = keras.layers.StringLookup()
    words.adapt(np.array(["the", "cat", "the", "hat", "a"]))
    text = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    text.adapt(["the cat sat", "the hat"])
    number, word, sentence = (keras.Input((4,), dtype="int64"), keras.Input((2,), dtype="string"),
                              keras.Input((1,), dtype="string"))
    hashed = keras.layers.Hashing(num_bins=7, salt=[1, 2])(number)
    binned = keras.layers.Discretization(bin_boundaries=[0.5, 4.0])(keras.ops.cast(number, "float32"))
    outputs = [keras.layers.Dense(2)(keras.layers.Embedding(12, 3)(ids(number))),
               keras.layers.Embedding(8, 3)(words(word)), keras.layers.Embedding(20, 3)(text(sentence)),
               hashed, binned]
    model = keras.Model([number, word, sentence], outputs)
    path = str(tmp_path / "adapted.keras")
    model.save(path)
    return model, path


def test_an_adapted_integer_lookup_builds_from_its_asset(tmp_path):
    lookup = keras.layers.IntegerLookup(mask_token=0, num_oov_indices=2)
    lookup.adapt(np.array([3, 5, 7, 3, 9, 11, 5, 3]))
    number = keras.Input((5,), dtype="int64")
    model = keras.Model(number, keras.layers.Dense(2)(keras.layers.Embedding(12, 3)(lookup(number))))
    path = str(tmp_path / "lookup.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "assets/layers/integer_lookup/vocabulary.txt" in archive.namelist()
        assert "vocabulary" not in json.loads(archive.read("config.json"))["config"]["layers"][1]["config"] or \
            json.loads(archive.read("config.json"))["config"]["layers"][1]["config"]["vocabulary"] is None
    ids = np.array([[3, 0, 9, 100, 5], [11, 7, 4, 3, -3]], dtype="int64")  # mask, unknown and negative ids
    expected = keras_outputs(keras.saving.load_model(path), [ids])
    for layout in ("torch", "keras"):
        assert absolute_difference(expected, module_outputs(converter.to_torch(path, input_layout=layout), [ids],
                                                            layout)) <= 1e-6, layout


def test_the_state_file_rebuilds_each_layer_as_keras_computes_it(tmp_path):
    model, path = adapted_model(tmp_path)
    state_path = tmp_path / "state.json"
    with pytest.warns(converter.ConversionWarning, match="preprocessing-state"):
        converter.convert(path, tmp_path / "w.safetensors", preprocessing_state=state_path)
    state = json.loads(state_path.read_text())
    by_class = {entry["class"]: entry for entry in state["layers"]}
    assert set(by_class) == {"IntegerLookup", "StringLookup", "TextVectorization", "Hashing", "Discretization"}
    samples = {
        "IntegerLookup": np.array([[3, 0, 9, 100], [5, 7, 11, 4]], dtype="int64"),
        "StringLookup": np.array([["the", "dog"], ["hat", "a"]]),
        "TextVectorization": np.array([["the cat"], ["a hat sat down"]]),
        "Hashing": np.array([[3, 0, 9, 100]], dtype="int64"),
        "Discretization": np.array([[0.0, 1.0, 4.0, 9.0]], dtype="float32"),
    }
    for class_name, entry in by_class.items():
        original = next(layer for layer in model.layers if type(layer).__name__ == class_name)
        settings = dict(entry["settings"])
        if "vocabulary" in entry:
            settings["vocabulary"] = entry["vocabulary"]
        rebuilt = getattr(keras.layers, class_name).from_config(settings)
        np.testing.assert_array_equal(np.asarray(rebuilt(samples[class_name])),
                                      np.asarray(original(samples[class_name])), err_msg=class_name)


def test_the_cli_writes_the_state_file_and_names_it(tmp_path):
    _, path = adapted_model(tmp_path)
    result = run_cli("convert", path, str(tmp_path / "w.safetensors"), "--preprocessing-state",
                     str(tmp_path / "state.json"))
    assert result.returncode == 0, result.stderr
    assert "preprocessing layers to" in result.stdout and (tmp_path / "state.json").exists()
    clash = run_cli("convert", path, str(tmp_path / "x.safetensors"), "--preprocessing-state",
                    str(tmp_path / "x.safetensors"))
    assert clash.returncode == 2 and "same file" in clash.stderr and not (tmp_path / "x.safetensors").exists()


def test_a_vocabulary_that_is_not_text_is_one_line(tmp_path):
    _, path = adapted_model(tmp_path)
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("string_lookup/vocabulary.txt"):
                data = b"\xff\xfe\x00bad"
            target.writestr(info, data)
    result = run_cli("inspect", str(damaged))
    assert result.returncode == 2 and "not UTF-8" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_saved_vocabulary_without_its_special_tokens_is_kept_as_saved(tmp_path):
    """Nothing is guessed: when the first lines are not the special tokens Keras lists, the state file
    keeps the lines as saved, and the lookup is not built."""
    lookup = keras.layers.IntegerLookup()
    lookup.adapt(np.array([4, 6]))
    number = keras.Input((2,), dtype="int64")
    path = str(tmp_path / "odd.keras")
    keras.Model(number, keras.layers.Embedding(5, 2)(lookup(number))).save(path)
    odd = tmp_path / "odd2.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(odd, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, b"4\n6" if info.filename.endswith("vocabulary.txt") else data)
    with converter.read(str(odd)) as graph:
        state = converter.kinds.outside_state.preprocessing_state(graph)
    assert state["layers"][0]["saved_vocabulary"] == ["4", "6"] and "vocabulary" not in state["layers"][0]
    with pytest.raises(converter.UnsupportedLayerError, match="run the lookup before the model"):
        converter.to_torch(str(odd))


def test_a_model_of_preprocessing_alone_writes_its_state_and_no_weights_file(tmp_path):
    """A saved TextVectorization (a common companion file of a text model) has no weights: with
    --preprocessing-state its vocabulary is written, DST is not (and says so); without, the refusal stands."""
    text = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    text.adapt(["the cat sat", "the hat"])
    sentence = keras.Input((1,), dtype="string")
    path, out, state = str(tmp_path / "vectorizer.keras"), tmp_path / "out.safetensors", tmp_path / "state.json"
    keras.Model(sentence, text(sentence)).save(path)
    result = run_cli("convert", path, str(out), "--preprocessing-state", str(state))
    assert result.returncode == 0, result.stderr
    assert f"wrote the state of the preprocessing layers to {state}" in result.stdout
    assert f"{out} is not written, only the preprocessing state" in result.stderr and not out.exists()
    [entry] = json.loads(state.read_text())["layers"]
    assert entry["class"] == "TextVectorization"
    rebuilt = keras.layers.TextVectorization(**entry["settings"], vocabulary=entry["vocabulary"])
    sample = np.array([["the hat sat"], ["a cat"]])
    np.testing.assert_array_equal(np.asarray(rebuilt(sample)), np.asarray(text(sample)))
    refused = run_cli("convert", path, str(out))
    assert refused.returncode == 2 and "no weights to convert" in refused.stderr and not out.exists()


def tf_idf_model(tmp_path) -> tuple[object, str]:
    """TF-IDF lookups (their IDF weights are tensors of the file) and a count-mode TextVectorization, before a
    Dense each, as text classifiers use them."""
    text = keras.layers.TextVectorization(max_tokens=20, output_mode="tf_idf")
    text.adapt(["the cat sat", "the hat", "a cat a dog"])
    counts = keras.layers.TextVectorization(max_tokens=20, output_mode="count")
    counts.adapt(["the cat sat", "the hat"])
    words = keras.layers.StringLookup(output_mode="tf_idf")
    words.adapt(np.array([["the", "cat"], ["the", "hat"], ["a", "a"]]))
    ids = keras.layers.IntegerLookup(output_mode="tf_idf", mask_token=0)
    ids.adapt(np.array([[3, 5], [3, 7], [9, 9]]))
    sentence, word, number = (keras.Input((1,), dtype="string"), keras.Input((2,), dtype="string"),
                              keras.Input((3,), dtype="int64"))
    outputs = [keras.layers.Dense(2)(layer(value)) for layer, value in
               ((text, sentence), (counts, sentence), (words, word), (ids, number))]
    model = keras.Model([sentence, word, number], outputs)
    path = str(tmp_path / "tf_idf.keras")
    model.save(path)
    return model, path


def test_tf_idf_weights_are_preprocessing_state_written_with_the_vocabulary(tmp_path):
    """A TextVectorization(output_mode='tf_idf') was refused as a layer with weights and no rule, named as the
    user's own class (--import): its IDF weights are state of the text step, as its vocabulary is. The rest
    converts, the warning names them, and the state file rebuilds each lookup as Keras computes it (unknown
    tokens and the mask id included)."""
    model, path = tf_idf_model(tmp_path)
    state_path = tmp_path / "state.json"
    with pytest.warns(converter.ConversionWarning, match="IDF weights"):
        converter.convert(path, tmp_path / "w.safetensors", preprocessing_state=state_path)
    with safe_open(str(tmp_path / "w.safetensors"), "np") as written:
        assert len(list(written.keys())) == 8  # the four Dense layers
    samples = {"TextVectorization": np.array([["the cat zebra zebra"], ["a hat sat down"]]),
               "StringLookup": np.array([["the", "dog"], ["hat", "a"]]),
               "IntegerLookup": np.array([[3, 0, 100], [5, 9, 9]], dtype="int64")}
    entries = json.loads(state_path.read_text())["layers"]
    assert sorted(entry["settings"]["output_mode"] for entry in entries) == ["count"] + ["tf_idf"] * 3
    for entry in entries:
        original = model.get_layer(entry["layer"])
        rebuilt = getattr(keras.layers, entry["class"]).from_config({**entry["settings"],
                                                                     "vocabulary": entry["vocabulary"]})
        np.testing.assert_allclose(np.asarray(rebuilt(samples[entry["class"]])),
                                   np.asarray(original(samples[entry["class"]])), rtol=1e-6, err_msg=entry["layer"])
    shown = run_cli("inspect", path)
    assert shown.returncode == 0 and "(preprocessing state)" in shown.stdout, shown.stderr
    with pytest.raises(converter.UnsupportedLayerError, match="text_vectorization"):
        converter.to_torch(path)


def test_idf_weights_the_constructor_cannot_give_back_are_kept_as_saved(tmp_path):
    """Special tokens given their own weight (not the mean Keras gives them), by set_vocabulary (saved as an
    asset, not in the config): the weights are kept one per output index, as saved, and nothing is guessed."""
    words = keras.layers.StringLookup(output_mode="tf_idf")
    words.set_vocabulary(["[UNK]", "the", "cat"], idf_weights=[5.0, 1.0, 2.0])
    word = keras.Input((2,), dtype="string")
    path = str(tmp_path / "given.keras")
    keras.Model(word, keras.layers.Dense(2)(words(word))).save(path)
    with converter.read(path) as graph:
        [entry] = converter.kinds.outside_state.preprocessing_state(graph)["layers"]
    assert entry["saved_idf_weights"] == [5.0, 1.0, 2.0] and entry["settings"].get("idf_weights") is None


def test_a_keras_layer_without_a_rule_is_not_called_the_users_own_class(tmp_path):
    """Keras's SimpleRNNCell called on its own keeps its kernels as weights; the refusal names it, without asking
    for the module that defines it (it is Keras's)."""
    step, state = keras.Input((4,)), keras.Input((3,))
    path = str(tmp_path / "cell.keras")
    output, _ = keras.layers.SimpleRNNCell(3, name="cell")(step, [state])  # named: auto names count per process
    keras.Model([step, state], keras.layers.Dense(2)(output)).save(path)
    result = run_cli("convert", path, str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "cell (SimpleRNNCell)" in result.stderr, result.stderr
    assert "your own layer classes" not in result.stderr and "--import" not in result.stderr
