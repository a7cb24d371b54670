"""KerasHub's layers in functional models (keras.io's text models): TokenAndPositionEmbedding, PositionEmbedding
and TransformerEncoder build and compute what Keras with KerasHub computes, masks included; TransformerDecoder
converts its weights and is refused by name when built.

KerasHub is installed without its dependencies (the Makefile): these layers need none of them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import keras
import keras_hub
import numpy as np
import pytest
import torch

import converter
from converter.convert import convert_graph
from converter.errors import ConverterError, UnsupportedLayerError
from converter.graph import Tensor
from converter.kinds import tag_graph
from converter.readers.keras_hub import with_composites
from converter.torch_build import model_source
from helpers import with_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_weights import randomize
from test_config_properties import assert_safe, attach_tensors, graph_of, layer_entry, model_config, values

L = keras_hub.layers
LENGTH, VOCABULARY, WIDTH = 10, 40, 8


def ids(seed: int = 0) -> np.ndarray:
    """Token ids with padded tails (0), one row padded after two tokens and one padded whole."""
    batch = np.random.default_rng(seed).integers(1, VOCABULARY, size=(6, LENGTH)).astype("int32")
    batch[:, 7:] = 0
    batch[1, 2:] = 0
    batch[4, :] = 0
    return batch


def embedded(tokens: Any, mask_zero: bool = True, **options: Any) -> Any:
    return L.TokenAndPositionEmbedding(VOCABULARY, LENGTH, WIDTH, mask_zero=mask_zero, **options)(tokens)


def classifier(body: Callable[[Any, Any], Any], **embedding: Any) -> Any:
    """ids -> body(tokens, embedded) -> masked average -> Dense: the pooling reads the encoder's output mask."""
    tokens = keras.Input((LENGTH,), dtype="int32")
    outputs = body(tokens, embedded(tokens, **embedding))
    return keras.Model(tokens, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(outputs)))


def flattened(tokens_to_output: Callable[[Any], Any]) -> Any:
    """ids -> tokens_to_output -> Flatten -> Dense: every step counts, masked or not."""
    tokens = keras.Input((LENGTH,), dtype="int32")
    return keras.Model(tokens, keras.layers.Dense(3)(keras.layers.Flatten()(tokens_to_output(tokens))))


def padding(tokens: Any) -> Any:
    return keras.ops.not_equal(tokens, 0)


def pairs(tokens: Any) -> Any:
    """A (batch, steps, steps) attention mask: both tokens present."""
    present = keras.ops.cast(padding(tokens), "int32")
    return keras.ops.expand_dims(present, 1) * keras.ops.expand_dims(present, 2)


def position_embedding() -> Any:
    """KerasHub's PositionEmbedding on its own, added to an Embedding's output (which the Add's mask drops)."""
    tokens = keras.Input((LENGTH,), dtype="int32")
    tokens_embedded = keras.layers.Embedding(VOCABULARY, WIDTH, mask_zero=True)(tokens)
    positions = L.PositionEmbedding(LENGTH)(tokens_embedded)
    return keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(keras.layers.Add()([tokens_embedded,
                                                                                          positions])))


MODELS: dict[str, Callable[[], Any]] = {
    "encoder": lambda: classifier(lambda t, x: L.TransformerEncoder(16, 2)(x)),
    "encoder_unmasked": lambda: flattened(lambda t: L.TransformerEncoder(16, 4)(embedded(t, mask_zero=False))),
    "normalize_first_gelu": lambda: classifier(lambda t, x: L.TransformerEncoder(
        16, 2, normalize_first=True, activation="gelu", layer_norm_epsilon=1e-3)(x)),
    "two_encoders": lambda: classifier(lambda t, x: L.TransformerEncoder(12, 4)(L.TransformerEncoder(16, 2)(x))),
    "untied_embedding": lambda: classifier(lambda t, x: L.TransformerEncoder(16, 2)(x), tie_weights=False),
    "padding_mask": lambda: flattened(lambda t: L.TransformerEncoder(16, 2)(embedded(t, mask_zero=False),
                                                                          padding_mask=padding(t))),
    "attention_mask": lambda: classifier(lambda t, x: L.TransformerEncoder(16, 2, normalize_first=True)(
        x, attention_mask=pairs(t))),
    "both_masks": lambda: classifier(lambda t, x: L.TransformerEncoder(16, 2)(
        x, padding_mask=padding(t), attention_mask=pairs(t))),
    # the encoder's attention clears its input's mask in place (Keras's MultiHeadAttention): the residual Add after
    # it sees none, and the pooling averages every step
    "skip_connection": lambda: classifier(lambda t, x: keras.layers.Add()([L.TransformerEncoder(16, 2)(x), x])),
    "lstm_after": lambda: flattened(lambda t: keras.layers.LSTM(3, return_sequences=True)(
        L.TransformerEncoder(16, 2)(embedded(t)))),
    "position_embedding": position_embedding,
}


