"""Nothing of keras.layers is dropped without a word: every class converts, is refused by name, or is
known to hold neither weights nor state."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import converter
from converter.kinds import KINDS
from converter.kinds.outside_state import OUTSIDE_STATE

keras = pytest.importorskip("keras")

#: weighted classes without a rule: their weights make `convert` refuse the layer by name
WEIGHTED_WITHOUT_RULE = {
    "GRUCell", "LSTMCell", "SimpleRNNCell", "StackedRNNCells",
    "FlaxLayer", "JaxLayer", "TorchModuleWrapper", "TFSMLayer",
}
#: classes with neither weights nor state: nothing to convert; the module builder refuses them by name
STATELESS_WITHOUT_FORWARD = {
    "AutoContrast",
    "ContrastLimitedAdaptiveHistogramEqualization", "Equalization", "MaxNumBoundingBoxes", "MelSpectrogram",
    "Pipeline", "Solarization",
}
#: the graph's own structure, or the user's code (Lambda, subclasses of Layer)
STRUCTURAL = {"InputLayer", "Lambda", "Layer", "Wrapper"}


def keras_layer_classes() -> dict[str, type]:
    """Every layer class keras.layers exports, by its own name (aliases such as Convolution2D folded), or by the
    name it is exported as where that is not exported (GroupedQueryAttention is GroupQueryAttention, as configs
    record it)."""
    exported = {name: cls for name, cls in vars(keras.layers).items()
                if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)}
    return {cls.__name__ if cls.__name__ in exported else name: cls for name, cls in exported.items()}


def test_every_keras_layer_is_converted_refused_or_stateless():
    unknown = sorted(name for name in keras_layer_classes()
                     if f"keras.layers.{name}" not in KINDS and name not in OUTSIDE_STATE
                     and name not in WEIGHTED_WITHOUT_RULE | STATELESS_WITHOUT_FORWARD | STRUCTURAL)
    assert not unknown, f"keras.layers classes nobody has classified: {unknown}"
    stale = sorted((WEIGHTED_WITHOUT_RULE | STATELESS_WITHOUT_FORWARD) & {name.rsplit(".", 1)[1] for name in KINDS})
    assert not stale, f"classes now with a kind, to drop from this test's lists: {stale}"


@pytest.mark.parametrize("name, build", [
    ("CategoryEncoding", lambda: keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")),
    ("CenterCrop", lambda: keras.layers.CenterCrop(2, 2)),
    ("Resizing", lambda: keras.layers.Resizing(2, 2)),
    ("RandomCrop", lambda: keras.layers.RandomCrop(2, 2)),
    ("AdaptiveAveragePooling2D", lambda: keras.layers.AdaptiveAveragePooling2D(2)),
    ("Solarization", lambda: keras.layers.Solarization()),
])
def test_stateless_claims_hold(name, build):
    layer = build()
    layer.build((None, 4, 4, 3) if name != "CategoryEncoding" else (None, 3))
    assert not layer.weights and not layer.non_trainable_weights, name


def test_a_weighted_layer_without_a_rule_is_refused_by_name(tmp_path):
    """A recurrent cell called on its own in a functional model (RNN, LSTM, GRU wrap theirs)."""
    step, state = keras.Input((4,)), keras.Input((3,))
    output, _ = keras.layers.SimpleRNNCell(3, name="cell")(step, [state])
    path = str(tmp_path / "m.keras")
    keras.Model([step, state], output).save(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"cell \(SimpleRNNCell\)"):
        converter.convert(path, str(tmp_path / "o.safetensors"))


def test_a_group_query_attention_is_read_under_its_python_class_name(tmp_path):
    """Keras files a GroupQueryAttention's weights under the snake case of its Python class, GroupedQueryAttention,
    not of the name its config records (they matched no layer before)."""
    sequence = keras.Input((5, 4))
    attention = keras.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1, name="gqa")
    path = str(tmp_path / "m.keras")
    keras.Model(sequence, attention(sequence, sequence)).save(path)
    assert sorted(converter.state_dict(path)) == [f"gqa.{role}.{part}" for role in ("key", "output", "query", "value")
                                                  for part in ("bias", "weight")]


def test_preprocessing_state_is_named_when_left_behind(tmp_path):
    tokens = keras.Input((3,), dtype="int64")
    # counts padded to max_tokens: not built (unpadded ones are), so the vocabulary is left behind
    counts = keras.layers.IntegerLookup(vocabulary=[5, 7, 9], output_mode="count", max_tokens=6,
                                        pad_to_max_tokens=True)(tokens)
    model = keras.Model(tokens, keras.layers.Dense(2)(counts))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.warns(converter.ConversionWarning, match=r"integer_lookup(_\d+)? \(IntegerLookup\): its vocabulary"):
        weights = converter.state_dict(path)
    assert len(weights) == 2 and all(key.endswith((".weight", ".bias")) for key in weights)
    with pytest.raises(converter.UnsupportedLayerError, match="padded to max_tokens"):
        converter.to_torch(path)
    bias = next(value for key, value in weights.items() if key.endswith(".bias"))
    np.testing.assert_array_equal(bias, model.layers[-1].bias.numpy())


def test_a_string_lookup_is_named_and_refused_for_the_module(tmp_path):
    words = keras.Input((3,), dtype="string")
    ids = keras.layers.StringLookup(vocabulary=["a", "b"])(words)
    model = keras.Model(words, keras.layers.Embedding(4, 2)(ids))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.warns(converter.ConversionWarning, match=r"string_lookup(_\d+)? \(StringLookup\): its vocabulary"):
        converter.state_dict(path)
    with pytest.raises(converter.UnsupportedLayerError, match="run it before the model"):
        converter.to_torch(path)


def test_a_keras3_random_crop_is_refused_by_name(tmp_path):
    """Keras 3's RandomCrop at inference returns its input unchanged from one release on and resized it before
    (keras-team/keras#21868): the module is refused by name rather than built as either (tf.keras's is built)."""
    model = keras.Sequential([keras.Input((6, 8, 3)), keras.layers.RandomCrop(4, 4, name="crop"),
                              keras.layers.Flatten()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"crop \(RandomCrop\).*returns its input"):
        converter.to_torch(path)


def test_an_rms_normalization_over_other_axes_is_refused_by_name(tmp_path):
    """Keras 3's RMSNormalization over other than the trailing axes multiplies by its scale broadcast over the last
    axes on TensorFlow and normalizes the last axes on torch: no one answer to build."""
    model = keras.Sequential([keras.Input((5, 5)), keras.layers.RMSNormalization(axis=1, name="rms")])
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert set(converter.state_dict(path)) == {"rms.weight"}  # the weight converts
    with pytest.raises(converter.UnsupportedLayerError, match=r"RMSNormalization over axes \[1\], not the trailing"):
        converter.to_torch(path)


@pytest.mark.parametrize("attention_axes", [(1,), None])
def test_attention_over_one_axis_of_a_rank_4_query_is_refused_by_name(tmp_path, attention_axes):
    """A MultiHeadAttention of a rank-4 query attends over axis 1 alone (attention_axes=(1,): the axis between it
    and the features stays apart) or over both (the default): the module takes (batch, sequence, features). Keras
    records the first as [1], which a rank-3 query's attention also is: the module stopped when it ran ("query
    should be unbatched 2D or batched 3D"). Both are refused by name now; the weights convert."""
    x = keras.Input((3, 4, 6))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 3, attention_axes=attention_axes, name="mha")(x, x))
    path = str(tmp_path / "m.keras")
    model.save(path)
    if attention_axes is None:  # over axes [1, 2]: refused when converting
        with pytest.raises(converter.UnsupportedLayerError, match=r"mha \(MultiHeadAttention: attention over axes"):
            converter.state_dict(path)
        return
    assert "mha.in_proj_weight" in converter.state_dict(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"attention over axis 1 of a rank-4 query"):
        converter.to_torch(path)


def test_an_attention_output_shape_of_several_axes_is_refused_by_name(tmp_path):
    """MultiHeadAttention(output_shape=(2, 3)) stores an output kernel of 4 axes; it was refused as a damaged file
    ("where Keras stores one of 3 axes"), and is refused by name now."""
    x = keras.Input((4, 5))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 3, output_shape=(2, 3), name="mha")(x, x))
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError, match=r"an output_shape of 2 axes \(\[2, 3\]\)"):
        converter.state_dict(path)