def saved(tmp_path: Path, name: str, policy: str | None = None) -> tuple[Any, str]:
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        model = MODELS[name]()
    finally:
        keras.config.set_dtype_policy("float32")
    randomize(model, seed=len(name))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    return model, path


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_hub_layers_compute_as_keras_does(tmp_path, name):
    _, path = saved(tmp_path, name)
    report = converter.verify(path, inputs=[ids()], per_layer=True)
    assert report.ok, report.to_text()
    assert not report.skipped_layers, report.skipped_layers


def test_keras_hub_layers_in_mixed_precision(tmp_path):
    _, path = saved(tmp_path, "normalize_first_gelu", policy="mixed_float16")
    report = converter.verify(path, inputs=[ids(1)], per_layer=True)
    assert report.ok, report.to_text()


def test_an_untied_embedding_converts_its_reverse_table(tmp_path):
    tokens = keras.Input((LENGTH,), dtype="int32")
    layer = L.TokenAndPositionEmbedding(VOCABULARY, LENGTH, WIDTH, tie_weights=False, name="embedding")
    model = keras.Model(tokens, keras.layers.GlobalAveragePooling1D()(layer(tokens)))
    randomize(model)
    path = str(tmp_path / "untied.keras")
    model.save(path)
    state = converter.state_dict(path)
    reverse = layer.token_embedding.reverse_embeddings.numpy()  # (width, vocabulary), a Dense kernel
    np.testing.assert_array_equal(state["embedding.token_reverse.weight"], reverse.T)
    np.testing.assert_array_equal(state["embedding.position_embedding.weight"],
                                  layer.position_embedding.position_embeddings.numpy())
    assert converter.verify(path, inputs=[ids()]).ok


def test_keras_nlp_names_read_as_keras_hub(tmp_path):
    """KerasNLP's files name the same classes `keras_nlp>TransformerEncoder` (module keras_nlp.src...): built alike."""
    model, path = saved(tmp_path, "encoder")
    renamed = tmp_path / "keras_nlp.keras"

    def as_keras_nlp(config: dict) -> dict:
        text = json.dumps(config).replace('"keras_hub>', '"keras_nlp>').replace('"keras_hub.src', '"keras_nlp.src')
        assert text.count("keras_nlp>") == 2
        return json.loads(text)

    with_config(path, renamed, as_keras_nlp)
    module = converter.to_torch(str(renamed), input_layout="keras")
    batch = ids(2)
    with torch.no_grad():
        actual = module(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(actual, np.asarray(model(batch)), atol=1e-5)


def translator(decoder_masks: Callable[[Any, Any], dict[str, Any]], mask_zero: bool = True,
               **options: Any) -> tuple[Any, Any]:
    """Source and target ids -> an encoder -> a decoder (`decoder_masks(source, target)` by keyword) -> logits; and
    the decoder."""
    source, target = keras.Input((8,), dtype="int32"), keras.Input((LENGTH,), dtype="int32")
    encoded = L.TransformerEncoder(16, 2)(L.TokenAndPositionEmbedding(VOCABULARY, 8, WIDTH, mask_zero=mask_zero)(
        source))
    decoder = L.TransformerDecoder(16, 2, name="decoder", **options)
    decoded = decoder(decoder_sequence=embedded(target, mask_zero=mask_zero), encoder_sequence=encoded,
                      **decoder_masks(source, target))
    return keras.Model([source, target], keras.layers.Dense(VOCABULARY)(decoded)), decoder


def generator(**options: Any) -> tuple[Any, Any]:
    """ids -> a decoder without an encoder (GPT) -> logits; and the decoder."""
    tokens = keras.Input((LENGTH,), dtype="int32")
    decoder = L.TransformerDecoder(16, 2, name="decoder", **options)
    return keras.Model(tokens, keras.layers.Dense(VOCABULARY)(decoder(embedded(tokens)))), decoder


def decoder_skip() -> tuple[Any, Any]:
    """Its attention clears no mask (KerasHub's CachedMultiHeadAttention): the Add after it reads the embedding's."""
    tokens = keras.Input((LENGTH,), dtype="int32")
    tokens_embedded = embedded(tokens)
    decoder = L.TransformerDecoder(16, 2, name="decoder")
    added = keras.layers.Add()([decoder(tokens_embedded), tokens_embedded])
    return keras.Model(tokens, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(added))), decoder


DECODERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "generator": generator,
    "generator_normalize_first_gelu": lambda: generator(normalize_first=True, activation="gelu"),
    "translator": lambda: translator(lambda s, t: {}),
    "translator_unmasked": lambda: translator(lambda s, t: {}, mask_zero=False),
    "translator_padding_masks": lambda: translator(lambda s, t: {"decoder_padding_mask": padding(t),
                                                                 "encoder_padding_mask": padding(s)}, mask_zero=False),
    "translator_padding_over_masks": lambda: translator(lambda s, t: {"decoder_padding_mask": padding(t),
                                                                      "encoder_padding_mask": padding(s)}),
    "translator_attention_mask_first": lambda: translator(lambda s, t: {"decoder_attention_mask": pairs(t)},
                                                          normalize_first=True),
    "residual_around": decoder_skip,
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_a_transformer_decoder_computes_as_keras_does(tmp_path, name):
    model, decoder = DECODERS[name]()
    randomize(model, seed=len(name))
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    inputs = [ids(1)[:, :8], ids(2)] if len(model.inputs) == 2 else [ids(2)]
    report = converter.verify(path, inputs=inputs, per_layer=True)
    assert report.ok, report.to_text()
    state = converter.state_dict(path)  # KerasHub's names for its attention layers, with Keras's transforms
    attention = decoder._self_attention_layer
    kernels = [getattr(attention, f"_{part}_dense").kernel.numpy().reshape(WIDTH, WIDTH).T
               for part in ("query", "key", "value")]
    np.testing.assert_array_equal(state["decoder.self_attention.in_proj_weight"], np.concatenate(kernels))


def test_keras_hub_layers_in_a_legacy_h5_are_refused_naming_keras_hub(tmp_path):
    model, _ = saved(tmp_path, "encoder")
    path = str(tmp_path / "legacy.h5")
    model.save(path)
    with pytest.raises(UnsupportedLayerError, match="KerasHub's .KerasNLP's. layers.*--import keras_hub"):
        converter.convert(path, str(tmp_path / "out.safetensors"))


@pytest.mark.parametrize("change", [{"num_heads": 0}, {"num_heads": "2"}, {"num_heads": 3}])
def test_a_crafted_encoder_config_is_refused_by_name(tmp_path, change):
    """A config no TransformerEncoder was built from, or not the one its weights were saved with, is refused by
    name (a layer without a rule, or weights of another shape)."""
    _, path = saved(tmp_path, "encoder")
    crafted = tmp_path / "crafted.keras"

    def crafted_config(config: dict) -> dict:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "TransformerEncoder":
                layer["config"].update(change)
        return config

    with_config(path, crafted, crafted_config)
    with pytest.raises(converter.ConverterError):
        converter.to_torch(str(crafted))


def test_a_stored_as_the_file_carries_is_ignored(tmp_path):
    """Only the layers weightport reads a composite as are found under their attribute's name: a crafted
    `stored_as` on a file's own entry would send the layer to another one's weights."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="first"),
                              keras.layers.Dense(3, name="second")])
    randomize(model)
    path = tmp_path / "model.keras"
    model.save(str(path))

    def crafted(config: dict) -> dict:
        config["config"]["layers"][1]["stored_as"] = "dense_1"  # the second Dense's group
        return config

    state = converter.state_dict(str(with_config(path, tmp_path / "crafted.keras", crafted)))
    np.testing.assert_array_equal(state["first.weight"], model.get_layer("first").kernel.numpy().T)


overrides = st.dictionaries(
    st.sampled_from(["num_heads", "intermediate_dim", "activation", "layer_norm_epsilon", "normalize_first",
                     "dropout", "name", "dtype"]), values, max_size=2)
call_kwargs = st.one_of(st.just({}), st.dictionaries(
    st.sampled_from(["padding_mask", "attention_mask", "training", "use_causal_mask", "encoder_sequence",
                     "decoder_sequence", "other"]), st.one_of(values, st.just("tensor")), max_size=3))
shapes = st.one_of(st.sampled_from([[None, 5, 4], [None, 3, 6], [2, 5, 4], [None, None, 4]]),
                   st.lists(st.one_of(st.none(), st.integers(-1, 9)), min_size=1, max_size=4))


def encoder_tensors(layer: Any, width: int, heads: int, inner: int) -> None:
    """The tensors a TransformerEncoder of these sizes holds, under its attributes, in Keras's shapes."""
    size = width // heads
    projections = {f"{name}_dense/vars/{index}": shape for name in ("query", "key", "value")
                   for index, shape in enumerate([(width, heads, size), (heads, size)])}
    held = {"_self_attention_layer": {**projections, "output_dense/vars/0": (heads, size, width),
                                      "output_dense/vars/1": (width,)},
            "_self_attention_layer_norm": {"vars/0": (width,), "vars/1": (width,)},
            "_feedforward_layer_norm": {"vars/0": (width,), "vars/1": (width,)},
            "_feedforward_intermediate_dense": {"vars/0": (width, inner), "vars/1": (inner,)},
            "_feedforward_output_dense": {"vars/0": (inner, width), "vars/1": (width,)}}
    for child in layer.children or []:
        for role, shape in held.get(child.stored_as or "", {}).items():
            array = np.random.default_rng(len(role)).normal(size=shape).astype(np.float32)
            child.tensors.append(Tensor(role, shape, "float32", f"<hypothesis>/{child.name}/{role}",
                                        lambda array=array: array))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(class_name=st.sampled_from(["TransformerEncoder", "TransformerEncoder", "TransformerDecoder"]),
       changes=overrides, kwargs=call_kwargs, shape=shapes, layout=st.sampled_from(["torch", "keras"]),
       data=st.data())
def test_any_composite_config_is_refused_or_gives_safe_source(class_name, changes, kwargs, shape, layout, data):
    """A crafted KerasHub composite (its config, its call's record) is read as a model and built, refused by name,
    or left a layer without a rule: never a traceback, never a value of the file as code."""
    def tensor(source: str) -> dict:
        return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32",
                                                            "keras_history": [source, 0, 0]}}

    config = {"num_heads": 2, "intermediate_dim": 3, **changes}
    entry = layer_entry(class_name, "layer", config, "x")
    entry.update(module="keras_hub.src.layers.modeling", registered_name=f"keras_hub>{class_name}")
    entry["inbound_nodes"] = [{"args": [tensor("x")], "kwargs": {key: tensor("x") if value == "tensor" else value
                                                                 for key, value in kwargs.items()}}]
    model = model_config(class_name, "layer", config, [3], "model")
    model["config"]["layers"][1] = entry
    try:
        graph = graph_of(with_composites(model), "<hypothesis>")
        sizes = (shape[-1] if shape else None, config.get("num_heads"), config.get("intermediate_dim"))
        if all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 64 for n in sizes) and sizes[0] >= sizes[1]:
            encoder_tensors(graph.layers[1], *sizes)  # consistent: the module is built
        else:
            attach_tensors(graph, data)
        tag_graph(graph)
        generated = model_source(graph, convert_graph(graph), layout)
    except ConverterError:
        return
    assert_safe(generated)


def test_a_file_claiming_a_composite_is_read_as_what_it_is(tmp_path):
    """The marks weightport gives the models it reads KerasHub's layers as are taken out of a file's own config: a
    nested model claiming to be a TransformerDecoder is built as the model it is."""
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner])
    randomize(outer)
    path = tmp_path / "nested.keras"
    outer.save(str(path))

    def claiming(config: dict) -> dict:
        config["config"]["layers"][-1]["config"].update(keras_hub_composite="TransformerDecoder",
                                                        keras_hub_inputs=[0, "mask"])
        return config

    module = converter.to_torch(str(with_config(path, tmp_path / "claiming.keras", claiming)), input_layout="keras")
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), np.asarray(outer(x)), atol=1e-6)


def test_a_mask_keras_3_9_recorded_for_the_encoder_call(tmp_path):
    """Keras 3.0 to 3.9 record the mask a layer is called with (`mask=`; null where no operation of the graph made
    it, which Keras fills from the input's own): the encoder reads its input's mask all the same."""
    model, path = saved(tmp_path, "encoder")

    def recorded(config: dict) -> dict:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "TransformerEncoder":
                layer["inbound_nodes"][0]["kwargs"]["mask"] = None
        return config

    module = converter.to_torch(str(with_config(path, tmp_path / "recorded.keras", recorded)), input_layout="keras")
    batch = ids(3)
    with torch.no_grad():
        actual = module(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(actual, np.asarray(model(batch)), atol=1e-5)


def test_a_transformer_decoder_in_float16(tmp_path):
    """mixed_float16 with normalize_first: the rows its attention masks whole (a sample padded out) weigh their keys
    equally, as Keras's do (the module's float16 mask left them uneven: 1.5 off; see
    test_attention_outputs.py's float16 rows)."""
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model, _ = translator(lambda s, t: {}, normalize_first=True)
    finally:
        keras.config.set_dtype_policy("float32")
    randomize(model, seed=4)
    path = str(tmp_path / "float16.keras")
    model.save(path)
    report = converter.verify(path, inputs=[ids(1)[:, :8], ids(2)], per_layer=True)
    assert report.ok, report.to_text()
